"""The loss landscape around a model's weights: random directions, loss surfaces and how rugged they are.

A surface is the loss on one batch over a line or a plane of weights through the model's own, spanned by
filter-normalized random directions (Li et al. 2018, *Visualizing the Loss Landscape of Neural Nets*).

- :func:`random_directions` draws the directions (:func:`save_directions` and :func:`load_directions` store them);
  :func:`loss_surface` evaluates a :class:`Surface` on them.
- :func:`local_minima`, :func:`second_difference`, :func:`sharpness` and :func:`ruggedness` measure a surface.
- :func:`trajectory_directions` finds the plane of a recorded training path (its principal directions) and the
  path in it (:class:`TrainingPath`), for a surface with the path drawn on it.
- :class:`LandscapeProbe` measures trained runs the landscape chapter's way, one surface and one
  :class:`~emergence_lib.probes.hessian.Curvature` per run, and keeps the surfaces for the figures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .._checks import check_choice, check_integer
from ..engine.runs import data_used
from ..engine.train import effective_parameters, resolve_device
from ..metric.graph import _evaluation
from .hessian import Curvature

if TYPE_CHECKING:
    from ..engine.runs import Run

NORMALIZATIONS = ("filter", "layer", "none")
"""How :func:`random_directions` scales a direction against the weights, per output filter or row
(``"filter"``), per tensor (``"layer"``), or not at all (``"none"``)."""
IGNORES = ("biasbn", "none")
"""What :func:`random_directions` does with 1-D parameters (biases, BatchNorm weights and biases), set their
direction to zero (``"biasbn"``) or perturb them too (``"none"``)."""
BORDERS = ("compare", "exclude")
"""How :func:`local_minima` treats points on the border of the grid, compared with the neighbours they have
(``"compare"``) or never counted (``"exclude"``)."""

# Layers whose output is linear in their weight and bias, so that the first one of a Sequential is computed once
# for a whole surface; exact types only, since a subclass may change the forward pass.
_LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Relative tolerance for "the coordinate is 0" and "the grid is evenly spaced".
_GRID_RTOL = 1e-6

Directions = list[dict[str, torch.Tensor]]


@dataclass(frozen=True, eq=False)
class _Slot:
    """One parameter of a model as a landscape probe sees it.

    ``name`` is the effective name (``"1.weight"`` for a pruned weight stored as ``"1.weight_orig"``), ``param``
    the Parameter that holds the values, ``mask`` the pruning mask (None when not pruned), ``module`` its owner
    and ``attribute`` the effective attribute name on it (``"weight"``).
    """

    name: str
    param: nn.Parameter
    mask: torch.Tensor | None
    module: nn.Module
    attribute: str

    def effective(self) -> torch.Tensor:
        """The values the network uses: ``param * mask`` for a pruned tensor."""
        value = self.param.detach()
        return value if self.mask is None else value * self.mask


def _slots(model: nn.Module) -> list[_Slot]:
    """Every parameter of ``model`` (shared ones once), in ``named_parameters`` order, under its effective name
    (:func:`~emergence_lib.engine.train.effective_parameters`)."""
    slots = [_Slot(*entry) for entry in effective_parameters(model)]
    if not slots:
        raise ValueError(f"{type(model).__name__} has no parameters: there is no landscape to probe")
    return slots


def _stream_seed(seed: int, index: int) -> int:
    """Seed of direction ``index``'s own random stream: independent of how many directions are drawn."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0])


def _rescale(direction: torch.Tensor, weight: torch.Tensor, rows: bool) -> torch.Tensor:
    """``direction`` rescaled to the L2 norm of ``weight``, row by row (dim 0) or as a whole.

    A row (or tensor) of the direction that is zero, or whose weight is zero, becomes zero.
    """
    if rows:
        d_norm = direction.flatten(1).norm(dim=1)
        w_norm = weight.flatten(1).norm(dim=1)
    else:
        d_norm, w_norm = direction.norm(), weight.norm()
    scale = torch.where(d_norm > 0, w_norm / torch.where(d_norm > 0, d_norm, 1.0), 0.0)
    return direction * scale.reshape(-1, *([1] * (direction.dim() - 1))) if rows else direction * scale


