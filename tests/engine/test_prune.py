"""Pruning: exact sparsity, masks that hold through training and storage, structured node removal, timings."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

import emergence_lib as el
from emergence_lib import runs
from emergence_lib.metric.graph import effective_weight, weight_layers
from emergence_lib.engine.train import evaluate


def tiny_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return el.mlp((784, 48, 32, 16, 10))


def tiny_cnn(seed: int = 0, batch_norm: bool = False) -> nn.Sequential:
    """conv -> conv -> Linear -> logits: both node-to-node cases of a CNN (conv->conv, conv->Linear)."""
    torch.manual_seed(seed)
    return el.small_cnn(width=4, batch_norm=batch_norm)


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.endswith("_mask")}


def zeros(model: nn.Module) -> int:
    return sum(int((effective_weight(m) == 0).sum()) for _, m in weight_layers(model))


def total(model: nn.Module) -> int:
    return sum(m.weight.numel() for _, m in weight_layers(model))


def fast(epochs: int = 2, **changes) -> el.TrainConfig:
    return el.TrainConfig(**{"epochs": epochs, "batch_size": 32, "max_batches": 4, "track_emergence": False, **changes})


# Masks hold: through training, gradients, prune.remove and storage.


@pytest.mark.parametrize(
    "optimizer",
    [{"optimizer": "sgd", "momentum": 0.9}, {"optimizer": "adam", "lr": 1e-3},
     {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.1}],  # fmt: skip
    ids=["sgd-momentum", "adam", "weight-decay"],
)
def test_pruned_weights_stay_exactly_zero_through_training(digits: el.Dataset, optimizer: dict) -> None:
    model = tiny_mlp()
    first = model[1].weight  # the Parameter the optimizer is given before pruning
    before = first.detach().clone()
    # Pruned after an epoch, so momentum and Adam's moments are nonzero where the mask removes weights.
    config = el.PruneConfig(sparsity=0.6, when="after", at_epoch=1)
    el.train(model, digits, fast(epochs=3, **optimizer), callbacks=[el.Pruner(config)], device="cpu", progress=False)
    mask = model[1].weight_mask.bool()
    assert model[1].weight_orig is first  # torch's prune re-registers the optimizer's own Parameter...
    assert not torch.equal(first.detach()[mask], before[mask])  # ...which it keeps training
    for _, module in weight_layers(model):
        pruned = module.weight_mask == 0
        assert effective_weight(module)[pruned].eq(0).all()
        model(digits.probe[:2])  # the forward pass refreshes `weight`
        assert module.weight[pruned].eq(0).all()
    # weight_orig itself is zeroed at pruned positions during training (engine.train.masks_in_place).
    assert first.detach()[~mask].eq(0).all() and before[~mask].ne(0).any()
    assert zeros(model) == round(0.6 * total(model))
    for _, module in weight_layers(model):
        pruned = module.weight_mask == 0
        torch_prune.remove(module, "weight")
        assert module.weight[pruned].eq(0).all() and not hasattr(module, "weight_orig")


@pytest.mark.parametrize(
    "prune_config",
    [el.PruneConfig(sparsity=0.7, when="iterative", at_epoch=1, steps=2),
     el.PruneConfig(method="random", sparsity=0.5),
     el.PruneConfig(method="norm", sparsity=0.5, when="after", at_epoch=1)],  # fmt: skip
    ids=["iterative-magnitude", "random-at-init", "nodes-with-biases"],
)
@pytest.mark.parametrize("build", [tiny_mlp, tiny_cnn], ids=["mlp", "cnn"])
def test_masks_applied_in_place_train_as_torchs_hooks(
    digits: el.Dataset, build, prune_config: el.PruneConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path (masks applied once per step) trains the network the hooks train: bit for bit for the MLP; for
    the CNN to rounding, since a convolution may run in another memory layout when its weight is the hooks' masked
    copy (train.channels_last)."""
    config = fast(epochs=3, weight_decay=0.01, track_emergence=True)

    def run() -> tuple:
        model = build()
        history = el.train(model, digits, config, callbacks=[el.Pruner(prune_config)], device="cpu", progress=False)
        masks = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("_mask")}
        return history.drop(columns=["seconds", "measure_seconds"]), [effective_weight(m) for _, m in weight_layers(model)], masks

    fast_history, fast_weights, fast_masks = run()
    # Without the context, torch's hooks multiply every forward and backward pass by the masks.
    monkeypatch.setattr(el.engine.train, "masks_in_place", contextlib.contextmanager(lambda model: (yield lambda: None)))
    hooked_history, hooked_weights, hooked_masks = run()
    assert fast_history["sparsity"].iloc[-1] > 0.2
    exact = build is tiny_mlp
    pd.testing.assert_frame_equal(fast_history, hooked_history, check_exact=exact, rtol=1e-5)
    for a, b, mask in zip(fast_weights, hooked_weights, fast_masks.values()):
        assert torch.equal(a, b) if exact else torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    assert fast_masks.keys() == hooked_masks.keys() and all(torch.equal(fast_masks[k], hooked_masks[k]) for k in fast_masks)


