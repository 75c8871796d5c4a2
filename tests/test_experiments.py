"""The book's experiments as code: run counts and keys of every experiment for every profile, without executing
a notebook; the chapters call these functions instead of holding a second copy of a grid."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch

import emergence_lib as el
from emergence_lib import experiments
from emergence_lib.engine.prune import SPARSITIES

ROOT = Path(__file__).resolve().parents[1]
PROFILES = list(el.PROFILES)


def expected_counts(p: el.Profile) -> dict[str, int]:
    """Runs per experiment, from the profile's sizes and the experiments' constants."""
    levels = 1 + len(experiments.PRUNING_METHODS) * sum(s > 0 for s in SPARSITIES)
    return {
        "feedforward-mnist": p.seeds * len(p.widths) + (p.trajectory_seeds - p.seeds),
        "feedforward-fashion_mnist": p.seeds * len(p.widths) + (p.trajectory_seeds - p.seeds),
        "convolutional": p.seeds * len(p.widths),
        "convolutional-batchnorm": p.seeds,
        "pruning-mlp-mnist": p.seeds * levels,
        "pruning-mlp-fashion_mnist": p.seeds * levels,
        "pruning-cnn-cifar10": p.seeds * levels,
        "landscape": p.seeds * (len(experiments.LANDSCAPE_DEPTHS) * len(p.widths) * len(experiments.LANDSCAPE_SPARSITIES)
                                + len(experiments.LANDSCAPE_ALPHAS)),
        "initialization-mlp-mnist": p.seeds * 2 * len(experiments.INIT_ALPHAS),
        "initialization-cnn-cifar10": p.seeds * 2 * len(experiments.INIT_ALPHAS),
        "robustness": p.seeds * len(p.widths),
        "robustness-pruning": p.seeds * len(SPARSITIES),
        "your-network-mnist": p.seeds + 1,  # the residual MLP at every seed, one ResNet-18
        "training-paths": 2 * len(experiments.LANDSCAPE_SPARSITIES),  # one seed of the MLP and of the CNN
        "hessian-spectra": len(experiments.LANDSCAPE_SPARSITIES),  # the MLP runs of the training paths
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_every_experiment_has_the_runs_its_profile_asks_for(profile: str) -> None:
    found = {e.name: len(e.configs) for e in experiments.every(profile)}
    assert found == expected_counts(el.get_profile(profile))


@pytest.mark.parametrize("profile", PROFILES)
def test_names_are_unique_and_runs_are_shared_only_where_chapters_share_them(profile: str) -> None:
    every = experiments.every(profile)
    assert len({e.name for e in every}) == len(every)
    for e in every:
        assert len(set(e.keys)) == len(e.keys) and e.profile == profile
        briefly = [c for c in e.configs if c.model == "resnet18"]  # chapter your_network trains it briefly
        assert all(c.train.epochs == el.get_profile(profile).epochs for c in e.configs if c not in briefly)
        assert all(c.train.epochs == max(1, el.get_profile(profile).epochs // 5) for c in briefly)
    keys = {e.name: set(e.keys) for e in every}
    # the robustness chapter reads the feed-forward and pruning chapters' MLP runs, which measure its variants
    assert keys["robustness"] <= keys["feedforward-mnist"] and keys["robustness-pruning"] <= keys["pruning-mlp-mnist"]
    assert all(c.measures == experiments.VARIANTS for e in every if e.chapter in ("feedforward", "pruning", "landscape")
               for c in e.configs if c.model == "mlp" and c.init_alpha is None)  # fmt: skip
    # the landscape chapter's three-layer unpruned MLPs at the base initialization are the feed-forward chapter's
    assert keys["landscape"] & keys["feedforward-mnist"]
    # the landscape chapter's MLPs at the emergence-promoting alphas are the initialization chapter's (no batch norm)
    alphas = {c.key for e in every if e.name == "landscape" for c in e.configs if c.init_alpha is not None}
    assert len(alphas) == el.get_profile(profile).seeds * len(experiments.LANDSCAPE_ALPHAS)
    assert alphas <= keys["initialization-mlp-mnist"]
    # the pruning chapter's unpruned runs are the feed-forward and convolutional chapters' runs, trained once
    for pruning, dense in (("pruning-mlp-mnist", "feedforward-mnist"), ("pruning-cnn-cifar10", "convolutional")):
        unpruned = {c.key for e in every if e.name == pruning for c in e.configs if c.prune is None}
        assert len(unpruned) == el.get_profile(profile).seeds and unpruned <= keys[dense]


def test_initialization_cnns_without_batch_norm_have_none_whatever_the_profiles_default() -> None:
    """A profile may leave batch_norm to the builder, whose VGG and small CNN have it by default."""
    p = el.get_profile("smoke")
    p = dataclasses.replace(p, cnn=(p.cnn[0], {k: v for k, v in p.cnn[1].items() if k != "batch_norm"}))
    exp = experiments.initialization(p, "cnn", "mnist_subset")
    assert {(c.model_args["batch_norm"], labels["batch norm"]) for c, labels in zip(exp.configs, exp.labels)} == {
        (False, "no"), (True, "yes")}
    model = el.build_model(exp.configs[0].model, (1, 28, 28), 10, **exp.configs[0].model_args)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_run_keys_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to RunConfig.to_dict (or to a profile) that renames stored runs must fail here; when it is meant,
    bump RESULTS_VERSION and update the pin."""
    config = dataclasses.replace(experiments.feedforward("default", "mnist").configs[0], measures=None)
    assert (el.RESULTS_VERSION, config.key) == (6, "70a0aa3b6866b6c6")
    monkeypatch.setattr(el.runs, "RESULTS_VERSION", 2)  # the config's part of the key is unchanged since 0.1:
    assert config.key == "350adcb4ffb32d5b"  # the key version 2 stored it under, by the flat layout before 0.2


