"""Every public name of the flat layout before 0.2 still resolves, from the old import paths and from the top level.

The lists were read once from the last flat commit (77b5128) with ``ast``: module -> its public top-level names.
Renamed names (``prune.random``, ``init.weight_layers``, ``paths``) resolve with a DeprecationWarning naming the
new one.
"""

from __future__ import annotations

import importlib
import warnings

import pytest

import emergence_lib as el

OLD_TOP_LEVEL = "Activity Callback DATASETS Dataset DatasetCacheError DatasetFallbackWarning DatasetUnavailableError EmergenceResult NodeGraph NodeLayer PROFILES Profile PruneConfig Pruner RESULTS_VERSION Run RunConfig TrainConfig TrainState TrainingDiverged UnsupportedModelError activity build_model claims dense_emergence execute experiment export_results get_profile hessian init initial_model landscape load_dataset load_results load_run measure mlp node_graph path_emergence plots prune results_table run_sweep small_cnn train vgg".split()

OLD_MODULES = {
    "activity": "Activity REDUCES THRESHOLD_MODES activity capture probing",
    "book": "BOOK_SOURCES BookError ChapterRun DEVICES KERNEL PROFILES PROJECT_ROOT_VARIABLE SOLUTION_TAG STATUS_PAGE STATUS_RECORDS book_root build build_site check_profile execute execute_chapter failure_report list_chapters main resolve_device stage staging_dir status_records student_notebooks write_status_page",
    "calibration": "ASSERTED CORRELATION DISTRIBUTIONS MEAN_EFFECT REQUIRED correlation_coverage coverage_table mean_coverage unit_counts",
    "claims": "Effect LANDSCAPE_MEASURES LEVEL LEVEL_CLAIM MIN_UNITS PAPER_MAX_SPARSITY PRUNE_COLUMNS REGISTERED_FIELDS RULE SEED_COLUMNS SHOWN_COLUMNS STATEMENTS VERDICTS VERDICT_COLUMNS beyond_trend choose_landscape_measure convergence_epoch correlation_ci describe early_and_final early_emergence_predicts_performance effects_table emergence_claims emergence_correlation epochs_to_reach experiment_label falls_during_training grows_with_size init_claims init_improves_early_accuracy init_speeds_convergence landscape_pilot mean_ci partial_correlation predicts_accuracy_change pruning_claims pruning_lowers_accuracy pruning_speeds_convergence relative_emergence_claims relative_higher_when_pruned rugged_with_emergence seed_column spearman summary verdict verdict_rows zero_at_convergence",
    "data": "DATASETS Dataset DatasetCacheError DatasetFallbackWarning DatasetUnavailableError ROOT_VARIABLE data_root distinct_datasets load_dataset project_root",
    "graph": "ACTIVATION_MODULES LAYERS NODE_KEEPING_MODULES NodeGraph NodeLayer RESHAPE_FUNCTIONS RESHAPE_METHODS SUPPORTED UnsupportedModelError WEIGHT_MODULES effective_weight node_graph weight_layers weight_norm",
    "hessian": "Eigenvalues LossFn Trace hessian_eigenvalues hessian_trace hvp",
    "init": "",
    "landscape": "BORDERS Directions IGNORES NORMALIZATIONS PILOT_CANDIDATES Surface candidate_measure load_directions local_minima loss_surface random_directions ruggedness save_directions second_difference sharpness",
    "metric": "CHOICES EmergenceResult SETTINGS THROUGH check_settings dense_emergence measure path_emergence settings_free",
    "models": "ACTIVATIONS MODELS VGG_CONFIGS VGG_INPUT build_model mlp small_cnn vgg",
    "paths": "LOG10_2 layer_path_counts pow10 scaled_sum to_float to_log10",
    "plots": "CI draw_network epoch_band pair_heatmap set_style surface_3d surface_contour",
    "profiles": "DRY_RUN NETWORKS PROFILES Profile checks_only get_profile",
    "prune": "CRITERIA MASK_STREAM METHODS PruneConfig Pruner SCOPES SPARSITIES TIMINGS apply magnitude mask_seed nodes prunable random sparsity",
    "registered": "N_RESAMPLES RULE beyond_proxies bootstrap_ci early_emergence_predicts_performance falls_during_training grows_with_size init_improves_early_accuracy init_speeds_convergence predicts_accuracy_change pruning_lowers_accuracy pruning_speeds_convergence relative_higher_when_pruned rugged_with_emergence zero_at_convergence",
    "robustness": "DEFAULT PROXIES VARIANTS beyond_proxies claims_by_variant explained_share predictors proxies seed_indicators variant verdict_changes verdict_grid",
    "runs": "RESULTS_VERSION Run RunConfig atomic_write_text derived_results execute experiment export_results initial_model is_done load_results load_run results_path results_table run_path run_sweep",
    "scorecard": "CHAPTERS NOT_COMPUTED PRIMARY PUBLISHED SCORECARD_COLUMNS counts for_reading load_verdicts record scorecard tally verdicts_path",
    "train": "Callback DEVICES Measures OPTIMIZERS TRAIN_EVAL_SEED TrainConfig TrainState TrainingDiverged check_variants evaluate make_optimizer progress_bar resolve_device train train_eval_indices",
}


def test_the_old_top_level_names_resolve() -> None:
    missing = [name for name in OLD_TOP_LEVEL if not hasattr(el, name)]
    assert not missing


@pytest.mark.parametrize("module", OLD_MODULES)
def test_the_old_module_paths_resolve_with_every_public_name(module: str) -> None:
    found = importlib.import_module(f"emergence_lib.{module}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        missing = [name for name in OLD_MODULES[module].split() if not hasattr(found, name)]
    assert not missing, f"emergence_lib.{module} lost {missing}"


@pytest.mark.parametrize(("owner", "old", "new"), [
    ("prune", "random", "at_random"), ("init", "weight_layers", "weight_layers"), (None, "paths", "counting"),
])
def test_renamed_names_warn_and_name_the_new_one(owner: str | None, old: str, new: str) -> None:
    module = el if owner is None else getattr(el, owner)
    with pytest.warns(DeprecationWarning, match=new):
        getattr(module, old)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        el.prune.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        el.no_such_name  # noqa: B018
