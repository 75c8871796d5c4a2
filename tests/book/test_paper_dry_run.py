"""Every chapter runs the GPU-sized ``paper`` profile as a dry run on the CPU.

A file of its own: the suite's longest test beside the smoke execution of ``test_executor.py``, so that ``make
test``'s two workers (pytest-xdist, one file per worker at a time) each start with one of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emergence_lib import book

JOBS = max(1, min(2, os.cpu_count() or 1))  # chapters side by side, one thread each, as in test_executor.py


def test_every_chapter_runs_the_paper_profile_as_a_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`paper` is sized for a GPU; its dry run (same networks, one seed, one epoch, two batches) keeps every
    chapter's paper path from rotting on a CPU. Nothing is published from a dry run."""
    monkeypatch.setenv(book.PROJECT_ROOT_VARIABLE, str(tmp_path))
    runs = book.execute(profile="paper-dry-run", device="cpu", out=tmp_path, jobs=JOBS)
    failed = [run for run in runs if not run.ok]
    assert not failed, book.failure_report(failed, len(runs))
    assert not (tmp_path / "results").exists()
