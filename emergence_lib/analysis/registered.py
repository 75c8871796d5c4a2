"""The claims' procedures as first registered, kept so that the book can show where an amendment changes a verdict.

The rules of the method page (``book/method.ipynb``) as first written: percentile bootstrap intervals
(:func:`bootstrap_ci`), runs (not seeds) as units, runs or epochs with E = 0 left out. A review found them decided
by the statistics rather than the data in places ("Amendments after review" in the method page);
:mod:`~emergence_lib.analysis.claims` holds the amended procedures, and every effect it returns carries the
first-registered one (:attr:`~emergence_lib.analysis.claims.Effect.registered`), computed by the function of the
same name here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .claims import (
    LEVEL, MIN_UNITS, PRUNE_COLUMNS, STATEMENTS, Effect, _against_baseline, _pruned_against_baseline, _runs, _speedups,
    convergence_epoch, early_and_final, partial_correlation, spearman, verdict,
)  # fmt: skip

N_RESAMPLES = 9999
RULE = "first registered"


def bootstrap_ci(
    data: Sequence | tuple[Sequence, ...],
    statistic: Callable = np.mean,
    paired: bool = False,
    seed: int = 0,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of ``statistic`` (scipy.stats.bootstrap, seeded, 9,999 resamples): the
    first-registered interval. From five values it covers about 80%, not 95% (see the method page); the amended
    rules use :func:`~emergence_lib.analysis.claims.mean_ci` and :func:`~emergence_lib.analysis.claims.correlation_ci`.

    ``data`` is one sample, or a tuple of equally long samples with ``paired=True``. Resamples whose statistic is
    undefined are left out. NaNs below :data:`~emergence_lib.analysis.claims.MIN_UNITS` values. ``vectorized``: the statistic
    takes an ``axis`` argument (same resamples, much faster).
    """
    samples = data if paired else (data,)
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    if len(samples[0]) < MIN_UNITS:
        return float("nan"), float("nan")
    if np.all(samples[0] == samples[0][0]) and not paired:
        value = float(statistic(samples[0]))  # no spread at all: the interval is the point
        return value, value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resamples with a constant side have no correlation: dropped below
        result = stats.bootstrap(
            samples, statistic, paired=paired, vectorized=vectorized, n_resamples=N_RESAMPLES, confidence_level=LEVEL,
            method="percentile", rng=np.random.default_rng(seed),
        )  # fmt: skip
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.nanpercentile(result.bootstrap_distribution, [tail, 100 - tail])
    return float(low), float(high)


