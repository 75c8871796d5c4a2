"""Robustness of the metric: the layer-relative threshold, measurement variants recorded during training, the
variant view of a results table, the proxies and the partial correlation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn.utils import prune

import emergence_lib as el
from emergence_lib import claims, robustness
from emergence_lib.metric.graph import weight_norm
from emergence_lib.engine.train import Measures, check_variants


def small_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return el.mlp([20, 12, 10, 8, 3])


# --- the layer-relative threshold ---------------------------------------------------------------------------


@pytest.mark.parametrize("reduce", ["mean", "any", "per_sample"])
def test_layer_mean_threshold_compares_each_node_with_its_layer_mean(reduce: str) -> None:
    model, probe = small_mlp(), torch.randn(64, 20)
    act = el.activity(model, probe, threshold=0.5, reduce=reduce, threshold_mode="layer_mean")
    for values, active in zip(act.values, act.active):
        expected = values > 0.5 * values.mean(dim=-1, keepdim=True)  # per sample for per_sample
        assert torch.equal(active, expected)
    assert act.threshold_mode == "layer_mean"


def test_layer_mean_threshold_ignores_the_scale_of_the_activations() -> None:
    # Without biases a ReLU net is positively homogeneous: scaling the first layer scales every activation.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 12, bias=False), nn.ReLU(), nn.Linear(12, 10, bias=False), nn.ReLU(),
                          nn.Linear(10, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False))  # fmt: skip
    probe = torch.randn(64, 20)
    before = {mode: el.measure(model, probe, threshold=0.3, threshold_mode=mode) for mode in ("absolute", "layer_mean")}
    with torch.no_grad():
        model[0].weight.mul_(100.0)
    after = {mode: el.measure(model, probe, threshold=0.3, threshold_mode=mode) for mode in ("absolute", "layer_mean")}
    assert after["layer_mean"].active_counts == before["layer_mean"].active_counts
    assert after["absolute"].active_counts != before["absolute"].active_counts
    assert after["layer_mean"].threshold_mode == "layer_mean"


@pytest.mark.parametrize("bad", ["relative", "", None])
def test_bad_threshold_mode_names_the_allowed_values(bad) -> None:
    with pytest.raises(ValueError, match="threshold_mode.*'absolute', 'layer_mean'"):
        el.measure(small_mlp(), torch.randn(8, 20), threshold_mode=bad)


# --- variants measured during training ------------------------------------------------------------------------


def test_weight_norm_counts_only_unpruned_weights() -> None:
    model = small_mlp()
    weights = [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]
    assert weight_norm(model) == pytest.approx(float(torch.cat([w.flatten() for w in weights]).norm()))
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    prune.l1_unstructured(first, "weight", amount=0.5)
    kept = torch.cat([(first.weight_orig * first.weight_mask).detach().flatten()] + [w.flatten() for w in weights[1:]])
    assert weight_norm(model) == pytest.approx(float(kept.norm()))


def test_variant_columns_are_the_measure_of_the_same_network(digits: el.Dataset, tmp_path) -> None:
    variants = {"tau=0.1": {"threshold": 0.1}, "as default": {}, "out": {"layers": "hidden+output"}}
    train = el.TrainConfig(epochs=2, batch_size=64, max_batches=4)
    config = el.RunConfig(dataset="mnist_subset", model="mlp", model_args={"hidden": [32, 16]}, train=train,
                          train_size=1000, test_size=500, probe_size=128, measures=variants)  # fmt: skip
    run = el.execute(config, root=tmp_path, progress=False)
    last = run.history.iloc[-1]
    model, probe = run.model(), el.load_dataset("mnist_subset", train_size=1000, test_size=500, probe_size=128).probe
    assert last["tau=0.1/log10_absolute"] == pytest.approx(el.measure(model, probe, threshold=0.1).log10_absolute)
    out = el.measure(model, probe, layers="hidden+output")
    assert last["out/active_3"] == out.active_counts[2] and last["out/size_3"] == 10
    same = run.history[[c for c in run.history if c.startswith("as default/")]].rename(columns=lambda c: c.split("/")[1])
    assert np.allclose(same["log10_absolute"], run.history["log10_absolute"])
    assert run.history["weight_norm"].notna().all()
    # measures is part of the key, and a config without it keeps the key it always had
    assert config.key != dataclasses.replace(config, measures=None).key
    assert "measures" not in dataclasses.replace(config, measures=None).to_dict()
    assert el.RunConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ({"a/b": {}}, "without '/'"),
        ({"x": {"tau": 0.1}}, "allowed settings: threshold, threshold_mode, reduce, layers, through"),
        ({"x": {"reduce": "median"}}, "'mean', 'any', 'per_sample'"),
        ({"x": {"threshold_mode": "relative"}}, "'absolute', 'layer_mean'"),
        ({"x": {"threshold": -1}}, "threshold must be a finite number"),
        ({}, "non-empty"),
    ],
)
def test_bad_variants_are_refused_when_the_config_is_made(variants, message) -> None:
    with pytest.raises(ValueError, match=message):
        el.RunConfig(measures=variants)
    with pytest.raises(ValueError, match=message):
        Measures(variants)


def test_the_book_variants_are_valid_and_change_one_choice_each() -> None:
    assert check_variants(robustness.VARIANTS) is robustness.VARIANTS
    defaults = {"threshold": 0.05, "threshold_mode": "absolute", "reduce": "mean", "layers": "hidden", "through": "any"}
    for label, settings in robustness.VARIANTS.items():
        changed = {k for k, v in settings.items() if v != defaults[k]}
        assert changed and changed <= set(defaults), label
        assert len(changed) == 1 or changed == {"threshold", "threshold_mode"}, label


# --- the variant view and the claims under each variant ---------------------------------------------------------


def history(key: str, default: list[float], variant: list[float], acc: list[float], seed: int = 0) -> pd.DataFrame:
    n = len(default)
    return pd.DataFrame({
        "key": key, "epoch": range(n), "train.seed": seed, "train_acc": acc, "test_acc": acc, "log10_absolute": default,
        "fraction": [0.1] * n, "n_weights": 100, "active_1": 5.0, "size_1": 10,
        "v/log10_absolute": variant, "v/fraction": [0.1] * n, "v/n_weights": 100, "v/active_1": 4.0, "v/size_1": 10,
    })  # fmt: skip


def test_variant_swaps_the_columns_and_names_the_available_ones() -> None:
    table = history("a", [3, 2, 1], [1, 2, 3], [0.1, 0.5, 0.9])
    view = robustness.variant(table, "v")
    assert list(view["log10_absolute"]) == [1, 2, 3] and list(view["active_1"]) == [4.0] * 3
    assert not any("/" in c for c in view.columns) and list(view["train_acc"]) == [0.1, 0.5, 0.9]
    assert list(robustness.variant(table, robustness.DEFAULT)["log10_absolute"]) == [3, 2, 1]
    with pytest.raises(ValueError, match="'tau=0.05 \\(default\\)', 'v'"):
        robustness.variant(table, "tau=0")


def test_claims_by_variant_shows_a_verdict_that_flips() -> None:
    table = pd.concat([history(f"r{s}", [5, 4, 3, 2 + 0.1 * s], [1, 2, 3, 4 + 0.1 * s], [0.1, 0.5, 0.8, 0.9], s)
                       for s in range(5)], ignore_index=True)  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(robustness, "VARIANTS", {"v": {"threshold": 0.1}})
        grid = robustness.claims_by_variant(table, lambda t: claims.emergence_claims(t, paper=t))
    falls = grid[grid["claim"] == "2a"].set_index("variant")["verdict"]
    assert falls[robustness.DEFAULT] == "supported" and falls["v"] == "contradicted"
    assert set(grid["claim"]) == {"1", "2a", "2b", "3a", "3b"}
    table = robustness.verdict_grid(grid)
    assert list(table.columns) == [robustness.DEFAULT, "v"] and table.loc["2a", "v"].endswith("contradicted")
    lines = robustness.verdict_changes(grid)
    assert "Claim 2a: **supported** under the default definition, but v: contradicted." in lines
    unchanged = sum((grid["claim"] == c).any() and len(set(grid[grid["claim"] == c]["verdict"])) == 1
                    for c in set(grid["claim"]))  # fmt: skip
    assert lines[-1] == f"{unchanged} of 5 verdicts are the same under all 1 variants."
    runs = pd.DataFrame({"key": ["r0", "r0", "r1"], "data_source": "real MNIST"})
    summary = robustness.changes_summary(grid, runs, "smoke")
    assert summary.startswith("**What the numbers say** (profile `smoke`, 2 runs on the real MNIST):\n\n")
    assert summary.endswith("\n".join(f"- {line}" for line in lines))


# --- proxies and partial correlation ------------------------------------------------------------------------------


def test_partial_correlation_matches_the_first_order_formula() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=300)
    x, y = z + rng.normal(size=300), 0.5 * z + rng.normal(size=300) + 0.3 * rng.normal(size=300)
    rxy, rxz, ryz = np.corrcoef([x, y, z])[[0, 0, 1], [1, 2, 2]]
    formula = (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert robustness.partial_correlation(x, y, z, rank=False) == pytest.approx(formula)
    ranks = [stats.rankdata(v) for v in (x, y, z)]
    rxy, rxz, ryz = np.corrcoef(ranks)[[0, 0, 1], [1, 2, 2]]
    spearman_formula = (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert robustness.partial_correlation(x, y, z) == pytest.approx(spearman_formula)
    # ranks make it blind to monotone transforms of any variable
    assert robustness.partial_correlation(np.exp(x), y, z**3) == pytest.approx(spearman_formula)


def test_a_common_cause_explains_the_correlation_away() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=400)
    x, y = z + 0.2 * rng.normal(size=400), z + 0.2 * rng.normal(size=400)
    assert stats.spearmanr(x, y).statistic > 0.9
    assert abs(robustness.partial_correlation(x, y, z)) < 0.15
    assert robustness.explained_share(x, z) > 0.9 and robustness.explained_share(rng.normal(size=400), z) < 0.05
    assert np.isnan(robustness.partial_correlation(x[:4], y[:4], np.column_stack([z, z**2])[:4]))  # too few points


def per_run_table(acc_from_e: bool, n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dead_first = rng.uniform(0.1, 0.6, n)
    own = rng.normal(size=n)  # what E knows beyond the proxies
    log_e = 3 + dead_first + (own if acc_from_e else 0) + 0.05 * rng.normal(size=n)
    acc = 0.9 + 0.02 * (own if acc_from_e else dead_first * 5) + 0.002 * rng.normal(size=n)
    return pd.DataFrame({"seed": np.arange(n) % 5, "log10_absolute": log_e, "dead_first": dead_first, "dead_last": rng.uniform(0, 0.2, n),
                         "n_weights": rng.integers(100, 1000, n), "weight_norm": rng.uniform(5, 10, n),
                         "final_acc": acc})  # fmt: skip


def test_beyond_proxies_tells_apart_information_and_restatement() -> None:
    informative = robustness.beyond_proxies(per_run_table(acc_from_e=True))
    assert informative.verdict == "supported" and informative.n == 30 and informative.estimate > 0.8
    restating = robustness.beyond_proxies(per_run_table(acc_from_e=False), columns=["dead_first"])
    assert restating.verdict != "supported" and abs(restating.estimate) < 0.4
    with pytest.raises(ValueError, match="allowed values: 'dead_first'"):
        robustness.beyond_proxies(per_run_table(True), columns=["depth"])
    table = robustness.predictors(per_run_table(acc_from_e=True))
    assert list(table["runs"]) == [30] * 5 and table.iloc[0]["Spearman with final accuracy, within seeds"] > 0.8
    assert list(table["seeds"]) == [5] * 5 and (table["low"] < table["Spearman with final accuracy, within seeds"]).all()


def test_beyond_proxies_counts_runs_with_e_zero_and_shows_the_first_registered_rule() -> None:
    # The book's one rule for E = 0: the lowest value, not dropped (the first-registered rule dropped such runs).
    runs = per_run_table(acc_from_e=True)
    lowest = runs["log10_absolute"].idxmin()
    runs.loc[lowest, "log10_absolute"] = -np.inf
    effect = robustness.beyond_proxies(runs)
    assert effect.n == 30 and effect.registered.n == 29 and effect.registered.unit == "runs"
    assert effect.estimate == pytest.approx(robustness.beyond_proxies(per_run_table(acc_from_e=True)).estimate)


def test_seed_levels_do_not_make_a_correlation_within_seeds() -> None:
    # Runs of one seed share its level of x and y: pooled, they correlate; within seeds, they do not.
    rng = np.random.default_rng(3)
    seeds = np.repeat(np.arange(5), 4)
    level = rng.normal(size=5)[seeds] * 5
    runs = pd.DataFrame({"seed": seeds, "log10_absolute": level + rng.normal(size=20),
                         "final_acc": level + rng.normal(size=20)})
    assert stats.spearmanr(runs["log10_absolute"], runs["final_acc"]).statistic > 0.7
    rho, low, high = robustness._within_seeds(runs, "log10_absolute", "final_acc")
    assert low < 0 < high and abs(rho) < 0.5


def test_proxies_reads_dead_shares_of_the_first_and_last_counted_layer() -> None:
    rows = []
    for epoch, (a1, a3) in enumerate([(10, 2), (6, 3), (4, 4)]):
        rows.append({"key": "r", "epoch": epoch, "train.seed": 0, "log10_absolute": float(epoch), "active_1": a1, "size_1": 10,
                     "active_2": 5, "size_2": 5, "active_3": a3, "size_3": 4, "n_weights": 70, "weight_norm": 2.0,
                     "test_acc": 0.5 + 0.1 * epoch})  # fmt: skip
    per_run = robustness.proxies(pd.DataFrame(rows), epoch=1)
    row = per_run.iloc[0]
    assert (row["dead_first"], row["dead_last"], row["final_acc"], row["log10_absolute"]) == (0.4, 0.25, 0.7, 1.0)


def test_inactive_share_counts_every_counted_layer() -> None:
    table = pd.DataFrame({"active_1": [3, 10], "size_1": [10, 10], "active_2": [1, 5], "size_2": [10, 5]},
                         index=[7, 8])
    share = robustness.inactive_share(table)
    assert list(share.index) == [7, 8]
    assert share.tolist() == pytest.approx([1 - 4 / 20, 1 - 15 / 15])
