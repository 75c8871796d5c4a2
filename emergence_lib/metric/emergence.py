"""The emergence metric: paths from inactive to active nodes, absolute and normalized.

Absolute emergence ``E`` counts directed paths that start at an inactive node of a counted layer ``i`` and end
at an active node of a later counted layer ``j``, exactly, in one pass (:mod:`emergence_lib.metric.counting`).
Entry points: :func:`measure` (a model on a probe batch, with the normalizations of :class:`EmergenceResult`),
:func:`path_emergence` (any layered graph, a chain or a DAG with skips and joins) and :func:`dense_emergence`
(the closed form on a dense network).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_threshold
from .activity import REDUCES, THRESHOLD_MODES, Capture, activity, capture_activity
from .graph import LAYERS
from .counting import path_counts, pow10, scaled_sum, to_float, to_log10

THROUGH = ("any", "active")
CHOICES = {"threshold_mode": THRESHOLD_MODES, "reduce": REDUCES, "layers": LAYERS, "through": THROUGH}
"""The settings of :func:`measure` chosen from a list, with their allowed values."""
SETTINGS = ("threshold", *CHOICES)
"""The keyword arguments of :func:`measure` that choose the definition (the rest only choose what is returned)."""


def check_settings(**settings: object) -> None:
    """Raise a ValueError naming the setting and its allowed values when one of :data:`SETTINGS` given here is
    invalid; settings left out are not checked."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"{unknown} not supported; allowed settings: {', '.join(SETTINGS)}")
    if "threshold" in settings:
        check_threshold(settings["threshold"])
    for name, allowed in CHOICES.items():
        if name in settings:
            check_choice(name, settings[name], allowed)


def settings_free(record: dict) -> dict:
    """An :meth:`EmergenceResult.as_record` without the settings (for histories, whose columns are the figures)."""
    return {k: v for k, v in record.items() if k not in SETTINGS}


def _as_float_matrices(
    adjacency: Sequence[torch.Tensor] | Mapping[tuple[int, int], torch.Tensor], active: Sequence[torch.Tensor]
) -> tuple[list, list]:
    """Validate a layered graph; return per layer its incoming float64 matrices ``(i, B_ij)`` and bool activity."""
    if not isinstance(adjacency, (list, tuple, Mapping)) or not isinstance(active, (list, tuple)):
        raise ValueError(
            "adjacency must be a list of L matrices (a chain) or a dict {(i, j): matrix} (a DAG), and active a list "
            "of one vector per layer"
        )
    chain = not isinstance(adjacency, Mapping)
    if chain and len(active) != len(adjacency) + 1:
        raise ValueError(
            f"active must have one entry per layer, len(adjacency) + 1 = {len(adjacency) + 1}; got {len(active)}"
        )
    acts = []
    for k, a in enumerate(active):
        a = torch.as_tensor(a)
        if a.dim() != 1:
            raise ValueError(f"active[{k}] must be a 1-D bool tensor, got shape {tuple(a.shape)}")
        if a.dtype != torch.bool:
            if not bool(((a == 0) | (a == 1)).all()):
                raise ValueError(f"active[{k}] must be bool (or 0/1); allowed values: True/False")
            a = a.bool()
        acts.append(a)
    edges = {(k - 1, k): b for k, b in enumerate(adjacency, start=1)} if chain else dict(adjacency)
    inputs: list[list[tuple[int, torch.Tensor]]] = [[] for _ in acts]
    for (i, j), b in sorted(edges.items()):
        name = f"adjacency[{i}]" if chain else f"adjacency[({i}, {j})]"
        if not 0 <= i < j < len(acts):
            raise ValueError(f"{name}: edges go from an earlier layer i to a later layer j, 0 <= i < j < {len(acts)}")
        b = torch.as_tensor(b)
        expected = (len(acts[j]), len(acts[i]))
        if tuple(b.shape) != expected:
            raise ValueError(
                f"{name} joins layer {i} to {j} and must have shape (n_{j}, n_{i}) = {expected}; got {tuple(b.shape)}"
            )
        if b.dtype != torch.bool and not bool(((b == 0) | (b == 1)).all()):
            raise ValueError(f"{name} must hold only 0/1 (or bool) entries; allowed values: 0, 1")
        inputs[j].append((i, b.to(torch.float64)))
    device = next((b.device for incoming in inputs for _, b in incoming), acts[0].device)
    return [[(i, b.to(device)) for i, b in incoming] for incoming in inputs], [a.to(device) for a in acts]


