"""The recurring figures: one legend for a grid of panels, every group in it, one colour per group everywhere;
figures as wide as the text column on an opaque white background; the forest plot and the verdict table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # only this test process: the chapters keep their inline backend

import numpy as np
import pandas as pd
import pytest

from emergence_lib import plots


def table() -> pd.DataFrame:
    rows = []
    for width in (0.5, 1.0, 2.0):
        for seed in range(3):
            for epoch in range(4):
                e = -np.inf if width == 0.5 else width + epoch + 0.1 * seed  # width 0.5: E = 0 throughout
                rows.append({"width": width, "seed": seed, "epoch": epoch, "log10_absolute": e,
                             "test_acc": 0.5 + 0.1 * epoch, "fraction": 0.1, "balanced": 0.2})
    return pd.DataFrame(rows)


def test_epoch_panels_share_one_legend_with_every_group() -> None:
    fig = plots.epoch_panels(table(), hue="width", title="data", legend_title="width multiplier")
    axes = fig.axes
    assert len(axes) == len(plots.EPOCH_PANELS)
    assert not any(ax.get_legend() for ax in axes) and len(fig.legends) == 1  # one legend, under the grid
    (legend,) = fig.legends
    assert legend.get_title().get_text() == "width multiplier"
    assert [t.get_text() for t in legend.get_texts()] == ["0.5", "1.0", "2.0"]  # 0.5 has no log10 E, still listed
    colour = {line.get_label(): line.get_color() for line in axes[1].get_lines() if not line.get_label().startswith("_")}
    first = {line.get_label(): line.get_color() for line in axes[0].get_lines() if not line.get_label().startswith("_")}
    assert set(first) == set(colour) == {"0.5", "1.0", "2.0"}
    assert all(colour[name] == first[name] for name in first)  # the same colour in every panel
    assert fig._suptitle.get_text() == "data"


def test_epoch_panels_without_hue_draw_one_line_per_panel() -> None:
    fig = plots.epoch_panels(table()[table()["width"] == 1.0], panels=[("test_acc", "accuracy")])
    (ax,) = fig.axes
    assert ax.get_legend() is None and ax.get_ylabel() == "accuracy"
    with pytest.raises(KeyError):
        plots.epoch_panels(table(), panels=[("no_such_column", "x")])


def test_figures_fit_the_text_column_on_white() -> None:
    plots.set_style()
    fig = plots.epoch_panels(table(), hue="width")
    assert fig.get_figwidth() == plots.TEXT_WIDTH  # drawn at its own size: never scaled down, fonts as set
    rows = {round(ax.get_position().y0, 2) for ax in fig.axes}
    assert len(rows) == 2  # four panels in a 2 x 2 grid, not a row of four
    assert matplotlib.colors.to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)  # readable in dark mode too
    assert matplotlib.rcParams["savefig.facecolor"] == "white"


def card() -> pd.DataFrame:
    return pd.DataFrame({"claim": ["1", "2a", "2b"], "statement": ["E grows.", "E falls.", "E reaches zero."],
                         "estimate": [0.8, -0.4, float("nan")], "low": [0.6, -0.9, float("nan")],
                         "high": [0.9, 0.1, float("nan")], "null": [0.0, 0.0, 2.0], "n": [5, 5, float("nan")],
                         "unit": ["seeds", "seeds", None], "verdict": ["supported", "inconclusive", "not computed"],
                         "fallback": [False, True, float("nan")]})


def test_forest_draws_each_effect_against_its_null_coloured_by_verdict() -> None:
    fig = plots.forest(card())
    axes = fig.axes
    assert len(axes) == 3
    for ax, (_, row) in zip(axes, card().iterrows()):
        texts = [t.get_text() for t in ax.texts]
        assert row["claim"] in texts and row["verdict"] in texts
        if np.isnan(row["estimate"]):
            assert not ax.lines  # nothing to draw, the verdict says why
            continue
        null_line = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert null_line and null_line[0].get_xdata()[0] == row["null"]
        marker = next(line for line in ax.lines if line.get_marker() in ("o", "s"))
        assert matplotlib.colors.to_hex(marker.get_color()) == plots.VERDICT_COLOURS[row["verdict"]].lower()
        assert marker.get_marker() == ("s" if row["fallback"] else "o")  # stand-in data: open square
        low, high = ax.get_xlim()
        assert low < min(row["low"], row["null"]) and high > max(row["high"], row["null"])


def test_verdict_table_labels_verdicts_and_keeps_other_cells() -> None:
    html = plots.verdict_table(card()[["claim", "statement", "verdict"]]).to_html()
    for verdict, colour in plots.VERDICT_COLOURS.items():
        if verdict in set(card()["verdict"]):
            assert f"background-color: {colour}" in html
    assert "E reaches zero." in html
