"""Do sweeps use the machine? The same runs trained one after the other and by parallel workers, in one run.

Every run on the CPU uses :data:`emergence_lib.engine.runs.RUN_THREADS` torch thread(s), so that its numbers do
not depend on the machine or on the parallelism; sweeps use the cores with one worker per core. Arms, each
training the same configs from scratch into its own temporary folder (nothing reused):

1. one run at a time with torch's default threads (one per core): how runs went before (``RUN_THREADS`` patched);
2. one run at a time, one thread;
3. two worker processes, one run each at a time, one thread each (``el.run_sweep(..., n_jobs=2)``).

The runs are the default profile's CNN (``--mlp``: its MLP) with fewer epochs, on the offline MNIST subset: 8 runs of
8 epochs, about 30 s an arm on 2 cores, so that starting the worker processes (seconds each: each imports torch)
is not what is measured (4 runs of 3 epochs, the sizes before, measured mostly that: 2 workers seemed slower
than one run at a time).
Prints the speed-up of 2 workers against arm 1 (target on a 2-core machine: at least 1.2) and whether arms 2 and
3 give identical histories (they must). Asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (``--quick``; ``--mlp``, ``--runs``, ``--epochs``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

import numpy as np
import torch

import emergence_lib as el
from timing import MachineLoad, environment, record, save_figures


def sweep(configs, n_jobs: int, threads: int | None = None) -> tuple[float, list]:
    """Wall time of training ``configs`` from scratch with ``n_jobs`` workers (``threads`` per run instead of
    ``RUN_THREADS`` when given), and their histories."""
    rule = el.runs.RUN_THREADS
    if threads is not None:
        el.runs.RUN_THREADS = threads
    try:
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            runs = el.run_sweep(configs, n_jobs=n_jobs, root=root, progress=False, device="cpu")
            return time.perf_counter() - start, [run.history for run in runs]
    finally:
        el.runs.RUN_THREADS = rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs of 1 epoch")
    parser.add_argument("--mlp", action="store_true", help="the profile's MLP instead of its CNN")
    parser.add_argument("--runs", type=int, default=None, help="runs per arm (default 8; quick: 2)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 8; quick: 1)")
    args = parser.parse_args()
    load = MachineLoad()
    profile = el.get_profile("default")
    runs, epochs = (2, 1) if args.quick else (8, 8)
    runs, epochs = args.runs or runs, args.epochs or epochs
    network = "mlp" if args.mlp else "cnn"
    profile = dataclasses.replace(profile, epochs=epochs)
    configs = [profile.run_config("mnist_subset", network, seed=seed) for seed in range(runs)]
    print(environment())
    print(f"{runs} runs of the default profile's {network} ({epochs} epochs each); {os.cpu_count()} cores; "
          f"runs use {el.runs.RUN_THREADS} torch thread(s); torch's default: {torch.get_num_threads()}")
    sweep(configs[:1], 1)  # warm-up: dataset cache, imports
    before, _ = sweep(configs, 1, threads=torch.get_num_threads())
    single, histories_single = sweep(configs, 1)
    two, histories_two = sweep(configs, 2)
    print(f"1 run at a time, {torch.get_num_threads()} threads (before): {before:7.1f} s")
    print(f"1 run at a time, 1 thread:            {single:7.1f} s")
    print(f"2 workers, 1 thread each:             {two:7.1f} s")
    note = record("speed-up, 2 workers / 1 run at a time", before / two, ">=", 1.2, scope=f"{runs} {network} runs")
    print(f"speed-up of 2 workers against before: {before / two:.2f} ({note})")

    def same(a, b) -> bool:  # every number but the clocks
        def numbers(h):
            return h.select_dtypes("number").drop(columns=["seconds", "measure_seconds"], errors="ignore")
        return all(np.array_equal(numbers(x), numbers(y), equal_nan=True) for x, y in zip(a, b))

    print(f"histories identical, one run at a time vs 2 workers: {same(histories_single, histories_two)}")
    print(load.report())
    save_figures(load, quick=args.quick)


if __name__ == "__main__":
    main()