def test_masks_in_place_restores_the_hooks_when_training_fails() -> None:
    model = tiny_mlp()
    el.prune.magnitude(model, 0.5)
    hooks = {id(m): dict(m._forward_pre_hooks) for m in model.modules()}
    with pytest.raises(RuntimeError, match="diverged"), el.engine.train.masks_in_place(model):
        assert not any(m._forward_pre_hooks for m in model.modules())
        raise RuntimeError("diverged")
    assert {id(m): dict(m._forward_pre_hooks) for m in model.modules()} == hooks
    assert not model[1].weight.is_leaf  # recomputed from weight_orig by the hook again


def test_no_gradient_reaches_pruned_weights() -> None:
    model = tiny_mlp()
    el.prune.magnitude(model, 0.7)
    nn.functional.cross_entropy(model(torch.randn(16, 1, 28, 28)), torch.randint(0, 10, (16,))).backward()
    for _, module in weight_layers(model):
        pruned = module.weight_mask == 0
        assert module.weight_orig.grad[pruned].eq(0).all()
        assert module.weight_orig.grad[~pruned].ne(0).any()


def small_run(**prune_changes) -> el.RunConfig:
    train = el.TrainConfig(epochs=2, batch_size=64, max_batches=3)
    return el.RunConfig(
        dataset="mnist_subset", model="small_cnn", model_args={"width": 4}, train=train, train_size=300,
        test_size=100, probe_size=32, prune=el.PruneConfig(**{"sparsity": 0.5, **prune_changes}),
    )  # fmt: skip


@pytest.mark.parametrize(
    "prune_changes",
    [{"method": "magnitude", "when": "after", "at_epoch": 1}, {"method": "activity", "when": "init"}],
    ids=["magnitude", "structured"],
)
def test_a_stored_pruned_run_comes_back_with_its_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prune_changes: dict
) -> None:
    trained = []

    def train_and_keep(model, *args, **kwargs):
        trained.append(model)
        return el.train(model, *args, **kwargs)

    monkeypatch.setattr(runs, "train", train_and_keep)
    config = small_run(**prune_changes)
    run = el.execute(config, root=tmp_path, device="cpu", progress=False)
    original, rebuilt = trained[0], run.model()
    assert masks(rebuilt).keys() == masks(original).keys()
    if prune_changes["method"] == "activity":  # structured: the biases of removed nodes are masked too
        assert any(k.endswith("bias_mask") for k in masks(original))
    for key, mask in masks(original).items():
        assert torch.equal(masks(rebuilt)[key], mask)
    subset = el.load_dataset("mnist_subset", train_size=300, test_size=100, probe_size=32)
    original.eval(), rebuilt.eval()
    assert torch.equal(rebuilt(subset.x_test), original(subset.x_test))
    assert evaluate(rebuilt, subset.x_test, subset.y_test)[1] == pytest.approx(run.history["test_acc"].iloc[-1])
    assert el.prune.sparsity(rebuilt)["sparsity"].iloc[-1] == pytest.approx(run.history["sparsity"].iloc[-1])
    assert el.node_graph(rebuilt).sizes == el.node_graph(original).sizes


# Sparsity is exact and counted from the weights.


