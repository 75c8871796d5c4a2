"""Tests of ``node_graph`` and ``measure`` against graphs built independently from the weights.

The reference graph is built here from the weight tensors alone (effective weight =
weight_orig * weight_mask after torch pruning), following the rules of
shared/paper/README.md: nodes are Linear neurons / Conv2d channels, an edge joins u to v
when any weight entry from u to v is nonzero (conv -> linear through the flattened
spatial block of channel u), and a node with no nonzero weight in and none out is removed.
Paths are then counted by brute force with networkx (tests/reference.py).
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import prune

from reference import pair_counts, probe_outputs, reduce_values

import emergence_lib as el

# --------------------------------------------------------------------------- reference graph


def effective_weight(module: nn.Module) -> torch.Tensor:
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        return (module.weight_orig * module.weight_mask).detach().clone()
    return module.weight.detach().clone()


def connectivity(prev_kind: str, prev_width: int, w: torch.Tensor, kind: str) -> torch.Tensor:
    """(n_out, n_prev) bool: is there any nonzero weight from prev node u to node v."""
    if kind == "conv":
        assert prev_kind == "conv"
        return (w != 0).flatten(2).any(-1)
    if prev_kind == "conv":
        hw = w.shape[1] // prev_width
        assert hw * prev_width == w.shape[1]
        return (w.reshape(w.shape[0], prev_width, hw) != 0).any(-1)
    return w != 0


class RefGraph:
    """Reference graph over all weight layers of a model described by spec=[(name, kind), ...]."""

    def __init__(self, model: nn.Module, spec):
        mods = dict(model.named_modules())
        self.names = [n for n, _ in spec]
        self.kinds = [k for _, k in spec]
        self.weights = [effective_weight(mods[n]) for n in self.names]
        self.widths = [w.shape[0] for w in self.weights]
        n = len(spec)
        self.conn = [None] + [
            connectivity(self.kinds[l - 1], self.widths[l - 1], self.weights[l], self.kinds[l])
            for l in range(1, n)
        ]
        has_in = [(self.weights[0] != 0).flatten(1).any(1)] + [self.conn[l].any(1) for l in range(1, n)]
        has_out = [self.conn[l + 1].any(0) for l in range(n - 1)] + [torch.zeros(self.widths[-1], dtype=torch.bool)]
        self.kept = [torch.nonzero(i | o).flatten() for i, o in zip(has_in, has_out)]
        self.n_weights = sum(int((w != 0).sum()) for w in self.weights)

    def counted(self, layers: str):
        n = len(self.names)
        return list(range(n - 1)) if layers == "hidden" else list(range(n))

    def adjacency(self, layers: str):
        idx = self.counted(layers)
        return [self.conn[l][self.kept[l]][:, self.kept[l - 1]] for l in idx[1:]]

    def sizes(self, layers: str):
        return tuple(len(self.kept[l]) for l in self.counted(layers))


def candidate_thresholds(values):
    """Non-negative thresholds in gaps between observed values, middle ones first."""
    v = torch.cat([x.flatten() for x in values]).double()
    v = torch.unique(v[v > 0])
    assert len(v) >= 4
    mids = [
        (abs(i - len(v) / 2), float(v[i] + v[i + 1]) / 2)
        for i in range(len(v) - 1)
        if float(v[i + 1] - v[i]) > 1e-4
    ]
    return [t for _, t in sorted(mids)]


# --------------------------------------------------------------------------- models


def sparsify_(model, seed, p=0.35, whole=0.25):
    """Zero random weight entries and, for conv / conv->linear, whole kernels / blocks."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                w = m.weight
                w.mul_((torch.rand(w.shape, generator=gen) >= p).to(w.dtype))
                if isinstance(m, nn.Conv2d):
                    kill = torch.rand(w.shape[:2], generator=gen) < whole
                    w[kill] = 0
    return model


def make_mlp(seed=0, sizes=(6, 7, 6, 5, 4), dropout=0.5):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 2):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


MLP_SPEC = [("0", "linear"), ("3", "linear"), ("6", "linear"), ("9", "linear")]
MLP_PROBES = ["1", "4", "7", "9"]


def make_cnn(seed=0, pool="avg"):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((2, 2)) if pool == "avg" else nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(20, 6),
        nn.ReLU(),
        nn.Linear(6, 3),
    )


CNN_SPEC = [("0", "conv"), ("4", "conv"), ("9", "linear"), ("11", "linear")]
CNN_PROBES = ["2", "6", "10", "11"]


