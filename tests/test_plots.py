"""The recurring figures: one legend for a row of panels, every group in it, one colour per group everywhere."""

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
    assert [ax.get_legend() is not None for ax in axes] == [False] * (len(axes) - 1) + [True]
    legend = axes[-1].get_legend()
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