@pytest.mark.parametrize("scope", el.prune.SCOPES)
@pytest.mark.parametrize("method", ["magnitude", "at_random"])
def test_sparsity_is_an_exact_target_counting_earlier_pruning(method: str, scope: str) -> None:
    model = tiny_mlp()
    prune = getattr(el.prune, method)
    for target in (0.5, 0.7, 0.7):  # repeated calls aim at the target, they do not compound
        prune(model, target, scope=scope)
        table = el.prune.sparsity(model)
        assert list(table.columns) == ["module", "weights", "zeros", "sparsity"]
        assert list(table["module"]) == [name for name, _ in weight_layers(model)] + ["all"]
        # each layer is rounded to whole weights under scope="layer"
        per_layer = sum(round(target * n) for n in table["weights"].iloc[:-1])
        exact = per_layer if scope == "layer" else round(target * total(model))
        assert table["zeros"].iloc[-1] == zeros(model) == exact
        assert table["sparsity"].iloc[-1] == pytest.approx(target, abs=len(table) / total(model))
        for (_, module), row in zip(weight_layers(model), table.itertuples()):
            assert row.zeros == int((module.weight_orig * module.weight_mask == 0).sum())
            assert row.weights == module.weight.numel()
            if scope == "layer":
                assert row.zeros == round(target * row.weights)
    if method == "magnitude":  # a global ranking prunes layers unequally (small fan-in, large weights)
        assert (table["sparsity"].iloc[:-1].std() > 0.05) == (scope == "global")
    prune(model, 0.3, scope=scope)  # pruning never restores weights
    assert zeros(model) == exact


def test_sparsity_of_an_unpruned_model_is_zero_and_biases_do_not_count() -> None:
    model = tiny_cnn()
    with torch.no_grad():
        for _, module in weight_layers(model):
            module.bias.zero_()
    table = el.prune.sparsity(model)
    assert table["zeros"].eq(0).all() and table["weights"].iloc[-1] == total(model)


@pytest.mark.parametrize("scope", el.prune.SCOPES)
def test_magnitude_removes_the_smallest_weights(scope: str) -> None:
    model = tiny_mlp()
    weights = {name: m.weight.detach().abs().clone() for name, m in weight_layers(model)}
    el.prune.magnitude(model, 0.6, scope=scope)
    groups = [list(weights)] if scope == "global" else [[name] for name in weights]
    for group in groups:
        values = torch.cat([weights[name].flatten() for name in group])
        pruned = torch.cat([(model.get_submodule(name).weight_mask == 0).flatten() for name in group])
        k = round(0.6 * len(values))
        assert int(pruned.sum()) == k
        assert values[pruned].max() <= values[~pruned].min()
        assert torch.equal(values[pruned].sort().values, values.sort().values[:k])


def _by_torch(model: nn.Module, sparsity: float) -> None:
    """Global magnitude pruning as torch.nn.utils.prune does it: the reference for el.prune.magnitude's masks."""
    params = el.prune.prunable(model)
    amount = round(sparsity * sum(m.weight.numel() for m, _ in params))
    amount -= sum(int((m.weight_mask == 0).sum()) for m, _ in params if hasattr(m, "weight_mask"))
    scores = {p: effective_weight(p[0]) for p in params}
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=amount,
                                    importance_scores=scores)  # fmt: skip


@pytest.mark.parametrize("scope", el.prune.SCOPES)
def test_magnitude_removes_what_torch_removes_when_no_magnitudes_tie_at_the_cut(scope: str) -> None:
    """In two steps (the second ranks only what the first kept), on the network's own continuous weights."""
    ours, theirs = tiny_mlp(), tiny_mlp()
    for sparsity in (0.3, 0.7):
        el.prune.magnitude(ours, sparsity, scope=scope)
        if scope == "global":
            _by_torch(theirs, sparsity)
        else:
            for _, m in weight_layers(theirs):
                pruned = int((m.weight_mask == 0).sum()) if hasattr(m, "weight_mask") else 0
                torch_prune.l1_unstructured(m, "weight", amount=round(sparsity * m.weight.numel()) - pruned,
                                            importance_scores=effective_weight(m))  # fmt: skip
        assert all(torch.equal(a, b) for a, b in zip(masks(ours).values(), masks(theirs).values(), strict=True))
        assert all(torch.equal(effective_weight(a), effective_weight(b))
                   for (_, a), (_, b) in zip(weight_layers(ours), weight_layers(theirs)))  # fmt: skip


