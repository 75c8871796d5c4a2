"""The reproduction scorecard: every chapter's verdicts, stored as they were computed, and one row per claim.

Data flows one way: a chapter computes its verdicts from stored runs (:func:`~emergence_lib.analysis.claims.verdict_rows`)
and :func:`record` stores them; the scorecard page reads them back (:func:`load_verdicts`) and picks, for every
claim of the reference, the experiment fixed in :data:`PRIMARY` before any result was seen (:func:`scorecard`).
No number is typed by hand anywhere on the way.

Verdicts of a profile live in ``data/verdicts/<profile>/<chapter>.csv`` (regenerated, like stored runs); those of
the ``paper`` profile are also published to ``results/paper/verdicts-<chapter>.csv`` and, when present, are the
ones the scorecard shows.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._checks import check_choice
from .claims import STATEMENTS, VERDICT_COLUMNS, VERDICTS
from ..engine.profiles import checks_only
from ..engine.locations import verdicts_path, verdicts_root as _verdicts_root  # noqa: F401 (verdicts_path: a name of this module before 0.2)
from ..engine.runs import RESULTS_VERSION, export_results, load_results
from ..experiments import SCORED_CHAPTERS

CHAPTERS = SCORED_CHAPTERS
"""The chapters whose verdicts the scorecard collects, in reading order (defined with the experiments)."""

PUBLISHED = "paper"
"""The profile whose published verdicts (``results/paper/``) the scorecard prefers."""

PRIMARY = {
    **{claim: ("feedforward", "MLP on mnist") for claim in ("1", "2a", "2b", "3a", "3b")},
    **{claim: ("pruning", "MLP on mnist") for claim in ("4a", "4b", "5a", "5b")},
    "6": ("landscape", "MLP on mnist"),  # amended measure; the first-registered count is its registered_* columns
    **{claim: ("initialization", "MLP on mnist, no batch norm") for claim in ("7a", "7b")},
}
"""For every claim, the (chapter, setting) whose verdict the scorecard reports: the paper's own setting (MNIST
MLP; magnitude pruning; the initialization without batch norm, as the scheme was proposed). Fixed before any
result was seen; every other experiment's verdict is in the full table beside it. A setting is the experiment as
asked (the ``setting`` column of the verdicts); its ``experiment`` label names the data really used."""

NOT_COMPUTED = "not computed"


def record(
    verdicts: pd.DataFrame,
    chapter: str,
    profile: str,
    root: str | Path | None = None,
    results_root: str | Path | None = None,
) -> Path:
    """Store a chapter's verdicts (rows of :func:`~emergence_lib.analysis.claims.verdict_rows`) for the scorecard.

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
        chapter=chapter, profile=profile, computed=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        results_version=RESULTS_VERSION,
    )
    path = export_results(stored, chapter, profile, _verdicts_root(root))
    if profile == PUBLISHED:
        export_results(stored, f"verdicts-{chapter}", PUBLISHED, results_root)
    return path


def load_verdicts(
    profile: str, root: str | Path | None = None, results_root: str | Path | None = None
) -> pd.DataFrame:
    """Every recorded verdict, one table: per chapter the published ``paper`` verdicts when present, else those
    recorded with ``profile``; chapters with neither, or whose stored verdicts lack columns of the current code
    (computed by older code: a warning says so), are absent (see the ``profile`` column for which is which)."""
    frames = []
    for chapter in CHAPTERS:
        table = load_results(f"verdicts-{chapter}", PUBLISHED, results_root)
        if table is None:
            table = load_results(chapter, profile, _verdicts_root(root))
        if table is not None and set(VERDICT_COLUMNS) - set(table):
            warnings.warn(f"the stored verdicts of '{chapter}' were computed by older code (no columns "
                          f"{sorted(set(VERDICT_COLUMNS) - set(table))}); run the chapter again", stacklevel=2)
            table = None
        if table is not None:
            frames.append(table)
    columns = [*VERDICT_COLUMNS, "chapter", "profile", "computed", "results_version"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)  # no results_version: before it was kept


def counts(verdicts: pd.DataFrame) -> pd.Series:
    """Which rows count as evidence about the paper's claims: those computed on the dataset they name (real data;
    a subset counts, its size is in the ``data used`` column), with a profile that decides something. Rows on
    stand-in data and rows of ``smoke`` or a dry run never count."""
    real = ~verdicts["fallback"].fillna(True).astype(bool)
    decides = ~verdicts["profile"].fillna("smoke").map(checks_only).astype(bool)
    return real & decides


