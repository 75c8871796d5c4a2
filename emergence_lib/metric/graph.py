"""A model as layers of nodes joined by 0/1 edges: a directed acyclic graph read from ``torch.fx``.

Entry point: :func:`node_graph`. A node is a neuron of a ``Linear`` layer or a channel of a ``Conv2d`` layer,
read where an activation makes it a value of its own. The model is traced with ``torch.fx`` (no forward pass
needed), so residual additions, projection shortcuts, concatenations, grouped convolutions, functional
activations and modules called more than once are all seen; what cannot be read as nodes and edges (attention,
gating, data-dependent control flow, unknown modules) is refused with an error naming the operation.

How values become nodes (``book/method``): every tensor of the traced model is described by the counted layers
it comes from, as a 0/1 matrix per source layer ("channel ``c`` of this tensor is reached from node ``u`` of
layer ``s`` without passing another node"). A weight layer maps that description through its nonzero weights;
BatchNorm, dropout, pooling and reshapes keep it; an addition joins two descriptions (their union); a
concatenation stacks them; an activation turns the tensor's channels into a new counted layer whose incoming
edges are the description.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import operator
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice

LAYERS = ("hidden", "hidden+output")

WEIGHT_MODULES = (nn.Linear, nn.Conv2d)
ACTIVATION_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
)  # fmt: skip
ACTIVATION_FUNCTIONS = (
    F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish,
    torch.tanh, F.tanh, torch.sigmoid, F.sigmoid, F.softplus, F.hardtanh, F.hardswish, F.hardsigmoid,
)  # fmt: skip
ACTIVATION_METHODS = ("relu", "relu_", "tanh", "sigmoid")
# Modules and functions that keep the nodes of the value they receive (channels stay channels).
NODE_KEEPING_MODULES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.MaxPool2d,
    nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Identity, nn.ZeroPad2d,
    nn.ConstantPad2d,
)  # fmt: skip
RESHAPE_FUNCTIONS = (torch.flatten, torch.reshape)
RESHAPE_METHODS = ("view", "reshape", "flatten", "contiguous")
_LAYOUT_ONLY = ("contiguous",)  # reshape-like methods that do not flatten
NODE_KEEPING_FUNCTIONS = (
    F.dropout, F.dropout2d, F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.pad,
    *RESHAPE_FUNCTIONS,
)  # fmt: skip
NODE_KEEPING_METHODS = RESHAPE_METHODS
ADDITIONS = (operator.add, operator.iadd, torch.add)
SCALINGS = (operator.mul, operator.imul, operator.truediv, torch.mul)  # by a number: nodes kept
CONCATENATIONS = (torch.cat, torch.concat)

SUPPORTED = (
    "Linear and Conv2d layers (grouped and depthwise included); activation modules "
    + ", ".join(m.__name__ for m in ACTIVATION_MODULES)
    + " and the same as functions (F.relu, torch.relu, x.relu(), ...); node-keeping modules "
    + ", ".join(m.__name__ for m in NODE_KEEPING_MODULES)
    + " and reshapes (flatten, view, reshape), a mean over spatial dimensions; residual additions (identity or through a projection), "
    "concatenation along channels, and scaling by a number; modules may be called more than once"
)

INPUT = -1
"""Source index of the model's input in a value's description (the input has no nodes)."""


class UnsupportedModelError(ValueError):
    """The model cannot be read as layers of nodes (the message names the operation and what is supported)."""


@dataclass(frozen=True)
class NodeLayer:
    """One counted layer of nodes.

    Attributes:
        name: qualified name of the ``Linear`` or ``Conv2d`` module whose output the nodes are; at a join, the
            weight modules that meet there, joined by ``+`` (a residual block's second convolution and its
            projection shortcut); for a join of activated values with no weight, the activation's name.
        kind: ``"linear"`` (nodes are neurons) or ``"conv"`` (nodes are channels).
        width: number of nodes before isolated ones are removed.
        kept: sorted indices of the nodes kept in the graph (isolated nodes are removed).
        probe: where the nodes' activity is read: the qualified name of the activation module (or, for an output
            layer's logits, of the layer itself), or the name of the ``torch.fx`` node of a functional
            activation.
        probe_call: which call of ``probe`` in the forward pass (0 for the first): a model may call one
            activation module at several depths, as torchvision's ResNet blocks do.
        value: the name of the ``torch.fx`` node whose output is the activity (what the probe pass records).
    """

    name: str
    kind: str
    width: int
    kept: torch.Tensor
    probe: str
    probe_call: int = 0
    value: str = ""


@dataclass(frozen=True)
class NodeGraph:
    """Counted layers of a model, in topological order, and the 0/1 edges between them.

    Attributes:
        layers: the counted layers, input side first; every edge goes from an earlier layer to a later one.
        edges: ``edges[(i, j)]`` is a bool tensor of shape ``(n_j, n_i)``, ``i < j``: entry ``[v, u]`` says that
            node ``u`` of layer ``i`` feeds node ``v`` of layer ``j`` (through a nonzero weight, or an identity
            skip). A chain has the pairs ``(k - 1, k)`` only.

    Example:
        >>> import torch, emergence_lib as el
        >>> g = el.NodeGraph.chain([], [torch.ones(3, 2, dtype=torch.bool)])
        >>> g.is_chain, list(g.edges)
        (True, [(0, 1)])
    """

    layers: list[NodeLayer]
    edges: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)

    @classmethod
    def chain(cls, layers: list[NodeLayer], adjacency: list[torch.Tensor]) -> NodeGraph:
        """A chain: ``adjacency[k - 1]`` joins layer ``k - 1`` to layer ``k``."""
        return cls(layers=layers, edges={(k - 1, k): b for k, b in enumerate(adjacency, start=1)})

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of nodes of each counted layer."""
        return tuple(len(layer.kept) for layer in self.layers)

    @property
    def n_edges(self) -> int:
        """Number of edges, over every pair of layers."""
        return sum(int(b.sum()) for b in self.edges.values())

    @property
    def is_chain(self) -> bool:
        """Whether every edge joins consecutive layers and consecutive layers are joined (no skip, no branch)."""
        depth = max(len(self.layers), max((j + 1 for _, j in self.edges), default=0))
        return set(self.edges) == {(k - 1, k) for k in range(1, depth)}

    @property
    def adjacency(self) -> list[torch.Tensor]:
        """For a chain, ``adjacency[k - 1] = edges[(k - 1, k)]``; a graph with skips or branches has no such list."""
        if not self.is_chain:
            raise ValueError(
                "this node graph has skip connections or branches: read its edges as graph.edges[(i, j)] or "
                "graph.inputs(), not as a chain's adjacency list"
            )
        return [self.edges[(k - 1, k)] for k in range(1, len(self.edges) + 1)]

    def inputs(self) -> list[list[tuple[int, torch.Tensor]]]:
        """Per layer ``j``, its incoming edges as ``(i, edges[(i, j)])``, sources in order."""
        incoming: list[list[tuple[int, torch.Tensor]]] = [[] for _ in self.layers]
        for (i, j), b in sorted(self.edges.items()):
            incoming[j].append((i, b))
        return incoming

    def prefix(self, n: int) -> NodeGraph:
        """The first ``n`` layers and the edges among them (``"hidden"`` from ``"hidden+output"``)."""
        return NodeGraph(layers=self.layers[:n], edges={(i, j): b for (i, j), b in self.edges.items() if j < n})


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight a layer really uses: ``weight_orig * weight_mask`` under ``torch.nn.utils.prune``."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        # module.weight is only refreshed on the next forward pass; recompute it from the source of truth.
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All ``Linear`` and ``Conv2d`` modules of ``model`` with their qualified names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_MODULES)]