def mlp_probe(seed=100, n=64):
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed))


def cnn_probe(seed=100, n=32):
    return torch.randn(n, 2, 8, 8, generator=torch.Generator().manual_seed(seed))


def counted_probes(probes, layers):
    return probes[:-1] if layers == "hidden" else probes


# --------------------------------------------------------------------------- checks


def check_graph(g, ref: RefGraph, layers, probes):
    idx = ref.counted(layers)
    assert len(g.layers) == len(idx)
    for layer, l in zip(g.layers, idx):
        assert layer.name == ref.names[l]
        assert layer.kind == ref.kinds[l]
        assert layer.width == ref.widths[l]
        assert layer.probe == probes[l]
        assert layer.kept.dtype == torch.int64
        assert torch.equal(layer.kept, ref.kept[l]), (layer.name, layer.kept, ref.kept[l])
    assert tuple(g.sizes) == ref.sizes(layers)
    ref_adj = ref.adjacency(layers)
    assert len(g.adjacency) == len(ref_adj)
    for a, r in zip(g.adjacency, ref_adj):
        assert a.dtype == torch.bool
        assert a.shape == r.shape
        assert torch.equal(a, r)


def check_measure(model, probe, spec, probes, layers, through, threshold=None):
    ref = RefGraph(model, spec)
    names = counted_probes(probes, layers)
    ref_vals = reduce_values(probe_outputs(model, probe, names), "mean")
    if threshold is None:
        # a threshold (from our own activities) for which the reference E is nonzero
        ref_adj = ref.adjacency(layers)
        for threshold in candidate_thresholds(ref_vals):
            masks = [v[ref.kept[l]] > threshold for v, l in zip(ref_vals, ref.counted(layers))]
            if pair_counts(ref_adj, masks, through)[0].sum() > 0:
                break
    g = el.node_graph(model, probe[:2], layers=layers)
    check_graph(g, ref, layers, probes)
    act = el.activity(model, probe, threshold=threshold, layers=layers, graph=g)
    # the library's active masks agree with our own hooks
    for k, l in enumerate(ref.counted(layers)):
        expected = ref_vals[k][ref.kept[l]]
        assert act.values[k].shape == expected.shape
        torch.testing.assert_close(act.values[k].double(), expected.double(), rtol=1e-5, atol=1e-6)
        assert torch.equal(act.active[k], expected > threshold)
    active = act.active
    E, T = pair_counts(ref.adjacency(layers), active, through)
    e_total, t_total = int(E.sum()), int(T.sum())
    assert e_total > 0, "test graph must have nonzero emergence to be meaningful"

    res = el.measure(model, probe, threshold=threshold, layers=layers, through=through, per_pair=True)
    assert res.absolute == e_total
    assert res.log10_absolute == pytest.approx(math.log10(e_total), rel=1e-12)
    assert res.n_weights == ref.n_weights
    assert res.relative == pytest.approx(e_total / ref.n_weights, rel=1e-12)
    assert res.log10_relative == pytest.approx(math.log10(e_total / ref.n_weights), rel=1e-9, abs=1e-12)
    assert tuple(res.layer_sizes) == ref.sizes(layers)
    assert tuple(res.active_counts) == tuple(int(a.sum()) for a in active)
    assert res.fraction == pytest.approx(e_total / t_total, rel=1e-12)
    assert 0.0 <= res.fraction <= 1.0
    pairs = [(i, j) for i in range(len(active)) for j in range(i + 1, len(active)) if T[i, j] > 0]
    balanced = sum(E[i, j] / T[i, j] for i, j in pairs) / len(pairs)
    assert res.balanced == pytest.approx(balanced, rel=1e-12)
    pp = np.asarray(res.per_pair)
    assert pp.shape == (len(active), len(active))
    for i in range(len(active)):
        for j in range(len(active)):
            if i < j and E[i, j] > 0:
                assert pp[i, j] == pytest.approx(math.log10(E[i, j]), rel=1e-12, abs=1e-12)
            else:
                assert pp[i, j] == -math.inf
    assert res.threshold == threshold
    assert res.reduce == "mean"
    assert res.layers == layers
    assert res.through == through
    return res, ref


