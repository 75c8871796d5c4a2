"""Tests of ``activity`` and of the side effects of ``activity`` / ``measure``.

Reference activities are computed with our own forward hooks on a deep copy of the model
(BatchNorm on the probe batch's statistics, dropout off), following shared/paper/README.md.
"""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.nn.modules import module as module_mod
from torch.nn.utils import prune

from reference import emergence, pair_counts, probe_outputs, reduce_values

import emergence_lib as el

# --------------------------------------------------------------------------- models and references


def make_mlp(seed=0, dropout=0.5):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(8, 7), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(7, 5), nn.ReLU(),
        nn.Linear(5, 3),
    )


MLP_PROBES = ["1", "4", "7"]


def make_bn_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(8, 7), nn.BatchNorm1d(7, momentum=None), nn.ReLU(),
        nn.Linear(7, 3),
    )


BN_MLP_PROBES = ["2", "6"]


def make_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(20, 6), nn.ReLU(), nn.Linear(6, 3),
    )


CNN_PROBES = ["2", "6", "11"]


def make_cnn_nobn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(20, 6), nn.ReLU(), nn.Linear(6, 3),
    )


CNN_NOBN_PROBES = ["1", "4", "8"]


def mlp_probe(seed=100, n=64):
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed))


def cnn_probe(seed=100, n=32):
    return torch.randn(n, 2, 8, 8, generator=torch.Generator().manual_seed(seed))


