"""The metric: a model's nodes and edges, which nodes are active on a probe batch, and the emergent paths.

Read in this order: :mod:`.graph` (the node graph of any traced model), :mod:`.activity` (capture the
activations once, threshold them many ways), :mod:`.counting` (exact path counts on a log scale) and
:mod:`.emergence` (:func:`measure`: absolute, relative, fraction and balanced emergence). :mod:`.layout` holds
the memory layout in which the probe pass (and training) runs convolutions.
"""

from . import activity, counting, emergence, graph, layout
from .activity import Activity, Capture, capture_activity
from .emergence import (
    CHOICES,
    SETTINGS,
    THROUGH,
    EmergenceResult,
    check_settings,
    dense_emergence,
    measure,
    path_emergence,
    settings_free,
)
from .graph import NodeGraph, NodeLayer, UnsupportedModelError, node_graph, weight_layers, without_skips

__all__ = [
    "CHOICES", "SETTINGS", "THROUGH", "Activity", "Capture", "EmergenceResult", "NodeGraph", "NodeLayer", "UnsupportedModelError", "activity",
    "capture_activity", "check_settings", "counting", "dense_emergence", "emergence", "graph", "layout", "measure",
    "node_graph", "path_emergence", "settings_free", "weight_layers", "without_skips",
]