def test_ties_at_the_cut_go_to_the_first_positions() -> None:
    """torch.topk would leave them to its internal order (which may differ between devices and versions)."""
    scores = torch.tensor([0.5, 0.2, 0.9, 0.2, 0.1, 0.2, 0.2, 0.0])
    unpruned = torch.tensor([True, True, True, True, True, False, True, False])  # 5 and 7 are pruned already
    mask = el.prune._mask_lowest(scores, unpruned, 3)  # 0.1 (position 4), then two of the 0.2s at 1, 3 and 6
    assert mask.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert el.prune._mask_lowest(scores, unpruned, 1).tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    assert el.prune._mask_lowest(scores, unpruned, 6).tolist() == [0.0] * 5 + [1.0, 0.0, 1.0]
    # on a network whose magnitudes lie on a coarse grid (thousands tie at every cut): all below the cut go, and of
    # the magnitudes at the cut, the first ones in the order of the layers and of each weight tensor
    model = tiny_mlp()
    with torch.no_grad():
        for _, m in weight_layers(model):
            m.weight.copy_((m.weight * 64).round() / 64)
    values = torch.cat([m.weight.detach().abs().flatten() for _, m in weight_layers(model)])
    el.prune.magnitude(model, 0.7)
    pruned = torch.cat([(m.weight_mask == 0).flatten() for _, m in weight_layers(model)])
    k = round(0.7 * len(values))
    cut = values.sort().values[k - 1]
    assert int(pruned.sum()) == k and bool(pruned[values < cut].all()) and not bool(pruned[values > cut].any())
    ties = torch.nonzero(values == cut).flatten()
    assert len(ties) > 1000 and pruned[ties].tolist() == sorted(pruned[ties].tolist(), reverse=True)
    with pytest.raises(ValueError, match="NaN"):
        el.prune._mask_lowest(torch.tensor([0.1, float("nan")]), torch.tensor([True, True]), 1)


def test_magnitude_ranks_the_weights_in_use_after_training_and_pruning_again(digits: el.Dataset) -> None:
    model = tiny_mlp()
    el.prune.magnitude(model, 0.5)
    el.train(model, digits, fast(epochs=1), device="cpu", progress=False)
    used = {name: effective_weight(m).abs() for name, m in weight_layers(model)}
    before = masks(model)
    el.prune.magnitude(model, 0.8)
    newly = torch.cat([((before[f"{n}.weight_mask"] == 1) & (model.get_submodule(n).weight_mask == 0)).flatten()
                       for n in used])  # fmt: skip
    kept = torch.cat([(model.get_submodule(n).weight_mask == 1).flatten() for n in used])
    values = torch.cat([v.flatten() for v in used.values()])
    assert values[newly].max() <= values[kept].min()


def test_random_is_seeded_nested_and_unlike_magnitude() -> None:
    def pruned_with(prune, *args, **kwargs) -> dict[str, torch.Tensor]:
        model = tiny_mlp()
        prune(model, *args, **kwargs)
        return masks(model)

    same = [pruned_with(el.prune.at_random, 0.6, seed=3) for _ in range(2)]
    other = pruned_with(el.prune.at_random, 0.6, seed=4)
    by_magnitude = pruned_with(el.prune.magnitude, 0.6)
    assert all(torch.equal(same[0][k], same[1][k]) for k in same[0])
    assert not all(torch.equal(same[0][k], other[k]) for k in same[0])
    assert not all(torch.equal(same[0][k], by_magnitude[k]) for k in same[0])
    # about 60% of the kept magnitudes and of the random weights differ: random positions, not small ones
    overlap = sum(int((same[0][k].bool() & by_magnitude[k].bool()).sum()) for k in same[0])
    assert overlap < 0.5 * sum(int(m.sum()) for m in by_magnitude.values())
    # the same seed in two steps removes what it removes in one
    model = tiny_mlp()
    el.prune.at_random(model, 0.3, seed=3)
    el.prune.at_random(model, 0.6, seed=3)
    assert all(torch.equal(masks(model)[k], same[0][k]) for k in same[0])