def assert_values_close(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape, (g.shape, e.shape)
        torch.testing.assert_close(g.detach().double(), e.double(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- state snapshots


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().flatten().view(torch.uint8).clone()


def hook_snapshot(model):
    snap = {}
    for name, m in model.named_modules():
        snap[name] = (
            dict(m._forward_hooks),
            dict(m._forward_pre_hooks),
            dict(getattr(m, "_forward_hooks_with_kwargs", {})),
            dict(getattr(m, "_forward_pre_hooks_with_kwargs", {})),
            dict(getattr(m, "_backward_hooks", {})),
        )
    snap["<global>"] = (
        dict(module_mod._global_forward_hooks),
        dict(module_mod._global_forward_pre_hooks),
    )
    return snap


def state_snapshot(model):
    return {
        "params": {n: (p.dtype, p.shape, _bits(p), p.requires_grad) for n, p in model.named_parameters()},
        "buffers": {n: (b.dtype, b.shape, _bits(b)) for n, b in model.named_buffers()},
        "training": {n: m.training for n, m in model.named_modules()},
        "grads": {n: None if p.grad is None else _bits(p.grad) for n, p in model.named_parameters()},
    }


def assert_same_state(before, after):
    assert before["training"] == after["training"]
    assert before["params"].keys() == after["params"].keys()
    for n in before["params"]:
        b, a = before["params"][n], after["params"][n]
        assert b[0] == a[0] and b[1] == a[1] and b[3] == a[3], n
        assert torch.equal(b[2], a[2]), f"parameter {n} changed"
    assert before["buffers"].keys() == after["buffers"].keys()
    for n in before["buffers"]:
        b, a = before["buffers"][n], after["buffers"][n]
        assert b[0] == a[0] and b[1] == a[1], n
        assert torch.equal(b[2], a[2]), f"buffer {n} changed"
    assert before["grads"].keys() == after["grads"].keys()
    for n in before["grads"]:
        b, a = before["grads"][n], after["grads"][n]
        assert (b is None) == (a is None), f"grad of {n} appeared/disappeared"
        if b is not None:
            assert torch.equal(b, a), f"grad of {n} changed"


def _set_mode(model, mode):
    if mode == "train":
        model.train()
    elif mode == "eval":
        model.eval()
    else:  # mixed: train, but some submodules in eval
        model.train()
        for i, m in enumerate(model.modules()):
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and i % 2 == 0:
                m.eval()
            if isinstance(m, nn.Dropout) and i % 2 == 1:
                m.eval()
        mods = list(model.modules())
        assert len({m.training for m in mods}) == 2
    return model


def _with_grads(model, x):
    # populate .grad of some parameters (not all: the last layer's bias keeps grad None)
    out = model(x).sum()
    out.backward()
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    last.bias.grad = None
    return model


# --------------------------------------------------------------------------- hooks


@pytest.mark.parametrize("make,probe", [(make_mlp, mlp_probe), (make_cnn, cnn_probe)])
def test_hooks_removed(make, probe):
    model = make()
    user_calls = []
    model[0].register_forward_hook(lambda m, i, o: user_calls.append(1))
    model[2].register_forward_pre_hook(lambda m, i: None)
    before = hook_snapshot(model)
    el.activity(model, probe())
    assert hook_snapshot(model) == before
    el.measure(model, probe())
    assert hook_snapshot(model) == before
    el.node_graph(model, probe()[:2])
    assert hook_snapshot(model) == before
    for reduce in ("any", "per_sample"):
        el.activity(model, probe(), reduce=reduce, layers="hidden+output")
        assert hook_snapshot(model) == before


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("make,probe,names", [(make_mlp, mlp_probe, MLP_PROBES), (make_cnn, cnn_probe, CNN_PROBES)])
def test_hooks_removed_when_forward_raises(make, probe, names):
    model = make()
    x = probe()
    graph = el.node_graph(model, x[:2])
    mods = dict(model.named_modules())
    _set_mode(model, "train")
    before_state = state_snapshot(model)

    def boom(m, i, o):
        raise Boom("boom")

    # registered before the library's hooks on the same (probed) module: fires first
    handle = mods[names[1]].register_forward_hook(boom)
    before = hook_snapshot(model)
    with pytest.raises(Exception):
        el.activity(model, x, graph=graph)
    assert hook_snapshot(model) == before
    with pytest.raises(Exception):
        el.measure(model, x)
    assert hook_snapshot(model) == before
    handle.remove()
    # modes, parameters and buffers are restored as well
    assert_same_state(before_state, state_snapshot(model))


def test_hooks_removed_when_probe_has_wrong_shape():
    model = make_mlp()
    graph = el.node_graph(model)
    before = hook_snapshot(model)
    with pytest.raises(Exception):
        el.activity(model, torch.randn(10, 5), graph=graph)  # 5 features instead of 6
    assert hook_snapshot(model) == before
    with pytest.raises(Exception):
        el.measure(model, torch.randn(10, 5))
    assert hook_snapshot(model) == before


# --------------------------------------------------------------------------- state is preserved


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
@pytest.mark.parametrize(
    "make,probe", [(make_mlp, mlp_probe), (make_bn_mlp, mlp_probe), (make_cnn, cnn_probe)]
)
def test_state_unchanged(make, probe, mode):
    model = make()
    x = probe()
    # give BN non-trivial running statistics first
    model.train()
    with torch.no_grad():
        model(x * 2 + 1)
    _with_grads(model, x)
    _set_mode(model, mode)
    before = state_snapshot(model)
    el.activity(model, x)
    assert_same_state(before, state_snapshot(model))
    el.activity(model, x, reduce="per_sample", layers="hidden+output")
    assert_same_state(before, state_snapshot(model))
    el.measure(model, x, reduce="any", through="active", per_pair=True)
    assert_same_state(before, state_snapshot(model))
    el.measure(model, x, reduce="per_sample")
    assert_same_state(before, state_snapshot(model))


def test_state_unchanged_fresh_bn_and_pruned():
    model = make_cnn(3)
    prune.l1_unstructured(model[4], "weight", amount=0.5)
    prune.random_unstructured(model[10], "weight", amount=0.5)
    model.train()
    _with_grads(model, cnn_probe())
    # a fresh BN net: running stats are the defaults, num_batches_tracked counts one step
    before = state_snapshot(model)
    el.measure(model, cnn_probe())
    el.activity(model.eval(), cnn_probe())
    model.train()
    assert_same_state(before, state_snapshot(model))
    assert int(model[1].num_batches_tracked) == 1


def test_measure_does_not_create_grads():
    model = make_mlp()
    x = mlp_probe()
    el.measure(model, x)
    assert all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------------- dropout and batchnorm


def test_dropout_off_in_train_mode():
    model = make_mlp(1, dropout=0.5).train()
    x = mlp_probe(1)
    a1 = el.activity(model, x)
    a2 = el.activity(model, x)
    for v1, v2 in zip(a1.values, a2.values):
        assert torch.equal(v1, v2)
    r1 = el.measure(model, x)
    r2 = el.measure(model, x)
    assert r1 == r2 or r1.as_record() == r2.as_record()
    # ...and equal to the model measured in eval mode and to our own eval-mode hooks
    r_eval = el.measure(copy.deepcopy(model).eval(), x)
    assert r_eval.as_record() == r1.as_record()
    expected = reduce_values(probe_outputs(model, x, MLP_PROBES, bn_batch_stats=False), "mean")
    assert_values_close(a1.values, expected)
    # sanity: with dropout on, the deeper activities would differ
    torch.manual_seed(0)
    m = copy.deepcopy(model).train()
    outs = []
    h = m[4].register_forward_hook(lambda mod, i, o: outs.append(o.mean(0)))
    with torch.no_grad():
        m(x)
    h.remove()
    assert not torch.allclose(outs[0], expected[1])


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(
    "make,probe,names", [(make_cnn, cnn_probe, CNN_PROBES), (make_bn_mlp, mlp_probe, BN_MLP_PROBES)]
)
def test_batchnorm_uses_probe_statistics(make, probe, names, mode):
    model = make(2)
    x = probe(2) * 3 + 0.5  # far from the default running stats (0, 1)
    _set_mode(model, mode)
    act = el.activity(model, x)
    expected = reduce_values(probe_outputs(model, x, names, bn_batch_stats=True), "mean")
    assert_values_close(act.values, expected)
    # sanity: running (untrained) statistics would give different activities
    running = reduce_values(probe_outputs(model, x, names, bn_batch_stats=False), "mean")
    assert not torch.allclose(running[0], expected[0], atol=1e-3)


def test_fresh_bn_net_matches_train_mode_deep_copy():
    model = make_cnn(5).eval()
    x = cnn_probe(5)
    twin = copy.deepcopy(model).train()
    for m in twin.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    mods = dict(twin.named_modules())
    outs = {}
    hs = [mods[n].register_forward_hook(lambda mod, i, o, n=n: outs.__setitem__(n, o)) for n in CNN_PROBES]
    with torch.no_grad():
        twin(x)
    for h in hs:
        h.remove()
    threshold = 0.2
    act = el.activity(model, x, threshold=threshold)
    for k, n in enumerate(CNN_PROBES):
        o = outs[n]
        mean = o.mean(dim=(0, 2, 3)) if o.dim() == 4 else o.mean(0)
        torch.testing.assert_close(act.values[k], mean, rtol=1e-5, atol=1e-6)
        assert torch.equal(act.active[k], act.values[k] > threshold)
    res = el.measure(model, x, threshold=threshold)
    assert res.active_counts == tuple(int(a.sum()) for a in act.active)


# --------------------------------------------------------------------------- thresholds and reduce


@pytest.mark.parametrize("reduce", ["mean", "any", "per_sample"])
@pytest.mark.parametrize(
    "make,probe,names",
    [
        (make_mlp, mlp_probe, MLP_PROBES + ["8"]),
        (make_cnn_nobn, cnn_probe, CNN_NOBN_PROBES + ["9"]),
        (make_cnn, cnn_probe, CNN_PROBES + ["12"]),
    ],
)
@pytest.mark.parametrize("layers", ["hidden", "hidden+output"])
def test_values_match_own_hooks(make, probe, names, reduce, layers):
    model = make(7)
    x = probe(7)
    names = names if layers == "hidden+output" else names[:-1]
    threshold = 0.07
    act = el.activity(model, x, threshold=threshold, reduce=reduce, layers=layers)
    expected = reduce_values(probe_outputs(model, x, names), reduce)
    assert_values_close(act.values, expected)
    for v, a in zip(act.values, act.active):
        assert a.dtype == torch.bool
        assert a.shape == v.shape
        assert torch.equal(a, v > threshold)
    n_active = sum(int(a.sum()) for a in act.active)
    n_total = sum(a.numel() for a in act.active)
    assert 0 < n_active < n_total


class ReusedActivation(nn.Module):
    """One ReLU module called after every hidden layer, as torchvision's ResNet blocks do."""

    def __init__(self, linears):
        super().__init__()
        self.linears = nn.ModuleList(linears)
        self.act = nn.ReLU()

    def forward(self, x):
        for linear in self.linears[:-1]:
            x = self.act(linear(x))
        return self.linears[-1](x)


# Last hidden layer the widest (it used to give every layer its activity) or not (it used to raise IndexError).
@pytest.mark.parametrize("widths", [(6, 4, 5, 8, 3), (6, 8, 5, 4, 3)])
@pytest.mark.parametrize("reduce", ["mean", "per_sample"])
def test_a_reused_activation_module_gives_one_record_per_call(widths, reduce):
    torch.manual_seed(0)
    linears = [nn.Linear(a, b) for a, b in zip(widths, widths[1:])]
    reused = ReusedActivation(linears)
    separate = nn.Sequential(*[m for linear in linears[:-1] for m in (linear, nn.ReLU())], linears[-1])
    graph = el.node_graph(reused, layers="hidden+output")
    assert [(layer.probe, layer.probe_call) for layer in graph.layers] == [
        ("act", 0), ("act", 1), ("act", 2), ("linears.3", 0)
    ]
    x = mlp_probe(3)
    for layers in ("hidden", "hidden+output"):
        got = el.activity(reused, x, reduce=reduce, layers=layers)
        expected = el.activity(separate, x, reduce=reduce, layers=layers)
        assert_values_close(got.values, expected.values)
        assert [v.shape[-1] for v in got.values] == list(el.node_graph(separate, layers=layers).sizes)
        assert el.measure(reused, x, reduce=reduce, layers=layers).absolute == pytest.approx(
            el.measure(separate, x, reduce=reduce, layers=layers).absolute
        )


def test_captured_activity_is_not_changed_by_a_later_in_place_module():
    # The activity of the first layer is read at the Tanh; the ReLU after it works in place on that output.
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.ReLU(inplace=True), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3))
    x = mlp_probe(1)
    expected = torch.tanh(model[0](x)).mean(dim=0).detach()
    assert bool((expected < 0).any())  # so an in-place ReLU would change it
    got = el.activity(model, x)
    assert_values_close(got.values[:1], [expected])


def test_threshold_is_strict_and_default_is_0_05():
    model = make_cnn_nobn(8)
    x = cnn_probe(8)
    act = el.activity(model, x)
    expected = reduce_values(probe_outputs(model, x, CNN_NOBN_PROBES), "mean")
    for e, a in zip(expected, act.active):
        # default threshold 0.05 (only checked away from the boundary)
        clear = (e - 0.05).abs() > 1e-4
        assert torch.equal(a[clear], (e > 0.05)[clear])
    # a threshold equal to a node's own value leaves that node inactive
    k = 1
    v = act.values[k]
    i = int(torch.argmax((v > 0).float() * v))  # largest positive value
    t = float(v[i])
    act_t = el.activity(model, x, threshold=t)
    assert not bool(act_t.active[k][i])
    assert torch.equal(act_t.active[k], act_t.values[k] > t)
    # zero threshold: dead ReLU units (exactly zero mean) are inactive
    act0 = el.activity(model, x, threshold=0.0)
    for val, a in zip(act0.values, act0.active):
        assert torch.equal(a, val > 0)


def test_threshold_changes_active_counts_monotonically():
    model = make_mlp(9).eval()
    x = mlp_probe(9)
    counts = [sum(el.measure(model, x, threshold=t).active_counts) for t in (0.0, 0.02, 0.05, 0.1, 0.3, 10.0)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1] == 0


def test_any_is_superset_of_mean():
    model = make_mlp(3)
    x = mlp_probe(3)
    am = el.activity(model, x, reduce="mean")
    aa = el.activity(model, x, reduce="any")
    strict = False
    for m, a in zip(am.active, aa.active):
        assert bool((a | ~m).all())
        strict |= bool((a & ~m).any())
    assert strict


def test_per_sample_measure_is_mean_of_single_sample_measures():
    model = make_mlp(11, dropout=0.5).train()  # no BN: a single sample is measured alike
    x = mlp_probe(11, n=12)
    threshold = 0.1
    res = el.measure(model, x, threshold=threshold, reduce="per_sample")
    singles = [el.measure(model, x[b : b + 1], threshold=threshold) for b in range(len(x))]
    es = [s.absolute for s in singles]
    assert len(set(es)) > 2, "per-sample emergence must vary for this test to be meaningful"
    mean_e = sum(es) / len(es)
    assert res.absolute == pytest.approx(mean_e, rel=1e-9)
    assert res.log10_absolute == pytest.approx(math.log10(mean_e), rel=1e-9)
    counts = [s.active_counts for s in singles]
    mean_counts = tuple(sum(c[k] for c in counts) / len(counts) for k in range(len(counts[0])))
    assert res.active_counts == pytest.approx(mean_counts, rel=1e-12)
    assert res.reduce == "per_sample"
    # the mean-activity E is a different number
    assert el.measure(model, x, threshold=threshold).absolute != pytest.approx(mean_e, rel=1e-6)
    # independent: brute-force counts on per-sample masks from our own hooks
    graph = el.node_graph(model)
    per_sample = probe_outputs(model, x, MLP_PROBES, bn_batch_stats=False)
    brute = []
    for b in range(len(x)):
        active = [o[b][layer.kept] > threshold for o, layer in zip(per_sample, graph.layers)]
        brute.append(emergence(graph.adjacency, active))
    assert es == brute
    assert res.absolute == pytest.approx(sum(brute) / len(brute), rel=1e-9)
    # values of activity(per_sample): (B, n_k)
    act = el.activity(model, x, threshold=threshold, reduce="per_sample")
    assert [tuple(v.shape) for v in act.values] == [(12, n) for n in graph.sizes]


def test_per_sample_overflow_uses_log_mean_exp():
    # deep dense net: per-sample E overflow float64; the mean must still be right in log
    torch.manual_seed(0)
    depth, width = 170, 96
    layers = [nn.Linear(4, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 2))
    model = nn.Sequential(*layers)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    names = [str(2 * k + 1) for k in range(depth)]
    per_sample = probe_outputs(model, x, names)
    exact = []
    for b in range(len(x)):
        counts = [int((o[b] > 0).sum()) for o in per_sample]
        e = 0
        for i in range(depth):
            prod = 1
            for j in range(i + 1, depth):
                e += (width - counts[i]) * counts[j] * prod
                prod *= width
        exact.append(e)
    assert all(e > 10**310 for e in exact)
    assert len(set(exact)) == len(exact)
    res = el.measure(model, x, threshold=0.0, reduce="per_sample")
    assert res.log10_absolute == pytest.approx(math.log10(sum(exact)) - math.log10(len(exact)), rel=1e-9)
    assert res.absolute == math.inf
    mean_counts = [float((o > 0).sum(1).double().mean()) for o in per_sample]
    assert res.active_counts == pytest.approx(mean_counts, rel=1e-12)


# --------------------------------------------------------------------------- errors


def names_all(*words):
    return "(?s)^" + "".join(f"(?=.*{re.escape(w)})" for w in words)


@pytest.mark.parametrize("bad", ["median", "ANY", "sum", "", None])
def test_bad_reduce(bad):
    model, x = make_mlp(), mlp_probe()
    with pytest.raises(ValueError, match=names_all("mean", "any", "per_sample")):
        el.activity(model, x, reduce=bad)
    with pytest.raises(ValueError, match=names_all("mean", "any", "per_sample")):
        el.measure(model, x, reduce=bad)


@pytest.mark.parametrize("bad", ["all", "output", "hidden+input", "Hidden", None])
def test_bad_layers(bad):
    model, x = make_mlp(), mlp_probe()
    with pytest.raises(ValueError, match=names_all("hidden", "hidden+output")):
        el.activity(model, x, layers=bad)
    with pytest.raises(ValueError, match=names_all("hidden", "hidden+output")):
        el.measure(model, x, layers=bad)
    with pytest.raises(ValueError, match=names_all("hidden", "hidden+output")):
        el.node_graph(model, layers=bad)


@pytest.mark.parametrize("bad", [-0.1, -1e-9, float("nan"), -math.inf])
def test_bad_threshold(bad):
    model, x = make_mlp(), mlp_probe()
    with pytest.raises(ValueError, match="(?i)threshold"):
        el.activity(model, x, threshold=bad)
    with pytest.raises(ValueError, match="(?i)threshold"):
        el.measure(model, x, threshold=bad)


@pytest.mark.parametrize("bad", ["all", "inactive", None])
def test_bad_through_in_measure(bad):
    model, x = make_mlp(), mlp_probe()
    with pytest.raises(ValueError, match=names_all("any", "active")):
        el.measure(model, x, through=bad)


# --------------------------------------------------------------------------- one capture, many definitions


def _pruned_mlp():
    model = make_mlp(seed=3)
    prune.l1_unstructured(model[3], "weight", amount=0.6)
    return model


@pytest.mark.parametrize(("make", "shape"), [(make_mlp, (32, 6)), (make_bn_mlp, (32, 6)), (make_cnn, (16, 2, 8, 8)),
                                             (_pruned_mlp, (32, 6))])
def test_measure_on_a_capture_equals_measure_on_the_probe_for_every_variant(make, shape):
    model = make()
    probe = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    record = el.capture_activity(model, probe)
    for settings in [{}, *el.experiments.VARIANTS.values()]:
        direct, shared = el.measure(model, probe, **settings), el.measure(model, record, **settings)
        assert direct.as_record() == shared.as_record(), settings
        act_direct = el.activity(model, probe, **{k: v for k, v in settings.items() if k != "through"})
        act_shared = el.activity(model, record, **{k: v for k, v in settings.items() if k != "through"})
        assert all(torch.equal(a, b) for a, b in zip(act_direct.values, act_shared.values))


def test_a_capture_refuses_a_model_changed_since():
    model = make_mlp()
    probe = torch.randn(16, 6)
    record = el.capture_activity(model, probe)
    el.measure(model, record)  # unchanged: accepted
    with torch.no_grad():
        model[0].weight.add_(0.01)  # an optimizer step changes weights in place
    with pytest.raises(ValueError, match="changed since this capture"):
        el.measure(model, record)
    record = el.capture_activity(model, probe)
    prune.l1_unstructured(model[3], "weight", amount=0.5)  # pruning adds a mask
    with pytest.raises(ValueError, match="changed since this capture"):
        el.activity(model, record)
    with pytest.raises(ValueError, match="changed since this capture"):
        el.measure(make_mlp(), el.capture_activity(model, probe))  # another model


def test_a_hidden_capture_cannot_serve_the_output_layer():
    model = make_mlp()
    record = el.capture_activity(model, torch.randn(8, 6), layers="hidden")
    assert len(record.outputs) == 3
    with pytest.raises(ValueError, match="hidden layers only"):
        el.measure(model, record, layers="hidden+output")


def test_a_two_layer_capture_names_the_setting_that_works():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    record = el.capture_activity(model, torch.randn(8, 4))
    assert el.measure(model, record, layers="hidden+output").layer_sizes == (5, 3)
    with pytest.raises(ValueError, match='layers="hidden\\+output"'):
        el.measure(model, record)


def test_a_capture_of_a_freed_model_does_not_pass_for_a_new_one():
    probe = torch.randn(16, 6)
    record = el.capture_activity(make_mlp(seed=0), probe)  # the model is freed at once
    for _ in range(3):  # new models of the same shape, built the same way, may reuse the freed tensors' ids
        with pytest.raises(ValueError, match="changed since this capture"):
            el.measure(make_mlp(seed=0), record)


# --------------------------------------------------------------------------- probe passes


def shared_relu_mlp(seed=0):
    """One ReLU module called at two depths: the capture must keep each call's rows apart across passes."""
    torch.manual_seed(seed)
    relu = nn.ReLU()
    return nn.Sequential(nn.Linear(6, 8), relu, nn.Linear(8, 8), relu, nn.Linear(8, 3))


@pytest.mark.parametrize("build, probe", [(shared_relu_mlp, mlp_probe(n=50)), (make_cnn_nobn, cnn_probe(n=50))],
                         ids=["shared-relu-mlp", "cnn"])  # fmt: skip
def test_a_probe_split_into_passes_gives_the_activations_of_one_pass(monkeypatch, build, probe) -> None:
    model = build()
    whole = el.capture_activity(model, probe)
    monkeypatch.setattr(el.metric.activity, "PROBE_BATCH", 16)  # 50 samples: passes of 16, 16, 16 and 2
    split = el.capture_activity(model, probe)
    assert len(split.outputs) == len(whole.outputs) >= 3
    for a, b in zip(split.outputs, whole.outputs):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert el.measure(model, split, threshold=0.05) == el.measure(model, whole, threshold=0.05)


def test_batchnorm_networks_take_the_whole_probe_in_one_pass(monkeypatch) -> None:
    """BatchNorm normalizes with the probe's statistics: passes of part of it would change the activations."""
    model, probe = make_cnn(), cnn_probe(n=50)
    whole = el.capture_activity(model, probe)
    monkeypatch.setattr(el.metric.activity, "PROBE_BATCH", 16)
    for a, b in zip(el.capture_activity(model, probe).outputs, whole.outputs):
        assert torch.equal(a, b)
    reference = probe_outputs(copy.deepcopy(model), probe, CNN_PROBES)
    assert torch.allclose(whole.outputs[0], reference[0], atol=1e-6)


@pytest.mark.parametrize("columns", [1, 2, 3, 64])
@pytest.mark.parametrize("through", ["any", "active"])
def test_start_layers_counted_side_by_side_match_brute_force(monkeypatch, columns, through):
    """Several start layers share a propagation pass up to PASS_COLUMNS columns: every grouping (one start layer
    per pass, groups that split the layers unevenly, all in one pass) gives each pair's count of the enumeration."""
    from emergence_lib.metric import emergence as module

    monkeypatch.setattr(module, "PASS_COLUMNS", columns)
    torch.manual_seed(3)
    model = el.mlp([6, 5, 5, 4, 4, 3])
    probe = torch.randn(24, 6, generator=torch.Generator().manual_seed(4))
    result = el.measure(model, probe, threshold=0.1, layers="hidden+output", through=through, per_pair=True)
    graph = el.node_graph(model, layers="hidden+output")
    active = el.activity(model, probe, threshold=0.1, layers="hidden+output").active
    e, _ = pair_counts(graph.adjacency, active, through)
    later = np.triu(np.ones(e.shape, dtype=bool), k=1)
    assert (e[later] > 0).sum() > 3, "several layer pairs must hold paths for this test to mean something"
    with np.errstate(divide="ignore"):
        expected = np.log10(e.astype(float))
    np.testing.assert_allclose(result.per_pair[later], expected[later], rtol=1e-12)
