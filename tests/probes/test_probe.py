"""LandscapeProbe: the landscape chapter's measurement of a run, computed once, equal to the direct calls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import emergence_lib as el
from emergence_lib.probes import landscape

AXIS = np.linspace(-1, 1, 5)
LOSS = nn.CrossEntropyLoss()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[el.Run]:
    """Two runs of a second each on the offline MNIST subset: a plain MLP and one pruned to 50% at init."""
    train = el.TrainConfig(epochs=1, seed=0, batch_size=64, max_batches=3)
    plain = el.RunConfig(dataset="mnist_subset", model="mlp", model_args={"hidden": [16, 8]}, train=train,
                         train_size=256, test_size=128, probe_size=64)  # fmt: skip
    pruned = dataclasses.replace(plain, prune=el.PruneConfig(method="magnitude", sparsity=0.5))
    root = tmp_path_factory.mktemp("runs")
    return [el.execute(config, root=root, progress=False) for config in (plain, pruned)]


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    data = el.load_dataset("mnist_subset", train_size=256, test_size=128, probe_size=64)
    return data.x_test[:96], data.y_test[:96]


def chapter_probe(run: el.Run, batch: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """The landscape chapter's probe(run) before LandscapeProbe (its run-description columns left out)."""
    model = run.model()
    directions = el.landscape.random_directions(model, n=2, seed=0)
    surface = el.landscape.loss_surface(model, LOSS, batch, directions, (AXIS, AXIS))
    top = el.hessian.hessian_eigenvalues(model, LOSS, batch, k=1, iters=50, seed=0)
    trace = el.hessian.hessian_trace(model, LOSS, batch, samples=30, seed=0)
    last = run.history.iloc[-1]
    return {"key": run.config.key, "log10_absolute": last["log10_absolute"], "fraction": last["fraction"],
            "test_acc": last["test_acc"], **el.landscape.ruggedness(surface),
            "top_eigenvalue": top.values[0], "trace": trace.trace, "trace_std_error": trace.std_error,
            "dataset": run.config.dataset, "data_used": el.runs.data_used(run),
            "data_source": run.environment["data_source"], "fallback": run.environment["fallback"]}  # fmt: skip


def test_a_measure_row_is_the_chapters_probe(runs: list[el.Run], batch) -> None:
    probe = el.landscape.LandscapeProbe(batch, AXIS)
    for run in runs:
        assert probe.measure(run) == chapter_probe(run, batch)  # same seeds, same order: the same numbers


def test_extra_columns_come_right_after_the_key_and_table_stacks_the_rows(runs: list[el.Run], batch) -> None:
    probe = el.landscape.LandscapeProbe(batch, AXIS)

    def describe(run: el.Run) -> dict:
        return {"hidden": "-".join(map(str, run.config.model_args["hidden"])),
                "sparsity": run.config.prune.sparsity if run.config.prune else 0.0}  # fmt: skip

    table = probe.table(runs, columns=describe)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns[:4]) == ["key", "hidden", "sparsity", "log10_absolute"]
    assert list(table.columns[-5:]) == ["trace_std_error", "dataset", "data_used", "data_source", "fallback"]
    assert table["key"].tolist() == [r.config.key for r in runs]
    assert table["sparsity"].tolist() == [0.0, 0.5]
    expected = pd.DataFrame([chapter_probe(r, batch) for r in runs])
    pd.testing.assert_frame_equal(table.drop(columns=["hidden", "sparsity"]), expected)


def test_a_surface_is_computed_once_and_shared_with_measure(runs: list[el.Run], batch, monkeypatch) -> None:
    calls = []
    original = landscape.loss_surface

    def counting(*args, **kwargs):
        calls.append(args[-1])
        return original(*args, **kwargs)

    monkeypatch.setattr(landscape, "loss_surface", counting)
    probe = el.landscape.LandscapeProbe(batch, AXIS)
    run = runs[1]
    surface = probe.surface(run)
    assert probe.surface(run) is surface
    row = probe.measure(run)
    assert len(calls) == 1  # the figure's surface is the measured one
    assert {k: row[k] for k in ("local_minima", "second_difference", "sharpness")} == landscape.ruggedness(surface)
    assert surface.loss.shape == (5, 5)
    # A line along the first direction: memoized too, and the beta = 0 column of the surface.
    line = probe.line(run, AXIS)
    assert probe.line(run, AXIS) is line and len(calls) == 2
    np.testing.assert_allclose(line.loss, surface.loss[:, 2], rtol=1e-6)
    assert probe.surface(runs[0]) is not surface and len(calls) == 3


def test_bad_arguments_raise_clear_errors(batch) -> None:
    with pytest.raises(ValueError, match="no coordinate 0"):
        el.landscape.LandscapeProbe(batch, np.linspace(0.1, 1, 5))
    with pytest.raises(ValueError, match="evenly spaced"):
        el.landscape.LandscapeProbe(batch, [-1.0, 0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="batch must be a pair"):
        el.landscape.LandscapeProbe(batch[0], AXIS)
    with pytest.raises(ValueError, match="direction_seed must be an integer >= 0"):
        el.landscape.LandscapeProbe(batch, AXIS, direction_seed=-1)
    with pytest.raises(ValueError, match="trace_samples must be an integer >= 1"):
        el.landscape.LandscapeProbe(batch, AXIS, trace_samples=0)
    probe = el.landscape.LandscapeProbe(batch, AXIS)
    assert "5x5" in repr(probe)
