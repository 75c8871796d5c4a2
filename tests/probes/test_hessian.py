"""Hessian-vector products, top eigenvalues (whole and per block), trace and spectral density against the exact
Hessian of tiny models (float64); one Curvature serves them all with the functions' results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import emergence_lib as el
from emergence_lib.probes.hessian import (
    Curvature, Density, Eigenvalues, Trace, hessian_density, hessian_eigenvalues, hessian_trace, hvp,
)  # fmt: skip

LOSS = F.cross_entropy


def tiny_mlp() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """MLP 6-5-4-3 (74 parameters) on 10 random samples: its Hessian has well separated top eigenvalues."""
    torch.manual_seed(0)
    model = el.mlp((6, 5, 4, 3)).double()
    return model, (torch.randn(10, 6, dtype=torch.float64), torch.randint(0, 3, (10,)))


def pruned_mlp() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """The tiny MLP with half of its weights pruned at random (weight_orig / weight_mask)."""
    model, batch = tiny_mlp()
    el.prune.at_random(model, 0.5, seed=1)
    return model, batch


def tiny_cnn() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """Conv-BN-ReLU-Dropout-pool-Linear on 1x4x4 images, in train mode with non-trivial BN running statistics."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Dropout(0.3), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8, 3),
    ).double()  # fmt: skip
    with torch.no_grad():  # move the running statistics away from their (0, 1) defaults
        for _ in range(3):
            model(3 * torch.randn(16, 1, 4, 4, dtype=torch.float64) + 1)
    return model, (torch.randn(6, 1, 4, 4, dtype=torch.float64), torch.randint(0, 3, (6,)))


CASES = {"mlp": tiny_mlp, "pruned": pruned_mlp, "cnn": tiny_cnn}


