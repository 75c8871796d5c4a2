"""`make bench`'s plumbing: figures recorded by the scripts, written as JSON, gathered into one table.

The benchmarks themselves are never run here (no timed tests); this checks that what they report reaches the
table, with its target judged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402
import timing  # noqa: E402


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setattr(timing, "FIGURES", [])
    return timing.FIGURES


def test_record_judges_the_target_and_keeps_the_figure(figures: list[dict]) -> None:
    assert timing.record("tracked / untracked", 1.2, "<=", 1.05, scope="VGG") == "target <= 1.05: not met"
    assert timing.record("speed-up", 6.0, ">=", 5.0) == "target >= 5: met"
    assert timing.record("time", 0.4, unit="s") == ""
    assert [f["met"] for f in figures] == [False, True, None]
    assert figures[0] == {"figure": "tracked / untracked", "scope": "VGG", "value": 1.2, "unit": "", "op": "<=",
                          "target": 1.05, "met": False}  # fmt: skip


def test_figures_are_written_only_where_make_bench_asks(
    figures: list[dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    timing.record("ratio", 0.5, "<=", 1.0)
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench_example.py"])
    monkeypatch.delenv(timing.OUT, raising=False)
    assert timing.save_figures() is None
    monkeypatch.setenv(timing.OUT, str(tmp_path))
    path = timing.save_figures(quick=True)
    assert path == tmp_path / "bench_example.json"
    payload = json.loads(path.read_text())
    assert payload["benchmark"] == "bench_example" and payload["quick"] is True
    assert payload["figures"] == figures and "torch" in payload["environment"]


def test_the_table_shows_every_figure_and_counts_the_targets_met(figures: list[dict]) -> None:
    timing.record("pruned / dense epoch", 1.01, "<=", 1.05, scope="MLP")
    timing.record("pruned / dense epoch", 1.10, "<=", 1.05, scope="small CNN")
    timing.record("prune VGG-19", 0.61, unit="s", scope="VGG-19")
    results = [{"benchmark": "bench_prune", "environment": "torch x", "figures": figures, "other_processes": 0.3}]
    text = run_all.report(results, seconds=120.0, quick=False)
    rows = [line for line in text.splitlines() if line.startswith("| bench_prune")]
    assert rows == [
        "| bench_prune | pruned / dense epoch | MLP | 1.01 | <= 1.05 | yes |",
        "| bench_prune | pruned / dense epoch | small CNN | 1.1 | <= 1.05 | **no** |",
        "| bench_prune | prune VGG-19 | VGG-19 | 0.61 s |  |  |",
    ]
    assert "1 of 2 targets met." in text
    assert "WARNING: other processes used more than 10% of the CPUs during bench_prune" in text


def test_every_benchmark_script_saves_its_figures_for_the_table() -> None:
    assert run_all.SCRIPTS, "no benchmark scripts found"
    for name in run_all.SCRIPTS:
        source = (BENCHMARKS / f"{name}.py").read_text()
        assert "record(" in source and "save_figures(" in source, f"{name} records nothing for make bench"