KEYS_OF_DEFAULT = {  # a digest of each experiment's sorted run keys under RESULTS_VERSION 2, profile "default"
    # (the pruning grids changed once, openly: their unpruned runs became the dense chapters' own runs; then the
    # MLP runs of the feed-forward, pruning and landscape grids took the robustness variants, to be shared; then the
    # initialization chapter's MLPs without batch norm stopped naming it, to share the landscape chapter's alphas)
    "feedforward-mnist": "f77716d4ec2bfdf7",  # 2026-12-01: MLP runs measure the variants
    "feedforward-fashion_mnist": "232b38f0ceb7b5cc",  # 2026-12-01: MLP runs measure the variants
    "convolutional": "1b1477051c6953f7",
    "convolutional-batchnorm": "23c3ac213e037f97",
    "pruning-mlp-mnist": "de92c7dffcdc5033",  # 2026-12-01: MLP runs measure the variants
    "pruning-mlp-fashion_mnist": "37466d2fdb958b82",  # 2026-12-01: MLP runs measure the variants
    "pruning-cnn-cifar10": "de9e676a8bb286a6",  # 2026-12-01: the unpruned runs are the dense chapters'
    "landscape": "6bca87663a95bb99",  # 2026-12-01: MLP runs measure the variants
    "initialization-mlp-mnist": "ef4e00d8ddf56b9b",  # 2026-12-02: no batch_norm argument without it (shared runs)
    "initialization-cnn-cifar10": "3735ffec4aa848b1",
    "robustness": "4028b4cedfffface",
    "robustness-pruning": "a6fc765ffa148072",  # 2026-12-01: the unpruned runs are the dense chapters'
    "your-network-mnist": "c5e69daf2276fdc4",  # 2026-12-01: ResNet-18 evaluates a quarter of the training subset
    "training-paths": "1477e3e03d9d6bad",  # 2026-12-01: new (issue 18), the landscape chapter's training paths
    "hessian-spectra": "a72994c53284001b",  # 2026-12-01: new (issue 18), the MLP runs of the training paths
}


