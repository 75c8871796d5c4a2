"""Loss landscapes: surfaces equal a naive point-by-point loop, the model is left untouched, directions are
normalized, seeded and stored, and the ruggedness measures count and measure what their definitions say."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import emergence_lib as el
from emergence_lib import landscape

# Tiny models, each a builder so the naive reference can make a fresh, unpruned copy of the same architecture.


def mlp(batch_norm: bool = False) -> nn.Sequential:
    return el.mlp((12, 8, 6, 3), batch_norm=batch_norm)


def cnn(batch_norm: bool = True) -> nn.Sequential:
    """conv (first layer) -> BN -> pool -> conv -> flatten -> Linear: a conv as the layer computed once."""
    return el.small_cnn(in_channels=1, num_classes=3, input_size=8, width=2, batch_norm=batch_norm)


def tiny_vgg() -> nn.Sequential:
    """ZeroPad2d (parameter-free) before the first conv: 6x6 images padded to 32x32, five poolings."""
    return el.vgg([2, "M", 2, "M", 2, "M", 2, "M", 2, "M"], in_channels=1, num_classes=3, input_size=6,
                  width_multiplier=1 / 256)  # fmt: skip


def named_no_bias() -> nn.Sequential:
    """A Sequential with named children and a first layer without bias."""
    return nn.Sequential(OrderedDict(flat=nn.Flatten(), fc=nn.Linear(12, 8, bias=False), act=nn.Tanh(),
                                     out=nn.Linear(8, 3)))  # fmt: skip


class Residual(nn.Module):
    """Not a Sequential: evaluated whole at every point."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(12, 8)
        self.hidden = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x.flatten(1)))
        return self.out(h + torch.relu(self.hidden(h)))


