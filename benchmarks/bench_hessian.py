"""Hessian top eigenvalue, trace and density: ``emergence_lib.probes.hessian`` against PyHessian, same model and batch.

The MLP 784-256-128-10 (``el.build_model("mlp", (1, 28, 28), 10, hidden=[256, 128])``, about 235,000
parameters), trained for one epoch of SGD with momentum on the offline MNIST subset, and a batch of the first
1,000 of its training digits; loss ``nn.CrossEntropyLoss()``, evaluated in eval mode by both. Both sides use
PyHessian's defaults: 100 steps at most, relative tolerance 1e-3.

1. Top eigenvalue: ``el.hessian.hessian_eigenvalues(k=1)`` against
   ``pyhessian.hessian(model, criterion, data=(x, y), cuda=False).eigenvalues(top_n=1)``, construction
   included (that is where PyHessian evaluates the loss and its gradient graph, as our call does). Targets:
   the median eigenvalue within 1% of PyHessian's, and the time within 10% of PyHessian's or better (the
   median over seeds of the ratio of the two runs of a seed). Both also against a tight reference
   (tolerance 1e-7, up to 1,000 steps).
2. Trace: ``el.hessian.hessian_trace`` against ``.trace()`` (whose samples we average). Hutchinson
   estimates are random, and both stop early by PyHessian's rule after a varying number of samples: the
   difference of the two medians is reported in units of PyHessian's standard error (the spread of its
   samples over the square root of their number), with the time and samples used, and a 1,000-sample
   estimate for scale.
3. Spectral density: ``el.hessian.hessian_density(iters=100, runs=1)`` against ``.density(iter=100, n_v=1)``
   (PyHessian's defaults), stochastic Lanczos quadrature from the same vector of signs. Targets: the time within
   10% of PyHessian's or better (median of per-seed ratios), and agreement: the largest difference between
   matching nodes (both sorted) relative to the range of PyHessian's nodes, and the largest relative difference
   of the first two moments ``sum_i w_i node_i^k``, over the seeds, each at most 1e-3. PyHessian's ``density``
   ends with ``torch.eig``, which torch removed in 2.0; where it is missing, the script puts back a stand-in that
   decomposes the (symmetric) tridiagonal matrix with ``torch.linalg.eigh``, and says so: everything else is
   PyHessian's own code, and the decomposition of a 100 x 100 matrix is a negligible share of the time.

Each repeat uses a new seed, the same for both arms (``torch.manual_seed`` for PyHessian, ``seed=`` for ours),
and the two arms alternate, so a machine that slows down or speeds up affects both alike; medians are reported,
and the median of the per-seed time ratios. On the CPU a seed gives both arms the same random vectors (ours are
drawn parameter by parameter, as PyHessian draws its own), so the runs pair up: the same number of steps and
samples, the same trace estimates, the same Lanczos starting vectors; the eigenvalues differ only in that
PyHessian returns the estimate before its last step and ours the last one. The number of steps varies a lot
from seed to seed, so the time per Hessian-vector product (a fixed number of steps) is reported too.

If PyHessian is not installed or fails on the installed torch, the script says so and compares against
:class:`PyHessianMethod`, a faithful re-implementation of its method (same steps, same stopping rules);
``--reimplemented`` compares against it in any case.

Run: ``.venv/bin/python benchmarks/bench_hessian.py`` (``--quick`` for a smoke run). Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import traceback
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import emergence_lib as el
from emergence_lib.probes.hessian import hessian_density, hessian_eigenvalues, hessian_trace
from timing import MachineLoad, clocked, environment, record, save_figures, sgd_epoch


VALUE_TARGET = 0.01  # |ours - theirs| / |theirs| of the median top eigenvalue, at most
TIME_TARGET = 1.10  # ours / theirs, median of the per-seed time ratios of the top eigenvalue, at most
# Density: both arms run 100 Lanczos steps in float32 from the same vector, with full reorthogonalization, so each
# computes the tridiagonal matrix of a matrix within rounding of H (products of about 1e-6 relative error), and
# the Gauss nodes move by about that, amplified modestly over the steps. 1e-3 of the spectrum's range (and of a
# moment) leaves that room, and still catches a real difference in the method (another starting vector, a missing
# reorthogonalization, a stray normalization change the nodes by percents).
DENSITY_TARGET = 1e-3
DENSITY_STEPS = 100  # PyHessian's default iter, with its default n_v = 1 run

PRODUCTS = [0]
"""Hessian-vector products the reference has computed (PyHessian does not report its steps)."""


def counted(product: Callable) -> Callable:
    """``product`` that also counts its calls in :data:`PRODUCTS` (the cost of counting is one addition)."""

    def wrapper(*args, **kwargs):
        PRODUCTS[0] += 1
        return product(*args, **kwargs)

    return wrapper


class PyHessianMethod:
    """PyHessian's ``hessian`` class for one batch (``eigenvalues``, ``trace``, ``density``), re-implemented.

    Used only when PyHessian itself cannot run: the loss is evaluated once in eval mode and its gradient kept
    with ``create_graph=True``; products by ``torch.autograd.grad`` on that graph; power iteration from
    ``torch.randn`` with re-orthonormalization each step; Rademacher vectors from ``torch.randint_like``; Lanczos
    with full reorthogonalization, its tridiagonal matrix decomposed by ``torch.linalg.eigh`` (PyHessian's
    ``torch.eig`` is gone from torch).
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.model = model.eval()
        x, y = data
        criterion(model(x), y).backward(create_graph=True)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.grads = [0.0 if p.grad is None else p.grad + 0.0 for p in self.params]

    @staticmethod
    def _dot(xs: list[torch.Tensor], ys: list[torch.Tensor]) -> torch.Tensor:
        return sum(torch.sum(a * b) for a, b in zip(xs, ys))

    def _normalized(self, v: list[torch.Tensor]) -> list[torch.Tensor]:
        s = self._dot(v, v) ** 0.5
        return [vi / (s.cpu().item() + 1e-6) for vi in v]

    def _hv(self, v: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        PRODUCTS[0] += 1
        return torch.autograd.grad(self.grads, self.params, grad_outputs=v, only_inputs=True, retain_graph=True)

    def eigenvalues(self, maxIter: int = 100, tol: float = 1e-3, top_n: int = 1):  # noqa: N803 (PyHessian's names)
        eigenvalues: list[float] = []
        eigenvectors: list[list[torch.Tensor]] = []
        for _ in range(top_n):
            eigenvalue = None
            v = self._normalized([torch.randn(p.size()) for p in self.params])
            for _ in range(maxIter):
                for u in eigenvectors:  # orthnormal(v, eigenvectors)
                    v = [vi - self._dot(v, u) * ui for vi, ui in zip(v, u)]
                v = self._normalized(v)
                self.model.zero_grad()
                hv = self._hv(v)
                tmp = self._dot(hv, v).cpu().item()
                v = self._normalized(list(hv))
                if eigenvalue is not None and abs(eigenvalue - tmp) / (abs(eigenvalue) + 1e-6) < tol:
                    break
                eigenvalue = tmp
            eigenvalues.append(eigenvalue)
            eigenvectors.append(v)
        return eigenvalues, eigenvectors

    def trace(self, maxIter: int = 100, tol: float = 1e-3) -> list[float]:  # noqa: N803
        trace_vhv: list[float] = []
        trace = 0.0
        for _ in range(maxIter):
            self.model.zero_grad()
            v = [torch.randint_like(p, high=2) for p in self.params]
            for vi in v:
                vi[vi == 0] = -1
            trace_vhv.append(self._dot(self._hv(v), v).cpu().item())
            if abs(np.mean(trace_vhv) - trace) / (trace + 1e-6) < tol:
                return trace_vhv
            trace = np.mean(trace_vhv)
        return trace_vhv

    def density(self, iter: int = 100, n_v: int = 1):  # noqa: A002 (PyHessian's names)
        eigen_list_full, weight_list_full = [], []
        for _ in range(n_v):
            v = [torch.randint_like(p, high=2) for p in self.params]
            for vi in v:
                vi[vi == 0] = -1
            v = self._normalized(v)
            v_list, alpha_list, beta_list = [v], [], []
            w = None
            for i in range(iter):
                self.model.zero_grad()
                if i > 0:
                    beta = self._dot(w, w) ** 0.5
                    beta_list.append(beta.cpu().item())
                    if beta_list[-1] == 0.0:  # PyHessian's restart from a new vector
                        w = [torch.randn(p.size()) for p in self.params]
                    for u in v_list:  # orthnormal(w, v_list)
                        w = [wi - self._dot(w, u) * ui for wi, ui in zip(w, u)]
                    v = self._normalized(w)
                    v_list.append(v)
                w_prime = self._hv(v)
                alpha = self._dot(w_prime, v)
                alpha_list.append(alpha.cpu().item())
                w = [wp - alpha * vi for wp, vi in zip(w_prime, v)]
                if i > 0:
                    w = [wi - beta * ui for wi, ui in zip(w, v_list[-2])]
            t = torch.zeros(iter, iter)
            for i in range(len(alpha_list)):
                t[i, i] = alpha_list[i]
                if i < len(alpha_list) - 1:
                    t[i + 1, i] = t[i, i + 1] = beta_list[i]
            values, vectors = torch.linalg.eigh(t)  # PyHessian's torch.eig, for a symmetric matrix
            eigen_list_full.append(values.tolist())
            weight_list_full.append((vectors[0, :] ** 2).tolist())
        return eigen_list_full, weight_list_full


def restore_torch_eig() -> bool:
    """Put back ``torch.eig``, which PyHessian's ``density`` calls and torch removed in 2.0; True if it was needed.

    The stand-in serves the only call PyHessian makes, ``torch.eig(T, eigenvectors=True)`` on the symmetric
    tridiagonal Lanczos matrix: ``torch.linalg.eigh`` gives the same eigenpairs (in increasing order; PyHessian
    pairs each eigenvalue with its eigenvector, so the order does not matter), in the old layout of the
    eigenvalues (a column of real parts and one of imaginary parts, zero).
    """
    try:
        torch.eig(torch.eye(2), eigenvectors=True)
        return False
    except (AttributeError, RuntimeError):
        pass

    def eig(matrix: torch.Tensor, eigenvectors: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        values, vectors = torch.linalg.eigh(matrix)
        return torch.stack([values, torch.zeros_like(values)], dim=1), vectors

    torch.eig = eig
    return True


def reference_class(
    model: nn.Module, criterion: nn.Module, data: tuple[torch.Tensor, torch.Tensor], reimplemented: bool = False
):
    """``pyhessian.hessian`` when it imports and runs on this torch, else :class:`PyHessianMethod`; and a label."""
    if reimplemented:
        return PyHessianMethod, "PyHessian method (re-implemented)"
    try:
        from pyhessian import hessian

        # The submodule, not the class `pyhessian.hessian` that the package's __init__ puts in its place.
        module = importlib.import_module("pyhessian.hessian")
        module.hessian_vector_product = counted(module.hessian_vector_product)
        probe = hessian(model, criterion, data=data, cuda=False)
        probe.eigenvalues(maxIter=2, top_n=1)
        probe.trace(maxIter=2)
        probe.density(iter=2, n_v=1)
        return (lambda m, c, d: hessian(m, c, data=d, cuda=False)), "PyHessian"
    except Exception:  # noqa: BLE001 (any failure means: fall back, and say why)
        print("PyHessian is unavailable or fails on this torch; comparing against PyHessianMethod instead:")
        print("    " + traceback.format_exc().strip().splitlines()[-1])
        return PyHessianMethod, "PyHessian method (re-implemented)"
    finally:
        model.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 11 (seconds)")
    parser.add_argument("--repeats", type=int, default=None, help="seeds (timed runs) per arm (default 11; quick: 3)")
    parser.add_argument("--samples", type=int, default=1000, help="batch size for the Hessian (default 1000)")
    parser.add_argument("--reimplemented", action="store_true", help="compare with PyHessianMethod, not PyHessian")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 11)
    # PyHessian calls loss.backward(create_graph=True), and torch warns about the .grad reference cycle each
    # time; the benchmark clears .grad before every use, so the warning is noise here.
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")

    load = MachineLoad()
    data = el.load_dataset("mnist_subset")
    torch.manual_seed(0)
    model = el.build_model("mlp", data.input_shape, data.num_classes, hidden=[256, 128])
    sgd_epoch(model, data.x_train, data.y_train)  # one plain epoch: the Hessian of a network in training
    model.zero_grad(set_to_none=True)
    model.eval()
    criterion = nn.CrossEntropyLoss()
    batch = (data.x_train[: args.samples], data.y_train[: args.samples])
    n_params = sum(p.numel() for p in model.parameters())
    print(environment())
    print(f"{data.source}; MLP 784-256-128-10 ({n_params:,} parameters) after one epoch; batch of {len(batch[0])}")
    shimmed = restore_torch_eig()
    make, label = reference_class(model, criterion, batch, args.reimplemented)
    print(f"reference: {label}; {repeats} alternating seeds per arm, medians")
    if shimmed:
        print("torch.eig (removed in torch 2.0) stood in by torch.linalg.eigh for PyHessian's density()")

    def theirs_eigenvalue(seed: int) -> tuple[float, int]:
        model.zero_grad(set_to_none=True)  # PyHessian accumulates into .grad: start from none, as on first use
        torch.manual_seed(seed)
        before = PRODUCTS[0]
        values, _ = make(model, criterion, batch).eigenvalues(top_n=1)
        return values[0], PRODUCTS[0] - before

    def theirs_trace(seed: int) -> list[float]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        return make(model, criterion, batch).trace()

    # Warm-up of both arms (allocator, threads), untimed.
    theirs_eigenvalue(100), hessian_eigenvalues(model, criterion, batch, seed=100)
    theirs_trace(100), hessian_trace(model, criterion, batch, seed=100)

    t_ours, t_theirs, v_ours, v_theirs, steps, steps_theirs = [], [], [], [], [], []
    for seed in range(repeats):
        t, ours = clocked(lambda: hessian_eigenvalues(model, criterion, batch, k=1, seed=seed))
        t_ours.append(t)
        v_ours.append(ours.values[0])
        steps.append(ours.iterations[0])
        t, (value, n) = clocked(lambda: theirs_eigenvalue(seed))
        t_theirs.append(t)
        v_theirs.append(value)
        steps_theirs.append(n)
    model.zero_grad(set_to_none=True)
    tight = hessian_eigenvalues(model, criterion, batch, k=1, iters=1000, tol=1e-7)

    # Time per product: a fixed number of steps (a tolerance that is never met), so the seed does not matter.
    fixed = 20

    def theirs_fixed() -> None:
        model.zero_grad(set_to_none=True)
        make(model, criterion, batch).eigenvalues(maxIter=fixed, tol=1e-300)

    def ours_fixed() -> None:
        hessian_eigenvalues(model, criterion, batch, iters=fixed, tol=1e-300)

    t_step_ours = statistics.median(clocked(ours_fixed)[0] for _ in range(3)) / fixed
    t_step_theirs = statistics.median(clocked(theirs_fixed)[0] for _ in range(3)) / fixed
    model.zero_grad(set_to_none=True)

    m_ours, m_theirs = statistics.median(v_ours), statistics.median(v_theirs)
    time_ours, time_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    print()
    print("1. top eigenvalue (k=1, tol 1e-3, at most 100 steps)")
    print(f"{'':<22} {'median value':>13} {'median s':>9} {'s / product':>12} {'median steps':>13}")
    print(f"{'emergence_lib':<22} {m_ours:>13.6f} {time_ours:>9.3f} {t_step_ours:>12.4f} "
          f"{statistics.median(steps):>13.0f}")  # fmt: skip
    print(f"{label[:22]:<22} {m_theirs:>13.6f} {time_theirs:>9.3f} {t_step_theirs:>12.4f} "
          f"{statistics.median(steps_theirs):>13.0f}")  # fmt: skip
    print(f"{'tight reference':<22} {tight.values[0]:>13.6f}   (tol 1e-7: {tight.iterations[0]} steps, "
          f"converged {tight.converged[0]})")  # fmt: skip
    rel = abs(m_ours - m_theirs) / abs(m_theirs)
    note = record("top eigenvalue: relative difference from PyHessian", rel, "<=", VALUE_TARGET, scope=label)
    print(f"value: ours vs {label}: {rel:.3%} ({note}); vs tight "
          f"reference: ours {abs(m_ours - tight.values[0]) / abs(tight.values[0]):.3%}, "
          f"theirs {abs(m_theirs - tight.values[0]) / abs(tight.values[0]):.3%}")  # fmt: skip
    # The target is judged on the per-seed ratios: a seed's two runs take the same steps and run back to back,
    # so the ratio is robust to the load of a shared machine drifting during the benchmark.
    ratio, step_ratio = time_ours / time_theirs, t_step_ours / t_step_theirs
    paired = statistics.median(a / b for a, b in zip(t_ours, t_theirs))
    note = record("top eigenvalue: time ours / PyHessian", paired, "<=", TIME_TARGET, scope=label)
    print(f"time: ours / theirs, median of per-seed ratios = {paired:.3f} ({note}); "
          f"ratio of medians {ratio:.3f}; per product {step_ratio:.3f}")
    print(f"per-seed values (steps), ours:   {' '.join(f'{v:.5f} ({n})' for v, n in zip(v_ours, steps))}")
    print(f"per-seed values (steps), theirs: {' '.join(f'{v:.5f} ({n})' for v, n in zip(v_theirs, steps_theirs))}")

    t_ours, t_theirs, e_ours, e_theirs, n_ours, n_theirs, se_theirs = [], [], [], [], [], [], []
    for seed in range(repeats):
        t, ours = clocked(lambda: hessian_trace(model, criterion, batch, seed=seed))
        t_ours.append(t)
        e_ours.append(ours.trace)
        n_ours.append(ours.samples)
        t, samples = clocked(lambda: theirs_trace(seed))
        t_theirs.append(t)
        e_theirs.append(float(np.mean(samples)))
        n_theirs.append(len(samples))
        se_theirs.append(float(np.std(samples, ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else np.nan)
    model.zero_grad(set_to_none=True)
    long = hessian_trace(model, criterion, batch, samples=1000, tol=1e-300, seed=1000)

    m_ours, m_theirs = statistics.median(e_ours), statistics.median(e_theirs)
    time_ours, time_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    spread = statistics.median(se_theirs)
    print()
    print("2. trace (Hutchinson, tol 1e-3, at most 100 samples)")
    print(f"{'':<22} {'median value':>13} {'median s':>9} {'median samples':>15} {'s / sample':>11}")
    print(f"{'emergence_lib':<22} {m_ours:>13.4f} {time_ours:>9.3f} {statistics.median(n_ours):>15.0f} "
          f"{statistics.median(t / n for t, n in zip(t_ours, n_ours)):>11.4f}")  # fmt: skip
    print(f"{label[:22]:<22} {m_theirs:>13.4f} {time_theirs:>9.3f} {statistics.median(n_theirs):>15.0f} "
          f"{statistics.median(t / n for t, n in zip(t_theirs, n_theirs)):>11.4f}")  # fmt: skip
    print(f"{'1,000 samples (ours)':<22} {long.trace:>13.4f}   (standard error {long.std_error:.4f})")
    paired = statistics.median(a / b for a, b in zip(t_ours, t_theirs))
    print(f"difference of medians: {m_ours - m_theirs:+.4f} = {(m_ours - m_theirs) / spread:+.2f} x PyHessian's "
          f"median standard error ({spread:.4f}); largest per-seed difference "
          f"{max(abs(a - b) for a, b in zip(e_ours, e_theirs)):.2e}")  # fmt: skip
    print(f"time: ours / theirs, median of per-seed ratios = {paired:.3f}; ratio of medians "
          f"{time_ours / time_theirs:.3f}")  # fmt: skip
    print(f"1,000-sample estimate vs PyHessian's median: {(long.trace - m_theirs) / spread:+.2f} x its standard error; "
          f"its early stopping leaves a standard error of {spread / abs(m_theirs):.1%} of the trace")  # fmt: skip
    print(f"per-seed values, ours:   {' '.join(f'{v:.3f}' for v in e_ours)}")
    print(f"per-seed values, theirs: {' '.join(f'{v:.3f}' for v in e_theirs)}")
    record("trace: difference in PyHessian's standard errors", (m_ours - m_theirs) / spread, scope=label)
    record("trace: time ours / PyHessian", paired, scope=label)

    def theirs_density(seed: int) -> tuple[list[float], list[float]]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        nodes, weights = make(model, criterion, batch).density(iter=DENSITY_STEPS, n_v=1)
        return [float(x) for x in nodes[0]], [float(w) for w in weights[0]]

    def ours_density(seed: int) -> tuple[list[float], list[float]]:
        result = hessian_density(model, criterion, batch, iters=DENSITY_STEPS, runs=1, seed=seed)
        return result.nodes[0], result.weights[0]

    def moment(nodes: list[float], weights: list[float], k: int) -> float:
        return float(np.sum(np.asarray(weights) * np.asarray(nodes) ** k))

    t_ours, t_theirs, node_gaps, moment_gaps, edges_ours, edges_theirs, m1_ours = [], [], [], [], [], [], []
    for seed in range(repeats):
        t, (nodes, weights) = clocked(lambda: ours_density(seed))
        t_ours.append(t)
        t, (their_nodes, their_weights) = clocked(lambda: theirs_density(seed))
        t_theirs.append(t)
        ours_sorted, theirs_sorted = np.sort(nodes), np.sort(their_nodes)
        span = theirs_sorted[-1] - theirs_sorted[0]
        node_gaps.append(float(np.max(np.abs(ours_sorted - theirs_sorted))) / span)
        moment_gaps.append(max(
            abs(moment(nodes, weights, k) - moment(their_nodes, their_weights, k))
            / abs(moment(their_nodes, their_weights, k)) for k in (1, 2)
        ))  # fmt: skip
        edges_ours.append((ours_sorted[0], ours_sorted[-1]))
        edges_theirs.append((theirs_sorted[0], theirs_sorted[-1]))
        m1_ours.append(moment(nodes, weights, 1))
    model.zero_grad(set_to_none=True)

    time_ours, time_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    paired = statistics.median(a / b for a, b in zip(t_ours, t_theirs))
    d = n_params
    print()
    print(f"3. density (stochastic Lanczos quadrature, {DENSITY_STEPS} steps, 1 run per seed)")
    print(f"{'':<22} {'median s':>9} {'s / step':>9} {'median smallest node':>21} {'median largest node':>20}")
    for name, times, edges in (("emergence_lib", t_ours, edges_ours), (label[:22], t_theirs, edges_theirs)):
        print(f"{name:<22} {statistics.median(times):>9.3f} {statistics.median(times) / DENSITY_STEPS:>9.4f} "
              f"{statistics.median(e[0] for e in edges):>21.5f} {statistics.median(e[1] for e in edges):>20.5f}")
    node_gap, moment_gap = max(node_gaps), max(moment_gaps)
    note = record("density: largest node difference / spectrum range", node_gap, "<=", DENSITY_TARGET, scope=label)
    print(f"nodes: largest |ours - theirs| over seeds, relative to the range of PyHessian's nodes = {node_gap:.2e} "
          f"({note})")  # fmt: skip
    note = record("density: largest relative difference of moments 1, 2", moment_gap, "<=", DENSITY_TARGET,
                  scope=label)  # fmt: skip
    print(f"moments k = 1, 2: largest relative difference over seeds = {moment_gap:.2e} ({note}); "
          f"trace d * moment 1, median over seeds {d * statistics.median(m1_ours):.4f}")
    note = record("density: time ours / PyHessian", paired, "<=", TIME_TARGET, scope=label)
    print(f"time: ours / theirs, median of per-seed ratios = {paired:.3f} ({note}); ratio of medians "
          f"{time_ours / time_theirs:.3f}")  # fmt: skip
    print(load.report())
    save_figures(load, quick=args.quick)


if __name__ == "__main__":
    main()
