"""How fast is the training loop? Ratios against baselines measured in the same run, on the same machine.

For the MLP 784-512-256-128-10 and the small CNN, on the offline MNIST subset (``load_dataset("mnist_subset")``:
4,000 train / 1,000 test, probe 512), batch 128, SGD lr 0.01 momentum 0.9:

1. **Cost of tracking emergence** (target <= 1.05): epoch time of ``train`` with ``track_emergence=True``
   divided by epoch time with ``track_emergence=False``. "Epoch time" includes everything an epoch costs the
   user: training, the test-set evaluation (done in both arms) and, in the tracked arm, the per-epoch
   ``measure`` on the probe. It is timed with the wall clock around whole ``train(...)`` calls of ``--epochs``
   epochs and divided by the number of epochs. Why the wall clock rather than the history's
   ``seconds + measure_seconds``: it depends on none of the library's own timers, so it also catches costs
   those timers miss (building the record, the test evaluation, callbacks, the DataFrame). It is slightly
   conservative: a tracked call measures ``epochs + 1`` times (once before the first epoch), and that extra
   measurement is charged to the tracked arm; both arms also pay the epoch-0 evaluation on the training set.
   The per-epoch figure from the history, median of ``(seconds + measure_seconds)`` over median ``seconds``
   (training and measurement only, no evaluation), is printed as a cross-check.
2. **Throughput of the loop** (target >= 0.95): training samples per second of ``train`` (its ``seconds``
   column: one epoch of training, without evaluation or measurement) against a plain hand-written PyTorch loop
   on the same architecture, the same data tensors and the same per-epoch ``torch.randperm`` shuffling, timed
   over the same span (from drawing the permutation to the last optimizer step; on CUDA the plain loop
   synchronizes before stopping its clock). Both arms start from the same seeded initialization and draw the
   same batch order, so they do the same arithmetic; the script checks that they end with the same weights.

Each repeat runs the three arms (plain loop, untracked ``train``, tracked ``train``) on fresh models built
from the same seed, in alternating order (forward, then reversed: ABC CBA ...) so slow drifts of the machine
load cancel; the throughput of the untracked ``train`` call serves both comparisons. Ratios are taken within a
repeat (adjacent runs) and the median over repeats is reported, with the range as a noise indicator. One
untimed warm-up round per model comes first. The load average before and after is printed: other processes on
the machine inflate timings, and with oversubscribed cores PyTorch's thread pool can slow down many-fold
(compare ``--threads 1``).

Run: ``.venv/bin/python benchmarks/bench_train.py`` (about 1-3 min on 2 CPU cores) or with ``--quick``
(about 20 s). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import pandas as pd
import torch
from torch import nn

import emergence_lib as el
from emergence_lib.train import resolve_device

OVERHEAD_TARGET = 1.05  # tracked / untracked epoch time, at most
THROUGHPUT_TARGET = 0.95  # library / plain samples per second, at least
MODELS = {"MLP 784-512-256-128-10": ("mlp", {"hidden": [512, 256, 128]}), "small CNN": ("small_cnn", {})}


def build(kind: str, kwargs: dict, data: el.Dataset, seed: int) -> nn.Module:
    """A fresh model, seeded so that every arm of every repeat starts from the same weights."""
    torch.manual_seed(seed)
    return el.build_model(kind, data.input_shape, 10, **kwargs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, device: torch.device,
               batch_size: int = 128) -> list[float]:
    """The hand-written baseline: per-epoch ``randperm`` shuffling, SGD lr 0.01 momentum 0.9. Seconds per epoch."""
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = torch.Generator().manual_seed(seed)  # as train() draws its batch order
    model.train()
    seconds = []
    for _ in range(epochs):
        sync(device)
        start = time.perf_counter()
        perm = torch.randperm(len(x), generator=order).to(device)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def library(model: nn.Module, data: el.Dataset, epochs: int, seed: int, device: torch.device, track: bool):
    """One ``train`` call: (wall seconds of the whole call, its history)."""
    config = el.TrainConfig(epochs=epochs, seed=seed, track_emergence=track)
    sync(device)
    start = time.perf_counter()
    history = el.train(model, data, config, device=device, progress=False)
    sync(device)
    return time.perf_counter() - start, history


def run_model(kind: str, kwargs: dict, data: el.Dataset, args: argparse.Namespace, device: torch.device) -> dict:
    """All repeats of the three arms for one model; returns medians, ranges and the weight check."""
    x, y = data.x_train.to(device), data.y_train.to(device)
    seed, epochs = args.seed, args.epochs

    def arm(name: str):
        model = build(kind, kwargs, data, seed)
        if name == "plain":
            return model, plain_loop(model, x, y, epochs, seed, device)
        return model, library(model, data, epochs, seed, device, track=(name == "tracked"))

    for name in ("plain", "untracked", "tracked"):  # warm-up: allocator, thread pool, kernel selection
        build_and_run = build(kind, kwargs, data, seed)
        if name == "plain":
            plain_loop(build_and_run, x, y, 1, seed, device)
        else:
            library(build_and_run, data, 1, seed, device, track=(name == "tracked"))

    overhead, overhead_hist, throughput = [], [], []
    wall = {"untracked": [], "tracked": []}
    samples = {"plain": [], "library": []}
    max_diff = 0.0
    for r in range(args.repeats):
        names = ["plain", "untracked", "tracked"]
        results = {name: arm(name) for name in (names if r % 2 == 0 else names[::-1])}
        plain_model, plain_seconds = results["plain"]
        lib_model, (wall_untracked, hist_untracked) = results["untracked"]
        _, (wall_tracked, hist_tracked) = results["tracked"]

        trained = hist_untracked[hist_untracked["epoch"] >= 1]
        tracked = hist_tracked[hist_tracked["epoch"] >= 1]
        wall["untracked"].append(wall_untracked / epochs)
        wall["tracked"].append(wall_tracked / epochs)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of each arm (median reported)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed run")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models and the batch order")
    parser.add_argument("--quick", action="store_true", help="2 repeats of 2 epochs (about 20 s)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.epochs = 2, 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    start = time.perf_counter()
    load_before = os.getloadavg()
    data = el.load_dataset("mnist_subset").to(device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
        f"emergence_lib {el.__version__}, {os.cpu_count()} CPUs"
    )
    print(data.summary())
    print(f"{args.repeats} repeats x {args.epochs} epochs per arm, batch 128, SGD lr 0.01 momentum 0.9, seed {args.seed}")

    rows, checks = [], []
    for label, (kind, kwargs) in MODELS.items():
        res = run_model(kind, kwargs, data, args, device)
        rng = "{:.3f}-{:.3f}".format
        rows += [
            {"model": label, "figure": "epoch s, tracked / untracked (wall)",
             "library": f"{res['epoch_tracked']:.3f}", "baseline": f"{res['epoch_untracked']:.3f}",
             "ratio": res["overhead"], "range": rng(*res["overhead_range"]), "target": f"<= {OVERHEAD_TARGET}",
             "met": res["overhead"] <= OVERHEAD_TARGET},
            {"model": label, "figure": "  cross-check: history, no eval",
             "library": "", "baseline": "",
             "ratio": res["overhead_hist"], "range": rng(*res["overhead_hist_range"]),
             "target": f"<= {OVERHEAD_TARGET}", "met": res["overhead_hist"] <= OVERHEAD_TARGET},
            {"model": label, "figure": "train samples/s, library / plain",
             "library": f"{res['samples_library']:.0f}", "baseline": f"{res['samples_plain']:.0f}",
             "ratio": res["throughput"], "range": rng(*res["throughput_range"]),
             "target": f">= {THROUGHPUT_TARGET}", "met": res["throughput"] >= THROUGHPUT_TARGET},
        ]
        checks.append(f"{label}: max |weight difference| plain loop vs train() after {args.epochs} epochs = "
                      f"{res['max_weight_diff']:.2e}")

    table = pd.DataFrame(rows)
    table["ratio"] = table["ratio"].map("{:.3f}".format)
    table["met"] = table["met"].map({True: "yes", False: "NO"})
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    for line in checks:
        print(line)
    load_after = os.getloadavg()
    print(
        f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} CPUs; "
        f"total {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
