"""Which nodes are active on a probe batch: capture the activations once, threshold them many ways.

A node's activity is read at the output of the activation (module or function) that makes it a node (before any
pooling), averaged over spatial positions for a channel; the probe pass runs the model traced by ``torch.fx`` with
those values as extra outputs (:func:`~emergence_lib.metric.graph.probe_module`) and leaves the model exactly as it
found it.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from .._checks import check_choice, check_threshold
from .layout import channels_last, has_batch_norm
from .graph import LAYERS, NodeGraph, node_graph, nonzero_weights, probe_module

REDUCES = ("mean", "any", "per_sample")
PROBE_BATCH = 256
"""Samples per forward pass of a probe through a model without BatchNorm (one pass with it). On a CPU, a
pass over 512 samples at once is slower than two of 256: the activations fall out of the cache."""
THRESHOLD_MODES = ("absolute", "layer_mean")
"""How ``threshold`` is read: as an activity level, or as a multiple of the mean activity of the node's layer."""


@dataclass(frozen=True)
class Activity:
    """Activity of the counted layers' kept nodes.

    Attributes:
        values: per counted layer, ``(n_k,)`` for ``reduce="mean"`` (mean activation over samples and spatial
            positions) and ``"any"`` (largest spatially averaged activation over samples), ``(B, n_k)`` for
            ``"per_sample"``.
        active: bool tensors of the same shapes, ``values > threshold`` (``threshold_mode="absolute"``) or
            ``values > threshold * mean of the layer's values`` (``"layer_mean"``; per sample for ``"per_sample"``).
        threshold: the threshold used.
        reduce: the reduction used.
        threshold_mode: how the threshold was read.
    """

    values: list[torch.Tensor]
    active: list[torch.Tensor]
    threshold: float
    reduce: str
    threshold_mode: str = "absolute"