def nonzero_weights(model: nn.Module) -> int:
    """Nonzero weights of all Linear and Conv2d layers after pruning masks (no biases, no BatchNorm)."""
    return sum(int(torch.count_nonzero(effective_weight(m))) for _, m in weight_layers(model))


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


_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _traced(model: nn.Module) -> tuple[torch.fx.Graph, dict]:
    """The model's ``torch.fx`` graph and a cache of its probe modules (see :func:`probe_module`).

    Tracing costs milliseconds, as much as a probe pass of a small MLP, so it is cached per model and done again
    whenever its set of submodules changes. It is traced in eval mode, as the probe pass runs; a forward that
    branches on other Python attributes is traced as they were then.
    """
    signature = tuple((name, id(m)) for name, m in model.named_modules())
    cached = _TRACES.get(model)
    if cached is None or cached[0] != signature:
        try:
            with _evaluation(model):  # a forward reading self.training (F.dropout) is traced as the probe runs it
                graph = torch.fx.symbolic_trace(model).graph
        except Exception as err:  # fx raises many types; all mean the same to the user
            raise UnsupportedModelError(
                f"could not trace {type(model).__name__} with torch.fx ({type(err).__name__}: {err}); models with "
                f"data-dependent control flow cannot be read. Supported: {SUPPORTED}"
            ) from err
        _TRACES[model] = cached = (signature, graph, {})
    return cached[1], cached[2]


