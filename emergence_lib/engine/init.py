"""The emergence-promoting initialization of Li, George and Silva (arXiv:2407.19044).

Entry point: :func:`emergence_promoting`, which rescales a model's weight layers in place by powers of
``alpha`` (:func:`exponents`); :func:`~emergence_lib.engine.runs.initial_model` applies it when a run config sets
``init_alpha``.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice
from ..metric.graph import weight_layers as _weight_layers

BASES = ("kaiming", "xavier", "current")


def exponents(n_layers: int) -> list[float]:
    """``e_l = l - (n_layers - 1) / 2`` for ``l = 0, ..., n_layers - 1``."""
    if n_layers < 1:
        raise ValueError(f"need at least one weight layer; got {n_layers}")
    return [l - (n_layers - 1) / 2 for l in range(n_layers)]


@torch.no_grad()
def emergence_promoting(model: nn.Module, alpha: float, base: str = "kaiming", seed: int | None = None) -> nn.Module:
    """Re-initialize ``model`` with the emergence-promoting scheme, in place; returns the model.

    After the ``base`` initialization, the L weight layers (``Linear`` and ``Conv2d``, in forward order) are
    numbered by their offset from the middle, ``e_l = l - (L - 1) / 2`` for ``l = 0, ..., L - 1`` (half-integers
    when L is even, see :func:`exponents`), and layer l's weights are multiplied by ``alpha ** e_l``: weights below
    the middle shrink, weights above grow, biases are unchanged. A pruned layer's original weights
    (``weight_orig``) are scaled, so its mask stays in force. In a ReLU network the activations of layer l then
    scale by the product of the factors up to l, so the middle layers become the quietest; whether that raises
    emergence is measured in the book, not assumed.

    Args:
        model: the network; its ``Linear`` and ``Conv2d`` layers are the weight layers, in order.
        alpha: the base of the per-layer factors ``alpha ** e_l``; ``alpha = 1`` leaves the base initialization.
        base: the standard initialization drawn first: ``"kaiming"`` (He normal, fan-in, for ReLU),
            ``"xavier"`` (Glorot normal), or ``"current"`` (keep the weights the model has, e.g. PyTorch's default).
        seed: seeds the base initialization (None: the global torch generator).
    """
    check_choice("base", base, BASES)
    if not alpha > 0:
        raise ValueError(f"alpha must be positive; got {alpha}")
    layers = [module for _, module in _weight_layers(model)]
    if seed is not None:
        torch.manual_seed(seed)
    for layer, e in zip(layers, exponents(len(layers))):
        weight = layer.weight_orig if hasattr(layer, "weight_orig") else layer.weight  # pruned: scale the original
        if base == "kaiming":
            nn.init.kaiming_normal_(weight, nonlinearity="relu")
        elif base == "xavier":
            nn.init.xavier_normal_(weight)
        weight.mul_(alpha**e)
    return model


def __getattr__(name: str) -> object:
    # Before 0.2 this module had its own weight_layers (modules only); there is one now, with names.
    if name == "weight_layers":
        import warnings

        warnings.warn("emergence_lib.init.weight_layers(model) is now [m for _, m in emergence_lib.weight_layers(model)]",
                      DeprecationWarning, stacklevel=2)
        return lambda model: [module for _, module in _weight_layers(model)]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
