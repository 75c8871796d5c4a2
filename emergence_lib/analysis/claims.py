"""The paper's claims as measurements: operational definitions, effects with 95% intervals, and verdicts.

The rules are those of the method page (``book/method.ipynb``, "Amendments after review"), fixed before the
results they decide were seen: the seed is the unit (:class:`Effect`), E = 0 is the lowest value
(:func:`emergence_correlation`) and a verdict reads the side of the interval (:func:`verdict`). Every effect
carries its counterpart by the rules as first registered (:attr:`Effect.registered`,
:mod:`~emergence_lib.analysis.registered`), so a verdict that an amendment changed is shown both ways. The
functions read the long tables of :func:`~emergence_lib.engine.runs.results_table` (one row per run and epoch; a
run is identified by its ``key`` column).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._checks import check_choice
from ..engine.profiles import checks_only

VERDICTS = ("supported", "contradicted", "inconclusive")
MIN_UNITS = 5
"""Fewest independent units (seeds) for which an interval, hence a verdict, is computed: the first-registered
rule, kept (five is the number of seeds of the default and paper profiles)."""
LEVEL = 0.95
RULE = "amended 2026-12-01"
"""The label of the rules in this module (the first-registered ones: :data:`~emergence_lib.analysis.registered.RULE`)."""

PAPER_MAX_SPARSITY = 0.7
"""The paper's highest pruning level: claim 5 is decided on the pool of sparsities up to it."""

STATEMENTS = {
    "1": "Absolute emergence grows with network size.",
    "2a": "Emergence falls during training.",
    "2b": "Emergence reaching about zero coincides with convergence (a stopping signal).",
    "3a": "Higher emergence goes with better trainability and performance.",
    "3b": "Emergence predicts the change in training accuracy.",
    "4a": "Relative emergence is higher for more heavily pruned networks.",
    "4b": "Relative emergence falls during training.",
    "5a": "Pruning speeds convergence.",
    "5b": "Pruning can lower final accuracy.",
    "6": "Higher emergence means more local minima and a more rugged loss landscape.",
    "7a": "The emergence-promoting initialization improves early accuracy.",
    "7b": "The emergence-promoting initialization speeds up training.",
}
"""The reference's claims 1-7 in words, split into the parts that are measured separately."""


@dataclass(frozen=True)
class Effect:
    """One measured claim.

    **The unit is the seed.** Runs with different training seeds are independent; runs that share a seed
    (several widths, sparsities or initializations) are not. Every effect of this module is computed per seed
    first (a correlation across the seed's runs, a difference against the seed's own baseline; the seed is the
    column ``train.seed`` of a results table, see :func:`seed_column`) and then summarized across seeds with
    :func:`mean_ci`, a Student-t interval whose coverage the book measures by simulation at its own sample sizes
    (:mod:`~emergence_lib.analysis.calibration`).

    Attributes:
        claim: the claim's number in the reference (e.g. ``"2a"``; ``"5a (sparsity 0.3)"`` for one level).
        statement: the paper's claim, in words.
        definition: the operational definition that was measured.
        estimate: the effect (e.g. a mean over seeds of per-seed Spearman correlations).
        low, high: its 95% interval (NaN with fewer than :data:`MIN_UNITS` units).
        null: the value of "no effect".
        direction: +1 when the paper claims an effect above ``null``, -1 below.
        n: the number of independent units behind the interval.
        unit: what a unit is (``"seeds"``; ``"runs"`` in first-registered effects).
        verdict: one of :data:`VERDICTS`.
        rule: :data:`RULE`, or the first-registered rule's label.
        registered: the same claim by the first-registered rule, where one exists.
    """

    claim: str
    statement: str
    definition: str
    estimate: float
    low: float
    high: float
    null: float
    direction: int
    n: int
    unit: str
    verdict: str
    rule: str = RULE
    registered: Effect | None = field(default=None, compare=False)

    def as_row(self) -> dict:
        """A flat dict for tables, with the first-registered effect as ``registered_*`` columns (NaN if none)."""
        row = {k: v for k, v in asdict(self).items() if k != "registered"}
        old = self.registered
        for name in REGISTERED_FIELDS:
            row[f"registered_{name}"] = getattr(old, name) if old is not None else np.nan
        return row


REGISTERED_FIELDS = ("estimate", "low", "high", "n", "unit", "verdict", "definition")
"""The first-registered effect's fields that verdict rows carry (as ``registered_<field>``)."""


