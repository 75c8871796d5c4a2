"""The paper's claims as measurements: operational definitions, effects with 95% CIs, and verdicts.

Every definition here is the one fixed in the book's reference (``shared/paper/README.md``) before any result
was seen. A verdict reads "supported" when the 95% confidence interval of the effect excludes the null value
in the claimed direction, "contradicted" when it excludes it in the other direction, and "inconclusive"
otherwise, including when fewer than :data:`MIN_UNITS` independent units (seeds or runs) are available: an
interval from one or two values is not evidence.

All functions read the long per-epoch tables of :func:`~emergence_lib.runs.results_table` (one row per run
and epoch; a run is identified by its ``key`` column).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import check_choice
from .profiles import checks_only

VERDICTS = ("supported", "contradicted", "inconclusive")
MIN_UNITS = 5
"""Fewest independent units (seeds or runs) for which a confidence interval, hence a verdict, is computed.

A percentile bootstrap interval from three values covers far less than 95% (it can only span their range);
five is the paper profile's number of seeds.
"""
LEVEL = 0.95
N_RESAMPLES = 9999

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

    Attributes:
        claim: the claim's number in the reference (e.g. ``"2a"``).
        statement: the paper's claim, in words.
        definition: the operational definition that was measured.
        estimate: the effect (e.g. a mean Spearman correlation, or a share of runs).
        low, high: its 95% confidence interval (NaN when there are fewer than :data:`MIN_UNITS` units).
        null: the value of "no effect" (0 for correlations, 0.5 for shares of runs).
        direction: +1 when the paper claims an effect above ``null``, -1 below.
        n: the number of independent units behind the interval.
        unit: what a unit is (``"seeds"``, ``"runs"``).
        verdict: one of :data:`VERDICTS`.
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

    def as_row(self) -> dict:
        """A flat dict for tables."""
        return asdict(self)


def verdict(low: float, high: float, direction: int, n: int, null: float = 0.0) -> str:
    """The reference's rule: does the interval ``[low, high]`` exclude ``null``, and on which side?

    Args:
        low, high: the 95% confidence interval of the effect.
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


def bootstrap_ci(
    data: Sequence | tuple[Sequence, ...],
    statistic: Callable = np.mean,
    paired: bool = False,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of ``statistic`` (scipy.stats.bootstrap, seeded, 9,999 resamples).

    Percentile rather than BCa: BCa is undefined when every resample gives the same value, which happens with
    the few seeds of small profiles. Resamples whose statistic is undefined (a correlation of a resample that
    repeats one point) are left out of the percentiles. ``data`` is one sample, or a tuple of equally long samples with
    ``paired=True`` (e.g. ``(x, y)`` for a correlation). Returns NaNs below :data:`MIN_UNITS` values.
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
            samples, statistic, paired=paired, vectorized=False, n_resamples=N_RESAMPLES, confidence_level=LEVEL,
            method="percentile", rng=np.random.default_rng(seed),
        )  # fmt: skip
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.nanpercentile(result.bootstrap_distribution, [tail, 100 - tail])
    return float(low), float(high)