def exact_hessian(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], order: list[str] | None = None
) -> torch.Tensor:
    """The full Hessian over the flattened trainable parameters, in eval mode, by torch.autograd.functional.

    Parameters in ``model.parameters()`` order, or in the order of the names ``order``.
    """
    modes = [(m, m.training) for m in model.modules()]  # (a pruned model cannot be deep-copied)
    model.eval()
    named = [(name, p.detach()) for name, p in model.named_parameters() if p.requires_grad]
    if order is not None:
        named = sorted(named, key=lambda item: order.index(item[0]))
    sizes = [p.numel() for _, p in named]
    x, y = batch

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params = {name: part.view_as(p) for (name, p), part in zip(named, flat.split(sizes))}
        return LOSS(functional_call(model, params, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss, torch.cat([p.reshape(-1) for _, p in named]))
    for m, training in modes:
        m.training = training
    return hessian


def effective_hessian(pruned: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Exact Hessian with respect to the effective weights of a pruned model, pruned positions included.

    Rows in the pruned model's parameter order (``torch.nn.utils.prune`` moves ``weight_orig`` after ``bias``).
    """
    order = [name.removesuffix("_orig") for name, _ in pruned.named_parameters()]
    return exact_hessian(effective_mlp(pruned), batch, order)


def effective_mlp(pruned: nn.Module) -> nn.Module:
    """An unpruned copy of the pruned tiny MLP whose weights are the effective ``weight_orig * weight_mask``."""
    state = pruned.state_dict()
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[: -len("_orig")]
        state[base] = state.pop(key) * state.pop(base + "_mask")
    model = el.mlp((6, 5, 4, 3)).double()
    model.load_state_dict(state)
    return model


def flat_mask(model: nn.Module) -> torch.Tensor:
    """1 for every trainable coordinate, 0 for pruned ones, in model.parameters() order."""
    parts = []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            mask = getattr(module, name[: -len("_orig")] + "_mask", None) if name.endswith("_orig") else None
            parts.append((torch.ones_like(p) if mask is None else mask).reshape(-1))
    return torch.cat(parts)


def largest_magnitude(hessian: torch.Tensor, k: int) -> torch.Tensor:
    values = torch.linalg.eigvalsh(hessian)
    return values[values.abs().argsort(descending=True)][:k]


@pytest.mark.parametrize("case", CASES)
def test_hvp_equals_exact_hessian_times_vector(case: str) -> None:
    model, batch = CASES[case]()
    hessian = exact_hessian(model, batch)
    gen = torch.Generator().manual_seed(3)
    vectors = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in model.parameters()]
    product = torch.cat([h.reshape(-1) for h in hvp(model, LOSS, batch, vectors)])
    expected = hessian @ torch.cat([v.reshape(-1) for v in vectors])
    torch.testing.assert_close(product, expected, rtol=1e-10, atol=1e-12)
    mask = flat_mask(model)
    assert torch.all(product[mask == 0] == 0)


def test_pruned_hessian_is_the_effective_hessian_restricted_to_unpruned_weights() -> None:
    model, batch = pruned_mlp()
    mask = flat_mask(model).bool()
    assert 0 < int((~mask).sum()) < mask.numel()
    h_eff = effective_hessian(model, batch)
    h_pruned = exact_hessian(model, batch)
    restricted = h_eff * mask[:, None] * mask[None, :]
    torch.testing.assert_close(h_pruned, restricted, rtol=1e-10, atol=1e-12)
    # The curvature in the direction of a pruned weight is not zero, so leaving it out matters.
    assert h_eff.diagonal()[~mask].abs().max() > 1e-3


@pytest.mark.parametrize("case", ["mlp", "pruned", "cnn"])
@pytest.mark.parametrize("k", [1, 3])
def test_top_eigenvalues_agree_with_eigh(case: str, k: int) -> None:
    model, batch = CASES[case]()
    hessian = exact_hessian(model, batch)
    result = hessian_eigenvalues(model, LOSS, batch, k=k, iters=5000, tol=1e-12)
    assert isinstance(result, Eigenvalues)
    assert len(result.values) == len(result.iterations) == len(result.converged) == len(result.vectors) == k
    assert all(result.converged) and all(1 < n <= 5000 for n in result.iterations)
    expected = largest_magnitude(hessian, k)  # power iteration finds the largest in magnitude, signed
    torch.testing.assert_close(torch.tensor(result.values, dtype=torch.float64), expected, rtol=1e-6, atol=1e-9)
    # The eigenvectors: unit, orthogonal, H v = lambda v.
    flat = torch.stack([torch.cat([t.reshape(-1) for t in v]) for v in result.vectors])
    torch.testing.assert_close(flat @ flat.T, torch.eye(k, dtype=torch.float64), rtol=0, atol=1e-6)
    for value, v in zip(result.values, flat):
        assert torch.linalg.vector_norm(hessian @ v - value * v) < 1e-4 * abs(value)


def test_k1_is_the_first_of_k3() -> None:
    model, batch = tiny_mlp()
    one = hessian_eigenvalues(model, LOSS, batch, k=1, iters=5000, tol=1e-12)
    three = hessian_eigenvalues(model, LOSS, batch, k=3, iters=5000, tol=1e-12)
    assert one.values[0] == pytest.approx(three.values[0], rel=1e-9)


def test_a_dominant_negative_eigenvalue_comes_out_negative() -> None:
    """Loss -|Xw|^2 has Hessian -2 X^T X: power iteration returns its eigenvalues with their (negative) sign."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False).double()
    x = torch.randn(8, 3, dtype=torch.float64)

    def concave(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return -(out**2).sum()

    result = hessian_eigenvalues(model, concave, (x, torch.zeros(8)), k=2, iters=5000, tol=1e-12)
    expected = largest_magnitude(-2 * x.T @ x, 2)
    assert expected.max() < 0
    torch.testing.assert_close(torch.tensor(result.values, dtype=torch.float64), expected, rtol=1e-6, atol=0)


def test_default_tolerance_gives_a_close_eigenvalue() -> None:
    model, batch = tiny_mlp()
    top = largest_magnitude(exact_hessian(model, batch), 1).item()
    result = hessian_eigenvalues(model, LOSS, batch)  # PyHessian's defaults: 100 steps, tol 1e-3
    assert result.converged == [True]
    assert result.values[0] == pytest.approx(top, rel=1e-2)


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_trace_agrees_with_exact_trace_within_standard_errors(case: str) -> None:
    model, batch = CASES[case]()
    exact = exact_hessian(model, batch).trace().item()
    result = hessian_trace(model, LOSS, batch, samples=2000, tol=1e-12)
    assert isinstance(result, Trace)
    assert result.samples == 2000
    assert 0 < result.std_error < 0.1 * abs(exact)
    assert abs(result.trace - exact) < 4 * result.std_error


def test_trace_of_pruned_model_excludes_pruned_coordinates() -> None:
    model, (x, y) = pruned_mlp()
    batch = (3 * x, y)  # larger activations: more curvature along the pruned weights, so the two traces differ
    mask = flat_mask(model).bool()
    h_eff = effective_hessian(model, batch)
    restricted, full = h_eff.diagonal()[mask].sum().item(), h_eff.trace().item()
    assert exact_hessian(model, batch).trace().item() == pytest.approx(restricted, rel=1e-10)
    result = hessian_trace(model, LOSS, batch, samples=3000, tol=1e-12)
    assert abs(result.trace - restricted) < 4 * result.std_error
    assert abs(full - restricted) > 5 * result.std_error  # the estimate tells the two apart


def test_trace_stops_early_and_reports_samples() -> None:
    model, batch = tiny_mlp()
    result = hessian_trace(model, LOSS, batch, samples=1000, tol=0.05)
    assert 2 <= result.samples < 1000
    one = hessian_trace(model, LOSS, batch, samples=1)
    assert one.samples == 1 and math.isnan(one.std_error)


def test_eigenvalues_report_non_convergence() -> None:
    model, batch = tiny_mlp()
    result = hessian_eigenvalues(model, LOSS, batch, k=2, iters=1)
    assert result.iterations == [1, 1] and result.converged == [False, False]


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {name: t.detach().clone() for name, t in model.state_dict(keep_vars=True).items()},
        "params": [p.detach().clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "attributes": [m.__dict__.get("weight") for m in model.modules()],
    }


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_model_left_exactly_as_it_was(case: str, mode: str) -> None:
    model, batch = CASES[case]()
    model.train(mode == "train")
    model[1].training = not model[1].training  # a mixed mode, to be restored module by module
    before = snapshot(model)
    vectors = [torch.ones_like(p) for p in model.parameters()]
    hvp(model, LOSS, batch, vectors)
    hessian_eigenvalues(model, LOSS, batch, k=2, iters=20)
    hessian_trace(model, LOSS, batch, samples=5)
    hessian_density(model, LOSS, batch, iters=5, runs=2)
    with Curvature(model, LOSS, batch) as curvature:
        curvature.block_eigenvalues(iters=5)
    after = snapshot(model)
    assert before["state"].keys() == after["state"].keys()
    for name, tensor in before["state"].items():
        assert torch.equal(tensor, after["state"][name]), name
    assert all(torch.equal(a, b) for a, b in zip(before["params"], after["params"]))
    assert before["modes"] == after["modes"]
    assert all(a is b for a, b in zip(before["attributes"], after["attributes"]))
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_is_used() -> None:
    """With BatchNorm and dropout in train mode the loss would differ; the products are those of eval mode."""
    model, batch = tiny_cnn()
    model.train()
    gen = torch.Generator().manual_seed(0)
    vectors = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in model.parameters()]
    product = torch.cat([h.reshape(-1) for h in hvp(model, LOSS, batch, vectors)])
    expected = exact_hessian(model, batch) @ torch.cat([v.reshape(-1) for v in vectors])
    torch.testing.assert_close(product, expected, rtol=1e-10, atol=1e-12)


def test_seeded_results_are_deterministic() -> None:
    model, batch = tiny_mlp()
    assert hessian_eigenvalues(model, LOSS, batch, k=2, seed=5) == hessian_eigenvalues(model, LOSS, batch, k=2, seed=5)
    first = hessian_trace(model, LOSS, batch, samples=50, tol=1e-12, seed=5)
    assert first == hessian_trace(model, LOSS, batch, samples=50, tol=1e-12, seed=5)
    assert first != hessian_trace(model, LOSS, batch, samples=50, tol=1e-12, seed=6)


def test_works_in_float32_and_under_no_grad() -> None:
    torch.manual_seed(0)
    model = el.mlp((6, 5, 4, 3))
    batch = (torch.randn(10, 6), torch.randint(0, 3, (10,)))
    reference = largest_magnitude(exact_hessian(model.double(), (batch[0].double(), batch[1])), 1).item()
    model.float()
    with torch.no_grad():
        result = hessian_eigenvalues(model, LOSS, batch, iters=1000, tol=1e-6)
        trace = hessian_trace(model, LOSS, batch, samples=10)
        density = hessian_density(model, LOSS, batch, iters=20)
    assert result.values[0] == pytest.approx(reference, rel=1e-3)
    assert math.isfinite(trace.trace)
    assert max(density.nodes[0]) == pytest.approx(reference, rel=1e-3)  # Lanczos finds the edges first
    assert math.fsum(density.weights[0]) == pytest.approx(1, abs=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_results() -> None:
    model, batch = tiny_cnn()
    cpu_values = hessian_eigenvalues(model, LOSS, batch, k=2, iters=500, tol=1e-10)
    cpu_trace = hessian_trace(model, LOSS, batch, samples=20, tol=1e-12)
    cpu_density = hessian_density(model, LOSS, batch, iters=10, runs=2)
    model.cuda()
    cuda_values = hessian_eigenvalues(model, LOSS, batch, k=2, iters=500, tol=1e-10)  # batch moved by the call
    cuda_trace = hessian_trace(model, LOSS, batch, samples=20, tol=1e-12)
    assert cuda_values.values == pytest.approx(cpu_values.values, rel=1e-6)
    assert cuda_trace.trace == pytest.approx(cpu_trace.trace, rel=1e-8)
    assert all(t.device.type == "cuda" for t in cuda_values.vectors[0])
    cuda_density = hessian_density(model, LOSS, batch, iters=10, runs=2)
    for ours, theirs in zip(cuda_density.nodes, cpu_density.nodes):
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, b: hessian_eigenvalues(m, LOSS, b, k=0), "k must be an integer >= 1"),
        (lambda m, b: hessian_eigenvalues(m, LOSS, b, k=1.5), "k must be an integer >= 1"),
        (lambda m, b: hessian_eigenvalues(m, LOSS, b, k=75), "k must be at most"),
        (lambda m, b: hessian_eigenvalues(m, LOSS, b, iters=0), "iters must be an integer >= 1"),
        (lambda m, b: hessian_eigenvalues(m, LOSS, b, tol=0), "tol must be a positive number"),
        (lambda m, b: hessian_eigenvalues(m, LOSS, b, seed=-1), "seed must be an integer >= 0"),
        (lambda m, b: hessian_trace(m, LOSS, b, samples=0), "samples must be an integer >= 1"),
        (lambda m, b: hessian_trace(m, LOSS, b, tol=-1e-3), "tol must be a positive number"),
        (lambda m, b: hessian_trace(m, LOSS, b, tol=float("nan")), "tol must be a positive number"),
        (lambda m, b: hessian_trace(m, LOSS, b[0]), "batch must be a pair"),
        (lambda m, b: hessian_trace(m, lambda out, y: F.cross_entropy(out, y, reduction="none"), b), "scalar"),
        (lambda m, b: hvp(m, LOSS, b, [torch.ones(3)]), "one tensor per trainable parameter"),
        (lambda m, b: hessian_density(m, LOSS, b, iters=0), "iters must be an integer >= 1"),
        (lambda m, b: hessian_density(m, LOSS, b, iters=75), "iters must be at most .* coordinates, 74; got 75"),
        (lambda m, b: hessian_density(m, LOSS, b, runs=0), "runs must be an integer >= 1"),
        (lambda m, b: hessian_density(m, LOSS, b, seed=-1), "seed must be an integer >= 0"),
        (lambda m, b: Curvature(m, LOSS, b).block_eigenvalues(k=16), "block '5' has 15; got 16"),
        (lambda m, b: Curvature(m, LOSS, b).block_eigenvalues(tol=0), "tol must be a positive number"),
        (lambda m, b: Curvature(m, LOSS, b).over_seeds("spectrum", [0]), "estimate='spectrum' is not supported"),
        (lambda m, b: Curvature(m, LOSS, b).over_seeds("trace", []), "seeds must be a non-empty sequence"),
        (lambda m, b: Curvature(m, LOSS, b).over_seeds("trace", [0, -1]), "seeds must be an integer >= 0"),
        (lambda m, b: Curvature(m, LOSS, b).over_seeds("trace", [0], seed=1), "seed is given by seeds"),
        (lambda m, b: Curvature(m, LOSS, b).over_seeds("density", [0], moments=[-1]), "moments must be an integer"),
        (lambda m, b: hessian_density(m, LOSS, b, iters=3).moment(-1), "k must be an integer >= 0"),
        (lambda m, b: hessian_density(m, LOSS, b, iters=3).smoothed(width=0), "width must be a positive number"),
        (lambda m, b: hessian_density(m, LOSS, b, iters=3).smoothed(grid=[[0.0]]), "grid must be a 1-D sequence"),
        (lambda m, b: hessian_density(m, LOSS, b, iters=3).smoothed([0.0], normalize=True), "at least 2"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message: str) -> None:
    model, batch = tiny_mlp()
    with pytest.raises(ValueError, match=message):
        call(model, batch)
    assert all(m.training for m in model.modules())  # restored even when the call fails


def test_pruned_k_is_limited_to_unpruned_coordinates() -> None:
    model, batch = pruned_mlp()
    free = int(flat_mask(model).sum())
    with pytest.raises(ValueError, match=f"at most the number of unpruned trainable coordinates, {free}"):
        hessian_eigenvalues(model, LOSS, batch, k=free + 1)


# One Curvature for all: the functions' results, the model restored, the errors.


@pytest.mark.parametrize("case", CASES)
def test_one_curvature_gives_the_functions_results(case: str) -> None:
    model, batch = CASES[case]()
    gen = torch.Generator().manual_seed(3)
    vectors = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in model.parameters()]
    with Curvature(model, LOSS, batch) as curvature:
        trace = curvature.trace(samples=10, tol=1e-12, seed=4)  # before the eigenvalues: the order does not matter
        top = curvature.eigenvalues(k=2, iters=30, seed=3)
        product = curvature.hvp(vectors)
        again = curvature.eigenvalues(k=2, iters=30, seed=3)  # each call seeds its own vectors
    assert top == hessian_eigenvalues(model, LOSS, batch, k=2, iters=30, seed=3) == again
    assert all(torch.equal(a, b) for v, w in zip(top.vectors, again.vectors) for a, b in zip(v, w))
    assert trace == hessian_trace(model, LOSS, batch, samples=10, tol=1e-12, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(product, hvp(model, LOSS, batch, vectors)))


def test_curvature_reports_its_loss_and_dimension() -> None:
    model, batch = pruned_mlp()
    curvature = Curvature(model, LOSS, batch)
    assert curvature.dimension == int(flat_mask(model).sum()) < sum(p.numel() for p in model.parameters())
    assert curvature.params == list(model.parameters())
    with torch.no_grad():
        assert curvature.loss == pytest.approx(LOSS(model.eval()(batch[0]), batch[1]).item(), rel=1e-12)
    assert "dimension=" in repr(curvature) and "open" in repr(curvature)


@pytest.mark.parametrize("case", CASES)
def test_the_model_is_restored_once_the_curvature_is_built_and_after_the_block(case: str) -> None:
    model, batch = CASES[case]()
    model.train()
    model[1].training = False  # a mixed mode, to be restored module by module
    before = snapshot(model)

    def unchanged() -> bool:
        after = snapshot(model)
        return (
            all(torch.equal(t, after["state"][name]) for name, t in before["state"].items())
            and before["modes"] == after["modes"]
            and all(a is b for a, b in zip(before["attributes"], after["attributes"]))
            and all(p.grad is None for p in model.parameters())
        )

    with Curvature(model, LOSS, batch) as curvature:
        assert unchanged()  # restored as soon as it is built, while the graph is still in use
        curvature.eigenvalues(k=1, iters=5)
        curvature.trace(samples=3)
        assert unchanged()
    assert unchanged()
    assert "closed" in repr(curvature)
    with pytest.raises(RuntimeError, match="closed"):
        curvature.trace(samples=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, b: Curvature(m, LOSS, b[0]), "batch must be a pair"),
        (lambda m, b: Curvature(m, lambda out, y: F.cross_entropy(out, y, reduction="none"), b), "scalar"),
        (lambda m, b: Curvature(m.requires_grad_(False), LOSS, b), "no trainable parameter"),
        (lambda m, b: Curvature(m, LOSS, b).eigenvalues(k=75), "k must be at most the number .* 74; got 75"),
        (lambda m, b: Curvature(m, LOSS, b).eigenvalues(iters=0), "iters must be an integer >= 1"),
        (lambda m, b: Curvature(m, LOSS, b).trace(samples=2.5), "samples must be an integer >= 1"),
        (lambda m, b: Curvature(m, LOSS, b).trace(tol=0), "tol must be a positive number"),
        (lambda m, b: Curvature(m, LOSS, b).hvp([torch.ones(3)]), "one tensor per trainable parameter"),
    ],
)
def test_curvature_bad_input_raises_clear_errors(call, message: str) -> None:
    model, batch = tiny_mlp()
    with pytest.raises(ValueError, match=message):
        call(model, batch)
    assert all(m.training for m in model.modules())  # restored even when building fails


