"""One figure style for the whole book, and the figures that recur across chapters.

Chapters call :func:`set_style` once and draw with the helpers below, so every page looks alike and a figure
is fixed in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import seaborn as sns
import torch

CI = ("ci", 95)
"""Error band of every per-epoch figure: the 95% confidence interval of the mean over seeds (bootstrap)."""


def set_style() -> None:
    """The book's figure style: seaborn's whitegrid, colorblind palette, compact sizes, crisp inline images."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook", font_scale=0.9)
    plt.rcParams.update({"figure.figsize": (6.4, 3.6), "figure.dpi": 100, "savefig.bbox": "tight",
                         "axes.titlesize": "medium", "legend.frameon": False})  # fmt: skip


def epoch_band(
    table: pd.DataFrame,
    y: str,
    hue: str | None = None,
    ax: plt.Axes | None = None,
    x: str = "epoch",
    label: str | None = None,
    hue_order: Sequence[str] | None = None,
) -> plt.Axes:
    """Mean of ``y`` over seeds per epoch, with its 95% confidence band (:data:`CI`), one line per ``hue``.

    Args:
        table: a long table with one row per run and epoch (e.g. :func:`~emergence_lib.engine.runs.results_table`).
        y: the column to draw (e.g. ``"log10_absolute"``, ``"test_acc"``).
        hue: the column that separates lines (e.g. ``"width"``); None for a single line.
        ax: where to draw (default: a new figure).
        x: the column on the horizontal axis.
        label: the y-axis label (default: ``y``).
        hue_order: the order (and so the colours) of the lines; default: as they appear in the table.
    """
    if ax is None:
        _, ax = plt.subplots()
    finite = table[pd.to_numeric(table[y], errors="coerce").abs() != float("inf")]  # log10(0) = -inf: not drawn
    sns.lineplot(data=finite, x=x, y=y, hue=hue, hue_order=hue_order, errorbar=CI, marker="o", markersize=4, ax=ax,
                 palette="colorblind" if hue else None)  # fmt: skip
    ax.set_ylabel(label or y)
    return ax


EPOCH_PANELS = (("log10_absolute", "log10 E"), ("test_acc", "test accuracy"), ("fraction", "path fraction E/T"),
                ("balanced", "balanced fraction"))
"""The book's standard row of per-epoch panels: emergence, accuracy, path fraction, balanced fraction."""


