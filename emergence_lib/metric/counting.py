"""Exact path counts between layers of a layered graph, safe from overflow.

Path counts grow like the product of the layer widths (about 10^800 for 300 layers of 512 nodes), far beyond
float64: :func:`path_counts` carries them as ``mantissa * 2**exponent`` in one propagation pass (never
enumeration), and :func:`scaled_sum`, :func:`to_log10` and :func:`to_float` read them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

LOG10_2 = math.log10(2.0)


def _renormalize(x: torch.Tensor, exponent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rescale each column of ``x`` by a power of two so that its largest entry lies in [0.5, 1)."""
    peak = x.amax(dim=0)
    _, shift = torch.frexp(peak)
    shift = torch.where(peak > 0, shift.to(exponent.dtype), torch.zeros_like(exponent))
    return torch.ldexp(x, -shift.to(x.dtype)), exponent + shift


def path_counts(
    inputs: Sequence[Sequence[tuple[int, torch.Tensor]]],
    starts: Sequence[torch.Tensor],
    ends: Sequence[torch.Tensor],
    through: Sequence[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Count paths from start nodes to end nodes of a layered DAG, grouped by the layer where they end.

    Layers are in topological order: ``inputs[j]`` lists the incoming edges of layer ``j`` as ``(i, B_ij)`` with
    ``i < j`` and ``B_ij`` of shape ``(n_j, n_i)`` (a chain has ``inputs[j] = [(j - 1, B_j)]``; a skip adds an
    earlier source, a join several). For every column ``c`` (independent problems, e.g. probe samples) and end
    layer ``j`` this returns

        sum over layers i < j, nodes u of layer i, v of layer j of
            starts[i][u, c] * ends[j][v, c] * paths(u -> v)

    where a path may pass only through intermediate nodes ``w`` with ``through[k][w, c] = 1`` (all nodes when
    ``through`` is None). One pass in topological order: ``S_j = sum_i B_ij ((S_i * through_i) + starts_i)``,
    then ``ends_j . S_j``.

    The counts are carried as ``mantissa * 2**exponent`` with one integer exponent per layer and column,
    renormalized after every layer: scaling by a power of two is exact in floating point, so counts below 2**53
    stay exact integers, and larger ones keep float64's relative precision.

    Args:
        inputs: per layer, its incoming edges ``(i, B_ij)``, float64 0/1 matrices.
        starts, ends: one float64 matrix of shape ``(n_k, m)`` per layer (weights, usually 0/1).
        through: one float64 0/1 matrix of shape ``(n_k, m)`` per layer, or None.

    Returns:
        ``(mantissa, exponent)``, both of shape ``(layers, m)``: the count is ``mantissa * 2**exponent``. A layer
        without incoming edges (the first) has a zero row.
    """
    m = starts[0].shape[1]
    sums: list[tuple[torch.Tensor, torch.Tensor]] = []  # S_k with its exponent per column
    mantissas, exponents = [], []
    for j, incoming in enumerate(inputs):
        terms = []
        for i, b in incoming:
            s, e = sums[i]
            if through is not None:
                s = s * through[i]
            # A column whose counts are all zero (a blocked layer, an empty adjacency) carries no scale: restart it
            # at 2**0, or the new starts below would be scaled by a stale power of two and underflow.
            e = torch.where((s != 0).any(dim=0), e, torch.zeros_like(e))
            # Bring S_i (scale 2**e) and the new starts (scale 2**0) to a common scale 2**c.
            c = e.clamp(min=0)
            v = torch.ldexp(s, (e - c).to(s.dtype)) + torch.ldexp(starts[i], (-c).to(s.dtype))
            terms.append(_renormalize(b @ v, c))
        if not terms:  # no path ends here
            s = torch.zeros_like(starts[j])
            e = torch.zeros(m, dtype=torch.int64, device=s.device)
            sums.append((s, e))
            mantissas.append(torch.zeros(m, dtype=s.dtype, device=s.device))
            exponents.append(e)
            continue
        s, e = terms[0] if len(terms) == 1 else _add(terms)
        sums.append((s, e))
        total, shift = _renormalize((ends[j] * s).sum(dim=0, keepdim=True), e)
        mantissas.append(total[0])
        exponents.append(shift)
    return torch.stack(mantissas), torch.stack(exponents)


def _add(terms: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum scaled ``(n, m)`` counts arriving at a join, each with its exponent per column."""
    mantissa = torch.stack([t[0] for t in terms])
    exponent = torch.stack([t[1] for t in terms])
    lowest = torch.iinfo(exponent.dtype).min
    # an all-zero term's exponent is arbitrary: it must not set the common scale
    top = torch.where((mantissa != 0).any(dim=1), exponent, torch.full_like(exponent, lowest)).amax(dim=0)
    top = torch.where(top == lowest, torch.zeros_like(top), top)
    shift = (exponent - top).clamp(max=0)  # a zero term's exponent may lie above: 0 * 2**big would be NaN
    aligned = torch.ldexp(mantissa, shift.unsqueeze(1).to(mantissa.dtype))
    return _renormalize(aligned.sum(dim=0), top)


def layer_path_counts(
    adjacency: Sequence[torch.Tensor],
    starts: Sequence[torch.Tensor],
    ends: Sequence[torch.Tensor],
    through: Sequence[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`path_counts` on a chain: ``adjacency[k-1]`` of shape ``(n_k, n_{k-1})`` joins layer ``k-1`` to ``k``."""
    inputs = [[]] + [[(k - 1, b)] for k, b in enumerate(adjacency, start=1)]
    return path_counts(inputs, starts, ends, through)


def scaled_sum(mantissa: torch.Tensor, exponent: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum counts given as ``mantissa * 2**exponent`` along ``dim``, keeping the scaled form."""
    zero = mantissa == 0
    top = torch.where(zero, torch.full_like(exponent, torch.iinfo(exponent.dtype).min), exponent).amax(dim=dim)
    top = torch.where(top == torch.iinfo(exponent.dtype).min, torch.zeros_like(top), top)
    # A zero count may carry any exponent; above ``top`` its power of two can overflow, and 0 * inf is NaN.
    shift = (exponent - top.unsqueeze(dim)).clamp(max=0)
    aligned = torch.ldexp(mantissa, shift.to(mantissa.dtype))
    return aligned.sum(dim=dim), top


def to_log10(mantissa: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """log10 of ``mantissa * 2**exponent`` (float64; -inf where the count is zero)."""
    return torch.log10(mantissa) + exponent.to(mantissa.dtype) * LOG10_2


def to_float(mantissa: float, exponent: int) -> float:
    """``mantissa * 2**exponent`` as a Python float, ``inf`` when it overflows."""
    try:
        return math.ldexp(mantissa, exponent)
    except OverflowError:
        return math.inf


def pow10(x: float) -> float:
    """``10**x`` as a float: ``inf`` on overflow, ``0.0`` for ``-inf``."""
    try:
        return 10.0**x
    except OverflowError:
        return math.inf