def verdict(low: float, high: float, direction: int, n: int, null: float = 0.0) -> str:
    """The reference's rule: does the interval ``[low, high]`` exclude ``null``, and on which side?

    "supported" when the 95% interval excludes the value of no effect on the claimed side, "contradicted" when it
    excludes it on the other side, "inconclusive" otherwise, including with fewer than :data:`MIN_UNITS` units or
    an interval that is not finite.

    Args:
        low, high: the 95% interval of the effect.
        direction: +1 when the claim is an effect above ``null``, -1 below.
        n: independent units behind the interval; below :data:`MIN_UNITS` the verdict is "inconclusive".
        null: the value of no effect.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1; got {direction!r}")
    if n < MIN_UNITS or not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if low > null:
        return "supported" if direction > 0 else "contradicted"
    if high < null:
        return "supported" if direction < 0 else "contradicted"
    return "inconclusive"


@functools.cache
def _t_quantile(level: float, df: int) -> float:
    return float(stats.t.ppf(0.5 + level / 2, df))  # cached: the calibration calls mean_ci many thousand times


def mean_ci(values: Sequence[float], level: float = LEVEL, bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """The 95% interval of the mean of independent units (one value per seed): Student's t.

    Chosen by simulation at the book's sample sizes (:mod:`~emergence_lib.analysis.calibration`; the method page shows
    the coverage): at five units it covers about 95% for normal data and about 93% for mildly skewed data, where
    the first-registered percentile bootstrap covered about 80%. Units without spread give the point itself.
    NaNs with fewer than :data:`MIN_UNITS` values or a non-finite one. ``bounds``: the range the mean can take
    (``(-1, 1)`` for correlations); the interval is clipped to it, which never drops a true value.

    Example:
        >>> low, high = mean_ci([0.1, 0.2, 0.05, 0.3, 0.15])
        >>> round(low, 3), round(high, 3)
        (0.041, 0.279)
    """
    v = np.asarray(values, dtype=float)
    if len(v) < MIN_UNITS or not np.all(np.isfinite(v)):
        return float("nan"), float("nan")
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0])
    half = _t_quantile(level, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    low, high = v.mean() - half, v.mean() + half
    if bounds is not None:
        low, high = np.clip([low, high], *bounds)
    return float(low), float(high)


def _ranks(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values)  # -inf (E = 0) is the lowest value; ties get their average rank


def spearman(x: Sequence, y: Sequence) -> float:
    """Spearman rank correlation (log10 E = -inf ranks lowest); NaN when either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def partial_correlation(x: Sequence, y: Sequence, covariates: np.ndarray | Sequence, rank: bool = True) -> float:
    """Correlation of ``x`` and ``y`` once the covariates' linear effect is removed from both.

    With ``rank=True`` (partial Spearman) every variable is replaced by its ranks first, so any monotone
    transform of a variable (log, share dead or alive) gives the same value, and a monotone trend in a covariate
    is removed entirely. Covariates that do not vary are dropped; points with a NaN are left out (-inf is a
    value: the lowest); NaN when fewer than ``k + 3`` points remain for ``k`` covariates, or a residual vanishes.

    Args:
        x, y: the two variables, one value per unit.
        covariates: ``(n, k)`` values to control for (or ``(n,)`` for one).
        rank: rank-transform first (Spearman) rather than use the values (Pearson).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    z = np.asarray(covariates, dtype=float).reshape(len(x), -1)
    keep = ~np.isnan(x) & ~np.isnan(y) & ~np.isnan(z).any(axis=1)
    x, y, z = x[keep], y[keep], z[keep]
    z = z[:, [np.ptp(c) > 0 for c in z.T]] if len(z) else z
    if len(x) < z.shape[1] + 3:
        return float("nan")
    if rank:
        x, y = _ranks(x), _ranks(y)
        z = np.column_stack([_ranks(c) for c in z.T]) if z.shape[1] else z
    design = np.column_stack([np.ones(len(x)), z])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    if np.allclose(rx, 0) or np.allclose(ry, 0):
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def correlation_ci(
    x: Sequence, y: Sequence, covariates: np.ndarray | Sequence | None = None, level: float = LEVEL
) -> tuple[float, float]:
    """The 95% interval of the Spearman correlation of ``n`` independent pairs (partial, given ``covariates``).

    Fisher's z with the Bonett-Wright variance for a Spearman correlation, ``(1 + r^2 / 2) / (n - 3 - k)`` for
    ``k`` covariates that vary; its coverage at the book's sample sizes is measured by simulation
    (:mod:`~emergence_lib.analysis.calibration`). A correlation of +-1 gives the point itself. NaNs with fewer than
    :data:`MIN_UNITS` pairs, fewer than one degree of freedom, or no correlation.

    Example:
        >>> x = [1, 2, 3, 4, 5, 6, 7, 8]
        >>> low, high = correlation_ci(x, [2, 1, 4, 3, 6, 5, 8, 7])
        >>> round(low, 2), round(high, 2)
        (0.43, 0.99)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if covariates is None:
        z = np.empty((len(x), 0))
    else:
        z = np.asarray(covariates, dtype=float).reshape(len(x), -1)
    keep = ~np.isnan(x) & ~np.isnan(y) & ~np.isnan(z).any(axis=1)
    k = sum(np.ptp(c) > 0 for c in z[keep].T) if keep.any() else 0
    n = int(keep.sum())
    r = partial_correlation(x, y, z) if z.shape[1] else spearman(x[keep], y[keep])
    if n < MIN_UNITS or n - 3 - k < 1 or not np.isfinite(r):
        return float("nan"), float("nan")
    if abs(r) >= 1:
        return float(r), float(r)
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt((1 + r**2 / 2) / (n - 3 - k))
    return float(np.tanh(np.arctanh(r) - half)), float(np.tanh(np.arctanh(r) + half))


def emergence_correlation(log10_e: Sequence, other: Sequence) -> float:
    """Spearman correlation of log10 E with another quantity under the book's rule for E = 0.

    **One rule for E = 0**: log10 E = -inf is the lowest value, below every positive E, and ties share their
    average rank; nothing is dropped for it. E that never changes did not move with ``other``: 0. NaN (no
    comparison) when ``other`` does not vary or fewer than two points have both values (NaN marks a value not
    measured, e.g. after a run diverged).

    Example:
        >>> emergence_correlation([-np.inf, 1.0, 2.0], [0.1, 0.5, 0.9])
        1.0
        >>> emergence_correlation([-np.inf, -np.inf, -np.inf], [0.1, 0.5, 0.9])
        0.0
    """
    e, other = np.asarray(log10_e, dtype=float), np.asarray(other, dtype=float)
    keep = ~np.isnan(e) & ~np.isnan(other)
    e, other = e[keep], other[keep]
    if len(e) < 2 or np.all(other == other[0]):
        return float("nan")
    if np.all(e == e[0]):
        return 0.0
    return spearman(e, other)


def convergence_epoch(train_acc: Sequence[float], tolerance: float = 0.005, window: int = 3) -> int | None:
    """The first epoch after which training accuracy never again rises by more than ``tolerance`` (0.5
    percentage points, accuracies as fractions) within any ``window`` epochs.

    Args:
        train_acc: training accuracy per epoch, epoch 0 first.

    Returns:
        The epoch, or None when the run has not converged by its last epoch (only the last epoch qualifies,
        and nothing after it shows that the accuracy stopped rising).
    """
    acc = np.asarray(train_acc, dtype=float)
    last = len(acc) - 1
    for t in range(last):
        later = [acc[u] - acc[s] for s in range(t, last) for u in range(s + 1, min(s + window, last) + 1)]
        if max(later) <= tolerance:
            return t
    return None


