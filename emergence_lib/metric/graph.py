"""A model as layers of nodes joined by 0/1 edges.

Entry point: :func:`node_graph`. A node is a neuron of a ``Linear`` layer or a channel of a ``Conv2d`` layer.
The model is read with ``torch.fx`` (no forward pass needed), which makes functional activations and skip
connections visible so they can be refused with a clear error instead of being silently miscounted.
"""

from __future__ import annotations

import contextlib
import math
import operator
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.fx
from torch import nn

from .._checks import check_choice

LAYERS = ("hidden", "hidden+output")

WEIGHT_MODULES = (nn.Linear, nn.Conv2d)
ACTIVATION_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
)  # fmt: skip
# Modules that keep the nodes of the layer before them (channels stay channels).
NODE_KEEPING_MODULES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.MaxPool2d,
    nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Identity, nn.ZeroPad2d,
    nn.ConstantPad2d,
)  # fmt: skip
RESHAPE_FUNCTIONS = (torch.flatten, torch.reshape)
RESHAPE_METHODS = ("view", "reshape", "flatten", "contiguous")

SUPPORTED = (
    "Linear and Conv2d (groups=1) layers; activation modules "
    + ", ".join(m.__name__ for m in ACTIVATION_MODULES)
    + "; node-keeping modules "
    + ", ".join(m.__name__ for m in NODE_KEEPING_MODULES)
    + "; reshapes (flatten, view, reshape) between them, in a single chain without skip connections"
)


class UnsupportedModelError(ValueError):
    """The model cannot be read as a chain of node layers (the message says why and what is supported)."""


@dataclass(frozen=True)
class NodeLayer:
    """One counted layer of nodes.

    Attributes:
        name: qualified name of its ``Linear`` or ``Conv2d`` module in the model.
        kind: ``"linear"`` (nodes are neurons) or ``"conv"`` (nodes are channels).
        width: ``out_features`` or ``out_channels`` of the module.
        kept: sorted indices of the nodes kept in the graph (isolated nodes are removed).
        probe: qualified name of the module whose output is the nodes' activity: the first activation module
            after the layer, or the layer itself when no activation follows (an output layer's logits).
        probe_call: which call of ``probe`` in the forward pass (0 for the first): a model may call one
            activation module at several depths, as torchvision's ResNet blocks do.
    """

    name: str
    kind: str
    width: int
    kept: torch.Tensor
    probe: str
    probe_call: int = 0