# --------------------------------------------------------------------------- graph structure


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layers", ["hidden", "hidden+output"])
def test_mlp_graph_matches_reference(seed, layers):
    model = sparsify_(make_mlp(seed), seed)
    ref = RefGraph(model, MLP_SPEC)
    g = el.node_graph(model, layers=layers)
    check_graph(g, ref, layers, MLP_PROBES)
    g2 = el.node_graph(model, mlp_probe()[:3], layers=layers)
    check_graph(g2, ref, layers, MLP_PROBES)


def test_mlp_graph_dense_has_full_adjacency():
    model = make_mlp(0)
    g = el.node_graph(model)
    assert g.sizes == (7, 6, 5)
    assert [tuple(a.shape) for a in g.adjacency] == [(6, 7), (5, 6)]
    assert all(bool(a.all()) for a in g.adjacency)


@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("layers", ["hidden", "hidden+output"])
def test_cnn_graph_matches_reference(pool, seed, layers):
    model = sparsify_(make_cnn(seed, pool), seed, p=0.5, whole=0.3)
    ref = RefGraph(model, CNN_SPEC)
    # conv -> linear block structure is really exercised: some block partly zero, edge kept
    w = ref.weights[2].reshape(6, 5, 4)
    partial = ((w != 0).any(-1) & ~(w != 0).all(-1)).any()
    assert bool(partial)
    assert not bool(ref.conn[2].all()) and not bool(ref.conn[1].all())
    g = el.node_graph(model, cnn_probe()[:2], layers=layers)
    check_graph(g, ref, layers, CNN_PROBES)
    g_noinput = el.node_graph(model, layers=layers)
    check_graph(g_noinput, ref, layers, CNN_PROBES)


def test_conv_to_linear_uses_channel_blocks():
    # only the spatial block of channel 2 feeds linear unit 0, only one entry of it
    model = make_cnn(0)
    with torch.no_grad():
        model[9].weight.zero_()
        model[9].weight[0, 2 * 4 + 3] = 1.0  # channel 2, last spatial position
        model[9].weight[1, 4 * 4 + 0] = 1.0  # channel 4, first spatial position
    g = el.node_graph(model)
    b = g.adjacency[1]  # conv "4" (5 ch) -> linear "9" (6 units)
    # linear units 2..5 have no inputs and no outputs? they do have outputs to "11" -> kept
    assert g.sizes == (4, 5, 6)
    expected = torch.zeros(6, 5, dtype=torch.bool)
    expected[0, 2] = True
    expected[1, 4] = True
    assert torch.equal(b, expected)


# --------------------------------------------------------------------------- measure vs brute force


@pytest.mark.parametrize("through", ["any", "active"])
@pytest.mark.parametrize("layers", ["hidden", "hidden+output"])
@pytest.mark.parametrize("seed", [0, 1])
def test_measure_mlp_matches_pair_counts(through, layers, seed):
    model = sparsify_(make_mlp(seed), seed, p=0.3)
    model.eval()
    check_measure(model, mlp_probe(seed), MLP_SPEC, MLP_PROBES, layers, through)


@pytest.mark.parametrize("through", ["any", "active"])
@pytest.mark.parametrize("layers", ["hidden", "hidden+output"])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_measure_cnn_matches_pair_counts(through, layers, pool):
    model = sparsify_(make_cnn(1, pool), 1, p=0.4, whole=0.3)
    check_measure(model, cnn_probe(1), CNN_SPEC, CNN_PROBES, layers, through)


def test_emergence_result_is_frozen_and_record_is_flat():
    model = make_mlp(0).eval()
    res = el.measure(model, mlp_probe())
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.absolute = 1.0
    rec = res.as_record()
    assert isinstance(rec, dict)
    for k, v in rec.items():
        assert isinstance(k, str)
        assert v is None or isinstance(v, (int, float, str, bool)), (k, type(v))
    assert res.per_pair is None


