"""Curvature of the loss: Hessian-vector products, top eigenvalues and trace, in the manner of PyHessian.

Nothing here forms the Hessian: every quantity is built from Hessian-vector products ``Hv``, computed by double
backward (Pearlmutter's trick, as PyHessian does, Yao et al. 2020): the gradient ``g`` of the loss is taken once
with ``create_graph=True``, and ``Hv`` is the gradient of ``g . v``. :func:`hessian_eigenvalues` and
:func:`hessian_trace` keep that gradient graph for all their products, so each step costs one backward pass
through it and no new forward pass.

- :func:`hvp`: one product ``Hv``.
- :func:`hessian_eigenvalues`: the eigenvalues of largest magnitude, by power iteration with deflation.
- :func:`hessian_trace`: the trace, by Hutchinson's estimator with Rademacher vectors, with its standard error.

Conventions shared by all three:

- ``batch`` is one ``(x, y)`` pair, moved to the device of the model's parameters; ``loss_fn(model(x), y)``
  must return a scalar (``nn.CrossEntropyLoss()`` or ``nn.functional.cross_entropy``, for instance). The
  Hessian is that of this loss on this one batch.
- The Hessian is taken with respect to the trainable parameters, ``[p for p in model.parameters() if
  p.requires_grad]``, in that order.
- The loss is evaluated in eval mode: dropout is off and BatchNorm uses its running statistics, so the
  function being differentiated is deterministic and the running statistics are not updated. (PyHessian does
  the same, but leaves the model in eval mode.)
- The model is left exactly as it was: parameters and buffers untouched, every module's train/eval mode
  restored, no ``.grad`` written (products come from ``torch.autograd.grad``, never ``backward``).
- Pruned models (``torch.nn.utils.prune``, as :mod:`~emergence_lib.engine.prune` uses it): the trainable parameter
  of a pruned tensor is ``weight_orig``, and ``weight = weight_orig * weight_mask``. The Hessian with respect to
  ``weight_orig`` is therefore ``D H D``, where ``H`` is the Hessian with respect to the effective weights and
  ``D`` the diagonal of the mask: the Hessian of the effective weights restricted to the unpruned positions,
  with zero rows and columns at pruned ones. Input vectors are multiplied by the mask (pruned coordinates
  stay 0, so random vectors live in the unpruned subspace) and so are the products. Eigenvalues are those of
  the restricted Hessian, and the trace is its trace: pruned weights contribute nothing, although the
  curvature of the loss in the direction of a pruned (zero) weight is generally not zero.
- Random vectors are drawn from a CPU ``torch.Generator`` seeded by ``seed`` and then moved to the model's
  device, so a seed gives the same vectors on every device (results then differ only by floating-point
  rounding). They are drawn parameter by parameter, as PyHessian draws them: for a float32 model, ``seed=s``
  gives the vectors PyHessian (``cuda=False``) uses after ``torch.manual_seed(s)``.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .._checks import check_integer

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(outputs, targets)`` returning a scalar tensor."""

# PyHessian's guard against division by zero in its relative-change tests; kept so that the same tolerance
# means the same stopping rule.
_EPS = 1e-6


@dataclass(frozen=True)
class Eigenvalues:
    """Eigenvalues of the Hessian found by :func:`hessian_eigenvalues`.

    Attributes:
        values: the ``k`` eigenvalues of largest magnitude, with their sign, in the order power iteration finds
            them: largest magnitude first. Near a minimum the top eigenvalues are positive and this is the
            algebraic order too; a dominant negative eigenvalue (a saddle) comes out negative.
        iterations: Hessian-vector products used for each eigenvalue.
        converged: for each eigenvalue, whether the relative change of its estimate fell below ``tol``
            within ``iters`` steps.
        vectors: the unit eigenvectors, one list of tensors per eigenvalue, shaped like the trainable
            parameters (for plotting the loss along them); not part of comparisons or the repr.
    """

    values: list[float]
    iterations: list[int]
    converged: list[bool]
    vectors: list[list[torch.Tensor]] = field(default_factory=list, repr=False, compare=False)


@dataclass(frozen=True)
class Trace:
    """Hutchinson estimate of the Hessian trace from :func:`hessian_trace`.

    Attributes:
        trace: the mean of ``v . Hv`` over the Rademacher samples.
        std_error: standard error of that mean (sample standard deviation over ``sqrt(samples)``; ``nan``
            for a single sample).
        samples: number of samples used (fewer than asked for when the estimate stopped early).
    """

    trace: float
    std_error: float
    samples: int