def epochs_to_reach(test_acc: Sequence[float], target: float) -> int | None:
    """The first epoch (index into ``test_acc``, epoch 0 first) at which accuracy reaches ``target``; None if never."""
    reached = np.flatnonzero(np.asarray(test_acc, dtype=float) >= target)
    return int(reached[0]) if len(reached) else None


def _runs(table: pd.DataFrame) -> list[pd.DataFrame]:
    return [run.sort_values("epoch") for _, run in table.groupby("key", sort=False)]


SEED_COLUMNS = ("train.seed", "seed")
"""Where a table keeps the training seed: ``train.seed`` in results tables, ``seed`` in per-network tables."""


def seed_column(table: pd.DataFrame) -> str:
    """The column of ``table`` that holds the training seed (:data:`SEED_COLUMNS`)."""
    found = next((c for c in SEED_COLUMNS if c in table), None)
    if found is None:
        raise ValueError(f"the table has no seed column; expected one of {', '.join(SEED_COLUMNS)}")
    return found


def _by_seed(table: pd.DataFrame) -> Iterator[tuple[object, pd.DataFrame]]:
    yield from table.groupby(seed_column(table), sort=True)


def _seed_effect(per_seed: Sequence[float], direction: int, claim: str, definition: str, null: float = 0.0,
                 registered: Effect | None = None, bounds: tuple[float, float] | None = (-1.0, 1.0)) -> Effect:  # fmt: skip
    """The effect of one value per seed: their mean and :func:`mean_ci` (``bounds``: a correlation's by default)."""
    values = np.asarray([v for v in per_seed if np.isfinite(v)], dtype=float)
    low, high = mean_ci(values, bounds=bounds)
    return Effect(
        claim=claim, statement=STATEMENTS[claim.split(" ")[0]], definition=definition,
        estimate=float(values.mean()) if len(values) else float("nan"), low=low, high=high, null=null,
        direction=direction, n=len(values), unit="seeds", verdict=verdict(low, high, direction, len(values), null),
        registered=registered,
    )  # fmt: skip


def _registered() -> object:
    from . import registered  # registered builds on this module's definitions: imported when first needed

    return registered


def grows_with_size(table: pd.DataFrame, size: str = "n_weights") -> Effect:
    """Claim 1: per seed, the Spearman correlation across the seed's runs (widths) between ``size`` and log10 E at
    the last epoch (:func:`emergence_correlation`); effect = mean over seeds."""
    per_seed = []
    for _, runs in _by_seed(table):
        last = [run.iloc[-1] for run in _runs(runs)]
        per_seed.append(emergence_correlation([r["log10_absolute"] for r in last], [r[size] for r in last]))
    return _seed_effect(per_seed, +1, "1", f"mean over seeds of the Spearman correlation across the seed's runs "
                        f"between {size} and log10 E at the last epoch",
                        registered=_registered().grows_with_size(table, size))  # fmt: skip


def _per_seed_mean(table: pd.DataFrame, per_run: Callable[[pd.DataFrame], float]) -> list[float]:
    """Per seed, the mean of ``per_run`` over the seed's runs (NaN values left out; NaN if none is left)."""
    means = []
    for _, runs in _by_seed(table):
        values = [v for v in (per_run(run) for run in _runs(runs)) if np.isfinite(v)]
        means.append(float(np.mean(values)) if values else float("nan"))
    return means


def falls_during_training(table: pd.DataFrame, column: str = "log10_absolute", claim: str = "2a") -> Effect:
    """Claim 2a (and with ``column="log10_relative"``, ``claim="4b"``, claim 4's second part): per run, the
    Spearman correlation between epoch and ``column`` (:func:`emergence_correlation`); per seed, the mean over
    its runs; effect = mean over seeds."""
    per_seed = _per_seed_mean(table, lambda run: emergence_correlation(run[column], run["epoch"]))
    restated = " (this restates claim 2a on the pruned runs: under a fixed mask the weight count is constant, so " \
               "relative and absolute E rank the epochs alike)" if claim == "4b" else ""
    return _seed_effect(per_seed, -1, claim, f"mean over seeds of the Spearman correlation between epoch and "
                        f"{column}{restated}",
                        registered=_registered().falls_during_training(table, column, claim))  # fmt: skip


def zero_at_convergence(table: pd.DataFrame, ratio: float = 0.01, within: int = 2) -> Effect:
    """Claim 2b: per run, the distance in epochs between the convergence epoch (:func:`convergence_epoch`) and the
    first epoch at which the path fraction is below ``ratio`` times its epoch-0 value; an event that does not
    happen in the run counts as one epoch past its last, and a run where neither happens is left out. Per seed,
    the mean over its runs; effect = mean over seeds, supported when the interval lies below ``within`` epochs
    (the reference's tolerance).

    The first-registered rule (a share of runs, decided against one half) cannot be decided with five runs: an
    exact interval from 5 of 5 still contains one half.
    """

    def distance(run: pd.DataFrame) -> float:
        converged = convergence_epoch(run["train_acc"].to_numpy())
        fraction = run["fraction"].to_numpy(dtype=float)
        below = np.flatnonzero(fraction < ratio * fraction[0])
        if converged is None and not len(below):
            return float("nan")  # neither event within the run: nothing to compare
        never = len(run)
        return float(abs((below[0] if len(below) else never) - (never if converged is None else converged)))

    return _seed_effect(
        _per_seed_mean(table, distance), -1, "2b",
        f"mean over seeds of the epochs between convergence and the path fraction first falling below {ratio:g} x "
        f"its epoch-0 value (no effect: {within} epochs apart)", null=float(within), bounds=None,
        registered=_registered().zero_at_convergence(table, ratio, within),
    )  # fmt: skip


