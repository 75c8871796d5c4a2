"""Do sweeps use the machine? The same runs trained one after the other and by parallel workers, in one run.

Arms, each training the same configs from scratch into its own temporary folder (nothing reused):

1. ``n_jobs=1``: one process, torch's default threads (one per core);
2. ``n_jobs=1`` with one torch thread: the cost of a run on one core;
3. ``n_jobs=2``: two worker processes with one torch thread each (:func:`emergence_lib.engine.runs.worker_threads`).

The runs are the feed-forward chapter's MLPs of the ``default`` profile (the paper's widths, several seeds) with
fewer epochs, on the offline MNIST subset. Prints the speed-up of 2 workers against 1 (target on a 2-core
machine: at least 1.2), and whether the runs' histories agree between the arms (the same numbers whatever the
thread count?). Asserts nothing.

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (``--quick``: fewer runs and epochs).
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
from timing import environment, target_note


def sweep(configs, n_jobs: int, threads: int | None = None) -> tuple[float, list]:
    """Wall time of training ``configs`` from scratch with ``n_jobs`` workers, and their histories."""
    default = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            runs = el.run_sweep(configs, n_jobs=n_jobs, root=root, progress=False, device="cpu")
            return time.perf_counter() - start, [run.history for run in runs]
    finally:
        torch.set_num_threads(default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs of 1 epoch")
    parser.add_argument("--cnn", action="store_true", help="the profile's CNN instead of the MLP")
    args = parser.parse_args()
    profile = el.get_profile("default")
    runs, epochs = (2, 1) if args.quick else (4, 3)
    network = "cnn" if args.cnn else "mlp"
    profile = dataclasses.replace(profile, epochs=epochs)
    configs = [profile.run_config("mnist_subset", network, seed=seed) for seed in range(runs)]
    print(environment())
    print(f"{runs} runs of the default profile's {network} ({epochs} epochs each); {os.cpu_count()} cores; "
          f"torch threads "
          f"by default: {torch.get_num_threads()}; two workers use {el.runs.worker_threads(2)} thread(s) each")
    sweep(configs[:1], 1)  # warm-up: dataset cache, imports
    one, histories_one = sweep(configs, 1)
    single, histories_single = sweep(configs, 1, threads=1)
    two, histories_two = sweep(configs, 2)
    print(f"1 worker, default threads: {one:7.1f} s")
    print(f"1 worker, 1 thread:        {single:7.1f} s")
    print(f"2 workers, 1 thread each:  {two:7.1f} s")
    print(f"speed-up of 2 workers against 1: {one / two:.2f} ({target_note(one / two, '>=', 1.2)})")

    def same(a, b) -> bool:  # every number but the clocks
        def numbers(h):
            return h.select_dtypes("number").drop(columns=["seconds", "measure_seconds"], errors="ignore")
        return all(np.array_equal(numbers(x), numbers(y), equal_nan=True) for x, y in zip(a, b))

    print(f"histories identical, default threads vs 1 thread: {same(histories_one, histories_single)}; "
          f"1 thread in this process vs in 2 workers: {same(histories_single, histories_two)}")


if __name__ == "__main__":
    main()
