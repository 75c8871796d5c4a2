"""The reproduction scorecard: chapters' verdicts stored, read back with published `paper` verdicts first, and one
row per claim taken from the recorded numbers (never retyped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emergence_lib as el
from emergence_lib import claims, scorecard


def runs_table(fallback: bool, seeds: int = 5, dataset: str = "mnist") -> pd.DataFrame:
    """A results table whose runs' log10 E falls over epochs (claim 2a supported) on some data."""
    frames = [pd.DataFrame({"key": f"r{s}", "epoch": range(4), "log10_absolute": [5, 4, 3, 2 + 0.1 * s],
                            "train.seed": s, "data_source": "the real digits" if not fallback else "a stand-in",
                            "fallback": fallback, "dataset": dataset,
                            "data_used": "mnist_subset" if fallback else dataset}) for s in range(seeds)]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def verdicts(setting: str = "MLP on mnist", fallback: bool = False) -> pd.DataFrame:
    table = runs_table(fallback, dataset=setting.split(" on ")[1])
    return pd.DataFrame(claims.verdict_rows([claims.falls_during_training(table)], setting, table))


def test_experiment_labels_name_the_data_really_used() -> None:
    # Issue 12, fix 7: rows computed on the MNIST stand-in must not read "CNN on cifar10".
    assert verdicts("CNN on cifar10", fallback=True)["experiment"].iloc[0] == "CNN on mnist_subset (stand-in for cifar10)"
    assert verdicts("CNN on cifar10", fallback=True)["setting"].iloc[0] == "CNN on cifar10"
    assert verdicts("MLP on fashion_mnist")["experiment"].iloc[0] == "MLP on fashion_mnist"
    table = runs_table(True, dataset="mnist")
    label = claims.experiment_label("MLP on mnist, batch norm; MLP on fashion_mnist", table)
    assert label == "MLP on mnist_subset (stand-in for mnist), batch norm; MLP on fashion_mnist"
    assert claims.experiment_label("MLP on mnist", table.drop(columns="data_used")) == "MLP on mnist (stand-in data)"


def test_verdict_rows_carry_the_effect_seeds_and_data() -> None:
    row = verdicts(fallback=True).iloc[0]
    effect = claims.falls_during_training(runs_table(True))
    assert (row["claim"], row["estimate"], row["low"], row["high"]) == ("2a", effect.estimate, effect.low, effect.high)
    assert (row["seeds"], row["data used"], row["fallback"], row["verdict"]) == (5, "a stand-in", True, "supported")
    assert list(verdicts().columns) == list(claims.VERDICT_COLUMNS)


def test_summary_states_every_row_and_flags_fallback_and_smoke() -> None:
    both = pd.concat([verdicts(), verdicts("MLP on cifar10", fallback=True)], ignore_index=True)
    text = claims.summary(both, "smoke")
    assert text.count("**Claim 2a**") == 2 and "MLP on mnist_subset (stand-in for cifar10) used the a stand-in" in text
    assert "decide nothing" in text
    clean = claims.summary(verdicts(), "default")
    assert "Data caveat" not in clean and "decide nothing" not in clean


def test_record_stores_atomically_with_chapter_profile_and_time(tmp_path: Path) -> None:
    path = scorecard.record(verdicts(), "feedforward", "default", root=tmp_path, results_root=tmp_path / "results")
    assert path == tmp_path / "verdicts" / "default" / "feedforward.csv"
    stored = pd.read_csv(path)
    assert (stored["chapter"].iloc[0], stored["profile"].iloc[0]) == ("feedforward", "default")
    assert stored["computed"].iloc[0].endswith("UTC")
    assert not (tmp_path / "results").exists()  # only paper verdicts are published
    assert [p.name for p in path.parent.iterdir()] == ["feedforward.csv"]  # no temporary file left behind


def test_bad_chapter_or_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allowed values: 'feedforward', 'convolutional'"):
        scorecard.record(verdicts(), "appendix", "default", root=tmp_path)
    with pytest.raises(ValueError, match="lack the columns.*seeds"):
        scorecard.record(verdicts().drop(columns="seeds"), "feedforward", "default", root=tmp_path)