def spearman(x: Sequence, y: Sequence) -> float:
    """Spearman rank correlation; NaN when either side is constant (nothing to rank)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


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


def _runs(table: pd.DataFrame) -> list[pd.DataFrame]:
    return [run.sort_values("epoch") for _, run in table.groupby("key", sort=False)]


def _mean_effect(per_unit: Sequence[float], direction: int, **text) -> Effect:
    values = np.asarray([v for v in per_unit if np.isfinite(v)], dtype=float)
    low, high = bootstrap_ci(values)
    estimate = float(values.mean()) if len(values) else float("nan")
    return Effect(estimate=estimate, low=low, high=high, null=0.0, direction=direction, n=len(values),
                  verdict=verdict(low, high, direction, len(values)), **text)  # fmt: skip


def _correlation_effect(x: Sequence[float], y: Sequence[float], direction: int, **text) -> Effect:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    estimate = spearman(x, y)
    if np.isfinite(estimate):
        low, high = bootstrap_ci((x, y), statistic=spearman, paired=True)
    else:
        low = high = float("nan")
    return Effect(estimate=estimate, low=low, high=high, null=0.0, direction=direction, n=len(x),
                  verdict=verdict(low, high, direction, len(x)), **text)  # fmt: skip


def grows_with_size(table: pd.DataFrame, size: str = "n_weights") -> Effect:
    """Claim 1: Spearman correlation across runs between network size and log10 E after training."""
    last = [run.iloc[-1] for run in _runs(table)]
    return _correlation_effect(
        [r[size] for r in last], [r["log10_absolute"] for r in last], +1, claim="1",
        statement=STATEMENTS["1"],
        definition=f"Spearman correlation across runs between {size} and log10 E at the last epoch",
        unit="runs",
    )  # fmt: skip


def falls_during_training(
    table: pd.DataFrame, column: str = "log10_absolute", claim: str = "2a", statement: str | None = None
) -> Effect:
    """Claim 2 (first part), and with ``column="log10_relative"`` claim 4's second part: the per-run Spearman
    correlation between epoch and ``column``; effect = mean over runs, with its bootstrap CI."""
    per_run = [spearman(run["epoch"], run[column]) for run in _runs(table)]
    return _mean_effect(
        per_run, -1, claim=claim, statement=statement or STATEMENTS.get(claim, f"Emergence ({column}) falls during training."),
        definition=f"mean over runs of the Spearman correlation between epoch and {column}", unit="runs",
    )  # fmt: skip


def zero_at_convergence(table: pd.DataFrame, ratio: float = 0.01, within: int = 2) -> Effect:
    """Claim 2 (second part): E reaching about zero coincides with convergence.

    Per converged run: the path fraction first falls below ``ratio`` times its epoch-0 value within
    ``within`` epochs of the convergence epoch. Effect = share of converged runs where this holds, with its
    exact (Clopper-Pearson) 95% interval; supported when the interval lies above one half.
    """
    hits = []
    for run in _runs(table):
        converged = convergence_epoch(run["train_acc"].to_numpy())
        if converged is None:
            continue  # not converged within the run: nothing to compare
        fraction = run["fraction"].to_numpy(dtype=float)
        below = np.flatnonzero(fraction < ratio * fraction[0])
        hits.append(bool(len(below)) and abs(int(run["epoch"].iloc[below[0]]) - converged) <= within)
    n, k = len(hits), int(sum(hits))
    if n >= MIN_UNITS:
        ci = stats.binomtest(k, n).proportion_ci(LEVEL, method="exact")
        low, high = float(ci.low), float(ci.high)
    else:
        low = high = float("nan")
    return Effect(
        claim="2b", statement=STATEMENTS["2b"],
        definition=f"share of converged runs whose path fraction first falls below {ratio:g} x its epoch-0 value "
        f"within {within} epochs of the convergence epoch",
        estimate=k / n if n else float("nan"), low=low, high=high, null=0.5, direction=+1, n=n,
        unit="converged runs", verdict=verdict(low, high, +1, n, null=0.5),
    )  # fmt: skip


def predicts_accuracy_change(table: pd.DataFrame) -> Effect:
    """Claim 3 (second part): per run, the Spearman correlation over epochs between log10 E at epoch t and
    the training-accuracy gain from t to t+1; effect = mean over runs with its bootstrap CI."""
    per_run = []
    for run in _runs(table):
        gain = run["train_acc"].diff().shift(-1)  # acc[t+1] - acc[t], aligned with epoch t
        per_run.append(spearman(run["log10_absolute"].iloc[:-1], gain.iloc[:-1]))
    return _mean_effect(
        per_run, +1, claim="3b", statement=STATEMENTS["3b"],
        definition="mean over runs of the Spearman correlation between log10 E at epoch t and the training "
        "accuracy gain from t to t+1", unit="runs",
    )  # fmt: skip


def early_emergence_predicts_performance(table: pd.DataFrame, early_epoch: int = 1) -> Effect:
    """Claim 3 (first part): Spearman correlation across runs between log10 E after epoch ``early_epoch`` and
    the final test accuracy."""
    early, final = [], []
    for run in _runs(table):
        at = run[run["epoch"] == early_epoch]
        if len(at):
            early.append(float(at["log10_absolute"].iloc[0]))
            final.append(float(run["test_acc"].iloc[-1]))
    return _correlation_effect(
        early, final, +1, claim="3a", statement=STATEMENTS["3a"],
        definition=f"Spearman correlation across runs between log10 E after epoch {early_epoch} and the final "
        "test accuracy", unit="runs",
    )  # fmt: skip


def epochs_to_reach(test_acc: Sequence[float], target: float) -> int | None:
    """The first epoch (index into ``test_acc``, epoch 0 first) at which accuracy reaches ``target``; None if never."""
    reached = np.flatnonzero(np.asarray(test_acc, dtype=float) >= target)
    return int(reached[0]) if len(reached) else None


PRUNE_COLUMNS = {"sparsity": "prune.sparsity", "method": "prune.method", "seed": "train.seed"}
"""Columns of :func:`~emergence_lib.runs.results_table` that the pruning claims read."""


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


def _speedups(pairs) -> list[int]:
    """Per pair: epochs the baseline needs to reach 95% of its final test accuracy minus the epochs the treated
    run needs to reach that accuracy (never: one past its last epoch)."""
    gains = []
    for run, base in pairs:
        target = 0.95 * float(base["test_acc"].iloc[-1])
        reached = epochs_to_reach(run["test_acc"], target)
        never = max(len(run), len(base))  # one past the last epoch (a diverged run stops early)
        gains.append(epochs_to_reach(base["test_acc"], target) - (never if reached is None else reached))
    return gains


def relative_higher_when_pruned(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 4 (first part): Spearman correlation across runs (``method`` and unpruned) between sparsity and the
    run's mean over epochs of log10 relative emergence."""
    c = PRUNE_COLUMNS
    runs = [r for r in _runs(table) if r[c["sparsity"]].iloc[0] == 0 or r[c["method"]].iloc[0] == method]
    finite = [r["log10_relative"].replace([np.inf, -np.inf], np.nan) for r in runs]
    return _correlation_effect(
        [r[c["sparsity"]].iloc[0] for r in runs], [f.mean() for f in finite], +1, claim="4a",
        statement=STATEMENTS["4a"],
        definition=f"Spearman correlation across runs ({method} pruning) between sparsity and the mean over epochs "
        "of log10 relative E", unit="runs",
    )  # fmt: skip