def test_every_experiments_run_keys_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any drift in a grid (a model argument, a seed range, a pruning level) renames stored runs: it fails here."""
    monkeypatch.setattr(el.runs, "RESULTS_VERSION", 2)  # digests pinned under version 2: the grids are unchanged
    found = {e.name: hashlib.sha256(" ".join(sorted(e.keys)).encode()).hexdigest()[:16]
              for e in experiments.every("default")}
    assert found == KEYS_OF_DEFAULT


def test_labels_are_added_by_key_and_never_replace_a_column() -> None:
    import pandas as pd

    exp = experiments.convolutional("smoke")
    table = pd.DataFrame({"key": exp.keys[::-1], "epoch": 0})
    labelled = exp.with_labels(table)
    assert list(labelled["key"]) == exp.keys[::-1]  # the table's order
    assert list(labelled["width"]) == [w for w in el.get_profile("smoke").widths for _ in range(2)][::-1]
    with pytest.raises(ValueError, match="would replace different columns"):
        exp.with_labels(table.assign(width=3.0))
    same = exp.with_labels(labelled)  # a table that carries the labels already (e.g. published with them)
    assert list(same.columns) == list(labelled.columns) and same.equals(labelled)


def test_a_derived_experiment_publishes_no_histories_under_its_name() -> None:
    with pytest.raises(ValueError, match="derived table"):
        experiments.landscape("smoke").table()


def test_an_experiment_refuses_labels_that_do_not_match_its_runs() -> None:
    exp = experiments.convolutional("smoke")
    with pytest.raises(ValueError, match="labels for"):
        experiments.Experiment(exp.name, exp.chapter, exp.profile, exp.configs, exp.labels[:-1])
    with pytest.raises(ValueError, match="share a config"):
        experiments.Experiment(exp.name, exp.chapter, exp.profile, exp.configs[:1] * 2, exp.labels[:2])


def test_the_paper_profile_is_what_the_paper_trained() -> None:
    paper = experiments.convolutional("paper").configs[0]
    assert (paper.model, paper.model_args["config"], paper.train_size) == ("vgg", "vgg19", None)
    assert experiments.feedforward("paper", "mnist").labels[-1]["hidden widths"] == "512-256-128"


ONE_OF_EACH = {  # every experiment function, with arguments a chapter passes
    "feedforward": ("mnist",), "convolutional": (), "convolutional_batchnorm": (), "pruning": ("mlp", "mnist"),
    "landscape": (), "initialization": ("mlp", "mnist"), "robustness": (), "robustness_pruning": (),
    "your_network": (), "training_paths": (), "hessian_spectra": (),
}


@pytest.mark.parametrize("function", ONE_OF_EACH)
def test_each_experiment_is_run_by_its_chapter_through_the_library(function: str) -> None:
    chapter = getattr(experiments, function)("smoke", *ONE_OF_EACH[function]).chapter
    cells = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", 4).cells
    source = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert re.search(rf"experiments\.{function}\(", source), f"book/{chapter}.ipynb does not call experiments.{function}"


def test_every_experiment_function_is_checked() -> None:
    made = {e.name for e in experiments.every("smoke")}
    checked = {getattr(experiments, f)("smoke", *args).name for f, args in ONE_OF_EACH.items()}
    assert {name.split("-")[0] for name in made} <= {name.split("-")[0] for name in checked}


def test_the_scorecard_collects_the_chapters_the_experiments_name() -> None:
    assert el.scorecard.CHAPTERS is experiments.SCORED_CHAPTERS
    assert set(experiments.SCORED_CHAPTERS) <= {e.chapter for e in experiments.every("smoke")}


def test_at_initialization_measures_the_networks_the_runs_start_from() -> None:
    exp = experiments.initialization("smoke", "mlp", "mnist_subset")
    table = experiments.at_initialization(exp)
    layers = len(el.get_profile("smoke").mlp_hidden)
    assert len(table) == len(exp.configs) * layers and list(table["layer"][:layers]) == list(range(1, layers + 1))
    assert set(table["alpha"]) == {f"{a:g}" for a in experiments.INIT_ALPHAS}  # the experiment's labels
    config = exp.configs[-1]
    data = el.load_dataset(config.dataset, probe_size=config.probe_size)
    model = el.initial_model(config, data)
    row = table[table["key"] == config.key].iloc[0]
    assert row["log10_absolute"] == el.measure(model, data.probe).log10_absolute
    assert row["mean activation"] == pytest.approx(float(el.activity(model, data.probe).values[0].mean()))
    assert row["init_alpha"] == config.init_alpha and row["batch norm"] == "yes"


def test_measure_cost_times_once_per_machine_and_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild reads the timings back; another machine or other code times again, and so does ``refresh``."""
    monkeypatch.setenv(el.locations.ROOT_VARIABLE, str(tmp_path))
    timed = []
    real = experiments.measure
    monkeypatch.setattr(experiments, "measure", lambda *a, **k: timed.append(1) or real(*a, **k))
    first = experiments.measure_cost("smoke", repeats=1)
    assert len(timed) == len(first) == 3 and (first["seconds"] > 0).all()
    assert experiments.measure_cost("smoke", repeats=1).equals(first) and len(timed) == 3  # read back, not timed
    monkeypatch.setattr(experiments, "machine", lambda: {"processor": "another"})
    experiments.measure_cost("smoke", repeats=1)
    assert len(timed) == 6
    monkeypatch.setattr(experiments.fingerprint, "current", lambda: "other code")
    experiments.measure_cost("smoke", repeats=1)
    again = experiments.measure_cost("smoke", repeats=1, refresh=True)
    assert again.drop(columns="seconds").equals(first.drop(columns="seconds"))  # the same seeded networks
    assert len(timed) == 12
    assert len(list((tmp_path / "data" / "derived" / "smoke").glob("measure-cost-*.csv"))) == 3


