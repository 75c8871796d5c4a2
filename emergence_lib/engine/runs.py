"""Stored runs: a config (:class:`RunConfig`), a folder named by its hash, skip-if-done, sweeps.

Entry points: :func:`execute` (one run, trained once and stored), :func:`run_sweep` (many, in parallel) and
:func:`experiment` (a chapter's results table, read from the published results when they hold its runs). A
run's :attr:`~RunConfig.key` hashes its config with :data:`RESULTS_VERSION`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from .data import Dataset, DatasetFallbackWarning, load_dataset
from .locations import atomic_write_text, data_root as _data_folder, derived_path, results_path, runs_root as _runs_root
from .init import emergence_promoting
from .models import build_model
from .prune import PruneConfig, Pruner
from .train import (Measures, TrainConfig, TrainingDiverged, Trajectory, check_variants, progress_bar,
                    resolve_device, train)

RESULTS_VERSION = 6
"""Bump when a change to the code alters stored results: every run key changes and runs are redone. The code
each version was computed by is fingerprinted (:mod:`~emergence_lib.engine.fingerprint`; a test fails when the
code changes and the fingerprint is not recorded). 3 (2026-12-01): CPU runs use :data:`RUN_THREADS` thread(s),
so their numbers no longer depend on the machine's core count. 4 (2026-12-01): faster on a CPU, with numbers
that differ in the last bits (sums run in another order): convolutional networks trained in channels-last layout
(:func:`~emergence_lib.engine.train.channels_last`), evaluations in batches of
:data:`~emergence_lib.engine.train.EVAL_BATCH`, the probe pass of a network without BatchNorm in passes of
:data:`~emergence_lib.metric.activity.PROBE_BATCH` samples. 5 (2026-12-02): unstructured pruning chooses among weights
whose scores tie at the cut the first ones (:func:`~emergence_lib.engine.prune.magnitude`), where ``torch.topk`` left
them to its internal order, which may differ between devices; the same masks for every ``default`` run (all 147
pruned configs checked), another mask for 1 in 12 of the ``paper`` profile's pruned VGG-19s checked. 6
(2026-12-02): the test set is the head of one seeded order of the test split whose first samples are the probe
(:func:`~emergence_lib.load_dataset`; other test samples than before), so that training records the probe in the
test evaluation's forward pass; the probe pass runs convolutions in channels-last layout; path counts beyond
2**53 may differ in the last bit (all start layers counted in one pass)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results.

    Attributes:
        dataset: a name from :data:`~emergence_lib.engine.data.DATASETS`.
        model: a name from :data:`~emergence_lib.engine.models.MODELS` (``"mlp"``, ``"vgg"``, ``"small_cnn"``,
            ``"residual_mlp"``, ``"resnet18"``); built for the dataset's input shape and classes.
        model_args: keyword arguments of the model (e.g. ``{"hidden": [512, 256, 128]}``).
        train: the training hyper-parameters; ``train.seed`` also seeds the model's initialization.
        train_size, test_size: subset sizes (None: whole split).
        probe_size: samples in the probe batch.
        data_seed: seeds the subsets, the split of fallback data and the choice of the probe batch.
        tag: a free label for tables (part of the key, like every field).
        prune: how the network is pruned during training (see :class:`~emergence_lib.engine.prune.Pruner`); None for
            no pruning. An unpruned config's dict and key leave this field out, so they are what they were
            before pruning existed and stored runs keep their keys. A config that prunes nothing (sparsity 0)
            becomes None: it is the unpruned run, shared by every chapter that trains that network.
        init_alpha: when set, the network is re-initialized with the emergence-promoting scheme
            (:func:`~emergence_lib.engine.init.emergence_promoting`, He normal base) with this ``alpha``; left out of
            the key when None, like ``prune``.
        measures: extra emergence measurements per epoch, label -> settings of :func:`~emergence_lib.measure`
            (see :class:`~emergence_lib.engine.train.Measures`); their columns are ``"<label>/<column>"``. Left out of
            the key when None.
        trajectory: record the weights after every epoch (:class:`~emergence_lib.engine.train.Trajectory`), stored
            in float16 beside the final weights and read with :meth:`Run.trajectory`. Left out of the key when
            False: a run that records its path is another run (trained again, with the same numbers).
    """

    dataset: str = "mnist"
    model: str = "mlp"
    model_args: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    train_size: int | None = None
    test_size: int | None = None
    probe_size: int = 512
    data_seed: int = 0
    tag: str = ""
    prune: PruneConfig | None = None
    init_alpha: float | None = None
    measures: dict[str, dict] | None = None
    trajectory: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.trajectory, bool):
            raise ValueError(f"trajectory must be True or False; got {self.trajectory!r}")
        if self.measures is not None:
            check_variants(self.measures)
        if self.prune is not None and self.prune.sparsity == 0:  # prunes nothing: the unpruned run, under its key
            object.__setattr__(self, "prune", None)

    def to_dict(self) -> dict:
        """A JSON-ready dict (tuples become lists); optional fields left at None are left out, so adding such a
        field does not change the keys of existing runs."""
        d = dataclasses.asdict(self)
        for optional in ("prune", "init_alpha", "measures"):
            if d[optional] is None:
                del d[optional]
        if not d["trajectory"]:
            del d["trajectory"]
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Inverse of :meth:`to_dict`."""
        prune_config = d.get("prune")
        return cls(**{
            **d,
            "train": TrainConfig(**d["train"]),
            "prune": None if prune_config is None else PruneConfig(**prune_config),
        })  # fmt: skip

    @property
    def key(self) -> str:
        """Hash of the config and :data:`RESULTS_VERSION`: the run's folder name."""
        text = json.dumps({"results_version": RESULTS_VERSION, "config": self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Run:
    """A finished run read back from its folder."""

    config: RunConfig
    history: pd.DataFrame
    environment: dict
    path: Path

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The final weights (and pruning masks), loaded safely with ``weights_only=True``."""
        return torch.load(self.path / "state.pt", map_location="cpu", weights_only=True)

    def trajectory(self) -> dict[str, torch.Tensor]:
        """The weights after every epoch and before the first (a run of a config with ``trajectory=True``):
        effective parameter name -> ``(epochs + 1, *shape)`` float16 tensor (see
        :class:`~emergence_lib.engine.train.Trajectory`).

        Raises:
            ValueError: when the run did not record its trajectory.
        """
        path = self.path / "trajectory.pt"
        if not path.is_file():
            raise ValueError(f"run {self.config.key} did not record its weights per epoch: train a config with "
                             "trajectory=True (dataclasses.replace(config, trajectory=True))")
        return torch.load(path, map_location="cpu", weights_only=True)

    def model(self) -> nn.Module:
        """The trained model, rebuilt from the config, with its pruning masks re-applied."""
        torch.manual_seed(self.config.train.seed)
        model = build_model(
            self.config.model, self.environment["input_shape"], self.environment["num_classes"],
            background=self.environment.get("background"), **self.config.model_args,
        )  # fmt: skip
        state = self.state_dict()
        for key in state:
            if key.endswith("_mask"):
                module_name, _, param = key[: -len("_mask")].rpartition(".")
                prune.identity(model.get_submodule(module_name), param)  # creates <param>_orig and <param>_mask
        model.load_state_dict(state)
        for module in model.modules():  # the masked tensor is recomputed on forward only: refresh it now
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, prune.BasePruningMethod):
                    setattr(module, hook._tensor_name, hook.apply_mask(module))
        return model


def run_path(config: RunConfig, root: str | Path | None = None) -> Path:
    """Where the run of ``config`` is (or will be) stored: ``<root>/<key>`` (default root: ``data/runs``)."""
    return _runs_root(root) / config.key


def is_done(config: RunConfig, root: str | Path | None = None) -> bool:
    """Whether a complete run of ``config`` is stored."""
    return (run_path(config, root) / "history.csv").exists()


def load_run(path: str | Path) -> Run:
    """Read a stored run."""
    path = Path(path)
    meta = json.loads((path / "config.json").read_text())
    return Run(
        config=RunConfig.from_dict(meta["config"]),
        history=pd.read_csv(path / "history.csv"),
        environment=json.loads((path / "environment.json").read_text()),
        path=path,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(config: RunConfig, root: Path) -> None:
    """Remove temporary folders of this run left by processes that died mid-run."""
    for tmp in root.glob(f".tmp-{config.key}-*"):
        pid = int(tmp.name.split("-")[2])
        if not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: str, train_size, test_size, probe_size: int, seed: int, device: str):
    # Runs of a sweep share their data; training never modifies it.
    return load_dataset(
        name, root=root, train_size=train_size, test_size=test_size, probe_size=probe_size, seed=seed, device=device
    )


RUN_THREADS = 1
"""Torch threads a run uses on the CPU. A CPU run's numbers depend on the thread count (a sum split across
threads adds in another order), so every run uses the same count whatever the machine's cores and however many
runs go in parallel; sweeps use the cores by running one run per core (:func:`run_sweep`)."""


@contextmanager
def run_threads(device: torch.device | str) -> Iterator[None]:
    """Within: :data:`RUN_THREADS` torch threads when ``device`` is the CPU (restored afterwards)."""
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(RUN_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _environment(data, device: torch.device) -> dict:
    from .. import __version__

    return {
        "emergence_lib": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch_threads": RUN_THREADS if device.type == "cpu" else torch.get_num_threads(),  # see RUN_THREADS
        "data_source": data.source,
        "data_used": data.used,
        "fallback": bool(data.fallback),
        "input_shape": list(data.input_shape),
        "num_classes": int(data.num_classes),
        "background": list(data.background),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def initial_model(config: RunConfig, data: Dataset) -> nn.Module:
    """The network of ``config`` before training, exactly as :func:`execute` builds it: initialized from the
    training seed, padding small images with the data's background, re-initialized with the emergence-promoting
    scheme when ``config.init_alpha`` is set.

    Example:
        >>> import emergence_lib as el
        >>> config = el.get_profile("smoke").run_config("mnist_subset", "cnn", seed=3)
        >>> model = el.initial_model(config, el.load_dataset("mnist_subset"))
    """
    torch.manual_seed(config.train.seed)
    model = build_model(
        config.model, data.input_shape, data.num_classes, background=data.background, **config.model_args
    )
    if config.init_alpha is not None:
        emergence_promoting(model, config.init_alpha, base="kaiming")  # drawn from the seeded stream above
    return model


def execute(
    config: RunConfig,
    root: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> Run:
    """Run ``config`` unless it is already stored, and return the stored run (skip-if-done).

    The run's folder ``<root>/<key>/`` holds ``config.json``, ``history.csv`` (:func:`~emergence_lib.train`'s
    history), ``state.pt`` (the final ``state_dict``, pruning masks included), ``environment.json`` (versions,
    device, the data really used) and, when ``config.trajectory``, ``trajectory.pt`` (:meth:`Run.trajectory`). It
    is written under a temporary name and renamed in one step, so a folder that exists is complete: an
    interrupted run leaves only a ``.tmp-<key>-<pid>-*`` folder, never read, removed by the
    next attempt once its process is gone. When two processes store the same run, the first rename wins. A run
    whose loss diverges (:class:`~emergence_lib.engine.train.TrainingDiverged`) is an outcome, stored like any
    other with a ``diverged`` column, and not run again.

    Args:
        config: what to run.
        root: the runs folder (``data/runs``).
        data_root: the dataset cache (``data``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"`` (not part of the key).
        progress: show the training progress bar.

    Example:
        >>> import tempfile, emergence_lib as el
        >>> folder = tempfile.TemporaryDirectory()
        >>> config = el.get_profile("smoke").run_config("mnist_subset", "mlp", seed=0)
        >>> run = el.execute(config, root=folder.name, progress=False)  # trains (seconds), then stores
        >>> run.path.name == config.key, len(run.history)  # row 0: the network before training; one row per epoch
        (True, 3)
        >>> again = el.execute(config, root=folder.name, progress=False)  # stored: read back, not trained again
        >>> again.history.equals(run.history), again.environment["data_used"]
        (True, 'mnist_subset')
        >>> folder.cleanup()
    """
    root, data_root = _runs_root(root), _data_folder(data_root)
    path = run_path(config, root)
    if is_done(config, root):
        return load_run(path)
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale(config, root)
    device = resolve_device(device)
    data = _dataset(
        config.dataset, str(data_root), config.train_size, config.test_size, config.probe_size, config.data_seed, str(device)
    )
    callbacks = [] if config.prune is None else [Pruner(config.prune)]
    callbacks += [] if config.measures is None else [Measures(config.measures)]
    path_recorder = Trajectory() if config.trajectory else None
    callbacks += [] if path_recorder is None else [path_recorder]
    with run_threads(device):
        model = initial_model(config, data)
        try:
            history = train(model, data, config.train, callbacks=callbacks, device=device, progress=progress)
        except TrainingDiverged as diverged:  # an outcome of the experiment, stored like any other (and not rerun)
            print(f"run {config.key} diverged: {diverged}")
            history = diverged.history.assign(diverged=True)

    tmp = root / f".tmp-{config.key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / "config.json").write_text(
            json.dumps({"results_version": RESULTS_VERSION, "key": config.key, "config": config.to_dict()}, indent=1)
        )
        (tmp / "environment.json").write_text(json.dumps(_environment(data, device), indent=1))
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / "state.pt")
        if path_recorder is not None:
            torch.save(path_recorder.stacked(), tmp / "trajectory.pt")
        history.to_csv(tmp / "history.csv", index=False)  # written last: its presence marks a complete run
        try:
            tmp.rename(path)
        except OSError:  # another process stored the same run first; theirs is as good as ours
            if not is_done(config, root):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_run(path)


def _execute_quietly(config: RunConfig, root: str, data_root: str, device: str) -> str:
    with warnings.catch_warnings():
        # A worker's warnings reach the terminal, not the chapter; the fallback is announced by the caller (and
        # every run records the data it really used).
        warnings.simplefilter("ignore", DatasetFallbackWarning)
        return str(execute(config, root=root, data_root=data_root, device=device, progress=False).path)


def run_sweep(
    configs: Sequence[RunConfig],
    n_jobs: int = 1,
    root: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str = "auto",
    backend: str | None = None,
    progress: bool = True,
) -> list[Run]:
    """Run many configs, reusing stored runs, in parallel processes with joblib; one progress bar.

    Each config goes through :func:`execute` (a stored run is read, not run again), so an interrupted sweep
    resumes where it stopped.

    Args:
        configs: the runs (duplicates are run once).
        n_jobs: parallel workers (joblib's convention: -1 for all cores); 1 runs in this process. A run on the
            CPU uses :data:`RUN_THREADS` torch thread(s) wherever it runs, so one worker per core uses the machine
            and the numbers are those of a run in this process.
        root, data_root, device: as in :func:`execute`.
        backend: a joblib backend, e.g. ``"dask"`` to run on the ``dask.distributed.Client`` created beforehand
            (install the ``cluster`` extra); None for joblib's default (local processes). Not ``"threading"``
            with several workers: tracing a model (``torch.fx``) patches ``Module.__call__`` for every thread.
        progress: show the progress bar.

    Returns:
        The stored runs, in the order of ``configs``.
    """
    root, data_root = _runs_root(root).resolve(), _data_folder(data_root).resolve()  # workers may start elsewhere
    todo = [c for c in {c.key: c for c in configs}.values() if not is_done(c, root)]
    with progress_bar(total=len(todo), desc="runs", disable=not progress or not todo, leave=False) as bar:
        if n_jobs == 1 and backend is None:
            for config in todo:
                execute(config, root=root, data_root=data_root, device=device, progress=False)
                bar.update()
        else:
            backend_args = {} if backend is None else {"backend": backend}
            with joblib.parallel_config(n_jobs=n_jobs, **backend_args):
                jobs = joblib.Parallel(return_as="generator_unordered")(
                    joblib.delayed(_execute_quietly)(c, str(root), str(data_root), device) for c in todo
                )
                for _ in jobs:
                    bar.update()
    done = [load_run(run_path(c, root)) for c in configs]
    if todo and (n_jobs != 1 or backend is not None):  # the workers' fallback warnings stayed in the workers
        trained = {c.key for c in todo}
        for dataset, used in sorted({(r.config.dataset, data_used(r)) for r in done
                                     if r.config.key in trained and r.environment["fallback"]}):  # fmt: skip
            warnings.warn(f"{dataset!r} could not be used in the sweep's workers; they trained on {used!r} instead",
                          DatasetFallbackWarning, stacklevel=2)  # fmt: skip
    return done


def data_used(run: Run) -> str:
    """The dataset ``run`` really trained on: its config's dataset, or the stand-in it fell back to."""
    env = run.environment
    # runs stored before "data_used" existed fell back to the only stand-in there is
    return env.get("data_used", "mnist_subset" if env["fallback"] else run.config.dataset)


def results_table(runs: Sequence[Run]) -> pd.DataFrame:
    """Per-epoch histories of ``runs`` in one long table, each row with its run's key, config (``prune.sparsity`` is
    0 for an unpruned run), data source and ``results_version`` (the code version its key was computed under)."""
    frames = []
    for run in runs:
        config = pd.json_normalize(run.config.to_dict(), sep=".").iloc[0].to_dict()
        config.setdefault("prune.sparsity", 0.0)  # an unpruned run: its config leaves prune out
        config = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in config.items()}
        env = run.environment
        extra = {"key": run.config.key, "data_source": env["data_source"], "fallback": env["fallback"],
                 "data_used": data_used(run), "results_version": RESULTS_VERSION, **config}  # fmt: skip
        # One concat rather than a column at a time: histories with measurement variants have many columns.
        frames.append(pd.concat([run.history, pd.DataFrame(extra, index=run.history.index)], axis=1))
    return pd.concat(frames, ignore_index=True)


def export_results(table: pd.DataFrame, name: str, profile: str, root: str | Path | None = None) -> Path:
    """Write a results table (no weights) to ``results/<profile>/<name>.csv``, atomically, with a
    ``results_version`` column (:data:`RESULTS_VERSION`, unless the table has one): which code computed it."""
    path = results_path(name, profile, root)
    if "results_version" not in table:
        table = table.assign(results_version=RESULTS_VERSION)
    _write_table(table, path)
    return path


def load_results(name: str, profile: str, root: str | Path | None = None) -> pd.DataFrame | None:
    """The published results table, or None when there is none."""
    path = results_path(name, profile, root)
    return _read_table(path) if path.exists() else None


def _write_table(table: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, table.to_csv(index=False, na_rep="NaN"))


def _read_table(path: Path) -> pd.DataFrame:
    # Only "NaN" is missing: an empty string (e.g. an empty tag) stays a string.
    return pd.read_csv(path, keep_default_na=False, na_values=["NaN"])


def derived_results(
    name: str,
    profile: str,
    keys: Sequence[str],
    compute: Callable[[], pd.DataFrame],
    results_root: str | Path | None = None,
    publish: bool | None = None,
    depends_on: str | None = None,
    data_root: str | Path | None = None,
) -> pd.DataFrame:
    """A table computed from stored runs (e.g. landscape measurements), published like :func:`experiment`.

    Read from ``results/<profile>/<name>.csv`` when its ``key`` column holds exactly ``keys``. Otherwise, with
    ``depends_on`` (a digest of everything else the table is computed from: the probe's settings and batch, the
    code that computes it; e.g. :meth:`~emergence_lib.probes.landscape.LandscapeProbe.fingerprint`), it is kept in
    ``data/derived/`` under a digest of ``keys`` and ``depends_on`` and read back from there while both stay the
    same, so a rebuild does not compute it again (and other code or settings never find it). Else ``compute()``
    (which must return a table with a ``key`` column) and, when ``publish`` (default: for the ``paper`` profile),
    written to ``results/``. Prints one line saying which happened.
    """
    stored = load_results(name, profile, results_root)
    if stored is not None and set(stored["key"]) == set(keys):
        print(f"{name}: {len(set(keys))} runs read from {results_path(name, profile, results_root)}")
        return stored
    cache = None
    if depends_on is not None:
        text = json.dumps({"keys": sorted(set(keys)), "depends_on": depends_on})
        cache = derived_path(name, profile, hashlib.sha256(text.encode()).hexdigest()[:16], data_root)
        if cache.exists():
            print(f"{name}: {len(set(keys))} runs' table read from {cache} (the same runs, code and settings)")
            return _read_table(cache)
    table = compute()
    if "results_version" not in table:  # as the published copy has it (export_results)
        table = table.assign(results_version=RESULTS_VERSION)
    if cache is not None:
        _write_table(table, cache)
    if publish if publish is not None else profile == "paper":
        path = export_results(table, name, profile, results_root)
        print(f"{name}: {len(set(keys))} runs computed and published to {path}")
    else:
        print(f"{name}: {len(set(keys))} runs computed or reused from stored runs")
    return table


def experiment(
    name: str,
    configs: Sequence[RunConfig],
    profile: str,
    results_root: str | Path | None = None,
    publish: bool | None = None,
    **sweep_args,
) -> pd.DataFrame:
    """The results of ``configs`` as one table, for a chapter.

    Read from ``results/<profile>/<name>.csv`` when that file holds exactly these runs (so a published GPU
    result renders anywhere without retraining); otherwise computed with :func:`run_sweep` (reusing stored
    runs) and, when ``publish``, written there (:func:`derived_results` does the reading and publishing).

    Args:
        name: the experiment's name, the file's stem.
        configs: the runs.
        profile: the profile's name (the folder of published results).
        results_root: the published-results folder (default: ``results/`` under the project root).
        publish: export the computed table; None publishes for the ``paper`` profile only (the results a GPU
            produces once, to be committed).
        sweep_args: passed to :func:`run_sweep` (e.g. ``device``, ``n_jobs``, ``root``, ``progress``).

    Example:
        >>> import tempfile, emergence_lib as el
        >>> folder = tempfile.TemporaryDirectory()
        >>> tiny = el.get_profile("smoke-dry-run")  # the smallest runs: one epoch of two batches
        >>> configs = [tiny.run_config("mnist_subset", "mlp", seed=seed) for seed in (0, 1)]
        >>> runs, published = f"{folder.name}/runs", f"{folder.name}/results"
        >>> table = el.experiment("demo", configs, tiny.name, published, publish=True, root=runs, progress=False)
        demo: 2 runs computed and published to .../smoke-dry-run/demo.csv
        >>> table.groupby("key")["epoch"].max().tolist()  # one row per run and epoch
        [1, 1]
        >>> again = el.experiment("demo", configs, tiny.name, published)  # read from the published table
        demo: 2 runs read from .../smoke-dry-run/demo.csv
        >>> folder.cleanup()
    """
    return derived_results(
        name, profile, [c.key for c in configs], lambda: results_table(run_sweep(configs, **sweep_args)),
        results_root, publish,
    )  # fmt: skip