def _tolerance(tol: object) -> float:
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 < tol < math.inf:
        raise ValueError(f"tol must be a positive number (relative tolerance, e.g. 1e-3); got {tol!r}")
    return float(tol)


def _pruned_tensors(model: nn.Module) -> list[tuple[nn.Module, str, nn.Parameter, torch.Tensor]]:
    """``(module, name, name_orig parameter, name_mask buffer)`` for every tensor ``torch.nn.utils.prune`` pruned."""
    found = []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if name.endswith("_orig"):
                base = name[: -len("_orig")]
                mask = module._buffers.get(base + "_mask")
                if mask is not None:
                    found.append((module, base, param, mask))
    return found


class _Curvature:
    """The gradient graph of one loss evaluation, kept for any number of Hessian-vector products.

    Vectors are flat: one tensor of all trainable parameters, concatenated in ``model.parameters()`` order, so
    the power iteration and Hutchinson loops do their dot products and norms on one tensor.
    """

    def __init__(self, params: list[nn.Parameter], gradient: torch.Tensor, mask: torch.Tensor | None) -> None:
        self.params = params
        self.gradient = gradient
        self.mask = mask
        self.sizes = [p.numel() for p in params]
        self.numel = sum(self.sizes)
        self.free = self.numel if mask is None else int(torch.count_nonzero(mask))
        self.dtype = params[0].dtype
        self.device = params[0].device

    def hvp(self, vector: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat ``v`` (masked on the way in and out)."""
        if self.mask is not None:
            vector = vector * self.mask
        if not self.gradient.requires_grad:
            # The gradient does not depend on the parameters (e.g. a loss linear in them): H = 0.
            return torch.zeros_like(vector)
        products = torch.autograd.grad(
            self.gradient, self.params, grad_outputs=vector, retain_graph=True, allow_unused=True
        )
        flat = torch.cat([
            (torch.zeros_like(p) if h is None else h).reshape(-1) for p, h in zip(self.params, products)
        ])  # fmt: skip
        return flat if self.mask is None else flat * self.mask

    def split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """A flat vector as a list of tensors shaped like the parameters."""
        return [part.view_as(p) for part, p in zip(vector.split(self.sizes), self.params)]

    # Drawn parameter by parameter, as PyHessian draws them: on the CPU, `seed=s` then gives the vectors PyHessian
    # uses after `torch.manual_seed(s)` (for float32 models), and the two can be compared run by run.
    def gaussian(self, generator: torch.Generator) -> torch.Tensor:
        parts = [torch.randn(p.shape, generator=generator, dtype=self.dtype).reshape(-1) for p in self.params]
        vector = torch.cat(parts).to(self.device)
        return vector if self.mask is None else vector * self.mask

    def rademacher(self, generator: torch.Generator) -> torch.Tensor:
        vector = torch.cat([
            torch.randint(0, 2, p.shape, generator=generator, dtype=self.dtype).reshape(-1) for p in self.params
        ]).mul_(2).sub_(1)  # fmt: skip
        vector = vector.to(self.device)
        return vector if self.mask is None else vector * self.mask


@contextmanager
def _curvature(
    model: nn.Module, loss_fn: LossFn, batch: tuple[torch.Tensor, torch.Tensor]
) -> Iterator[_Curvature]:
    """Evaluate the loss in eval mode, take its gradient with ``create_graph=True``; restore the model after."""
    if not isinstance(batch, Sequence) or len(batch) != 2:
        raise ValueError(f"batch must be a pair (x, y) of inputs and targets; got {type(batch).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameter (none with requires_grad=True)")
    dtypes = {p.dtype for p in params}
    if len(dtypes) > 1 or not params[0].is_floating_point():
        got = sorted(map(str, dtypes))
        raise ValueError(f"the trainable parameters must share one floating-point dtype; got {got}")
    pruned = _pruned_tensors(model)
    masks = {id(param): mask for _, _, param, mask in pruned}
    modes = [(module, module.training) for module in model.modules()]
    # The pruning forward pre-hook overwrites the plain attribute `weight` (weight_orig * weight_mask) on every
    # forward pass; put back the very tensor that was there, so the model keeps no reference to our graph.
    missing = object()
    attributes = [(module, name, module.__dict__.get(name, missing)) for module, name, _, _ in pruned]
    try:
        model.eval()
        x, y = (t.to(params[0].device) if isinstance(t, torch.Tensor) else t for t in batch)
        with torch.enable_grad():
            loss = loss_fn(model(x), y)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError("loss_fn(model(x), y) must return a scalar tensor (a mean or sum over the batch)")
            grads = torch.autograd.grad(loss.reshape(()), params, create_graph=True, allow_unused=True)
            gradient = torch.cat([
                (torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)
            ])  # fmt: skip
        mask = None
        if masks:
            mask = torch.cat([
                (masks[id(p)] if id(p) in masks else torch.ones_like(p)).reshape(-1).to(p.dtype) for p in params
            ])  # fmt: skip
        yield _Curvature(params, gradient, mask)
    finally:
        for module, training in modes:
            module.training = training
        for module, name, value in attributes:
            if value is missing:
                module.__dict__.pop(name, None)
            else:
                module.__dict__[name] = value


def hvp(
    model: nn.Module, loss_fn: LossFn, batch: tuple[torch.Tensor, torch.Tensor], vectors: list[torch.Tensor]
) -> list[torch.Tensor]:
    """Hessian-vector product ``H v`` of the loss on one batch, by double backward.

    Each call evaluates the loss and its gradient afresh; for many products on the same batch,
    :func:`hessian_eigenvalues` and :func:`hessian_trace` reuse one gradient graph instead.

    Args:
        model: the network; see the module notes for eval mode and pruned models.
        loss_fn: ``loss_fn(model(x), y)`` gives the scalar loss.
        batch: ``(x, y)``, moved to the model's device.
        vectors: the vector ``v``, one tensor per trainable parameter (``model.parameters()`` with
            ``requires_grad``), each of that parameter's shape. Coordinates of pruned weights are set to 0.

    Returns:
        ``H v`` in the same form (detached tensors, zero at pruned coordinates).

    Raises:
        ValueError: when ``vectors`` does not match the trainable parameters in number or shapes, for a batch
            that is not a pair, or a loss that is not a scalar.
    """
    with _curvature(model, loss_fn, batch) as curvature:
        params = curvature.params
        if len(vectors) != len(params) or any(v.shape != p.shape for v, p in zip(vectors, params)):
            raise ValueError(
                "vectors must hold one tensor per trainable parameter, of its shape: expected "
                f"{[tuple(p.shape) for p in params]}; got {[tuple(getattr(v, 'shape', ())) for v in vectors]}"
            )
        flat = torch.cat([v.detach().reshape(-1).to(curvature.device, curvature.dtype) for v in vectors])
        return [part.detach() for part in curvature.split(curvature.hvp(flat))]


def _orthonormal(vector: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    """``vector`` made orthogonal to the unit vectors of ``basis`` (Gram-Schmidt), then normalized."""
    for b in basis:
        vector = vector - torch.dot(vector, b) * b
    norm = torch.linalg.vector_norm(vector)
    return vector / norm if norm > 0 else vector


def hessian_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    batch: tuple[torch.Tensor, torch.Tensor],
    k: int = 1,
    iters: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
) -> Eigenvalues:
    """The ``k`` Hessian eigenvalues of largest magnitude, by power iteration with deflation (as PyHessian).

    For each eigenvalue, a Gaussian random vector ``v`` (seeded) is iterated ``v <- Hv / |Hv|``, made orthogonal
    to the eigenvectors already found before every product (deflation, repeated each step because rounding
    brings their directions back). The estimate is the Rayleigh quotient ``v . Hv`` with unit ``v``; iteration
    stops when it changes by less than ``tol`` relative to the previous one, ``|new - old| / (|old| + 1e-6)``,
    PyHessian's rule, or after ``iters`` products.

    Power iteration converges to the eigenvalue of largest *magnitude*, so ``values`` holds the ``k``
    eigenvalues of largest magnitude with their sign, largest magnitude first: the top ones of a network near
    a minimum (positive), but a negative one if it dominates. Convergence is slow when two eigenvalues are
    close in magnitude (in particular ``+l`` and ``-l``); ``converged`` and ``iterations`` say how it went.
    The returned value is the last Rayleigh quotient (PyHessian returns the one before it). A loose ``tol``
    gives a loose eigenvalue: the rule measures the last step, not the distance to the limit, and with
    PyHessian's default ``1e-3`` the estimate can fall short of the eigenvalue by a percent or more when
    convergence is slow (about 1.5% for an MLP 784-256-128-10 after one epoch on MNIST, in
    ``benchmarks/bench_hessian.py``); give a smaller ``tol`` for accuracy.

    Args:
        model: the network; see the module notes for eval mode and pruned models (the eigenvalues are those
            of the Hessian restricted to unpruned weights).
        loss_fn: ``loss_fn(model(x), y)`` gives the scalar loss.
        batch: ``(x, y)``, moved to the model's device.
        k: number of eigenvalues, at least 1 and at most the number of (unpruned) trainable coordinates.
        iters: maximum Hessian-vector products per eigenvalue, at least 1.
        tol: relative tolerance of the stopping rule, positive.
        seed: seeds the starting vectors (drawn on the CPU), at least 0.

    Returns:
        The eigenvalues, with the products used, convergence flags and unit eigenvectors.

    Raises:
        ValueError: for ``k``, ``iters`` or ``seed`` not integers in range, a non-positive ``tol``, or the
            batch and loss errors of :func:`hvp`.
    """
    k = check_integer("k", k, 1)
    iters = check_integer("iters", iters, 1)
    tol = _tolerance(tol)
    seed = check_integer("seed", seed, 0)
    generator = torch.Generator().manual_seed(seed)
    values: list[float] = []
    iterations: list[int] = []
    converged: list[bool] = []
    found: list[torch.Tensor] = []
    with _curvature(model, loss_fn, batch) as curvature:
        if k > curvature.free:
            free = curvature.free
            raise ValueError(f"k must be at most the number of unpruned trainable coordinates, {free}; got {k}")
        for _ in range(k):
            vector = _orthonormal(curvature.gaussian(generator), found)
            value: float | None = None
            done = False
            step = 0
            for step in range(1, iters + 1):
                vector = _orthonormal(vector, found)
                product = curvature.hvp(vector)
                current = float(torch.dot(product, vector))
                norm = torch.linalg.vector_norm(product)
                if norm == 0:  # v lies in the null space: eigenvalue 0, nothing left to iterate
                    value, done = current, True
                    break
                vector = product / norm
                if value is not None and abs(current - value) / (abs(value) + _EPS) < tol:
                    value, done = current, True
                    break
                value = current
            assert value is not None  # iters >= 1
            # Hv / |Hv| is one step closer to the eigenvector than v; orthogonalize it for the next deflation.
            found.append(_orthonormal(vector, found))
            values.append(value)
            iterations.append(step)
            converged.append(done)
        vectors = [[part.detach() for part in curvature.split(v)] for v in found]
    return Eigenvalues(values=values, iterations=iterations, converged=converged, vectors=vectors)


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    batch: tuple[torch.Tensor, torch.Tensor],
    samples: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
) -> Trace:
    """The trace of the Hessian by Hutchinson's estimator: the mean of ``v . Hv`` over Rademacher vectors ``v``.

    ``E[v . Hv] = tr H`` when the entries of ``v`` are independent signs ``+-1``. As PyHessian, sampling stops
    early when the running mean changes by less than ``tol`` relative to the previous mean,
    ``|new - old| / (|old| + 1e-6)``, checked from the second sample on. That rule measures the step, not the
    error: it can stop after a handful of samples, so the result also reports how many were used and the
    standard error of the mean, which is the honest uncertainty. (PyHessian divides by ``old + 1e-6`` without
    the absolute value, so for a negative trace it always stops at the second sample; here ``|old|`` is used.)
    For a fixed number of samples, give a tiny ``tol``.

    Args:
        model: the network; see the module notes for eval mode and pruned models (pruned weights contribute
            nothing: the trace is that of the Hessian restricted to unpruned weights).
        loss_fn: ``loss_fn(model(x), y)`` gives the scalar loss.
        batch: ``(x, y)``, moved to the model's device.
        samples: maximum number of Rademacher vectors, at least 1.
        tol: relative tolerance of the stopping rule, positive.
        seed: seeds the Rademacher vectors (drawn on the CPU), at least 0.

    Returns:
        The estimate, its standard error and the number of samples used.

    Raises:
        ValueError: for ``samples`` or ``seed`` not integers in range, a non-positive ``tol``, or the batch and
            loss errors of :func:`hvp`.
    """
    samples = check_integer("samples", samples, 1)
    tol = _tolerance(tol)
    seed = check_integer("seed", seed, 0)
    generator = torch.Generator().manual_seed(seed)
    quadratics: list[float] = []
    mean = 0.0
    with _curvature(model, loss_fn, batch) as curvature:
        for n in range(1, samples + 1):
            vector = curvature.rademacher(generator)
            quadratics.append(float(torch.dot(curvature.hvp(vector), vector)))
            new_mean = mean + (quadratics[-1] - mean) / n
            stop = n >= 2 and abs(new_mean - mean) / (abs(mean) + _EPS) < tol
            mean = new_mean
            if stop:
                break
    used = len(quadratics)
    std_error = statistics.stdev(quadratics) / math.sqrt(used) if used >= 2 else math.nan
    return Trace(trace=statistics.fmean(quadratics), std_error=std_error, samples=used)