def beyond_trend(x: Sequence, y: Sequence, epoch: Sequence) -> float:
    """Correlation of ``x`` and ``y`` beyond any monotone trend in the epoch: the Pearson correlation of the ranks'
    residuals from isotonic regressions on the epoch (scikit-learn, increasing or decreasing as fits best).

    A linear fit on ranks removes only a strictly monotone trend: a stretch of ties (E = 0 for several epochs, whose
    log10 E = -inf share one rank) bends the ranks away from a line, and when the other series also bends (the
    accuracy gain decays), the two bends alone correlate. The isotonic fit follows both. 0 when a series is a
    monotone function of the epoch (nothing is left beyond the trend); NaN with fewer than four epochs with both
    values (NaN marks a value not measured).

    Example:
        >>> beyond_trend([5, 4, 3, -np.inf, -np.inf, -np.inf], [0.4, 0.3, 0.1, 0.05, 0.02, 0.01], range(6))
        0.0
    """
    from sklearn.isotonic import IsotonicRegression

    x, y, t = (np.asarray(v, dtype=float) for v in (x, y, epoch))
    keep = ~np.isnan(x) & ~np.isnan(y) & ~np.isnan(t)
    if keep.sum() < 4:
        return float("nan")
    residuals = []
    for values in (x[keep], y[keep]):
        ranks = _ranks(values)
        residuals.append(ranks - IsotonicRegression(increasing="auto").fit_transform(t[keep], ranks))
    if any(np.allclose(r, 0) for r in residuals):
        return 0.0
    return float(np.corrcoef(*residuals)[0, 1])


def predicts_accuracy_change(table: pd.DataFrame) -> Effect:
    """Claim 3b: per run, the correlation over epochs between log10 E at epoch t and the training-accuracy gain
    from t to t+1 beyond their trends in the epoch (:func:`beyond_trend`: both fall over training, so a plain
    correlation is positive with no predictive link). Per seed, the mean over its runs; effect = mean over seeds."""

    def given_epoch(run: pd.DataFrame) -> float:
        gain = run["train_acc"].diff().shift(-1).iloc[:-1]  # acc[t+1] - acc[t], aligned with epoch t
        return beyond_trend(run["log10_absolute"].iloc[:-1], gain, run["epoch"].iloc[:-1])

    return _seed_effect(
        _per_seed_mean(table, given_epoch), +1, "3b",
        "mean over seeds of the correlation between log10 E at epoch t and the training accuracy gain from t to t+1 "
        "beyond their monotone trends in the epoch (ranks, isotonic residuals)",
        registered=_registered().predicts_accuracy_change(table),
    )  # fmt: skip


def early_and_final(table: pd.DataFrame, early_epoch: int = 1) -> tuple[list[float], list[float]]:
    """Per run of ``table`` (that reached ``early_epoch``): log10 E after ``early_epoch``, and the final test accuracy."""
    early, final = [], []
    for run in _runs(table):
        at = run[run["epoch"] == early_epoch]
        if len(at):
            early.append(float(at["log10_absolute"].iloc[0]))
            final.append(float(run["test_acc"].iloc[-1]))
    return early, final


def early_emergence_predicts_performance(table: pd.DataFrame, early_epoch: int = 1) -> Effect:
    """Claim 3a: per seed, the Spearman correlation across the seed's runs between log10 E after epoch
    ``early_epoch`` and the final test accuracy (:func:`emergence_correlation`); effect = mean over seeds."""
    per_seed = [emergence_correlation(*early_and_final(runs, early_epoch)) for _, runs in _by_seed(table)]
    return _seed_effect(per_seed, +1, "3a", f"mean over seeds of the Spearman correlation across the seed's runs "
                        f"between log10 E after epoch {early_epoch} and the final test accuracy",
                        registered=_registered().early_emergence_predicts_performance(table, early_epoch))


PRUNE_COLUMNS = {"sparsity": "prune.sparsity", "method": "prune.method", "seed": "train.seed"}
"""Columns of :func:`~emergence_lib.engine.runs.results_table` that the pruning claims read."""


def _against_baseline(table: pd.DataFrame, column: str, baseline: float, keep=lambda first: True):
    """Pairs (treated run, baseline run of the same seed): runs whose ``column`` differs from ``baseline`` and
    that pass ``keep`` (a test on the run's first row), each with the run of the same seed at ``baseline``."""
    seed = PRUNE_COLUMNS["seed"]
    runs = _runs(table)
    base = {run[seed].iloc[0]: run for run in runs if run[column].iloc[0] == baseline}
    for run in runs:
        first = run.iloc[0]
        if first[column] != baseline and keep(first) and first[seed] in base:
            yield run, base[first[seed]]


def _pruned_against_baseline(table: pd.DataFrame, method: str = "magnitude"):
    """Pairs (pruned run, unpruned run of the same seed) for every pruned run of ``method``."""
    c = PRUNE_COLUMNS
    return _against_baseline(table, c["sparsity"], 0.0, keep=lambda first: first[c["method"]] == method)


SPEED_TARGET = 0.95
"""Training speed (claims 5a and 7b) is read as the epochs needed to reach this share of the baseline's final
test accuracy."""


def _speedup(run: pd.DataFrame, base: pd.DataFrame) -> int:
    """Epochs ``base`` needs to reach :data:`SPEED_TARGET` of its final test accuracy minus the epochs ``run`` needs
    to reach that accuracy (never: one past its last epoch)."""
    target = SPEED_TARGET * float(base["test_acc"].iloc[-1])
    reached = epochs_to_reach(run["test_acc"], target)
    never = max(len(run), len(base))  # one past the last epoch (a diverged run stops early)
    return epochs_to_reach(base["test_acc"], target) - (never if reached is None else reached)


def _speedups(pairs) -> list[int]:
    return [_speedup(run, base) for run, base in pairs]


def _accuracy_gain(run: pd.DataFrame, base: pd.DataFrame, epoch: int | None = None) -> float:
    """Test accuracy of ``run`` minus that of ``base`` after ``epoch`` (None: each run's last epoch)."""
    if epoch is None:
        return float(run["test_acc"].iloc[-1] - base["test_acc"].iloc[-1])
    at, base_at = run[run["epoch"] == epoch], base[base["epoch"] == epoch]
    return float(at["test_acc"].iloc[0] - base_at["test_acc"].iloc[0]) if len(at) and len(base_at) else float("nan")