def pruning_speeds_convergence(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 5 (first part): per pruned run, the epochs the unpruned run of the same seed needs to reach 95% of
    its final test accuracy minus the epochs the pruned run needs to reach that same accuracy (a run that never
    reaches it counts as one epoch past its last); effect = mean over pruned runs (positive: pruning is faster)."""
    gains = _speedups(_pruned_against_baseline(table, method))
    return _mean_effect(
        gains, +1, claim="5a", statement=STATEMENTS["5a"],
        definition="mean over pruned runs of (epochs the unpruned run of the same seed needs to reach 95% of its "
        "final test accuracy) minus (epochs the pruned run needs)", unit="pruned runs",
    )  # fmt: skip


def pruning_lowers_accuracy(table: pd.DataFrame, method: str = "magnitude") -> Effect:
    """Claim 5 (second part): per pruned run, final test accuracy minus that of the unpruned run of the same
    seed; effect = mean over pruned runs (negative: pruning lowers accuracy)."""
    drops = [float(run["test_acc"].iloc[-1] - base["test_acc"].iloc[-1])
             for run, base in _pruned_against_baseline(table, method)]  # fmt: skip
    return _mean_effect(
        drops, -1, claim="5b", statement=STATEMENTS["5b"],
        definition="mean over pruned runs of (final test accuracy) minus (final test accuracy of the unpruned run "
        "of the same seed)", unit="pruned runs",
    )  # fmt: skip


def init_speeds_convergence(table: pd.DataFrame, column: str = "init_alpha", baseline: float = 1.0) -> Effect:
    """Claim 7 (training speed): per run with ``alpha != baseline``, the epochs the ``alpha = baseline`` run of the
    same seed (and otherwise the same table) needs to reach 95% of its final test accuracy minus the epochs the
    run needs; effect = mean over runs (positive: faster)."""
    return _mean_effect(
        _speedups(_against_baseline(table, column, baseline)), +1, claim="7b",
        statement=STATEMENTS["7b"],
        definition=f"mean over runs with alpha > {baseline:g} of (epochs the alpha = {baseline:g} run of the same seed "
        "needs to reach 95% of its final test accuracy) minus (epochs the run needs)", unit="runs",
    )  # fmt: skip


def init_improves_early_accuracy(table: pd.DataFrame, column: str = "init_alpha", baseline: float = 1.0,
                                 epoch: int = 1) -> Effect:  # fmt: skip
    """Claim 7 (early accuracy): per run with ``alpha != baseline``, its test accuracy after ``epoch`` minus that
    of the ``alpha = baseline`` run of the same seed; effect = mean over runs."""
    gains = []
    for run, base in _against_baseline(table, column, baseline):
        at, base_at = run[run["epoch"] == epoch], base[base["epoch"] == epoch]
        if len(at) and len(base_at):
            gains.append(float(at["test_acc"].iloc[0] - base_at["test_acc"].iloc[0]))
    return _mean_effect(
        gains, +1, claim="7a", statement=STATEMENTS["7a"],
        definition=f"mean over runs with alpha > {baseline:g} of the test accuracy after epoch {epoch} minus that of "
        f"the alpha = {baseline:g} run of the same seed", unit="runs",
    )  # fmt: skip


LANDSCAPE_MEASURES = {
    "local_minima": "the number of strict local minima on the 2-D loss surface",
    "second_difference": "the mean absolute second difference of the 2-D loss surface",
    "top_eigenvalue": "the top Hessian eigenvalue",
}
"""The ruggedness and curvature measures claim 6 is tested on (the first decides the claim's verdict)."""


def rugged_with_emergence(table: pd.DataFrame, measure: str = "local_minima") -> Effect:
    """Claim 6: Spearman correlation across networks (one row per network: ``log10_absolute`` and ``measure``)
    between log10 E and a ruggedness or curvature measure of the loss landscape at the same weights."""
    check_choice("measure", measure, LANDSCAPE_MEASURES)
    return _correlation_effect(
        table["log10_absolute"], table[measure], +1, claim="6" if measure == "local_minima" else f"6 ({measure})",
        statement=STATEMENTS["6"],
        definition=f"Spearman correlation across networks between log10 E and {LANDSCAPE_MEASURES[measure]}",
        unit="networks",
    )  # fmt: skip


def relative_emergence_claims(table: pd.DataFrame, method: str = "magnitude") -> list[Effect]:
    """Claim 4 on one pruning experiment (unpruned runs and runs pruned with ``method``): 4a across runs, 4b on
    the pruned runs."""
    c = PRUNE_COLUMNS
    pruned = table[(table[c["sparsity"]] > 0) & (table[c["method"]] == method)]
    return [relative_higher_when_pruned(table, method), falls_during_training(pruned, "log10_relative", claim="4b")]


def effects_table(effects: Sequence[Effect]) -> pd.DataFrame:
    """The effects as a table, one row per claim, rounded for reading."""
    frame = pd.DataFrame([e.as_row() for e in effects])
    return frame[["claim", "statement", "definition", "estimate", "low", "high", "n", "unit", "verdict"]]


def describe(effect: Effect, data: str | None = None) -> str:
    """One Markdown sentence stating the claim, what was measured, the interval and the verdict.

    Args:
        effect: the measured claim.
        data: the data really used (e.g. a :attr:`~emergence_lib.data.Dataset.source`), named in the sentence.
    """
    on = f" on {data}" if data else ""
    if np.isnan(effect.estimate):
        value = f"not computable ({effect.n} {effect.unit}): too few units, or a quantity that does not vary"
    else:
        interval = "no interval" if np.isnan(effect.low) else f"95% CI [{effect.low:.2f}, {effect.high:.2f}]"
        value = f"{effect.estimate:.2f}, {interval}, {effect.n} {effect.unit}"
    return f"**Claim {effect.claim}**: {effect.statement} Measured{on}: {effect.definition} = {value}: **{effect.verdict}**."


def emergence_claims(table: pd.DataFrame, paper: pd.DataFrame) -> list[Effect]:
    """Claims 1-3 on one experiment: 1 and 3a across every run of ``table`` (sizes x seeds); 2a, 2b and 3b on
    ``paper``, the runs of the paper's own size (a subset of ``table``)."""
    return [grows_with_size(table), falls_during_training(paper), zero_at_convergence(paper),
            early_emergence_predicts_performance(table), predicts_accuracy_change(paper)]  # fmt: skip


SHOWN_COLUMNS = ("experiment", "claim", "estimate", "low", "high", "n", "unit", "verdict", "fallback")
"""The columns of a verdicts table a chapter displays."""

VERDICT_COLUMNS = ("experiment", "setting", "claim", "statement", "definition", "estimate", "low", "high", "null",
                   "direction", "n", "unit", "verdict", "seeds", "data used", "fallback")  # fmt: skip
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
        table: the runs behind the effects (:func:`~emergence_lib.runs.results_table` rows).
    """
    seed = next((c for c in ("train.seed", "seed") if c in table), None)
    seeds = int(table[seed].nunique()) if seed else None
    sources = sorted(set(table["data_source"]))
    fallback = bool(table["fallback"].any())
    experiment = experiment_label(setting, table)
    return [{"experiment": experiment, "setting": setting, **e.as_row(), "seeds": seeds,
             "data used": "; ".join(sources), "fallback": fallback} for e in effects]  # fmt: skip


def _effect(row: pd.Series) -> Effect:
    return Effect(**{name: row[name] for name in Effect.__dataclass_fields__})


def summary(verdicts: pd.DataFrame, profile: str) -> str:
    """The Markdown a chapter prints under its verdicts: one sentence per row (:func:`describe`), a caveat naming
    the experiments computed on fallback data, and for the ``smoke`` profile a reminder that it decides nothing.

    Args:
        verdicts: rows of :func:`verdict_rows`.
        profile: the profile that computed them.
    """
    lines = [f"**What the numbers say** (computed when this page was built, profile `{profile}`):", ""]
    lines += [f"- {row['experiment']}: {describe(_effect(row), data=row['data used'])}" for _, row in verdicts.iterrows()]
    stand_ins = verdicts[verdicts["fallback"].astype(bool)].drop_duplicates("experiment")
    if len(stand_ins):
        named = "; ".join(f"{row['experiment']} used the {row['data used']}" for _, row in stand_ins.iterrows())
        lines += ["", f"**Data caveat.** Some datasets could not be loaded where this page was built: {named}. These "
                  "rows are not evidence about the datasets they stand in for; rebuild with the datasets available "
                  "(or with published `paper` results)."]  # fmt: skip
    if checks_only(profile):
        lines += ["", f"The `{profile}` profile only checks that the chapter runs: its few seeds and epochs decide nothing."]
    return "\n".join(lines)