# Spectral density by stochastic Lanczos quadrature.


def rademacher_starts(model: nn.Module, seed: int, runs: int) -> list[torch.Tensor]:
    """The flat starting vectors of density(seed=seed), rebuilt: signs drawn parameter by parameter, masked."""
    gen = torch.Generator().manual_seed(seed)
    mask = flat_mask(model)
    starts = []
    for _ in range(runs):
        parts = [torch.randint(0, 2, p.shape, generator=gen, dtype=p.dtype).reshape(-1) for p in model.parameters()]
        starts.append((2 * torch.cat(parts) - 1) * mask)
    return starts


def quadrature(nodes: list[float], weights: list[float], k: int) -> float:
    return math.fsum(w * x**k for x, w in zip(nodes, weights))


@pytest.mark.parametrize("case", CASES)
def test_density_quadrature_gives_the_moments_of_its_starting_vector(case: str) -> None:
    """Gauss quadrature with m nodes is exact for polynomials of degree < 2m: each run's nodes and weights give
    v . H^k v / v . v for its own starting vector v, k = 0 .. 2m - 1."""
    model, batch = CASES[case]()
    hessian = exact_hessian(model, batch)
    radius = torch.linalg.eigvalsh(hessian).abs().max().item()
    iters, runs = 6, 3
    result = hessian_density(model, LOSS, batch, iters=iters, runs=runs, seed=4)
    assert isinstance(result, Density) and result.runs == runs
    assert result.dimension == int(flat_mask(model).sum())
    for v, nodes, weights in zip(rademacher_starts(model, 4, runs), result.nodes, result.weights):
        assert len(nodes) == len(weights) == iters and nodes == sorted(nodes)
        assert min(weights) >= 0 and math.fsum(weights) == pytest.approx(1, abs=1e-12)
        power = v / torch.linalg.vector_norm(v)
        for k in range(2 * iters):
            exact = torch.dot(v, power).item() / torch.linalg.vector_norm(v).item()  # v . H^k v / v . v
            assert abs(quadrature(nodes, weights, k) - exact) <= 1e-8 * radius**k, k
            power = hessian @ power