def _paired_effects(pairs: list, column: str, level_name: str, pooled: Callable[[float], bool],
                    difference: Callable, direction: int, claim: str, definition: str,
                    registered: Effect) -> list[Effect]:  # fmt: skip
    """The decision on the pool of levels that ``pooled`` accepts, then one effect per level: per seed, the mean
    of ``difference(run, baseline)`` over the seed's pairs; effect = mean over seeds."""

    def effect(accept, label, reg=None) -> Effect:
        per_seed: dict[object, list[float]] = {}
        for run, base in pairs:
            if accept(run[column].iloc[0]):
                per_seed.setdefault(run[PRUNE_COLUMNS["seed"]].iloc[0], []).append(difference(run, base))
        means = [np.nanmean(v) if np.isfinite(v).any() else np.nan for v in map(np.asarray, per_seed.values())]
        return _seed_effect(means, direction, label, definition, registered=reg, bounds=None)

    levels = sorted({float(run[column].iloc[0]) for run, _ in pairs})
    return [effect(pooled, claim, registered)] + [
        effect(lambda v, level=level: v == level, f"{claim} ({level_name} {level:g})") for level in levels
    ]  # fmt: skip


def relative_higher_when_pruned(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 4a: per seed, the Spearman correlation across the seed's runs (unpruned and pruned with ``method``)
    between sparsity and the run's median over epochs of log10 relative E (E = 0 the lowest value; a median, unlike
    a mean, is defined with it); effect = mean over seeds."""
    c = PRUNE_COLUMNS
    chosen = table[(table[c["sparsity"]] == 0) | (table[c["method"]] == method)]
    per_seed = []
    for _, runs in _by_seed(chosen):
        runs = _runs(runs)
        per_seed.append(emergence_correlation([np.median(r["log10_relative"].to_numpy(dtype=float)) for r in runs],
                                              [r[c["sparsity"]].iloc[0] for r in runs]))  # fmt: skip
    return _seed_effect(per_seed, +1, "4a", f"mean over seeds of the Spearman correlation across the seed's runs "
                        f"({method} pruning) between sparsity and the median over epochs of log10 relative E",
                        registered=_registered().relative_higher_when_pruned(table, method))  # fmt: skip


def _in_paper_range(sparsity: float) -> bool:
    return sparsity <= PAPER_MAX_SPARSITY


def pruning_speeds_convergence(table: pd.DataFrame, method: str = "magnitude") -> list[Effect]:
    """Claim 5a: per pruned run, the epochs the unpruned run of the same seed needs to reach 95% of its final test
    accuracy minus the epochs the pruned run needs (never: one past its last epoch). Decided on the pool of the
    paper's levels (sparsity up to :data:`PAPER_MAX_SPARSITY`): per seed the mean over those levels, effect = mean
    over seeds; then one effect per sparsity (``"5a (sparsity 0.3)"``, ...)."""
    return _paired_effects(
        list(_pruned_against_baseline(table, method)), PRUNE_COLUMNS["sparsity"], "sparsity", _in_paper_range,
        _speedup, +1, "5a",
        f"mean over seeds of (epochs the seed's unpruned run needs to reach 95% of its final test accuracy) minus "
        f"(epochs the {method}-pruned run needs), averaged over sparsities up to {PAPER_MAX_SPARSITY:g}",
        _registered().pruning_speeds_convergence(table, method),
    )  # fmt: skip


def pruning_lowers_accuracy(table: pd.DataFrame, method: str = "magnitude") -> list[Effect]:
    """Claim 5b: per pruned run, its final test accuracy minus that of the unpruned run of the same seed; decided
    on the paper's levels like :func:`pruning_speeds_convergence`, then one effect per sparsity."""
    return _paired_effects(
        list(_pruned_against_baseline(table, method)), PRUNE_COLUMNS["sparsity"], "sparsity", _in_paper_range,
        _accuracy_gain, -1, "5b",
        f"mean over seeds of (final test accuracy of the {method}-pruned run) minus (that of the seed's unpruned "
        f"run), averaged over sparsities up to {PAPER_MAX_SPARSITY:g}",
        _registered().pruning_lowers_accuracy(table, method),
    )  # fmt: skip


def init_speeds_convergence(table: pd.DataFrame, column: str = "init_alpha", baseline: float = 1.0) -> list[Effect]:
    """Claim 7b: per run with ``alpha != baseline``, the epochs the ``alpha = baseline`` run of the same seed (and
    otherwise the same table) needs to reach 95% of its final test accuracy minus the epochs the run needs.
    Decided on the pool of every alpha above ``baseline`` (per seed the mean, effect = mean over seeds), then one
    effect per alpha."""
    return _paired_effects(
        list(_against_baseline(table, column, baseline)), column, "alpha", lambda a: a > baseline, _speedup, +1,
        "7b", f"mean over seeds of (epochs the seed's alpha = {baseline:g} run needs to reach 95% of its final test "
        f"accuracy) minus (epochs the run needs), averaged over alpha > {baseline:g}",
        _registered().init_speeds_convergence(table, column, baseline),
    )  # fmt: skip


def init_improves_early_accuracy(table: pd.DataFrame, column: str = "init_alpha", baseline: float = 1.0,
                                 epoch: int = 1) -> list[Effect]:  # fmt: skip
    """Claim 7a: per run with ``alpha != baseline``, its test accuracy after ``epoch`` minus that of the ``alpha =
    baseline`` run of the same seed; decided on the pool of every alpha above ``baseline``, then one effect per
    alpha."""
    return _paired_effects(
        list(_against_baseline(table, column, baseline)), column, "alpha", lambda a: a > baseline,
        lambda run, base: _accuracy_gain(run, base, epoch), +1, "7a",
        f"mean over seeds of the test accuracy after epoch {epoch} minus that of the seed's alpha = {baseline:g} run, "
        f"averaged over alpha > {baseline:g}",
        _registered().init_improves_early_accuracy(table, column, baseline, epoch),
    )  # fmt: skip