def make(build: Callable[[], nn.Module], pruned: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    shape = input_shape(build)
    model = build()
    if pruned:
        el.prune.magnitude(model, 0.3)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        # Running statistics that differ from the defaults, so eval-mode BN is a real affine map.
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(torch.randn(16, *shape) * 2 + 0.5)
    return model


def cnn_without_bn() -> nn.Sequential:
    return cnn(batch_norm=False)


def mlp_with_bn() -> nn.Sequential:
    return mlp(batch_norm=True)


def input_shape(build: Callable[[], nn.Module]) -> tuple[int, ...]:
    return {cnn: (1, 8, 8), cnn_without_bn: (1, 8, 8), tiny_vgg: (1, 6, 6)}.get(build, (1, 3, 4))


def batch(build: Callable[[], nn.Module], n: int = 24, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *input_shape(build), generator=gen), torch.randint(0, 3, (n,), generator=gen)


def effective(model: nn.Module) -> dict[str, torch.Tensor]:
    """Effective parameters (weight_orig * weight_mask under the effective name) and buffers (masks left out)."""
    state = {}
    for name, value in model.state_dict().items():
        if name.endswith("_mask"):
            continue
        if name.endswith("_orig"):
            base = name[: -len("_orig")]
            state[base] = value * model.state_dict()[f"{base}_mask"]
        else:
            state[name] = value.clone()
    return state


def naive_surface(build, model, loss_fn, data, directions, axes) -> tuple[np.ndarray, np.ndarray]:
    """The obvious loop: a fresh copy of the architecture, load_state_dict at every point, evaluate."""
    base = effective(model)
    reference = build().eval()
    x, y = data
    shape = tuple(len(a) for a in axes)
    loss, accuracy = np.zeros(shape), np.zeros(shape)
    for index in np.ndindex(*shape):
        point = [axes[k][i] for k, i in enumerate(index)]
        state = dict(base)
        for c, d in zip(point, directions):
            for name, v in d.items():
                state[name] = state[name] + c * v
        reference.load_state_dict(state)
        with torch.no_grad():
            out = reference(x)
        loss[index] = float(loss_fn(out, y))
        accuracy[index] = float((out.argmax(1) == y).float().mean())
    return loss, accuracy


MODELS = {
    "mlp": (mlp, False),
    "mlp-bn": (mlp_with_bn, False),
    "mlp-pruned": (mlp, True),
    "cnn-bn": (cnn, False),
    "cnn-pruned": (cnn_without_bn, True),
    "vgg-zeropad": (tiny_vgg, False),
    "named-no-bias": (named_no_bias, False),
    "not-sequential": (Residual, False),
    "not-sequential-pruned": (Residual, True),
}


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("name", list(MODELS))
def test_surface_equals_a_naive_loop(name: str, dims: int) -> None:
    build, pruned = MODELS[name]
    model = make(build, pruned)
    data = batch(build)
    directions = landscape.random_directions(model, n=dims, seed=3)
    axes = [np.linspace(-1, 1, 7), np.linspace(-0.5, 1.0, 4)][:dims]
    loss_fn = nn.CrossEntropyLoss()
    surface = landscape.loss_surface(model, loss_fn, data, directions, axes[0] if dims == 1 else tuple(axes))
    loss, accuracy = naive_surface(build, model, loss_fn, data, directions, axes)
    assert surface.loss.shape == surface.accuracy.shape == loss.shape
    np.testing.assert_allclose(surface.loss, loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(surface.accuracy, accuracy, atol=1.01 / len(data[1]))  # an argmax tie at most
    assert len({round(v, 4) for v in surface.loss.ravel()}) > 1  # the directions really move the loss


def test_the_first_layer_is_computed_once_where_the_model_allows_it() -> None:
    """The equality test above would pass trivially if every model took the per-point path."""
    assert landscape._first_linear(make(mlp)) == 1  # after Flatten
    assert landscape._first_linear(make(cnn)) == 0
    assert landscape._first_linear(make(tiny_vgg)) == 1  # after ZeroPad2d
    assert landscape._first_linear(make(mlp, pruned=True)) == 1  # pruning hooks are fine
    assert landscape._first_linear(make(named_no_bias)) == 1
    assert landscape._first_linear(make(Residual)) is None
    hooked = make(mlp)
    hooked[1].register_forward_hook(lambda module, inputs, output: output * 2)
    assert landscape._first_linear(hooked) is None
    normalized_first = nn.Sequential(nn.BatchNorm1d(12), nn.Linear(12, 3))
    assert landscape._first_linear(normalized_first) is None


def test_a_hook_on_the_first_layer_is_honoured() -> None:
    model = make(mlp)
    model[1].register_forward_hook(lambda module, inputs, output: output * 2)
    data = batch(mlp)
    directions = landscape.random_directions(model, n=1)
    surface = landscape.loss_surface(model, nn.CrossEntropyLoss(), data, directions, [-0.5, 0.0, 0.5])
    with torch.no_grad():
        assert surface.loss[1] == pytest.approx(float(nn.functional.cross_entropy(model.eval()(data[0]), data[1])))


def snapshot(model: nn.Module) -> dict:
    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.clone() for k, v in model.named_buffers()},
        "modes": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
    }


@pytest.mark.parametrize("name", ["mlp-bn", "cnn-bn", "mlp-pruned", "not-sequential-pruned"])
def test_probing_leaves_the_model_exactly_as_it_was(name: str) -> None:
    build, pruned = MODELS[name]
    model = make(build, pruned)
    model.train()
    next(m for m in model.modules() if m is not model).eval()  # mixed modes must come back per module
    attributes = {id(m): m.__dict__.get("weight") for m in model.modules()}
    before = snapshot(model)
    data = batch(build)
    directions = landscape.random_directions(model, n=2)
    landscape.loss_surface(model, nn.CrossEntropyLoss(), data, directions, ([-1.0, 0.0, 1.0], [-1.0, 1.0]))
    after = snapshot(model)
    for key in ("params", "buffers"):
        assert before[key].keys() == after[key].keys()
        for k in before[key]:
            assert torch.equal(before[key][k], after[key][k]), f"{key} {k} changed"
    assert before["modes"] == after["modes"]
    assert before["requires_grad"] == after["requires_grad"]
    assert all(p.grad is None for p in model.parameters())
    # The pruning hook's effective weight attribute is the very object it was before.
    assert all(m.__dict__.get("weight") is attributes[id(m)] for m in model.modules())