@pytest.mark.parametrize("case", ["mlp", "pruned"])
def test_density_with_iters_equal_to_dimension_finds_eigenvalues(case: str) -> None:
    """Run to the end, Lanczos exhausts the Krylov space (H has repeated eigenvalues, 0 among them, so it stops
    early): the nodes of non-negligible weight are eigenvalues of H, and every moment is that of v."""
    model, batch = CASES[case]()
    hessian = exact_hessian(model, batch)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    radius = eigenvalues.abs().max().item()
    with Curvature(model, LOSS, batch) as curvature:
        result = curvature.density(iters=curvature.dimension, runs=2, seed=1)
    for v, nodes, weights in zip(rademacher_starts(model, 1, 2), result.nodes, result.weights):
        assert 1 < len(nodes) < result.dimension  # stopped at breakdown
        assert math.fsum(weights) == pytest.approx(1, abs=1e-12)
        nodes_t, weights_t = torch.tensor(nodes, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64)
        distance = (nodes_t[:, None] - eigenvalues[None, :]).abs().min(dim=1).values
        assert distance[weights_t > 1e-10].max() < 1e-8 * radius
        unit = v / torch.linalg.vector_norm(v)
        for k in (3, 2 * len(nodes), 3 * len(nodes)):  # beyond 2m too: the quadrature is exact for everything
            exact = torch.dot(unit, torch.linalg.matrix_power(hessian, k) @ unit).item()
            assert abs(quadrature(nodes, weights, k) - exact) <= 1e-8 * radius**k, k


