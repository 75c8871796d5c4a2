"""Hessian-vector products, top eigenvalues and trace against the exact Hessian of tiny models (float64); one
Curvature serves them all with the functions' results."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import emergence_lib as el
from emergence_lib.probes.hessian import Curvature, Eigenvalues, Trace, hessian_eigenvalues, hessian_trace, hvp

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
    assert result.values[0] == pytest.approx(reference, rel=1e-3)
    assert math.isfinite(trace.trace)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_results() -> None:
    model, batch = tiny_cnn()
    cpu_values = hessian_eigenvalues(model, LOSS, batch, k=2, iters=500, tol=1e-10)
    cpu_trace = hessian_trace(model, LOSS, batch, samples=20, tol=1e-12)
    model.cuda()
    cuda_values = hessian_eigenvalues(model, LOSS, batch, k=2, iters=500, tol=1e-10)  # batch moved by the call
    cuda_trace = hessian_trace(model, LOSS, batch, samples=20, tol=1e-12)
    assert cuda_values.values == pytest.approx(cpu_values.values, rel=1e-6)
    assert cuda_trace.trace == pytest.approx(cpu_trace.trace, rel=1e-8)
    assert all(t.device.type == "cuda" for t in cuda_values.vectors[0])


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