def test_the_model_is_restored_when_the_loss_fails_midway() -> None:
    model = make(mlp, pruned=True)
    before = snapshot(model)
    calls = []

    def failing(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return nn.functional.cross_entropy(output, target)

    with pytest.raises(RuntimeError, match="boom"):
        landscape.loss_surface(model, failing, batch(mlp), landscape.random_directions(model, 1), [0.5, 1.0, 2.0])
    for k, v in model.named_parameters():
        assert torch.equal(v, before["params"][k])
    assert [m.training for m in model.modules()] == before["modes"]


def test_the_centre_of_a_surface_is_the_models_own_loss() -> None:
    model = make(cnn)
    data = batch(cnn)
    surface = landscape.loss_surface(model, nn.CrossEntropyLoss(), data, landscape.random_directions(model, 2),
                                     (np.linspace(-1, 1, 5), np.linspace(-1, 1, 3)))  # fmt: skip
    model.eval()
    with torch.no_grad():
        expected = float(nn.functional.cross_entropy(model(data[0]), data[1]))
    assert surface.center_index == (2, 1)
    assert surface.loss[surface.center_index] == pytest.approx(expected, rel=1e-6)


def test_accuracy_is_nan_when_targets_are_not_class_indices() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    x, y = torch.randn(10, 4), torch.randn(10, 1)
    surface = landscape.loss_surface(model, nn.MSELoss(), (x, y), landscape.random_directions(model, 1), [0.0, 1.0])
    assert np.isnan(surface.accuracy).all()
    assert np.isfinite(surface.loss).all()


def test_float64_models_get_float64_directions_and_surfaces() -> None:
    model = make(mlp).double()
    directions = landscape.random_directions(model, 1)
    assert all(v.dtype == torch.float64 for v in directions[0].values())
    x, y = batch(mlp)
    surface = landscape.loss_surface(model, nn.CrossEntropyLoss(), (x.double(), y), directions, [-1.0, 0.0, 1.0])
    loss, _ = naive_surface(lambda: mlp().double(), model, nn.CrossEntropyLoss(), (x.double(), y), directions,
                            [np.array([-1.0, 0.0, 1.0])])  # fmt: skip
    np.testing.assert_allclose(surface.loss, loss, rtol=1e-12)
    # The random draws do not depend on the dtype: the same numbers, normalized in float64 either way.
    d32 = landscape.random_directions(make(mlp), 1)[0]
    assert torch.allclose(directions[0]["1.weight"].float(), d32["1.weight"], rtol=1e-6)


# Directions: normalization, ignore, pruning, seeds, storage.


def rows(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1)


@pytest.mark.parametrize("build", [mlp, cnn], ids=["linear", "conv"])
def test_filter_normalization_gives_each_filter_the_norm_of_its_weights(build) -> None:
    model = make(build)
    (direction,) = landscape.random_directions(model, 1, normalization="filter")
    checked = 0
    for name, weight in model.named_parameters():
        if weight.dim() >= 2:
            torch.testing.assert_close(rows(direction[name]), rows(weight.detach()), rtol=1e-5, atol=1e-7)
            assert not torch.allclose(direction[name], weight.detach())  # rescaled noise, not the weights
            checked += 1
    assert checked >= (2 if build is mlp else 4)


def test_layer_and_no_normalization() -> None:
    model = make(cnn)
    (layer,) = landscape.random_directions(model, 1, normalization="layer", seed=5)
    (raw,) = landscape.random_directions(model, 1, normalization="none", seed=5)
    for name, weight in model.named_parameters():
        if weight.dim() >= 2:
            assert float(layer[name].norm()) == pytest.approx(float(weight.detach().norm()), rel=1e-5)
            # The same draw: "layer" is the raw direction times one number.
            scale = float(weight.detach().norm() / raw[name].norm())
            torch.testing.assert_close(layer[name], raw[name] * scale, rtol=1e-5, atol=1e-7)
            assert not torch.allclose(rows(layer[name]), rows(weight.detach()), rtol=1e-3)


def test_raw_directions_are_standard_normal() -> None:
    model = nn.Sequential(nn.Linear(200, 100))
    (raw,) = landscape.random_directions(model, 1, normalization="none")
    values = raw["0.weight"]
    assert abs(float(values.mean())) < 0.01 and abs(float(values.std()) - 1) < 0.01


def test_ignore_biasbn_zeros_one_dimensional_parameters_and_none_rescales_them() -> None:
    model = make(cnn)  # conv biases, BatchNorm weights and biases, Linear biases
    (ignored,) = landscape.random_directions(model, 1, ignore="biasbn")
    (kept,) = landscape.random_directions(model, 1, ignore="none")
    one_d = [name for name, p in model.named_parameters() if p.dim() == 1]
    assert any(".weight" in name for name in one_d)  # a BatchNorm weight is among them
    for name, p in model.named_parameters():
        if p.dim() == 1:
            assert torch.count_nonzero(ignored[name]) == 0
            assert float(kept[name].norm()) == pytest.approx(float(p.detach().norm()), rel=1e-5)
        else:
            assert torch.equal(ignored[name], kept[name])


def test_pruned_directions_use_effective_names_and_masked_weights() -> None:
    for build in (mlp, cnn):
        model = make(build, pruned=True)
        (direction,) = landscape.random_directions(model, 1)
        state = model.state_dict()
        assert not any(k.endswith("_orig") for k in direction)
        assert set(direction) == {k[: -len("_orig")] if k.endswith("_orig") else k for k, _ in model.named_parameters()}
        for name, d in direction.items():
            mask = state.get(f"{name}_mask")
            if mask is None:
                continue
            assert torch.count_nonzero(d[mask == 0]) == 0
            weight = state[f"{name}_orig"] * mask
            torch.testing.assert_close(rows(d), rows(weight), rtol=1e-5, atol=1e-7)


def test_a_fully_pruned_row_gets_a_zero_direction() -> None:
    model = make(mlp)
    mask = torch.ones_like(model[1].weight)
    mask[2] = 0
    torch.nn.utils.prune.custom_from_mask(model[1], "weight", mask)
    (direction,) = landscape.random_directions(model, 1)
    assert torch.count_nonzero(direction["1.weight"][2]) == 0
    assert torch.isfinite(direction["1.weight"]).all()


def test_directions_are_seeded() -> None:
    model = make(cnn)
    a = landscape.random_directions(model, 2, seed=7)
    b = landscape.random_directions(model, 2, seed=7)
    c = landscape.random_directions(model, 2, seed=8)
    (single,) = landscape.random_directions(model, 1, seed=7)
    for name in a[0]:
        assert torch.equal(a[0][name], b[0][name]) and torch.equal(a[1][name], b[1][name])
        assert torch.equal(single[name], a[0][name])  # direction i does not depend on n
    weights = [n for n, p in model.named_parameters() if p.dim() > 1]
    assert all(not torch.equal(a[0][n], c[0][n]) for n in weights)
    assert all(not torch.equal(a[0][n], a[1][n]) for n in weights)  # each direction its own stream
    # A global torch seed plays no part.
    torch.manual_seed(123)
    assert torch.equal(landscape.random_directions(model, 1, seed=7)[0][weights[0]], a[0][weights[0]])


def test_save_and_load_round_trip(tmp_path) -> None:
    model = make(mlp, pruned=True)
    directions = landscape.random_directions(model, 2, seed=4)
    path = tmp_path / "sub" / "directions.pt"
    landscape.save_directions(directions, path)
    assert [p.name for p in path.parent.iterdir()] == ["directions.pt"]  # no temporary file left behind
    loaded = landscape.load_directions(path)
    assert len(loaded) == 2
    for d, e in zip(directions, loaded):
        assert d.keys() == e.keys() and all(torch.equal(d[k], e[k]) for k in d)
    x = landscape.loss_surface(model, nn.CrossEntropyLoss(), batch(mlp), loaded, ([0.0, 1.0], [0.0, 1.0]))
    y = landscape.loss_surface(model, nn.CrossEntropyLoss(), batch(mlp), directions, ([0.0, 1.0], [0.0, 1.0]))
    np.testing.assert_array_equal(x.loss, y.loss)
    with pytest.raises(ValueError, match="list of dicts"):
        landscape.save_directions({"a": torch.zeros(1)}, tmp_path / "bad.pt")


# Ruggedness measures on synthetic surfaces with known answers.


def synthetic(function, n: int = 41, extent: float = 2.0, m: int | None = None) -> landscape.Surface:
    alphas, betas = np.linspace(-extent, extent, n), np.linspace(-extent, extent, m or n)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    loss = function(a, b)
    return landscape.Surface(coords=(alphas, betas), loss=loss, accuracy=np.zeros_like(loss))


def wells(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    centres = [(-1.0, -1.0), (1.0, 0.5), (-0.5, 1.2)]
    return 3.0 - sum(np.exp(-((a - p) ** 2 + (b - q) ** 2) / 0.1) for p, q in centres)


def test_local_minima_counts_known_wells() -> None:
    assert landscape.local_minima(synthetic(wells)) == 3
    assert landscape.local_minima(synthetic(wells), border="exclude") == 3


def test_a_convex_bowl_has_one_minimum_and_a_plateau_none() -> None:
    assert landscape.local_minima(synthetic(lambda a, b: a**2 + 2 * b**2)) == 1
    assert landscape.local_minima(synthetic(lambda a, b: a**2 + 2 * b**2, n=21, m=11)) == 1
    assert landscape.local_minima(synthetic(lambda a, b: 0 * a + 1.0)) == 0  # strict: ties are not minima
    flat_bottom = synthetic(lambda a, b: np.maximum(a**2 + b**2, 0.5))
    assert landscape.local_minima(flat_bottom) == 0


def test_border_points_are_compared_with_their_existing_neighbours() -> None:
    tilted = synthetic(lambda a, b: a + 2 * b)  # lowest at the corner (-2, -2)
    assert landscape.local_minima(tilted) == 1
    assert landscape.local_minima(tilted, border="exclude") == 0
    line = landscape.Surface(coords=(np.arange(5.0),), loss=np.array([1.0, 0.0, 1.0, 2.0, 1.5]),
                             accuracy=np.zeros(5))  # fmt: skip
    assert landscape.local_minima(line) == 2  # index 1, and the end point 4 (its only neighbour is higher)
    assert landscape.local_minima(line, border="exclude") == 1


def test_nan_losses_are_never_minima() -> None:
    surface = synthetic(lambda a, b: a**2 + b**2, n=5)
    loss = surface.loss.copy()
    loss[0, 0] = np.nan
    assert landscape.local_minima(landscape.Surface(surface.coords, loss, surface.accuracy)) == 1


@pytest.mark.parametrize("p, q", [(1.0, 2.0), (0.3, -0.5)])
def test_second_difference_of_a_quadratic_is_its_curvature(p: float, q: float) -> None:
    surface = synthetic(lambda a, b: p * a**2 + q * b**2 + 0.7 * a - b + 3, n=21, m=11)
    assert landscape.second_difference(surface) == pytest.approx(abs(p) + abs(q), rel=1e-9)
    line = landscape.Surface(coords=(np.linspace(-1, 1, 9),), loss=p * np.linspace(-1, 1, 9) ** 2,
                             accuracy=np.zeros(9))  # fmt: skip
    assert landscape.second_difference(line) == pytest.approx(2 * abs(p), rel=1e-9)


def test_sharpness_of_a_quadratic_bowl_is_its_mean_curvature() -> None:
    p, q = 1.5, 0.25
    surface = synthetic(lambda a, b: p * a**2 + q * b**2 + 0.3 * a + 0.2 * b + 1, n=21)
    assert landscape.sharpness(surface) == pytest.approx(p + q, rel=1e-9)  # trace(H) / 2, H = diag(2p, 2q)
    alphas = np.linspace(-1, 1, 11)
    line = landscape.Surface(coords=(alphas,), loss=p * alphas**2 - alphas, accuracy=np.zeros(11))
    assert landscape.sharpness(line) == pytest.approx(2 * p, rel=1e-9)  # L''


def test_ruggedness_reports_the_three_measures() -> None:
    surface = synthetic(lambda a, b: a**2 + b**2, n=11)
    result = landscape.ruggedness(surface)
    assert set(result) == {"local_minima", "second_difference", "sharpness"}
    assert result["local_minima"] == 1
    assert result["second_difference"] == pytest.approx(2.0)
    assert result["sharpness"] == pytest.approx(2.0)


def test_ruggedness_of_a_real_surface_is_finite() -> None:
    model = make(cnn)
    axis = np.linspace(-1, 1, 5)
    surface = landscape.loss_surface(model, nn.CrossEntropyLoss(), batch(cnn), landscape.random_directions(model),
                                     (axis, axis))  # fmt: skip
    result = landscape.ruggedness(surface)
    assert result["local_minima"] >= 1 and np.isfinite(result["second_difference"]) and np.isfinite(result["sharpness"])


def test_surface_helpers() -> None:
    surface = synthetic(lambda a, b: a + 10 * b, n=3, extent=1.0, m=5)
    frame = surface.to_frame()
    assert list(frame.columns) == ["alpha", "beta", "loss", "accuracy"] and len(frame) == 15
    row = frame[(frame.alpha == 1.0) & (frame.beta == -1.0)]
    assert float(row.loss.iloc[0]) == pytest.approx(1 - 10)
    assert surface.center_index == (1, 2) and surface.steps == pytest.approx((1.0, 0.5)) and surface.ndim == 2
    line = landscape.Surface(coords=(np.array([-1.0, 0.0, 1.0]),), loss=np.ones(3), accuracy=np.ones(3))
    assert list(line.to_frame().columns) == ["alpha", "loss", "accuracy"]
    with pytest.raises(ValueError, match="shape"):
        landscape.Surface(coords=(np.arange(3.0),), loss=np.ones(4), accuracy=np.ones(4))


# Bad inputs.


def test_bad_arguments_raise_clear_errors() -> None:
    model = make(mlp)
    data = batch(mlp)
    loss_fn = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="normalization='model'.*allowed values: 'filter', 'layer', 'none'"):
        landscape.random_directions(model, normalization="model")
    with pytest.raises(ValueError, match="ignore='bn'.*allowed values: 'biasbn', 'none'"):
        landscape.random_directions(model, ignore="bn")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        landscape.random_directions(model, n=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        landscape.random_directions(model, seed=-1)
    two = landscape.random_directions(model, 2)
    with pytest.raises(ValueError, match=r"a line \(1-D coords\) needs 1 direction"):
        landscape.loss_surface(model, loss_fn, data, two, [-1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"a grid \(a pair of coords\) needs 2 direction"):
        landscape.loss_surface(model, loss_fn, data, two[:1], ([-1.0, 1.0], [-1.0, 1.0]))
    with pytest.raises(ValueError, match="got 3 sequences"):
        landscape.loss_surface(model, loss_fn, data, two, ([0.0], [0.0], [0.0]))
    with pytest.raises(ValueError, match="finite"):
        landscape.loss_surface(model, loss_fn, data, two[:1], [0.0, float("nan")])
    other = landscape.random_directions(make(cnn), 1)
    with pytest.raises(ValueError, match="does not match the model's parameters"):
        landscape.loss_surface(model, loss_fn, data, other, [0.0, 1.0])
    pruned = make(mlp, pruned=True)
    stale = [{k.replace("1.weight", "1.weight_orig"): v for k, v in landscape.random_directions(pruned, 1)[0].items()}]
    with pytest.raises(ValueError, match="effective names"):
        landscape.loss_surface(pruned, loss_fn, data, stale, [0.0, 1.0])
    with pytest.raises(ValueError, match="no parameters"):
        landscape.random_directions(nn.Sequential(nn.ReLU()))

    off_centre = synthetic(lambda a, b: a**2 + b**2, n=4)  # 4 points on [-2, 2]: no coordinate 0
    with pytest.raises(ValueError, match="no coordinate 0"):
        landscape.sharpness(off_centre)
    edge = landscape.Surface(coords=(np.array([0.0, 1.0, 2.0]),), loss=np.arange(3.0), accuracy=np.zeros(3))
    with pytest.raises(ValueError, match="neighbours on both sides"):
        landscape.sharpness(edge)
    uneven = landscape.Surface(coords=(np.array([-1.0, 0.0, 2.0]),), loss=np.arange(3.0), accuracy=np.zeros(3))
    with pytest.raises(ValueError, match="evenly spaced"):
        landscape.second_difference(uneven)
    with pytest.raises(ValueError, match="at least three points"):
        landscape.second_difference(landscape.Surface(coords=(np.array([0.0, 1.0]),), loss=np.ones(2),
                                                      accuracy=np.ones(2)))  # fmt: skip
    with pytest.raises(ValueError, match="border='edge'.*allowed values: 'compare', 'exclude'"):
        landscape.local_minima(off_centre, border="edge")


def test_the_module_is_exported() -> None:
    assert el.landscape is landscape


def test_a_probes_fingerprint_changes_with_whatever_its_measurements_depend_on(monkeypatch) -> None:
    batch = (torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.zeros(8, dtype=torch.long))
    axis = np.linspace(-1, 1, 5)
    base = landscape.LandscapeProbe(batch, axis).fingerprint()
    assert landscape.LandscapeProbe((batch[0].clone(), batch[1].clone()), axis).fingerprint() == base
    other_batch = (batch[0] + 1e-6, batch[1])
    changed = [
        landscape.LandscapeProbe(other_batch, axis),
        landscape.LandscapeProbe(batch, axis, direction_seed=1),
        landscape.LandscapeProbe(batch, axis, eigen_iters=10),
        landscape.LandscapeProbe(batch, axis, trace_samples=10),
        landscape.LandscapeProbe(batch, axis, loss_fn=nn.MSELoss()),
    ]
    assert len({p.fingerprint() for p in changed} | {base}) == len(changed) + 1
    # other code: the fingerprint of the probes' and the runs' modules is part of it
    monkeypatch.setattr(el.engine.fingerprint, "current", lambda modules: "other code")
    assert landscape.LandscapeProbe(batch, axis).fingerprint() != base


def test_trajectory_directions_are_the_principal_directions_of_the_path() -> None:
    """Li et al.'s recipe, checked against sklearn's PCA of the matrix of w_t - w_final (t before the last)."""
    from sklearn.decomposition import PCA

    generator = torch.Generator().manual_seed(0)
    steps = torch.cumsum(torch.randn(8, 30, generator=generator, dtype=torch.float64), dim=0)
    path = {"a.weight": steps[:, :24].reshape(8, 4, 6), "a.bias": steps[:, 24:]}
    plane = landscape.trajectory_directions(path)
    rows = (steps - steps[-1])[:-1].numpy()
    pca = PCA(n_components=2).fit(rows)
    np.testing.assert_allclose(plane.explained, pca.explained_variance_ratio_, rtol=1e-10)
    flat = np.stack([np.concatenate([d["a.weight"].reshape(-1).numpy(), d["a.bias"].numpy()])
                     for d in plane.directions])  # fmt: skip
    np.testing.assert_allclose(np.abs(flat), np.abs(pca.components_), atol=1e-6)  # float32 directions, any sign
    np.testing.assert_allclose(plane.coords, (steps - steps[-1]).numpy() @ flat.T, atol=1e-5)
    assert (plane.coords[0] > 0).all() and (plane.coords[-1] == 0).all()
    a, b = plane.axes(11)
    assert a[0] < plane.coords[:, 0].min() and a[-1] > plane.coords[:, 0].max() and len(b) == 11
    with pytest.raises(ValueError, match="at least three recorded points"):
        landscape.trajectory_directions({"w": steps[:2]})
    with pytest.raises(ValueError, match="same number of points"):
        landscape.trajectory_directions({"w": steps, "v": steps[:4]})


@pytest.fixture(scope="module")
def path_run(tmp_path_factory) -> el.Run:
    """A pruned MLP that recorded its weights after each of 3 epochs."""
    train = el.TrainConfig(epochs=3, batch_size=64, max_batches=5)
    config = el.RunConfig(dataset="mnist_subset", model="mlp", model_args={"hidden": [16, 8]}, train=train,
                          train_size=400, test_size=200, probe_size=64, trajectory=True,
                          prune=el.PruneConfig(sparsity=0.7))  # fmt: skip
    return el.execute(config, root=tmp_path_factory.mktemp("runs"), progress=False)


def test_a_surface_in_the_plane_of_a_pruned_runs_path(path_run: el.Run) -> None:
    run = path_run
    plane = landscape.trajectory_directions(run.trajectory())
    model = run.model()
    mask = model[1].weight_mask
    assert (plane.directions[0]["1.weight"][mask == 0] == 0).all()  # pruned weights stay pruned on the surface
    data = el.load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    batch = (data.x_test, data.y_test)
    surface = landscape.loss_surface(model, nn.CrossEntropyLoss(), batch, plane.directions, plane.axes(5, 0.0))
    assert surface.loss.shape == (5, 5) and np.isfinite(surface.loss).all()
    centre = landscape.loss_surface(model, nn.CrossEntropyLoss(), batch, plane.directions, ([0.0, 1.0], [0.0, 1.0]))
    with torch.no_grad():
        own = nn.CrossEntropyLoss()(model.eval()(batch[0]), batch[1]).item()
    assert centre.loss[0, 0] == pytest.approx(own, rel=1e-6)  # (0, 0) is the trained network
    assert 0 < plane.explained.sum() <= 1 + 1e-9


def test_the_probe_tables_of_paths_and_spectra(path_run: el.Run) -> None:
    import matplotlib.pyplot as plt

    data = el.load_dataset("mnist_subset", train_size=400, test_size=200, probe_size=64)
    probe = landscape.LandscapeProbe((data.x_test[:100], data.y_test[:100]), np.linspace(-1, 1, 5))
    paths = probe.paths([path_run])
    surface, path = paths[paths["part"] == "surface"], paths[paths["part"] == "path"]
    assert len(surface) == 25 and surface["loss"].notna().all()
    assert path["epoch"].tolist() == [0, 1, 2, 3] and path["log10_absolute"].tolist() == pytest.approx(
        path_run.history["log10_absolute"].tolist())  # fmt: skip
    assert (path[["x", "y"]].iloc[-1] == 0).all()  # the final weights are the origin
    spectra = probe.spectra([path_run], iters=8, seeds=[0, 1])
    density = spectra[spectra["part"] == "density"]
    assert density.groupby("seed")["weight"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert set(density.groupby("seed").size()) <= set(range(1, 9))  # at most iters nodes per seed
    spread = spectra[spectra["part"] == "spread"]
    assert set(spread["estimate"]) == {"top eigenvalue", "trace", "moment 2", "block top eigenvalue"}
    blocks = spread[spread["estimate"] == "block top eigenvalue"]
    assert blocks["block"].tolist() == ["1", "3", "5"] * 2  # the layers with weights, once per seed
    assert (spread[spread["block"] == ""].groupby("estimate").size() == 2).all()  # whole-Hessian estimates
    top = spread[spread["estimate"] == "top eigenvalue"]["value"]
    assert (blocks["value"].groupby(blocks["seed"]).max().to_numpy() <= top.to_numpy() * (1 + 1e-2)).all()
    assert probe.spectra([path_run], iters=8, seeds=[0, 1]).equals(spectra)  # seeded
    fig, (left, right) = plt.subplots(1, 2)
    el.plots.training_path(paths, ax=left)
    assert len(left.collections[-1].get_offsets()) == 4 and "PC 1" in left.get_xlabel()
    el.plots.hessian_density(density, ax=right, label="pruned")
    assert len(right.get_lines()) == 1 and right.get_yscale() == "log"
    plt.close(fig)