def _node_activity(x: torch.Tensor) -> torch.Tensor:
    """A value's activity per sample and node: spatially averaged channels, a copy of features (so that a later
    in-place operation cannot change it)."""
    x = x.detach()
    return x.flatten(2).mean(dim=2) if x.dim() > 2 else x.clone()


def probe_module(model: nn.Module, values: list[str]) -> torch.fx.GraphModule:
    """The traced ``model`` returning its output and the activity (:func:`_node_activity`) of the ``torch.fx``
    nodes ``values``: ``(output, (activity of values[0], ...))``.

    It shares ``model``'s modules (weights, pruning masks, modes): a forward pass through it is a forward pass
    through the model, which records each value as soon as it is computed.
    """
    graph, probes = _traced(model)
    key = tuple(values)
    if key not in probes:
        probe_graph = torch.fx.Graph()
        copies: dict[torch.fx.Node, torch.fx.Node] = {}
        output = probe_graph.graph_copy(graph, copies)  # every node but the output node, which is replaced
        by_name = {node.name: copy for node, copy in copies.items()}
        recorded = {}
        for name in dict.fromkeys(values):
            with probe_graph.inserting_after(by_name[name]):
                recorded[name] = probe_graph.call_function(_node_activity, (by_name[name],))
        probe_graph.output((output, tuple(recorded[name] for name in values)))
        probes[key] = torch.fx.GraphModule(model, probe_graph)
    return probes[key]


@dataclass(frozen=True)
class _Value:
    """What a traced tensor is in nodes: per source layer (``INPUT`` for the model's input), the 0/1 matrix
    ``(channels, source nodes)`` of which source node reaches which channel (None: the identity, the tensor *is*
    that layer's nodes); the weight modules applied since the last activation; whether its channels are a
    convolution's; the fx node where it was made (pooling and reshapes keep it); whether it was flattened."""

    sources: dict[int, torch.Tensor | None]
    channels: int | None  # None for the input, whose size is not known without a forward pass
    modules: tuple[str, ...]
    conv: bool
    node: torch.fx.Node
    flat: bool = False  # a convolution's output flattened: its features are channels x positions

    def is_layer(self) -> int | None:
        """The layer this value is exactly (its nodes, no weight since), else None."""
        if len(self.sources) != 1 or self.modules:
            return None
        ((source, matrix),) = self.sources.items()
        return source if source != INPUT and matrix is None else None


