"""emergence_lib: measuring emergence in neural networks, and the experiments of the book.

The metric (:func:`path_emergence`, :func:`dense_emergence`, :func:`measure`), the node graph of a model
(:func:`node_graph`) and node activity on a probe batch (:func:`activity`); the experiments engine: datasets
(:func:`load_dataset`), models (:func:`mlp`, :func:`vgg`, :func:`small_cnn`), training with per-epoch emergence
(:func:`train`), stored runs and sweeps (:func:`execute`, :func:`run_sweep`, :func:`experiment`), run sizes
(:func:`get_profile`), pruning (:mod:`~emergence_lib.prune`, :class:`PruneConfig`, :class:`Pruner`); the claims'
verdicts (:mod:`~emergence_lib.claims`), the loss landscape (:mod:`~emergence_lib.landscape`), its curvature
(:mod:`~emergence_lib.hessian`), the emergence-promoting initialization (:mod:`~emergence_lib.init`) and the
book's figures (:mod:`~emergence_lib.plots`).
"""

from . import calibration, claims, hessian, init, landscape, plots, prune, registered, robustness, scorecard
from .activity import Activity, activity
from .data import (
    DATASETS,
    Dataset,
    DatasetCacheError,
    DatasetFallbackWarning,
    DatasetUnavailableError,
    load_dataset,
)
from .graph import NodeGraph, NodeLayer, UnsupportedModelError, node_graph
from .metric import EmergenceResult, dense_emergence, measure, path_emergence
from .models import build_model, mlp, small_cnn, vgg
from .profiles import PROFILES, Profile, get_profile
from .prune import PruneConfig, Pruner
from .runs import (
    RESULTS_VERSION,
    Run,
    RunConfig,
    execute,
    experiment,
    initial_model,
    export_results,
    load_results,
    load_run,
    results_table,
    run_sweep,
)
from .train import Callback, TrainConfig, TrainingDiverged, TrainState, train

__version__ = "0.1.0"

__all__ = [
    "claims",
    "plots",
    "prune",
    "landscape",
    "hessian",
    "init",
    "DATASETS",
    "PROFILES",
    "RESULTS_VERSION",
    "Activity",
    "Callback",
    "Dataset",
    "DatasetCacheError",
    "DatasetFallbackWarning",
    "DatasetUnavailableError",
    "EmergenceResult",
    "NodeGraph",
    "NodeLayer",
    "Profile",
    "PruneConfig",
    "Pruner",
    "Run",
    "RunConfig",
    "TrainConfig",
    "TrainState",
    "TrainingDiverged",
    "UnsupportedModelError",
    "activity",
    "build_model",
    "dense_emergence",
    "execute",
    "initial_model",
    "experiment",
    "export_results",
    "get_profile",
    "load_dataset",
    "load_results",
    "load_run",
    "measure",
    "mlp",
    "node_graph",
    "path_emergence",
    "results_table",
    "run_sweep",
    "small_cnn",
    "train",
    "vgg",
]