SCORECARD_COLUMNS = ["claim", "statement", "chapter", "experiment", "definition", "estimate", "low", "high", "null", "n",
                     "unit", "seeds", "profile", "data used", "fallback", "counts", "verdict", "rule",
                     "registered_verdict", "registered_estimate", "registered_low", "registered_high", "registered_n",
                     "registered_unit", "registered_definition", "computed", "results_version", "flag"]  # fmt: skip
"""The columns of :func:`scorecard`: the effect and verdict by the amended rules, whether the row counts as
evidence (:func:`counts`), the effect and verdict by the first-registered rule (``registered_*``), and why a row
cannot be trusted as computed by this build (``flag``, :func:`flags`)."""


def flags(verdicts: pd.DataFrame, failed: Sequence[str] = ()) -> pd.Series:
    """Why each verdict row cannot be trusted as this build's ("" when it can): computed by older code (its
    ``results_version`` is not :data:`~emergence_lib.engine.runs.RESULTS_VERSION`, or missing), or its chapter is
    among ``failed`` (the chapters whose latest execution failed: the verdicts stored are from an earlier one)."""
    version = verdicts["results_version"] if "results_version" in verdicts else pd.Series(float("nan"), verdicts.index)

    def why(row_version: object, chapter: object) -> str:
        reasons = []
        if pd.isna(row_version) or int(row_version) != RESULTS_VERSION:
            older = "before versions were recorded" if pd.isna(row_version) else f"version {int(row_version)}"
            reasons.append(f"computed by older code ({older}; now {RESULTS_VERSION})")
        if chapter in failed:
            reasons.append(f"the chapter '{chapter}' failed in this build: these are earlier verdicts")
        return "; ".join(reasons)

    return pd.Series([why(v, c) for v, c in zip(version, verdicts["chapter"])], index=verdicts.index, dtype=object)


def scorecard(verdicts: pd.DataFrame, failed: Sequence[str] = ()) -> pd.DataFrame:
    """One row per claim of :data:`~emergence_lib.analysis.claims.STATEMENTS`: the verdict of its :data:`PRIMARY` experiment,
    with the effect, its 95% interval, the units and seeds behind it, the profile and data really used, whether the
    row counts as evidence (:func:`counts`), and the first-registered effect and verdict beside it.

    A claim whose experiment has no recorded verdict gets the verdict :data:`NOT_COMPUTED` and names the chapter
    to run. A row flagged by :func:`flags` (older code, or a chapter that ``failed`` in this build) never counts.
    """
    if len(verdicts):
        flag = flags(verdicts, failed)
        verdicts = verdicts.assign(flag=flag, counts=counts(verdicts) & (flag == ""))
    else:
        verdicts = verdicts.assign(flag=[], counts=[])
    rows = []
    for claim, statement in STATEMENTS.items():
        chapter, setting = PRIMARY[claim]
        found = verdicts[(verdicts["chapter"] == chapter) & (verdicts["setting"] == setting)
                         & (verdicts["claim"].astype(str) == claim)]  # fmt: skip
        base = {"claim": claim, "statement": statement, "chapter": chapter, "experiment": setting, "counts": False}
        if found.empty:
            rows.append({**base, "verdict": NOT_COMPUTED, "definition": f"run the chapter '{chapter}' to compute it"})
            continue
        row = found.iloc[0]
        rows.append({**base, **{c: row[c] for c in SCORECARD_COLUMNS if c in row.index}})
    card = pd.DataFrame(rows).reindex(columns=SCORECARD_COLUMNS)
    return card.assign(flag=card["flag"].astype(object).fillna(""))


def tally(card: pd.DataFrame) -> str:
    """One Markdown sentence counting the verdicts of the rows that count as evidence, or saying plainly that none
    does (an offline build, whose rows are computed on stand-in data)."""
    counted = card[card["counts"].fillna(False).astype(bool)]
    if counted.empty:
        return (f"**No row counts as evidence in this build.** All {len(card)} claims were decided on stand-in data or "
                "with a profile that only checks the code, so the verdicts here show what the method finds on that "
                "data, not whether the paper's claims hold on its datasets.")  # fmt: skip
    return (f"**{len(counted)} of {len(card)} claims are decided on the paper's datasets**: "
            f"{verdict_counts(counted)}. The other "
            f"{len(card) - len(counted)} rows do not count (stand-in data, a checks-only profile, or not computed).")


