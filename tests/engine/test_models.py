"""The book's networks build for every dataset shape, run, and are measurable by `measure` as they are."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import emergence_lib as el
from emergence_lib.engine.models import VGG_CONFIGS


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_mlp_is_the_books_default_and_measurable() -> None:
    torch.manual_seed(0)
    model = el.mlp()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 256), (256, 128), (128, 10)]
    x = torch.randn(64, 1, 28, 28)
    assert model(x).shape == (64, 10)
    result = el.measure(model, x)
    assert result.layer_sizes == (512, 256, 128)
    assert result.n_weights == 784 * 512 + 512 * 256 + 256 * 128 + 128 * 10


@pytest.mark.parametrize(("config", "n_conv"), [("vgg11", 8), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_configurations_have_the_standard_depth(config: str, n_conv: int) -> None:
    model = el.vgg(config, width_multiplier=0.0625)
    assert len(convs(model)) == n_conv
    assert [c.out_channels for c in convs(model)] == [round(c / 16) for c in VGG_CONFIGS[config] if c != "M"]


@pytest.mark.parametrize(("shape", "padded"), [((1, 28, 28), True), ((3, 32, 32), False)])
def test_vgg_pads_small_images_to_32_and_is_measurable(shape: tuple[int, int, int], padded: bool) -> None:
    torch.manual_seed(0)
    model = el.build_model("vgg", shape, 10, config="vgg11", width_multiplier=0.125, batch_norm=False)
    assert isinstance(model[0], nn.ConstantPad2d) == padded
    x = torch.randn(16, *shape)
    assert model(x).shape == (16, 10)
    result = el.measure(model, x)
    # every conv channel and the hidden Linear's neurons are nodes (none isolated in a fresh dense net)
    assert result.layer_sizes == (*(c.out_channels for c in convs(model)), 64)


def test_vgg_pads_with_the_background_of_standardized_images(digits: el.Dataset) -> None:
    # Issue 12, fix 6: 0 is the mean intensity after standardization; a black border is -mean / std.
    assert digits.background == pytest.approx((float(digits.x_train.min()),))  # MNIST's black pixels
    model = el.build_model("vgg", digits.input_shape, 10, background=digits.background, width_multiplier=0.0625)
    black = torch.full((2, *digits.input_shape), digits.background[0])
    padded = model[0](black)
    assert padded.shape[-2:] == (32, 32)
    torch.testing.assert_close(padded, torch.full_like(padded, digits.background[0]))
    with pytest.raises(ValueError, match="pad_value must be one value"):
        el.vgg(in_channels=2, input_size=28, pad_value=(-1.0, -2.0))


def test_small_cnn_with_batch_norm_is_measurable(digits: el.Dataset) -> None:
    torch.manual_seed(0)
    model = el.build_model("small_cnn", digits.input_shape, digits.num_classes, width=4)
    result = el.measure(model, digits.probe)
    assert result.layer_sizes == (4, 8, 128)
    assert model(digits.probe[:8]).shape == (8, 10)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "tanh", "elu"])
def test_every_activation_builds_a_measurable_model(activation: str) -> None:
    torch.manual_seed(0)
    model = el.mlp((20, 8, 6, 3), activation=activation, batch_norm=True, dropout=0.1)
    assert el.measure(model, torch.randn(32, 20)).layer_sizes == (8, 6)


def test_same_seed_same_weights() -> None:
    torch.manual_seed(3)
    a = el.build_model("small_cnn", (1, 28, 28), 10, width=2)
    torch.manual_seed(3)
    b = el.build_model("small_cnn", (1, 28, 28), 10, width=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: el.build_model("resnet", (1, 28, 28), 10), ["mlp", "vgg", "small_cnn"]),
        (lambda: el.mlp((10, 5, 2), activation="swish"), ["relu", "tanh"]),
        (lambda: el.vgg("vgg13"), ["vgg11", "vgg16", "vgg19"]),
        (lambda: el.mlp((10,)), ["at least two"]),
        (lambda: el.mlp((10, 5, 2), dropout=1.0), ["[0, 1)"]),
        (lambda: el.vgg(width_multiplier=0), ["positive"]),
        (lambda: el.vgg(input_size=64), ["at most 32"]),
    ],
)
def test_bad_arguments_name_the_allowed_values(call, names: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        call()
    assert all(name in str(error.value) for name in names), str(error.value)