def test_apply_dispatches_on_the_config() -> None:
    for config, direct in (
        (el.PruneConfig("random", 0.4, scope="layer", seed=2), lambda m: el.prune.at_random(m, 0.4, "layer", seed=2)),
        (el.PruneConfig("magnitude", 0.4), lambda m: el.prune.magnitude(m, 0.4)),
        (el.PruneConfig("norm", 0.4), lambda m: el.prune.nodes(m, 0.4, criterion="norm")),
    ):
        a, b = tiny_mlp(), tiny_mlp()
        el.prune.apply(a, config)
        direct(b)
        assert masks(a).keys() == masks(b).keys()
        assert all(torch.equal(masks(a)[k], masks(b)[k]) for k in masks(a))
    model = tiny_mlp()
    el.prune.apply(model, el.PruneConfig("magnitude", 0.4), sparsity=0.2)
    assert zeros(model) == round(0.2 * total(model))


# Structured pruning removes whole nodes of the node graph.


@pytest.mark.parametrize("criterion", ["activity", "norm"])
@pytest.mark.parametrize("build", [tiny_mlp, tiny_cnn, lambda: tiny_cnn(batch_norm=True)], ids=["mlp", "cnn", "cnn-bn"])
def test_nodes_removes_the_weakest_nodes_of_every_counted_layer(digits: el.Dataset, build, criterion: str) -> None:
    model, probe = build(), digits.probe
    graph = el.node_graph(model)
    if criterion == "activity":
        scores = el.activity(model, probe).values
    else:
        scores = [effective_weight(model.get_submodule(layer.name)).flatten(1).norm(dim=1) for layer in graph.layers]
    weights_before = el.measure(model, probe).n_weights
    el.prune.nodes(model, 0.25, criterion=criterion, probe=probe)
    after = el.node_graph(model)
    chain = [layer.name for layer in el.node_graph(model, layers="hidden+output").layers]
    for layer, new, score in zip(graph.layers, after.layers, scores):
        assert len(new.kept) == layer.width - round(0.25 * layer.width)
        removed = sorted(set(range(layer.width)) - set(new.kept.tolist()))
        kept = new.kept.tolist()
        assert score[removed].max() <= score[kept].min()  # the lowest-ranked nodes go
        module = model.get_submodule(layer.name)
        assert effective_weight(module)[removed].eq(0).all() and effective_weight(module)[kept].ne(0).any()
        assert (module.bias_orig * module.bias_mask)[removed].eq(0).all()
        after_module = model.get_submodule(chain[chain.index(layer.name) + 1])
        outgoing = effective_weight(after_module)
        outgoing = outgoing.reshape(outgoing.shape[0], layer.width, -1)  # a conv channel's flattened block
        assert outgoing[:, removed].eq(0).all() and outgoing[:, kept].ne(0).any()
    result = el.measure(model, probe)  # the metric reads the pruned network
    assert result.layer_sizes == after.sizes and result.n_weights < weights_before


def test_removed_nodes_no_longer_change_the_output(digits: el.Dataset) -> None:
    model = tiny_cnn(batch_norm=True)
    el.prune.nodes(model, 0.5, criterion="norm")
    model.eval()
    out = model(digits.probe)
    kept = {layer.name: layer.kept for layer in el.node_graph(model).layers}
    with torch.no_grad():
        for _, module in weight_layers(model):  # whatever the hidden weights are at pruned positions
            module.weight_orig[module.weight_mask == 0] = 100.0
            if hasattr(module, "bias_mask"):  # the output layer loses columns only
                module.bias_orig[module.bias_mask == 0] = 100.0
        for conv, norm in ((0, 1), (4, 5)):  # a removed channel's BatchNorm shift still fires its ReLU...
            removed = torch.ones(model[conv].out_channels, dtype=torch.bool)
            removed[kept[str(conv)]] = False
            model[norm].bias[removed] = 5.0
    assert torch.equal(model(digits.probe), out)  # ...but nothing downstream hears it