def test_density_moments_approach_the_exact_moments_within_standard_errors() -> None:
    model, batch = tiny_mlp()
    hessian = exact_hessian(model, batch)
    d = hessian.shape[0]
    result = hessian_density(model, LOSS, batch, iters=8, runs=400, seed=0)
    assert result.moment(0).value == pytest.approx(1, abs=1e-12) and result.moment(0).std_error < 1e-12
    for k in (1, 2, 3):
        exact = torch.trace(torch.linalg.matrix_power(hessian, k)).item() / d
        moment = result.moment(k)
        assert moment.order == k and moment.runs == 400
        assert 0 < moment.std_error < 0.2 * abs(exact)
        assert abs(moment.value - exact) < 4 * moment.std_error, k
    # d * moment(1) is Hutchinson's trace with the same vectors of signs.
    trace = hessian_trace(model, LOSS, batch, samples=400, tol=1e-300, seed=0)
    assert d * result.moment(1).value == pytest.approx(trace.trace, rel=1e-10)
    assert math.isnan(hessian_density(model, LOSS, batch, iters=8, runs=1).moment(1).std_error)


def test_smoothed_density_is_a_probability_density() -> None:
    model, batch = tiny_mlp()
    result = hessian_density(model, LOSS, batch, iters=10, runs=3, seed=2)
    lo = min(min(n) for n in result.nodes)
    hi = max(max(n) for n in result.nodes)
    grid = torch.linspace(lo - 1, hi + 1, 20001, dtype=torch.float64)
    points, values = result.smoothed(grid, width=0.01)
    step = points[1] - points[0]
    assert values.sum() * step == pytest.approx(1, abs=1e-6)  # the kernels' mass lies within the grid
    x = float(points[7000])  # one point by the formula
    expected = sum(
        w * math.exp(-((x - node) ** 2) / (2 * 0.01**2)) / math.sqrt(2 * math.pi * 0.01**2)
        for nodes, weights in zip(result.nodes, result.weights) for node, w in zip(nodes, weights)
    ) / result.runs  # fmt: skip
    assert values[7000] == pytest.approx(expected, rel=1e-12)
    # PyHessian's defaults: 10,000 points within 0.01 of the mean extreme nodes; normalize= rescales to 1.
    points, values = result.smoothed()
    assert len(points) == 10_000 and np.all(values >= 0)
    assert points[0] == pytest.approx(np.mean([min(n) for n in result.nodes]) - 0.01)
    assert 0.5 < values.sum() * (points[1] - points[0]) <= 1 + 1e-9
    _, normalized = result.smoothed(normalize=True)
    assert normalized.sum() * (points[1] - points[0]) == pytest.approx(1, rel=1e-12)


