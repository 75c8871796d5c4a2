"""The book's experiments as code: for every chapter experiment, its runs and the name its results go under.

A chapter asks for its experiment (``experiments.pruning(profile, "mlp", "mnist")``) and runs it; the
scorecard, the robustness study and the tests read the same functions, so every grid of widths, sparsities,
alphas and seeds exists once. :func:`every` lists them all for a profile, :func:`planned` those the chapters run
on this machine's data, and :func:`to_train` their runs not stored yet, which the book trains before executing
the chapters.

Example:
    >>> import emergence_lib as el
    >>> exp = el.experiments.pruning("smoke", "mlp", "mnist")
    >>> exp.name, len(exp.configs)            # 2 seeds x (unpruned + 2 methods x 4 sparsities)
    ('pruning-mlp-mnist', 18)
    >>> exp.labels[0]
    {'pruned': '0%', 'method': 'none'}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ._checks import check_choice
from .engine import fingerprint
from .engine import runs as stored  # stored runs; `runs` is a method of Experiment
from .engine.data import Dataset, DatasetFallbackWarning, distinct_datasets, load_dataset
from .engine.locations import atomic_write_text, derived_path
from .engine.models import build_model
from .engine.profiles import Profile, checks_only, get_profile
from .engine.prune import SPARSITIES, PruneConfig
from .engine.runs import RunConfig
from .engine.train import resolve_device
from .metric.activity import activity, capture_activity
from .metric.emergence import measure
from .metric.graph import UnsupportedModelError, node_graph, weight_layers, without_skips
from .probes.landscape import LandscapeProbe

SCORED_CHAPTERS = ("feedforward", "convolutional", "pruning", "landscape", "initialization")
"""The chapters whose verdicts the scorecard collects, in reading order."""

PRUNING_METHODS = ("magnitude", "random")
"""Unstructured pruning methods the pruning chapter compares: the paper's, and its control."""

INIT_ALPHAS = (1.0, 1.25, 1.5, 2.0)
"""The emergence-promoting initialization's ``alpha`` values the initialization chapter trains (1: the base)."""

LANDSCAPE_DEPTHS = (2, 3)
"""Hidden layers of the landscape chapter's MLPs: the first two of the book's widths, and all three."""

LANDSCAPE_SPARSITIES = (0.0, 0.9)
"""Magnitude-pruning levels of the landscape chapter's networks (0: unpruned)."""

LANDSCAPE_ALPHAS = (1.5, 2.0)
"""Emergence-promoting initializations added to the landscape chapter (the book's MLP)."""

VARIANTS: dict[str, dict] = {
    "tau=0": {"threshold": 0.0},
    "tau=0.01": {"threshold": 0.01},
    "tau=0.1": {"threshold": 0.1},
    "tau=0.1 x layer mean": {"threshold": 0.1, "threshold_mode": "layer_mean"},
    "reduce=any": {"reduce": "any"},
    "reduce=per_sample": {"reduce": "per_sample"},
    "layers=hidden+output": {"layers": "hidden+output"},
    "through=active": {"through": "active"},
}
"""The variants of the definition of E the robustness chapter measures beside the default (tau = 0.05, mean over
the probe, hidden layers, paths through any node), one choice changed at a time; fixed before any result was seen.
Each is a set of :func:`~emergence_lib.measure` settings, measured inside the same training runs: every MLP run of
the feed-forward, pruning and landscape experiments measures them all (:func:`_mlp`), so the robustness chapter
reads those chapters' runs instead of training its own."""