def test_nodes_is_a_target_and_composes_with_magnitude() -> None:
    model = tiny_mlp()
    el.prune.nodes(model, 0.25, criterion="norm")
    el.prune.nodes(model, 0.5, criterion="norm")
    el.prune.nodes(model, 0.25, criterion="norm")  # never restores nodes
    assert el.node_graph(model).sizes == (24, 16, 8)
    el.prune.magnitude(model, 0.9)
    assert zeros(model) == round(0.9 * total(model))
    assert all(n <= w for n, w in zip(el.node_graph(model).sizes, (24, 16, 8)))
    model = tiny_mlp()
    el.prune.nodes(model, 0.5, criterion="norm", layers="hidden+output")
    assert el.node_graph(model, layers="hidden+output").sizes == (24, 16, 8, 5)


# The Pruner callback: when, and what the history shows.


def history(data: el.Dataset, config: el.PruneConfig, epochs: int = 3, **changes) -> tuple[nn.Module, list]:
    model = tiny_mlp()
    frame = el.train(model, data, fast(epochs=epochs, **changes), callbacks=[el.Pruner(config)], device="cpu",
                     progress=False)  # fmt: skip
    return model, frame


def test_pruner_at_init_prunes_before_the_first_record(digits: el.Dataset) -> None:
    model, frame = history(digits, el.PruneConfig(sparsity=0.7))
    exact = round(0.7 * total(model)) / total(model)
    assert frame["sparsity"].tolist() == pytest.approx([exact] * 4)


def test_pruner_after_training_measures_the_pruned_network(digits: el.Dataset) -> None:
    model, frame = history(digits, el.PruneConfig(sparsity=0.7, when="after", at_epoch=2))
    exact = round(0.7 * total(model)) / total(model)
    assert frame["sparsity"].tolist() == pytest.approx([0, 0, exact, exact])
    model, frame = history(digits, el.PruneConfig(sparsity=0.9, when="after", at_epoch=3), track_emergence=True)
    final = frame.iloc[-1]  # the last record describes the network after pruning
    assert final["test_acc"] == pytest.approx(evaluate(model, digits.x_test, digits.y_test)[1])
    assert final["log10_absolute"] == pytest.approx(el.measure(model, digits.probe).log10_absolute)
    assert final["n_weights"] == total(model) - round(0.9 * total(model))


def test_random_masks_follow_the_training_seed_and_not_the_initial_weights(digits: el.Dataset) -> None:
    def pruned(train_seed: int, **prune_args) -> nn.Module:
        model = tiny_mlp(train_seed)  # initialized from the training seed, as a stored run is
        config = el.PruneConfig(method="random", sparsity=0.5, **prune_args)
        el.train(model, digits, fast(epochs=0, seed=train_seed), callbacks=[el.Pruner(config)], device="cpu",
                 progress=False)  # fmt: skip
        return model

    first, again, other = masks(pruned(0)), masks(pruned(0)), masks(pruned(1))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not any(torch.equal(first[k], other[k]) for k in first)  # mask-to-mask variation across seeds
    fixed = [masks(pruned(seed, seed=3)) for seed in (0, 1)]  # an explicit seed still fixes the mask
    assert all(torch.equal(fixed[0][k], fixed[1][k]) for k in fixed[0])
    for seed in (0, 1):  # unrelated to the initial weights: as many negative as positive weights survive
        layer = pruned(seed)[1]
        kept = layer.weight_mask.bool()
        negative = layer.weight_orig < 0
        assert float(kept[negative].float().mean()) == pytest.approx(float(kept[~negative].float().mean()), abs=0.03)


def test_pruner_iterative_reaches_the_target_in_equal_steps(digits: el.Dataset) -> None:
    config = el.PruneConfig(sparsity=0.6, when="iterative", at_epoch=1, every=2, steps=3)
    assert config.schedule == [(1, pytest.approx(0.2)), (3, pytest.approx(0.4)), (5, 0.6)]
    model, frame = history(digits, config, epochs=6)
    n = total(model)
    expected = [0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.6]
    assert frame["sparsity"].tolist() == pytest.approx([round(s * n) / n for s in expected])
    model, frame = history(digits, dataclasses.replace(config, method="norm", at_epoch=0, every=1), epochs=3)
    assert frame["sparsity"].is_monotonic_increasing and frame["sparsity"].iloc[0] > 0
    assert el.node_graph(model).sizes == (48 - round(0.6 * 48), 32 - round(0.6 * 32), 16 - round(0.6 * 16))