def random_directions(
    model: nn.Module, n: int = 2, normalization: str = "filter", ignore: str = "biasbn", seed: int = 0
) -> Directions:
    """Random directions in weight space, normalized against the model's weights (Li et al., 2018).

    Filter normalization (the default) rescales every output filter (row) of a direction to the norm of the same
    filter of the weights, so that a step of 1 moves every filter by its own size and networks of different scale
    can be compared.

    Every entry of direction ``i`` is first drawn from N(0, 1) in float32 by a CPU ``torch.Generator`` with its
    own seed, derived from ``(seed, i)`` (``numpy.random.SeedSequence``), parameter after parameter in
    ``named_parameters`` order. The directions are therefore the same on every device, and direction ``i`` does
    not depend on ``n``. Then, in float64 on the CPU, with ``w`` the effective weights (``weight_orig *
    weight_mask`` for a pruned tensor):

    - pruned positions are set to zero (the direction is multiplied by the mask);
    - a tensor with two or more dimensions (a ``Linear`` or convolution weight) is normalized:
      ``"filter"``: every row ``k`` along dim 0 (an output neuron or filter) is rescaled to
      ``d[k] * ||w[k]|| / ||d[k]||``; ``"layer"``: the whole tensor to ``d * ||w|| / ||d||``; ``"none"``: left
      as drawn. A row (or tensor) whose weights are all zero, such as a pruned node, gets a zero direction;
    - a tensor with at most one dimension (a bias, a BatchNorm weight or bias) is set to zero when
      ``ignore="biasbn"``; with ``ignore="none"`` it is rescaled as a whole to ``d * ||w|| / ||d||`` under
      ``"filter"`` and ``"layer"`` normalization (one filter), and left as drawn under ``"none"``. (Li et al.'s
      reference code copies ``w`` itself into the direction there; a rescaled random vector keeps it random.)

    Args:
        model: the network; its parameters and masks are only read.
        n: number of directions (1 for a line, 2 for a plane).
        normalization: one of :data:`NORMALIZATIONS`.
        ignore: one of :data:`IGNORES`.
        seed: non-negative integer; the same seed gives the same directions.

    Returns:
        ``n`` dicts from effective parameter name (e.g. ``"1.weight"`` for a pruned layer, never
        ``"1.weight_orig"``) to a tensor of the parameter's shape, dtype and device.

    Raises:
        ValueError: for an unknown normalization or ignore, ``n < 1``, a negative seed, or a model without
            parameters.
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_choice("ignore", ignore, IGNORES)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (1 for a line, 2 for a plane); got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    slots = _slots(model)
    weights = [s.effective().to("cpu", torch.float64) for s in slots]
    masks = [None if s.mask is None else s.mask.detach().to("cpu", torch.float64) for s in slots]
    directions = []
    for index in range(n):
        generator = torch.Generator().manual_seed(_stream_seed(seed, index))
        direction = {}
        for slot, weight, mask in zip(slots, weights, masks):
            d = torch.randn(weight.shape, generator=generator, dtype=torch.float32).to(torch.float64)
            if mask is not None:
                d = d * mask
            if d.dim() <= 1:
                if ignore == "biasbn":
                    d = torch.zeros_like(d)
                elif normalization != "none":
                    d = _rescale(d, weight, rows=False)
            elif normalization != "none":
                d = _rescale(d, weight, rows=normalization == "filter")
            direction[slot.name] = d.to(device=slot.param.device, dtype=slot.param.dtype)
        directions.append(direction)
    return directions


def save_directions(directions: Directions, path: str | Path) -> None:
    """Store directions with ``torch.save`` (on the CPU), atomically: readers see the old file or the new one.

    Raises:
        ValueError: when ``directions`` is not a list of dicts from names to tensors.
    """
    _check_structure(directions)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        torch.save([{k: v.detach().cpu() for k, v in d.items()} for d in directions], tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_directions(path: str | Path, device: str | torch.device = "cpu") -> Directions:
    """Directions stored by :func:`save_directions`, on ``device`` (read with ``weights_only=True``).

    Raises:
        ValueError: when the file does not hold a list of dicts from names to tensors.
    """
    directions = torch.load(path, map_location=device, weights_only=True)
    _check_structure(directions)
    return directions


def _check_structure(directions: object) -> None:
    if not (
        isinstance(directions, list)
        and directions
        and all(
            isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())
            for d in directions
        )
    ):
        raise ValueError("directions must be a non-empty list of dicts from parameter names to tensors")


@dataclass(frozen=True, eq=False)
class Surface:
    """Loss and accuracy on a line (1-D) or a grid (2-D) around a model's weights, from :func:`loss_surface`.

    Attributes:
        coords: ``(alphas,)`` for a line, ``(alphas, betas)`` for a grid: the step sizes along each direction.
        loss: shape ``(len(alphas),)`` or ``(len(alphas), len(betas))``; ``loss[i, j]`` is the loss at
            ``theta + alphas[i] * d1 + betas[j] * d2``.
        accuracy: same shape: the fraction of the batch classified correctly there (NaN when the targets are
            not class indices).
    """

    coords: tuple[np.ndarray, ...]
    loss: np.ndarray
    accuracy: np.ndarray

    def __post_init__(self) -> None:
        coords = tuple(np.asarray(c, dtype=np.float64) for c in self.coords)
        shape = tuple(len(c) for c in coords)
        if len(coords) not in (1, 2) or any(c.ndim != 1 for c in coords):
            raise ValueError("coords must be one or two 1-D arrays")
        loss, accuracy = np.asarray(self.loss, dtype=np.float64), np.asarray(self.accuracy, dtype=np.float64)
        if loss.shape != shape or accuracy.shape != shape:
            raise ValueError(f"loss and accuracy must have shape {shape}; got {loss.shape} and {accuracy.shape}")
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "accuracy", accuracy)

    @property
    def ndim(self) -> int:
        """1 for a line, 2 for a grid."""
        return len(self.coords)

    @property
    def center_index(self) -> tuple[int, ...]:
        """Index of the coordinate 0 (the model's own weights) along each axis.

        Raises:
            ValueError: when an axis has no coordinate 0 (up to 1e-6 of its largest absolute coordinate).
        """
        index = []
        for axis, c in enumerate(self.coords):
            hits = np.flatnonzero(np.abs(c) <= _GRID_RTOL * max(np.abs(c).max(), 1e-300))
            if len(hits) == 0:
                raise ValueError(
                    f"axis {axis} of the surface has no coordinate 0 (the model's own weights); use an odd number "
                    "of points symmetric around 0, e.g. np.linspace(-1, 1, 21)"
                )
            index.append(int(hits[0]))
        return tuple(index)

    @property
    def steps(self) -> tuple[float, ...]:
        """The grid step of each axis.

        Raises:
            ValueError: when an axis has fewer than two points or is not evenly spaced and increasing.
        """
        steps = []
        for axis, c in enumerate(self.coords):
            diffs = np.diff(c)
            if len(c) < 2 or diffs[0] <= 0 or not np.allclose(diffs, diffs[0], rtol=_GRID_RTOL, atol=0):
                raise ValueError(f"axis {axis} of the surface must be increasing and evenly spaced, with 2+ points")
            steps.append(float((c[-1] - c[0]) / (len(c) - 1)))
        return tuple(steps)

    def to_frame(self) -> pd.DataFrame:
        """A long table, one row per point: columns ``alpha`` (and ``beta``), ``loss``, ``accuracy``."""
        grids = np.meshgrid(*self.coords, indexing="ij")
        columns = {name: g.ravel() for name, g in zip(("alpha", "beta"), grids)}
        return pd.DataFrame({**columns, "loss": self.loss.ravel(), "accuracy": self.accuracy.ravel()})


def _axes(coords: object) -> tuple[np.ndarray, ...]:
    """``coords`` as one or two finite, non-empty float64 arrays."""
    if isinstance(coords, torch.Tensor):
        coords = coords.detach().cpu().numpy()
    message = "coords must be one sequence of numbers (a line) or a pair of sequences (a grid)"
    try:
        items = list(coords)
    except TypeError:
        raise ValueError(f"{message}; got {coords!r}") from None
    items = [i.detach().cpu().numpy() if isinstance(i, torch.Tensor) else i for i in items]
    ranks = {np.ndim(i) for i in items}
    if ranks == {0}:
        axes = (np.asarray(items, dtype=np.float64),)
    elif ranks == {1}:
        axes = tuple(np.asarray(i, dtype=np.float64) for i in items)
    else:
        raise ValueError(f"{message}; got items of dimensions {sorted(ranks)}")
    if len(axes) not in (1, 2):
        raise ValueError(f"{message}; got {len(axes)} sequences")
    if any(len(a) == 0 or not np.all(np.isfinite(a)) for a in axes):
        raise ValueError(f"{message}, each non-empty and finite")
    return axes


def _check_directions(slots: list[_Slot], directions: object, axes: int) -> list[dict[str, torch.Tensor]]:
    """Directions matched to ``slots``, on each parameter's device and dtype."""
    _check_structure(directions)
    if len(directions) != axes:
        kind = "a line (1-D coords)" if axes == 1 else "a grid (a pair of coords)"
        raise ValueError(f"{kind} needs {axes} direction(s); got {len(directions)} (pass directions[:{axes}])")
    names = [s.name for s in slots]
    matched = []
    for index, direction in enumerate(directions):
        missing, unexpected = set(names) - direction.keys(), direction.keys() - set(names)
        if missing or unexpected:
            raise ValueError(
                f"direction {index} does not match the model's parameters: missing {sorted(missing)}, "
                f"unexpected {sorted(unexpected)} (directions are keyed by effective names such as '1.weight')"
            )
        for slot in slots:
            if tuple(direction[slot.name].shape) != tuple(slot.param.shape):
                raise ValueError(
                    f"direction {index}[{slot.name!r}] has shape {tuple(direction[slot.name].shape)}; the "
                    f"parameter has shape {tuple(slot.param.shape)}"
                )
        matched.append({s.name: direction[s.name].to(device=s.param.device, dtype=s.param.dtype) for s in slots})
    return matched


class _Perturbation:
    """Writes ``theta + sum_k c_k d_k`` into a model's parameters, point after point, always from the base values.

    Pruned tensors get ``w_eff + sum_k c_k d_k`` in ``weight_orig``; the pruning hook multiplies by the mask, which
    changes nothing since the directions are zero there. :meth:`restore` copies the saved originals back
    (bitwise) and puts back the effective-weight attribute that the pruning hook overwrites on every forward.
    """

    def __init__(self, slots: list[_Slot], directions: list[dict[str, torch.Tensor]]):
        self.slots = slots
        self.directions = [[d[s.name] for d in directions] for s in slots]
        self.originals = [s.param.detach().clone() for s in slots]
        self.bases = [orig if s.mask is None else s.effective() for s, orig in zip(slots, self.originals)]
        # On a grid, theta + a d1 is the same for a whole row of points: kept once per row (a in row_at).
        self.rows: list[torch.Tensor | None] = [None] * len(slots)
        self.row_at: float | None = None
        self.attributes = {
            (id(s.module), s.attribute): s.module.__dict__[s.attribute]
            for s in slots
            if s.mask is not None and s.attribute in s.module.__dict__
        }

    def apply(self, coefficients: Sequence[float], skip: set[int] = frozenset()) -> None:
        """Write the point ``coefficients`` into every parameter except those whose ``id`` is in ``skip``.

        The sum runs in the same order at every point, ``(theta + c1 d1) + c2 d2``, so keeping ``theta + c1 d1``
        for a row of a grid changes no bit of the result.
        """
        new_row = len(coefficients) == 2 and coefficients[0] != self.row_at
        for k, (slot, base, dirs) in enumerate(zip(self.slots, self.bases, self.directions)):
            if id(slot.param) in skip:
                continue
            target = slot.param.data  # in-place write of a leaf that requires grad (under no_grad)
            if len(coefficients) != 2:
                torch.add(base, dirs[0], alpha=coefficients[0], out=target)
                for c, d in zip(coefficients[1:], dirs[1:]):
                    target.add_(d, alpha=c)
                continue
            if new_row:
                self.rows[k] = torch.add(base, dirs[0], alpha=coefficients[0], out=self.rows[k])
            torch.add(self.rows[k], dirs[1], alpha=coefficients[1], out=target)
        if new_row:
            self.row_at = coefficients[0]

    def restore(self) -> None:
        for slot, original in zip(self.slots, self.originals):
            slot.param.data.copy_(original)
        for slot in self.slots:
            if slot.mask is None:
                continue
            key = (id(slot.module), slot.attribute)
            if key in self.attributes:
                slot.module.__dict__[slot.attribute] = self.attributes[key]
            else:
                slot.module.__dict__.pop(slot.attribute, None)


@contextlib.contextmanager
def _perturbed(slots: list[_Slot], directions: list[dict[str, torch.Tensor]]) -> Iterator[_Perturbation]:
    perturbation = _Perturbation(slots, directions)
    try:
        yield perturbation
    finally:
        perturbation.restore()


@contextlib.contextmanager
def _ieee_float32(device: torch.device) -> Iterator[None]:
    """On CUDA, TF32 off for matrix products and convolutions for the duration (cuDNN allows it by default).

    TF32 keeps 10 mantissa bits: losses would then differ from a float32 evaluation in the third or fourth
    digit, and differently on different GPUs.
    """
    if device.type != "cuda":
        yield
        return
    backends = (torch.backends.cuda.matmul, torch.backends.cudnn)
    try:
        saved = [b.allow_tf32 for b in backends]
        for b in backends:
            b.allow_tf32 = False
    except RuntimeError:  # the flags were set through torch's newer fp32_precision API, which forbids mixing
        yield
        return
    try:
        yield
    finally:
        for b, value in zip(backends, saved):
            b.allow_tf32 = value


def _only_pruning_hooks(module: nn.Module) -> bool:
    """True when ``module`` has no forward hooks but those of ``torch.nn.utils.prune``."""
    return not module._forward_hooks and all(
        isinstance(h, torch_prune.BasePruningMethod) for h in module._forward_pre_hooks.values()
    )


def _first_linear(model: nn.Module) -> int | None:
    """Index of the first layer of a plain ``nn.Sequential`` whose output is linear in its parameters.

    Only parameter-free modules may come before it (their output does not move with the weights), and none of
    its parameters may be shared with a later module. None when the model does not have this form.
    """
    if type(model) is not nn.Sequential or model._forward_hooks or model._forward_pre_hooks:
        return None
    for index, module in enumerate(model):
        if type(module) in _LINEAR_LAYERS:
            if not _only_pruning_hooks(module):
                return None
            own = {id(p) for p in module.parameters()}
            if any(id(p) in own for p in model[index + 1 :].parameters()):
                return None
            return index
        if next(module.parameters(), None) is not None:
            return None
    return None


def _linear_part(module: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``module``'s forward pass on ``x`` with ``weight`` and ``bias`` in place of its own."""
    if isinstance(module, nn.Linear):
        return nn.functional.linear(x, weight, bias)
    return module._conv_forward(x, weight, bias)


def _forward(modules: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """``nn.Sequential(*modules)(x)``, with a plain ReLU after a linear layer (or first, on ``x``) run in place: the
    same values, one activation-sized tensor less per point of a surface. Only where nothing else can read the
    tensor it overwrites: ``x`` is the surface's own buffer, and a linear layer's output is new."""
    fresh = True
    for module in modules:
        if fresh and type(module) is nn.ReLU and not (module._forward_hooks or module._forward_pre_hooks):
            x = x.relu_()
        else:
            x = module(x)
        fresh = type(module) in _LINEAR_LAYERS and _only_pruning_hooks(module)
    return x


def _metrics(output: torch.Tensor, target: torch.Tensor, loss_fn: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    loss = loss_fn(output, target).detach().reshape(())
    if output.dim() >= 2 and not target.is_floating_point() and target.dim() == output.dim() - 1:
        accuracy = (output.argmax(dim=1) == target).float().mean()
    else:
        accuracy = torch.full((), float("nan"), device=output.device)
    return loss, accuracy.float()


def loss_surface(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch: tuple[torch.Tensor, torch.Tensor],
    directions: Directions,
    coords: Sequence[float] | tuple[Sequence[float], Sequence[float]],
) -> Surface:
    """Loss and accuracy of ``model`` on ``batch`` at ``theta + a * d1`` (a line) or ``theta + a * d1 + b * d2``.

    Every point is computed from the base weights ``theta`` (the effective weights of a pruned model), never by
    stepping from the previous point, so no rounding error accumulates. The model is evaluated in eval mode
    (dropout off, BatchNorm with its running statistics, so the batch does not change the network), without
    gradients, with autocast switched off and on CUDA with TF32 switched off for the duration of the call, in the
    model's own dtype (float32 for the book's models).
    Afterwards the model is exactly as before: parameters bitwise identical, buffers untouched, every module in
    its former train/eval mode, no ``.grad`` created.

    For an ``nn.Sequential`` whose first layer with parameters is a ``Linear`` or convolution (after
    parameter-free modules such as ``Flatten`` or ``ZeroPad2d``), that layer's output is linear in its weight
    and bias: ``x (W + a D1 + b D2)^T = x W^T + a x D1^T + b x D2^T`` (likewise for the bias and for a
    convolution). The three products are computed once for the whole surface, and each point only runs the rest
    of the network. Other models are evaluated whole at every point. The parameters are written in place for
    each point and restored from copies at the end (also after an error).

    Args:
        model: the network; a model pruned with ``torch.nn.utils.prune`` is probed in its effective weights
            (the directions are zero where the mask removed a weight, so every point of the surface is a network
            with the same pruned connections).
        loss_fn: ``loss_fn(output, target)`` returning a scalar, e.g. ``nn.CrossEntropyLoss()``.
        batch: ``(inputs, targets)``, moved to the model's device. Accuracy is ``argmax(output, 1) == target``
            averaged over the batch when the targets are class indices, NaN otherwise.
        directions: from :func:`random_directions` (or :func:`load_directions`): one for a line, two for a grid.
        coords: one sequence of step sizes ``alphas`` (a line), or a pair ``(alphas, betas)`` (a grid).

    Returns:
        A :class:`Surface` with ``loss[i]`` at ``alphas[i]``, or ``loss[i, j]`` at ``(alphas[i], betas[j])``.

    Raises:
        ValueError: when ``coords`` is neither one nor two finite sequences, the number of directions does not
            match (one for a line, two for a grid), or a direction does not match the model's parameters.

    Example:
        A 5 x 5 grid around a small MLP; its centre is the model's own loss:

        >>> import numpy as np
        >>> import torch
        >>> from torch import nn
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> batch = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
        >>> directions = random_directions(model, n=2, seed=0)
        >>> axis = np.linspace(-1, 1, 5)
        >>> surface = loss_surface(model, nn.CrossEntropyLoss(), batch, directions, (axis, axis))
        >>> surface.loss.shape, surface.center_index
        ((5, 5), (2, 2))
        >>> with torch.no_grad():
        ...     own = nn.CrossEntropyLoss()(model(batch[0]), batch[1]).item()
        >>> bool(np.isclose(surface.loss[2, 2], own, rtol=1e-6))
        True
    """
    axes = _axes(coords)
    slots = _slots(model)
    matched = _check_directions(slots, directions, len(axes))
    device = slots[0].param.device
    x, y = (t.to(device) for t in batch)
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes)).tolist()
    autocast = (
        torch.autocast(device.type, enabled=False) if device.type in ("cpu", "cuda") else contextlib.nullcontext()
    )
    losses, accuracies = [], []
    with _evaluation(model), autocast, _ieee_float32(device), _perturbed(slots, matched) as perturbation:
        first = _first_linear(model)
        if first is None:
            for point in points:
                perturbation.apply(point)
                loss, accuracy = _metrics(model(x), y, loss_fn)
                losses.append(loss)
                accuracies.append(accuracy)
        else:
            layer = model[first]
            h = x
            for module in model[:first]:
                h = module(h)
            own = {s.attribute: s.name for s in slots if s.module is layer}
            base = layer(h)
            parts = [
                _linear_part(layer, h, d[own["weight"]], d[own["bias"]] if "bias" in own else None) for d in matched
            ]
            rest = list(model[first + 1 :])
            skip = {id(s.param) for s in slots if s.module is layer}
            # One buffer for all points: a fresh tensor of a conv layer's output size per point costs page
            # faults (measured: 18 ms against 7 ms per point for the small CNN on 1,000 digits). On a grid,
            # base + a P1 is kept for the row (summed in the same order: the same bits).
            out, row, row_at = torch.empty_like(base), torch.empty_like(base), None
            for point in points:
                perturbation.apply(point, skip=skip)
                if len(point) == 2:
                    if point[0] != row_at:
                        torch.add(base, parts[0], alpha=point[0], out=row)
                        row_at = point[0]
                    torch.add(row, parts[1], alpha=point[1], out=out)
                else:
                    torch.add(base, parts[0], alpha=point[0], out=out)
                loss, accuracy = _metrics(_forward(rest, out), y, loss_fn)
                losses.append(loss)
                accuracies.append(accuracy)
    shape = tuple(len(a) for a in axes)
    loss = torch.stack(losses).cpu().double().numpy().reshape(shape)
    accuracy = torch.stack(accuracies).cpu().double().numpy().reshape(shape)
    return Surface(coords=axes, loss=loss, accuracy=accuracy)


@dataclass(frozen=True, eq=False)
class TrainingPath:
    """A training path seen in the plane of its two principal directions (Li et al. 2018, section 7), from
    :func:`trajectory_directions`.

    Attributes:
        directions: the two unit principal directions, keyed by effective parameter name like
            :func:`random_directions` (ready for :func:`loss_surface`).
        explained: the share of the path's variance each direction explains (sklearn's
            ``explained_variance_ratio_``).
        coords: ``(epochs + 1, 2)``: every recorded point ``w_t - w_final`` projected on the directions; the last
            row is the final weights, ``(0, 0)``.
    """

    directions: Directions
    explained: np.ndarray
    coords: np.ndarray

    def axes(self, points: int, margin: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
        """A grid for :func:`loss_surface` that holds the whole path: per direction, ``points`` evenly spaced steps
        from the path's smallest to its largest coordinate, widened by ``margin`` of that range on each side."""
        points = check_integer("points", points, 2)
        axes = []
        for column in self.coords.T:
            low, high = float(column.min()), float(column.max())
            pad = margin * (high - low) if high > low else 1.0
            axes.append(np.linspace(low - pad, high + pad, points))
        return axes[0], axes[1]


def trajectory_directions(trajectory: Mapping[str, torch.Tensor]) -> TrainingPath:
    """The principal directions of a training path and the path in their plane (Li et al. 2018, section 7).

    The rows ``w_t - w_final`` for every recorded point but the last (``trajectory`` as
    :meth:`~emergence_lib.engine.runs.Run.trajectory` gives it: name -> ``(points, *shape)``) form a matrix; as
    Li et al. (who use sklearn's ``PCA``), its columns are centred and its two leading right singular vectors are
    the directions, every parameter included, in float64. Each direction's sign is chosen so that the first
    point (the initialization) has a positive coordinate. Pruned weights are zero along the whole path, so the
    directions are zero there too.

    Raises:
        ValueError: for fewer than three recorded points (two directions need two differences) or tensors that
            do not share their number of points.

    Example:
        A path that moves along one axis, then another: the plane is spanned by them.

        >>> import torch
        >>> path = {"w": torch.tensor([[3.0, 1.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])}
        >>> plane = trajectory_directions(path)
        >>> [round(float(v), 3) for v in plane.explained]
        [0.951, 0.049]
        >>> plane.coords[-1].tolist()
        [0.0, 0.0]
    """
    if not isinstance(trajectory, Mapping) or not trajectory:
        raise ValueError("trajectory must be a non-empty dict: parameter name -> (points, *shape) tensor")
    counts = {name: len(t) for name, t in trajectory.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every tensor of the trajectory must hold the same number of points; got {counts}")
    points = next(iter(counts.values()))
    if points < 3:
        raise ValueError(f"a plane of the path needs at least three recorded points (two epochs); got {points}")
    names = list(trajectory)
    flat = torch.cat([trajectory[n].detach().to("cpu", torch.float64).reshape(points, -1) for n in names], dim=1)
    steps = flat - flat[-1]
    rows = steps[:-1]
    _, singular, vh = torch.linalg.svd(rows - rows.mean(dim=0), full_matrices=False)
    variance = singular**2
    components = vh[:2]
    coords = steps @ components.T
    signs = torch.where(coords[0] < 0, -1.0, 1.0).to(torch.float64)
    components, coords = components * signs[:, None], coords * signs
    sizes = [trajectory[n][0].numel() for n in names]
    directions = [{n: part.reshape(trajectory[n].shape[1:]).to(torch.float32)
                   for n, part in zip(names, component.split(sizes))} for component in components]  # fmt: skip
    explained = (variance[:2] / variance.sum()).numpy() if variance.sum() > 0 else np.zeros(2)
    return TrainingPath(directions=directions, explained=explained, coords=coords.numpy() + 0.0)  # no -0.0


def _grid(surface: Surface) -> np.ndarray:
    """The loss with NaN replaced by +inf (a point whose loss is undefined is never lower than another)."""
    return np.where(np.isnan(surface.loss), np.inf, surface.loss)


def local_minima(surface: Surface, border: str = "compare") -> int:
    """Number of strict local minima of the loss on the grid.

    A grid point is a strict local minimum when its loss is lower than the loss at every one of its neighbours:
    the 8 surrounding points of a 2-D grid (the 8-neighbourhood), the 2 adjacent points of a line. Equal values
    do not count, so a plateau holds no minimum. A NaN loss counts as ``+inf``.

    Args:
        surface: a 1-D or 2-D :class:`Surface`.
        border: one of :data:`BORDERS`. ``"compare"`` (default): a point on the border of the grid is compared
            with the neighbours it has (a corner with 3, an edge point with 5, the end of a line with 1), so a
            minimum at the edge of the window counts even though the loss beyond it is unknown; ``"exclude"``:
            only interior points can count.

    Raises:
        ValueError: for an unknown border.
    """
    check_choice("border", border, BORDERS)
    loss = _grid(surface)
    padded = np.pad(loss, 1, constant_values=np.inf)
    inner = tuple(slice(1, -1) for _ in range(loss.ndim))
    minimum = np.ones(loss.shape, dtype=bool)
    for offset in np.ndindex(*(3,) * loss.ndim):
        if all(o == 1 for o in offset):
            continue
        shifted = padded[tuple(slice(o, o + n) for o, n in zip(offset, loss.shape))]
        minimum &= loss < shifted
    if border == "exclude":
        minimum = minimum[inner]
    return int(minimum.sum())


def second_difference(surface: Surface) -> float:
    """Mean absolute second difference of the loss, divided by the squared step: an average curvature.

    Along an axis with step ``h``, the second difference at an interior point is
    ``(L[i+1] - 2 L[i] + L[i-1]) / h**2``, the finite-difference estimate of the second derivative of the loss
    along that direction. The measure is the mean of its absolute value over all interior points of the axis
    (every row of a grid), averaged over the axes: ``(mean |D_aa| + mean |D_bb|) / 2`` on a grid, ``mean
    |D_aa|`` on a line. For the quadratic ``p a**2 + q b**2`` it is ``|p| + |q|``, on any grid. Smooth bowls
    give a value close to their curvature, ragged surfaces a larger one. NaN when the surface holds non-finite
    values.

    Raises:
        ValueError: when an axis has fewer than three points or is not evenly spaced.
    """
    steps = surface.steps
    if any(len(c) < 3 for c in surface.coords):
        raise ValueError("second_difference needs at least three points along every axis")
    means = []
    for axis, h in enumerate(steps):
        d2 = np.diff(surface.loss, n=2, axis=axis) / h**2
        means.append(float(np.mean(np.abs(d2))))
    return float(np.mean(means))


def sharpness(surface: Surface) -> float:
    """Mean curvature of the loss at the model's own weights, from the neighbours of the centre.

    With ``L0`` the loss at the centre (coordinate 0 on every axis) and ``delta`` the offset, in coordinate
    units, of each neighbour of the centre (its 8 neighbours on a grid, 2 on a line), sharpness is the mean
    over the neighbours of ``2 * (L(delta) - L0) / |delta|**2``, the rise of the loss divided by the squared
    distance. For any quadratic ``L0 + g . delta + delta^T H delta / 2`` the linear term cancels between
    opposite neighbours, and sharpness equals ``L''`` on a line and ``trace(H) / 2`` on a grid with the same step
    along both axes (the mean of the two curvatures; ``p + q`` for ``p a**2 + q b**2``); with different steps
    the diagonal neighbours weigh the two curvatures by the squared steps. Positive at a strict minimum of a
    quadratic, larger for a sharper one; the book's grids use the same step on both axes.

    Raises:
        ValueError: when the coordinates do not contain 0, or 0 is at the border of an axis, or an axis is not
            evenly spaced.
    """
    steps = surface.steps
    center = surface.center_index
    for axis, (c, n) in enumerate(zip(center, surface.loss.shape)):
        if not 0 < c < n - 1:
            raise ValueError(f"sharpness needs neighbours on both sides of coordinate 0; axis {axis} ends there")
    l0 = surface.loss[center]
    rises = []
    for offset in np.ndindex(*(3,) * surface.ndim):
        delta = [o - 1 for o in offset]
        if not any(delta):
            continue
        distance2 = sum((d * h) ** 2 for d, h in zip(delta, steps))
        neighbour = surface.loss[tuple(c + d for c, d in zip(center, delta))]
        rises.append(2.0 * (neighbour - l0) / distance2)
    return float(np.mean(rises))


def ruggedness(surface: Surface) -> dict[str, float]:
    """The three measures of a surface: ``{"local_minima", "second_difference", "sharpness"}``.

    :func:`local_minima` with its default border rule (an int), :func:`second_difference` and
    :func:`sharpness`; see their definitions.
    """
    return {
        "local_minima": local_minima(surface),
        "second_difference": second_difference(surface),
        "sharpness": sharpness(surface),
    }


class LandscapeProbe:
    """Ruggedness and curvature at trained runs' weights, one batch and one grid for all: the landscape chapter.

    For each run, on its trained model moved to ``device``: ``n=2`` filter-normalized random directions
    (:func:`random_directions` with ``seed=direction_seed``), the 2-D loss surface on ``(axis, axis)``
    (:func:`loss_surface`), its :func:`ruggedness`, then one :class:`~emergence_lib.probes.hessian.Curvature` for
    the top Hessian eigenvalue (``k=1, iters=eigen_iters, seed=0``) and the Hutchinson trace
    (``samples=trace_samples, seed=0``), both with the default tolerance ``1e-3``. These are the calls, seeds and
    order of the chapter's measurement, so its published tables stay valid.

    Surfaces are kept, by run key: :meth:`surface` computes a run's surface once, and :meth:`measure` and any
    figure that asks again get the same object. The probe holds no model between calls (a run's model is rebuilt
    when a surface or a curvature is needed), only the surfaces' small arrays.

    Use::

        probe = el.landscape.LandscapeProbe(batch, np.linspace(-1, 1, 21), device="cuda")
        measures = probe.table(runs)            # one row per run, one surface each
        surface = probe.surface(runs[0])        # the surface measured above, not recomputed

    Args:
        batch: ``(inputs, targets)`` of held-out data, moved to ``device``.
        axis: the step sizes along both directions: increasing, evenly spaced, with 0 strictly inside (for
            :func:`sharpness`) and at least three points (for :func:`second_difference`).
        loss_fn: ``loss_fn(output, target)`` returning a scalar; ``nn.CrossEntropyLoss()`` when None.
        device: where the models are evaluated.
        direction_seed: the seed of every run's directions (the same for all, so that differences between runs
            are not differences of luck in the directions).
        eigen_iters: maximum Hessian-vector products for the top eigenvalue.
        trace_samples: maximum Rademacher samples for the trace.

    Raises:
        ValueError: for a batch that is not a pair, an axis the ruggedness measures cannot use, or seeds and
            counts that are not integers in range.
    """

    def __init__(
        self,
        batch: tuple[torch.Tensor, torch.Tensor],
        axis: Sequence[float],
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device = "cpu",
        direction_seed: int = 0,
        eigen_iters: int = 50,
        trace_samples: int = 30,
    ) -> None:
        if not isinstance(batch, Sequence) or len(batch) != 2:
            raise ValueError(f"batch must be a pair (inputs, targets); got {type(batch).__name__}")
        (self.axis,) = _axes([axis])
        grid = np.zeros((len(self.axis), len(self.axis)))
        ruggedness(Surface((self.axis, self.axis), grid, grid))  # the axis errors now, not after a surface
        self.device = resolve_device(device)
        self.batch = tuple(t.to(self.device) for t in batch)
        self.loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
        self.direction_seed = check_integer("direction_seed", direction_seed, 0)
        self.eigen_iters = check_integer("eigen_iters", eigen_iters, 1)
        self.trace_samples = check_integer("trace_samples", trace_samples, 1)
        self._surfaces: dict[object, Surface] = {}

    def __repr__(self) -> str:
        return (
            f"LandscapeProbe(grid={len(self.axis)}x{len(self.axis)} on [{self.axis[0]:g}, {self.axis[-1]:g}], "
            f"batch={len(self.batch[0])}, device={self.device}, direction_seed={self.direction_seed}, "
            f"eigen_iters={self.eigen_iters}, trace_samples={self.trace_samples}, {len(self._surfaces)} surfaces)"
        )

    CODE = ("probes/landscape.py", "probes/hessian.py")
    """The probes' modules, whose code determines a measurement with the runs' own (``RESULT_MODULES``)."""

    def fingerprint(self) -> str:
        """A digest of everything a measurement depends on besides the run: the batch's values, the axis, the loss,
        the seeds and iteration counts, the device type, and the code (:attr:`CODE` and the runs' modules, ignoring
        comments and docstrings). Equal digests measure a run the same way; :meth:`~emergence_lib.experiments.Experiment.derived`
        keeps a chapter's table under it, so a rebuild reads it back and other code or settings never do.

        Example:
            >>> import torch
            >>> batch = (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
            >>> LandscapeProbe(batch, [-1, 0, 1]).fingerprint() == LandscapeProbe(batch, [-1, 0, 1]).fingerprint()
            True
            >>> LandscapeProbe(batch, [-1, 0, 1]).fingerprint() == LandscapeProbe(batch, [-2, 0, 2]).fingerprint()
            False
        """
        # Imported here: `python -m emergence_lib.engine.fingerprint` runs that module as a script.
        from ..engine import fingerprint as code

        digest = hashlib.sha256()
        for tensor in self.batch:
            digest.update(f"{tensor.dtype} {tuple(tensor.shape)}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        settings = {"axis": self.axis.tolist(), "loss": repr(self.loss_fn), "device": self.device.type,
                    "direction_seed": self.direction_seed, "eigen_iters": self.eigen_iters,
                    "trace_samples": self.trace_samples,
                    "code": code.current(modules=code.RESULT_MODULES + self.CODE)}  # fmt: skip
        digest.update(json.dumps(settings, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def _model(self, run: Run) -> nn.Module:
        return run.model().to(self.device)

    def _surface(self, run: Run, coords: tuple[np.ndarray, ...], model: nn.Module | None = None) -> Surface:
        """The surface of ``run`` on ``coords`` (one axis: a line along the first direction), memoized."""
        memo = (run.config.key, tuple(tuple(c.tolist()) for c in coords))
        if memo not in self._surfaces:
            model = self._model(run) if model is None else model
            directions = random_directions(model, n=2, seed=self.direction_seed)
            self._surfaces[memo] = loss_surface(model, self.loss_fn, self.batch, directions[: len(coords)], coords)
        return self._surfaces[memo]

    def surface(self, run: Run) -> Surface:
        """The run's 2-D loss surface on ``(axis, axis)``: computed on the first call, the same object after.

        Args:
            run: a stored run (:class:`~emergence_lib.engine.runs.Run`), known by ``run.config.key``.
        """
        return self._surface(run, (self.axis, self.axis))

    def line(self, run: Run, coords: Sequence[float]) -> Surface:
        """The run's loss along its first direction (the first of the 2-D surface's), at the steps ``coords``.

        Memoized like :meth:`surface`, by run and ``coords``.

        Args:
            run: a stored run.
            coords: the step sizes, e.g. ``np.linspace(-1, 1, 81)`` for a finer line than the grid.

        Raises:
            ValueError: when ``coords`` is not one finite, non-empty sequence of numbers.
        """
        axes = _axes(coords)
        if len(axes) != 1:
            raise ValueError("coords must be one sequence of step sizes (a line)")
        return self._surface(run, axes)

    def measure(self, run: Run, columns: Callable[[Run], Mapping[str, object]] | None = None) -> dict[str, object]:
        """One row of measurements at the run's trained weights, with its last-epoch emergence.

        Args:
            run: a stored run (:class:`~emergence_lib.engine.runs.Run`): its trained model, its history and its
                environment are read.
            columns: optional ``columns(run)`` giving more columns (the run's width, depth, ...), placed right
                after ``key``.

        Returns:
            ``{"key", **columns(run), "log10_absolute", "fraction", "test_acc"`` (the last row of the run's
            history), ``"local_minima", "second_difference", "sharpness"`` (:func:`ruggedness` of
            :meth:`surface`), ``"top_eigenvalue", "trace", "trace_std_error"`` (one curvature on the batch),
            ``"dataset", "data_used", "data_source", "fallback"}`` (the dataset asked for, and from the run's
            environment the data really used).
        """
        model = self._model(run)
        surface = self._surface(run, (self.axis, self.axis), model)
        with Curvature(model, self.loss_fn, self.batch) as curvature:
            top = curvature.eigenvalues(k=1, iters=self.eigen_iters, seed=0)
            trace = curvature.trace(samples=self.trace_samples, seed=0)
        last = run.history.iloc[-1]
        return {
            "key": run.config.key,
            **(columns(run) if columns is not None else {}),
            "log10_absolute": last["log10_absolute"],
            "fraction": last["fraction"],
            "test_acc": last["test_acc"],
            **ruggedness(surface),
            "top_eigenvalue": top.values[0],
            "trace": trace.trace,
            "trace_std_error": trace.std_error,
            "dataset": run.config.dataset,
            "data_used": data_used(run),
            "data_source": run.environment["data_source"],
            "fallback": run.environment["fallback"],
        }

    def table(self, runs: Iterable[Run], columns: Callable[[Run], Mapping[str, object]] | None = None) -> pd.DataFrame:
        """:meth:`measure` of every run, one row each, in the order of ``runs``."""
        return pd.DataFrame([self.measure(run, columns) for run in runs])

    def path(self, run: Run, margin: float = 0.25) -> tuple[TrainingPath, Surface]:
        """The run's training path in the plane of its principal directions (:func:`trajectory_directions` of
        :meth:`~emergence_lib.engine.runs.Run.trajectory`) and the loss surface over that plane, on a grid of
        ``len(axis)`` points per side that holds the path (:meth:`TrainingPath.axes` with ``margin``).

        Raises:
            ValueError: when the run did not record its weights per epoch (``trajectory=True``).
        """
        plane = trajectory_directions(run.trajectory())
        model = self._model(run)
        axes = plane.axes(len(self.axis), margin)
        return plane, loss_surface(model, self.loss_fn, self.batch, plane.directions, axes)

    def paths(self, runs: Iterable[Run]) -> pd.DataFrame:
        """:meth:`path` of every run as one long table, for a chapter to keep and draw
        (:func:`~emergence_lib.plots.training_path`).

        Columns: ``key``, ``part`` (``"surface"``: one row per grid point, with its ``loss``; ``"path"``: one row
        per recorded epoch, with the run's ``log10_absolute`` at that epoch), ``x``, ``y`` (coordinates along the
        two directions), ``epoch``, and ``explained_1``, ``explained_2`` (the share of the path's variance each
        direction explains).
        """
        frames = []
        for run in runs:
            plane, surface = self.path(run)
            xs, ys = np.meshgrid(*surface.coords, indexing="ij")
            shared = {"key": run.config.key, "explained_1": plane.explained[0], "explained_2": plane.explained[1]}
            frames.append(pd.DataFrame({**shared, "part": "surface", "x": xs.ravel(), "y": ys.ravel(),
                                        "loss": surface.loss.ravel(), "epoch": np.nan, "log10_absolute": np.nan}))
            frames.append(pd.DataFrame({**shared, "part": "path", "x": plane.coords[:, 0], "y": plane.coords[:, 1],
                                        "loss": np.nan, "epoch": run.history["epoch"].to_numpy(),
                                        "log10_absolute": run.history["log10_absolute"].to_numpy()}))  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def spectra(self, runs: Iterable[Run], iters: int = 50, seeds: Sequence[int] = range(3)) -> pd.DataFrame:
        """The Hessian's spectrum at each run's trained weights on the probe's batch, with the spread of every
        estimate over seeds of its random vectors (one :class:`~emergence_lib.probes.hessian.Curvature` per run).

        Columns: ``key``, ``part`` and per part:

        - ``"density"``: the spectral density by stochastic Lanczos quadrature, ``iters`` steps from each seed's
          vector (:meth:`~emergence_lib.probes.hessian.Curvature.density`): ``seed``, ``node``, ``weight``,
          ``dimension``;
        - ``"spread"``: ``estimate`` (``"top eigenvalue"``, ``"trace"``, ``"moment 2"`` (``tr(H^2) / d``) or
          ``"block top eigenvalue"``), ``block`` (the layer, for the last), ``seed`` and ``value``: each
          estimate once per seed, ``iters`` products at most per eigenvalue and Rademacher samples for the trace.
        """
        frames = []
        for run in runs:
            model = self._model(run)
            with Curvature(model, self.loss_fn, self.batch) as curvature:
                for seed in seeds:
                    density = curvature.density(iters=min(iters, curvature.dimension), seed=seed)
                    frames.append(pd.DataFrame({"key": run.config.key, "part": "density", "seed": seed,
                                                "node": density.nodes[0], "weight": density.weights[0],
                                                "dimension": density.dimension}))  # fmt: skip
                spread = [
                    curvature.over_seeds("eigenvalues", seeds, iters=iters).assign(estimate="top eigenvalue"),
                    curvature.over_seeds("trace", seeds, samples=iters).assign(estimate="trace"),
                    curvature.over_seeds("density", seeds, iters=min(iters, curvature.dimension), moments=(2,))
                    .assign(estimate="moment 2"),
                    curvature.over_seeds("block_eigenvalues", seeds, iters=iters)
                    .assign(estimate="block top eigenvalue"),
                ]  # fmt: skip
            table = pd.concat(spread, ignore_index=True)
            table = table.assign(key=run.config.key, part="spread", block=table["block"].fillna(""))  # "": whole
            frames.append(table[["key", "part", "estimate", "block", "seed", "value"]])
        return pd.concat(frames, ignore_index=True)


PILOT_CANDIDATES: dict[str, dict] = {
    "interior_minima": {"extent": 1.0, "points": 21, "pairs": 1, "measure": "minima"},
    "interior_minima_fine": {"extent": 1.0, "points": 41, "pairs": 1, "measure": "minima"},
    "interior_minima_wide": {"extent": 2.0, "points": 41, "pairs": 1, "measure": "minima"},
    "interior_minima_3_pairs": {"extent": 1.0, "points": 21, "pairs": 3, "measure": "minima"},
    "second_difference": {"extent": 1.0, "points": 21, "pairs": 1, "measure": "second_difference"},
}
"""The candidates for claim 6's amended measure, in the order the pilot (``pilots/landscape_measure.py``) tries
them, closest to the claim's words ("more local minima") first: strict minima at interior grid points of a
``points x points`` grid over ``[-extent, extent]^2``, summed over ``pairs`` pairs of filter-normalized random
directions (seeds 0, 1, ...); the last is continuous (:func:`second_difference` on the book's grid)."""


def candidate_measure(
    model: nn.Module, loss_fn: Callable, batch: tuple[torch.Tensor, torch.Tensor], extent: float, points: int,
    pairs: int, measure: str,
) -> float:  # fmt: skip
    """One candidate of :data:`PILOT_CANDIDATES` for ``model`` on ``batch``: interior strict minima
    (``measure="minima"``, summed over ``pairs`` direction pairs) or the mean absolute second difference."""
    check_choice("measure", measure, ("minima", "second_difference"))
    axis = np.linspace(-extent, extent, points)
    total = 0.0
    for pair in range(pairs):
        surface = loss_surface(model, loss_fn, batch, random_directions(model, n=2, seed=pair), (axis, axis))
        total += local_minima(surface, border="exclude") if measure == "minima" else second_difference(surface)
    return float(total)