LANDSCAPE_MEASURES = {
    "second_difference": "the mean absolute second difference of the 2-D loss surface",
    "local_minima": "the number of strict local minima on the 2-D loss surface",
    "top_eigenvalue": "the top Hessian eigenvalue",
}
"""The ruggedness and curvature measures claim 6 is tested on. The first decides the verdict: the amended measure,
chosen by the pilot (:func:`choose_landscape_measure`); the first-registered one, strict local minima, was the same
for every network."""


def rugged_with_emergence(table: pd.DataFrame, measure: str = "second_difference") -> Effect:
    """Claim 6: per seed, the Spearman correlation across the seed's networks (one row per network:
    ``log10_absolute`` and ``measure`` at the same weights) between log10 E and a ruggedness or curvature measure
    of the loss landscape (:func:`emergence_correlation`); effect = mean over seeds."""
    check_choice("measure", measure, LANDSCAPE_MEASURES)
    per_seed = [emergence_correlation(rows["log10_absolute"], rows[measure]) for _, rows in _by_seed(table)]
    primary = measure == next(iter(LANDSCAPE_MEASURES))
    return _seed_effect(
        per_seed, +1, "6" if primary else f"6 ({measure})",
        f"mean over seeds of the Spearman correlation across the seed's networks between log10 E and "
        f"{LANDSCAPE_MEASURES[measure]}",
        registered=_registered().rugged_with_emergence(table) if primary and "local_minima" in table else None,
    )  # fmt: skip


def landscape_pilot() -> pd.DataFrame:
    """The pilot that chose claim 6's amended measure: one row per pilot network and candidate measure (written by
    ``pilots/landscape_measure.py`` on networks that are not the book's, shipped with the library)."""
    from importlib.resources import files

    with files("emergence_lib").joinpath("pilots", "landscape_measure.csv").open() as f:
        return pd.read_csv(f)


def choose_landscape_measure(pilot: pd.DataFrame) -> str:
    """Claim 6's amended measure, by the rule fixed before the pilot ran: the first candidate (in the order of
    :data:`~emergence_lib.probes.landscape.PILOT_CANDIDATES`) whose values over the pilot networks take at least three
    distinct values, with the most common value held by at most half of the networks; else the last candidate.

    Args:
        pilot: one row per network and candidate (columns ``candidate`` and ``value``), as written by
            ``pilots/landscape_measure.py``.
    """
    from ..probes.landscape import PILOT_CANDIDATES

    for name in PILOT_CANDIDATES:
        values = pilot.loc[pilot["candidate"] == name, "value"]
        if values.empty:
            raise ValueError(f"the pilot has no values of candidate {name!r}")
        if values.nunique() >= 3 and values.value_counts().iloc[0] <= len(values) / 2:
            return name
    return name


def emergence_claims(table: pd.DataFrame, paper: pd.DataFrame) -> list[Effect]:
    """Claims 1-3 on one experiment: 1 and 3a across the runs of each seed in ``table`` (sizes x seeds); 2a, 2b and
    3b on ``paper``, the runs of the paper's own size (a subset of ``table``)."""
    return [grows_with_size(table), falls_during_training(paper), zero_at_convergence(paper),
            early_emergence_predicts_performance(table), predicts_accuracy_change(paper)]  # fmt: skip


def relative_emergence_claims(table: pd.DataFrame, method: str = "magnitude") -> list[Effect]:
    """Claim 4 on one pruning experiment (unpruned runs and runs pruned with ``method``): 4a across each seed's
    runs, 4b on the pruned runs."""
    c = PRUNE_COLUMNS
    pruned = table[(table[c["sparsity"]] > 0) & (table[c["method"]] == method)]
    return [relative_higher_when_pruned(table, method), falls_during_training(pruned, "log10_relative", claim="4b")]


def pruning_claims(table: pd.DataFrame, method: str = "magnitude") -> list[Effect]:
    """Claims 4 and 5 on one pruning experiment: 4a, 4b, then 5a and 5b on the paper's levels, then 5a and 5b per
    sparsity."""
    speed, accuracy = pruning_speeds_convergence(table, method), pruning_lowers_accuracy(table, method)
    return [*relative_emergence_claims(table, method), speed[0], accuracy[0], *speed[1:], *accuracy[1:]]