def test_pruner_with_activity_uses_the_probe_and_warns_about_steps_it_never_reaches(digits: el.Dataset) -> None:
    with pytest.warns(UserWarning, match=r"epochs \[5\]"):
        model, frame = history(digits, el.PruneConfig("activity", 0.5, when="after", at_epoch=5), epochs=2)
    assert frame["sparsity"].eq(0).all()
    model, frame = history(digits, el.PruneConfig("activity", 0.5), epochs=1)
    assert el.node_graph(model).sizes == (24, 16, 8) and frame["sparsity"].gt(0).all()


# Clear errors.


def test_bad_arguments_name_the_allowed_values() -> None:
    model = tiny_mlp()
    for bad, match in (
        ({"method": "l1"}, "'magnitude', 'random', 'activity', 'norm'"),
        ({"scope": "local"}, "'global', 'layer'"),
        ({"when": "before"}, "'init', 'after', 'iterative'"),
        ({"sparsity": 1.0}, r"\[0, 1\)"),
        ({"sparsity": -0.1}, r"\[0, 1\)"),
        ({"sparsity": True}, r"\[0, 1\)"),
        ({"sparsity": "0.5"}, r"\[0, 1\)"),
        ({"at_epoch": 3}, "init"),
        ({"when": "after", "steps": 2}, "iterative"),
        ({"when": "iterative", "every": 0}, "every must be an integer >= 1"),
        ({"when": "iterative", "steps": 1.5}, "steps must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ):
        with pytest.raises(ValueError, match=match):
            el.PruneConfig(**bad)
    for call, match in (
        (lambda: el.prune.magnitude(model, 1.2), r"\[0, 1\)"),
        (lambda: el.prune.magnitude(model, 0.5, scope="local"), "'global', 'layer'"),
        (lambda: el.prune.at_random(model, 0.5, scope="all"), "'global', 'layer'"),
        (lambda: el.prune.nodes(model, 0.5, criterion="magnitude"), "'activity', 'norm'"),
        (lambda: el.prune.nodes(model, 0.5, criterion="activity"), "probe"),
        (lambda: el.prune.nodes(model, 0.5, criterion="norm", layers="all"), "'hidden', 'hidden\\+output'"),
        (lambda: el.prune.nodes(model, 1.0, criterion="norm"), r"\[0, 1\)"),
        (lambda: el.prune.magnitude(nn.Sequential(nn.ReLU()), 0.5), "no Linear or Conv2d"),
        (lambda: el.Pruner({"method": "magnitude"}), "PruneConfig"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    assert not masks(model)  # nothing was pruned by the failed calls


def test_config_values_are_normalized_for_the_run_key() -> None:
    import numpy as np

    a = el.PruneConfig(sparsity=0, steps=np.int64(1))
    assert a == el.PruneConfig(sparsity=0.0) and isinstance(a.sparsity, float) and type(a.steps) is int
    assert el.RunConfig(prune=a).key == el.RunConfig(prune=el.PruneConfig()).key


@pytest.mark.parametrize("method", ["magnitude", "at_random"])
def test_iterative_pruning_keeps_no_mask_of_an_earlier_step_alive(method: str) -> None:
    """Global pruning hands each layer a view of one mask of all weights; the hooks must not keep one per step."""
    torch.manual_seed(0)
    model = el.mlp((30, 20, 10, 5))
    for sparsity in (0.2, 0.4, 0.6):
        getattr(el.prune, method)(model, sparsity)
    kept = [m for module in model.modules() for hook in module._forward_pre_hooks.values()
            for m in getattr(hook, "_pruning_methods", (hook,)) if getattr(m, "mask", None) is not None]  # fmt: skip
    assert kept == []
    assert abs(el.prune.sparsity(model)["sparsity"].iloc[-1] - 0.6) < 0.01  # the masks still prune as they should
    model(torch.randn(4, 30)).sum().backward()  # and training goes on