def test_density_stops_cleanly_at_breakdown() -> None:
    """H = diag(4, 4, 1): the Krylov space of any vector has dimension 2, so 3 steps give 2 nodes, exactly."""
    model = nn.Linear(3, 1, bias=False).double()
    x = torch.diag(torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64))

    def half_sse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((out - target) ** 2).sum() / 2

    result = hessian_density(model, half_sse, (x, torch.zeros(3, 1, dtype=torch.float64)), iters=3, runs=4)
    for nodes, weights in zip(result.nodes, result.weights):
        assert nodes == pytest.approx([1, 4], rel=1e-12) and weights == pytest.approx([1 / 3, 2 / 3], rel=1e-12)
    # H = 0 (a loss linear in the weights): one node at 0, of weight 1.
    zero = hessian_density(model, lambda out, _: out.sum(), (x, torch.zeros(3)), iters=3)
    assert zero.nodes == [[0.0]] and zero.weights == [[1.0]]


def test_density_is_seeded() -> None:
    model, batch = tiny_mlp()
    first = hessian_density(model, LOSS, batch, iters=5, runs=2, seed=3)
    assert first == hessian_density(model, LOSS, batch, iters=5, runs=2, seed=3)
    assert first != hessian_density(model, LOSS, batch, iters=5, runs=2, seed=4)
    # Runs are drawn one after the other from one generator: the first run of two is the run of one.
    assert hessian_density(model, LOSS, batch, iters=5, runs=1, seed=3).nodes == first.nodes[:1]


