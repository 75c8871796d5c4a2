"""Independent references the tests check the library against.

Path counts by enumerating every simple path with networkx (deliberately naive, so they share nothing with
the library's propagation pass; small graphs only), and node activity read with the test's own forward hooks.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from torch import nn


def layered_graph(adjacency, active) -> tuple[nx.DiGraph, list[list[bool]]]:
    """Nodes (layer, index); an edge (i, u) -> (j, v) where ``adjacency[(i, j)][v, u]`` is nonzero (a dict: a DAG)
    or, for a list (a chain), where ``adjacency[j-1][v, u]`` is nonzero with ``i = j - 1``."""
    act = [[bool(x) for x in a.tolist()] for a in active]
    g = nx.DiGraph()
    for k, a in enumerate(act):
        g.add_nodes_from((k, i) for i in range(len(a)))
    pairs = adjacency.items() if isinstance(adjacency, dict) else (((k - 1, k), b) for k, b in enumerate(adjacency, 1))
    for (i, j), b in pairs:
        for v, row in enumerate(b.tolist()):
            for u, x in enumerate(row):
                if x != 0:
                    g.add_edge((i, u), (j, v))
    return g, act


def pair_counts(adjacency, active, through: str = "any") -> tuple[np.ndarray, np.ndarray]:
    """``E[i, j]`` (inactive -> active paths) and ``T[i, j]`` (all paths) from layer i to a later layer j.

    With ``through="active"`` a path counts only when all its intermediate nodes are active.
    Counts are exact Python integers (object arrays).
    """
    g, act = layered_graph(adjacency, active)
    n = len(act)
    E = np.zeros((n, n), dtype=object)
    T = np.zeros((n, n), dtype=object)
    for i in range(n):
        for j in range(i + 1, n):
            for u in range(len(act[i])):
                for v in range(len(act[j])):
                    for path in nx.all_simple_paths(g, (i, u), (j, v)):
                        if through == "active" and not all(act[k][w] for k, w in path[1:-1]):
                            continue
                        T[i, j] += 1
                        if not act[i][u] and act[j][v]:
                            E[i, j] += 1
    return E, T


def emergence(adjacency, active, through: str = "any") -> int:
    """Total number of inactive -> active paths."""
    return int(pair_counts(adjacency, active, through)[0].sum())


def probe_outputs(model: nn.Module, probe: torch.Tensor, names, bn_batch_stats: bool = True) -> list[torch.Tensor]:
    """Per-sample activations at the named modules (spatially averaged for channels), dropout off.

    BatchNorm uses the probe's statistics (``bn_batch_stats``) or its running ones. Runs on the model itself
    (pruned modules cannot be deep-copied) and restores its modes and buffers afterwards.
    """
    modes = {mod: mod.training for mod in model.modules()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    model.train(bn_batch_stats)
    for mod in model.modules():
        if isinstance(mod, nn.modules.dropout._DropoutNd):
            mod.eval()
    mods = dict(model.named_modules())
    outs = {}
    handles = [
        mods[n].register_forward_hook(lambda mod, inp, out, n=n: outs.__setitem__(n, out.detach().clone()))
        for n in names
    ]
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for h in handles:
            h.remove()
        for mod, t in modes.items():
            mod.training = t
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(buffers[n])
    return [outs[n].mean(dim=(2, 3)) if outs[n].dim() == 4 else outs[n] for n in names]


def reduce_values(per_sample: list[torch.Tensor], reduce: str) -> list[torch.Tensor]:
    """Node activity from per-sample activations: mean over samples, max (``any``), or unchanged."""
    if reduce == "mean":
        return [o.mean(0) for o in per_sample]
    if reduce == "any":
        return [o.max(0).values for o in per_sample]
    return per_sample