def _spearman_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman correlation along ``axis`` of many resamples at once (NaN where a side is constant)."""
    rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def _effect(claim: str, estimate: float, low: float, high: float, n: int, unit: str, direction: int, definition: str,
            null: float = 0.0) -> Effect:  # fmt: skip
    return Effect(
        claim=claim, statement=STATEMENTS.get(claim.split(" ")[0], ""), definition=definition, estimate=estimate,
        low=low, high=high, null=null, direction=direction, n=n, unit=unit,
        verdict=verdict(low, high, direction, n, null), rule=RULE,
    )  # fmt: skip


def _mean_effect(per_unit: Sequence[float], direction: int, claim: str, definition: str, unit: str) -> Effect:
    values = np.asarray([v for v in per_unit if np.isfinite(v)], dtype=float)
    low, high = bootstrap_ci(values)
    estimate = float(values.mean()) if len(values) else float("nan")
    return _effect(claim, estimate, low, high, len(values), unit, direction, definition)


def _correlation_effect(x: Sequence[float], y: Sequence[float], direction: int, claim: str, definition: str,
                        unit: str = "runs") -> Effect:  # fmt: skip
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    estimate = spearman(x, y)
    low, high = bootstrap_ci((x, y), statistic=_spearman_along, paired=True, vectorized=True) \
        if np.isfinite(estimate) else (np.nan,) * 2  # fmt: skip
    return _effect(claim, estimate, float(low), float(high), len(x), unit, direction, definition)


def grows_with_size(table: pd.DataFrame, size: str = "n_weights") -> Effect:
    """Claim 1 as registered: Spearman correlation across runs between size and log10 E at the last epoch."""
    last = [run.iloc[-1] for run in _runs(table)]
    return _correlation_effect([r[size] for r in last], [r["log10_absolute"] for r in last], +1, "1",
                               f"Spearman correlation across runs between {size} and log10 E at the last epoch")


def falls_during_training(table: pd.DataFrame, column: str = "log10_absolute", claim: str = "2a") -> Effect:
    """Claims 2a and 4b as registered: mean over runs of the Spearman correlation between epoch and ``column``."""
    return _mean_effect([spearman(run["epoch"], run[column]) for run in _runs(table)], -1, claim,
                        f"mean over runs of the Spearman correlation between epoch and {column}", "runs")


def zero_at_convergence(table: pd.DataFrame, ratio: float = 0.01, within: int = 2) -> Effect:
    """Claim 2b as registered, with both of the reference's conditions: the share of converged runs whose path
    fraction at the convergence epoch is below ``ratio`` times its epoch-0 value, and first fell below it within
    ``within`` epochs of the convergence epoch; exact (Clopper-Pearson) interval, no effect at one half.

    The one departure from the first code: it checks both conditions of the reference (the code had drifted to
    the second alone)."""
    hits = []
    for run in _runs(table):
        converged = convergence_epoch(run["train_acc"].to_numpy())
        if converged is None:
            continue
        fraction = run["fraction"].to_numpy(dtype=float)
        below = np.flatnonzero(fraction < ratio * fraction[0])
        at_convergence = fraction[converged] < ratio * fraction[0]
        hits.append(at_convergence and bool(len(below)) and abs(int(below[0]) - converged) <= within)
    n, k = len(hits), int(sum(hits))
    if n >= MIN_UNITS:
        ci = stats.binomtest(k, n).proportion_ci(LEVEL, method="exact")
        low, high = float(ci.low), float(ci.high)
    else:
        low = high = float("nan")
    return _effect(
        "2b", k / n if n else float("nan"), low, high, n, "converged runs", +1,
        f"share of converged runs whose path fraction is below {ratio:g} x its epoch-0 value at the convergence epoch "
        f"and first fell below it within {within} epochs of it", null=0.5,
    )  # fmt: skip


def predicts_accuracy_change(table: pd.DataFrame) -> Effect:
    """Claim 3b as registered: per run, Spearman correlation between log10 E at epoch t and the gain t -> t+1."""
    per_run = []
    for run in _runs(table):
        gain = run["train_acc"].diff().shift(-1)
        per_run.append(spearman(run["log10_absolute"].iloc[:-1], gain.iloc[:-1]))
    return _mean_effect(per_run, +1, "3b", "mean over runs of the Spearman correlation between log10 E at epoch t "
                        "and the training accuracy gain from t to t+1", "runs")  # fmt: skip


def early_emergence_predicts_performance(table: pd.DataFrame, early_epoch: int = 1) -> Effect:
    """Claim 3a as registered: Spearman correlation across runs between early log10 E and final test accuracy."""
    return _correlation_effect(*early_and_final(table, early_epoch), +1, "3a", f"Spearman correlation across runs between log10 E after "
                               f"epoch {early_epoch} and the final test accuracy")  # fmt: skip


def relative_higher_when_pruned(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 4a as registered: Spearman correlation across runs between sparsity and mean log10 relative E."""
    c = PRUNE_COLUMNS
    runs = [r for r in _runs(table) if r[c["sparsity"]].iloc[0] == 0 or r[c["method"]].iloc[0] == method]
    means = [r["log10_relative"].replace([np.inf, -np.inf], np.nan).mean() for r in runs]
    return _correlation_effect([r[c["sparsity"]].iloc[0] for r in runs], means, +1, "4a",
                               f"Spearman correlation across runs ({method} pruning) between sparsity and the mean "
                               "over epochs of log10 relative E")  # fmt: skip


