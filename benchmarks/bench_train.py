"""How fast is the training loop? Ratios against baselines measured in the same run, on the same machine.

For the MLP 784-512-256-128-10, the small CNN (with BatchNorm) and the default profile's VGG-11 with 1/16 of
the channels (without), on the offline MNIST subset (``load_dataset("mnist_subset")``:
4,000 train / 1,000 test, probe 512), batch 128, SGD lr 0.01 momentum 0.9:

1. **Cost of tracking emergence** (target <= 1.05): epoch time of ``train`` with ``track_emergence=True``
   divided by epoch time with ``track_emergence=False``. "Epoch time" is everything one more epoch costs the
   user: training, the test-set evaluation (done in both arms, so it is in both) and, in the tracked arm, the
   per-epoch ``measure`` on the probe. It is read with the wall clock by a :class:`~emergence_lib.Callback`:
   the time from one ``on_epoch_begin`` to the next (and from the last to ``on_train_end``), so it spans the
   whole loop body (training, evaluation, measurement, record, callbacks) and depends on none of the library's
   own timers. Why not the wall time of whole ``train(...)`` calls: those also pay the epoch-0 record (an
   evaluation on the training set, and in the tracked arm one extra measurement before the first epoch), which
   with a few epochs biases the ratio by a few percent, about the size of the target's margin. The history's
   own figure, median ``seconds + measure_seconds`` over median ``seconds`` (training and measurement only, no
   evaluation, so slightly higher), is printed as a cross-check.
2. **Throughput of the loop** (target >= 0.95): training samples per second of ``train`` (its ``seconds``
   column: one epoch of training, without evaluation or measurement) against a plain hand-written PyTorch loop
   on the same architecture, the same data tensors and the same per-epoch ``torch.randperm`` shuffling, timed
   over the same span (from drawing the permutation to the last optimizer step; on CUDA the plain loop
   synchronizes before stopping its clock, while ``train`` reads its clock before the end-of-epoch
   synchronization, so on CUDA the library's figure is slightly optimistic). Both arms start from the same
   seeded initialization and draw the same batch order, so they do the same arithmetic for the MLP (the script
   checks that they end with the same weights); ``train`` runs convolutions in channels-last layout
   (``engine.train.channels_last``), so for the CNNs the printed difference is the drift of another order of the
   same arithmetic.

Each repeat runs the three arms (plain loop, untracked ``train``, tracked ``train``) on fresh models built
from the same seed, in alternating order (forward, then reversed: ABC CBA ...) so slow drifts of the machine
load cancel; the untracked ``train`` call serves both comparisons. Within a run the median over its epochs is
taken; ratios are taken within a repeat (adjacent runs), and the median over repeats is reported with the range
(min-max) as a noise indicator. One untimed warm-up round of one epoch per arm and model comes first. Other
processes on the machine inflate timings, and with oversubscribed cores PyTorch's thread pool can slow down
many-fold (compare ``--threads 1``): the script prints the load average and the share of the CPUs that other
processes used during the run, and warns when that share exceeds 10% or a ratio varies by more than 20% between
repeats.

Run: ``.venv/bin/python benchmarks/bench_train.py`` (about 1-3 min on 2 CPU cores) or with ``--quick``
(about 20 s). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch
from torch import nn

import emergence_lib as el
from emergence_lib.engine.train import resolve_device
from timing import MachineLoad, clocked, environment, in_turns, meets, record, save_figures, sync

OVERHEAD_TARGET = 1.05  # tracked / untracked epoch time, at most
THROUGHPUT_TARGET = 0.95  # library / plain samples per second, at least
NOISY = 1.2  # warn when the largest ratio of a figure's repeats exceeds its smallest by this factor
MODELS = {
    "MLP 784-512-256-128-10": ("mlp", {"hidden": [512, 256, 128]}),
    "small CNN": ("small_cnn", {}),
    "VGG-11/16 (default profile)": ("vgg", {"config": "vgg11", "width_multiplier": 0.0625, "batch_norm": False}),
}


def build(kind: str, kwargs: dict, data: el.Dataset, seed: int) -> nn.Module:
    """A fresh model, seeded so that every arm of every repeat starts from the same weights."""
    torch.manual_seed(seed)
    return el.build_model(kind, data.input_shape, 10, **kwargs)


def plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, device: torch.device,
               batch_size: int = 128) -> list[float]:
    """The hand-written baseline: per-epoch ``randperm`` shuffling, SGD lr 0.01 momentum 0.9. Seconds per epoch."""
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = torch.Generator().manual_seed(seed)  # as train() draws its batch order
    model.train()

    def one_epoch() -> None:
        perm = torch.randperm(len(x), generator=order).to(device)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return [clocked(one_epoch, device)[0] for _ in range(epochs)]  # synchronized before and after on CUDA


class EpochClock(el.Callback):
    """Wall time of each epoch's whole loop body: from one ``on_epoch_begin`` to the next (or to the end)."""

    def __init__(self, device: torch.device):
        self.device, self.last, self.seconds = device, None, []

    def tick(self) -> None:
        sync(self.device)
        now = time.perf_counter()
        if self.last is not None:
            self.seconds.append(now - self.last)
        self.last = now

    def on_epoch_begin(self, state: el.TrainState) -> None:
        self.tick()

    def on_train_end(self, state: el.TrainState) -> None:
        self.tick()


