"""Where files live: every folder the library reads or writes is named here, once.

Under the project root (``$EMERGENCE_ROOT``, else the working folder): ``data/`` (dataset cache, stored runs in
``data/runs/<key>/``, the chapters' verdicts in ``data/verdicts/<profile>/``), ``results/<profile>/`` (published
tables) and ``_build/`` (executed chapters, the site, student copies).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

ROOT_VARIABLE = "EMERGENCE_ROOT"
"""Environment variable naming the folder that holds ``data/`` and ``results/`` (default: the working folder).

The book executor sets it for the chapters it runs, so that a chapter executed in a build folder still uses
the repository's dataset cache, stored runs and published results.
"""

BUILD = "_build"
"""Folder (under the book root) of everything built: executed chapters, the site, student copies."""


def project_root() -> Path:
    """The folder holding ``data/`` and ``results/``: ``$EMERGENCE_ROOT`` when set, else the working folder."""
    return Path(os.environ.get(ROOT_VARIABLE, "."))


def data_root(root: str | Path | None = None) -> Path:
    """``root``, or by default ``data/`` under :func:`project_root`: the dataset cache, stored runs and verdicts."""
    return project_root() / "data" if root is None else Path(root)


def runs_root(root: str | Path | None = None) -> Path:
    """``root``, or by default ``data/runs``: one folder per stored run, named by its key."""
    return data_root() / "runs" if root is None else Path(root)


def results_root(root: str | Path | None = None) -> Path:
    """``root``, or by default ``results/`` under :func:`project_root`: published tables, one folder per profile."""
    return project_root() / "results" if root is None else Path(root)


def results_path(name: str, profile: str, root: str | Path | None = None) -> Path:
    """``results/<profile>/<name>.csv``: where a compact published table lives."""
    return results_root(root) / profile / f"{name}.csv"


def verdicts_root(root: str | Path | None = None) -> Path:
    """``verdicts/`` under ``root`` (default: ``data/``): the verdicts each chapter recorded, per profile."""
    return data_root(root) / "verdicts"


def verdicts_path(chapter: str, profile: str, root: str | Path | None = None) -> Path:
    """``data/verdicts/<profile>/<chapter>.csv`` (or under ``root``)."""
    return results_path(chapter, profile, verdicts_root(root))


def derived_path(name: str, profile: str, digest: str, root: str | Path | None = None) -> Path:
    """``data/derived/<profile>/<name>-<digest>.csv`` (or under ``root``): a table computed from stored runs, kept
    under a digest of everything it was computed from (see :func:`~emergence_lib.engine.runs.derived_results`)."""
    return data_root(root) / "derived" / profile / f"{name}-{digest}.csv"


def executed_dir(profile: str, out: str | Path) -> Path:
    """``<out>/_build/executed/<profile>``: the executed chapters of a profile, a complete book source folder."""
    return Path(out) / BUILD / "executed" / profile


def site_dir(out: str | Path) -> Path:
    """``<out>/_build/html``: the built site."""
    return Path(out) / BUILD / "html"


def screenshots_dir(out: str | Path) -> Path:
    """``<out>/_build/screenshots``: the site's pages as a reader's browser shows them, taken after each build."""
    return Path(out) / BUILD / "screenshots"


def student_dir(out: str | Path) -> Path:
    """``<out>/_build/student``: the chapters without solutions, to hand out."""
    return Path(out) / BUILD / "student"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a file so that readers see either the old content or the new, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