def pruning_speeds_convergence(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 5a as registered: mean over pruned runs (every sparsity) of the speed-up against the seed's baseline."""
    return _mean_effect(_speedups(_pruned_against_baseline(table, method)), +1, "5a",
                        "mean over pruned runs of (epochs the unpruned run of the same seed needs to reach 95% of its "
                        "final test accuracy) minus (epochs the pruned run needs)", "pruned runs")  # fmt: skip


def pruning_lowers_accuracy(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 5b as registered: mean over pruned runs of the final test accuracy minus the seed's baseline's."""
    drops = [float(run["test_acc"].iloc[-1] - base["test_acc"].iloc[-1])
             for run, base in _pruned_against_baseline(table, method)]  # fmt: skip
    return _mean_effect(drops, -1, "5b", "mean over pruned runs of (final test accuracy) minus (final test accuracy "
                        "of the unpruned run of the same seed)", "pruned runs")  # fmt: skip


def init_speeds_convergence(table: pd.DataFrame, column: str = "init_alpha", baseline: float = 1.0) -> Effect:
    """Claim 7b as registered: mean over runs with alpha != 1 of the speed-up against the seed's alpha = 1 run."""
    return _mean_effect(_speedups(_against_baseline(table, column, baseline)), +1, "7b",
                        f"mean over runs with alpha > {baseline:g} of (epochs the alpha = {baseline:g} run of the same "
                        "seed needs to reach 95% of its final test accuracy) minus (epochs the run needs)", "runs")


def init_improves_early_accuracy(table: pd.DataFrame, column: str = "init_alpha", baseline: float = 1.0,
                                 epoch: int = 1) -> Effect:  # fmt: skip
    """Claim 7a as registered: mean over runs with alpha != 1 of the gain in test accuracy after ``epoch``."""
    gains = []
    for run, base in _against_baseline(table, column, baseline):
        at, base_at = run[run["epoch"] == epoch], base[base["epoch"] == epoch]
        if len(at) and len(base_at):
            gains.append(float(at["test_acc"].iloc[0] - base_at["test_acc"].iloc[0]))
    return _mean_effect(gains, +1, "7a", f"mean over runs with alpha > {baseline:g} of the test accuracy after epoch "
                        f"{epoch} minus that of the alpha = {baseline:g} run of the same seed", "runs")  # fmt: skip


def rugged_with_emergence(table: pd.DataFrame, measure: str = "local_minima") -> Effect:
    """Claim 6 as registered: Spearman correlation across networks between log10 E and ``measure`` (the number of
    strict local minima on the grid, border points included)."""
    return _correlation_effect(table["log10_absolute"], table[measure], +1, "6",
                               f"Spearman correlation across networks between log10 E and {measure}", "networks")


def beyond_proxies(data: np.ndarray, statement: str, definition: str) -> Effect:
    """The robustness chapter's "3a | proxies" as registered: the partial Spearman correlation across runs of the
    first two columns of ``data`` (one row per run) given the others, runs with a non-finite value (E = 0) left out,
    percentile bootstrap over runs."""
    data = data[np.isfinite(data).all(axis=1)]

    def statistic(*cols):
        stacked = np.column_stack(cols)
        return partial_correlation(stacked[:, 0], stacked[:, 1], stacked[:, 2:])

    estimate = statistic(*data.T) if len(data) else float("nan")
    low, high = bootstrap_ci(tuple(data.T), statistic=statistic, paired=True) if np.isfinite(estimate) else (np.nan,) * 2
    return Effect(
        claim="3a | proxies", statement=statement, definition=definition, estimate=estimate, low=float(low),
        high=float(high), null=0.0, direction=+1, n=len(data), unit="runs",
        verdict=verdict(low, high, +1, len(data)), rule=RULE,
    )  # fmt: skip