@dataclass(frozen=True)
class Experiment:
    """The runs of one chapter experiment and the name its results are published under.

    Attributes:
        name: the published name: the table lives in ``results/<profile>/<name>.csv``.
        chapter: the chapter that runs it.
        profile: the profile's name.
        configs: the runs, in the order they are trained.
        labels: per run (same order), the experiment's own columns for tables and figures (e.g. the width
            multiplier); :meth:`table` adds them.
        histories: whether :attr:`name` publishes the runs' histories (:meth:`table`); False when it publishes
            a table derived from the trained runs instead (:meth:`derived`, e.g. landscape measurements).
    """

    name: str
    chapter: str
    profile: str
    configs: tuple[RunConfig, ...]
    labels: tuple[dict, ...]
    histories: bool = True

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.configs):
            raise ValueError(f"{self.name}: {len(self.labels)} labels for {len(self.configs)} runs")
        if len({c.key for c in self.configs}) != len(self.configs):
            raise ValueError(f"{self.name}: two runs share a config")

    @property
    def keys(self) -> list[str]:
        """The runs' keys (folder names under ``data/runs/``)."""
        return [c.key for c in self.configs]

    def label_table(self) -> pd.DataFrame:
        """One row per run: its ``key`` and labels."""
        return pd.DataFrame([{"key": c.key, **labels} for c, labels in zip(self.configs, self.labels)])

    def with_labels(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` (with a ``key`` column) with the label columns added.

        A column of the table with a label's name (e.g. one a published table already carries) is kept when it
        holds the same values; a label never replaces a different column.
        """
        labels = self.label_table()
        clash = sorted(set(labels.columns) - {"key"} & set(table.columns))
        if clash:
            theirs = table[["key", *clash]].merge(labels[["key", *clash]], on="key", how="left", suffixes=("", "~"))
            differ = [c for c in clash if not theirs[c].equals(theirs[f"{c}~"].astype(theirs[c].dtype, errors="ignore"))]
            if differ:
                raise ValueError(f"{self.name}: labels {differ} would replace different columns of the table")
            labels = labels.drop(columns=clash)
        return table.merge(labels, on="key", how="left", validate="many_to_one")

    def published(self) -> bool:
        """Whether ``results/<profile>/<name>.csv`` exists (results computed elsewhere, e.g. on a GPU)."""
        return stored.load_results(self.name, self.profile) is not None

    def _sweep(self, device: str, sweep_args: dict) -> dict:
        """The sweep's arguments, with one worker per core where runs are worth it (:func:`sweep_jobs`)."""
        return {"n_jobs": sweep_jobs(self.profile, device), **sweep_args}

    def table(self, device: str = "auto", **sweep_args) -> pd.DataFrame:
        """Every run's per-epoch history, one table with the labels: read from the published results when they
        hold exactly these runs, else trained or read from stored runs (:func:`~emergence_lib.experiment`)."""
        if not self.histories:
            raise ValueError(f"{self.name} publishes a derived table under its name, not the runs' histories; "
                             "use .runs() and .derived()")
        table = stored.experiment(self.name, self.configs, self.profile, device=device,
                                  **self._sweep(device, sweep_args))
        return self.with_labels(table)

    def runs(self, device: str = "auto", **sweep_args) -> list[stored.Run]:
        """The stored runs (trained when missing), for experiments that probe the trained networks."""
        return stored.run_sweep(self.configs, device=device, **self._sweep(device, sweep_args))

    def derived(self, compute: Callable[[], pd.DataFrame], depends_on: str | None = None) -> pd.DataFrame:
        """A table computed from the runs (one row per run, with ``key``), published under :attr:`name`
        (:func:`~emergence_lib.engine.runs.derived_results`; kept for rebuilds when ``depends_on`` digests what
        else it depends on), with the labels."""
        return self.with_labels(stored.derived_results(self.name, self.profile, self.keys, compute,
                                                       depends_on=depends_on))  # fmt: skip


def sweep_jobs(profile: str | Profile, device: str = "auto", whole_book: bool = False) -> int:
    """Workers an experiment's runs train with: one per core on the CPU (each run uses one thread:
    :data:`~emergence_lib.engine.runs.RUN_THREADS`), one on an accelerator, and one for a profile that only checks
    the code (a chapter's few runs take less time than starting a worker process), unless the sweep trains the
    runs of the whole book (``whole_book``, as :func:`~emergence_lib.book.executor.train_first` does).

    Example:
        >>> sweep_jobs("smoke", "cpu"), sweep_jobs("default", "cpu") == (os.cpu_count() or 1)
        (1, True)
        >>> sweep_jobs("smoke", "cpu", whole_book=True) == (os.cpu_count() or 1)
        True
    """
    if resolve_device(device).type != "cpu" or (checks_only(get_profile(profile).name) and not whole_book):
        return 1
    # The whole book's runs repay a worker per core also for smoke: its 91 runs trained in 28 to 31 s on one
    # worker and in 22 s on two (2 cores).
    return os.cpu_count() or 1


def _experiment(name: str, chapter: str, profile: Profile, rows: Sequence[tuple[RunConfig, dict]],
                histories: bool = True) -> Experiment:
    return Experiment(name, chapter, profile.name, tuple(c for c, _ in rows), tuple(label for _, label in rows),
                      histories)


def _widths(hidden: Sequence[int]) -> str:
    return "-".join(map(str, hidden))


def _mlp(p: Profile, dataset: str, seed: int, width: float = 1.0, prune: PruneConfig | None = None) -> RunConfig:
    """The book's MLP run, measured with every variant of :data:`VARIANTS` as well: the runs the feed-forward,
    pruning, landscape and robustness experiments share (one config, one training)."""
    return dataclasses.replace(p.run_config(dataset, "mlp", seed=seed, width=width, prune=prune), measures=VARIANTS)


def feedforward(profile: str | Profile, dataset: str) -> Experiment:
    """MLPs at every width multiplier and seed of the profile, plus more seeds of the paper's own network (width 1)
    for the claims read on each run's trajectory (:attr:`~emergence_lib.engine.profiles.Profile.trajectory_seeds`).

    Labels: ``width`` (the multiplier) and ``hidden widths`` (e.g. ``"512-256-128"``).
    """
    p = get_profile(profile)
    grid = [(w, s) for w in p.widths for s in range(p.seeds)] + [(1.0, s) for s in range(p.seeds, p.trajectory_seeds)]
    rows = []
    for width, seed in grid:
        config = _mlp(p, dataset, seed, width)
        rows.append((config, {"width": width, "hidden widths": _widths(config.model_args["hidden"])}))
    return _experiment(f"feedforward-{dataset}", "feedforward", p, rows)


def convolutional(profile: str | Profile, dataset: str = "cifar10") -> Experiment:
    """The profile's CNN at every width multiplier and seed. Label: ``width``."""
    p = get_profile(profile)
    rows = [(p.run_config(dataset, "cnn", seed=s, width=w), {"width": w}) for w in p.widths for s in range(p.seeds)]
    return _experiment("convolutional", "convolutional", p, rows)


def convolutional_batchnorm(profile: str | Profile, dataset: str = "cifar10") -> Experiment:
    """The profile's CNN at width 1 with batch normalization after every convolution. Label: ``width``."""
    p = get_profile(profile)
    rows = []
    for seed in range(p.seeds):
        config = p.run_config(dataset, "cnn", seed=seed)
        rows.append((dataclasses.replace(config, model_args={**config.model_args, "batch_norm": True}), {"width": 1.0}))
    return _experiment("convolutional-batchnorm", "convolutional", p, rows)


def pruning(profile: str | Profile, network: str, dataset: str) -> Experiment:
    """One unpruned run and one run per pruning method (:data:`PRUNING_METHODS`) and sparsity
    (:data:`~emergence_lib.engine.prune.SPARSITIES`), for every seed; pruned at initialization. The unpruned runs
    are those of the chapter that trains the network unpruned (feed-forward, convolutional): the same configs.

    Labels: ``pruned`` (the sparsity as a percentage) and ``method`` (``"none"`` for the unpruned run).
    """
    p = get_profile(profile)
    grid = [("magnitude", 0.0)] + [(m, s) for m in PRUNING_METHODS for s in SPARSITIES if s > 0]
    rows = []
    for m, s in grid:
        for seed in range(p.seeds):
            prune = PruneConfig(method=m, sparsity=s)
            config = _mlp(p, dataset, seed, prune=prune) if network == "mlp" else p.run_config(dataset, network, seed,
                                                                                               prune=prune)
            rows.append((config, {"pruned": f"{100 * s:.0f}%", "method": m if s > 0 else "none"}))
    return _experiment(f"pruning-{network}-{dataset}", "pruning", p, rows)


def landscape(profile: str | Profile, dataset: str = "mnist") -> Experiment:
    """MLPs of :data:`LANDSCAPE_DEPTHS` hidden layers at every width, unpruned and magnitude-pruned
    (:data:`LANDSCAPE_SPARSITIES`), and the book's MLP with the emergence-promoting initialization
    (:data:`LANDSCAPE_ALPHAS`), every seed. Its published table is the landscape measurements, not the histories.

    Labels: ``hidden``, ``depth``, ``sparsity``, ``alpha`` (1 for the base initialization) and ``seed``.
    """
    p = get_profile(profile)
    rows = []
    for depth in LANDSCAPE_DEPTHS:
        for width in p.widths:
            for sparsity in LANDSCAPE_SPARSITIES:
                for seed in range(p.seeds):
                    prune = PruneConfig(method="magnitude", sparsity=sparsity) if sparsity else None
                    config = _mlp(p, dataset, seed, width, prune)
                    hidden = config.model_args["hidden"][:depth]
                    rows.append((dataclasses.replace(config, model_args={"hidden": hidden}),
                                 {"hidden": _widths(hidden), "depth": depth, "sparsity": sparsity, "alpha": 1.0,
                                  "seed": seed}))  # fmt: skip
    for alpha in LANDSCAPE_ALPHAS:
        for seed in range(p.seeds):
            config = dataclasses.replace(p.run_config(dataset, "mlp", seed=seed), init_alpha=alpha)
            hidden = config.model_args["hidden"]
            rows.append((config, {"hidden": _widths(hidden), "depth": len(hidden), "sparsity": 0.0, "alpha": alpha,
                                  "seed": seed}))  # fmt: skip
    return _experiment("landscape", "landscape", p, rows, histories=False)


def training_paths(profile: str | Profile, dataset: str = "mnist", cnn_dataset: str = "cifar10") -> Experiment:
    """The book's MLP (on ``dataset``) and CNN (on ``cnn_dataset``), seed 0, unpruned and magnitude-pruned at
    initialization to the landscape chapter's sparsities (:data:`LANDSCAPE_SPARSITIES`), each recording its weights
    after every epoch (``trajectory=True``): the training paths the landscape chapter draws in their PCA plane
    (:meth:`~emergence_lib.probes.landscape.LandscapeProbe.paths`); at least two epochs, since a plane needs three
    points (a dry run trains one). Its published table is the paths and surfaces.

    Labels: ``network`` (``"MLP"`` or ``"CNN"``) and ``sparsity``.
    """
    p = get_profile(profile)
    rows = []
    for network, data in (("MLP", dataset), ("CNN", cnn_dataset)):
        for sparsity in LANDSCAPE_SPARSITIES:
            prune = PruneConfig(method="magnitude", sparsity=sparsity) if sparsity else None
            config = _mlp(p, data, 0, prune=prune) if network == "MLP" else p.run_config(data, "cnn", prune=prune)
            train = dataclasses.replace(config.train, epochs=max(2, config.train.epochs))
            rows.append((dataclasses.replace(config, train=train, trajectory=True),
                         {"network": network, "sparsity": sparsity}))  # fmt: skip
    return _experiment("training-paths", "landscape", p, rows, histories=False)


def hessian_spectra(profile: str | Profile, dataset: str = "mnist") -> Experiment:
    """The MLP runs of :func:`training_paths` (unpruned and pruned), whose Hessian spectra the landscape chapter
    shows (:func:`probe_table` with ``"spectra"``). Labels: ``network`` and ``sparsity``."""
    paths = training_paths(profile, dataset)
    rows = [(c, labels) for c, labels in zip(paths.configs, paths.labels) if labels["network"] == "MLP"]
    return _experiment("hessian-spectra", "landscape", get_profile(profile), rows, histories=False)


PICTURE_SAMPLES = 4
"""The training paths' surfaces and the Hessian spectra are computed on ``landscape_samples // PICTURE_SAMPLES``
held-out samples: they are pictures, not the landscape chapter's measurements, and the smaller batch keeps the
chapter within its time budget (the CNN's surfaces cost in proportion to the samples)."""


def probe_table(experiment: Experiment, what: str, device: str = "auto") -> pd.DataFrame:
    """``LandscapeProbe.paths`` (``what="paths"``) or ``LandscapeProbe.spectra`` (``what="spectra"``) of the
    experiment's runs (trained when missing), each on held-out samples of its own dataset (a
    :data:`PICTURE_SAMPLES`-th of the profile's ``landscape_samples``; its ``grid``), with the labels; kept by
    :meth:`Experiment.derived` under the probes' fingerprints, so a rebuild reads it back. A profile that only
    checks the code takes 10 Lanczos steps and 2 seeds for the spectra (the method's defaults otherwise)."""
    check_choice("what", what, ("paths", "spectra"))
    p = get_profile(experiment.profile)
    device = str(resolve_device(device))
    probes = {}
    for name in dict.fromkeys(c.dataset for c in experiment.configs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetFallbackWarning)  # the runs record the data they used
            data = load_dataset(name, probe_size=p.probe_size)
        n = min(max(1, p.landscape_samples // PICTURE_SAMPLES), len(data.x_test))
        probes[name] = LandscapeProbe((data.x_test[:n], data.y_test[:n]), np.linspace(-1, 1, p.grid), device=device)
    runs = experiment.runs(device=device)

    small = {"iters": 10, "seeds": range(2)} if what == "spectra" and checks_only(p.name) else {}

    def compute() -> pd.DataFrame:
        return pd.concat([getattr(probes[run.config.dataset], what)([run], **small) for run in runs],
                         ignore_index=True)  # fmt: skip

    return experiment.derived(compute, depends_on=" ".join(probe.fingerprint() for probe in probes.values()))


def initialization(profile: str | Profile, network: str, dataset: str) -> Experiment:
    """The network with the emergence-promoting initialization at every ``alpha`` of :data:`INIT_ALPHAS`, with
    and without batch normalization, every seed.

    Labels: ``alpha`` (as text, e.g. ``"1.25"``) and ``batch norm`` (``"no"`` or ``"yes"``).
    """
    p = get_profile(profile)
    rows = []
    for batch_norm in (False, True):
        for alpha in INIT_ALPHAS:
            for seed in range(p.seeds):
                config = p.run_config(dataset, network, seed=seed)
                args = dict(config.model_args)
                # said even where it is the builder's default (a VGG has batch norm by default), except for the
                # MLP without it: those runs at the landscape chapter's alphas are then that chapter's, trained once
                if batch_norm or network != "mlp":
                    args["batch_norm"] = batch_norm
                config = dataclasses.replace(config, init_alpha=alpha, model_args=args)
                rows.append((config, {"alpha": f"{alpha:g}", "batch norm": "yes" if batch_norm else "no"}))
    return _experiment(f"initialization-{network}-{dataset}", "initialization", p, rows)


def at_initialization(experiment: Experiment) -> pd.DataFrame:
    """The networks an experiment's runs start from, measured before any training (nothing is trained or stored).

    One row per run and counted layer: the run's ``key`` and labels, ``init_alpha`` (1 for the base
    initialization), ``seed``, ``layer`` (1 for the first counted layer), ``mean activation`` (over the probe
    batch and the layer's nodes), and the network's ``log10_absolute`` and ``fraction``.
    """
    datasets = {(name, size): load_dataset(name, probe_size=size)
                for name, size in {(c.dataset, c.probe_size) for c in experiment.configs}}  # fmt: skip
    rows = []
    for config, labels in zip(experiment.configs, experiment.labels):
        data = datasets[config.dataset, config.probe_size]
        model = stored.initial_model(config, data)
        record = capture_activity(model, data.probe)  # one probe pass for the activations and E
        result = measure(model, record)
        for layer, values in enumerate(activity(model, record).values, start=1):
            rows.append({"key": config.key, **labels, "init_alpha": config.init_alpha or 1.0, "seed": config.train.seed,
                         "layer": layer, "mean activation": float(values.mean()),
                         "log10_absolute": result.log10_absolute, "fraction": result.fraction})  # fmt: skip
    return pd.DataFrame(rows)


def robustness(profile: str | Profile, dataset: str = "mnist") -> Experiment:
    """The feed-forward chapter's MLPs (every width, the profile's seeds): the same runs, which measure every
    variant of :data:`VARIANTS`.

    Labels: those of :func:`feedforward`, and ``first width`` (neurons of the first hidden layer).
    """
    p = get_profile(profile)
    base = feedforward(p, dataset)
    rows = [(c, {**labels, "first width": c.model_args["hidden"][0]})
            for c, labels in zip(base.configs, base.labels) if c.train.seed < p.seeds]  # fmt: skip
    return _experiment("robustness", "robustness", p, rows)


def robustness_pruning(profile: str | Profile, dataset: str = "mnist") -> Experiment:
    """The pruning chapter's magnitude-pruned MLPs (every sparsity and seed, the unpruned run included): the same
    runs, which measure every variant of :data:`VARIANTS`. Label: ``pruned`` (a percentage)."""
    p = get_profile(profile)
    base = pruning(p, "mlp", dataset)
    rows = [(c, {"pruned": labels["pruned"]})
            for c, labels in zip(base.configs, base.labels) if c.prune is None or c.prune.method == "magnitude"]  # fmt: skip
    return _experiment("robustness-pruning", "robustness", p, rows)


RESIDUAL_BLOCKS = 2
"""Blocks of the residual MLP of chapter *Measure your own network* (a skip around every pair of layers)."""


def your_network(profile: str | Profile, dataset: str = "mnist") -> Experiment:
    """The residual networks of chapter *Measure your own network*: a residual MLP (:data:`RESIDUAL_BLOCKS` blocks
    of the width of the book's second hidden layer) at every seed, and torchvision's ResNet-18 with the small-input
    stem (:func:`~emergence_lib.engine.models.resnet18`), one seed, trained briefly: a fifth of the profile's
    epochs, a quarter of its training and test samples, of the training samples evaluated after every epoch and of
    its probe (the chapter fits in minutes on a laptop; the ``paper`` profile trains both on whole datasets; a
    profile that only checks the code, a sixteenth: the ResNet was most of the smoke build's longest chapter). Its
    published table is the networks measured with and without their skips (:func:`skip_effect`), not the histories.

    Labels: ``network`` (``"residual MLP"`` or ``"ResNet-18"``) and ``seed``.
    """
    p = get_profile(profile)
    rows = []
    for seed in range(p.seeds):
        config = p.run_config(dataset, "mlp", seed=seed)
        config = dataclasses.replace(config, model="residual_mlp",
                                     model_args={"width": p.mlp_hidden[1], "blocks": RESIDUAL_BLOCKS})
        rows.append((config, {"network": "residual MLP", "seed": seed}))
    config = p.run_config(dataset, "mlp", seed=0)
    share = 16 if checks_only(p.name) else 4
    sizes = {name: None if size is None else max(1, size // share) for name, size in
             (("train_size", p.train_size), ("test_size", p.test_size), ("probe_size", p.probe_size))}  # fmt: skip
    train = dataclasses.replace(config.train, epochs=max(1, p.epochs // 5),
                                train_eval_size=max(1, config.train.train_eval_size // share))  # train_acc not read
    config = dataclasses.replace(config, model="resnet18", model_args={}, **sizes, train=train)
    rows.append((config, {"network": "ResNet-18", "seed": 0}))
    return _experiment(f"your-network-{dataset}", "your_network", p, rows, histories=False)


SKIP_DEFINITIONS: dict[str, dict] = {"the book's": {},
                                     "above the layer mean": {"threshold": 1.0, "threshold_mode": "layer_mean"}}
"""The definitions of E :func:`skip_effect` reads: the book's, and "active when above its layer's mean activity",
which reads networks with batch normalization (after BatchNorm and ReLU hardly any channel's mean activity is
below the book's threshold, and hardly any below a tenth of its layer's mean, the robustness chapter's variant)."""


def skip_effect(experiment: Experiment, device: str = "auto") -> pd.DataFrame:
    """Every run's network at initialization and trained, measured with its skips and without them
    (:func:`~emergence_lib.without_skips`: the same weights, every residual addition reduced to its main branch).

    Trains the runs when they are not stored; the table is published (``paper``) or kept for rebuilds like the
    landscape chapter's (:meth:`Experiment.derived`, under a digest of the code that computes it). One row per run,
    stage (``"initial"``, ``"trained"``), ``skips`` (``"with"``, ``"without"``) and ``definition``
    (:data:`SKIP_DEFINITIONS`), with the labels and ``log10_absolute``, ``fraction``, ``n_weights``, ``edges`` (of
    the node graph), ``active share`` (of the counted nodes) and the run's final ``test_acc``.
    """
    from .engine.fingerprint import RESULT_MODULES, current

    def compute() -> pd.DataFrame:
        rows = []
        for config, run in zip(experiment.configs, experiment.runs(device=device)):
            data = load_dataset(config.dataset, probe_size=config.probe_size)
            for stage, model in (("initial", stored.initial_model(config, data)), ("trained", run.model())):
                for skipped, network in (("with", model), ("without", without_skips(model))):
                    record = capture_activity(network, data.probe)  # one probe pass for both definitions
                    edges = node_graph(network).n_edges
                    for label, settings in SKIP_DEFINITIONS.items():
                        result = measure(network, record, **settings)
                        rows.append({"key": config.key, "stage": stage, "skips": skipped, "definition": label,
                                     "log10_absolute": result.log10_absolute, "fraction": result.fraction,
                                     "n_weights": result.n_weights, "edges": edges,
                                     "active share": sum(result.active_counts) / sum(result.layer_sizes),
                                     "test_acc": float(run.history["test_acc"].iloc[-1])})  # fmt: skip
        return pd.DataFrame(rows)

    return experiment.derived(compute, depends_on=current(modules=RESULT_MODULES + ("experiments.py",)))


def skip_gain(table: pd.DataFrame) -> pd.DataFrame:
    """What the skips do, per network, definition of E and stage: medians over runs of each run's ``log10 E``
    with and without its skips, their difference (``gain``), the skips' share of the edges (``skip edge share``)
    and the share of active nodes with skips.

    Args:
        table: :func:`skip_effect` (with the label ``network``).
    """
    wide = table.pivot_table(index=["network", "definition", "stage", "key"], columns="skips",
                             values=["log10_absolute", "edges", "active share"])  # fmt: skip
    per_run = pd.DataFrame({
        "log10 E with skips": wide["log10_absolute"]["with"],
        "log10 E without": wide["log10_absolute"]["without"],
        "gain": wide["log10_absolute"]["with"] - wide["log10_absolute"]["without"],
        "skip edge share": 1 - wide["edges"]["without"] / wide["edges"]["with"],
        "active share": wide["active share"]["with"],
    })  # fmt: skip
    return per_run.groupby(level=["network", "definition", "stage"]).median()


TORCHVISION_MODELS = ("resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121", "squeezenet1_0",
                      "mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0", "convnext_tiny", "vit_b_16")  # fmt: skip
"""torchvision architectures chapter *Measure your own network* tries to read (randomly initialized)."""


def torchvision_support(names: Sequence[str] = TORCHVISION_MODELS) -> pd.DataFrame:
    """Which torchvision architectures :func:`~emergence_lib.node_graph` reads, and why the others are refused.

    One row per name: ``model``, ``read`` (bool), ``counted layers``, ``weights`` (of Linear and Conv2d layers),
    ``skips or branches`` (whether the graph is not a chain) and ``refused because`` (the error's first sentence).
    """
    import torchvision

    rows = []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's notes on initialization defaults
            model = torchvision.models.get_model(name, weights=None)
        weights = sum(m.weight.numel() for _, m in weight_layers(model))
        try:
            graph = node_graph(model, layers="hidden+output")
            row = {"read": True, "counted layers": len(graph.layers), "skips or branches": not graph.is_chain,
                   "refused because": ""}
        except UnsupportedModelError as err:
            row = {"read": False, "counted layers": 0, "skips or branches": None,
                   "refused because": str(err).split(". Supported")[0].split("; every hidden")[0]}
        rows.append({"model": name, **row, "weights": weights})
    return pd.DataFrame(rows)


def measure_cost(profile: str | Profile, repeats: int = 3, refresh: bool = False) -> pd.DataFrame:
    """The time of one :func:`~emergence_lib.measure` (probe pass, node graph, path counts) on networks from an
    MLP to a wide ResNet-50 at initialization, against their size; the median of ``repeats`` on this machine, one
    torch thread per core (as a reader's own ``measure`` runs, whatever the kernel's setting).

    Timed once per machine and code: the table is kept in ``data/derived/`` under a digest of the machine (its
    platform, processor, cores and torch version), the code that determines results
    (:func:`~emergence_lib.engine.fingerprint.current`) and the networks, and read back from there by a rebuild
    (timing the wide ResNet-50 was most of a rebuild's time); ``refresh=True`` times again. A profile that only
    checks the code measures the small networks only. One row per network: ``network``, ``input`` (one sample's
    shape), ``probe`` (samples), ``weights``, ``nodes`` and ``edges`` (of the node graph), ``counted layers`` and
    ``seconds``.
    """
    import torchvision

    from .engine.models import residual_mlp, resnet18

    p = get_profile(profile)
    digits, probe = (1, 28, 28), p.probe_size
    networks = [  # built when timed (a rebuild reads the table back)
        ("MLP " + _widths(p.mlp_hidden), lambda: build_model("mlp", digits, 10, hidden=p.mlp_hidden), digits, probe),
        ("residual MLP", lambda: residual_mlp(784, p.mlp_hidden[1], RESIDUAL_BLOCKS), digits, probe),
        ("ResNet-18, 28 px", lambda: resnet18(1, 10, small_input=True), digits, probe // 2),
    ]
    if not checks_only(p.name):
        large = (3, 224, 224)
        networks += [
            (f"{p.describe_cnn()} (the book's CNN)", lambda: build_model(p.cnn[0], (3, 32, 32), 10, **p.cnn[1]),
             (3, 32, 32), probe),
            ("ResNet-18, 224 px", lambda: torchvision.models.resnet18(weights=None), large, 16),
            ("ResNet-50, 224 px", lambda: torchvision.models.resnet50(weights=None), large, 16),
            ("Wide ResNet-50-2, 224 px", lambda: torchvision.models.wide_resnet50_2(weights=None), large, 16),
        ]

    def compute() -> pd.DataFrame:
        rows = []
        generator = torch.Generator().manual_seed(0)
        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)  # a kernel executed beside another has one: not what is timed
        try:
            for name, build, shape, samples in networks:
                with torch.random.fork_rng(devices=[]):  # seeded weights: the count of nonzero ones is reproducible
                    torch.manual_seed(0)
                    model = build()
                batch = torch.rand(samples, *shape, generator=generator)
                seconds = []
                for _ in range(repeats):  # the first also traces the model (once per model, as in a training run)
                    start = time.perf_counter()
                    result = measure(model, batch)
                    seconds.append(time.perf_counter() - start)
                graph = node_graph(model)
                rows.append({"network": name, "input": "x".join(map(str, shape)), "probe": samples,
                             "weights": result.n_weights, "nodes": sum(graph.sizes), "edges": graph.n_edges,
                             "counted layers": len(graph.layers),
                             "seconds": sorted(seconds)[len(seconds) // 2]})  # fmt: skip
        finally:
            torch.set_num_threads(threads)
        return pd.DataFrame(rows)

    timed = [(name, shape, samples) for name, _, shape, samples in networks]
    text = json.dumps([machine(), fingerprint.current(), repeats, timed])
    cache = derived_path("measure-cost", p.name, hashlib.sha256(text.encode()).hexdigest()[:16])
    if cache.exists() and not refresh:
        print(f"measure_cost: timed on this machine with this code before; read from {cache}")
        return pd.read_csv(cache)
    table = compute()
    atomic_write_text(cache, table.to_csv(index=False))
    print(f"measure_cost: timed now; kept in {cache}")
    return table


TIMED_ALONE: dict[str, Callable[[str], pd.DataFrame]] = {"your_network": measure_cost}
"""The timings a chapter shows, by chapter: the book takes them before executing the chapters side by side
(:func:`~emergence_lib.book.execute`), since a time taken beside another chapter is that of a shared machine;
the chapter reads them back."""


def machine() -> dict:
    """What a time measured here depends on: platform, processor, cores and torch version.

    Example:
        >>> sorted(machine())
        ['cores', 'platform', 'processor', 'torch']
    """
    processor = platform.processor()
    try:  # Linux names the model only here
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        processor = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                         processor)  # fmt: skip
    except OSError:
        pass
    return {"platform": platform.platform(), "processor": processor, "cores": os.cpu_count(), "torch": torch.__version__}


def chapters_to_train(profile: str | Profile, chapters: Sequence[str] | None = None) -> set[str]:
    """The chapters (of ``chapters``; default: all) that would train runs here: those of :func:`to_train`.

    For scheduling only (the book executes the other chapters side by side): what a chapter computes never
    depends on it.
    """
    return {e.chapter for e in _unfinished(get_profile(profile), chapters)}


def to_train(profile: str | Profile, chapters: Sequence[str] | None = None) -> list[RunConfig]:
    """The runs the chapters (of ``chapters``; default: all) would train here, the most work first: the runs of
    their :func:`planned` experiments that are neither stored nor published.

    The book trains them before executing the chapters (:func:`~emergence_lib.book.execute`), in one sweep, and
    the chapters only read them. They come in the order of their arithmetic (the floating-point operations of one
    forward pass, counted by torch, times the samples trained on), so that the longest runs start first and the
    workers finish together.

    Example:
        >>> missing = to_train("smoke", ["feedforward"])  # none once every run is stored
        >>> {c.key for c in missing} <= {c.key for e in planned("smoke", ["feedforward"]) for c in e.configs}
        True
    """
    p = get_profile(profile)
    configs = {c.key: c for e in _unfinished(p, chapters) for c in e.configs if not stored.is_done(c)}
    data: dict[str, Dataset] = {}  # loaded once per dataset
    flops: dict[tuple[str, str, str], int] = {}  # counted once per network and dataset

    def work(c: RunConfig) -> float:
        if c.dataset not in data:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DatasetFallbackWarning)  # the chapters announce it
                data[c.dataset] = load_dataset(c.dataset)
        d = data[c.dataset]
        network = (c.model, json.dumps(c.model_args, sort_keys=True), c.dataset)
        if network not in flops:
            with torch.random.fork_rng(devices=[]):  # initial_model seeds torch's generator: leave the caller's
                flops[network] = _forward_flops(stored.initial_model(c, d), d.input_shape)
        return flops[network] * c.train.epochs * (c.train_size or len(d.x_train))

    return sorted(configs.values(), key=work, reverse=True)


def _unfinished(p: Profile, chapters: Sequence[str] | None) -> list[Experiment]:
    """The :func:`planned` experiments of ``chapters`` with runs neither stored nor published."""
    return [e for e in planned(p, chapters)
            if not all(stored.is_done(c) for c in e.configs) and not e.published()]  # fmt: skip


def _forward_flops(network: torch.nn.Module, input_shape: Sequence[int]) -> int:
    """Floating-point operations of one forward pass of one sample (torch's FLOP counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network.eval()(torch.zeros(1, *input_shape))
    return counter.get_total_flops()


def initialization_networks(datasets: Sequence[str]) -> list[tuple[str, str]]:
    """The (network, dataset) pairs of the initialization chapter, given what ``Chapter.datasets`` kept of
    ``["mnist", "cifar10"]``: the MLP on MNIST, the CNN on CIFAR-10, or on MNIST where CIFAR-10 was skipped (its
    stand-in is MNIST's data)."""
    return [("mlp", "mnist"), ("cnn", "cifar10" if "cifar10" in datasets else "mnist")]


def _book(p: Profile, kept: Callable[[list[str], Callable[[str], bool] | None], list[str]]) -> list[Experiment]:
    """Every experiment of the book, with the datasets ``kept(names, published)`` keeps of each list of names a
    chapter gives ``Chapter.datasets`` (as the chapters give them; a single name is always kept)."""
    return [
        *(feedforward(p, d) for d in kept(["mnist", "fashion_mnist"], lambda d: feedforward(p, d).published())),
        convolutional(p),
        convolutional_batchnorm(p),
        *(pruning(p, "mlp", d) for d in kept(["mnist", "fashion_mnist"], lambda d: pruning(p, "mlp", d).published())),
        pruning(p, "cnn", "cifar10"),
        landscape(p),
        training_paths(p),
        hessian_spectra(p),
        *(initialization(p, *network) for network in initialization_networks(kept(["mnist", "cifar10"], None))),
        robustness(p),
        robustness_pruning(p),
        your_network(p),
    ]


def every(profile: str | Profile) -> list[Experiment]:
    """Every experiment of the book for ``profile``, on every dataset the chapters ask for (where a dataset is not
    available, a chapter may skip it or take another: :func:`planned` says what they do here)."""
    return _book(get_profile(profile), lambda names, published: list(names))


def planned(profile: str | Profile, chapters: Sequence[str] | None = None) -> list[Experiment]:
    """The experiments the chapters (of ``chapters``, names like ``"pruning"``; default: all) run here: those of
    :func:`every`, but a dataset whose offline stand-in is the same data as an earlier one's of the same chapter is
    skipped, as the chapters skip it (:func:`~emergence_lib.engine.data.distinct_datasets`), and the
    initialization chapter's CNN then trains on MNIST (:func:`initialization_networks`)."""
    p = get_profile(profile)
    if chapters is not None and not {e.chapter for e in every(p)} & set(chapters):
        return []  # without loading any dataset

    def kept(names: list[str], published: Callable[[str], bool] | None) -> list[str]:
        return distinct_datasets(names, p.probe_size, published, log=None)

    return [e for e in _book(p, kept) if chapters is None or e.chapter in chapters]
