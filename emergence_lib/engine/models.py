"""The networks the book studies: MLPs, a VGG family, a small CNN, and two residual networks.

Entry point: :func:`build_model` (a network by name, for a dataset's input shape), or :func:`mlp`, :func:`vgg`,
:func:`small_cnn`, :func:`residual_mlp` and :func:`resnet18` directly. The first three are ``nn.Sequential``
chains; the residual ones have skip connections, which :func:`~emergence_lib.node_graph` reads as edges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._checks import check_choice

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU}

# Standard VGG configurations: numbers are conv output channels, "M" a 2x2 max pooling.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
VGG_INPUT = 32  # five poolings take 32x32 to 1x1; smaller images are padded up to it with the background


def _activation(name: str) -> nn.Module:
    check_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def mlp(
    widths: Sequence[int] = (784, 512, 256, 128, 10),
    activation: str = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """A multilayer perceptron; inputs of any shape are flattened first.

    Args:
        widths: input size, hidden widths, number of classes (default: the book's 784-512-256-128-10).
        activation: one of :data:`ACTIVATIONS`.
        batch_norm: add ``BatchNorm1d`` after each hidden ``Linear``.
        dropout: dropout probability after each hidden activation (0 for none).
    """
    if len(widths) < 2 or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(f"widths must be at least two positive integers (input, ..., classes); got {widths}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout}")
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths[:-2], widths[1:-1]):
        layers.append(nn.Linear(fan_in, fan_out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(_activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def _conv_block(fan_in: int, fan_out: int, batch_norm: bool, activation: str) -> list[nn.Module]:
    block: list[nn.Module] = [nn.Conv2d(fan_in, fan_out, kernel_size=3, padding=1)]
    if batch_norm:
        block.append(nn.BatchNorm2d(fan_out))
    return block + [_activation(activation)]


def vgg(
    config: str | Sequence[int | str] = "vgg11",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int = 32,
    width_multiplier: float = 1.0,
    batch_norm: bool = True,
    activation: str = "relu",
    pad_value: float | Sequence[float] = 0.0,
) -> nn.Sequential:
    """A VGG network for small images (CIFAR-style: five poolings to 1x1, then a two-layer classifier).

    Args:
        config: ``"vgg11"``, ``"vgg16"``, ``"vgg19"`` or a custom list of channel counts and ``"M"`` poolings.
        in_channels, num_classes: image channels and classes.
        input_size: image side; images smaller than 32 (e.g. 28x28 MNIST) are padded to 32x32 with ``pad_value``.
        width_multiplier: scales every layer's channel count (0.25 gives a CPU-sized VGG).
        batch_norm: add ``BatchNorm2d`` after each convolution.
        activation: one of :data:`ACTIVATIONS`.
        pad_value: the value of the padded border: the background of the images as the network sees them, i.e.
            a black pixel after standardization (:attr:`~emergence_lib.engine.data.Dataset.background`), not 0, which
            is the mean intensity. One value, or one per channel (they must then be equal).

    Example:
        >>> model = vgg("vgg11", in_channels=1, input_size=28, width_multiplier=0.0625, pad_value=-0.42)
        >>> model[0]
        ConstantPad2d(padding=(2, 2, 2, 2), value=-0.42)
    """
    if isinstance(config, str):
        check_choice("config", config, VGG_CONFIGS)
        config = VGG_CONFIGS[config]
    if width_multiplier <= 0:
        raise ValueError(f"width_multiplier must be positive; got {width_multiplier}")
    if input_size > VGG_INPUT:
        raise ValueError(f"input_size must be at most {VGG_INPUT}; got {input_size}")
    layers: list[nn.Module] = []
    if input_size < VGG_INPUT:
        left = (VGG_INPUT - input_size) // 2
        layers.append(nn.ConstantPad2d((left, VGG_INPUT - input_size - left) * 2, _one_value(pad_value)))
    channels, side = in_channels, VGG_INPUT
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            side //= 2
        else:
            width = max(1, round(int(item) * width_multiplier))
            layers += _conv_block(channels, width, batch_norm, activation)
            channels = width
    hidden = max(1, round(512 * width_multiplier))
    layers += [
        nn.Flatten(),
        nn.Linear(channels * side * side, hidden),
        _activation(activation),
        nn.Linear(hidden, num_classes),
    ]
    model = nn.Sequential(*layers)
    _vgg_init(model)
    return model


def _one_value(pad_value: float | Sequence[float]) -> float:
    """The padding value as one float: ``ConstantPad2d`` pads every channel alike."""
    values = {float(v) for v in pad_value} if isinstance(pad_value, Sequence) else {float(pad_value)}
    if len(values) != 1:
        raise ValueError(
            f"pad_value must be one value (or equal values per channel); got {pad_value}: images with channels of "
            "different backgrounds cannot be padded by ConstantPad2d; use input_size=32 images instead"
        )
    return values.pop()


def _vgg_init(model: nn.Module) -> None:
    """He (Kaiming) normal initialization, fan-out, of the convolutions, as torchvision's VGG; zero biases.

    PyTorch's default convolution initialization shrinks the signal layer by layer: without batch normalization
    a VGG then stays at chance for many epochs at the book's learning rate (measured: 10% test accuracy after
    8 epochs of VGG-11 on the MNIST subset, against 92% after 5 with this initialization). The Linear layers
    keep PyTorch's default (torchvision's N(0, 0.01) stalled training the same way).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def small_cnn(
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: int = 28,
    width: int = 16,
    batch_norm: bool = True,
    activation: str = "relu",
) -> nn.Sequential:
    """A small CNN for quick runs: two conv blocks (``width``, ``2 * width`` channels), a hidden Linear, logits."""
    side = input_size // 4
    return nn.Sequential(
        *_conv_block(in_channels, width, batch_norm, activation),
        nn.MaxPool2d(2),
        *_conv_block(width, 2 * width, batch_norm, activation),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * side * side, 128),
        _activation(activation),
        nn.Linear(128, num_classes),
    )