@dataclass(frozen=True)
class NodeGraph:
    """Counted layers of a model and the 0/1 edges between consecutive ones.

    Attributes:
        layers: the counted layers, input side first.
        adjacency: ``adjacency[k-1]`` is a bool tensor of shape ``(n_k, n_{k-1})``; entry ``[v, u]`` says that
            node ``u`` of layer ``k-1`` feeds node ``v`` of layer ``k`` through a nonzero weight.
    """

    layers: list[NodeLayer]
    adjacency: list[torch.Tensor]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of nodes of each counted layer."""
        return tuple(len(layer.kept) for layer in self.layers)


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight a layer really uses: ``weight_orig * weight_mask`` under ``torch.nn.utils.prune``."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        # module.weight is only refreshed on the next forward pass; recompute it from the source of truth.
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All ``Linear`` and ``Conv2d`` modules of ``model`` with their qualified names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_MODULES)]


def weight_norm(model: nn.Module) -> float:
    """Euclidean norm of all Linear and Conv2d weights together, after pruning masks (no biases, no BN)."""
    return math.sqrt(sum(float(effective_weight(m).double().pow(2).sum()) for _, m in weight_layers(model)))


def _is_shape_query(node: torch.fx.Node) -> bool:
    """``x.size(0)``, ``x.shape[0]``, ``x.dim()``: they read a tensor without carrying data forward."""
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    if node.op == "call_function" and node.target is getattr:
        return True
    return node.op == "call_function" and node.target is operator.getitem and _is_shape_query(node.args[0])


def _describe(node: torch.fx.Node) -> str:
    target = getattr(node.target, "__name__", node.target)
    return f"'{node.name}' ({node.op} {target})"


_CHAINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _chain(model: nn.Module) -> list[tuple[str, nn.Module | None]]:
    """The model's operations in data-flow order as ``(name, module or None for a reshape)``.

    Tracing costs milliseconds, as much as a probe pass of a small MLP, so the chain is cached per model and
    traced again whenever its set of submodules changes.
    """
    signature = tuple((name, id(m)) for name, m in model.named_modules())
    cached = _CHAINS.get(model)
    if cached is None or cached[0] != signature:
        _CHAINS[model] = (signature, _trace(model))
    return _CHAINS[model][1]


def _trace(model: nn.Module) -> list[tuple[str, nn.Module | None]]:
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as err:  # fx raises many types; all mean the same to the user
        raise UnsupportedModelError(
            f"could not trace {type(model).__name__} with torch.fx ({type(err).__name__}: {err}). Supported: {SUPPORTED}"
        ) from err
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"the model must take exactly one input tensor, got {len(inputs)}")
    previous, chain = inputs[0], []
    for node in graph.nodes:
        if node.op in ("placeholder", "get_attr") or _is_shape_query(node):
            continue
        feeds = [a for a in node.all_input_nodes if not _is_shape_query(a) and a.op != "get_attr"]
        if feeds != [previous]:
            raise UnsupportedModelError(
                f"{_describe(node)} takes {[a.name for a in feeds]} instead of the single output of "
                f"'{previous.name}': skip connections and branches are not supported. Supported: {SUPPORTED}"
            )
        if node.op == "output":
            break
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            if not isinstance(module, WEIGHT_MODULES + ACTIVATION_MODULES + NODE_KEEPING_MODULES):
                raise UnsupportedModelError(
                    f"module '{node.target}' ({type(module).__name__}) is not supported. Supported: {SUPPORTED}"
                )
            if isinstance(module, nn.Conv2d) and module.groups != 1:
                raise UnsupportedModelError(
                    f"module '{node.target}' is a grouped convolution (groups={module.groups}); only groups=1 is "
                    "supported, since a grouped channel does not see every input channel"
                )
            chain.append((node.target, module))
        elif (node.op == "call_function" and node.target in RESHAPE_FUNCTIONS) or (
            node.op == "call_method" and node.target in RESHAPE_METHODS
        ):
            chain.append((node.name, None))
        else:
            raise UnsupportedModelError(
                f"operation {_describe(node)} is not a module: activations must be modules (e.g. nn.ReLU, not "
                f"F.relu) and other functional operations are not supported. Supported: {SUPPORTED}"
            )
        previous = node
    return chain


def _edges(module: nn.Module, previous: tuple[str, int] | None) -> torch.Tensor:
    """Bool matrix ``(width, previous width)`` of nonzero connections into ``module``'s nodes.

    ``previous`` is ``(kind, width)`` of the weight layer before, or None for the first layer (whose inputs are
    pixels or features, not nodes): then the matrix has one column, "any input".
    """
    w = effective_weight(module) != 0
    if isinstance(module, nn.Conv2d):
        edges = w.flatten(2).any(dim=2)  # any kernel entry joins input channel u to output channel v
    elif previous is not None and previous[0] == "conv":
        channels = previous[1]
        if module.in_features % channels:
            raise UnsupportedModelError(
                f"Linear with in_features={module.in_features} follows a conv layer of {channels} channels; "
                "in_features must be channels * height * width"
            )
        edges = w.reshape(module.out_features, channels, -1).any(dim=2)  # flatten keeps channel-major order
    else:
        edges = w
    if previous is None:
        return edges.reshape(edges.shape[0], -1).any(dim=1, keepdim=True)
    if edges.shape[1] != previous[1]:
        raise UnsupportedModelError(
            f"a {type(module).__name__} layer expects {edges.shape[1]} input nodes but the layer before has "
            f"{previous[1]}"
        )
    return edges


@contextlib.contextmanager
def _evaluation(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode without gradients, restoring every module's mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.train(mode)


def node_graph(model: nn.Module, example_input: torch.Tensor | None = None, layers: str = "hidden") -> NodeGraph:
    """The counted layers of ``model`` as node counts and 0/1 adjacency.

    Nodes are ``Linear`` neurons and ``Conv2d`` channels. A hidden layer is a weight layer followed by an
    activation module; the last weight layer is the output layer. Edges join consecutive counted layers where
    the effective weight (after ``torch.nn.utils.prune`` masks) is nonzero; for convolutions, where any kernel
    entry is nonzero; from the last convolution to a ``Linear`` layer, where any weight from the channel's
    spatial positions is nonzero. BatchNorm, Dropout, pooling and reshapes keep nodes. A node with no nonzero
    weight in or out (an isolated node) is removed.

    Args:
        model: a feed-forward chain of modules (see :data:`SUPPORTED`).
        example_input: optional batch; when given the model is run on it once (eval mode, modes restored) to
            check that the chain really computes.
        layers: ``"hidden"`` (default) or ``"hidden+output"`` (the output layer's logits become nodes too).

    Raises:
        UnsupportedModelError: for functional activations, skip connections, grouped convolutions or modules
            outside the supported set.
        ValueError: for fewer than two counted layers or a bad ``layers`` value.
    """
    check_choice("layers", layers, LAYERS)
    chain = _chain(model)
    if example_input is not None:
        with _evaluation(model):
            model(example_input.to(next(model.parameters()).device))

    # Weight layers with the module (and which of its calls) where their activity is read.
    found: list[tuple[str, nn.Module, tuple[str, int] | None]] = []
    calls: dict[str, int] = {}
    for name, module in chain:
        call = calls[name] = calls.get(name, -1) + 1
        if isinstance(module, WEIGHT_MODULES):
            found.append((name, module, None))
            weight_call = call
        elif isinstance(module, ACTIVATION_MODULES) and found and found[-1][2] is None:
            found[-1] = (found[-1][0], found[-1][1], (name, call))
    if found and found[-1][2] is None:  # the output layer's logits: read at the layer itself
        found[-1] = (found[-1][0], found[-1][1], (found[-1][0], weight_call))
    if not found:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv2d layer. Supported: {SUPPORTED}")
    for (name, _, probe), (after, _, _) in zip(found, found[1:]):
        if probe is None:
            raise UnsupportedModelError(
                f"weight layer '{name}' is followed by '{after}' without an activation module in between; every "
                f"hidden layer needs one (e.g. nn.ReLU)"
            )

    # Edges between consecutive weight layers; the first layer's "edges" are from its inputs.
    edges, previous = [], None
    for name, module, _ in found:
        kind = "conv" if isinstance(module, nn.Conv2d) else "linear"
        if kind == "conv" and previous is not None and previous[0] == "linear":
            raise UnsupportedModelError(f"Conv2d '{name}' after a Linear layer is not supported. Supported: {SUPPORTED}")
        edges.append(_edges(module, previous))
        previous = (kind, edges[-1].shape[0])
    has_in = [e.any(dim=1) for e in edges]
    has_out = [e.any(dim=0) for e in edges[1:]] + [torch.zeros_like(has_in[-1])]
    kept = [torch.nonzero(i | o).flatten() for i, o in zip(has_in, has_out)]

    counted = range(len(found) - 1) if layers == "hidden" else range(len(found))
    if len(counted) < 2:
        raise ValueError(
            f"emergence needs at least two counted layers; layers={layers!r} gives {len(counted)} for this model"
            + ('; use layers="hidden+output" to count the output layer too' if layers == "hidden" else "")
        )
    node_layers = [
        NodeLayer(
            name=found[k][0],
            kind="conv" if isinstance(found[k][1], nn.Conv2d) else "linear",
            width=edges[k].shape[0],
            kept=kept[k],
            probe=found[k][2][0],
            probe_call=found[k][2][1],
        )
        for k in counted
    ]
    adjacency = [edges[k][kept[k]][:, kept[k - 1]] for k in counted[1:]]
    return NodeGraph(layers=node_layers, adjacency=adjacency)
