"""The training loop, with emergence recorded every epoch and callbacks for everything else.

Entry point: :func:`train`, with its hyper-parameters in a :class:`TrainConfig`. Pruning, landscape probes and
other measurements plug in as :class:`Callback` objects instead of flags in the loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune
from tqdm.auto import tqdm

from .._checks import check_choice
from ..metric.layout import channels_last, has_batch_norm
from ..metric.graph import weight_norm
from ..metric.activity import PROBE_BATCH, Capture, ProbeRecorder, capture_activity
from ..metric.emergence import check_settings, measure, settings_free

OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda", "mps")
"""Device names a run, a probe or a chapter accepts; ``auto`` resolves with :func:`resolve_device`."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (the book's defaults: SGD, momentum 0.9, lr 0.01, batch 128).

    Attributes:
        epochs: passes over the training set.
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        lr, momentum, weight_decay, batch_size: as usual.
        seed: seeds dropout and the order of the batches (the model's initialization is seeded where it is built).
        max_batches: stop each epoch after this many batches (dry runs); None for full epochs.
        train_eval_size: training samples on which ``train_acc`` and ``train_loss`` are evaluated (eval mode)
            after every epoch and before the first: a fixed subset, the same for every run of a dataset (all of
            them when the training set is smaller).
        amp: bfloat16 autocast on CUDA (ignored elsewhere).
        track_emergence: measure emergence on the probe batch after every epoch (and before the first).
        threshold, reduce, layers, through: settings of :func:`~emergence_lib.measure`.
    """

    epochs: int = 10
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    seed: int = 0
    max_batches: int | None = None
    train_eval_size: int = 2048
    amp: bool = False
    track_emergence: bool = True
    threshold: float = 0.05
    reduce: str = "mean"
    layers: str = "hidden"
    through: str = "any"

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_settings(threshold=self.threshold, reduce=self.reduce, layers=self.layers, through=self.through)
        for name in ("epochs", "batch_size", "train_eval_size"):
            if getattr(self, name) < (0 if name == "epochs" else 1):
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr}")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. ``history`` holds the epochs recorded before it happened."""

    def __init__(self, message: str, history: pd.DataFrame):
        super().__init__(message)
        self.history = history


@dataclass
class TrainState:
    """What callbacks see: the model, its optimizer, the data, the config and the records so far."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    data: object
    config: TrainConfig
    device: torch.device
    epoch: int = 0
    records: list[dict] = field(default_factory=list)
    _capture: Capture | None = field(default=None, repr=False)

    def capture(self) -> Capture:
        """The probe batch's activations in the model as it is now: one forward pass and one node-graph build,
        shared by every emergence measurement of the epoch (taken again once the model has changed). In
        :func:`train`, the test evaluation's forward pass, where it can serve (see :func:`train`)."""
        if self._capture is None or not self._capture.matches(self.model):  # none yet, or the model changed since
            self._capture = capture_activity(self.model, self.data.probe.to(self.device))
        return self._capture


class Callback:
    """Hooks into :func:`train`; override what you need. Records are plain dicts: add your own columns."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the epoch-0 record (e.g. prune at initialization)."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Before each training epoch (``state.epoch`` is the epoch about to run, from 1)."""

    def on_epoch_trained(self, state: TrainState) -> None:
        """After each training epoch's batches, before its record is measured (e.g. prune at the end of an epoch:
        the record then describes the pruned network)."""

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        """After each epoch's record is made, epoch 0 included; may add entries to ``record``."""

    def on_train_end(self, state: TrainState) -> None:
        """After the last epoch."""


def progress_bar(**kwargs) -> tqdm:
    """A ``tqdm.auto`` bar, hidden when ``disable=True`` or when the environment sets ``TQDM_DISABLE``.

    The variable is read here, at every call: tqdm's notebook bar ignores it, and the book executes chapters
    with ``TQDM_DISABLE=1`` so that no bar (or widget state) reaches the built site.
    """
    off = os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")
    return tqdm(**{**kwargs, "disable": bool(kwargs.get("disable")) or off})


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The device to compute on: ``"auto"`` picks CUDA, then Apple MPS, then the CPU.

    The one place a device name is checked (training, probes, the book executor and the chapters use it).

    Raises:
        ValueError: for a name outside :data:`DEVICES` (or ``cuda:<index>``), or an accelerator that is absent.
    """
    if isinstance(device, torch.device):
        return device
    if not str(device).startswith("cuda:"):
        check_choice("device", device, DEVICES)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch.cuda.is_available() is False; use 'cpu' or 'auto'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but torch.backends.mps.is_available() is False; use 'cpu' or 'auto'")
    return torch.device(device)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named in ``config``."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


EVAL_BATCH = PROBE_BATCH
"""Samples per forward pass of :func:`evaluate`. On a CPU, the activations of larger batches fall out of the cache
(measured with one thread: the default profile's VGG evaluates 2,048 samples 1.7x faster in batches of 256 than
of 1,024). The probe pass's batches: the test evaluation that serves as the probe pass computes what
:func:`~emergence_lib.capture_activity` would."""


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = EVAL_BATCH,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` in eval mode (its mode is restored), its convolutions run
    in channels-last layout (:func:`~emergence_lib.metric.layout.channels_last`). ``forward`` computes the logits in
    place of ``model`` (a :class:`~emergence_lib.metric.activity.ProbeRecorder`)."""
    was_training = model.training
    model.eval()
    forward = forward or model
    loss, correct = torch.zeros((), device=x.device), torch.zeros((), device=x.device)
    with channels_last(model, x[:1]):
        for i in range(0, len(x), batch_size):
            logits = forward(x[i : i + batch_size]).float()
            loss += nn.functional.cross_entropy(logits, y[i : i + batch_size], reduction="sum")
            correct += (logits.argmax(dim=1) == y[i : i + batch_size]).sum()
    model.train(was_training)
    return float(loss) / len(x), float(correct) / len(x)


TRAIN_EVAL_SEED = 0
"""Seeds the choice of the fixed training subset of ``train_acc`` (not the training seed: every run of a dataset
is evaluated on the same samples)."""


def train_eval_indices(n_train: int, size: int) -> torch.Tensor:
    """Indices of the fixed training subset on which ``train_acc`` is evaluated (see :attr:`TrainConfig.train_eval_size`).

    Example:
        >>> train_eval_indices(10, 4).tolist() == train_eval_indices(10, 4).tolist()
        True
    """
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(TRAIN_EVAL_SEED))
    return order[: min(size, n_train)].sort().values