@dataclass
class _Layer:
    name: str
    conv: bool
    width: int
    incoming: dict[int, torch.Tensor]  # source layer -> (width, n_source) bool
    from_input: torch.Tensor  # (width,) bool: reached from the model's input
    node: torch.fx.Node
    probe: tuple[str, int]


def _weight_edges(module: nn.Module) -> torch.Tensor:
    """Bool ``(out, in)`` channel connectivity: any nonzero kernel entry; within its group for a grouped conv."""
    w = effective_weight(module) != 0
    if isinstance(module, nn.Linear):
        return w
    w = w.flatten(2).any(dim=2)  # (out, in / groups)
    groups = module.groups
    if groups == 1:
        return w
    out_g, in_g = module.out_channels // groups, module.in_channels // groups
    edges = torch.zeros(module.out_channels, module.in_channels, dtype=torch.bool, device=w.device)
    for g in range(groups):
        edges[g * out_g : (g + 1) * out_g, g * in_g : (g + 1) * in_g] = w[g * out_g : (g + 1) * out_g]
    return edges


def _compose(edges: torch.Tensor, matrix: torch.Tensor | None) -> torch.Tensor:
    """Bool ``edges @ matrix``: channel ``v`` is reached from source node ``u`` through some channel."""
    if matrix is None:
        return edges
    return (edges.to(torch.float32) @ matrix.to(torch.float32)) > 0


