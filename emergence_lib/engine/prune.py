"""Pruning: magnitude, random and structured; at initialization, after training, or iteratively.

To prune a model once: :func:`magnitude` and :func:`at_random` remove single weights, :func:`nodes` whole
neurons or channels, and :func:`sparsity` counts what is gone. To prune during :func:`~emergence_lib.train`:
:class:`Pruner`, configured by a :class:`PruneConfig` (a field of a run's config). Every sparsity is a target
that counts the weights pruned before, and pruning never restores a weight.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .._checks import check_choice, check_fraction, check_integer
from ..metric.activity import activity
from ..metric.graph import UnsupportedModelError, effective_weight, node_graph, weight_layers
from .train import Callback, TrainState

METHODS = ("magnitude", "random", "activity", "norm")
"""The pruning methods. ``"magnitude"`` and ``"random"`` prune single weights (unstructured), ``"activity"`` and
``"norm"`` whole nodes (structured, see :func:`nodes`)."""
CRITERIA = ("activity", "norm")
"""How :func:`nodes` ranks the nodes of a layer, by mean activity on a probe batch or by the L2 norm of their
incoming weights."""
SCOPES = ("global", "layer")
"""One ranking over all prunable weights (``"global"``), or every layer pruned to the same sparsity
(``"layer"``)."""
TIMINGS = ("init", "after", "iterative")
"""When :class:`Pruner` prunes. Before training, once after epoch ``at_epoch``, or in equal steps."""
SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.9)
"""The book's pruning levels: unpruned, the paper's levels up to 70%, and 90% beyond them."""


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every ``nn.Linear`` and ``nn.Conv2d`` of ``model``, the form
    ``torch.nn.utils.prune.global_unstructured`` takes.

    Raises:
        ValueError: when the model has no such layer.
    """
    layers = [(module, "weight") for _, module in weight_layers(model)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv2d layer to prune")
    return layers


def _pruned(module: nn.Module) -> int:
    """Number of weights of ``module`` its mask already removes (0 when it was never pruned)."""
    mask = getattr(module, "weight_mask", None)
    return 0 if mask is None else mask.numel() - int(torch.count_nonzero(mask))


def _to_prune(sparsity: float, modules: list[nn.Module]) -> int:
    """How many of the still unpruned weights of ``modules`` to prune to reach ``sparsity`` of all of them."""
    total = sum(m.weight.numel() for m in modules)
    return max(0, round(sparsity * total) - sum(_pruned(m) for m in modules))


def _unpruned(module: nn.Module) -> torch.Tensor:
    """Bool tensor of ``module``'s weight positions no mask removes yet."""
    mask = getattr(module, "weight_mask", None)
    return torch.ones_like(module.weight, dtype=torch.bool) if mask is None else mask != 0


def magnitude(model: nn.Module, sparsity: float, scope: str = "global") -> None:
    """Unstructured L1 magnitude pruning: remove the weights of smallest absolute value.

    Magnitudes are those of the effective weights (``weight_orig * weight_mask``), read afresh, so pruning in
    the middle of training ranks the weights the network uses now. Sparsity is a target:
    ``magnitude(model, 0.5)`` then ``magnitude(model, 0.7)`` leaves 70% of the weights pruned, not 85%.

    Args:
        model: the network; all its ``Linear`` and ``Conv2d`` weights (not biases) are candidates.
        sparsity: target fraction of pruned weights afterwards, counting those pruned before, in [0, 1). It is
            converted to an exact number of weights (rounded to the nearest one). Pruning never restores
            weights: when more are pruned already, nothing changes.
        scope: ``"global"`` (one ranking over all layers, as ``torch.nn.utils.prune.global_unstructured`` with
            ``L1Unstructured``) or ``"layer"`` (every layer pruned to ``sparsity``, as ``l1_unstructured``). The
            weights removed are torch's but for ties at the cut, which go to the first positions (in the order
            of the layers and of each weight tensor; see :func:`_mask_lowest`).

    Raises:
        ValueError: for a sparsity outside [0, 1) or an unknown scope.
    """
    sparsity = check_fraction("sparsity", sparsity)
    check_choice("scope", scope, SCOPES)
    modules = [m for m, _ in prunable(model)]
    for group in [modules] if scope == "global" else [[m] for m in modules]:
        _prune_lowest(group, [effective_weight(m).abs() for m in group], _to_prune(sparsity, group))


def release_masks(model: nn.Module) -> None:
    """Drop the masks that ``torch.nn.utils.prune``'s ``CustomFromMask`` hooks keep after they were applied.

    Global pruning (ours, as ``global_unstructured``) gives every layer a view of one mask of all the weights, and the
    hook of each step keeps it alive (in the layer's ``PruningContainer``), so iterative global pruning would hold
    one more full-size mask per step (80 MB a step on VGG-19). The mask each layer uses is its ``weight_mask``
    buffer; the hooks' copies are only read when they are applied.
    """
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            for method in getattr(hook, "_pruning_methods", (hook,)):
                if isinstance(method, torch_prune.CustomFromMask):
                    method.mask = None


def _mask_lowest(scores: torch.Tensor, unpruned: torch.Tensor, amount: int) -> torch.Tensor:
    """0/1 float mask that removes the ``amount`` unpruned positions with the lowest ``scores``; of positions whose
    score ties at the cut, the first ones (in the order of ``scores``).

    The cut is found by selection (``torch.kthvalue``), not by ``torch.topk`` as ``torch.nn.utils.prune``'s
    ``L1Unstructured`` finds it: topk leaves ties at the cut to its internal order, which may differ between devices
    and versions (and ties are common: among VGG-19's 20 million weights, or between random scores drawn on a grid
    of 2^-24), and it sorts where a selection suffices (about 5x slower on VGG-19).

    Raises:
        ValueError: when a score is NaN (a NaN weight: nothing sensible to rank).
    """
    candidates = torch.nonzero(unpruned.flatten()).flatten()
    values = scores.flatten()[candidates]
    if bool(values.isnan().any()):
        raise ValueError("cannot rank weights for pruning: a score (a weight's magnitude, or a random score) is NaN")
    cut = torch.kthvalue(values, amount).values
    below = values < cut
    at_cut = torch.nonzero(values == cut).flatten()[: amount - int(below.sum())]  # the first of the ties
    mask = torch.ones(unpruned.numel(), device=unpruned.device)
    mask[candidates[below]] = 0.0
    mask[candidates[at_cut]] = 0.0
    return mask.view_as(unpruned)


def _prune_lowest(modules: list[nn.Module], scores: list[torch.Tensor], amount: int) -> None:
    """Prune the ``amount`` still unpruned weights of ``modules`` with the lowest ``scores`` (one tensor per module,
    shaped as its weight), in one ranking; each layer's new mask goes through ``torch.nn.utils.prune``
    (``custom_from_mask``, which keeps what earlier masks removed)."""
    if not amount:
        return
    unpruned = [_unpruned(m) for m in modules]
    mask = _mask_lowest(torch.cat([s.flatten() for s in scores]), torch.cat([u.flatten() for u in unpruned]), amount)
    for module, part in zip(modules, mask.split([u.numel() for u in unpruned])):
        torch_prune.custom_from_mask(module, "weight", part.view_as(module.weight))
        release_masks(module)  # its mask is a view of the concatenated one


def at_random(model: nn.Module, sparsity: float, scope: str = "global", seed: int = 0) -> None:
    """Unstructured random pruning, the control for :func:`magnitude`: same sparsity, random positions.

    Every weight gets a score drawn once from ``seed`` (on the CPU, so the scores are the same on every
    device); the unpruned weights with the lowest scores are removed (of equal scores at the cut, the first:
    :func:`_mask_lowest`), so the choice is the same everywhere too. The same seed therefore prunes nested
    sets: ``at_random(m, 0.5)`` then ``at_random(m, 0.7)`` removes exactly what ``at_random(m, 0.7)`` removes.

    Args:
        model: the network; all its ``Linear`` and ``Conv2d`` weights (not biases) are candidates.
        sparsity: target fraction of pruned weights afterwards, as in :func:`magnitude`.
        scope: ``"global"`` (a uniformly random subset of all prunable weights) or ``"layer"`` (of each layer).
        seed: seeds the choice.

    Raises:
        ValueError: for a sparsity outside [0, 1), an unknown scope or a negative seed.
    """
    sparsity = check_fraction("sparsity", sparsity)
    check_choice("scope", scope, SCOPES)
    seed = check_integer("seed", seed, 0)
    params = prunable(model)
    generator = torch.Generator().manual_seed(seed)
    scores = [torch.rand(m.weight.numel(), generator=generator).to(m.weight.device) for m, _ in params]
    groups = [list(range(len(params)))] if scope == "global" else [[k] for k in range(len(params))]
    for group in groups:
        modules = [params[k][0] for k in group]
        _prune_lowest(modules, [scores[k] for k in group], _to_prune(sparsity, modules))


def _mask_nodes(module: nn.Module, name: str, drop: torch.Tensor, dim: int, block: int = 1) -> None:
    """Prune entries ``drop`` along ``dim`` of ``module.<name>``; with ``block > 1`` (a Linear after a
    convolution), input ``c`` stands for the ``block`` flattened positions ``c * block ... (c + 1) * block - 1``.
    """
    tensor = getattr(module, name)
    mask = torch.ones_like(tensor)
    if dim == 0:
        mask[drop] = 0.0
    else:
        mask.view(mask.shape[0], -1, block, *mask.shape[2:])[:, drop] = 0.0
    torch_prune.custom_from_mask(module, name, mask)


def nodes(
    model: nn.Module,
    fraction: float,
    criterion: str = "activity",
    probe: torch.Tensor | None = None,
    layers: str = "hidden",
) -> None:
    """Structured pruning: remove the weakest nodes (neurons, channels) of every counted layer.

    In every counted layer of :func:`~emergence_lib.node_graph`, the kept nodes are ranked by ``criterion``
    (computed once, on the network as it is before this call) and the lowest ones removed, ties going to the
    lower index. Removing a node prunes its incoming weights (row of a ``Linear``, output channel of a
    ``Conv2d``), its bias and its outgoing weights in the next weight layer (columns; for a convolution followed
    by a ``Linear``, the columns of the channel's flattened spatial positions), so ``node_graph`` no longer
    contains it and the network computes as if it were gone. ``BatchNorm`` parameters are left as they are:
    the node's output no longer reaches anything.

    Args:
        model: a network :func:`~emergence_lib.node_graph` can read.
        fraction: target fraction of removed nodes per layer afterwards, in [0, 1): ``round(fraction * width)``
            nodes of a layer are removed, counting nodes the graph has already lost (structured pruning before,
            or nodes left without any weight). Never restores nodes.
        criterion: ``"activity"`` (mean activation on ``probe``, as :func:`~emergence_lib.activity` reads it)
            or ``"norm"`` (L2 norm of the node's incoming effective weights).
        probe: the batch for ``criterion="activity"``.
        layers: the counted layers, ``"hidden"`` (default) or ``"hidden+output"`` (output nodes, the classes,
            can then be removed too).

    Raises:
        ValueError: for a fraction outside [0, 1), an unknown criterion or layers value, or a missing probe.
        UnsupportedModelError: for a model the node graph cannot read.
    """
    fraction = check_fraction("fraction", fraction)
    check_choice("criterion", criterion, CRITERIA)
    if criterion == "activity" and probe is None:
        raise ValueError('criterion="activity" ranks nodes by their activity on a probe batch: pass probe=')
    graph = node_graph(model, layers=layers)
    chain = [layer.name for layer in node_graph(model, layers="hidden+output").layers]  # every weight layer
    if not graph.is_chain or len(set(chain)) < len(chain):
        raise UnsupportedModelError(
            "structured pruning needs a chain of distinct weight layers (a node's outgoing weights are then the next "
            "layer's); this model has skip connections, branches or a reused layer"
        )
    if criterion == "activity":
        scores = activity(model, probe, layers=layers, graph=graph).values
    else:
        scores = [
            effective_weight(model.get_submodule(layer.name)).flatten(1).norm(dim=1)[layer.kept]
            for layer in graph.layers
        ]
    for layer, score in zip(graph.layers, scores):
        amount = round(fraction * layer.width) - (layer.width - len(layer.kept))
        if amount <= 0:
            continue
        drop = layer.kept[torch.sort(score, stable=True).indices[:amount].to(layer.kept.device)]
        module = model.get_submodule(layer.name)
        _mask_nodes(module, "weight", drop, dim=0)
        if module.bias is not None:
            _mask_nodes(module, "bias", drop, dim=0)
        position = chain.index(layer.name)
        if position + 1 < len(chain):
            after = model.get_submodule(chain[position + 1])
            block = after.in_features // layer.width if isinstance(after, nn.Linear) else 1
            _mask_nodes(after, "weight", drop, dim=1, block=block)


def sparsity(model: nn.Module) -> pd.DataFrame:
    """The real sparsity of the weights, counted from the effective weights (``weight_orig * weight_mask``).

    Zeros are counted wherever they come from (masks, or weights that are exactly zero); biases and
    ``BatchNorm`` are not counted.

    Returns:
        One row per ``Linear`` and ``Conv2d`` module, with columns ``module`` (its qualified name), ``weights``,
        ``zeros`` and ``sparsity`` (``zeros / weights``), and a last row ``module="all"`` for the whole model.
    """
    rows = []
    for name, module in weight_layers(model):
        weight = effective_weight(module)
        nonzero = int(torch.count_nonzero(weight))
        rows.append({"module": name, "weights": weight.numel(), "zeros": weight.numel() - nonzero})
    weights, zeros = sum(r["weights"] for r in rows), sum(r["zeros"] for r in rows)
    rows.append({"module": "all", "weights": weights, "zeros": zeros})
    table = pd.DataFrame(rows, columns=["module", "weights", "zeros"])
    table["sparsity"] = table["zeros"] / table["weights"]
    return table


@dataclass(frozen=True)
class PruneConfig:
    """How a run is pruned (a field of :class:`~emergence_lib.engine.runs.RunConfig`).

    The timings form one schedule of pruning epochs: ``"init"`` prunes at epoch 0, before training (the epoch-0
    record describes the pruned network); ``"after"`` prunes once, at the end of epoch ``at_epoch``, and training
    goes on (fine-tuning); ``"iterative"`` reaches ``sparsity`` in ``steps`` equal steps, at the end of epochs
    ``at_epoch``, ``at_epoch + every``, ... (epoch 0 is before training). See :class:`Pruner` for what the
    history shows.

    Attributes:
        method: one of :data:`METHODS`: ``"magnitude"`` and ``"random"`` prune weights, ``"activity"`` and
            ``"norm"`` prune nodes (see :func:`nodes`).
        sparsity: the target, in [0, 1): the fraction of pruned weights (unstructured methods) or of removed
            nodes per counted layer (structured methods).
        scope: ``"global"`` or ``"layer"`` (unstructured methods; structured ones always prune every layer).
        when: one of :data:`TIMINGS`.
        at_epoch: the pruning epoch of ``"after"`` and the first one of ``"iterative"`` (0 for ``"init"``).
        every: epochs between the steps of ``"iterative"`` (1 otherwise).
        steps: number of steps of ``"iterative"`` (1 otherwise).
        seed: seeds ``"random"`` pruning; None (the default) derives it from the training seed
            (:func:`mask_seed`), so runs of different seeds get different random masks.
    """

    method: str = "magnitude"
    sparsity: float = 0.0
    scope: str = "global"
    when: str = "init"
    at_epoch: int = 0
    every: int = 1
    steps: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_choice("scope", self.scope, SCOPES)
        check_choice("when", self.when, TIMINGS)
        # Normalized so that equal configs have equal run keys (0 and 0.0 would hash differently).
        object.__setattr__(self, "sparsity", check_fraction("sparsity", self.sparsity))
        for name, minimum in (("at_epoch", 0), ("every", 1), ("steps", 1)):
            object.__setattr__(self, name, check_integer(name, getattr(self, name), minimum))
        if self.seed is not None:  # None: derived from the training seed
            object.__setattr__(self, "seed", check_integer("seed", self.seed, 0))
        if self.when == "init" and self.at_epoch != 0:
            raise ValueError(f'when="init" prunes at epoch 0; got at_epoch={self.at_epoch} (use when="after")')
        if self.when != "iterative" and (self.steps, self.every) != (1, 1):
            raise ValueError(
                f"steps and every apply to when='iterative' only; got steps={self.steps}, every={self.every} with "
                f"when={self.when!r}"
            )

    @property
    def schedule(self) -> list[tuple[int, float]]:
        """``(epoch, target sparsity)`` of every pruning step; epoch 0 is before training."""
        # The last target is `sparsity` itself, not a product that may miss it by a rounding error.
        targets = [self.sparsity * k / self.steps for k in range(1, self.steps)] + [self.sparsity]
        return [(self.at_epoch + k * self.every, target) for k, target in enumerate(targets)]


MASK_STREAM = 1
"""Random-number stream of derived mask seeds (:func:`mask_seed`), apart from the initialization's."""


def mask_seed(train_seed: int) -> int:
    """The seed of a random mask when :attr:`PruneConfig.seed` is None, derived from the training seed.

    Not the training seed itself: that seed also draws the initial weights, and scores drawn from the same
    stream would be the initial weights in disguise (a "random" mask removing the most negative weights).

    Example:
        >>> mask_seed(0) == mask_seed(0) != mask_seed(1)
        True
    """
    train_seed = check_integer("train_seed", train_seed, 0)
    return int(np.random.SeedSequence((train_seed, MASK_STREAM)).generate_state(1)[0])


def apply(
    model: nn.Module,
    config: PruneConfig,
    probe: torch.Tensor | None = None,
    sparsity: float | None = None,
    train_seed: int = 0,
) -> None:
    """Prune ``model`` once with ``config``'s method and scope (its timing is :class:`Pruner`'s business).

    Args:
        model: the network.
        config: the method, scope and seed.
        probe: the batch for ``method="activity"``.
        sparsity: the target (default ``config.sparsity``); :class:`Pruner` passes the targets of its steps.
        train_seed: the training seed, from which a random mask's seed is derived when ``config.seed`` is None.
    """
    target = config.sparsity if sparsity is None else sparsity
    if config.method == "magnitude":
        magnitude(model, target, scope=config.scope)
    elif config.method == "random":
        seed = mask_seed(train_seed) if config.seed is None else config.seed
        at_random(model, target, scope=config.scope, seed=seed)
    else:
        nodes(model, target, criterion=config.method, probe=probe)


class Pruner(Callback):
    """Prunes during :func:`~emergence_lib.train` as a :class:`PruneConfig` says, and records the sparsity.

    A step at epoch 0 runs before the epoch-0 record. A step at epoch ``t > 0`` runs at the end of epoch ``t``,
    and the record of epoch ``t`` then describes the pruned network: its test loss, test accuracy and
    emergence are measured after pruning, and so are ``train_loss`` and ``train_acc`` (only the running
    averages ``*_running`` describe epoch ``t``'s batches, which trained the network before pruning). Every
    record gets a column ``sparsity``:
    the real fraction of zero weights (``module="all"`` of :func:`sparsity`). Structured methods rank nodes on
    the data's probe batch and always prune the hidden layers.

    Everything is built on ``torch.nn.utils.prune``: a pruned tensor ``weight`` becomes a parameter
    ``weight_orig`` and a 0/1 buffer ``weight_mask``, and ``weight = weight_orig * weight_mask`` is recomputed
    before every forward pass. The optimizer keeps working, since ``weight_orig`` is the very ``Parameter`` object
    it already holds. While :func:`~emergence_lib.train` trains, the masks are applied once per step instead
    (:func:`~emergence_lib.engine.train.masks_in_place`: ``weight_orig`` is zeroed at pruned positions after every
    optimizer step, so a pruned epoch costs what a dense one does); whatever momentum or
    weight decay does there, the weight the network uses stays exactly zero. Masks are part of the ``state_dict``,
    so a stored run comes back pruned (:meth:`~emergence_lib.engine.runs.Run.model`), and every new pruning
    multiplies into the masks already there.

    Args:
        config: what to prune, how much and when.
    """

    def __init__(self, config: PruneConfig):
        if not isinstance(config, PruneConfig):
            raise ValueError(f"Pruner needs a PruneConfig; got {type(config).__name__}")
        self.config = config
        self._targets = dict(config.schedule)

    def _prune(self, state: TrainState, epoch: int) -> bool:
        if epoch not in self._targets:
            return False
        probe = state.data.probe.to(state.device) if self.config.method == "activity" else None
        apply(state.model, self.config, probe=probe, sparsity=self._targets[epoch], train_seed=state.config.seed)
        return True

    def on_train_begin(self, state: TrainState) -> None:
        """Prune the steps scheduled at epoch 0; warn about steps after the last epoch (they never happen)."""
        late = [epoch for epoch in self._targets if epoch > state.config.epochs]
        if late:
            warnings.warn(
                f"pruning steps at epochs {late} come after the last epoch ({state.config.epochs}) and never happen",
                stacklevel=2,
            )
        self._prune(state, 0)

    def on_epoch_trained(self, state: TrainState) -> None:
        """Prune a step scheduled at the end of this epoch, before its record is measured."""
        self._prune(state, state.epoch)

    def on_epoch_end(self, state: TrainState, record: dict) -> None:
        """Add ``sparsity`` to every record."""
        record["sparsity"] = float(sparsity(state.model)["sparsity"].iloc[-1])


def __getattr__(name: str) -> object:
    # Before 0.2 `at_random` was called `random`, shadowing the standard library's module in `from ... import *`.
    if name == "random":
        warnings.warn("emergence_lib.prune.random is now emergence_lib.prune.at_random", DeprecationWarning,
                      stacklevel=2)
        return at_random
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
