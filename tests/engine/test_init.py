"""The emergence-promoting initialization, checked by hand on small models."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import emergence_lib as el
from emergence_lib import init
from emergence_lib.metric.graph import weight_layers


def weight_modules(model: nn.Module) -> list[nn.Module]:
    return [module for _, module in weight_layers(model)]


def mlp(n_weight_layers: int) -> nn.Sequential:
    torch.manual_seed(0)
    widths = [5] * n_weight_layers + [3]
    return el.mlp(widths)


@pytest.mark.parametrize(("n", "expected"), [(3, [-1.0, 0.0, 1.0]), (4, [-1.5, -0.5, 0.5, 1.5]), (1, [0.0])])
def test_exponents_are_offsets_from_the_middle(n: int, expected: list[float]) -> None:
    assert init.exponents(n) == expected


@pytest.mark.parametrize("n_layers", [3, 4])  # odd and even L
def test_current_base_is_scaled_layer_by_layer(n_layers: int) -> None:
    model = mlp(n_layers)
    before = copy.deepcopy(model)
    init.emergence_promoting(model, alpha=2.0, base="current")
    layers, originals = weight_modules(model), weight_modules(before)
    assert len(layers) == n_layers
    for l, (new, old) in enumerate(zip(layers, originals)):
        factor = 2.0 ** (l - (n_layers - 1) / 2)  # written out: 2^-1, 2^0, 2^1 or 2^-1.5 ... 2^1.5
        torch.testing.assert_close(new.weight, old.weight * factor)
        assert torch.equal(new.bias, old.bias)  # biases unchanged


def test_kaiming_base_is_he_init_times_the_factor() -> None:
    model = mlp(3)
    init.emergence_promoting(model, alpha=3.0, base="kaiming", seed=7)
    reference = mlp(3)
    torch.manual_seed(7)
    for layer, e in zip(weight_modules(reference), [-1.0, 0.0, 1.0]):
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.weight.data.mul_(3.0**e)
    for new, ref in zip(weight_modules(model), weight_modules(reference)):
        torch.testing.assert_close(new.weight, ref.weight)


def test_alpha_one_and_conv_layers() -> None:
    model = el.small_cnn(width=2)
    before = copy.deepcopy(model)
    init.emergence_promoting(model, alpha=1.0, base="current")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before.parameters()))
    init.emergence_promoting(model, alpha=4.0, base="current")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    old = [m for m in before.modules() if isinstance(m, nn.Conv2d)]
    torch.testing.assert_close(convs[0].weight, old[0].weight * 4.0**-1.5)  # 4 weight layers: first e = -1.5


@pytest.mark.parametrize(("kwargs", "message"), [({"alpha": 0.0}, "positive"), ({"alpha": 2.0, "base": "orthogonal"},
                                                  "'kaiming', 'xavier', 'current'")])  # fmt: skip
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        init.emergence_promoting(mlp(3), **kwargs)
