"""The verdict rule and the operational definitions of the claims, on tables whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emergence_lib import claims


def table(runs: list[dict[str, list[float]]]) -> pd.DataFrame:
    """A long results table from per-run columns (each run: lists of equal length, one value per epoch)."""
    frames = []
    for i, columns in enumerate(runs):
        n = len(next(iter(columns.values())))
        frames.append(pd.DataFrame({"key": f"run{i}", "epoch": range(n), **columns}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(
    ("low", "high", "direction", "n", "null", "expected"),
    [
        (0.1, 0.5, +1, 5, 0.0, "supported"),
        (0.1, 0.5, -1, 5, 0.0, "contradicted"),
        (-0.5, -0.1, -1, 5, 0.0, "supported"),
        (-0.5, -0.1, +1, 5, 0.0, "contradicted"),
        (-0.1, 0.5, +1, 5, 0.0, "inconclusive"),
        (0.1, 0.5, +1, 4, 0.0, "inconclusive"),  # too few units for a verdict
        (0.6, 0.9, +1, 5, 0.5, "supported"),
        (0.3, 0.9, +1, 5, 0.5, "inconclusive"),
        (float("nan"), float("nan"), +1, 5, 0.0, "inconclusive"),
    ],
)
def test_verdict_rule(low, high, direction, n, null, expected) -> None:
    assert claims.verdict(low, high, direction, n, null) == expected


def test_verdict_refuses_a_direction_that_is_not_a_sign() -> None:
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        claims.verdict(0.1, 0.2, 0, 5)


def test_bootstrap_ci_covers_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 10), rng.normal(1.0, 1.0, 400)
    lo_s, hi_s = claims.bootstrap_ci(small)
    lo_l, hi_l = claims.bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3
    # close to the t interval for a normal sample
    t_lo, t_hi = stats.t.interval(0.95, len(large) - 1, large.mean(), stats.sem(large))
    assert lo_l == pytest.approx(t_lo, abs=0.03) and hi_l == pytest.approx(t_hi, abs=0.03)
    assert all(np.isnan(claims.bootstrap_ci([1.0, 2.0, 3.0, 4.0])))  # fewer than MIN_UNITS values
    assert claims.bootstrap_ci([-1.0] * 5) == (-1.0, -1.0)


@pytest.mark.parametrize(
    ("acc", "expected"),
    [
        ([0.1, 0.5, 0.8, 0.9, 0.9, 0.9, 0.9], 3),
        ([0.1, 0.5, 0.8, 0.9, 0.9, 0.903, 0.904], 3),  # rises of 0.3 and 0.4 points are within tolerance
        ([0.1, 0.5, 0.8, 0.9, 0.9, 0.9, 0.91], None),  # still rising by 1 point at the end
        ([0.5, 0.9, 0.8, 0.88, 0.9, 0.9], 4),  # a dip: the recovery (0.8 -> 0.9) counts as a rise
        ([0.1, 0.2], None),
    ],
)
def test_convergence_epoch(acc: list[float], expected: int | None) -> None:
    assert claims.convergence_epoch(acc) == expected


def test_convergence_epoch_looks_three_epochs_ahead() -> None:
    # 0.2 points per epoch: never more than 0.5 in one step, but 0.6 within three epochs
    acc = [0.9, 0.902, 0.904, 0.906, 0.906, 0.906, 0.906]
    assert claims.convergence_epoch(acc) == 1  # from epoch 1 the gains within 3 epochs are at most 0.4 points


def test_falls_during_training() -> None:
    falling = [{"log10_absolute": [5, 4, 3, 2.5 + 0.1 * s]} for s in range(5)]
    effect = claims.falls_during_training(table(falling))
    assert effect.estimate == pytest.approx(-1.0) and effect.n == 5 and effect.verdict == "supported"
    rising = [{"log10_absolute": [1, 2, 3, 4]} for _ in range(5)]
    assert claims.falls_during_training(table(rising)).verdict == "contradicted"
    few = [{"log10_absolute": [5, 4, 3]} for _ in range(4)]
    assert claims.falls_during_training(table(few)).verdict == "inconclusive"


def test_grows_with_size() -> None:
    runs = [{"n_weights": [w] * 3, "log10_absolute": [1, 2, np.log10(w) + 0.01 * s]}
            for w in (100, 1000, 10000, 100000) for s in range(2)]  # fmt: skip
    effect = claims.grows_with_size(table(runs))
    assert effect.estimate == pytest.approx(stats.spearmanr([2, 2, 3, 3, 4, 4, 5, 5], range(8)).statistic)
    assert effect.n == 8 and effect.verdict == "supported"


def test_zero_at_convergence() -> None:
    converge_at_3 = [0.1, 0.5, 0.8, 0.9, 0.9, 0.9, 0.9]
    hit = {"train_acc": converge_at_3, "fraction": [0.5, 0.3, 0.1, 0.004, 0.001, 0.0, 0.0]}  # < 1% at epoch 3
    late = {"train_acc": converge_at_3, "fraction": [0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.001]}  # < 1% at epoch 6
    never = {"train_acc": [0.1, 0.2, 0.3, 0.4], "fraction": [0.5, 0.0, 0.0, 0.0]}  # not converged: left out
    effect = claims.zero_at_convergence(table([hit] * 6 + [never]))
    assert (effect.estimate, effect.n, effect.verdict) == (1.0, 6, "supported")
    effect = claims.zero_at_convergence(table([late] * 6))
    assert (effect.estimate, effect.verdict) == (0.0, "contradicted")
    effect = claims.zero_at_convergence(table([hit, late] * 3))
    assert effect.estimate == 0.5 and effect.verdict == "inconclusive"
    ci = stats.binomtest(3, 6).proportion_ci(0.95, method="exact")
    assert (effect.low, effect.high) == pytest.approx((ci.low, ci.high))


def test_predicts_accuracy_change() -> None:
    # E falls and the accuracy gain falls with it: positive correlation between E_t and acc_{t+1} - acc_t
    run = {"log10_absolute": [5, 4, 3, 2, 1], "train_acc": [0.1, 0.5, 0.8, 0.9, 0.92]}
    effect = claims.predicts_accuracy_change(table([run] * 5))
    assert effect.estimate == pytest.approx(1.0) and effect.verdict == "supported"
    backwards = {"log10_absolute": [1, 2, 3, 4, 5], "train_acc": [0.1, 0.5, 0.8, 0.9, 0.92]}
    assert claims.predicts_accuracy_change(table([backwards] * 5)).verdict == "contradicted"


def test_early_emergence_predicts_performance() -> None:
    runs = [{"log10_absolute": [9, e, 1], "test_acc": [0.1, 0.5, a]} for e, a in
            [(1, 0.80), (2, 0.85), (3, 0.90), (4, 0.91), (5, 0.95), (6, 0.97)]]  # fmt: skip
    effect = claims.early_emergence_predicts_performance(table(runs))
    assert effect.estimate == pytest.approx(1.0) and effect.verdict == "supported" and effect.n == 6


def test_effects_table_has_one_row_per_claim() -> None:
    runs = table([{"log10_absolute": [3, 2, 1], "n_weights": [10] * 3} for _ in range(5)])
    frame = claims.effects_table([claims.falls_during_training(runs), claims.grows_with_size(runs)])
    assert list(frame["claim"]) == ["2a", "1"] and set(frame["verdict"]) <= set(claims.VERDICTS)
    assert frame.loc[1, "verdict"] == "inconclusive"  # every run has the same size: nothing to correlate


def test_describe_states_value_interval_units_and_verdict() -> None:
    effect = claims.falls_during_training(table([{"log10_absolute": [5, 4, 3, 2.5 + 0.1 * s]} for s in range(5)]))
    text = claims.describe(effect, data="MNIST")
    assert text.startswith("**Claim 2a**") and "on MNIST" in text and "-1.00" in text and "5 runs" in text
    assert text.endswith("**supported**.")
    empty = claims.zero_at_convergence(table([{"train_acc": [0.1, 0.2], "fraction": [0.5, 0.4]}]))
    assert "not computable (0 converged runs)" in claims.describe(empty)
    constant = claims.grows_with_size(table([{"log10_absolute": [3, 2, 1], "n_weights": [10] * 3}] * 5))
    assert "not computable (5 runs): too few units, or a quantity that does not vary" in claims.describe(constant)


def pruning_table(finals: dict[float, float], curves: dict[float, list[float]], seeds: int = 5) -> pd.DataFrame:
    """Runs at several sparsities (magnitude) per seed, with given test-accuracy curves and log10 relative E."""
    runs = []
    for seed in range(seeds):
        for sparsity, curve in curves.items():
            runs.append({"test_acc": curve, "log10_relative": [sparsity + 0.01 * seed + 0.1 * e for e in range(4)],
                         "prune.sparsity": [sparsity] * 4, "prune.method": ["magnitude"] * 4,
                         "train.seed": [seed] * 4})  # fmt: skip
    return table(runs)


def test_epochs_to_reach() -> None:
    assert claims.epochs_to_reach([0.1, 0.5, 0.9, 0.95], 0.9) == 2
    assert claims.epochs_to_reach([0.1, 0.5], 0.9) is None


def test_pruning_claims_on_known_curves() -> None:
    curves = {0.0: [0.1, 0.5, 0.8, 0.9], 0.5: [0.1, 0.9, 0.9, 0.88], 0.9: [0.1, 0.2, 0.3, 0.4]}
    t = pruning_table({}, curves)
    # unpruned: 95% of 0.9 is 0.855, first reached at epoch 3; sparsity 0.5 reaches it at epoch 1 (gain 2);
    # sparsity 0.9 never reaches it: counted as epoch 4 (gain -1). Mean over 10 pruned runs: 0.5.
    speed = claims.pruning_speeds_convergence(t)
    assert speed.estimate == pytest.approx(0.5) and speed.n == 10 and speed.unit == "pruned runs"
    drop = claims.pruning_lowers_accuracy(t)
    assert drop.estimate == pytest.approx(((0.88 - 0.9) + (0.4 - 0.9)) / 2) and drop.verdict == "supported"
    higher = claims.relative_higher_when_pruned(t)
    assert higher.estimate > 0.9 and higher.verdict == "supported" and higher.n == 15


def test_pruning_claims_ignore_other_methods_and_missing_baselines() -> None:
    t = pruning_table({}, {0.0: [0.1, 0.5, 0.8, 0.9], 0.5: [0.1, 0.9, 0.9, 0.9]})
    t.loc[t["prune.sparsity"] > 0, "prune.method"] = "random"
    assert claims.pruning_lowers_accuracy(t).n == 0
    assert claims.pruning_lowers_accuracy(t, method="random").n == 5
    no_base = t[t["prune.sparsity"] > 0]
    assert claims.pruning_speeds_convergence(no_base, method="random").n == 0


def test_rugged_with_emergence() -> None:
    networks = pd.DataFrame({"log10_absolute": [1, 2, 3, 4, 5, 6], "local_minima": [0, 1, 1, 2, 3, 5],
                             "second_difference": [6, 5, 4, 3, 2, 1], "top_eigenvalue": [1] * 6})  # fmt: skip
    assert claims.rugged_with_emergence(networks).verdict == "supported"
    effect = claims.rugged_with_emergence(networks, "second_difference")
    assert effect.claim == "6 (second_difference)" and effect.verdict == "contradicted"
    assert claims.rugged_with_emergence(networks, "top_eigenvalue").verdict == "inconclusive"  # constant
    with pytest.raises(ValueError, match="'local_minima', 'second_difference', 'top_eigenvalue'"):
        claims.rugged_with_emergence(networks, "trace")


def test_init_claims_against_alpha_one() -> None:
    runs = []
    for seed in range(5):
        for alpha, curve in [(1.0, [0.1, 0.5, 0.8, 0.9]), (2.0, [0.1, 0.7, 0.9, 0.9])]:
            runs.append({"test_acc": curve, "init_alpha": [alpha] * 4, "train.seed": [seed] * 4})
    t = table(runs)
    early = claims.init_improves_early_accuracy(t)
    assert early.estimate == pytest.approx(0.2) and early.n == 5 and early.verdict == "supported"
    speed = claims.init_speeds_convergence(t)  # target 0.855: alpha=1 at epoch 3, alpha=2 at epoch 2
    assert speed.estimate == pytest.approx(1.0) and speed.verdict == "supported"
