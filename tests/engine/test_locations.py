"""Every folder the library reads or writes is named in engine.locations, under one project root."""

from __future__ import annotations

from pathlib import Path

import pytest

import emergence_lib as el
from emergence_lib.engine import locations


def test_every_location_is_under_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(locations.ROOT_VARIABLE, str(tmp_path))
    assert locations.data_root() == tmp_path / "data"
    assert locations.runs_root() == tmp_path / "data" / "runs"
    assert locations.results_path("landscape", "paper") == tmp_path / "results" / "paper" / "landscape.csv"
    assert locations.verdicts_path("pruning", "smoke") == tmp_path / "data" / "verdicts" / "smoke" / "pruning.csv"
    config = el.get_profile("smoke").run_config("mnist_subset")
    assert el.runs.run_path(config) == tmp_path / "data" / "runs" / config.key  # the engine asks here
    assert el.scorecard.verdicts_path("pruning", "smoke") == locations.verdicts_path("pruning", "smoke")


def test_an_explicit_root_wins_and_build_folders_are_named_once(tmp_path: Path) -> None:
    assert locations.runs_root(tmp_path) == tmp_path and locations.data_root(tmp_path) == tmp_path
    assert locations.executed_dir("smoke", tmp_path) == tmp_path / "_build" / "executed" / "smoke"
    assert el.book.staging_dir("smoke", tmp_path, root=Path(__file__).resolve().parents[2]) == \
        locations.executed_dir("smoke", tmp_path)
    assert locations.site_dir(tmp_path).parent == locations.student_dir(tmp_path).parent == tmp_path / "_build"