def test_published_paper_verdicts_take_precedence(tmp_path: Path) -> None:
    kwargs = {"root": tmp_path / "data", "results_root": tmp_path / "results"}
    scorecard.record(verdicts(), "feedforward", "default", **kwargs)
    scorecard.record(verdicts("MLP on cifar10"), "feedforward", "paper", **kwargs)  # published
    scorecard.record(verdicts(), "pruning", "default", **kwargs)
    assert (tmp_path / "results" / "paper" / "verdicts-feedforward.csv").is_file()
    loaded = scorecard.load_verdicts("default", **kwargs)
    assert dict(zip(loaded["chapter"], loaded["profile"])) == {"feedforward": "paper", "pruning": "default"}
    assert list(loaded[loaded["chapter"] == "feedforward"]["setting"]) == ["MLP on cifar10"]
    empty = scorecard.load_verdicts("smoke", root=tmp_path / "none", results_root=tmp_path / "none")
    assert empty.empty and "verdict" in empty


def test_scorecard_has_one_row_per_claim_from_the_recorded_numbers(tmp_path: Path) -> None:
    kwargs = {"root": tmp_path, "results_root": tmp_path / "results"}
    recorded = verdicts(fallback=True)
    scorecard.record(pd.concat([recorded, verdicts("MLP on fashion_mnist")]), "feedforward", "default", **kwargs)
    card = scorecard.scorecard(scorecard.load_verdicts("default", **kwargs))
    assert list(card["claim"]) == list(claims.STATEMENTS)
    row = card.set_index("claim").loc["2a"]
    assert row["estimate"] == pytest.approx(recorded["estimate"].iloc[0])
    assert (row["low"], row["high"]) == pytest.approx((recorded["low"].iloc[0], recorded["high"].iloc[0]))
    assert (row["experiment"], row["verdict"], row["profile"], bool(row["fallback"])) == \
        ("MLP on mnist_subset (stand-in for mnist)", "supported", "default", True)  # fmt: skip
    missing = card.set_index("claim").loc["6"]
    assert missing["verdict"] == scorecard.NOT_COMPUTED and "landscape" in missing["definition"]
    assert np.isnan(missing["estimate"])


def test_every_claim_has_a_primary_experiment_in_a_recorded_chapter() -> None:
    assert set(scorecard.PRIMARY) == set(claims.STATEMENTS)
    assert {chapter for chapter, _ in scorecard.PRIMARY.values()} <= set(scorecard.CHAPTERS)


def test_only_real_data_with_a_deciding_profile_counts(tmp_path: Path) -> None:
    # Issue 13: stand-in rows never count, nor do smoke or dry-run rows; the tally says so plainly when none does.
    kwargs = {"root": tmp_path, "results_root": tmp_path / "results"}
    scorecard.record(verdicts(fallback=True), "feedforward", "default", **kwargs)
    card = scorecard.scorecard(scorecard.load_verdicts("default", **kwargs))
    assert not card["counts"].any()
    assert scorecard.tally(card).startswith("**No row counts as evidence in this build.**")
    scorecard.record(verdicts(), "feedforward", "default", **kwargs)  # real data
    card = scorecard.scorecard(scorecard.load_verdicts("default", **kwargs))
    assert list(card[card["counts"]]["claim"]) == ["2a"]
    assert scorecard.tally(card).startswith("**1 of 12 claims are decided on the paper's datasets**: 1 supported.")
    scorecard.record(verdicts(), "feedforward", "smoke", **kwargs)
    assert not scorecard.scorecard(scorecard.load_verdicts("smoke", **kwargs))["counts"].any()
    frame = pd.DataFrame({"fallback": [False, True, False], "profile": ["paper", "paper", "paper-dry-run"]})
    assert list(scorecard.counts(frame)) == [True, False, False]


def test_scorecard_shows_the_first_registered_verdict_beside_the_amended_one(tmp_path: Path) -> None:
    # E and the accuracy gain both fall steadily: supported as first registered, inconclusive as amended (3b).
    runs = pd.concat([pd.DataFrame({"key": f"r{s}", "epoch": range(6), "train.seed": s,
                                    "log10_absolute": [5, 4, 3, 2, 1, 0.5], "train_acc": [0.1, 0.5, 0.8, 0.9, 0.92, 0.93],
                                    "data_source": "the real digits", "fallback": False, "dataset": "mnist",
                                    "data_used": "mnist"}) for s in range(5)], ignore_index=True)  # fmt: skip
    rows = pd.DataFrame(claims.verdict_rows([claims.predicts_accuracy_change(runs)], "MLP on mnist", runs))
    kwargs = {"root": tmp_path, "results_root": tmp_path / "results"}
    scorecard.record(rows, "feedforward", "default", **kwargs)
    row = scorecard.scorecard(scorecard.load_verdicts("default", **kwargs)).set_index("claim").loc["3b"]
    assert (row["verdict"], row["registered_verdict"], row["registered_unit"]) == ("inconclusive", "supported", "runs")
    assert row["registered_estimate"] == pytest.approx(1.0) and row["rule"] == claims.RULE


