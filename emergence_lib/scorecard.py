"""The reproduction scorecard: every chapter's verdicts, stored as they were computed, and one row per claim.

Data flows one way: a chapter computes its verdicts from stored runs (:func:`~emergence_lib.claims.verdict_rows`)
and :func:`record` stores them; the scorecard page reads them back (:func:`load_verdicts`) and picks, for every
claim of the reference, the experiment fixed in :data:`PRIMARY` before any result was seen (:func:`scorecard`).
No number is typed by hand anywhere on the way.

Verdicts of a profile live in ``data/verdicts/<profile>/<chapter>.csv`` (regenerated, like stored runs); those of
the ``paper`` profile are also published to ``results/paper/verdicts-<chapter>.csv`` and, when present, are the
ones the scorecard shows.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from ._checks import check_choice
from .claims import STATEMENTS, VERDICT_COLUMNS
from .data import data_root
from .runs import export_results, load_results, results_path

CHAPTERS = ("feedforward", "convolutional", "pruning", "landscape", "initialization")
"""The chapters whose verdicts the scorecard collects, in reading order."""

PUBLISHED = "paper"
"""The profile whose published verdicts (``results/paper/``) the scorecard prefers."""

PRIMARY = {
    **{claim: ("feedforward", "MLP on mnist") for claim in ("1", "2a", "2b", "3a", "3b")},
    **{claim: ("pruning", "MLP on mnist") for claim in ("4a", "4b", "5a", "5b")},
    "6": ("landscape", "MLP on mnist"),
    **{claim: ("initialization", "MLP on mnist, no batch norm") for claim in ("7a", "7b")},
}
"""For every claim, the (chapter, setting) whose verdict the scorecard reports: the paper's own setting (MNIST
MLP; magnitude pruning; the initialization without batch norm, as the scheme was proposed). Fixed before any
result was seen; every other experiment's verdict is in the full table beside it. A setting is the experiment as
asked (the ``setting`` column of the verdicts); its ``experiment`` label names the data really used."""

NOT_COMPUTED = "not computed"


def _verdicts_root(root: str | Path | None) -> Path:
    return data_root(root) / "verdicts"


def verdicts_path(chapter: str, profile: str, root: str | Path | None = None) -> Path:
    """``data/verdicts/<profile>/<chapter>.csv`` under the project root (or under ``root``)."""
    return results_path(chapter, profile, _verdicts_root(root))


def record(
    verdicts: pd.DataFrame,
    chapter: str,
    profile: str,
    root: str | Path | None = None,
    results_root: str | Path | None = None,
) -> Path:
    """Store a chapter's verdicts (rows of :func:`~emergence_lib.claims.verdict_rows`) for the scorecard.

    Adds the chapter, the profile and the time of computation; writes atomically; for the ``paper`` profile also
    publishes them to ``results/paper/verdicts-<chapter>.csv``.

    Args:
        verdicts: the chapter's verdicts table.
        chapter: one of :data:`CHAPTERS`.
        profile: the profile that computed them.
        root: the folder holding ``verdicts/`` (default: ``data/`` under the project root).
        results_root: the published-results folder (default: ``results/``).
    """
    check_choice("chapter", chapter, CHAPTERS)
    missing = [c for c in VERDICT_COLUMNS if c not in verdicts]
    if missing:
        raise ValueError(f"verdicts lack the columns {missing}; build them with claims.verdict_rows")
    stored = verdicts[list(VERDICT_COLUMNS)].assign(
        chapter=chapter, profile=profile, computed=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    )
    path = export_results(stored, chapter, profile, _verdicts_root(root))
    if profile == PUBLISHED:
        export_results(stored, f"verdicts-{chapter}", PUBLISHED, results_root)
    return path


def load_verdicts(
    profile: str, root: str | Path | None = None, results_root: str | Path | None = None
) -> pd.DataFrame:
    """Every recorded verdict, one table: per chapter the published ``paper`` verdicts when present, else those
    recorded with ``profile``; chapters with neither are absent (see the ``profile`` column for which is which)."""
    frames = []
    for chapter in CHAPTERS:
        table = load_results(f"verdicts-{chapter}", PUBLISHED, results_root)
        if table is None:
            table = load_results(chapter, profile, _verdicts_root(root))
        if table is not None:
            frames.append(table)
    columns = [*VERDICT_COLUMNS, "chapter", "profile", "computed"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def scorecard(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim of :data:`~emergence_lib.claims.STATEMENTS`: the verdict of its :data:`PRIMARY` experiment, with the effect, its 95%
    CI, the units and seeds behind it, the profile and data really used, and whether that data was a fallback.

    A claim whose experiment has no recorded verdict gets the verdict :data:`NOT_COMPUTED` and names the chapter
    to run.
    """
    rows = []
    for claim, statement in STATEMENTS.items():
        chapter, setting = PRIMARY[claim]
        found = verdicts[(verdicts["chapter"] == chapter) & (verdicts["setting"] == setting)
                         & (verdicts["claim"].astype(str) == claim)]  # fmt: skip
        base = {"claim": claim, "statement": statement, "chapter": chapter, "experiment": setting}
        if found.empty:
            rows.append({**base, "verdict": NOT_COMPUTED, "definition": f"run the chapter '{chapter}' to compute it"})
            continue
        row = found.iloc[0]
        rows.append({**base, **{c: row[c] for c in ("experiment", "definition", "estimate", "low", "high", "n", "unit",
                                                     "seeds", "profile", "data used", "fallback", "verdict",
                                                     "computed")}})  # fmt: skip
    columns = ["claim", "statement", "chapter", "experiment", "definition", "estimate", "low", "high", "n", "unit",
               "seeds", "profile", "data used", "fallback", "verdict", "computed"]  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=columns)
