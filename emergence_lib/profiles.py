"""Run sizes in one table: ``smoke`` (CI, seconds), ``default`` (a 2-core laptop), ``paper`` (one GPU).

Chapters take a ``profile`` parameter and read every size from here, so a chapter never hard-codes how big
its experiment is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How big the experiments of a chapter are.

    Attributes:
        name: the profile's name.
        epochs: training epochs per run.
        seeds: independent runs per setting.
        train_size, test_size: samples used from each split (None: the whole split).
        probe_size: samples in the probe batch that decides which nodes are active.
        batch_size: training mini-batch.
        mlp_hidden: hidden widths of the book's MLP.
        widths: width multipliers for the "does emergence grow with size" sweep.
        cnn: the convolutional network as ``(model name, keyword arguments)`` for :func:`~emergence_lib.models.build_model`.
        max_batches: batches per epoch cap (None: full epochs); only dry runs set it.
        amp: bfloat16 autocast on CUDA.
        description: what the profile is for, and its expected run time.
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
    max_batches: int | None = None
    amp: bool = False
    description: str = ""

    def dry_run(self) -> Profile:
        """The same profile shrunk to one seed, one epoch and a few batches, to check it still runs."""
        return dataclasses.replace(self, seeds=1, epochs=1, max_batches=2, name=f"{self.name}-dry-run")


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
        cnn=("small_cnn", {"width": 4}),
        description="CI: seconds per chapter, tiny networks; checks that the code runs, not the science.",
    ),
    "default": Profile(
        name="default",
        epochs=8,
        seeds=3,
        train_size=4000,
        test_size=1000,
        probe_size=512,
        batch_size=128,
        mlp_hidden=(512, 256, 128),
        widths=(0.25, 0.5, 1.0),
        cnn=("vgg", {"config": "vgg11", "width_multiplier": 0.125}),
        description="A 2-core laptop: about 2-3 minutes per chapter, the whole book in about 20.",
    ),
    "paper": Profile(
        name="paper",
        epochs=30,
        seeds=5,
        train_size=None,
        test_size=None,
        probe_size=512,
        batch_size=128,
        mlp_hidden=(512, 256, 128),
        widths=(0.25, 0.5, 1.0, 2.0),
        cnn=("vgg", {"config": "vgg19", "width_multiplier": 1.0}),
        amp=True,
        description="One H100: full datasets, 30 epochs, 5 seeds, VGG-19 on CIFAR-10; about 10 minutes per chapter.",
    ),
}


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (a :class:`Profile` passes through)."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not supported; allowed values: {', '.join(map(repr, PROFILES))}")
    return PROFILES[name]
