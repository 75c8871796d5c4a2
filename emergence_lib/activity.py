"""Which nodes are active on a probe batch.

A node's activity is read at the output of the activation module after its layer (before any pooling) and
averaged over spatial positions for a channel. The probe pass leaves the model exactly as it found it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_choice, check_threshold
from .graph import LAYERS, NodeGraph, node_graph

REDUCES = ("mean", "any", "per_sample")
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


def activity(
    model: nn.Module,
    probe: torch.Tensor,
    threshold: float = 0.05,
    reduce: str = "mean",
    layers: str = "hidden",
    graph: NodeGraph | None = None,
    threshold_mode: str = "absolute",
) -> Activity:
    """Activity and active masks of the counted layers' nodes on a probe batch.

    Args:
        model: the network (see :func:`~emergence_lib.node_graph` for what is supported).
        probe: a batch of inputs; moved to the model's device.
        threshold: a node is active when its activity exceeds this value.
        reduce: ``"mean"``, ``"any"`` or ``"per_sample"`` (see :class:`Activity`).
        layers: ``"hidden"`` or ``"hidden+output"``.
        graph: the model's node graph, if already built.
        threshold_mode: ``"absolute"`` (active when activity > ``threshold``) or ``"layer_mean"`` (active when
            activity > ``threshold`` times the mean activity of the node's layer, so the same rule applies to
            layers of very different scales).
    """
    check_choice("reduce", reduce, REDUCES)
    check_choice("layers", layers, LAYERS)
    check_choice("threshold_mode", threshold_mode, THRESHOLD_MODES)
    check_threshold(threshold)
    if not isinstance(probe, torch.Tensor) or probe.dim() < 2 or len(probe) == 0:
        raise ValueError("probe must be a non-empty batch tensor of shape (B, ...)")
    graph = graph or node_graph(model, layers=layers)
    names = [layer.probe for layer in graph.layers]
    device = next(model.parameters()).device
    with probing(model), capture(model, names) as outputs:
        model(probe.to(device))
    values = []
    for layer in graph.layers:
        per_sample = outputs[layer.probe][layer.probe_call][:, layer.kept.to(device)]
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