def pruned_runs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a pruning experiment: ``sparsity``, ``method`` (``"none"`` unpruned), ``seed``,
    ``relative`` (mean over epochs of the finite ``log10_relative``) and ``final_acc`` (last test accuracy)."""
    c = PRUNE_COLUMNS
    per_run = table.groupby("key", sort=False).agg(
        sparsity=(c["sparsity"], "first"), method=(c["method"], "first"), seed=(c["seed"], "first"),
        relative=("log10_relative", lambda s: s.replace([np.inf, -np.inf], np.nan).mean()),
        final_acc=("test_acc", "last"))  # fmt: skip
    per_run.loc[per_run["sparsity"] == 0, "method"] = "none"
    return per_run


def method_differences(per_run: pd.DataFrame, method: str = "magnitude", control: str = "random") -> pd.DataFrame:
    """``method`` minus ``control`` at each sparsity above 0, for ``relative`` and ``final_acc`` of
    :func:`pruned_runs`: one difference per seed (the seed is the unit), their mean and :func:`mean_ci`.

    Both methods keep the same number of weights, so a difference comes from which weights are kept."""
    paired = per_run[per_run["sparsity"] > 0].pivot_table(index=["sparsity", "seed"], columns="method",
                                                         values=["relative", "final_acc"])
    rows = []
    for sparsity, group in paired.groupby(level="sparsity"):
        for column in ["relative", "final_acc"]:
            diff = (group[column, method] - group[column, control]).dropna().to_numpy()
            low, high = mean_ci(diff)
            rows.append({"sparsity": sparsity, "quantity": column, f"{method} - {control}": diff.mean(), "low": low,
                         "high": high, "seeds": len(diff)})  # fmt: skip
    return pd.DataFrame(rows)


def final_accuracy(per_run: pd.DataFrame, method: str = "magnitude") -> pd.DataFrame:
    """Final test accuracy (%) per sparsity of the unpruned and ``method``-pruned runs of :func:`pruned_runs`:
    the mean over seeds (one run each) and its :func:`mean_ci` (``"too few seeds"`` below :data:`MIN_UNITS`)."""
    rows = []
    for sparsity, group in per_run[per_run["method"].isin(["none", method])].groupby("sparsity"):
        low, high = mean_ci(100 * group["final_acc"].to_numpy())
        rows.append({"sparsity": f"{100 * sparsity:.0f}%", "final test accuracy (%)": 100 * group["final_acc"].mean(),
                     "95% CI": f"[{low:.1f}, {high:.1f}]" if np.isfinite(low) else "too few seeds",
                     "seeds": len(group)})  # fmt: skip
    return pd.DataFrame(rows)


def init_claims(table: pd.DataFrame) -> list[Effect]:
    """Claim 7 on one initialization experiment (one network and batch-norm setting): 7a and 7b on every alpha
    above 1, then per alpha."""
    early, speed = init_improves_early_accuracy(table), init_speeds_convergence(table)
    return [early[0], speed[0], *early[1:], *speed[1:]]


def effects_table(effects: Sequence[Effect]) -> pd.DataFrame:
    """The effects as a table, one row per claim, rounded for reading."""
    frame = pd.DataFrame([e.as_row() for e in effects])
    return frame[["claim", "statement", "definition", "estimate", "low", "high", "n", "unit", "verdict"]]


def _value(effect: Effect) -> str:
    if np.isnan(effect.estimate):
        return f"not computable ({int(effect.n)} {effect.unit}): too few units, or a quantity that does not vary"
    interval = "no interval" if np.isnan(effect.low) else f"95% CI [{effect.low:.2f}, {effect.high:.2f}]"
    return f"{effect.estimate:.2f}, {interval}, {int(effect.n)} {effect.unit}"


def describe(effect: Effect, data: str | None = None) -> str:
    """One Markdown sentence stating the claim, what was measured, the interval and the verdict, and the verdict
    by the first-registered rule where it differs.

    Args:
        effect: the measured claim.
        data: the data really used (e.g. a :attr:`~emergence_lib.engine.data.Dataset.source`), named in the sentence.
    """
    on = f" on {data}" if data else ""
    text = (f"**Claim {effect.claim}**: {effect.statement} Measured{on}: {effect.definition} = {_value(effect)}: "
            f"**{effect.verdict}**.")  # fmt: skip
    old = effect.registered
    if old is not None and old.verdict != effect.verdict:
        text += (f" As first registered ({old.definition} = {_value(old)}): **{old.verdict}**; the method page "
                 "says why the rule was amended.")  # fmt: skip
    return text


LEVEL_CLAIM = re.compile(r" \((?:sparsity|alpha) ")
"""Matches the claim labels of one level of a pooled claim (``"5a (sparsity 0.3)"``, ``"7b (alpha 2)"``)."""


SHOWN_COLUMNS = ("experiment", "claim", "estimate", "low", "high", "n", "unit", "verdict", "registered_verdict",
                 "fallback")
"""The columns of a verdicts table a chapter displays."""

VERDICT_COLUMNS = ("experiment", "setting", "claim", "statement", "definition", "estimate", "low", "high", "null",
                   "direction", "n", "unit", "verdict", "rule", *(f"registered_{f}" for f in REGISTERED_FIELDS),
                   "seeds", "data used", "fallback")  # fmt: skip
"""The columns of a verdicts table (:func:`verdict_rows`), which chapters show and the scorecard collects."""


def experiment_label(setting: str, table: pd.DataFrame) -> str:
    """``setting`` (e.g. ``"CNN on cifar10"``) with every dataset the runs of ``table`` did not really use replaced
    by the data they used (``"CNN on mnist_subset (stand-in for cifar10)"``), from the columns ``dataset`` and
    ``data_used``; a fallback table without them is marked ``"(stand-in data)"``.

    Example:
        >>> runs = pd.DataFrame({"dataset": ["cifar10"], "data_used": ["mnist_subset"], "fallback": [True]})
        >>> experiment_label("CNN on cifar10", runs)
        'CNN on mnist_subset (stand-in for cifar10)'
    """
    if not {"dataset", "data_used"} <= set(table):
        return f"{setting} (stand-in data)" if bool(table["fallback"].any()) else setting
    stand_ins = {asked: used for asked, used in zip(table["dataset"], table["data_used"]) if asked != used}
    if not stand_ins:
        return setting
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, stand_ins)) + r")\b")
    return pattern.sub(lambda m: f"{stand_ins[m.group(1)]} (stand-in for {m.group(1)})", setting)


def verdict_rows(effects: Sequence[Effect], setting: str, table: pd.DataFrame) -> list[dict]:
    """One row per effect for a verdicts table: the experiment, the effect, and from ``table`` (the runs behind the
    effects) the number of seeds, the data really used and whether it was fallback data.

    Args:
        effects: the measured claims.
        setting: the experiment as asked, e.g. ``"MLP on mnist"`` (the scorecard finds its rows by it); the
            ``experiment`` column names the data really used instead (:func:`experiment_label`).
        table: the runs behind the effects (:func:`~emergence_lib.engine.runs.results_table` rows).
    """
    seeds = int(table[seed_column(table)].nunique())
    sources = sorted(set(table["data_source"]))
    fallback = bool(table["fallback"].any())
    experiment = experiment_label(setting, table)
    return [{"experiment": experiment, "setting": setting, **e.as_row(), "seeds": seeds,
             "data used": "; ".join(sources), "fallback": fallback} for e in effects]  # fmt: skip


def _effect(row: pd.Series) -> Effect:
    """The effect of a verdicts row, with its first-registered effect where the row has one."""
    fields = [name for name in Effect.__dataclass_fields__ if name not in ("rule", "registered")]
    registered = None
    if isinstance(row.get("registered_verdict"), str):
        old = {name: row[f"registered_{name}"] for name in REGISTERED_FIELDS}
        registered = Effect(**{name: row[name] for name in fields if name not in old}, **old)
    return Effect(**{name: row[name] for name in fields}, rule=row.get("rule", RULE), registered=registered)


def rule_settings() -> dict[str, str]:
    """The constants of the amended rules that prose quotes, read from the functions' defaults (so a change to
    a rule changes the text): claim 2b's convergence ``tolerance`` (accuracy points) and ``window`` (epochs)
    of :func:`convergence_epoch`, the ``ratio`` and ``within`` (epochs) of :func:`zero_at_convergence`, and
    the ``speed_target`` of claims 5a and 7b (:data:`SPEED_TARGET`).

    Example:
        >>> sorted(rule_settings())
        ['ratio', 'speed_target', 'tolerance', 'window', 'within']
    """
    convergence = inspect.signature(convergence_epoch).parameters
    zero = inspect.signature(zero_at_convergence).parameters
    return {"tolerance": f"{100 * convergence['tolerance'].default:g}", "window": str(convergence["window"].default),
            "ratio": f"{zero['ratio'].default:.0%}", "within": str(zero["within"].default),
            "speed_target": f"{SPEED_TARGET:.0%}"}  # fmt: skip


def _listed(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def headline(verdicts: pd.DataFrame, setting: str | None = None) -> pd.DataFrame:
    """The verdict rows a chapter opens with: those of one experiment (by default the first, the paper's own
    setting), without the level-by-level rows (:data:`LEVEL_CLAIM`), which the decision pools.

    Raises:
        ValueError: naming the experiments there are, when ``setting`` is not one of them.
    """
    setting = verdicts["setting"].iloc[0] if setting is None else setting
    rows = verdicts[(verdicts["setting"] == setting) & ~verdicts["claim"].astype(str).str.contains(LEVEL_CLAIM)]
    if rows.empty:
        raise ValueError(f"no verdicts for the experiment {setting!r}; experiments: {sorted(set(verdicts['setting']))}")
    return rows


def answer(verdicts: pd.DataFrame, setting: str | None = None) -> str:
    """A chapter's answer in one sentence: the verdict of each claim of one experiment (by default the first, the
    paper's own setting), naming the data really used and the seeds behind it.

    The rows are :func:`headline`'s, without those that report another measure beside a claim
    (``"6 (local_minima)"``) when the claim's own row is there.

    Example:
        >>> rows = pd.DataFrame({"setting": ["MLP on mnist"] * 3, "experiment": ["MLP on mnist"] * 3,
        ...                      "claim": ["1", "2a", "2b"], "verdict": ["supported", "supported", "inconclusive"],
        ...                      "seeds": [10] * 3, "fallback": [False] * 3})
        >>> answer(rows)
        'With 10 seeds of MLP on mnist, claims 1 and 2a are supported and 2b is inconclusive.'
    """
    rows = headline(verdicts, setting)
    if rows["claim"].astype(str).isin(STATEMENTS).any():  # "6 (local_minima)" reports a measure beside claim 6
        rows = rows[rows["claim"].astype(str).isin(STATEMENTS)]
    parts, sizes = [], []
    for verdict in (*VERDICTS, *sorted(set(rows["verdict"]) - set(VERDICTS))):
        claims = [str(c) for c in rows.loc[rows["verdict"] == verdict, "claim"]]
        if claims:
            parts.append(f"{_listed(claims)} {'is' if len(claims) == 1 else 'are'} {verdict}")
            sizes.append(len(claims))
    first = "claim" if sizes[0] == 1 else "claims"  # "claim 1 is supported, 2a is ...", "claims 1 and 2a are ..."
    stand_in = rows["fallback"].astype(bool).any()
    caveat = "; on stand-in data, so not evidence about the dataset it replaces" if stand_in else ""
    return f"With {rows['seeds'].iloc[0]} seeds of {rows['experiment'].iloc[0]}, {first} {_listed(parts)}{caveat}."


def summary(verdicts: pd.DataFrame, profile: str) -> str:
    """The Markdown a chapter prints under its verdicts: one sentence per decided claim (:func:`describe`), one line
    per experiment for the level-by-level rows, a caveat naming
    the experiments computed on fallback data, and for the ``smoke`` profile a reminder that it decides nothing.

    Args:
        verdicts: rows of :func:`verdict_rows`.
        profile: the profile that computed them.
    """
    lines = [f"**What the numbers say** (computed when this page was built, profile `{profile}`):", ""]
    levels = verdicts["claim"].astype(str).str.contains(LEVEL_CLAIM)
    lines += [f"- {row['experiment']}: {describe(_effect(row), data=row['data used'])}"
              for _, row in verdicts[~levels].iterrows()]  # fmt: skip
    for experiment, rows in verdicts[levels].groupby("experiment", sort=False):
        each = "; ".join(f"{r['claim']} {r['estimate']:.2f} {r['verdict']}" for _, r in rows.iterrows())
        lines.append(f"- {experiment}, level by level (not the decision, which pools the paper's levels): {each}.")
    stand_ins = verdicts[verdicts["fallback"].astype(bool)].drop_duplicates("experiment")
    if len(stand_ins):
        named = "; ".join(f"{row['experiment']} used the {row['data used']}" for _, row in stand_ins.iterrows())
        lines += ["", f"**Data caveat.** Some datasets could not be loaded where this page was built: {named}. These "
                  "rows are not evidence about the datasets they stand in for; rebuild with the datasets available "
                  "(or with published `paper` results)."]  # fmt: skip
    if checks_only(profile):
        lines += ["", f"The `{profile}` profile only checks that the chapter runs: its few seeds and epochs decide nothing."]
    return "\n".join(lines)