def test_verdicts_stored_by_older_code_are_not_reused(tmp_path: Path) -> None:
    kwargs = {"root": tmp_path, "results_root": tmp_path / "results"}
    path = scorecard.record(verdicts(), "feedforward", "default", **kwargs)
    pd.read_csv(path).drop(columns=["registered_verdict"]).to_csv(path, index=False)
    with pytest.warns(UserWarning, match="computed by older code.*registered_verdict"):
        assert scorecard.load_verdicts("default", **kwargs).empty


def test_for_reading_shows_effect_counts_and_the_registered_verdict_where_it_differs(tmp_path: Path) -> None:
    kwargs = {"root": tmp_path, "results_root": tmp_path / "results"}
    scorecard.record(verdicts(), "feedforward", "default", **kwargs)
    shown = scorecard.for_reading(scorecard.scorecard(scorecard.load_verdicts("default", **kwargs))).set_index("claim")
    row = shown.loc["2a"]
    assert row["effect [95% CI]"] == f"{row['estimate']:.2f} [{row['low']:.2f}, {row['high']:.2f}]"
    assert (row["counts"], row["as first registered"]) == ("yes", "same")
    assert shown.loc["6", "effect [95% CI]"] == "" and shown.loc["6", "as first registered"] == ""


def test_compact_table_and_answer_for_a_reader() -> None:
    empty = pd.DataFrame(columns=["chapter", "setting", "claim", "fallback", "profile"])
    card = scorecard.scorecard(empty).astype(object)
    card.loc[0, ["estimate", "low", "high", "n", "verdict", "fallback", "counts", "registered_verdict"]] = [
        0.8, 0.6, 0.9, 5, "supported", False, True, "inconclusive"]
    table = scorecard.compact(card)
    assert list(table.columns)[-1] == "first registered" and table.loc[0, "first registered"] == "inconclusive"
    assert table.loc[0, "effect [95% CI]"] == "0.80 [0.60, 0.90]" and table.loc[0, "data"] == "real"
    assert table.loc[1, "data"] == "" and table.loc[1, "first registered"] == ""
    n = len(card)
    assert scorecard.answer(card) == (f"1 of {n} claims are decided on the paper's datasets: 1 supported; the other "
                                      f"{n - 1} do not count (stand-in data, a checks-only profile, or not computed).")


def test_rows_of_older_code_or_of_a_failed_chapter_are_flagged_and_never_count(tmp_path: Path) -> None:
    effect = claims.Effect("1", claims.STATEMENTS["1"], "d", 0.8, 0.6, 0.9, 0.0, 1, 5, "seeds", "supported")
    runs = pd.DataFrame({"train.seed": [0], "data_source": ["MNIST"], "fallback": [False], "dataset": ["mnist"],
                         "data_used": ["mnist"]})
    scorecard.record(pd.DataFrame(claims.verdict_rows([effect], "MLP on mnist", runs)), "feedforward", "default",
                     root=tmp_path, results_root=tmp_path / "results")  # fmt: skip
    stored = scorecard.load_verdicts("default", root=tmp_path, results_root=tmp_path / "results")
    assert list(stored["results_version"]) == [el.RESULTS_VERSION]  # the code that computed them is kept
    fresh = scorecard.scorecard(stored)
    assert fresh.loc[0, "flag"] == "" and bool(fresh.loc[0, "counts"])
    older = scorecard.scorecard(stored.assign(results_version=el.RESULTS_VERSION - 1))
    assert "older code" in older.loc[0, "flag"] and not older.loc[0, "counts"]
    unknown = scorecard.scorecard(stored.drop(columns="results_version"))
    assert "before versions were recorded" in unknown.loc[0, "flag"]
    failed = scorecard.scorecard(stored, failed=["feedforward"])
    assert "failed in this build" in failed.loc[0, "flag"] and not failed.loc[0, "counts"]
    assert "flag" in scorecard.compact(failed) and "flag" not in scorecard.compact(fresh)
