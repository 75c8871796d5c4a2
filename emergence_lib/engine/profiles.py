"""Run sizes in one table: ``smoke`` (CI, seconds), ``default`` (a 2-core laptop), ``paper`` (one GPU).

Chapters take a ``profile`` parameter and read every size from here (:func:`get_profile`, then
:meth:`Profile.run_config`), so a chapter never hard-codes how big its experiment is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

from .._checks import check_choice
from .prune import PruneConfig
from .runs import RunConfig
from .train import TrainConfig

# The networks a chapter can ask a profile for: the book's MLP, or the profile's convolutional network.
NETWORKS = ("mlp", "cnn")


@dataclass(frozen=True)
class Profile:
    """How big the experiments of a chapter are.

    Attributes:
        name: the profile's name.
        epochs: training epochs per run.
        seeds: independent runs per setting.
        trajectory_seeds: seeds of the paper's own MLP in the feed-forward chapter, where claims 2a, 2b and 3b read
            each run's trajectory: more units where they are cheap (one small network) rather than bigger grids.
        train_size, test_size: samples used from each split (None: the whole split).
        probe_size: samples in the probe batch that decides which nodes are active.
        batch_size: training mini-batch.
        mlp_hidden: hidden widths of the book's MLP.
        widths: width multipliers for the "does emergence grow with size" sweep.
        cnn: the convolutional network as ``(model name, keyword arguments)`` for :func:`~emergence_lib.engine.models.build_model`.
        grid: points per axis of the 2-D loss surfaces (a ``grid x grid`` grid over ``[-1, 1]^2``).
        landscape_samples: samples of the fixed batch on which landscapes and Hessians are measured.
        max_batches: batches per epoch cap (None: full epochs); only dry runs set it.
        amp: bfloat16 autocast on CUDA.
        description: what the profile is for (run times are measured, on the Build status page, never typed).
    """

    name: str
    epochs: int
    seeds: int
    train_size: int | None
    test_size: int | None
    probe_size: int
    batch_size: int
    mlp_hidden: tuple[int, ...]
    widths: tuple[float, ...]
    cnn: tuple[str, dict]
    trajectory_seeds: int | None = None
    grid: int = 21
    landscape_samples: int = 1000
    max_batches: int | None = None
    amp: bool = False
    description: str = ""

    def dry_run(self) -> Profile:
        """The same networks shrunk to one seed, one epoch of two batches of 8 samples, and 16 samples for each of
        training, test, probe and landscape sets.

        Used by the tests to keep the GPU-sized ``paper`` profile from rotting on a CPU, where its full-width VGG-19
        is slow: hence so few samples. (Halving them cut a dry run's chapter time by a tenth: most of the rest is
        work on the VGG-19's 20 million weights, building, pruning, measuring and storing them, whatever the batch.)
        """
        return dataclasses.replace(
            self, name=f"{self.name}{DRY_RUN}", seeds=1, trajectory_seeds=1, epochs=1, max_batches=2, batch_size=8,
            train_size=16, test_size=16, probe_size=16, grid=5, landscape_samples=16,
        )  # fmt: skip

    def __post_init__(self) -> None:
        if self.trajectory_seeds is None:
            object.__setattr__(self, "trajectory_seeds", self.seeds)
        if self.trajectory_seeds < self.seeds:
            raise ValueError(f"trajectory_seeds ({self.trajectory_seeds}) must be at least seeds ({self.seeds})")

    def describe_cnn(self) -> str:
        """The profile's convolutional network in words, for chapters to glue (never typed).

        Example:
            >>> get_profile("default").describe_cnn()
            'a VGG-11 with 1/16 of the channels'
        """
        model, args = self.cnn
        if model == "vgg":
            config = args.get("config", "vgg11")
            name = config.upper().replace("VGG", "VGG-") if isinstance(config, str) else "VGG"
            share = Fraction(args.get("width_multiplier", 1.0)).limit_denominator(1000)
            return f"a {name}" + ("" if share == 1 else f" with {share} of the channels")
        width = args.get("width", 16)
        return f"a two-block CNN ({width} and {2 * width} channels)"

    def run_config(
        self,
        dataset: str,
        network: str = "mlp",
        seed: int = 0,
        width: float = 1.0,
        prune: PruneConfig | None = None,
        **train_changes,
    ) -> RunConfig:
        """The :class:`~emergence_lib.engine.runs.RunConfig` of one run of this profile.

        Args:
            dataset: a name from :data:`~emergence_lib.engine.data.DATASETS`.
            network: ``"mlp"`` (hidden widths :attr:`mlp_hidden`) or ``"cnn"`` (the profile's :attr:`cnn`).
            seed: the training seed (initialization, dropout, batch order).
            width: multiplies every hidden width (MLP), the ``width_multiplier`` (VGG) or ``width`` (small CNN).
            prune: how to prune the network (:class:`~emergence_lib.engine.prune.PruneConfig`); None for no pruning.
            train_changes: fields of :class:`~emergence_lib.engine.train.TrainConfig` to change (e.g. ``lr=0.1``).
        """
        check_choice("network", network, NETWORKS)
        if not width > 0:
            raise ValueError(f"width must be positive; got {width}")
        if network == "mlp":
            model, model_args = "mlp", {"hidden": [max(1, round(n * width)) for n in self.mlp_hidden]}
        else:
            model, model_args = self.cnn[0], dict(self.cnn[1])
            if width != 1.0:
                key = "width_multiplier" if model == "vgg" else "width"
                default = 1.0 if model == "vgg" else 16  # the builders' defaults
                scaled = model_args.get(key, default) * width
                model_args[key] = scaled if model == "vgg" else max(1, round(scaled))
        train = TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, seed=seed, max_batches=self.max_batches, amp=self.amp,
            **train_changes,
        )  # fmt: skip
        return RunConfig(
            dataset=dataset, model=model, model_args=dict(model_args), train=train, train_size=self.train_size,
            test_size=self.test_size, probe_size=self.probe_size, prune=prune,
        )  # fmt: skip


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        epochs=2,
        seeds=2,
        train_size=1000,
        test_size=500,
        probe_size=256,
        batch_size=128,
        mlp_hidden=(64, 32, 16),
        widths=(0.5, 1.0),
        cnn=("small_cnn", {"width": 4, "batch_norm": False}),
        grid=7,
        landscape_samples=256,
        description="CI: seconds per chapter, tiny networks; checks that the code runs, not the science.",
    ),
    "default": Profile(
        name="default",
        epochs=15,
        seeds=5,
        trajectory_seeds=10,
        train_size=4000,
        test_size=1000,
        probe_size=512,
        batch_size=128,
        mlp_hidden=(512, 256, 128),
        widths=(0.25, 0.5, 1.0),
        cnn=("vgg", {"config": "vgg11", "width_multiplier": 0.0625, "batch_norm": False}),
        description="A 2-core laptop: what the site shows (each chapter's time is on the Build status page).",
    ),
    "paper": Profile(
        name="paper",
        epochs=30,
        seeds=5,
        trajectory_seeds=10,
        train_size=None,
        test_size=None,
        probe_size=512,
        batch_size=128,
        mlp_hidden=(512, 256, 128),
        widths=(0.25, 0.5, 1.0, 2.0),
        cnn=("vgg", {"config": "vgg19", "width_multiplier": 1.0, "batch_norm": False}),
        amp=True,
        description="One GPU: full datasets, the paper's networks and epochs; results are published in results/paper/.",
    ),
}


DRY_RUN = "-dry-run"


def checks_only(name: str) -> bool:
    """True for the profiles whose results decide nothing: ``smoke`` and every dry run (they check that code runs)."""
    return name == "smoke" or name.endswith(DRY_RUN)


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name``; ``"<name>-dry-run"`` gives :meth:`Profile.dry_run` of it (a :class:`Profile`
    passes through).

    Raises:
        ValueError: for an unknown name, listing the allowed ones.
    """
    if isinstance(name, Profile):
        return name
    base = name.removesuffix(DRY_RUN)
    if base not in PROFILES:
        allowed = ", ".join(map(repr, PROFILES))
        raise ValueError(f"profile={name!r} is not supported; allowed values: {allowed} (or any of them + {DRY_RUN!r})")
    return PROFILES[base].dry_run() if name.endswith(DRY_RUN) else PROFILES[base]