class _Reader:
    """One walk over the traced graph, turning values into counted layers (see the module's docstring)."""

    def __init__(self, model: nn.Module, graph: torch.fx.Graph):
        self.model, self.graph = model, graph
        self.device = next(model.parameters()).device
        self.values: dict[torch.fx.Node, _Value] = {}
        self.layers: list[_Layer] = []
        self.calls: dict[str, int] = {}  # calls of each module so far
        self.call_of: dict[torch.fx.Node, int] = {}  # which call of its module a call_module node is
        self.joins: dict[torch.fx.Node, tuple[torch.fx.Node, ...]] = {}  # residual additions and their terms

    def read(self) -> tuple[list[_Layer], int]:
        """The layers and the index of the output layer."""
        inputs = [n for n in self.graph.nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise UnsupportedModelError(f"the model must take exactly one input tensor, got {len(inputs)}")
        (output,) = [n for n in self.graph.nodes if n.op == "output"]
        self.needed, stack = set(), [output]
        while stack:  # every operation the output depends on
            for arg in stack.pop().all_input_nodes:
                if arg not in self.needed:
                    self.needed.add(arg)
                    stack.append(arg)
        for node in self.graph.nodes:
            if node.op == "output":
                return self.layers, self._output(node)
            self._step(node)
        raise UnsupportedModelError("the traced model has no output")  # fx graphs always have one

    def _tracked(self, arg: object) -> _Value | None:
        return self.values.get(arg) if isinstance(arg, torch.fx.Node) else None

    def _step(self, node: torch.fx.Node) -> None:
        if node.op == "placeholder":
            self.values[node] = _Value({INPUT: None}, None, (), False, node)
            return
        if node.op == "get_attr" or _is_shape_query(node):
            return  # a parameter or buffer used directly, or a size: no data from the input
        args = [a for a in node.all_input_nodes if a in self.values]
        if not args:
            return  # computes only on constants
        if node not in self.needed:
            raise UnsupportedModelError(
                f"operation {_describe(node)} does not lead to the model's output: a side branch, or an in-place "
                "operation whose result is not used, which torch.fx cannot follow (write z = z.add_(h), not "
                "z.add_(h)); such operations are not supported"
            )
        target = node.target
        if node.op == "call_module":
            module = self.model.get_submodule(target)
            call = self.calls[target] = self.calls.get(target, -1) + 1
            self.call_of[node] = call
            if isinstance(module, WEIGHT_MODULES):
                self.values[node] = self._weight(self.values[node.args[0]], module, target, node)
            elif isinstance(module, ACTIVATION_MODULES):
                self.values[node] = self._activate(self.values[node.args[0]], node, (target, call))
            elif isinstance(module, NODE_KEEPING_MODULES):
                value = self.values[node.args[0]]
                flat = value.flat or (value.conv and isinstance(module, nn.Flatten))
                self.values[node] = dataclasses.replace(value, flat=flat)
            else:
                raise UnsupportedModelError(
                    f"module '{target}' ({type(module).__name__}) is not supported. Supported: {SUPPORTED}"
                )
            return
        function = node.op == "call_function"
        if (function and target in ACTIVATION_FUNCTIONS) or (not function and target in ACTIVATION_METHODS):
            self.values[node] = self._activate(self.values[node.args[0]], node, (node.name, 0))
        elif (function and target in NODE_KEEPING_FUNCTIONS) or (not function and target in NODE_KEEPING_METHODS):
            value = self.values[node.args[0]]
            reshapes = target in RESHAPE_FUNCTIONS or (not function and target not in _LAYOUT_ONLY)
            self.values[node] = dataclasses.replace(value, flat=value.flat or (value.conv and reshapes))
        elif (function and target in ADDITIONS) or (not function and target in ("add", "add_")):
            values = [self._tracked(a) for a in node.args[:2]]
            if all(values):
                self.values[node] = self._join(values, node)
                self.joins[node] = tuple(node.args[:2])
            else:  # a constant added (a bias): nodes kept
                self.values[node] = next(v for v in values if v)
        elif (function and target in SCALINGS) or (not function and target in ("mul", "mul_", "div", "div_")):
            if len(args) > 1:
                raise UnsupportedModelError(
                    f"operation {_describe(node)} multiplies two tensors of the model (gating or attention), which "
                    f"has no node-and-edge reading. Supported: {SUPPORTED}"
                )
            self.values[node] = self.values[args[0]]
        elif function and target in CONCATENATIONS:
            self.values[node] = self._concatenate(node)
        elif (function and target is torch.mean) or (not function and target == "mean"):
            value = self.values[node.args[0]]
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
            if not (value.conv and dims and all(d in (2, 3, -1, -2) for d in dims)):
                raise UnsupportedModelError(
                    f"operation {_describe(node)}: a mean keeps nodes only over the spatial dimensions of a "
                    f"convolution's output (dim=(2, 3), global average pooling); got dim={dims or None}"
                )
            self.values[node] = value
        else:
            raise UnsupportedModelError(
                f"operation {_describe(node)} is not supported (attention, gating, indexing and other functional "
                f"operations have no node-and-edge reading). Supported: {SUPPORTED}"
            )

    def _weight(self, value: _Value, module: nn.Module, name: str, node: torch.fx.Node) -> _Value:
        if value.modules:
            raise UnsupportedModelError(
                f"weight layer '{name}' takes the output of weight layer(s) {list(value.modules)} with no "
                "activation module in between; every hidden layer needs one (e.g. nn.ReLU)"
            )
        edges = _weight_edges(module)
        conv = isinstance(module, nn.Conv2d)
        inputs = module.in_channels if conv else module.in_features
        nodes = [s for s in value.sources if s != INPUT]
        if conv and nodes and not value.conv:
            raise UnsupportedModelError(f"Conv2d '{name}' after a Linear layer is not supported. Supported: {SUPPORTED}")
        if value.channels is not None and inputs != value.channels:
            if not conv and value.conv and inputs % value.channels == 0:
                # a flattened convolution output: channel-major, each channel's spatial positions in one block
                edges = edges.reshape(edges.shape[0], value.channels, -1).any(dim=2)
            elif not conv and value.conv:
                raise UnsupportedModelError(
                    f"Linear '{name}' with in_features={inputs} follows a conv layer of {value.channels} channels; "
                    "in_features must be channels * height * width"
                )
            else:
                raise UnsupportedModelError(
                    f"a {type(module).__name__} layer ('{name}') expects {inputs} input nodes but the layer before "
                    f"has {value.channels}"
                )
        sources = {}
        for source, matrix in value.sources.items():
            if source == INPUT:  # pixels or features, not nodes: one column, "any input"
                sources[INPUT] = edges.reshape(edges.shape[0], -1).any(dim=1, keepdim=True)
            else:
                sources[source] = _compose(edges, matrix)
        return _Value(sources, edges.shape[0], (name,), conv, node)

    def _activate(self, value: _Value, node: torch.fx.Node, probe: tuple[str, int]) -> _Value:
        if value.is_layer() is not None or set(value.sources) == {INPUT} and not value.modules:
            return value  # already a layer's nodes (a second activation), or the raw input: no new nodes
        return self._new_layer(value, node, probe)

    def _new_layer(self, value: _Value, node: torch.fx.Node, probe: tuple[str, int]) -> _Value:
        width = value.channels
        incoming, from_input = {}, torch.zeros(width, dtype=torch.bool, device=self.device)
        for source, matrix in value.sources.items():
            if source == INPUT:
                from_input = torch.ones_like(from_input) if matrix is None else matrix.any(dim=1)
            else:
                incoming[source] = self._dense(source, matrix)
        name = "+".join(value.modules) or node.name
        self.layers.append(_Layer(name, value.conv, width, incoming, from_input, node, probe))
        return _Value({len(self.layers) - 1: None}, width, (), value.conv, node)

    def _join(self, values: list[_Value], node: torch.fx.Node) -> _Value:
        """A residual addition: a channel is reached from whatever reaches it in either term."""
        channels = {v.channels for v in values} - {None}
        if len(channels) > 1:
            raise UnsupportedModelError(f"addition {_describe(node)} joins values of {sorted(channels)} channels")
        sources: dict[int, torch.Tensor | None] = {}
        for value in values:
            for source, matrix in value.sources.items():
                if source not in sources:
                    sources[source] = matrix
                elif source == INPUT:
                    sources[INPUT] = None if sources[INPUT] is None or matrix is None else sources[INPUT] | matrix
                else:
                    sources[source] = self._dense(source, sources[source]) | self._dense(source, matrix)
        modules = tuple(dict.fromkeys(m for v in values for m in v.modules))
        return _Value(sources, channels.pop() if channels else None, modules, any(v.conv for v in values), node,
                      flat=any(v.flat for v in values))

    def _dense(self, source: int, matrix: torch.Tensor | None) -> torch.Tensor:
        return torch.eye(self.layers[source].width, dtype=torch.bool, device=self.device) if matrix is None else matrix

    def _concatenate(self, node: torch.fx.Node) -> _Value:
        tensors = node.args[0]
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        values = [self._tracked(t) for t in tensors]
        if all(values) and any(v.flat for v in values):
            raise UnsupportedModelError(
                f"concatenation {_describe(node)} joins flattened convolution outputs, whose features are channels x "
                "positions, not nodes; concatenate the channels before flattening"
            )
        if not all(values) or not (dim == 1 or dim == -1 and not any(v.conv for v in values)):
            raise UnsupportedModelError(
                f"concatenation {_describe(node)}: only values of the model joined along the channel or feature "
                f"dimension (dim=1) are supported, got dim={dim}"
            )
        if any(v.channels is None for v in values):
            raise UnsupportedModelError(f"concatenation {_describe(node)} includes the raw input, whose size is unknown")
        width = sum(v.channels for v in values)
        sources: dict[int, torch.Tensor] = {}
        offset = 0
        for value in values:
            for source, matrix in value.sources.items():
                n = 1 if source == INPUT else self.layers[source].width
                block = sources.setdefault(source, torch.zeros(width, n, dtype=torch.bool, device=self.device))
                if source != INPUT:
                    block[offset : offset + value.channels] = self._dense(source, matrix)
                else:
                    block[offset : offset + value.channels] = True if matrix is None else matrix
            offset += value.channels
        modules = tuple(dict.fromkeys(m for v in values for m in v.modules))
        return _Value(sources, width, modules, any(v.conv for v in values), node)

    def _output(self, node: torch.fx.Node) -> int:
        value = self._tracked(node.args[0])
        if value is None:
            raise UnsupportedModelError(
                f"the model must return one tensor computed from its input; it returns {node.args[0]!r}"
            )
        if set(value.sources) == {INPUT} and not value.modules:
            raise ValueError(f"{type(self.model).__name__} has no Linear or Conv2d layer. Supported: {SUPPORTED}")
        layer = value.is_layer()
        if layer is None:  # logits (or a join) with no activation: the output layer's nodes
            made = value.node
            probe = (made.target, self.call_of[made]) if made.op == "call_module" else (made.name, 0)
            self._new_layer(value, made, probe)
            layer = len(self.layers) - 1
        if layer != len(self.layers) - 1:
            raise UnsupportedModelError(
                f"layer '{self.layers[-1].name}' does not lead to the model's output; side branches that end "
                "elsewhere are not supported"
            )
        return layer


def without_skips(model: nn.Module) -> torch.fx.GraphModule:
    """The same network without its skip connections: every residual addition keeps only its main branch.

    Of the two terms of an addition, the main branch is the one reached from the more recent counted layer (the
    block's own layers), or when both come from the same layer the one through weights (``x + f(x)``); the other,
    the skip (an identity or a projection shortcut), is dropped, with the modules only it used. The result shares ``model``'s modules: the same weights, masks and modes, so ``E`` with and
    without skips compares the same trained weights.

    Example:
        >>> import torch, emergence_lib as el
        >>> model = el.engine.models.residual_mlp(8, width=4, blocks=2)
        >>> sorted(el.node_graph(el.without_skips(model)).edges)  # a chain again
        [(0, 1), (1, 2), (2, 3), (3, 4)]
    """
    graph, _ = _traced(model)
    reader = _Reader(model, graph)
    reader.read()

    def main_first(term: torch.fx.Node) -> tuple[int, bool]:
        value = reader.values[term]  # the more recent source, then the term through weights (x + f(x): f(x))
        return max(value.sources), bool(value.modules)  # INPUT (-1) is older than every layer

    plain = torch.fx.Graph()
    copies: dict[torch.fx.Node, torch.fx.Node] = {}
    plain.output(plain.graph_copy(graph, copies))
    for join, (first, second) in reader.joins.items():
        main = first if main_first(first) >= main_first(second) else second
        copies[join].replace_all_uses_with(copies[main])
        plain.erase_node(copies[join])
    result = torch.fx.GraphModule(model, plain, class_name=f"{type(model).__name__}WithoutSkips")
    result.graph.eliminate_dead_code()  # the shortcuts' modules, now unused
    result.delete_all_unused_submodules()
    result.recompile()
    return result


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
    """The counted layers of ``model`` as node counts and 0/1 edges.

    Nodes are ``Linear`` neurons and ``Conv2d`` channels, made nodes by the activation after them (module or
    function); the layer whose output the model returns is the output layer. An edge joins node ``u`` to node
    ``v`` when ``v``'s pre-activation is reached from ``u``'s activation without passing another node: through a
    nonzero effective weight (after ``torch.nn.utils.prune`` masks; for convolutions, any nonzero kernel entry,
    and only within a group for grouped convolutions; from a convolution to a ``Linear`` layer, any nonzero
    weight from the channel's spatial positions), through an identity skip (node ``u`` of the block's input to
    node ``u`` of the join), or through a projection shortcut's weights (a 1x1 convolution and BatchNorm with no
    activation of their own, meeting the main branch at the join). Parallel routes between two nodes are one
    edge, as the entries of a convolution kernel are. A concatenation stacks its parts' nodes; BatchNorm,
    dropout, pooling, reshapes and scaling by a number keep nodes; a module called twice gives two layers. A node
    with no edge in or out (an isolated node) is removed. Definitions and refusals: ``book/method``.

    Example:
        >>> import torch, emergence_lib as el
        >>> from torch import nn
        >>> class Block(nn.Module):  # a residual MLP: h2 = relu(W2 h1 + h0)
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc0, self.fc1, self.fc2, self.out = nn.Linear(4, 3), nn.Linear(3, 5), nn.Linear(5, 3), nn.Linear(3, 2)
        ...     def forward(self, x):
        ...         h0 = torch.relu(self.fc0(x))
        ...         h1 = torch.relu(self.fc1(h0))
        ...         return self.out(torch.relu(self.fc2(h1) + h0))
        >>> g = el.node_graph(Block())
        >>> g.sizes, sorted(g.edges), g.is_chain
        ((3, 5, 3), [(0, 1), (0, 2), (1, 2)], False)
        >>> g.edges[(0, 2)].int()  # the skip: node u to node u
        tensor([[1, 0, 0],
                [0, 1, 0],
                [0, 0, 1]], dtype=torch.int32)

    Args:
        model: a network ``torch.fx`` can trace, of the operations in :data:`SUPPORTED`.
        example_input: optional batch; when given the model is run on it once (eval mode, modes restored) to
            check that it really computes.
        layers: ``"hidden"`` (default) or ``"hidden+output"`` (the output layer's logits become nodes too).

    Raises:
        UnsupportedModelError: naming the operation, for anything outside :data:`SUPPORTED` (attention, gating,
            indexing, data-dependent control flow, unknown modules), for two weight layers with no activation
            between them, and for operations that do not lead to the output (side branches, unassigned in-place
            operations).
        ValueError: for fewer than two counted layers or a bad ``layers`` value.
    """
    check_choice("layers", layers, LAYERS)
    graph, _ = _traced(model)
    if example_input is not None:
        with _evaluation(model):
            model(example_input.to(next(model.parameters()).device))
    found, _ = _Reader(model, graph).read()

    has_out = [torch.zeros_like(layer.from_input) for layer in found]
    for layer in found:
        for i, matrix in layer.incoming.items():
            has_out[i] |= matrix.any(dim=0)
    kept = []
    for layer, out in zip(found, has_out):
        has_in = layer.from_input
        for matrix in layer.incoming.values():
            has_in = has_in | matrix.any(dim=1)
        kept.append(torch.nonzero(has_in | out).flatten())

    counted = len(found) - 1 if layers == "hidden" else len(found)
    if counted < 2:
        raise ValueError(
            f"emergence needs at least two counted layers; layers={layers!r} gives {counted} for this model"
            + ('; use layers="hidden+output" to count the output layer too' if layers == "hidden" else "")
        )
    node_layers = [
        NodeLayer(
            name=layer.name,
            kind="conv" if layer.conv else "linear",
            width=layer.width,
            kept=kept[k],
            probe=layer.probe[0],
            probe_call=layer.probe[1],
            value=layer.node.name,
        )
        for k, layer in enumerate(found[:counted])
    ]
    def keep(matrix: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        # the kept nodes are sorted indices: all of them (nothing to copy) unless isolated nodes were removed
        rows_all, cols_all = len(rows) == matrix.shape[0], len(cols) == matrix.shape[1]
        return matrix if rows_all and cols_all else matrix.index_select(0, rows).index_select(1, cols)

    edges = {
        (i, j): keep(matrix, kept[j], kept[i])
        for j, layer in enumerate(found[:counted])
        for i, matrix in sorted(layer.incoming.items())
    }
    return NodeGraph(layers=node_layers, edges=edges)