def library(model: nn.Module, data: el.Dataset, epochs: int, seed: int, device: torch.device, track: bool):
    """One ``train`` call: (wall seconds of each epoch, its history)."""
    clock = EpochClock(device)
    config = el.TrainConfig(epochs=epochs, seed=seed, track_emergence=track)
    history = el.train(model, data, config, callbacks=[clock], device=device, progress=False)
    return clock.seconds, history


def run_model(kind: str, kwargs: dict, data: el.Dataset, args: argparse.Namespace, device: torch.device) -> dict:
    """All repeats of the three arms for one model; returns medians, ranges and the weight check."""
    x, y = data.x_train.to(device), data.y_train.to(device)
    seed = args.seed

    def arm(name: str, epochs: int = args.epochs):
        model = build(kind, kwargs, data, seed)
        if name == "plain":
            return model, plain_loop(model, x, y, epochs, seed, device)
        return model, library(model, data, epochs, seed, device, track=(name == "tracked"))

    names = ("plain", "untracked", "tracked")
    for name in names:  # warm-up: allocator, thread pool, kernel selection
        arm(name, epochs=1)

    overhead, overhead_hist, throughput = [], [], []
    wall = {"untracked": [], "tracked": []}
    samples = {"plain": [], "library": []}
    max_diff = 0.0
    # The arms time themselves (per epoch); the whole-call seconds in_turns measures are not used.
    for turn in in_turns({name: (lambda name=name: arm(name)) for name in names}, args.repeats, warmup=0):
        plain_model, plain_seconds = turn["plain"][1]
        lib_model, (wall_untracked, hist_untracked) = turn["untracked"][1]
        _, (wall_tracked, hist_tracked) = turn["tracked"][1]
        wall_untracked, wall_tracked = statistics.median(wall_untracked), statistics.median(wall_tracked)

        trained = hist_untracked[hist_untracked["epoch"] >= 1]
        tracked = hist_tracked[hist_tracked["epoch"] >= 1]
        wall["untracked"].append(wall_untracked)
        wall["tracked"].append(wall_tracked)
        overhead.append(wall_tracked / wall_untracked)
        overhead_hist.append(
            statistics.median(tracked["seconds"] + tracked["measure_seconds"]) / statistics.median(trained["seconds"])
        )
        n = len(data.x_train)
        samples["plain"].append(n / statistics.median(plain_seconds))
        samples["library"].append(n / statistics.median(trained["seconds"]))
        throughput.append(samples["library"][-1] / samples["plain"][-1])
        with torch.no_grad():
            for a, b in zip(plain_model.state_dict().values(), lib_model.state_dict().values()):
                if a.is_floating_point():
                    max_diff = max(max_diff, float((a - b).abs().max()))

    med = statistics.median
    return {
        "epoch_untracked": med(wall["untracked"]),
        "epoch_tracked": med(wall["tracked"]),
        "overhead": med(overhead),
        "overhead_range": (min(overhead), max(overhead)),
        "overhead_hist": med(overhead_hist),
        "overhead_hist_range": (min(overhead_hist), max(overhead_hist)),
        "samples_library": med(samples["library"]),
        "samples_plain": med(samples["plain"]),
        "throughput": med(throughput),
        "throughput_range": (min(throughput), max(throughput)),
        "max_weight_diff": max_diff,
    }