@pytest.mark.filterwarnings("ignore::emergence_lib.engine.data.DatasetFallbackWarning")
def test_chapters_to_train_are_those_with_runs_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(el.locations.ROOT_VARIABLE, str(tmp_path))
    assert experiments.chapters_to_train("smoke", ["feedforward", "method"]) == {"feedforward"}
    experiments.feedforward("smoke", "mnist").runs(device="cpu", progress=False)
    # the Fashion-MNIST runs are still missing; the chapter skips them when their stand-in is the data just used
    fashion = el.load_dataset("fashion_mnist", probe_size=el.get_profile("smoke").probe_size)
    skipped = fashion.fallback and fashion.used == el.runs.data_used(
        el.load_run(el.runs.run_path(experiments.feedforward("smoke", "mnist").configs[0])))
    assert experiments.chapters_to_train("smoke", ["feedforward"]) == (set() if skipped else {"feedforward"})
    assert experiments.chapters_to_train("smoke", ["method"]) == set()


@pytest.mark.filterwarnings("ignore::emergence_lib.engine.data.DatasetFallbackWarning")
def test_planned_experiments_skip_a_dataset_whose_stand_in_is_taken_as_the_chapters_do(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    monkeypatch.setenv(el.locations.ROOT_VARIABLE, str(tmp_path))
    offline = {name: el.load_dataset(name).fallback for name in ("fashion_mnist", "cifar10")}
    names = {e.name for e in experiments.planned("smoke")}
    every = {e.name for e in experiments.every("smoke")}
    # Fashion-MNIST and CIFAR-10 stand in with MNIST's data here (offline); the chapters then skip them, and the
    # initialization chapter trains its CNN on MNIST
    skipped = {"feedforward-fashion_mnist", "pruning-mlp-fashion_mnist"} if offline["fashion_mnist"] else set()
    swapped = {"initialization-cnn-cifar10"} if offline["cifar10"] else set()
    assert names == every - skipped - swapped | {"initialization-cnn-mnist" for _ in swapped}
    assert experiments.initialization_networks(["mnist"]) == [("mlp", "mnist"), ("cnn", "mnist")]
    assert experiments.initialization_networks(["mnist", "cifar10"]) == [("mlp", "mnist"), ("cnn", "cifar10")]
    assert [e.name for e in experiments.planned("smoke", ["feedforward"])] == [
        "feedforward-mnist", *(["feedforward-fashion_mnist"] if not offline["fashion_mnist"] else [])]
    assert experiments.planned("smoke", ["method"]) == []  # a chapter without experiments


@pytest.mark.filterwarnings("ignore::emergence_lib.engine.data.DatasetFallbackWarning")
def test_runs_to_train_are_the_missing_ones_the_most_arithmetic_first(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(el.locations.ROOT_VARIABLE, str(tmp_path))
    chapters = ["your_network", "robustness"]
    todo = experiments.to_train("smoke", chapters)
    planned = {c.key for e in experiments.planned("smoke", chapters) for c in e.configs}
    assert {c.key for c in todo} == planned and len(todo) == len(planned)  # each once, though shared
    assert todo[0].model == "resnet18"  # far more arithmetic per sample than the MLPs, on a sixteenth of the data
    # the arithmetic: a linear layer's forward pass is a multiply and an add per weight
    assert experiments._forward_flops(torch.nn.Linear(784, 10), (784,)) == 2 * 784 * 10
    assert experiments.chapters_to_train("smoke", chapters) == set(chapters)
    trained = set()
    for e in experiments.planned("smoke", ["robustness"]):
        trained |= {run.config.key for run in e.runs(device="cpu", progress=False)}
    left = experiments.to_train("smoke", chapters)
    assert {c.key for c in left} == {c.key for c in todo} - trained and [c.model for c in left][0] == "resnet18"
    assert experiments.chapters_to_train("smoke", chapters) == {"your_network"}
    # published results are read, not trained
    el.runs.export_results(pd.DataFrame({"key": ["k"]}), experiments.your_network("smoke").name, "smoke")
    assert experiments.to_train("smoke", chapters) == [] and experiments.chapters_to_train("smoke", chapters) == set()