@contextlib.contextmanager
def capture(model: nn.Module, names: list[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the outputs of the named submodules, averaged over spatial positions, as ``(B, nodes)``.

    Forward hooks on modules, for reading any module's output; the probe pass of :func:`capture_activity` reads
    the ``torch.fx`` values of the counted layers instead, functional activations included.

    ``outputs[name][i]`` is the output of the ``i``-th call of the module (one module may be called at several
    depths). Outputs are copies, so a later in-place module cannot change them. Forward hooks are removed when
    the block ends, also on error.
    """
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in names}

    def hook(name: str):
        def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            out = output.detach()
            outputs[name].append(out.flatten(2).mean(dim=2) if out.dim() > 2 else out.clone())

        return record

    handles = [model.get_submodule(name).register_forward_hook(hook(name)) for name in dict.fromkeys(names)]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def probing(model: nn.Module) -> Iterator[None]:
    """Dropout off, BatchNorm on the batch's own statistics; modes and BN buffers restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in norms]
    try:
        model.eval()
        for m in norms:
            m.train()  # normalize with the probe's statistics, as in training
        with torch.no_grad():
            yield
    finally:
        for m, buffers in zip(norms, saved):
            for k, v in buffers.items():
                getattr(m, k).copy_(v)
        for m, mode in modes:
            m.train(mode)


def _tensors(model: nn.Module) -> list[torch.Tensor]:
    # BatchNorm's running statistics are left out: the probe pass normalizes with the batch's own statistics,
    # and every probe pass writes and restores them.
    tensors = list(model.parameters())
    for module in model.modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            tensors += list(module.buffers(recurse=False))
    return tensors


def _state(model: nn.Module) -> tuple[tuple[weakref.ref, int, int], ...]:
    # Every in-place change bumps a tensor's version counter, new data moves its storage, and pruning swaps masks
    # for new tensors: (the very tensor, its version, its storage) of every parameter and buffer tells whether the
    # model is still the one captured. Weak references: a capture keeps no model alive, and a freed tensor's
    # reused id cannot pass for it.
    return tuple((weakref.ref(t), t._version, t.data_ptr()) for t in _tensors(model))


def _unchanged(model: nn.Module, state: tuple) -> bool:
    tensors = _tensors(model)
    return len(tensors) == len(state) and all(
        ref() is t and version == t._version and pointer == t.data_ptr() for t, (ref, version, pointer) in zip(tensors, state)
    )


@dataclass(frozen=True)
class Capture:
    """One probe pass through a model: its node graph and every counted node's activation, per sample.

    :func:`activity` and :func:`~emergence_lib.measure` read any threshold, reduction or choice of counted layers
    from it, without another forward pass or node-graph build. It refuses a model changed since (weights,
    pruning masks or buffers).

    Attributes:
        graph: the node graph for ``layers``.
        outputs: per layer of ``graph``, the ``(B, n_k)`` activations of its kept nodes (spatially averaged).
        layers: ``"hidden+output"`` (the default: serves both settings, the hidden graph being its prefix) or
            ``"hidden"``.
        n_weights: the model's nonzero weights (:func:`~emergence_lib.metric.graph.nonzero_weights`), counted
            once for every measurement read from the capture.
    """

    graph: NodeGraph
    outputs: list[torch.Tensor]
    layers: str = "hidden+output"
    n_weights: int = 0
    state: tuple = field(default=(), repr=False)

    def graph_for(self, layers: str) -> NodeGraph:
        """The node graph of the counted ``layers``, read from this capture."""
        check_choice("layers", layers, LAYERS)
        if layers == self.layers:
            return self.graph
        if self.layers == "hidden":
            raise ValueError("this capture holds the hidden layers only; capture with layers='hidden+output'")
        if len(self.graph.layers) < 3:
            raise ValueError(
                f"emergence needs at least two counted layers; layers='hidden' gives {len(self.graph.layers) - 1} "
                "for this model; use layers=\"hidden+output\" to count the output layer too"
            )
        return self.graph.prefix(len(self.graph.layers) - 1)

    def matches(self, model: nn.Module) -> bool:
        """Whether ``model`` is the model captured, as it was then (same tensors, unchanged since)."""
        return _unchanged(model, self.state)

    def check(self, model: nn.Module) -> None:
        """Raise ValueError when ``model`` is not the model captured, as it was then."""
        if not self.matches(model):
            raise ValueError(
                "the model has changed since this capture (other weights, masks or buffers); capture it again "
                "with capture_activity(model, probe)"
            )


def capture_activity(
    model: nn.Module, probe: torch.Tensor, layers: str = "hidden+output", graph: NodeGraph | None = None
) -> Capture:
    """Run ``probe`` through ``model`` once and keep the activations of every counted node (see :class:`Capture`).

    Args:
        model: the network.
        probe: a batch of inputs, moved to the model's device.
        layers: the counted layers to keep; the default serves both settings.
        graph: the model's node graph for ``layers``, if already built.

    Example:
        >>> import torch, emergence_lib as el
        >>> _ = torch.manual_seed(0)
        >>> model, probe = el.mlp([4, 8, 8, 3]), torch.randn(16, 4)
        >>> record = el.capture_activity(model, probe)
        >>> [tuple(o.shape) for o in record.outputs]  # two hidden layers and the output layer, 16 samples
        [(16, 8), (16, 8), (16, 3)]
        >>> el.measure(model, record, threshold=0.1) == el.measure(model, probe, threshold=0.1)  # no second pass
        True
    """
    check_choice("layers", layers, LAYERS)
    if not isinstance(probe, torch.Tensor) or probe.dim() < 2 or len(probe) == 0:
        raise ValueError("probe must be a non-empty batch tensor of shape (B, ...)")
    device = next(model.parameters()).device
    # BatchNorm normalizes with the whole probe's statistics: one pass. Otherwise every sample is computed on its
    # own, and passes of PROBE_BATCH samples keep the activations in the CPU's cache.
    step = len(probe) if has_batch_norm(model) else PROBE_BATCH
    graph = graph or node_graph(model, layers=layers)

    recorder = ProbeRecorder(model, len(probe), layers=layers, graph=graph)
    # the layout train() evaluates in: the test evaluation can then serve as this pass
    with channels_last(model, probe[:1].to(device)), probing(model):
        for start in range(0, len(probe), step):
            recorder(probe[start : start + step].to(device))
    return recorder.capture()


class ProbeRecorder:
    """The model's forward pass, recording the activity of every counted node on the first ``n`` samples it sees.

    :func:`capture_activity` feeds it the probe; :func:`~emergence_lib.train` feeds it the test set, whose first
    samples are the probe (:func:`~emergence_lib.load_dataset`), so that the test evaluation's forward pass is
    also the probe pass. Both passes must run the model as the probe pass does (:func:`probing`): the same as
    evaluation mode for a model without BatchNorm. Call :meth:`capture` once the model's layout is restored.

    Example:
        >>> import torch, emergence_lib as el
        >>> _ = torch.manual_seed(0)
        >>> model, x = el.mlp([4, 8, 8, 3]).eval(), torch.randn(20, 4)
        >>> recorder = ProbeRecorder(model, 16)
        >>> with torch.no_grad():
        ...     logits = [recorder(x[:8]), recorder(x[8:16]), recorder(x[16:])]  # the model's outputs
        >>> recorder.capture().outputs[0].shape  # the first hidden layer's 8 nodes on the first 16 samples
        torch.Size([16, 8])
    """

    def __init__(self, model: nn.Module, n: int, layers: str = "hidden+output", graph: NodeGraph | None = None):
        check_choice("layers", layers, LAYERS)
        self.model, self.n, self.layers = model, n, layers
        self.graph = graph or node_graph(model, layers=layers)
        self._traced = probe_module(model, [layer.value for layer in self.graph.layers])
        self._passes: list[tuple[torch.Tensor, ...]] = []
        self._seen = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._seen >= self.n:  # the probe is recorded: the plain model
            return self.model(x)
        output, values = self._traced(x)
        self._passes.append(values)
        self._seen += len(x)
        return output

    def capture(self) -> Capture:
        """The :class:`Capture` of the first ``n`` samples, for the model as it is now."""
        if self._seen < self.n:
            raise ValueError(f"the recorder has seen {self._seen} samples, fewer than the {self.n} it records")
        outputs = []
        for k, layer in enumerate(self.graph.layers):
            values = torch.cat([values[k] for values in self._passes])[: self.n]
            # kept: sorted indices, all of them unless isolated nodes were removed (then a copy of those columns)
            whole = len(layer.kept) == values.shape[1]
            outputs.append(values if whole else values.index_select(1, layer.kept.to(values.device)))
        return Capture(graph=self.graph, outputs=outputs, layers=self.layers, n_weights=nonzero_weights(self.model),
                       state=_state(self.model))  # fmt: skip


def activity(
    model: nn.Module,
    probe: torch.Tensor | Capture,
    threshold: float = 0.05,
    reduce: str = "mean",
    layers: str = "hidden",
    graph: NodeGraph | None = None,
    threshold_mode: str = "absolute",
) -> Activity:
    """Activity and active masks of the counted layers' nodes on a probe batch.

    Args:
        model: the network (see :func:`~emergence_lib.node_graph` for what is supported).
        probe: a batch of inputs (moved to the model's device), or a :class:`Capture` of one.
        threshold: a node is active when its activity exceeds this value.
        reduce: ``"mean"``, ``"any"`` or ``"per_sample"`` (see :class:`Activity`).
        layers: ``"hidden"`` or ``"hidden+output"``.
        graph: the model's node graph for ``layers``, if already built (ignored for a :class:`Capture`).
        threshold_mode: ``"absolute"`` (active when activity > ``threshold``) or ``"layer_mean"`` (active when
            activity > ``threshold`` times the mean activity of the node's layer, so the same rule applies to
            layers of very different scales).
    """
    check_choice("reduce", reduce, REDUCES)
    check_choice("layers", layers, LAYERS)
    check_choice("threshold_mode", threshold_mode, THRESHOLD_MODES)
    check_threshold(threshold)
    if isinstance(probe, Capture):
        probe.check(model)
        record = probe
    else:
        record = capture_activity(model, probe, layers=layers, graph=graph)
    counted = len(record.graph_for(layers).layers)
    values = []
    for per_sample in record.outputs[:counted]:
        if reduce == "mean":
            values.append(per_sample.mean(dim=0))
        elif reduce == "any":
            values.append(per_sample.amax(dim=0))
        else:
            values.append(per_sample)
    if threshold_mode == "absolute":
        active = [v > threshold for v in values]
    else:  # the layer's mean over its nodes (per sample for per_sample values)
        active = [v > threshold * v.mean(dim=-1, keepdim=True) for v in values]
    return Activity(
        values=values, active=active, threshold=float(threshold), reduce=reduce, threshold_mode=threshold_mode
    )