def deep_dense_mlp(depth, width, n_in=8, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(n_in, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def test_measure_infinite_plain_value_has_finite_log():
    # 170 dense hidden layers of width 96: E ~ 96**168 overflows float64, its log does not
    depth, width = 170, 96
    model = deep_dense_mlp(depth, width)
    probe = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    names = [str(2 * k + 1) for k in range(depth)]
    counts = [int((v > 0).sum()) for v in reduce_values(probe_outputs(model, probe, names), "mean")]
    # dense graph: closed form in python ints
    exact = 0
    for i in range(depth):
        prod = 1
        for j in range(i + 1, depth):
            exact += (width - counts[i]) * counts[j] * prod
            prod *= width
    assert exact > 10**310
    res = el.measure(model, probe, threshold=0.0)
    assert tuple(res.layer_sizes) == (width,) * depth
    assert tuple(res.active_counts) == tuple(counts)
    assert res.absolute == math.inf
    assert res.log10_absolute == pytest.approx(math.log10(exact), rel=1e-9)
    assert res.log10_relative == pytest.approx(math.log10(exact) - math.log10(res.n_weights), rel=1e-9)


# --------------------------------------------------------------------------- pruning


def test_l1_unstructured_pruning_changes_graph():
    model = make_mlp(0)
    before = el.node_graph(model)
    assert all(bool(a.all()) for a in before.adjacency)
    prune.l1_unstructured(model[3], "weight", amount=0.5)
    ref = RefGraph(model, MLP_SPEC)
    assert int((ref.weights[1] == 0).sum()) == 21  # half of 6 * 7 rounded
    g = el.node_graph(model)
    check_graph(g, ref, "hidden", MLP_PROBES)
    assert not torch.equal(g.adjacency[0], before.adjacency[0])
    assert torch.equal(g.adjacency[0], (model[3].weight_orig * model[3].weight_mask != 0))
    res = el.measure(model.eval(), mlp_probe())
    total = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    assert res.n_weights == total - 21


def test_random_unstructured_pruning_cnn():
    model = make_cnn(2)
    prune.random_unstructured(model[4], "weight", amount=0.5)
    prune.random_unstructured(model[9], "weight", amount=0.5)
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    ref = RefGraph(model, CNN_SPEC)
    g = el.node_graph(model)
    check_graph(g, ref, "hidden", CNN_PROBES)
    check_graph(el.node_graph(model, layers="hidden+output"), ref, "hidden+output", CNN_PROBES)
    res = el.measure(model, cnn_probe())
    assert res.n_weights == ref.n_weights
    assert res.n_weights == sum(
        int((effective_weight(m) != 0).sum()) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
    )


def test_heavy_random_pruning_removes_edges_cnn():
    # at 90% random pruning the conv kernels lose whole (v, u) connections
    model = make_cnn(4)
    prune.random_unstructured(model[4], "weight", amount=0.9)
    prune.random_unstructured(model[9], "weight", amount=0.9)
    ref = RefGraph(model, CNN_SPEC)
    assert not bool(ref.conn[1].all()) and not bool(ref.conn[2].all())
    check_graph(el.node_graph(model), ref, "hidden", CNN_PROBES)


def test_global_pruning_and_measure_matches_pair_counts():
    model = make_mlp(5)
    params = [(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.6)
    model.eval()
    check_measure(model, mlp_probe(5), MLP_SPEC, MLP_PROBES, "hidden", "any")


def test_effective_weight_uses_orig_times_mask_even_if_weight_is_stale():
    # after an optimizer step weight_orig changes but module.weight is only recomputed in
    # the next forward: the graph must follow weight_orig * weight_mask
    model = make_mlp(0)
    prune.l1_unstructured(model[3], "weight", amount=0.3)
    with torch.no_grad():
        model[3].weight_orig[2].zero_()  # row 2 of layer "3" loses all inputs
        model[6].weight[:, 2] = 0.0  # ...and all outputs
    assert bool((model[3].weight[2] != 0).any())  # the stale attribute still has weights
    ref = RefGraph(model, MLP_SPEC)
    assert 2 not in ref.kept[1].tolist()
    g = el.node_graph(model)
    check_graph(g, ref, "hidden", MLP_PROBES)


def test_zeroing_weights_by_hand():
    model = make_mlp(1)
    with torch.no_grad():
        model[3].weight[0, :] = 0.0  # node 0 of layer "3": no input, still has output
        model[3].weight[:, 1] = 0.0  # node 1 of layer "0": no output, still has input
        model[6].weight[4, 3] = 0.0
        model[6].weight[2, :5] = 0.0
    ref = RefGraph(model, MLP_SPEC)
    g = el.node_graph(model)
    check_graph(g, ref, "hidden", MLP_PROBES)
    assert g.sizes == (7, 6, 5)  # nothing isolated
    assert not bool(g.adjacency[0][0].any())
    assert not bool(g.adjacency[0][:, 1].any())
    assert not bool(g.adjacency[1][4, 3])


def test_structured_pruning_removes_node():
    model = make_mlp(2)
    with torch.no_grad():
        model[3].weight[2, :] = 0.0  # no input to node 2 of layer "3"
        model[6].weight[:, 2] = 0.0  # no output from it
        model[0].weight[5, :] = 0.0  # node 5 of the first layer: no input pixels
        model[3].weight[:, 5] = 0.0  # ...and no output
    g = el.node_graph(model)
    assert g.sizes == (6, 5, 5)
    assert g.layers[0].kept.tolist() == [0, 1, 2, 3, 4, 6]
    assert g.layers[1].kept.tolist() == [0, 1, 3, 4, 5]
    assert g.layers[1].width == 6
    check_graph(g, RefGraph(model, MLP_SPEC), "hidden", MLP_PROBES)
    act = el.activity(model.eval(), mlp_probe(), graph=g)
    assert [a.shape[0] for a in act.active] == [6, 5, 5]
    res = el.measure(model, mlp_probe())
    assert tuple(res.layer_sizes) == (6, 5, 5)


def test_ln_structured_pruning_with_outgoing_columns_removes_nodes():
    model = make_mlp(3)
    prune.ln_structured(model[3], "weight", amount=0.5, n=1, dim=0)  # 3 of 6 rows
    dead = (model[3].weight_mask.sum(1) == 0).nonzero().flatten().tolist()
    assert len(dead) == 3
    # rows without input but with output stay in the graph
    ref = RefGraph(model, MLP_SPEC)
    assert ref.sizes("hidden") == (7, 6, 5)
    check_graph(el.node_graph(model), ref, "hidden", MLP_PROBES)
    # remove their outgoing columns as well (structured pruning of the node)
    mask = torch.ones_like(model[6].weight)
    mask[:, dead] = 0
    prune.custom_from_mask(model[6], "weight", mask)
    ref = RefGraph(model, MLP_SPEC)
    assert ref.sizes("hidden") == (7, 3, 5)
    g = el.node_graph(model)
    check_graph(g, ref, "hidden", MLP_PROBES)
    assert sorted(set(range(6)) - set(g.layers[1].kept.tolist())) == sorted(dead)


def test_structured_pruning_of_conv_channel():
    model = make_cnn(0)
    with torch.no_grad():
        model[4].weight[1] = 0.0  # channel 1 of conv "4": no input
        model[9].weight[:, 4:8] = 0.0  # its spatial block into the linear layer: no output
        model[0].weight[3] = 0.0  # channel 3 of conv "0": no input...
        model[4].weight[:, 3] = 0.0  # ...no output
    g = el.node_graph(model)
    assert g.sizes == (3, 4, 6)
    assert g.layers[0].kept.tolist() == [0, 1, 2]
    assert g.layers[1].kept.tolist() == [0, 2, 3, 4]
    check_graph(g, RefGraph(model, CNN_SPEC), "hidden", CNN_PROBES)
    act = el.activity(model, cnn_probe(), graph=g)
    assert [a.shape[0] for a in act.values] == [3, 4, 6]


def test_output_node_without_input_is_removed_in_hidden_plus_output():
    model = make_mlp(0)
    with torch.no_grad():
        model[9].weight[1] = 0.0
    g = el.node_graph(model, layers="hidden+output")
    assert g.layers[-1].kept.tolist() == [0, 2, 3]
    check_graph(g, RefGraph(model, MLP_SPEC), "hidden+output", MLP_PROBES)


# --------------------------------------------------------------------------- counted layers


def test_hidden_plus_output_adds_output_layer():
    model = sparsify_(make_mlp(4), 4)
    gh = el.node_graph(model, layers="hidden")
    go = el.node_graph(model, layers="hidden+output")
    assert len(go.layers) == len(gh.layers) + 1
    assert go.sizes[:-1] == gh.sizes
    assert go.layers[-1].name == "9" and go.layers[-1].probe == "9" and go.layers[-1].kind == "linear"
    for a, b in zip(gh.adjacency, go.adjacency):
        assert torch.equal(a, b)
    assert go.adjacency[-1].shape == (go.sizes[-1], go.sizes[-2])


def test_one_hidden_layer_mlp_needs_output_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    x = torch.randn(8, 5)
    with pytest.raises(ValueError, match=re.escape("hidden+output")):
        el.node_graph(model)
    with pytest.raises(ValueError, match=re.escape("hidden+output")):
        el.measure(model, x)
    with pytest.raises(ValueError, match=re.escape("hidden+output")):
        el.activity(model, x)
    g = el.node_graph(model, layers="hidden+output")
    assert g.sizes == (4, 3)
    res = el.measure(model, x, layers="hidden+output", threshold=0.0)
    assert res.layer_sizes == (4, 3)


@pytest.mark.parametrize(
    "act",
    [nn.Tanh, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Softplus, nn.ELU, lambda: nn.LeakyReLU(0.1)],
)
def test_other_activation_modules(act):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), act(), nn.Linear(4, 6), act(), nn.Linear(6, 2))
    g = el.node_graph(model)
    assert [l.name for l in g.layers] == ["0", "2"]
    assert [l.probe for l in g.layers] == ["1", "3"]
    assert g.sizes == (4, 6)


def test_batchnorm1d_mlp_probe_is_activation():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(6, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2),
    )
    g = el.node_graph(model, layers="hidden+output")
    assert [l.name for l in g.layers] == ["0", "4", "7"]
    assert [l.probe for l in g.layers] == ["2", "6", "7"]