def verdict_counts(rows: pd.DataFrame) -> str:
    """``"6 supported, 2 contradicted, 4 inconclusive"``: how many rows have each verdict, in the order of
    :data:`~emergence_lib.analysis.claims.VERDICTS`, then :data:`NOT_COMPUTED`."""
    found = rows["verdict"].value_counts()
    order = [v for v in (*VERDICTS, NOT_COMPUTED) if v in found] + sorted(set(found.index) - {*VERDICTS, NOT_COMPUTED})
    return ", ".join(f"{found[v]} {v}" for v in order)


def answer(card: pd.DataFrame) -> str:
    """The scorecard's answer in one plain sentence: how many claims the paper's datasets decide and how, or,
    when no row counts as evidence (:func:`counts`), that none does and what the method found on the data used.

    Example:
        >>> answer(scorecard(pd.DataFrame(columns=["chapter", "setting", "claim", "fallback", "profile"])))
        "No claim is decided on the paper's datasets in this build; of the 12 claims, 12 not computed."
    """
    counted = card[card["counts"].fillna(False).astype(bool)]
    if counted.empty:
        return f"No claim is decided on the paper's datasets in this build; of the {len(card)} claims, {verdict_counts(card)}."
    return (f"{len(counted)} of {len(card)} claims are decided on the paper's datasets: {verdict_counts(counted)}; the other "
            f"{len(card) - len(counted)} do not count (stand-in data, a checks-only profile, or not computed).")


def _interval(low: float, high: float) -> str:
    return "" if pd.isna(low) else f"[{low:.2f}, {high:.2f}]"


def _first_registered(row: pd.Series) -> str:
    if not isinstance(row["registered_verdict"], str):
        return ""
    if row["registered_verdict"] == row["verdict"]:
        return "same"
    estimate = "n/a" if pd.isna(row["registered_estimate"]) else f"{row['registered_estimate']:.2f}"
    units = f"{row['registered_n']:.0f} {row['registered_unit']}"
    return f"{row['registered_verdict']} ({estimate} {_interval(row['registered_low'], row['registered_high'])}, {units})"


def for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (a :func:`scorecard` or :func:`load_verdicts` table) with the columns the scorecard page shows:
    ``effect [95% CI]``, ``counts`` ("yes"/"no", :func:`counts`) and ``as first registered`` (the first-registered
    verdict with its effect where it differs from the amended one, "same" where it does not)."""
    if table.empty:
        return table.assign(**{"effect [95% CI]": [], "counts": [], "as first registered": []})
    effect = table.apply(lambda r: "" if pd.isna(r["estimate"]) else f"{r['estimate']:.2f} {_interval(r['low'], r['high'])}",
                         axis=1)  # fmt: skip
    counted = table["counts"] if "counts" in table else counts(table)
    return table.assign(**{"effect [95% CI]": effect, "counts": counted.map({True: "yes", False: "no"}),
                           "as first registered": table.apply(_first_registered, axis=1)})


def compact(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as a reader takes it in: claim, statement, effect with its 95% interval, seeds, data
    (``real`` or ``stand-in``), verdict, the verdict as first registered where it differs from the amended one
    (the column is left out when none does), and a ``flag`` column when a row is flagged (:func:`flags`).
    Definitions stay in the full table (``definition``).

    Example:
        >>> card = scorecard(pd.DataFrame(columns=["chapter", "setting", "claim", "fallback", "profile"]))
        >>> list(compact(card).columns)
        ['claim', 'statement', 'effect [95% CI]', 'seeds', 'data', 'verdict']
    """
    shown = for_reading(card)
    data = card["fallback"].map(lambda f: "" if pd.isna(f) else ("stand-in" if f else "real"))
    differs = card["registered_verdict"].notna() & (card["registered_verdict"] != card["verdict"])
    flagged = card["flag"] if "flag" in card else pd.Series("", index=card.index)
    table = pd.DataFrame({"claim": card["claim"], "statement": card["statement"].str.rstrip("."),
                          "effect [95% CI]": shown["effect [95% CI]"], "seeds": card["n"].astype("Int64"),
                          "data": data, "verdict": card["verdict"],
                          "first registered": card["registered_verdict"].where(differs, "")})  # fmt: skip
    table = table if differs.any() else table.drop(columns="first registered")
    return table.assign(flag=flagged) if (flagged != "").any() else table