# Eigenvalues of the diagonal blocks.


def block_indices(model: nn.Module) -> dict[str, torch.Tensor]:
    """Module name -> the flat indices (model.parameters() order) of the trainable parameters it owns."""
    owner = {id(p): name for name, m in model.named_modules() for p in m.parameters(recurse=False)}
    blocks: dict[str, list[int]] = {}
    start = 0
    for p in model.parameters():
        blocks.setdefault(owner[id(p)], []).extend(range(start, start + p.numel()))
        start += p.numel()
    return {name: torch.tensor(indices) for name, indices in blocks.items()}


@pytest.mark.parametrize("case", CASES)
def test_block_eigenvalues_are_those_of_the_exact_diagonal_blocks(case: str) -> None:
    model, batch = CASES[case]()
    hessian = exact_hessian(model, batch)
    mask = flat_mask(model).bool()
    indices = block_indices(model)
    with Curvature(model, LOSS, batch) as curvature:
        result = curvature.block_eigenvalues(k=2, iters=5000, tol=1e-12)
        assert list(result) == list(curvature.blocks) == list(indices)  # named_modules order
        sizes = curvature.blocks
    for name, top in result.items():
        assert all(top.converged)
        rows = indices[name][mask[indices[name]]]  # the block's unpruned coordinates only
        assert sizes[name] == len(rows)
        block = hessian[rows][:, rows]
        expected = largest_magnitude(block, 2)
        torch.testing.assert_close(torch.tensor(top.values, dtype=torch.float64), expected, rtol=1e-6, atol=1e-9)
        for vector in top.vectors:  # zero outside the block and at pruned coordinates
            flat = torch.cat([t.reshape(-1) for t in vector])
            outside = torch.ones_like(mask)
            outside[rows] = False
            assert torch.all(flat[outside] == 0)
    if case == "pruned":  # the pruned block differs from the effective weights' block with pruned weights in
        h_eff = effective_hessian(model, batch)
        first = indices["1"]
        assert abs(largest_magnitude(h_eff[first][:, first], 1).item() - result["1"].values[0]) > 1e-6


