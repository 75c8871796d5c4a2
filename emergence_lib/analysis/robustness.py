"""Robustness of the metric: do the verdicts survive other choices in the definition of E, and does E say more
than simpler quantities?

Other definitions: :data:`~emergence_lib.experiments.VARIANTS`, :func:`variant`, :func:`claims_by_variant`, :func:`verdict_changes`. Simpler
quantities: :data:`PROXIES`, :func:`proxies`, :func:`beyond_proxies`, :func:`predictors`. Every correlation across
runs here is taken within seeds (:func:`seed_indicators`); E = 0 (log10 E = -inf) is the lowest value, as
everywhere in the book.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..experiments import VARIANTS  # noqa: F401 (the variants are part of the experiment; read here)
from . import registered
from .claims import Effect, correlation_ci, partial_correlation, seed_column, verdict

DEFAULT = "tau=0.05 (default)"
"""The label of the default measurement (the history's plain columns)."""

PROXIES = {
    "dead_first": "dead share of the first counted layer",
    "dead_last": "dead share of the last counted layer",
    "n_weights": "parameter count (nonzero weights)",
    "weight_norm": "weight norm",
}
"""The simpler quantities E is suspected to restate (columns of :func:`proxies`);
:func:`~emergence_lib.analysis.claims.partial_correlation` removes them."""


def variant(table: pd.DataFrame, label: str) -> pd.DataFrame:
    """``table`` with the emergence columns of one variant in place of the default ones.

    The variants are measured on the very networks of the default measurement, epoch by epoch, inside the same
    training run (:class:`~emergence_lib.engine.train.Measures`); the table returned is one the functions of
    :mod:`~emergence_lib.analysis.claims` read unchanged.

    Args:
        table: a results table whose runs measured the variants (columns ``"<label>/<column>"``).
        label: a key of :data:`~emergence_lib.experiments.VARIANTS`, or :data:`DEFAULT` for the default measurement.
    """
    prefixed = [c for c in table.columns if "/" in c]
    if label == DEFAULT:
        return table.drop(columns=prefixed)
    own = [c for c in prefixed if c.startswith(f"{label}/")]
    if not own:
        labels = sorted({c.split("/", 1)[0] for c in prefixed})
        raise ValueError(f"no columns for variant {label!r}; this table has: {', '.join(map(repr, [DEFAULT, *labels]))}")
    renamed = table[own].rename(columns=lambda c: c.split("/", 1)[1])
    # Per-layer columns differ between variants (layers=hidden+output has one more): drop the default ones.
    replaced = [c for c in table.columns if c in renamed.columns or c.startswith(("active_", "size_"))]
    base = table.drop(columns=[*prefixed, *replaced])
    return pd.concat([base, renamed], axis=1)


def _last_layer(run: pd.DataFrame) -> int:
    return max(int(c.split("_")[1]) for c in run.columns if c.startswith("size_") and run[c].notna().any())


def inactive_share(table: pd.DataFrame) -> pd.Series:
    """Per row (a run's epoch), the share of the counted nodes that are inactive, all counted layers together
    (from the ``active_<k>`` and ``size_<k>`` columns of a history)."""
    active = [c for c in table.columns if c.startswith("active_")]
    sizes = [c.replace("active_", "size_") for c in active]
    share = 1 - table[active].to_numpy().sum(axis=1) / table[sizes].to_numpy().sum(axis=1)
    return pd.Series(share, index=table.index)


def proxies(table: pd.DataFrame, epoch: int = 1) -> pd.DataFrame:
    """One row per run: its ``seed``, ``log10_absolute`` after ``epoch``, the quantities of :data:`PROXIES` at that
    epoch, and the final test accuracy (``final_acc``)."""
    rows = []
    for key, run in table.groupby("key", sort=False):
        run = run.sort_values("epoch")
        at = run[run["epoch"] == epoch]
        if at.empty:
            continue
        at, last = at.iloc[0], _last_layer(run)
        rows.append({
            "key": key,
            "seed": at[seed_column(run)],
            "log10_absolute": at["log10_absolute"],
            "dead_first": 1 - at["active_1"] / at["size_1"],
            "dead_last": 1 - at[f"active_{last}"] / at[f"size_{last}"],
            "n_weights": at["n_weights"],
            "weight_norm": at["weight_norm"],
            "final_acc": run["test_acc"].iloc[-1],
        })  # fmt: skip
    return pd.DataFrame(rows)


def explained_share(y: Sequence, covariates: np.ndarray, rank: bool = True) -> float:
    """R^2 of an ordinary least-squares fit of ``y`` on the covariates (on ranks with ``rank=True``): the share of
    the variation of ``y`` that the covariates restate. NaN with fewer than ``k + 2`` finite points."""
    y = np.asarray(y, dtype=float)
    z = np.asarray(covariates, dtype=float).reshape(len(y), -1)
    keep = ~np.isnan(y) & ~np.isnan(z).any(axis=1)  # -inf (E = 0) is a value: the lowest rank
    y, z = y[keep], z[keep]
    if len(y) < z.shape[1] + 2 or np.all(y == y[0]):
        return float("nan")
    if rank:
        y, z = stats.rankdata(y), np.column_stack([stats.rankdata(c) for c in z.T])
    design = np.column_stack([np.ones(len(y)), z])
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    return float(1 - residual.var() / y.var())


def seed_indicators(seeds: Sequence) -> np.ndarray:
    """``(n, s - 1)`` 0/1 columns, one per seed but the first: as covariates they remove each seed's own level, so
    a correlation is taken within seeds.

    Runs of several widths share a seed, so they are not independent units: every correlation across runs in this
    module is taken within seeds, with these columns among the covariates, and
    :func:`~emergence_lib.analysis.claims.correlation_ci` counts the degrees of freedom they use."""
    seeds = np.asarray(seeds)
    return np.column_stack([seeds == s for s in np.unique(seeds)[1:]]).astype(float) if len(np.unique(seeds)) > 1 \
        else np.empty((len(seeds), 0))


def _within_seeds(per_run: pd.DataFrame, x: str, y: str, controls: Sequence[str] = ()) -> tuple[float, float, float]:
    """Partial Spearman correlation of ``x`` and ``y`` given ``controls`` and the seeds, with its 95% interval."""
    covariates = np.column_stack([per_run[list(controls)].to_numpy(dtype=float), seed_indicators(per_run["seed"])])
    estimate = partial_correlation(per_run[x], per_run[y], covariates)
    return (estimate, *correlation_ci(per_run[x], per_run[y], covariates))


def beyond_proxies(per_run: pd.DataFrame, columns: Sequence[str] = tuple(PROXIES)) -> Effect:
    """Claim 3a with the proxies held fixed: partial Spearman correlation across runs, within seeds, between early
    log10 E and the final test accuracy, controlling for ``columns`` of :func:`proxies`; Fisher-z interval
    (:func:`~emergence_lib.analysis.claims.correlation_ci`), verdict by the book's rule (supported when the interval lies
    above zero: E predicts accuracy beyond the proxies). The first-registered effect (runs as units, a bootstrap
    interval, runs with E = 0 left out) is attached."""
    unknown = [c for c in columns if c not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxies {unknown}; allowed values: {', '.join(map(repr, PROXIES))}")
    estimate, low, high = _within_seeds(per_run, "log10_absolute", "final_acc", columns)
    n = int(per_run[["log10_absolute", "final_acc", *columns]].notna().all(axis=1).sum())
    statement = "Emergence tells more about performance than simpler quantities do."
    named = ", ".join(PROXIES[c] for c in columns)

    first = registered.beyond_proxies(
        per_run[["log10_absolute", "final_acc", *columns]].to_numpy(dtype=float), statement,
        "partial Spearman correlation across runs between log10 E after epoch 1 and the final test accuracy, "
        f"controlling for the {named}",
    )  # fmt: skip
    return Effect(
        claim="3a | proxies", statement=statement,
        definition="partial Spearman correlation across runs, within seeds, between log10 E after epoch 1 and the "
        f"final test accuracy, controlling for the {named}",
        estimate=estimate, low=low, high=high, null=0.0, direction=+1, n=n, unit="runs",
        verdict=verdict(low, high, +1, n), registered=first,
    )  # fmt: skip


def claims_by_variant(table: pd.DataFrame, effects: Callable[[pd.DataFrame], Sequence[Effect]]) -> pd.DataFrame:
    """The same claims under the default measurement and under every variant of :data:`~emergence_lib.experiments.VARIANTS` the table
    holds: one row per variant and effect.

    Args:
        table: results of runs that measured the variants.
        effects: computes the claims' effects from a table (e.g. ``lambda t: claims.emergence_claims(t, paper)``);
            it is given each variant's view (:func:`variant`).
    """
    labels = [DEFAULT, *[label for label in VARIANTS if f"{label}/log10_absolute" in table]]
    return pd.DataFrame([{"variant": label, **effect.as_row()} for label in labels
                         for effect in effects(variant(table, label))])  # fmt: skip


def predictors(per_run: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation across runs, within seeds, of early ``log10_absolute`` and of each proxy with the final
    test accuracy, with 95% intervals (:func:`~emergence_lib.analysis.claims.correlation_ci`): which single quantity tracks
    performance best."""
    rows = []
    for column in ["log10_absolute", *PROXIES]:
        rho, low, high = _within_seeds(per_run, column, "final_acc")
        label = "log10 E" if column == "log10_absolute" else PROXIES[column]
        rows.append({"quantity (after epoch 1)": label, "Spearman with final accuracy, within seeds": rho, "low": low,
                     "high": high, "runs": int(per_run[[column, "final_acc"]].notna().all(axis=1).sum()),
                     "seeds": per_run["seed"].nunique()})  # fmt: skip
    return pd.DataFrame(rows)


def verdict_grid(by_variant: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`claims_by_variant` as a claims x variants table of ``"estimate [low, high] verdict"``,
    the default definition first."""
    cell = by_variant.apply(lambda r: f"{r['estimate']:.2f} [{r['low']:.2f}, {r['high']:.2f}] {r['verdict']}", axis=1)
    order = list(dict.fromkeys(by_variant["variant"]))
    return by_variant.assign(cell=cell).pivot(index="claim", columns="variant", values="cell")[order]


def _changed(by_variant: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Each claim's verdict under the default definition, and the rows whose verdict differs from it."""
    default = by_variant[by_variant["variant"] == DEFAULT].set_index("claim")["verdict"]
    return default, by_variant[by_variant["verdict"] != by_variant["claim"].map(default)]


def verdict_changes(by_variant: pd.DataFrame) -> list[str]:
    """One Markdown sentence per claim: its verdict under the default definition and every variant that changes
    it; then how many verdicts no variant changes."""
    default, changed = _changed(by_variant)
    lines = []
    for claim, verdict in default.items():
        moved = changed[changed["claim"] == claim]
        others = "; ".join(f"{r['variant']}: {r['verdict']}" for _, r in moved.iterrows())
        lines.append(f"Claim {claim}: **{verdict}** under the default definition, "
                     + (f"but {others}." if others else "and the same under every variant."))  # fmt: skip
    variants = by_variant["variant"].nunique() - 1
    lines.append(f"{len(default) - changed['claim'].nunique()} of {len(default)} verdicts are the same under all "
                 f"{variants} variants.")  # fmt: skip
    return lines


def answer(*grids: pd.DataFrame) -> str:
    """One sentence: how many verdicts of the :func:`claims_by_variant` tables ``grids`` are the same under every
    variant of the definition, and which claims change.

    Example:
        >>> grid = pd.DataFrame({"variant": [DEFAULT, "tau=0", DEFAULT, "tau=0"], "claim": ["1", "1", "2a", "2a"],
        ...                      "verdict": ["supported", "supported", "supported", "inconclusive"]})
        >>> answer(grid)
        '1 of 2 verdicts is the same under every other definition; claim 2a changes with it.'
    """
    default, changed = _changed(pd.concat(grids, ignore_index=True))
    moved = sorted(set(changed["claim"]), key=str)
    same = len(default) - len(moved)
    text = f"{same} of {len(default)} verdicts {'is' if same == 1 else 'are'} the same under every other definition"
    if moved:
        several = len(moved) > 1
        text += f"; claim{'s' if several else ''} {', '.join(map(str, moved))} change{'' if several else 's'} with it"
    return text + "."


def changes_summary(by_variant: pd.DataFrame, table: pd.DataFrame, profile: str) -> str:
    """:func:`verdict_changes` as a Markdown list for a page, headed by the profile, the number of runs and the data
    really used (``table``: the runs behind ``by_variant``)."""
    head = (f"**What the numbers say** (profile `{profile}`, {table['key'].nunique()} runs on the "
            f"{table['data_source'].iloc[0]}):")
    return "\n".join([head, "", *(f"- {line}" for line in verdict_changes(by_variant))])