@contextlib.contextmanager
def masks_in_place(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Train a pruned model at the speed of a dense one: its masks applied once per step, not in every forward pass.

    ``torch.nn.utils.prune`` recomputes ``weight = weight_orig * weight_mask`` before every forward pass and
    multiplies the gradient by the mask in every backward pass. Inside this context the pruning hooks are set
    aside, every pruned tensor is zeroed where its mask is, and the layer computes with ``weight_orig`` itself;
    the function it yields zeroes those positions again (one in-place multiply for all tensors) and is called
    after every optimizer step. The pruned weights stay exactly zero and the unpruned ones see the arithmetic of
    the hooks (the same forward values and gradients: bit for bit for the MLP; in :func:`channels_last` training a
    convolution may run in another memory layout when its weight is the hooks' masked copy, which changes the last
    bits); on leaving, the hooks are back in force. Only momentum buffers at pruned positions differ, and they
    never reach a weight.

    Example:
        >>> import torch, emergence_lib as el
        >>> model = el.mlp([4, 3, 2]); el.prune.magnitude(model, 0.5)
        >>> with masks_in_place(model) as reapply:
        ...     model[1].weight_orig.data += 1.0  # an optimizer step, in effect
        ...     reapply()
        >>> bool((model[1].weight[model[1].weight_mask == 0] == 0).all())
        True
    """
    pruned = [
        (module, key, hook)
        for module in model.modules()
        for key, hook in list(module._forward_pre_hooks.items())
        if isinstance(hook, torch_prune.BasePruningMethod)
    ]
    origs, masks = [], []
    for module, key, hook in pruned:
        del module._forward_pre_hooks[key]
        name = hook._tensor_name
        origs.append(getattr(module, name + "_orig"))
        masks.append(getattr(module, name + "_mask"))
        module.__dict__[name] = origs[-1]  # a plain attribute, as the hook sets it: not registered twice

    @torch.no_grad()
    def reapply() -> None:
        if origs:
            torch._foreach_mul_(origs, masks)

    reapply()
    try:
        yield reapply
    finally:
        for module, key, hook in pruned:
            module._forward_pre_hooks[key] = hook
            setattr(module, hook._tensor_name, hook.apply_mask(module))


def _emergence(state: TrainState) -> dict:
    config = state.config
    if not config.track_emergence:
        return {}
    start = time.perf_counter()
    result = measure(
        state.model, state.capture(), threshold=config.threshold, reduce=config.reduce, layers=config.layers,
        through=config.through,
    )
    record = settings_free(result.as_record())
    record["measure_seconds"] = time.perf_counter() - start
    return record


def train(
    model: nn.Module,
    data,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    device: str | torch.device = "auto",
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` on ``data`` and return its per-epoch history.

    Row 0 describes the model before training; row ``t`` the model after epoch ``t``. Columns: ``epoch``,
    ``train_loss`` and ``train_acc`` (one estimator at every epoch, 0 included: eval mode, on the fixed training
    subset of :func:`train_eval_indices`), ``train_loss_running`` and ``train_acc_running`` (averages over the
    epoch's batches in training mode, dropout on, while the weights change; NaN at epoch 0), ``test_loss``,
    ``test_acc``, ``seconds`` (training time of the epoch), ``weight_norm`` (of all Linear and Conv2d weights,
    after masks) and, when
    ``config.track_emergence``, the emergence figures of :meth:`~emergence_lib.EmergenceResult.as_record` on
    ``data.probe`` (absolute, log10, relative, fraction, balanced, active and size per counted layer).

    The loop is deliberately plain: data already on the device, one ``randperm`` per epoch (drawn on the CPU from
    ``config.seed``, so the batch order is the same on every device), losses summed on the device and read once
    per epoch (no per-batch synchronization). Emergence is tracked without a forward pass of its own where the
    probe is the first samples of the test set (as :func:`~emergence_lib.load_dataset` lays them out) and the model
    has no BatchNorm: the test evaluation's forward pass records the probe's activity, the values a separate probe
    pass computes (same mode, batches and layout).

    Args:
        model: the network; moved to ``device``.
        data: a :class:`~emergence_lib.engine.data.Dataset` (anything with ``x_train``, ``y_train``, ``x_test``,
            ``y_test`` and ``probe`` tensors).
        config: the hyper-parameters.
        callbacks: hooks called around epochs (see :class:`Callback`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        progress: show a progress bar over epochs.

    Raises:
        TrainingDiverged: the loss became NaN or infinite; its ``history`` holds the epochs before.

    Example:
        >>> import torch, emergence_lib as el
        >>> data = el.load_dataset("mnist_subset", train_size=500, test_size=200, probe_size=64)
        >>> class LearningRate(el.Callback):  # a callback may add its own columns to the records
        ...     def on_epoch_end(self, state, record):
        ...         record["lr"] = state.optimizer.param_groups[0]["lr"]
        >>> _ = torch.manual_seed(0)  # seeds the initialization (config.seed seeds dropout and the batch order)
        >>> model = el.mlp([784, 32, 16, 10])
        >>> history = el.train(model, data, el.TrainConfig(epochs=2), callbacks=[LearningRate()], progress=False)
        >>> history["epoch"].tolist(), history["lr"].tolist()  # row 0: the model before training
        ([0, 1, 2], [0.01, 0.01, 0.01])
        >>> history[["size_1", "size_2"]].iloc[0].tolist()  # emergence figures per counted (hidden) layer
        [32, 16]
    """
    device = resolve_device(device)
    model.to(device)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    fixed = train_eval_indices(len(x_train), config.train_eval_size).to(device)
    x_fixed, y_fixed = x_train[fixed], y_train[fixed]
    torch.manual_seed(config.seed)  # dropout masks
    order = torch.Generator().manual_seed(config.seed)  # batch order, drawn on the CPU for reproducibility
    autocast = config.amp and device.type == "cuda"
    state = TrainState(model, make_optimizer(model, config), data, config, device)
    probe = data.probe.to(device)
    probe_first = (
        config.track_emergence
        and not has_batch_norm(model)
        and len(probe) <= len(x_test)
        and torch.equal(probe, x_test[: len(probe)])
    )
    for cb in callbacks:
        cb.on_train_begin(state)

    def finish(epoch: int, running: tuple[float, float], seconds: float) -> None:
        record: dict = {"epoch": epoch}
        record["train_loss"], record["train_acc"] = evaluate(model, x_fixed, y_fixed)
        record["train_loss_running"], record["train_acc_running"] = running
        # Where the probe is the test set's first samples and eval mode is the probe's mode (no BatchNorm), the test
        # evaluation's forward pass is the probe pass: tracking then costs no forward pass of its own.
        recorder = ProbeRecorder(model, len(probe)) if probe_first else None
        record["test_loss"], record["test_acc"] = evaluate(model, x_test, y_test, forward=recorder)
        if recorder is not None:
            state._capture = recorder.capture()
        record["seconds"] = seconds
        record["weight_norm"] = weight_norm(model)
        record.update(_emergence(state))
        for cb in callbacks:
            cb.on_epoch_end(state, record)
        state.records.append(record)

    finish(0, (math.nan, math.nan), 0.0)
    bar = progress_bar(iterable=range(1, config.epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        state.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_begin(state)
        model.train()
        start = time.perf_counter()
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        perm = torch.randperm(len(x_train), generator=order).to(device)
        with channels_last(model, x_train[:1]), masks_in_place(model) as reapply_masks:
            for b, i in enumerate(range(0, len(x_train), config.batch_size)):
                if config.max_batches is not None and b >= config.max_batches:
                    break
                idx = perm[i : i + config.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    logits = model(xb)
                    loss = nn.functional.cross_entropy(logits.float(), yb)
                state.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                state.optimizer.step()
                reapply_masks()
                loss_sum += loss.detach() * len(idx)
                correct += (logits.detach().argmax(dim=1) == yb).sum()
                seen += len(idx)
        train_loss = float(loss_sum) / max(seen, 1)  # waits for the device: the epoch's work is done
        seconds = time.perf_counter() - start
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss became {train_loss} in epoch {epoch} (lr={config.lr}, optimizer={config.optimizer}); "
                f"the {len(state.records)} epochs recorded before are in .history",
                pd.DataFrame(state.records),
            )
        for cb in callbacks:
            cb.on_epoch_trained(state)
        finish(epoch, (train_loss, float(correct) / max(seen, 1)), seconds)
        bar.set_postfix(test_acc=f"{state.records[-1]['test_acc']:.3f}")
    for cb in callbacks:
        cb.on_train_end(state)
    return pd.DataFrame(state.records)


class Measures(Callback):
    """Measure emergence with other settings on the same probe batch after every epoch (and before the first).

    Each variant adds the figures of :meth:`~emergence_lib.EmergenceResult.as_record` to the history as
    ``"<label>/<column>"`` (e.g. ``"tau=0.01/log10_absolute"``), so one training run shows how the definition's
    choices change ``E`` on exactly the same networks.

    Args:
        variants: label -> keyword arguments of :func:`~emergence_lib.measure` among :data:`~emergence_lib.metric.emergence.SETTINGS`.
    """

    def __init__(self, variants: dict[str, dict]):
        self.variants = check_variants(variants)

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        for label, settings in self.variants.items():  # one probe pass for all of them
            result = measure(state.model, state.capture(), **settings)
            record.update({f"{label}/{k}": v for k, v in settings_free(result.as_record()).items()})


def check_variants(variants: dict[str, dict]) -> dict[str, dict]:
    """Validate measurement variants (see :class:`Measures`) and return them; a clear error names what is wrong."""
    if not isinstance(variants, dict) or not variants:
        raise ValueError("variants must be a non-empty dict: label -> settings, e.g. {'tau=0.01': {'threshold': 0.01}}")
    for label, settings in variants.items():
        if not isinstance(label, str) or not label or "/" in label:
            raise ValueError(f"variant label {label!r} must be a non-empty string without '/'")
        if not isinstance(settings, dict):
            raise ValueError(f"variant {label!r}: settings must be a dict of measure() settings; got {settings!r}")
        try:
            check_settings(**settings)
        except ValueError as error:
            raise ValueError(f"variant {label!r}: {error}") from None
    return variants


def effective_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter, torch.Tensor | None, nn.Module, str]]:
    """Every parameter under the name the network computes with: ``(name, parameter, mask, owner, attribute)``.

    A weight pruned with ``torch.nn.utils.prune`` is stored as ``1.weight_orig`` beside a ``1.weight_mask``
    buffer; it is listed as ``"1.weight"`` (attribute ``"weight"``) with that mask. Other parameters have no mask
    (None). In ``named_parameters`` order (shared parameters once). The one place this naming rule is written:
    the training path and the landscape probes read it from here.
    """
    found = []
    for name, param in model.named_parameters():
        owner_name, _, attribute = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        mask = None
        if attribute.endswith("_orig") and f"{attribute[: -len('_orig')]}_mask" in owner._buffers:
            attribute = attribute[: -len("_orig")]
            mask = owner._buffers[f"{attribute}_mask"]
        found.append((f"{owner_name}.{attribute}" if owner_name else attribute, param, mask, owner, attribute))
    return found


def effective_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter as the network computes with it, by effective name (:func:`effective_parameters`):
    ``"1.weight"`` holds ``weight_orig * weight_mask`` for a layer pruned with ``torch.nn.utils.prune`` (detached
    tensors).

    Example:
        >>> import torch, emergence_lib as el
        >>> model = el.mlp([4, 3, 2]); el.prune.magnitude(model, 0.5)
        >>> weights = effective_weights(model)
        >>> list(weights)  # in named_parameters order: a pruned weight comes after its bias
        ['1.bias', '1.weight', '3.bias', '3.weight']
        >>> bool(weights["1.weight"].eq(0).sum() > 0)
        True
    """
    return {name: param.detach() if mask is None else param.detach() * mask
            for name, param, mask, _, _ in effective_parameters(model)}  # fmt: skip


class Trajectory(Callback):
    """Record the network's weights after every epoch, and before the first: the training path.

    The effective weights (:func:`effective_weights`) are kept on the CPU in float16, which halves the storage
    of float32 and resolves a step of a thousandth of a weight's size, ample for the principal directions of
    the path (:func:`~emergence_lib.probes.landscape.trajectory_directions`). :meth:`stacked` gives one tensor
    per parameter, ``(epochs + 1, *shape)``.
    """

    def __init__(self) -> None:
        self.weights: dict[str, list[torch.Tensor]] = {}

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        for name, value in effective_weights(state.model).items():
            self.weights.setdefault(name, []).append(value.to("cpu", torch.float16))

    def stacked(self) -> dict[str, torch.Tensor]:
        """Parameter name -> ``(epochs + 1, *shape)`` float16 tensor, row ``t`` after epoch ``t``."""
        return {name: torch.stack(values) for name, values in self.weights.items()}
