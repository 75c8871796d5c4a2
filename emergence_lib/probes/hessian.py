"""Curvature of the loss on one batch, from Hessian-vector products, in the manner of PyHessian (Yao et al. 2020).

:class:`Curvature` is the entry point: built once per model, loss and batch, it keeps one gradient graph and
serves Hessian-vector products (:meth:`~Curvature.hvp`), the top eigenvalues (:meth:`~Curvature.eigenvalues`)
and the trace (:meth:`~Curvature.trace`) from it. :func:`hvp`, :func:`hessian_eigenvalues` and
:func:`hessian_trace` do one of these each, on a curvature of their own. The Hessian is never formed.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Callable, Sequence
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
    """Eigenvalues of the Hessian found by :meth:`Curvature.eigenvalues` (or :func:`hessian_eigenvalues`).

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
    """Hutchinson estimate of the Hessian trace from :meth:`Curvature.trace` (or :func:`hessian_trace`).

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


def _orthonormal(vector: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    """``vector`` made orthogonal to the unit vectors of ``basis`` (Gram-Schmidt), then normalized."""
    for b in basis:
        vector = vector - torch.dot(vector, b) * b
    norm = torch.linalg.vector_norm(vector)
    return vector / norm if norm > 0 else vector


class Curvature:
    """The Hessian of one loss on one batch, served through Hessian-vector products (PyHessian's ``hessian``).

    Building it evaluates ``loss_fn(model(x), y)`` once and takes its gradient ``g`` with ``create_graph=True``;
    every product ``Hv`` is then the gradient of ``g . v`` through that one graph (double backward, Pearlmutter's
    trick), one backward pass and no new forward pass. :meth:`hvp`, :meth:`eigenvalues` and :meth:`trace` all
    share the graph, so the eigenvalues and the trace of one model on one batch cost one forward pass between
    them. The graph lives until :meth:`close` (or the end of a ``with`` block); the model is restored as soon as
    the object is built.

    Conventions:

    - ``batch`` is one ``(x, y)`` pair, moved to the device of the model's parameters; ``loss_fn(model(x), y)``
      must return a scalar (``nn.CrossEntropyLoss()`` or ``nn.functional.cross_entropy``, for instance).
    - The Hessian is taken with respect to the trainable parameters (:attr:`params`: ``[p for p in
      model.parameters() if p.requires_grad]``, in that order) at their values when the object is built.
      Changing them in place afterwards makes later products fail (autograd detects it): build a new one.
    - The loss is evaluated in eval mode: dropout is off and BatchNorm uses its running statistics, so the
      function being differentiated is deterministic and the running statistics are not updated. (PyHessian does
      the same, but leaves the model in eval mode.)
    - The model is left exactly as it was: parameters and buffers untouched, every module's train/eval mode
      restored, no ``.grad`` written (products come from ``torch.autograd.grad``, never ``backward``), and the
      masked ``weight`` attribute of a pruned module is the very tensor that was there before, so the model
      holds no reference to the graph.
    - Pruned models (``torch.nn.utils.prune``, as :mod:`~emergence_lib.engine.prune` uses it): the trainable
      parameter of a pruned tensor is ``weight_orig``, and ``weight = weight_orig * weight_mask``. The Hessian
      with respect to ``weight_orig`` is therefore ``D H D``, where ``H`` is the Hessian with respect to the
      effective weights and ``D`` the diagonal of the mask: the Hessian of the effective weights restricted to
      the unpruned positions, with zero rows and columns at pruned ones. Input vectors are multiplied by the mask
      (pruned coordinates stay 0, so random vectors live in the unpruned subspace) and so are the products.
      Eigenvalues are those of the restricted Hessian, and the trace is its trace: pruned weights contribute
      nothing, although the curvature of the loss in the direction of a pruned (zero) weight is generally not
      zero.
    - Random vectors are drawn from a CPU ``torch.Generator`` seeded by each call's ``seed`` and then moved to
      the model's device, so a seed gives the same vectors on every device (results then differ only by
      floating-point rounding), and a call's result does not depend on the calls made before it. They are drawn
      parameter by parameter, as PyHessian draws them: for a float32 model, ``seed=s`` gives the vectors
      PyHessian (``cuda=False``) uses after ``torch.manual_seed(s)``.

    Internally vectors are flat (all trainable parameters concatenated in :attr:`params` order), and every
    estimator is written against three private primitives: the product ``_product(v)``, and seeded Gaussian and
    Rademacher vectors ``_gaussian(generator)``, ``_rademacher(generator)``. A spectral density by stochastic
    Lanczos quadrature (PyHessian's ``density()``) needs nothing else: it can be added as one more method,
    ``density(iters, samples, seed)``, without touching the rest (not implemented yet).

    Args:
        model: the network.
        loss_fn: ``loss_fn(model(x), y)`` gives the scalar loss.
        batch: ``(x, y)``, moved to the model's device.

    Attributes:
        params: the trainable parameters, in the order of the vectors :meth:`hvp` takes and returns.
        loss: the loss on the batch, in eval mode, at the current weights.
        dimension: the number of (unpruned) trainable coordinates: the size of the space the Hessian acts on,
            and the largest ``k`` :meth:`eigenvalues` accepts.

    Raises:
        ValueError: for a batch that is not a pair, a model without trainable parameters or with trainable
            parameters of several (or non-floating-point) dtypes, or a loss that is not a scalar.

    Examples:
        For ``loss = |x w|^2 / 2`` the Hessian with respect to ``w`` is ``x^T x``, here ``diag(4, 1)``:

        >>> import torch
        >>> from torch import nn
        >>> model = nn.Linear(2, 1, bias=False).double()
        >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> y = torch.zeros(2, 1, dtype=torch.float64)
        >>> def half_sse(out, target):
        ...     return ((out - target) ** 2).sum() / 2
        >>> with Curvature(model, half_sse, (x, y)) as curvature:
        ...     top = curvature.eigenvalues(k=2, tol=1e-10, seed=0)
        ...     trace = curvature.trace(samples=30, seed=0)
        ...     product = curvature.hvp([torch.ones(1, 2, dtype=torch.float64)])
        >>> [round(value, 6) for value in top.values]
        [4.0, 1.0]
        >>> trace.trace, trace.std_error  # v . Hv = 4 + 1 for every vector of signs v: no error, early stop
        (5.0, 0.0)
        >>> product[0].tolist()
        [[4.0, 1.0]]
        >>> curvature.dimension, model.training
        (2, True)
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
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
                    raise ValueError(
                        "loss_fn(model(x), y) must return a scalar tensor (a mean or sum over the batch)"
                    )
                grads = torch.autograd.grad(loss.reshape(()), params, create_graph=True, allow_unused=True)
                gradient = torch.cat([
                    (torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)
                ])  # fmt: skip
        finally:
            # The graph is built: modes and the masked attributes no longer matter to it.
            for module, training in modes:
                module.training = training
            for module, name, value in attributes:
                if value is missing:
                    module.__dict__.pop(name, None)
                else:
                    module.__dict__[name] = value
        mask = None
        if masks:
            mask = torch.cat([
                (masks[id(p)] if id(p) in masks else torch.ones_like(p)).reshape(-1).to(p.dtype) for p in params
            ])  # fmt: skip
        self.params: list[nn.Parameter] = params
        self.loss: float = float(loss.detach())
        self._gradient: torch.Tensor | None = gradient
        self._mask = mask
        self._sizes = [p.numel() for p in params]
        self.dimension: int = sum(self._sizes) if mask is None else int(torch.count_nonzero(mask))
        self._dtype = params[0].dtype
        self._device = params[0].device

    def __enter__(self) -> Curvature:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the gradient graph (the end of a ``with`` block does it); later products raise a RuntimeError."""
        self._gradient = None

    def __repr__(self) -> str:
        state = "closed" if self._gradient is None else "open"
        return f"Curvature(loss={self.loss:.6g}, dimension={self.dimension}, {state})"

    # --- the primitives every estimator uses (flat vectors) ---

    def _product(self, vector: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat ``v`` (masked on the way in and out)."""
        gradient = self._gradient
        if gradient is None:
            raise RuntimeError("this Curvature is closed (its gradient graph was freed); build a new one")
        if self._mask is not None:
            vector = vector * self._mask
        if not gradient.requires_grad:
            # The gradient does not depend on the parameters (e.g. a loss linear in them): H = 0.
            return torch.zeros_like(vector)
        products = torch.autograd.grad(gradient, self.params, grad_outputs=vector, retain_graph=True, allow_unused=True)
        flat = torch.cat([
            (torch.zeros_like(p) if h is None else h).reshape(-1) for p, h in zip(self.params, products)
        ])  # fmt: skip
        return flat if self._mask is None else flat * self._mask

    def _split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """A flat vector as a list of detached tensors shaped like the parameters."""
        return [part.view_as(p).detach() for part, p in zip(vector.split(self._sizes), self.params)]

    # Drawn parameter by parameter, as PyHessian draws them: on the CPU, `seed=s` then gives the vectors PyHessian
    # uses after `torch.manual_seed(s)` (for float32 models), and the two can be compared run by run.
    def _gaussian(self, generator: torch.Generator) -> torch.Tensor:
        parts = [torch.randn(p.shape, generator=generator, dtype=self._dtype).reshape(-1) for p in self.params]
        vector = torch.cat(parts).to(self._device)
        return vector if self._mask is None else vector * self._mask

    def _rademacher(self, generator: torch.Generator) -> torch.Tensor:
        vector = torch.cat([
            torch.randint(0, 2, p.shape, generator=generator, dtype=self._dtype).reshape(-1) for p in self.params
        ]).mul_(2).sub_(1)  # fmt: skip
        vector = vector.to(self._device)
        return vector if self._mask is None else vector * self._mask

    # --- the estimators ---

    def hvp(self, vectors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The Hessian-vector product ``H v``.

        Args:
            vectors: the vector ``v``, one tensor per trainable parameter (:attr:`params`), each of that
                parameter's shape; moved to the parameters' device and dtype. Coordinates of pruned weights are
                set to 0.

        Returns:
            ``H v`` in the same form (detached tensors, zero at pruned coordinates).

        Raises:
            ValueError: when ``vectors`` does not match the trainable parameters in number or shapes.
        """
        params = self.params
        if len(vectors) != len(params) or any(getattr(v, "shape", None) != p.shape for v, p in zip(vectors, params)):
            raise ValueError(
                "vectors must hold one tensor per trainable parameter, of its shape: expected "
                f"{[tuple(p.shape) for p in params]}; got {[tuple(getattr(v, 'shape', ())) for v in vectors]}"
            )
        flat = torch.cat([v.detach().reshape(-1).to(self._device, self._dtype) for v in vectors])
        return self._split(self._product(flat))

    def eigenvalues(self, k: int = 1, iters: int = 100, tol: float = 1e-3, seed: int = 0) -> Eigenvalues:
        """The ``k`` eigenvalues of largest magnitude, by power iteration with deflation (as PyHessian).

        For each eigenvalue, a Gaussian random vector ``v`` (seeded) is iterated ``v <- Hv / |Hv|``, made
        orthogonal to the eigenvectors already found before every product (deflation, repeated each step because
        rounding brings their directions back). The estimate is the Rayleigh quotient ``v . Hv`` with unit
        ``v``; iteration stops when it changes by less than ``tol`` relative to the previous one,
        ``|new - old| / (|old| + 1e-6)``, PyHessian's rule, or after ``iters`` products.

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
            k: number of eigenvalues, at least 1 and at most :attr:`dimension`.
            iters: maximum Hessian-vector products per eigenvalue, at least 1.
            tol: relative tolerance of the stopping rule, positive.
            seed: seeds the starting vectors (drawn on the CPU), at least 0.

        Returns:
            The eigenvalues, with the products used, convergence flags and unit eigenvectors.

        Raises:
            ValueError: for ``k``, ``iters`` or ``seed`` not integers in range, or a non-positive ``tol``.
        """
        k, iters, tol, seed = _eigen_arguments(k, iters, tol, seed)
        if k > self.dimension:
            raise ValueError(
                f"k must be at most the number of unpruned trainable coordinates, {self.dimension}; got {k}"
            )
        generator = torch.Generator().manual_seed(seed)
        values: list[float] = []
        iterations: list[int] = []
        converged: list[bool] = []
        found: list[torch.Tensor] = []
        for _ in range(k):
            vector = _orthonormal(self._gaussian(generator), found)
            value: float | None = None
            done = False
            step = 0
            for step in range(1, iters + 1):
                vector = _orthonormal(vector, found)
                product = self._product(vector)
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
        vectors = [self._split(v) for v in found]
        return Eigenvalues(values=values, iterations=iterations, converged=converged, vectors=vectors)

    def trace(self, samples: int = 100, tol: float = 1e-3, seed: int = 0) -> Trace:
        """The trace by Hutchinson's estimator: the mean of ``v . Hv`` over Rademacher vectors ``v``.

        ``E[v . Hv] = tr H`` when the entries of ``v`` are independent signs ``+-1``. As PyHessian, sampling stops
        early when the running mean changes by less than ``tol`` relative to the previous mean,
        ``|new - old| / (|old| + 1e-6)``, checked from the second sample on. That rule measures the step, not the
        error: it can stop after a handful of samples, so the result also reports how many were used and the
        standard error of the mean, which is the honest uncertainty. (PyHessian divides by ``old + 1e-6`` without
        the absolute value, so for a negative trace it always stops at the second sample; here ``|old|`` is
        used.) For a fixed number of samples, give a tiny ``tol``. Pruned weights contribute nothing: the trace
        is that of the Hessian restricted to unpruned weights.

        Args:
            samples: maximum number of Rademacher vectors, at least 1.
            tol: relative tolerance of the stopping rule, positive.
            seed: seeds the Rademacher vectors (drawn on the CPU), at least 0.

        Returns:
            The estimate, its standard error and the number of samples used.

        Raises:
            ValueError: for ``samples`` or ``seed`` not integers in range, or a non-positive ``tol``.
        """
        samples, tol, seed = _trace_arguments(samples, tol, seed)
        generator = torch.Generator().manual_seed(seed)
        quadratics: list[float] = []
        mean = 0.0
        for n in range(1, samples + 1):
            vector = self._rademacher(generator)
            quadratics.append(float(torch.dot(self._product(vector), vector)))
            new_mean = mean + (quadratics[-1] - mean) / n
            stop = n >= 2 and abs(new_mean - mean) / (abs(mean) + _EPS) < tol
            mean = new_mean
            if stop:
                break
        used = len(quadratics)
        std_error = statistics.stdev(quadratics) / math.sqrt(used) if used >= 2 else math.nan
        return Trace(trace=statistics.fmean(quadratics), std_error=std_error, samples=used)


def _eigen_arguments(k: object, iters: object, tol: object, seed: object) -> tuple[int, int, float, int]:
    return check_integer("k", k, 1), check_integer("iters", iters, 1), _tolerance(tol), check_integer("seed", seed, 0)


def _trace_arguments(samples: object, tol: object, seed: object) -> tuple[int, float, int]:
    return check_integer("samples", samples, 1), _tolerance(tol), check_integer("seed", seed, 0)


def hvp(
    model: nn.Module, loss_fn: LossFn, batch: tuple[torch.Tensor, torch.Tensor], vectors: list[torch.Tensor]
) -> list[torch.Tensor]:
    """Hessian-vector product ``H v`` of the loss on one batch: :meth:`Curvature.hvp` on a curvature of its own.

    Each call evaluates the loss and its gradient afresh; for several products on the same batch, build one
    :class:`Curvature` and call its methods.

    Args:
        model: the network; see :class:`Curvature` for eval mode and pruned models.
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
    with Curvature(model, loss_fn, batch) as curvature:
        return curvature.hvp(vectors)


def hessian_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    batch: tuple[torch.Tensor, torch.Tensor],
    k: int = 1,
    iters: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
) -> Eigenvalues:
    """The ``k`` Hessian eigenvalues of largest magnitude: :meth:`Curvature.eigenvalues` on a curvature of its own.

    Power iteration with deflation, as PyHessian; the method's docstring has the algorithm, its stopping rule
    and its caveats. To have the trace as well, build one :class:`Curvature` and ask it for both.

    Args:
        model: the network; see :class:`Curvature` for eval mode and pruned models (the eigenvalues are those
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
            batch and loss errors of :class:`Curvature`.
    """
    k, iters, tol, seed = _eigen_arguments(k, iters, tol, seed)  # before the forward pass
    with Curvature(model, loss_fn, batch) as curvature:
        return curvature.eigenvalues(k=k, iters=iters, tol=tol, seed=seed)


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    batch: tuple[torch.Tensor, torch.Tensor],
    samples: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
) -> Trace:
    """The trace of the Hessian by Hutchinson's estimator: :meth:`Curvature.trace` on a curvature of its own.

    The mean of ``v . Hv`` over Rademacher vectors ``v``, stopped early by PyHessian's rule; the method's
    docstring has the details. To have the top eigenvalues as well, build one :class:`Curvature` and ask it
    for both.

    Args:
        model: the network; see :class:`Curvature` for eval mode and pruned models (pruned weights contribute
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
            loss errors of :class:`Curvature`.
    """
    samples, tol, seed = _trace_arguments(samples, tol, seed)  # before the forward pass
    with Curvature(model, loss_fn, batch) as curvature:
        return curvature.trace(samples=samples, tol=tol, seed=seed)