class NestedCNN(nn.Module):
    """VGG-like: features / classifier with a functional flatten in forward."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)),
        )
        self.classifier = nn.Sequential(nn.Linear(20, 6), nn.ReLU(), nn.Linear(6, 3))

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class ViewCNN(NestedCNN):
    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


@pytest.mark.parametrize("cls", [NestedCNN, ViewCNN])
def test_custom_module_with_functional_flatten(cls):
    seq = sparsify_(make_cnn(6), 6, p=0.4, whole=0.3)
    model = cls()
    model.features.load_state_dict({k: v for k, v in seq.state_dict().items() if int(k.split(".")[0]) < 8})
    model.classifier.load_state_dict(
        {f"{int(k.split('.')[0]) - 9}.{k.split('.', 1)[1]}": v for k, v in seq.state_dict().items()
         if int(k.split(".")[0]) >= 9}
    )
    spec = [("features.0", "conv"), ("features.4", "conv"), ("classifier.0", "linear"), ("classifier.2", "linear")]
    probes = ["features.2", "features.6", "classifier.1", "classifier.2"]
    probe = cnn_probe(6)
    ref = RefGraph(model, spec)
    g = el.node_graph(model, probe[:2], layers="hidden+output")
    check_graph(g, ref, "hidden+output", probes)
    res_seq = el.measure(seq, probe, threshold=0.1)
    res = el.measure(model, probe, threshold=0.1)
    assert res.absolute == res_seq.absolute
    assert res.active_counts == res_seq.active_counts
    check_measure(model, probe, spec, probes, "hidden", "any")


# --------------------------------------------------------------------------- unsupported models


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 6)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(6, 6)
        self.fc3 = nn.Linear(6, 4)
        self.act3 = nn.ReLU()
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        x = self.act1(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.act3(self.fc3(x))
        return self.out(x)


def test_a_functional_activation_counts_as_its_module():
    torch.manual_seed(0)
    model = FunctionalReLU()
    chain = nn.Sequential(model.fc1, nn.ReLU(), model.fc2, nn.ReLU(), model.fc3, nn.ReLU(), model.out)
    x = torch.randn(16, 5)
    assert [layer.probe for layer in el.node_graph(model).layers] == ["act1", "relu", "act3"]
    assert el.measure(model, x, threshold=0.1) == el.measure(chain, x, threshold=0.1)


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 6, batch_first=True)
        self.fc1 = nn.Linear(6, 6)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(6, 4)
        self.act2 = nn.ReLU()
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(self.act2(self.fc2(self.act1(self.fc1(h[:, -1])))))


def _unsupported_cases():
    torch.manual_seed(0)
    return [
        ("lstm", LSTMNet(), torch.randn(4, 3, 5), r"LSTM"),
        (
            "conv1d",
            nn.Sequential(
                nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Conv1d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)
            ),
            torch.randn(4, 2, 6),
            r"Conv1d",
        ),
    ]


@pytest.mark.parametrize("case", range(2), ids=["lstm", "conv1d"])
def test_unsupported_models_raise(case):
    name, model, x, pattern = _unsupported_cases()[case]
    model(x)  # the model itself runs
    assert issubclass(el.UnsupportedModelError, ValueError)
    with pytest.raises(el.UnsupportedModelError, match=pattern):
        el.node_graph(model, x)
    with pytest.raises(el.UnsupportedModelError, match=pattern):
        el.measure(model, x)
