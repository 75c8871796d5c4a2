"""Curvature of the loss on one batch, from Hessian-vector products, in the manner of PyHessian (Yao et al. 2020).

:class:`Curvature` is the entry point: built once per model, loss and batch, it keeps one gradient graph and
serves from it Hessian-vector products (:meth:`~Curvature.hvp`), the top eigenvalues
(:meth:`~Curvature.eigenvalues`), the top eigenvalues of each layer's diagonal block
(:meth:`~Curvature.block_eigenvalues`), the trace (:meth:`~Curvature.trace`) and the spectral density by
stochastic Lanczos quadrature (:meth:`~Curvature.density`: a :class:`Density`, with its moments and a smoothed
curve). All but the product are random estimates: :meth:`~Curvature.over_seeds` repeats one over seeds of its
random vectors and tabulates the spread, to be shown beside the mean. :func:`hvp`, :func:`hessian_eigenvalues`,
:func:`hessian_trace` and :func:`hessian_density` do one of these each, on a curvature of their own. The
Hessian is never formed.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._checks import check_choice, check_integer

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


@dataclass(frozen=True)
class Moment:
    """A moment of the spectral density, from :meth:`Density.moment`.

    Attributes:
        order: ``k``.
        value: the estimate of ``tr(H^k) / dimension``, the ``k``-th moment of the eigenvalue distribution (the
            mean over runs of each run's quadrature ``sum_i weight_i * node_i ** k``).
        std_error: standard error of that mean over the runs, the independent samples (sample standard deviation
            over ``sqrt(runs)``; ``nan`` for a single run).
        runs: number of runs (starting vectors) averaged.
    """

    order: int
    value: float
    std_error: float
    runs: int


@dataclass(frozen=True)
class Density:
    """Spectral density of the Hessian by stochastic Lanczos quadrature, from :meth:`Curvature.density`.

    For a unit vector ``v``, the eigenvalues ``lambda_j`` of ``H`` with weights ``(v . u_j)^2`` (``u_j`` the unit
    eigenvectors) form a distribution, and ``m`` steps of Lanczos from ``v`` give its ``m``-point Gauss
    quadrature: nodes ``node_i`` (the eigenvalues of the tridiagonal Lanczos matrix) and weights ``weight_i`` (the
    squares of the first components of its eigenvectors), with ``sum_i weight_i * f(node_i) = v . f(H) v`` for
    every polynomial ``f`` of degree below ``2m``. For a normalized vector of random signs, the expectation of
    that distribution is the eigenvalue density of ``H``, ``(1/d) sum_j delta(x - lambda_j)`` with ``d``
    :attr:`dimension`: one run is one such vector, and the runs average out the randomness. Each run's weights
    sum to 1. As the steps grow, the extreme nodes of a run converge first, to the extreme eigenvalues of ``H``
    (Lanczos finds the edges of the spectrum first), while the bulk stays coarsely resolved: a node in the bulk
    stands for the many eigenvalues around it, with their weight.

    Attributes:
        nodes: for each run, the quadrature nodes in increasing order (as many as the Lanczos steps taken:
            ``iters``, or fewer when the Krylov space was exhausted, see :meth:`Curvature.density`).
        weights: for each run, the weight of each node (non-negative, summing to 1).
        dimension: the number of (unpruned) trainable coordinates ``d``; ``d * moment(k).value`` estimates
            ``tr(H^k)``.

    Examples:
        For ``H = diag(4, 1)`` every vector of signs has half its weight on each eigenvalue:

        >>> density = Density(nodes=[[1.0, 4.0]], weights=[[0.5, 0.5]], dimension=2)
        >>> density.moment(1).value, density.moment(2).value  # tr(H) / 2, tr(H^2) / 2
        (2.5, 8.5)
        >>> grid, values = density.smoothed(grid=[1.0, 2.5, 4.0], width=0.5)
        >>> [round(float(v), 4) for v in values]  # half a Gaussian of standard deviation 0.5 at each eigenvalue
        [0.3989, 0.0089, 0.3989]
    """

    nodes: list[list[float]]
    weights: list[list[float]]
    dimension: int

    @property
    def runs(self) -> int:
        """Number of runs (starting vectors)."""
        return len(self.nodes)

    def moment(self, k: int) -> Moment:
        """The ``k``-th moment of the eigenvalue density, ``tr(H^k) / dimension``, with its standard error.

        Each run gives ``sum_i weight_i * node_i ** k``, which is ``v . H^k v`` for its unit starting vector ``v``
        exactly (up to rounding) while ``k`` is below twice the number of its Lanczos steps, and an approximation
        beyond. ``v`` being ``r / sqrt(d)`` for a vector of signs ``r``, that is Hutchinson's estimate
        ``r . H^k r / d``, unbiased: ``dimension * moment(1).value`` is the Hutchinson trace with these vectors.
        The estimate is the mean over runs, the standard error the spread of the runs over ``sqrt(runs)``.

        Args:
            k: the order, an integer at least 0 (``moment(0)`` is 1: the weights sum to 1).

        Returns:
            The moment, its standard error and the number of runs.

        Raises:
            ValueError: for ``k`` not an integer at least 0.
        """
        k = check_integer("k", k, 0)
        per_run = [
            math.fsum(w * x**k for x, w in zip(nodes, weights)) for nodes, weights in zip(self.nodes, self.weights)
        ]  # fmt: skip
        std_error = statistics.stdev(per_run) / math.sqrt(len(per_run)) if len(per_run) >= 2 else math.nan
        return Moment(order=k, value=statistics.fmean(per_run), std_error=std_error, runs=len(per_run))

    def smoothed(
        self, grid: Sequence[float] | np.ndarray | torch.Tensor | None = None, width: float | None = None,
        normalize: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The density smoothed by Gaussian kernels, on a grid: each node spread into a Gaussian of its weight.

        ``density(x) = mean over runs of sum_i weight_i * N(x; node_i, width^2)``, a probability density on the
        real line (it integrates to 1 there). The defaults are those of PyHessian's ``density_generate``
        (``density_plot.py`` in its repository): 10,000 evenly spaced points from ``lo = (mean over runs of the
        smallest node) - 0.01`` to ``hi = (mean of the largest node) + 0.01``, and a kernel of variance
        ``1e-5 * max(1, hi - lo)``. PyHessian then rescales the curve so that its Riemann sum on the grid is 1
        (``normalize=True``), which makes up for the mass of the kernels that falls outside the grid.

        Args:
            grid: the points ``x``, a 1-D sequence of finite numbers; default PyHessian's grid (above).
            width: the standard deviation of the Gaussian kernel, positive; default PyHessian's,
                ``sqrt(1e-5 * max(1, hi - lo))``. A kernel narrower than the spacing of the nodes shows spikes
                at the nodes, not a density: widen it for a smooth curve.
            normalize: rescale the values so that ``sum(values) * spacing = 1`` on an evenly spaced grid (the
                spacing taken as that of its first two points), as PyHessian does.

        Returns:
            ``(grid, values)``: two float64 NumPy arrays of the same length.

        Raises:
            ValueError: for a grid that is not a non-empty 1-D sequence of finite numbers (of at least two points
                with ``normalize``), or a width that is not a positive number.
        """
        lo = statistics.fmean(min(nodes) for nodes in self.nodes) - 0.01
        hi = statistics.fmean(max(nodes) for nodes in self.nodes) + 0.01
        if grid is None:
            points = np.linspace(lo, hi, num=10_000)
        else:
            points = np.asarray(grid.detach().cpu() if isinstance(grid, torch.Tensor) else grid, dtype=np.float64)
            if points.ndim != 1 or points.size < (2 if normalize else 1) or not np.all(np.isfinite(points)):
                raise ValueError(
                    f"grid must be a 1-D sequence of finite numbers (at least {2 if normalize else 1}); "
                    f"got shape {points.shape}"
                )
        variance = 1e-5 * max(1.0, hi - lo) if width is None else _positive("width", width) ** 2
        values = np.zeros_like(points)
        for nodes, weights in zip(self.nodes, self.weights):
            offsets = points[:, None] - np.asarray(nodes)[None, :]
            kernels = np.exp(-(offsets**2) / (2 * variance)) / math.sqrt(2 * math.pi * variance)
            values += kernels @ np.asarray(weights)
        values /= self.runs
        if normalize:
            values /= values.sum() * (points[1] - points[0])
        return points, values


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return float(value)


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

    - Blocks (:meth:`block_eigenvalues`): one diagonal block of the Hessian per module that owns trainable
      parameters itself (its weight and bias together; ``weight_orig`` for a pruned module, masked as above),
      named as in ``model.named_modules()`` (``""`` for the model itself), in that order: :attr:`blocks`.

    Internally vectors are flat (all trainable parameters concatenated in :attr:`params` order), and every
    estimator is written against three private primitives: the product ``_product(v)``, and seeded Gaussian and
    Rademacher vectors ``_gaussian(generator)``, ``_rademacher(generator)``. Power iteration (:meth:`eigenvalues`,
    :meth:`block_eigenvalues`) and Lanczos (:meth:`density`, PyHessian's ``density()``) are built on them.

    Args:
        model: the network.
        loss_fn: ``loss_fn(model(x), y)`` gives the scalar loss.
        batch: ``(x, y)``, moved to the model's device.

    Attributes:
        params: the trainable parameters, in the order of the vectors :meth:`hvp` takes and returns.
        loss: the loss on the batch, in eval mode, at the current weights.
        dimension: the number of (unpruned) trainable coordinates: the size of the space the Hessian acts on,
            and the largest ``k`` :meth:`eigenvalues` and ``iters`` :meth:`density` accept.
        blocks: the diagonal blocks of :meth:`block_eigenvalues`: module name -> number of its (unpruned)
            trainable coordinates, in ``named_modules()`` order.

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
        >>> curvature.dimension, curvature.blocks, model.training
        (2, {'': 2}, True)
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
        # The module that owns each parameter (the first, for a parameter shared by several), for the blocks.
        owners: dict[int, str] = {}
        for name, module in model.named_modules():
            for p in module.parameters(recurse=False):
                owners.setdefault(id(p), name)
        self._owners = [owners[id(p)] for p in params]
        self.blocks: dict[str, int] = {}  # named_modules order, which is the order of params
        for p, owner in zip(params, self._owners):
            free = int(torch.count_nonzero(masks[id(p)])) if id(p) in masks else p.numel()
            self.blocks[owner] = self.blocks.get(owner, 0) + free

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

    def _block_mask(self, name: str) -> torch.Tensor:
        """The flat 0/1 vector of block ``name``: 1 on its module's unpruned coordinates, 0 elsewhere."""
        inside = [float(owner == name) for owner in self._owners]
        parts = [torch.full((n,), value, dtype=self._dtype) for n, value in zip(self._sizes, inside)]
        block = torch.cat(parts).to(self._device)
        return block if self._mask is None else block * self._mask

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
        return self._power(k, iters, tol, seed)

    def block_eigenvalues(
        self, k: int = 1, iters: int = 100, tol: float = 1e-3, seed: int = 0
    ) -> dict[str, Eigenvalues]:
        """The ``k`` eigenvalues of largest magnitude of each layer's diagonal block of the Hessian.

        A block is the Hessian with respect to the trainable parameters of one module (weight and bias together;
        see :attr:`blocks`), the others held fixed: the curvature of the loss when only that layer moves. Its
        eigenvalues come from the power iteration of :meth:`eigenvalues`, restricted to the block (vectors zero
        outside it, every product projected onto it), with the same stopping rule, caveats and seeds: each block
        starts from a generator seeded with ``seed``, so its result does not depend on the other blocks. The
        eigenvectors are zero outside their block. The top eigenvalue of a block is at most that of the whole
        Hessian in magnitude (it is a Rayleigh quotient of it), and the blocks together show where the sharpest
        directions live. A pruned module's block excludes its pruned weights, as everywhere in this class.

        Args:
            k: number of eigenvalues per block, at least 1 and at most the size of the smallest block.
            iters: maximum Hessian-vector products per eigenvalue, at least 1.
            tol: relative tolerance of the stopping rule, positive.
            seed: seeds the starting vectors (drawn on the CPU), at least 0.

        Returns:
            Module name -> its eigenvalues (as :meth:`eigenvalues` returns them), in :attr:`blocks` order.

        Raises:
            ValueError: for ``k``, ``iters`` or ``seed`` not integers in range (``k`` larger than a block
                names the block), or a non-positive ``tol``.

        Examples:
            A single linear layer is a single block, and its block is the whole Hessian, ``diag(4, 1)``:

            >>> import torch
            >>> from torch import nn
            >>> model = nn.Sequential(nn.Linear(2, 1, bias=False)).double()
            >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
            >>> def half_sse(out, target):
            ...     return ((out - target) ** 2).sum() / 2
            >>> with Curvature(model, half_sse, (x, torch.zeros(2, 1, dtype=torch.float64))) as curvature:
            ...     blocks = curvature.block_eigenvalues(k=2, tol=1e-10)
            >>> {name: [round(v, 6) for v in top.values] for name, top in blocks.items()}
            {'0': [4.0, 1.0]}
        """
        k, iters, tol, seed = _eigen_arguments(k, iters, tol, seed)
        for name, size in self.blocks.items():
            if k > size:
                raise ValueError(
                    f"k must be at most the number of unpruned trainable coordinates of every block; "
                    f"block {name!r} has {size}; got {k}"
                )
        return {name: self._power(k, iters, tol, seed, self._block_mask(name)) for name in self.blocks}

    def _power(self, k: int, iters: int, tol: float, seed: int, block: torch.Tensor | None = None) -> Eigenvalues:
        """Power iteration with deflation for :meth:`eigenvalues` (``block`` None) or one diagonal block.

        ``block`` is a flat 0/1 vector: starting vectors and products are multiplied by it, so the iteration runs
        on the block's coordinates only. Without it, the operations are exactly those of the whole Hessian.
        """
        generator = torch.Generator().manual_seed(seed)
        values: list[float] = []
        iterations: list[int] = []
        converged: list[bool] = []
        found: list[torch.Tensor] = []
        for _ in range(k):
            start = self._gaussian(generator)
            if block is not None:
                start = start * block
            vector = _orthonormal(start, found)
            value: float | None = None
            done = False
            step = 0
            for step in range(1, iters + 1):
                vector = _orthonormal(vector, found)
                product = self._product(vector)
                if block is not None:  # the block's product: H v with v and the result restricted to the block
                    product = product * block
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

    def density(self, iters: int = 100, runs: int = 1, seed: int = 0) -> Density:
        """The spectral density by stochastic Lanczos quadrature (SLQ), as PyHessian's ``density(iter, n_v)``.

        Each run draws a vector of random signs (Rademacher, seeded; the vectors PyHessian draws after
        ``torch.manual_seed(seed)``, run after run), normalizes it, and runs ``iters`` steps of Lanczos from it
        with full reorthogonalization: each new Lanczos vector is made orthogonal to all the previous ones
        (classical Gram-Schmidt, repeated once when it removes much of the vector), which keeps the basis
        orthogonal in floating point, where plain Lanczos loses it and repeats eigenvalues. The eigenvalues of the
        ``iters x iters`` tridiagonal matrix are the run's nodes, the squared first components of its unit
        eigenvectors their weights (:class:`Density` says what they estimate). The runs are independent: their
        spread gives the standard errors of :meth:`Density.moment`. Cost: ``iters * runs`` Hessian-vector
        products, and ``iters`` vectors of :attr:`dimension` kept per run.

        When the Krylov space is exhausted before ``iters`` steps (the next Lanczos vector is zero up to rounding:
        the starting vector lies in an invariant subspace, e.g. when ``H`` has fewer distinct eigenvalues than
        ``iters``), the run stops there, with fewer nodes, and its quadrature is then exact for every polynomial.
        PyHessian instead continues from a new random vector, adding nodes of weight zero.

        Args:
            iters: Lanczos steps per run (the nodes of each run), at least 1 and at most :attr:`dimension`.
                PyHessian's default, 100, resolves the edges of the spectrum well and its bulk coarsely.
            runs: number of starting vectors, at least 1; the standard errors need at least 2.
            seed: seeds the Rademacher vectors (drawn on the CPU), at least 0.

        Returns:
            The nodes and weights of every run.

        Raises:
            ValueError: for ``iters``, ``runs`` or ``seed`` not integers in range.

        Examples:
            Every vector of signs has half its weight on each eigenvalue of ``diag(4, 1)``:

            >>> import torch
            >>> from torch import nn
            >>> model = nn.Linear(2, 1, bias=False).double()
            >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
            >>> def half_sse(out, target):
            ...     return ((out - target) ** 2).sum() / 2
            >>> with Curvature(model, half_sse, (x, torch.zeros(2, 1, dtype=torch.float64))) as curvature:
            ...     density = curvature.density(iters=2, runs=3)
            >>> [[round(v, 6) for v in nodes] for nodes in density.nodes]
            [[1.0, 4.0], [1.0, 4.0], [1.0, 4.0]]
            >>> [round(w, 6) for w in density.weights[0]]
            [0.5, 0.5]
            >>> moment = density.moment(1)  # tr(H) / 2, the same for every vector of signs: no spread
            >>> round(moment.value, 6), round(moment.std_error, 6), moment.runs
            (2.5, 0.0, 3)
        """
        iters, runs, seed = _density_arguments(iters, runs, seed)
        if iters > self.dimension:
            raise ValueError(
                f"iters must be at most the number of unpruned trainable coordinates, {self.dimension}; got {iters}"
            )
        generator = torch.Generator().manual_seed(seed)
        nodes: list[list[float]] = []
        weights: list[list[float]] = []
        for _ in range(runs):
            alphas, betas = self._lanczos(self._rademacher(generator), iters)
            # The tridiagonal matrix is tiny: its eigen-decomposition in float64 on the CPU costs nothing.
            tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
            if betas:
                off = torch.tensor(betas, dtype=torch.float64)
                tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
            values, vectors = torch.linalg.eigh(tridiagonal)  # increasing eigenvalues
            nodes.append(values.tolist())
            weights.append((vectors[0] ** 2).tolist())
        return Density(nodes=nodes, weights=weights, dimension=self.dimension)

    def _lanczos(self, start: torch.Tensor, iters: int) -> tuple[list[float], list[float]]:
        """Lanczos with full reorthogonalization from ``start``: the diagonal and off-diagonal of the tridiagonal.

        Stops early, with ``len(alphas) < iters``, when the next vector vanishes up to rounding (breakdown).
        """
        basis = torch.empty(iters, start.numel(), dtype=self._dtype, device=self._device)
        torch.div(start, torch.linalg.vector_norm(start), out=basis[0])
        # Breakdown: the new vector is below rounding relative to the largest entry of the tridiagonal so far, a
        # lower bound on |H|. Below it, its direction is noise, and the Krylov space is (numerically) invariant.
        floor = 100 * torch.finfo(self._dtype).eps
        alphas: list[float] = []
        betas: list[float] = []
        scale = 0.0
        for j in range(iters):
            vector = basis[j]
            w = self._product(vector)
            alpha = float(torch.dot(w, vector))
            w.sub_(vector, alpha=alpha)
            if j > 0:
                w.sub_(basis[j - 1], alpha=betas[-1])
            alphas.append(alpha)
            scale = max(scale, abs(alpha))
            if j + 1 == iters:
                break
            w = _reorthogonalized(w, basis[: j + 1])
            beta = float(torch.linalg.vector_norm(w))
            if beta <= floor * scale:
                break
            betas.append(beta)
            scale = max(scale, beta)
            torch.div(w, beta, out=basis[j + 1])
        return alphas, betas

    def over_seeds(self, estimate: str, seeds: Iterable[int], **kwargs: object) -> pd.DataFrame:
        """One estimate repeated over seeds of its random vectors: a table of the spread, one row per value.

        The random vectors make every estimate but :meth:`hvp` random, and one seed shows one draw. Running it
        over several seeds on the same model and batch (the same Hessian) shows how much of a value is the
        Hessian and how much the draw: report the mean with the standard deviation over seeds (or the standard
        error, divided by ``sqrt(len(seeds))``). The Hessian-vector products are those of this one graph; the
        cost is that of the estimate times the number of seeds.

        Args:
            estimate: the method to repeat: ``"eigenvalues"``, ``"block_eigenvalues"``, ``"trace"`` or
                ``"density"``.
            seeds: the seeds, integers at least 0 (a list, a range; the same seed gives the same rows).
            **kwargs: the method's other arguments (``k``, ``iters``, ``tol``, ``samples``, ``runs``), and for
                ``"density"`` also ``moments``, the orders ``k`` of :meth:`Density.moment` to report
                (default ``(1, 2)``).

        Returns:
            A DataFrame with a column ``seed`` and a column ``value``, and per estimate:

            - ``"eigenvalues"``: one row per seed and eigenvalue: ``seed, index, value, iterations, converged``
              (``index`` 0 the largest in magnitude);
            - ``"block_eigenvalues"``: one row per seed, block and eigenvalue: ``seed, block, index, value,
              iterations, converged``;
            - ``"trace"``: one row per seed: ``seed, value, std_error, samples`` (the Hutchinson estimate, its
              standard error over its own samples, the samples used);
            - ``"density"``: one row per seed and moment: ``seed, moment, value, std_error, runs`` (``value``
              estimates ``tr(H^k) / dimension`` for ``k = moment``; ``std_error`` is over the runs of one seed).

        Raises:
            ValueError: for an unknown ``estimate``, no seeds or a seed not an integer at least 0, ``seed``
                among ``kwargs``, and the errors of the method. An argument the method does not take raises its
                TypeError.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> _ = torch.manual_seed(0)
            >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
            >>> batch = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,))
            >>> with Curvature(model, nn.functional.cross_entropy, batch) as curvature:
            ...     table = curvature.over_seeds("trace", seeds=range(5), samples=10, tol=1e-12)
            >>> table.columns.tolist(), len(table)
            (['seed', 'value', 'std_error', 'samples'], 5)
            >>> bool(table["value"].std() > 0)  # the draws differ
            True
        """
        check_choice("estimate", estimate, _ESTIMATES)
        if not isinstance(seeds, Iterable) or isinstance(seeds, (str, bytes)) or not (seeds := list(seeds)):
            raise ValueError(f"seeds must be a non-empty sequence of integers >= 0; got {seeds!r}")
        seeds = [check_integer("seeds", s, 0) for s in seeds]
        if "seed" in kwargs:
            raise ValueError("seed is given by seeds, one run per seed; leave it out of the keyword arguments")
        orders = [1, 2]
        if estimate == "density":
            given = kwargs.pop("moments", orders)
            if isinstance(given, (str, bytes)) or not isinstance(given, Sequence) or len(given) == 0:
                raise ValueError(f"moments must be a non-empty sequence of integers >= 0; got {given!r}")
            orders = [check_integer("moments", k, 0) for k in given]
        rows: list[dict[str, object]] = []
        for seed in seeds:
            result = getattr(self, estimate)(seed=seed, **kwargs)
            if estimate == "trace":
                rows.append({"seed": seed, "value": result.trace, "std_error": result.std_error,
                             "samples": result.samples})  # fmt: skip
            elif estimate == "density":
                for k in orders:
                    m = result.moment(k)
                    rows.append({"seed": seed, "moment": k, "value": m.value, "std_error": m.std_error,
                                 "runs": m.runs})  # fmt: skip
            else:
                blocks = result.items() if estimate == "block_eigenvalues" else [(None, result)]
                for block, top in blocks:
                    for index, (value, n, done) in enumerate(zip(top.values, top.iterations, top.converged)):
                        where = {} if block is None else {"block": block}
                        rows.append({"seed": seed, **where, "index": index, "value": value, "iterations": n,
                                     "converged": done})  # fmt: skip
        return pd.DataFrame(rows)


_ESTIMATES = ("eigenvalues", "block_eigenvalues", "trace", "density")
"""The estimates :meth:`Curvature.over_seeds` repeats: the names of the methods."""


def _reorthogonalized(vector: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``vector`` made orthogonal to the orthonormal rows of ``basis``: classical Gram-Schmidt, twice if needed.

    One pass by two matrix-vector products; a second one when the first removed most of the vector (norm down
    by more than a factor sqrt(2), the criterion of Daniel, Gragg, Kaufman and Stewart), since rounding then
    leaves a component along the basis comparable to what remains. In Lanczos the vector is nearly orthogonal
    already, so a second pass is rare (near breakdown).
    """
    before = torch.linalg.vector_norm(vector)
    vector = torch.addmv(vector, basis.T, basis @ vector, alpha=-1)
    if torch.linalg.vector_norm(vector) < before / math.sqrt(2):
        vector = torch.addmv(vector, basis.T, basis @ vector, alpha=-1)
    return vector


def _eigen_arguments(k: object, iters: object, tol: object, seed: object) -> tuple[int, int, float, int]:
    return check_integer("k", k, 1), check_integer("iters", iters, 1), _tolerance(tol), check_integer("seed", seed, 0)


def _trace_arguments(samples: object, tol: object, seed: object) -> tuple[int, float, int]:
    return check_integer("samples", samples, 1), _tolerance(tol), check_integer("seed", seed, 0)


def _density_arguments(iters: object, runs: object, seed: object) -> tuple[int, int, int]:
    return check_integer("iters", iters, 1), check_integer("runs", runs, 1), check_integer("seed", seed, 0)


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


def hessian_density(
    model: nn.Module,
    loss_fn: LossFn,
    batch: tuple[torch.Tensor, torch.Tensor],
    iters: int = 100,
    runs: int = 1,
    seed: int = 0,
) -> Density:
    """The Hessian's spectral density by stochastic Lanczos quadrature: :meth:`Curvature.density` on its own.

    ``runs`` Lanczos runs of ``iters`` steps from vectors of random signs, as PyHessian's ``density(iter, n_v)``;
    the method's docstring has the algorithm, :class:`Density` what the nodes and weights estimate, its moments
    with their standard errors and the smoothed curve. To have the eigenvalues or the trace as well, build one
    :class:`Curvature` and ask it for all.

    Args:
        model: the network; see :class:`Curvature` for eval mode and pruned models (the density is that of the
            Hessian restricted to unpruned weights).
        loss_fn: ``loss_fn(model(x), y)`` gives the scalar loss.
        batch: ``(x, y)``, moved to the model's device.
        iters: Lanczos steps per run, at least 1 and at most the number of (unpruned) trainable coordinates.
        runs: number of starting vectors, at least 1.
        seed: seeds the Rademacher vectors (drawn on the CPU), at least 0.

    Returns:
        The nodes and weights of every run.

    Raises:
        ValueError: for ``iters``, ``runs`` or ``seed`` not integers in range, or the batch and loss errors of
            :class:`Curvature`.
    """
    iters, runs, seed = _density_arguments(iters, runs, seed)  # before the forward pass
    with Curvature(model, loss_fn, batch) as curvature:
        return curvature.density(iters=iters, runs=runs, seed=seed)