class ResidualMLP(nn.Module):
    """An MLP with identity skips: a first layer, then blocks ``h = act(fc2(act(fc1(h))) + h)``, then logits.

    Attributes:
        stem: the first ``Linear`` layer (input to ``width``), followed by an activation.
        blocks: per block, ``fc1`` and ``fc2`` (``width`` to ``width``), each followed by an activation, the second
            after the skip is added.
        head: the output layer.
    """

    def __init__(self, in_features: int, width: int, blocks: int, num_classes: int, activation: str = "relu"):
        super().__init__()
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), _activation(activation))
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"fc1": nn.Linear(width, width), "act1": _activation(activation),
                           "fc2": nn.Linear(width, width), "act2": _activation(activation)})
            for _ in range(blocks)
        )  # fmt: skip
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block["act2"](block["fc2"](block["act1"](block["fc1"](h))) + h)
        return self.head(h)


def residual_mlp(
    in_features: int = 784, width: int = 128, blocks: int = 2, num_classes: int = 10, activation: str = "relu"
) -> ResidualMLP:
    """A :class:`ResidualMLP`: ``1 + 2 * blocks`` hidden layers of ``width`` neurons, a skip around every pair.

    Example:
        >>> import torch, emergence_lib as el
        >>> model = el.engine.models.residual_mlp(784, width=16, blocks=2)
        >>> el.node_graph(model).sizes, sorted(el.node_graph(model).edges)[:3]
        ((16, 16, 16, 16, 16), [(0, 1), (0, 2), (1, 2)])
    """
    return ResidualMLP(in_features, width, blocks, num_classes, activation)


SMALL_INPUT = 64
"""Images smaller than this (pixels per side) get the small-input ResNet stem (see :func:`resnet18`)."""


def resnet18(in_channels: int = 3, num_classes: int = 1000, small_input: bool = False) -> nn.Module:
    """torchvision's ResNet-18 (``weights=None``: randomly initialized, nothing downloaded).

    ``small_input`` adapts it to small images such as 1x28x28 digits the way CIFAR-style ResNets do: the first
    convolution becomes 3x3 with stride 1 (``in_channels`` inputs, He-initialized as torchvision initializes its
    convolutions) and the initial max pooling is removed, so that the four stages see 28, 14, 7 and 4 pixels
    instead of 7, 4, 2 and 1. Otherwise only the first convolution's input channels are changed when
    ``in_channels`` is not 3.

    Example:
        >>> import torch, emergence_lib as el
        >>> model = el.engine.models.resnet18(in_channels=1, num_classes=10, small_input=True)
        >>> model(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
        >>> graph = el.node_graph(model)
        >>> len(graph.sizes), graph.is_chain  # the stem, two layers per block; skips join them
        (17, False)
    """
    import torchvision  # imported here, as the datasets do: `import emergence_lib` stays quick

    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    if small_input or in_channels != 3:
        kernel, stride, padding = (3, 1, 1) if small_input else (7, 2, 3)
        model.conv1 = nn.Conv2d(in_channels, 64, kernel, stride=stride, padding=padding, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    if small_input:
        model.maxpool = nn.Identity()
    return model


MODELS = ("mlp", "vgg", "small_cnn", "residual_mlp", "resnet18")


def build_model(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    background: Sequence[float] | None = None,
    **kwargs,
) -> nn.Module:
    """Build a model by name for data of the given shape.

    Args:
        name: ``"mlp"`` (keyword ``hidden``: the hidden widths), ``"vgg"``, ``"small_cnn"``, ``"residual_mlp"``
            (keywords ``width``, ``blocks``) or ``"resnet18"`` (with the small-input stem for images under
            :data:`SMALL_INPUT` pixels).
        input_shape: ``(channels, height, width)`` of one sample.
        num_classes: number of output logits.
        background: per channel, the value of a black pixel in the standardized inputs
            (:attr:`~emergence_lib.engine.data.Dataset.background`); a VGG pads small images with it. None pads with 0.
        kwargs: the remaining arguments of the builder.
    """
    if name == "mlp":
        hidden = tuple(kwargs.pop("hidden", (512, 256, 128)))
        return mlp((math.prod(input_shape), *hidden, num_classes), **kwargs)
    if name == "vgg" and background:  # None or () (statistics unknown): zero padding
        kwargs = {"pad_value": tuple(background), **kwargs}
    if name == "residual_mlp":
        return residual_mlp(math.prod(input_shape), num_classes=num_classes, **kwargs)
    if name == "resnet18":
        small = input_shape[-1] < SMALL_INPUT
        return resnet18(in_channels=input_shape[0], num_classes=num_classes, small_input=small, **kwargs)
    if name in ("vgg", "small_cnn"):
        build = vgg if name == "vgg" else small_cnn
        return build(in_channels=input_shape[0], input_size=input_shape[-1], num_classes=num_classes, **kwargs)
    check_choice("model", name, MODELS)
    raise AssertionError(f"model {name!r} is in MODELS but has no builder")
