"""One figure style for the whole book, and the figures that recur across chapters.

Chapters call :func:`set_style` once and draw with the helpers below, so every page looks alike and a figure
is fixed in one place.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.transforms import blended_transform_factory

CI = ("ci", 95)
"""Error band of every per-epoch figure: the 95% confidence interval of the mean over seeds (bootstrap)."""


TEXT_WIDTH = 6.8
"""Width in inches of a figure that fills the site's text column at 100% zoom (drawn at :data:`DPI`, so it is
shown at its own size, never scaled down: its fonts read as set)."""

DPI = 100

VERDICT_COLOURS = {"supported": "#009E73", "contradicted": "#D55E00", "inconclusive": "#7F7F7F",
                   "not computed": "#C8C8C8"}  # fmt: skip
"""One colour per verdict (from the colour-blind-safe Okabe-Ito palette), in figures and in the scorecard's table."""


def set_style() -> None:
    """The book's figure style: seaborn's whitegrid, colour-blind palette, fonts legible at 100% zoom, figures as
    wide as the text column (:data:`TEXT_WIDTH`), and an opaque white background that stays readable in the site's
    dark mode (the inline backend's default is transparent)."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook", font_scale=0.85)
    plt.rcParams.update({"figure.figsize": (TEXT_WIDTH, 3.6), "figure.dpi": DPI, "savefig.dpi": DPI,
                         "savefig.bbox": "tight", "figure.facecolor": "white", "savefig.facecolor": "white",
                         "axes.facecolor": "white", "axes.titlesize": "medium", "legend.frameon": False})  # fmt: skip


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
    columns: int = 2,
) -> plt.Figure:
    """A grid of :func:`epoch_band` panels, one per ``(column, label)`` of ``panels``, with one shared legend.

    The grid is as wide as the text column (:data:`TEXT_WIDTH`), ``columns`` panels per row, so its labels stay
    legible at 100% zoom; the legend sits under the grid.

    Args:
        table: a long table with one row per run and epoch.
        panels: ``(column, y-axis label)`` pairs (default :data:`EPOCH_PANELS`).
        hue: the column separating lines, drawn as categories (e.g. the width multiplier).
        title: the figure's title (e.g. the data really used).
        legend_title: the legend's title (default: ``hue``).
        columns: panels per row.

    Example:
        >>> table = pd.DataFrame({"epoch": [0, 1] * 2, "seed": [0, 0, 1, 1], "log10_absolute": [3.0, 2.5, 3.1, 2.4],
        ...                       "test_acc": [0.1, 0.8, 0.1, 0.82]})
        >>> fig = epoch_panels(table, panels=[("log10_absolute", "log10 E"), ("test_acc", "test accuracy")])
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['log10 E', 'test accuracy']
    """
    order = None
    if hue is not None:  # categories in their table order, one colour each in every panel, not a colour scale
        table = table.assign(**{hue: table[hue].astype(str)})
        order = list(dict.fromkeys(table[hue]))
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(TEXT_WIDTH, 2.6 * rows + 0.5), squeeze=False,
                             layout="constrained")  # fmt: skip
    for ax in axes.flat[len(panels):]:
        ax.remove()
    axes = axes.flat[: len(panels)]
    for ax, (column, label) in zip(axes, panels):
        epoch_band(table, column, hue=hue, ax=ax, label=label, hue_order=order)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if hue is not None:  # every group, also one a panel cannot draw (E = 0 throughout has no log10 E)
        handles = {}
        for ax in axes:
            handles.update(zip(*reversed(ax.get_legend_handles_labels())))
        shown = [name for name in order if name in handles]
        fig.legend([handles[name] for name in shown], shown, title=legend_title or hue, loc="outside lower center",
                   ncols=min(len(shown), 6))  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig


def forest(
    table: pd.DataFrame,
    label: str = "claim",
    stand_in: str = "fallback",
    title: str | None = None,
) -> plt.Figure:
    """A forest plot: one row per effect of ``table``, its estimate and 95% interval against its no-effect line.

    Effects of different claims have different units (a correlation, epochs, accuracy points), so each row has
    its own horizontal scale, labelled with the row's unit; the dashed line is the row's ``null``. The colour is
    the verdict (:data:`VERDICT_COLOURS`), the marker the data: filled circle for real data, open square for a
    stand-in. Rows without an estimate are listed with their verdict and no marker.

    Args:
        table: rows with ``estimate``, ``low``, ``high``, ``null``, ``verdict``, ``unit`` and the columns named
            by ``label`` (the row's name) and ``stand_in`` (True for stand-in data), e.g. a
            :func:`~emergence_lib.analysis.scorecard.scorecard`.
        label: the column naming each row (shown at the left with the claim's statement when there is one).
        stand_in: the boolean column saying that a row was computed on stand-in data.
        title: the figure's title.

    Example:
        >>> nan = float("nan")
        >>> card = pd.DataFrame({"claim": ["1", "2a"], "estimate": [0.8, nan], "low": [0.6, nan], "high": [0.9, nan],
        ...                      "null": [0.0, 0.0], "verdict": ["supported", "not computed"], "unit": ["seeds", None],
        ...                      "fallback": [False, True]})
        >>> len(forest(card).axes)
        2
    """
    rows = table.reset_index(drop=True)
    height = 0.52 * len(rows) + 1.0
    fig, axes = plt.subplots(len(rows), 1, figsize=(TEXT_WIDTH, height), squeeze=False)
    statement_at = 0.03 + 0.0125 * max(len(str(name)) for name in rows[label])  # after the longest label
    fig.subplots_adjust(left=max(0.42, statement_at + 0.32), right=0.8, hspace=1.6,
                        top=1 - (0.5 if title else 0.15) / height, bottom=0.8 / height)  # fmt: skip
    for ax, (_, row) in zip(axes[:, 0], rows.iterrows()):
        statement = row.get("statement")
        left = blended_transform_factory(fig.transFigure, ax.transAxes)  # figure's x, the row's y
        ax.text(0.01, 0.5, f"{row[label]}", transform=left, ha="left", va="center", fontweight="bold")
        if isinstance(statement, str):
            ax.text(statement_at, 0.5, textwrap.fill(statement.rstrip("."), 36, max_lines=2, placeholder="…"),
                    transform=left, ha="left", va="center", fontsize="small", linespacing=1.0)  # fmt: skip
        verdict = str(row["verdict"])
        colour = VERDICT_COLOURS.get(verdict, "k")
        ax.text(1.03, 0.5, verdict, transform=ax.transAxes, ha="left", va="bottom", color=colour,
                fontweight="bold")  # fmt: skip
        if pd.notna(row.get("n")) and isinstance(row.get("unit"), str):
            ax.text(1.03, 0.4, f"{int(row['n'])} {row['unit']}", transform=ax.transAxes, ha="left", va="top",
                    fontsize="small", color="0.3")  # fmt: skip
        ax.set_yticks([])
        ax.grid(False, axis="y")
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="x", labelsize="small", pad=1)
        if pd.isna(row["estimate"]):
            ax.set_xticks([])
            ax.spines["bottom"].set_visible(False)
            continue
        null = float(row["null"]) if pd.notna(row.get("null")) else 0.0
        ax.axvline(null, color="0.4", linestyle="--", linewidth=1)
        real = not bool(row[stand_in]) if pd.notna(row.get(stand_in)) else False
        interval = [row["estimate"] - row["low"], row["high"] - row["estimate"]] if pd.notna(row["low"]) else None
        ax.errorbar([row["estimate"]], [0], xerr=None if interval is None else [[interval[0]], [interval[1]]],
                    fmt="o" if real else "s", color=colour, markerfacecolor=colour if real else "white",
                    markersize=7, capsize=3, linewidth=1.6)  # fmt: skip
        values = [null, row["estimate"]] + ([row["low"], row["high"]] if interval is not None else [])
        low, high = min(values), max(values)
        pad = 0.15 * (high - low) or 0.5
        ax.set_xlim(low - pad, high + pad)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.set_ylim(-1, 1)
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="", label=v) for v, c in VERDICT_COLOURS.items()]
    handles += [plt.Line2D([], [], color="k", marker="o", linestyle="", label="real data"),
                plt.Line2D([], [], color="k", marker="s", markerfacecolor="white", linestyle="", label="stand-in data"),
                plt.Line2D([], [], color="0.4", linestyle="--", label="no effect")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncols=4, fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def coverage(table: pd.DataFrame, required: float | None = None) -> plt.Figure:
    """Dot plot of simulated interval coverage: one row per interval and unit count, one colour per data shape.

    Args:
        table: :func:`~emergence_lib.analysis.calibration.coverage_table` (columns ``interval``, ``units``,
            ``data``, ``coverage``).
        required: the coverage the tests require, drawn as a dashed line.
    """
    rows = table.assign(row=[textwrap.fill(f"{i} ({u})", 34) for i, u in zip(table["interval"], table["units"])])
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH, 0.55 * rows["row"].nunique() + 1.4), layout="constrained")
    sns.stripplot(data=rows, x="coverage", y="row", hue="data", dodge=True, jitter=False, size=7, ax=ax)
    if required is not None:
        ax.axvline(required, color="0.4", linestyle="--", linewidth=1, label=f"required ({required:.0%})")
    ax.set_ylabel("")
    ax.set_xlabel("coverage: share of intervals containing the truth")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize="small")
    ax.get_legend().remove()
    return fig


def skip_effect(table: pd.DataFrame) -> plt.Figure:
    """log10 E of networks with and without their skips, at initialization and trained: one panel per network and
    definition of E, a line per run joining its two readings (with skips, without), a dot per reading.

    Args:
        table: :func:`~emergence_lib.experiments.skip_effect` with the labels (``network``, ``seed``).
    """
    networks, definitions = list(dict.fromkeys(table["network"])), list(dict.fromkeys(table["definition"]))
    fig, axes = plt.subplots(len(definitions), len(networks), figsize=(TEXT_WIDTH, 2.5 * len(definitions) + 0.8),
                             squeeze=False, sharex=True, layout="constrained")  # fmt: skip
    colours = {"with": "C0", "without": "C1"}
    for row, definition in enumerate(definitions):
        for column, network in enumerate(networks):
            ax = axes[row][column]
            rows = table[(table["network"] == network) & (table["definition"] == definition)]
            finite = rows.replace([np.inf, -np.inf], np.nan)
            for (stage, seed), run in finite.groupby(["stage", "seed"], sort=False):
                x = 0 if stage == "initial" else 1
                values = run.set_index("skips")["log10_absolute"]
                ax.plot([x - 0.08, x + 0.08], [values.get("with"), values.get("without")], color="0.75", lw=0.8)
                for offset, skips in ((-0.08, "with"), (0.08, "without")):
                    ax.plot(x + offset, values.get(skips), "o", ms=4, color=colours[skips])
            zero = rows["log10_absolute"].eq(-np.inf).groupby(rows["skips"]).mean()
            note = ", ".join(f"{skips}: E = 0 in {share:.0%}" for skips, share in zero.items() if share > 0)
            ax.set_title(f"{network}, {definition}" + (f"\n({note})" if note else ""), fontsize="small")
            if finite["log10_absolute"].isna().all():
                ax.text(0.5, 0.5, "E = 0 in every reading:\nno emergent path", ha="center", va="center",
                        transform=ax.transAxes, fontsize="small", color="0.4")
                ax.set_yticks([])
            ax.set_xticks([0, 1], ["initial", "trained"])
            ax.set_xlim(-0.5, 1.5)
            if column == 0:
                ax.set_ylabel("log10 E")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=f"{k} skips") for k, c in colours.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    return fig


def measure_cost(table: pd.DataFrame) -> plt.Figure:
    """Seconds of one :func:`~emergence_lib.measure` against the network's weights (both logarithmic), each
    network labelled.

    Args:
        table: :func:`~emergence_lib.experiments.measure_cost`.
    """
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH, 3.4), layout="constrained")
    ax.scatter(table["weights"], table["seconds"], color="C0")
    for _, row in table.iterrows():
        ax.annotate(f"{row['network']} ({row['probe']} samples)", (row["weights"], row["seconds"]), fontsize="x-small",
                    xytext=(4, -3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(right=table["weights"].max() * 60)  # room for the labels of the largest network
    ax.set_xlabel("weights (Linear and Conv2d)")
    ax.set_ylabel("seconds per measure")
    return fig


def verdict_table(table: pd.DataFrame, columns: Sequence[str] = ("verdict", "first registered")):
    """``table`` as a compact HTML table (a pandas ``Styler``) with every verdict of ``columns`` shown as a
    coloured label (:data:`VERDICT_COLOURS`), no index, and small type so that it fits the text column.

    Example:
        >>> html = verdict_table(pd.DataFrame({"claim": ["1"], "verdict": ["supported"]})).to_html()
        >>> VERDICT_COLOURS["supported"] in html
        True
    """
    def label(verdict: object) -> str:
        colour = VERDICT_COLOURS.get(str(verdict))
        if colour is None:
            return "" if pd.isna(verdict) else str(verdict)
        return (f'<span style="background-color: {colour}; color: white; font-weight: bold; padding: 0.1em 0.4em; '
                f'border-radius: 0.3em">{verdict}</span>')  # fmt: skip

    present = [c for c in columns if c in table]
    wrapped = ("statement", "experiment", "definition", "as first registered")
    styled = table.style.hide(axis="index").format(label, subset=present)
    styled = styled.set_properties(subset=[c for c in table.columns if c not in wrapped], **{"white-space": "nowrap"})
    return styled.set_table_styles([{"selector": "", "props": "font-size: 0.85em"},
                                    {"selector": "td, th", "props": "padding: 0.2em 0.4em; vertical-align: middle"}])


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
    import networkx as nx  # here: one figure draws with it, and every chapter kernel and worker imports this module

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


def training_path(rows: pd.DataFrame, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """A training path over the loss in its PCA plane: contours of log10 loss, the path's epochs coloured by
    log10 E, the axes labelled with the share of the path's variance each direction explains.

    Args:
        rows: the rows of one run in :meth:`~emergence_lib.probes.landscape.LandscapeProbe.paths`.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    grid = rows[rows["part"] == "surface"].pivot(index="y", columns="x", values="loss")
    levels = ax.contour(grid.columns, grid.index, np.log10(grid.to_numpy()), levels=12, cmap="Greys_r",
                        linewidths=0.8)  # fmt: skip
    ax.clabel(levels, fontsize="x-small", fmt="%.1f")
    path = rows[rows["part"] == "path"].sort_values("epoch")
    ax.plot(path["x"], path["y"], color="0.35", linewidth=1, zorder=2)
    dots = ax.scatter(path["x"], path["y"], c=path["log10_absolute"], cmap="plasma", s=22, zorder=3)
    ax.annotate("init", (path["x"].iloc[0], path["y"].iloc[0]), xytext=(4, 4), textcoords="offset points",
                fontsize="small")  # fmt: skip
    ax.figure.colorbar(dots, ax=ax, label="log10 E")
    first, second = rows[["explained_1", "explained_2"]].iloc[0]
    ax.set_xlabel(f"PC 1 ({first:.0%} of the path's variance)")
    ax.set_ylabel(f"PC 2 ({second:.0%})")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def hessian_density(rows: pd.DataFrame, ax: plt.Axes | None = None, label: str | None = None,
                    points: int = 1000) -> plt.Axes:
    """The Hessian's eigenvalue density of one run on a log scale: the stochastic Lanczos quadrature of every seed
    (:class:`~emergence_lib.probes.hessian.Density`, Gaussian kernels of a hundredth of the spectrum's width),
    averaged over the seeds.

    Args:
        rows: the ``"density"`` rows of one run in :meth:`~emergence_lib.probes.landscape.LandscapeProbe.spectra`.
    """
    from .probes.hessian import Density

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    seeds = [part for _, part in rows.groupby("seed")]
    density = Density(nodes=[part["node"].tolist() for part in seeds],
                      weights=[part["weight"].tolist() for part in seeds], dimension=int(rows["dimension"].iloc[0]))
    low, high = rows["node"].min(), rows["node"].max()
    pad = 0.05 * (high - low) if high > low else 1.0
    grid, values = density.smoothed(grid=np.linspace(low - pad, high + pad, points), width=(high - low + 2 * pad) / 100)
    ax.semilogy(grid, np.maximum(values, 1e-12), label=label)
    ax.set_ylim(bottom=1e-7)  # below, the tails of the kernels only
    ax.set_xlabel("eigenvalue of the Hessian")
    ax.set_ylabel("density")
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