def test_a_model_that_is_one_block_gives_the_eigenvalues_of_the_whole_hessian() -> None:
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    batch = (torch.randn(10, 5, dtype=torch.float64), torch.randint(0, 3, (10,)))
    with Curvature(model, LOSS, batch) as curvature:
        assert curvature.blocks == {"": 18}
        assert curvature.block_eigenvalues(k=2, seed=3) == {"": curvature.eigenvalues(k=2, seed=3)}


# Spread over seeds.


@pytest.mark.parametrize(
    ("estimate", "kwargs", "columns", "per_seed"),
    [
        ("eigenvalues", {"k": 2, "iters": 5}, ["seed", "index", "value", "iterations", "converged"], 2),
        ("block_eigenvalues", {"iters": 5}, ["seed", "block", "index", "value", "iterations", "converged"], 3),
        ("trace", {"samples": 5, "tol": 1e-12}, ["seed", "value", "std_error", "samples"], 1),
        ("density", {"iters": 4, "runs": 2, "moments": [1, 2, 3]}, ["seed", "moment", "value", "std_error", "runs"],
         3),
    ],
)
def test_over_seeds_gives_one_row_per_seed_and_value(
    estimate: str, kwargs: dict, columns: list, per_seed: int
) -> None:
    model, batch = tiny_mlp()
    with Curvature(model, LOSS, batch) as curvature:
        table = curvature.over_seeds(estimate, [0, 1, 0], **kwargs)
        single = getattr(curvature, estimate)(seed=1, **{k: v for k, v in kwargs.items() if k != "moments"})
    assert table.columns.tolist() == columns and len(table) == 3 * per_seed
    assert table["seed"].tolist() == [0] * per_seed + [1] * per_seed + [0] * per_seed
    rows = [table.iloc[i * per_seed : (i + 1) * per_seed].drop(columns="seed").reset_index(drop=True) for i in range(3)]
    pd.testing.assert_frame_equal(rows[0], rows[2])  # the same seed, the same rows
    assert not np.allclose(rows[0]["value"], rows[1]["value"])  # another seed, other values
    expected = {
        "eigenvalues": lambda: single.values,
        "block_eigenvalues": lambda: [top.values[0] for top in single.values()],
        "trace": lambda: [single.trace],
        "density": lambda: [single.moment(k).value for k in (1, 2, 3)],
    }[estimate]()
    assert rows[1]["value"].tolist() == expected
