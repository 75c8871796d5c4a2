"""emergence_lib: measuring emergence in neural networks, and the experiments of the book.

The package is cut in layers; each imports only the layers above it::

    metric/       graph (nodes and edges of a model), activity (capture once, threshold many), counting, emergence
    engine/       data, models, init, train, prune, runs (stored under a hash of their config), profiles, locations
    probes/       landscape (directions, surfaces, ruggedness), hessian (one curvature object per model and batch)
    experiments   one function per chapter experiment: its run configs and the name its results are published under
    analysis/     claims (effects, intervals, verdicts), registered, calibration, robustness, scorecard
    plots         one style, figures sized for the page
    book/         the executor (papermill, site, student copies) and the chapters' helpers

The names most used are importable from here: :func:`measure`, :func:`capture_activity`, :func:`node_graph`,
:func:`load_dataset`, :func:`build_model`, :func:`train`, :func:`execute`, :func:`run_sweep`,
:func:`experiment`, :func:`get_profile`; and the modules ``el.prune``, ``el.landscape``, ``el.hessian``,
``el.claims``, ``el.scorecard``, ``el.robustness``, ``el.experiments``, ``el.plots``.
"""

import sys as _sys

__version__ = "0.2.0"

from . import experiments, plots  # noqa: E402 (the version first: book.chapter reads it)
from .analysis import calibration, claims, registered, robustness, scorecard
from .engine import data, init, locations, models, profiles, prune, runs
from .engine.data import (
    DATASETS,
    Dataset,
    DatasetCacheError,
    DatasetFallbackWarning,
    DatasetUnavailableError,
    load_dataset,
)
from .engine.models import build_model, mlp, residual_mlp, resnet18, small_cnn, vgg
from .engine.profiles import PROFILES, Profile, get_profile
from .engine.prune import PruneConfig, Pruner
from .engine.runs import (
    RESULTS_VERSION,
    Run,
    RunConfig,
    execute,
    experiment,
    export_results,
    initial_model,
    load_results,
    load_run,
    results_table,
    run_sweep,
)
from .engine.train import Callback, TrainConfig, TrainingDiverged, TrainState, resolve_device, train
from .metric import counting, emergence, graph
from .metric.activity import Activity, Capture, activity, capture_activity
from .metric.emergence import EmergenceResult, dense_emergence, measure, path_emergence
from .metric.graph import NodeGraph, NodeLayer, UnsupportedModelError, node_graph, weight_layers, without_skips
from .probes import hessian, landscape
from . import book  # noqa: E402 (the last layer)

# The flat layout before 0.2 (``emergence_lib.train``, ``emergence_lib.paths``, ...): old imports still find the
# modules, now in their layers.
_MOVED = {
    "graph": "metric.graph", "activity": "metric.activity", "paths": "metric.counting", "data": "engine.data",
    "models": "engine.models", "init": "engine.init", "train": "engine.train", "prune": "engine.prune",
    "runs": "engine.runs", "profiles": "engine.profiles", "landscape": "probes.landscape", "hessian": "probes.hessian",
    "claims": "analysis.claims", "registered": "analysis.registered", "calibration": "analysis.calibration",
    "robustness": "analysis.robustness", "scorecard": "analysis.scorecard",
}
for _old, _new in _MOVED.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _sys.modules[f"{__name__}.{_new}"])



def __getattr__(name: str) -> object:
    if name == "paths":  # renamed in 0.2: it counts paths through the network, it names no file
        import warnings

        warnings.warn("emergence_lib.paths is now emergence_lib.metric.counting", DeprecationWarning, stacklevel=2)
        return counting
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    # modules the chapters use
    "book", "calibration", "claims", "data", "experiments", "hessian", "init", "landscape", "locations", "models", "plots",
    "profiles", "prune", "registered", "robustness", "runs", "scorecard",
    # the metric
    "Activity", "Capture", "EmergenceResult", "NodeGraph", "NodeLayer", "UnsupportedModelError", "activity",
    "capture_activity", "dense_emergence", "measure", "node_graph", "path_emergence", "weight_layers", "without_skips",
    # the engine
    "DATASETS", "PROFILES", "RESULTS_VERSION", "Callback", "Dataset", "DatasetCacheError", "DatasetFallbackWarning",
    "DatasetUnavailableError", "Profile", "PruneConfig", "Pruner", "Run", "RunConfig", "TrainConfig", "TrainState",
    "TrainingDiverged", "build_model", "execute", "experiment", "export_results", "get_profile", "initial_model",
    "load_dataset", "load_results", "load_run", "mlp", "residual_mlp", "resnet18", "resolve_device", "results_table",
    "run_sweep", "small_cnn", "train", "vgg",
]