def _columns(vectors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [v.to(torch.float64).reshape(len(v), -1) for v in vectors]


def path_emergence(
    adjacency: Sequence[torch.Tensor] | Mapping[tuple[int, int], torch.Tensor],
    active: Sequence[torch.Tensor],
    through: str = "any",
    log: bool = False,
) -> float:
    """Number of directed paths from an inactive node to an active node of a later layer.

    Args:
        adjacency: a chain, ``L`` 0/1 tensors where ``adjacency[k-1]`` has shape ``(n_k, n_{k-1})`` and joins
            layer ``k-1`` to layer ``k``; or a layered DAG (skips, joins), ``{(i, j): tensor of shape (n_j, n_i)}``
            with ``i < j`` (a :class:`~emergence_lib.NodeGraph`'s ``edges``).
        active: one bool tensor per layer, layer 0 first.
        through: ``"any"`` counts every path (the paper's definition); ``"active"`` only paths whose
            intermediate nodes are all active.
        log: return ``log10`` of the count (finite for any depth; ``-inf`` for zero).

    Returns:
        The exact count as a float (``inf`` if it exceeds float64), or its ``log10``.
    """
    check_choice("through", through, THROUGH)
    inputs, acts = _as_float_matrices(adjacency, active)
    inactive = [~a for a in acts]
    mant, expo = path_counts(
        inputs, _columns(inactive), _columns(acts), _columns(acts) if through == "active" else None
    )
    mant, expo = scaled_sum(mant[:, 0], expo[:, 0])
    if log:
        return float(to_log10(mant, expo))
    return to_float(float(mant), int(expo))


def dense_emergence(sizes: Sequence[int], active_counts: Sequence[int], log: bool = False) -> float:
    """Closed form of emergence on a fully connected layered network.

    ``E = sum_{i<j} (n_i - a_i) * a_j * prod_{i<k<j} n_k``, evaluated with exact Python integers.

    Args:
        sizes: number of nodes ``n_k`` of each layer.
        active_counts: number of active nodes ``a_k`` of each layer, ``0 <= a_k <= n_k``.
        log: return ``log10(E)`` (``-inf`` for zero).
    """
    if len(sizes) != len(active_counts):
        raise ValueError(f"sizes and active_counts must have the same length; got {len(sizes)} and {len(active_counts)}")
    n, a = [], []
    for k, (nk, ak) in enumerate(zip(sizes, active_counts)):
        if int(nk) != nk or int(ak) != ak or not 0 <= ak <= nk:
            raise ValueError(f"layer {k}: need integers 0 <= active_count <= size; got size={nk}, active_count={ak}")
        n.append(int(nk))
        a.append(int(ak))
    total = 0
    for i in range(len(n)):
        through = 1  # product of the widths strictly between i and j
        for j in range(i + 1, len(n)):
            total += (n[i] - a[i]) * a[j] * through
            through *= n[j]
    if log:
        return math.log10(total) if total > 0 else -math.inf
    try:
        return float(total)
    except OverflowError:  # beyond float64 (also values just below 2**1024 that round up to it)
        return math.inf


@dataclass(frozen=True)
class EmergenceResult:
    """Emergence of a network on a probe batch, with the normalizations the book uses.

    Attributes:
        absolute: ``E``, the number of inactive-to-active paths (``inf`` when beyond float64).
        log10_absolute: ``log10(E)`` (always finite unless ``E = 0``).
        relative: ``E`` divided by ``n_weights`` (the paper's relative emergence).
        log10_relative: ``log10`` of ``relative``.
        fraction: ``E / T`` where ``T`` counts all paths between counted layers of the same graph.
        balanced: mean over layer pairs ``i < j`` (with ``T_ij > 0``) of ``E_ij / T_ij``.
        n_weights: nonzero weights of all Linear and Conv2d layers after pruning masks (no biases, no BN).
        layer_sizes: nodes per counted layer, after removing isolated nodes.
        active_counts: active nodes per counted layer (mean over samples for ``reduce="per_sample"``).
        per_pair: ``log10 E_ij`` as a ``(L+1, L+1)`` array (``-inf`` where zero or ``i >= j``) when requested.
        threshold, reduce, layers, through, threshold_mode: the settings used.
    """

    absolute: float
    log10_absolute: float
    relative: float
    log10_relative: float
    fraction: float
    balanced: float
    n_weights: int
    layer_sizes: tuple[int, ...]
    active_counts: tuple[float, ...]
    per_pair: np.ndarray | None
    threshold: float
    reduce: str
    layers: str
    through: str
    threshold_mode: str = "absolute"

    def as_record(self) -> dict[str, float | int | str]:
        """Flat scalars for history tables.

        Per counted layer ``k = 1, 2, ...`` (the first hidden layer is 1): columns ``active_<k>`` and ``size_<k>``.
        """
        record = {k: v for k, v in asdict(self).items() if k not in ("per_pair", "layer_sizes", "active_counts")}
        record.update({f"active_{k}": float(c) for k, c in enumerate(self.active_counts, start=1)})
        record.update({f"size_{k}": int(n) for k, n in enumerate(self.layer_sizes, start=1)})
        return record


PASS_COLUMNS = 64
"""Columns per propagation pass of :func:`_pair_counts`: the start layers' problems go side by side up to this
many. A pass is a few matrix products per layer, whose cost is mostly fixed while they are narrow: counting every
start layer of the default VGG (one column each) in one pass took 2 ms instead of 16 ms in one pass per layer. Wide
problems (one column per probe sample) pass alone, where side by side they would also multiply the zero columns
of the start layers not yet reached."""


def _pair_counts(
    inputs: list[list[tuple[int, torch.Tensor]]],
    starts: list[torch.Tensor],
    ends: list[torch.Tensor],
    through: list[torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Path counts per pair of layers as ``(mantissa, exponent)``, each ``(L+1, L+1, m)``; ``[i, j]``: i -> j.

    The paths that start in layer ``i`` are counted on the graph restricted to layers ``i..L`` with starts in
    layer ``i`` only. Several start layers share a propagation pass (:data:`PASS_COLUMNS`): block ``i`` of its
    columns holds the starts of layer ``i`` alone. Columns are independent problems in
    :func:`~emergence_lib.metric.counting.path_counts`, so sharing a pass changes no count.
    """
    depth, m = len(starts), starts[0].shape[1]
    mant = torch.zeros(depth, depth, m, dtype=torch.float64, device=starts[0].device)
    expo = torch.zeros(depth, depth, m, dtype=torch.int64, device=starts[0].device)
    per_pass = max(1, PASS_COLUMNS // m)
    for first in range(0, depth - 1, per_pass):
        group = range(first, min(first + per_pass, depth - 1))
        # Layers first..L: edges from earlier layers carry no path that starts in the group.
        later = [[(p - first, b) for p, b in incoming if p >= first] for incoming in inputs[first:]]
        only = []
        for k, s in enumerate(starts[first:], start=first):
            block = torch.zeros(s.shape[0], len(group), m, dtype=s.dtype, device=s.device)
            if k in group:
                block[:, k - first] = s
            only.append(block.flatten(1))  # column b * m + c: start layer first + b, problem c
        tile = lambda matrices: [t.repeat(1, len(group)) for t in matrices[first:]]  # noqa: E731
        counts = path_counts(later, only, tile(ends), None if through is None else tile(through))
        for b, i in enumerate(group):  # (end layer, column) -> [start layer i, end layers i.., problem]
            mant[i, first:], expo[i, first:] = (c[:, b * m : (b + 1) * m] for c in counts)
    return mant, expo


def _mean(mant: torch.Tensor, expo: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of scaled counts along ``dim`` (the overflow-free analogue of log-mean-exp)."""
    total, top = scaled_sum(mant, expo, dim=dim)
    return total / mant.shape[dim], top


def _ratio(num: tuple[torch.Tensor, torch.Tensor], den: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``num / den`` for scaled counts, as float64 (finite whenever ``num <= den``)."""
    return torch.ldexp(num[0] / den[0], (num[1] - den[1]).to(torch.float64))


@torch.no_grad()
def measure(
    model: nn.Module,
    probe: torch.Tensor | Capture,
    threshold: float = 0.05,
    reduce: str = "mean",
    layers: str = "hidden",
    through: str = "any",
    per_pair: bool = False,
    threshold_mode: str = "absolute",
) -> EmergenceResult:
    """Measure the emergence of ``model`` on a probe batch.

    Builds the node graph (:func:`~emergence_lib.node_graph`), reads which nodes are active on ``probe``
    (:func:`~emergence_lib.activity`) and counts inactive-to-active paths. The model's parameters, buffers,
    modes and gradients are left exactly as they were. Several definitions of E on one network share one
    forward pass and one graph build when ``probe`` is a :func:`~emergence_lib.capture_activity` record.

    Example:
        >>> import torch, emergence_lib as el
        >>> _ = torch.manual_seed(0)
        >>> model = el.mlp([784, 64, 32, 16, 10])
        >>> result = el.measure(model, torch.rand(128, 784))
        >>> result.layer_sizes, result.n_weights
        ((64, 32, 16), 52896)
        >>> record = el.capture_activity(model, torch.rand(128, 784))   # one pass, many definitions
        >>> [round(el.measure(model, record, threshold=t).fraction, 3) for t in (0.0, 0.05, 0.1)]
        [0.024, 0.179, 0.184]

    Args:
        model: a network :func:`~emergence_lib.node_graph` can read: chains, residual networks with identity or
            projection shortcuts, concatenations, grouped convolutions (see its :data:`SUPPORTED`).
        probe: a batch of inputs (moved to the model's device), or a :class:`~emergence_lib.metric.Capture` of
            one (:func:`~emergence_lib.capture_activity`).
        threshold: a node is active when its activity exceeds this value (``tau``, default 0.05).
        reduce: ``"mean"`` (activity = mean over samples), ``"any"`` (active on at least one sample) or
            ``"per_sample"`` (one active set and one ``E`` per sample; the mean ``E`` is reported).
        layers: counted layers, ``"hidden"`` or ``"hidden+output"``.
        through: ``"any"`` (every path) or ``"active"`` (only paths through active intermediate nodes).
        per_pair: also return the matrix of ``log10 E_ij`` per pair of counted layers.
        threshold_mode: ``"absolute"`` or ``"layer_mean"`` (``threshold`` is then a multiple of each layer's mean
            activity; see :func:`~emergence_lib.activity`).
    """
    check_settings(threshold=threshold, threshold_mode=threshold_mode, reduce=reduce, layers=layers, through=through)
    record = probe if isinstance(probe, Capture) else capture_activity(model, probe, layers=layers)
    act = activity(model, record, threshold=threshold, reduce=reduce, layers=layers, threshold_mode=threshold_mode)
    graph = record.graph_for(layers)
    inputs = [[(i, b.to(torch.float64)) for i, b in incoming] for incoming in graph.inputs()]
    # Columns are probe samples for per_sample, else a single column.
    active = [a.reshape(-1, a.shape[-1]).T.to(torch.float64) for a in act.active]
    inactive = [1.0 - a for a in active]
    via = active if through == "active" else None
    # T depends on the activity only through `via`; otherwise one column suffices.
    m = active[0].shape[1] if via is not None else 1
    ones = [torch.ones(n, m, dtype=torch.float64, device=active[0].device) for n in graph.sizes]

    # E (inactive to active) and T (all paths) in one pass: their columns side by side.
    cat = lambda a, b: [torch.cat(pair, dim=1) for pair in zip(a, b)]  # noqa: E731
    mant, expo = _pair_counts(inputs, cat(inactive, ones), cat(active, ones), None if via is None else cat(via, via))
    n = active[0].shape[1]
    e_pairs = _mean(mant[..., :n], expo[..., :n], dim=-1)  # mean over samples of E_ij
    t_pairs = _mean(mant[..., n:], expo[..., n:], dim=-1)
    e_total = scaled_sum(e_pairs[0].flatten(), e_pairs[1].flatten())
    t_total = scaled_sum(t_pairs[0].flatten(), t_pairs[1].flatten())
    log_e_total = float(to_log10(*e_total))

    pairs = t_pairs[0] > 0  # only i < j can hold paths
    balanced = float(_ratio(e_pairs, t_pairs)[pairs].mean()) if pairs.any() else math.nan

    absolute = to_float(float(e_total[0]), int(e_total[1]))
    n_weights = record.n_weights
    log_w = math.log10(n_weights) if n_weights else math.nan
    return EmergenceResult(
        absolute=absolute,
        log10_absolute=log_e_total,
        relative=absolute / n_weights if math.isfinite(absolute) and n_weights else pow10(log_e_total - log_w),
        log10_relative=log_e_total - log_w,
        fraction=float(_ratio(e_total, t_total)) if t_total[0] > 0 else math.nan,
        balanced=balanced,
        n_weights=n_weights,
        layer_sizes=graph.sizes,
        active_counts=tuple(float(a.sum(dim=0).mean()) for a in active),
        per_pair=to_log10(*e_pairs).cpu().numpy() if per_pair else None,
        threshold=float(threshold),
        reduce=reduce,
        layers=layers,
        through=through,
        threshold_mode=threshold_mode,
    )
