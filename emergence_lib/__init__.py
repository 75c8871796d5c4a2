"""emergence_lib: measuring emergence in neural networks.

The metric (:func:`path_emergence`, :func:`dense_emergence`, :func:`measure`), the node graph of a model
(:func:`node_graph`) and node activity on a probe batch (:func:`activity`).
"""

from .activity import Activity, activity
from .graph import NodeGraph, NodeLayer, UnsupportedModelError, node_graph
from .metric import EmergenceResult, dense_emergence, measure, path_emergence

__version__ = "0.1.0"

__all__ = [
    "Activity",
    "EmergenceResult",
    "NodeGraph",
    "NodeLayer",
    "UnsupportedModelError",
    "activity",
    "dense_emergence",
    "measure",
    "node_graph",
    "path_emergence",
]