def epoch_panels(
    table: pd.DataFrame,
    panels: Sequence[tuple[str, str]] = EPOCH_PANELS,
    hue: str | None = None,
    title: str | None = None,
    legend_title: str | None = None,
) -> plt.Figure:
    """One row of :func:`epoch_band` panels, one per ``(column, label)`` of ``panels``, with one shared legend.

    Args:
        table: a long table with one row per run and epoch.
        panels: ``(column, y-axis label)`` pairs (default :data:`EPOCH_PANELS`).
        hue: the column separating lines, drawn as categories (e.g. the width multiplier).
        title: the figure's title (e.g. the data really used).
        legend_title: the legend's title (default: ``hue``).
    """
    order = None
    if hue is not None:  # categories in their table order, one colour each in every panel, not a colour scale
        table = table.assign(**{hue: table[hue].astype(str)})
        order = list(dict.fromkeys(table[hue]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.7 * len(panels) + 0.4, 3.3), squeeze=False)
    axes = axes[0]
    for ax, (column, label) in zip(axes, panels):
        epoch_band(table, column, hue=hue, ax=ax, label=label, hue_order=order)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if hue is not None:  # every group, also one a panel cannot draw (E = 0 throughout has no log10 E)
        handles = {}
        for ax in axes:
            handles.update(zip(*reversed(ax.get_legend_handles_labels())))
        shown = [name for name in order if name in handles]
        axes[-1].legend([handles[name] for name in shown], shown, title=legend_title or hue, loc="center left",
                        bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    return fig


def draw_network(
    adjacency: Sequence[torch.Tensor],
    active: Sequence[torch.Tensor],
    values: Sequence[torch.Tensor] | None = None,
    names: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    threshold: float | None = None,
) -> plt.Axes:
    """Draw a small layered network: one column per counted layer, active nodes filled, inactive hollow.

    Args:
        adjacency: ``adjacency[k-1][v, u]`` nonzero when node u of layer k-1 feeds node v of layer k
            (as in :class:`~emergence_lib.metric.graph.NodeGraph`).
        active: bool tensors, one per layer.
        values: activities to print on the nodes (optional).
        names: a caption per layer (optional).
        ax: where to draw (default: a new figure).
        threshold: the threshold, for the legend (optional).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 * len(active) + 1, 3.6))
    G = nx.DiGraph()
    sizes = [len(a) for a in active]
    for k, layer in enumerate(active):
        G.add_nodes_from(((k, i), {"active": bool(on)}) for i, on in enumerate(layer.tolist()))
    for k, B in enumerate(adjacency, start=1):
        G.add_edges_from(((k - 1, u), (k, v)) for v, u in torch.as_tensor(B).nonzero().tolist())
    pos = {(k, i): (k, (sizes[k] - 1) / 2 - i) for (k, i) in G}  # layer k in column k, node 0 on top
    style = {"edgecolors": "k", "node_size": 700, "ax": ax}
    nx.draw_networkx_edges(G, pos, ax=ax, edge_color="0.75", arrows=True, arrowsize=8, node_size=700)
    on = [n for n, d in G.nodes(data=True) if d["active"]]
    off = [n for n, d in G.nodes(data=True) if not d["active"]]
    tau = "" if threshold is None else f" (activity > {threshold:g})"
    nx.draw_networkx_nodes(G, pos, nodelist=on, node_color="tab:orange", label=f"active{tau}", **style)
    nx.draw_networkx_nodes(G, pos, nodelist=off, node_color="white", label="inactive", **style)
    if values is not None:
        labels = {(k, i): f"{float(v):.2f}" for k, layer in enumerate(values) for i, v in enumerate(layer.tolist())}
        nx.draw_networkx_labels(G, pos, labels, font_size=7, ax=ax)
    for k in range(len(active)):
        caption = f"layer {k + 1}" + (f"\n{names[k]}" if names else "")
        ax.text(k, 1.0, caption, ha="center", va="bottom", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, markerscale=0.5)
    ax.axis("off")
    return ax


def pair_heatmap(per_pair, ax: plt.Axes | None = None, title: str = "log10 E_ij") -> plt.Axes:
    """Heatmap of a per-pair matrix (e.g. ``EmergenceResult.per_pair``): row = start layer i, column = end j.

    Cells with ``i >= j`` or a count of zero (``-inf``) are left blank. Layers are numbered from 1.
    """
    frame = pd.DataFrame(per_pair).replace(float("-inf"), float("nan"))
    frame.index = frame.columns = range(1, len(frame) + 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * len(frame) + 2.5, 0.45 * len(frame) + 1.5))
    sns.heatmap(frame, annot=len(frame) <= 8, fmt=".1f", cmap="viridis", ax=ax, cbar_kws={"label": title})
    ax.grid(False)  # the style's grid lines would cross the blank cells
    ax.set_xlabel("end layer j")
    ax.set_ylabel("start layer i")
    return ax


def surface_contour(surface, ax: plt.Axes | None = None, levels: int = 20, title: str | None = None) -> plt.Axes:
    """Contours of a 2-D loss surface (:class:`~emergence_lib.probes.landscape.Surface`), the base weights marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    alphas, betas = surface.coords
    shown = ax.contourf(alphas, betas, surface.loss.T, levels=levels, cmap="viridis")  # loss[i, j] at (alpha_i, beta_j)
    ax.contour(alphas, betas, surface.loss.T, levels=levels, colors="k", linewidths=0.3)
    ax.plot([0], [0], marker="*", color="w", markersize=10)
    ax.figure.colorbar(shown, ax=ax, label="loss")
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def surface_3d(surface, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """A 3-D view of a 2-D loss surface."""
    if ax is None:
        ax = plt.figure(figsize=(4.5, 3.8)).add_subplot(projection="3d")
    alphas, betas = surface.coords
    grid_a, grid_b = np.meshgrid(alphas, betas, indexing="ij")
    ax.plot_surface(grid_a, grid_b, surface.loss, cmap="viridis", linewidth=0, antialiased=True)
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    ax.set_zlabel("loss")
    if title:
        ax.set_title(title)
    return ax