def row(model: str, figure: str, measured: str, baseline: str, ratio: float, spread: tuple[float, float],
        op: str, target: float, keep: bool = True) -> dict:
    """One line of the table; ``spread`` (min, max of the ratio over repeats) feeds the noise warning; ``keep``
    records the figure for ``make bench``."""
    met = meets(ratio, op, target)
    if keep:
        record(figure, ratio, op, target, scope=model)
    return {"model": model, "figure": figure, "measured": measured, "baseline": baseline, "ratio": f"{ratio:.3f}",
            "range": "{:.3f}-{:.3f}".format(*spread), "target": f"{op} {target}", "met": "yes" if met else "NO",
            "spread": spread}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats of each arm (default 9; quick 2)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per timed run (default 3; quick 2)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models and the batch order")
    parser.add_argument("--models", nargs="+", choices=[k for k, _ in MODELS.values()], default=None,
                        help="subset of the models (default: all)")
    parser.add_argument("--quick", action="store_true", help="2 repeats of 2 epochs (about 20 s)")
    args = parser.parse_args()
    args.repeats = args.repeats or (2 if args.quick else 9)
    args.epochs = args.epochs or (2 if args.quick else 3)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    load = MachineLoad()
    data = el.load_dataset("mnist_subset").to(device)
    print(environment(device))
    print(data.summary())
    print(f"{args.repeats} repeats x {args.epochs} epochs per arm, batch 128, SGD lr 0.01 momentum 0.9, "
          f"seed {args.seed}")

    rows, checks = [], []
    for label, (kind, kwargs) in MODELS.items():
        if args.models is not None and kind not in args.models:
            continue
        res = run_model(kind, kwargs, data, args, device)
        rows += [
            row(label, "epoch s (wall), tracked / untracked", f"{res['epoch_tracked']:.3f}",
                f"{res['epoch_untracked']:.3f}", res["overhead"], res["overhead_range"], "<=", OVERHEAD_TARGET),
            row(label, "  cross-check: history, no eval", "", "", res["overhead_hist"], res["overhead_hist_range"],
                "<=", OVERHEAD_TARGET, keep=False),
            row(label, "train samples/s, library / plain", f"{res['samples_library']:.0f}",
                f"{res['samples_plain']:.0f}", res["throughput"], res["throughput_range"], ">=", THROUGHPUT_TARGET),
        ]
        checks.append(f"{label}: max |weight difference| plain loop vs train() after {args.epochs} epochs = "
                      f"{res['max_weight_diff']:.2e}")

    table = pd.DataFrame(rows).drop(columns="spread")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    for line in checks:
        print(line)
    print(load.report())  # warns when other processes used more than MachineLoad.BUSY of the CPUs
    save_figures(load, quick=args.quick)
    noisy = sum(max(r["spread"]) > NOISY * min(r["spread"]) for r in rows)
    if noisy:
        print(
            f"WARNING: noisy, ratios varied by more than {NOISY - 1:.0%} between repeats in {noisy} of {len(rows)} "
            "figures; rerun on a quiet machine, with more --repeats, or with --threads 1"
        )


if __name__ == "__main__":
    main()
