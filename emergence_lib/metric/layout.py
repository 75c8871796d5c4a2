"""Memory layout for convolutions on a CPU: how :func:`~emergence_lib.train` trains and evaluates and
:func:`~emergence_lib.capture_activity` runs the probe pass (one layout for all three, so a probe pass and the
test evaluation of the same samples compute the same values)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def channels_last(model: nn.Module, example: torch.Tensor | None = None) -> Iterator[None]:
    """Convolution weights in channels-last memory layout for the duration: how :func:`~emergence_lib.train` trains,
    :func:`~emergence_lib.engine.train.evaluate` evaluates and :func:`~emergence_lib.capture_activity` probes.

    PyTorch then runs convolutions in that layout whatever the input's, and (without BatchNorm) every convolution's
    output is laid out so too, so the ReLU and pooling after it run in that layout; this trains the default
    profile's VGG about 1.2x and evaluates it about 1.4x faster on a CPU than the default layout (measured with one
    thread). The values are the same; only the order of the arithmetic changes. On leaving, the weights are back in
    the default layout, which everything else expects (``torch.nn.utils.prune`` flattens weights with ``view``), in
    their own storage: a weight left unchanged inside is the very tensor it was (a
    :class:`~emergence_lib.metric.Capture` still matches the model), a changed one is copied back into it. The
    optimizer keeps its ``Parameter`` objects, whose data alone is laid out anew.

    A forward pass that applies ``view`` to a convolution's output (``x.view(len(x), -1)``, common in hand-written CNNs)
    cannot run in this layout. Given ``example``, a batch of the model's inputs, the context first runs the model on
    its first sample in this layout (eval mode, no gradients: nothing in the model changes, but its forward hooks
    see that sample), and leaves a model that fails so in the default layout, where it runs as written (slower).

    Args:
        model: the network; only its ``Conv2d`` weights are laid out anew (nothing happens without one).
        example: a batch of inputs for the trial above, on the model's device; None runs no trial.

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv2d(2, 4, 3)
        >>> with channels_last(conv):
        ...     conv.weight.is_contiguous(memory_format=torch.channels_last)
        True
        >>> conv.weight.is_contiguous()
        True
    """
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    weights = [p for m in convs for p in m.parameters(recurse=False) if p.dim() == 4]
    saved = [(p, p.data) for p in weights]
    for p in weights:
        p.data = p.data.contiguous(memory_format=torch.channels_last)
    versions = [p._version for p in weights]  # an in-place change (an optimizer step) counts up
    # A one-channel input (an image in grey) is in both layouts, and the convolution then answers in the default
    # one: the pooling after it ran 2.4x slower than in channels-last (the default VGG's poolings took a fifth of
    # its training time, most of it the first). The copy changes no value. Not with BatchNorm, whose CPU kernels
    # are slower in channels-last (measured: the default VGG with BatchNorm trained about 1.1x slower).
    hooks = [] if has_batch_norm(model) else [m.register_forward_hook(_channels_last_output) for m in convs]

    def restore() -> None:
        for hook in hooks:
            hook.remove()
        for (p, data), version in zip(saved, versions):
            if p._version != version:
                data.copy_(p.data)
            p.data = data
        hooks.clear()
        saved.clear()

    try:
        if convs and example is not None and not _runs(model, example[:1]):
            restore()  # the model's forward cannot run in this layout: the default one for the duration
        yield
    finally:
        restore()


def _runs(model: nn.Module, example: torch.Tensor) -> bool:
    """Whether ``model`` runs on ``example`` (eval mode, no gradients; every module's mode restored)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(example)
        return True
    except RuntimeError:  # PyTorch's error for a view across the layout's strides
        return False
    finally:
        for m, mode in modes:
            m.train(mode)


def _channels_last_output(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    return output.contiguous(memory_format=torch.channels_last)


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
