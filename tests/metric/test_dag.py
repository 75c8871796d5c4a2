"""Emergence of networks that are not chains: skips, projections, joins, concatenations, groups, functional
activations, reused modules, and torchvision's ResNet-18.

The expected graphs are built here from the weights alone, following ``book/method`` (an identity skip joins
node u to node u, a projection shortcut joins through its weights, a grouped convolution only within its
groups, a concatenation stacks its parts), and paths are counted by brute force with networkx
(tests/reference.py) or, for ResNet-18, with exact Python integers.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from reference import pair_counts, probe_outputs, reduce_values

import emergence_lib as el

# --------------------------------------------------------------------------- counting on random DAGs


def random_dag(seed: int) -> tuple[dict, list[torch.Tensor]]:
    """3-5 layers of 1-4 nodes; consecutive layers joined most of the time, skips often, 0/1 entries at random."""
    g = torch.Generator().manual_seed(seed)
    depth = int(torch.randint(3, 6, (1,), generator=g))
    widths = torch.randint(1, 5, (depth,), generator=g).tolist()
    edges = {}
    for j in range(1, depth):
        for i in range(j):
            if torch.rand(1, generator=g) < (0.9 if i == j - 1 else 0.4):
                edges[(i, j)] = torch.rand(widths[j], widths[i], generator=g) < 0.6
    active = [torch.rand(n, generator=g) < 0.5 for n in widths]
    return edges, active


@pytest.mark.parametrize("through", ["any", "active"])
@pytest.mark.parametrize("seed", range(12))
def test_path_emergence_on_random_dags_matches_enumeration(seed, through):
    edges, active = random_dag(seed)
    expected = int(pair_counts(edges, active, through)[0].sum())
    assert el.path_emergence(edges, active, through=through) == expected
    if expected:
        assert el.path_emergence(edges, active, through=through, log=True) == pytest.approx(math.log10(expected))


def test_a_chain_given_as_a_dict_counts_as_the_chain():
    edges, active = random_dag(3)
    chain = {(i, j): b for (i, j), b in edges.items() if j == i + 1}
    if len(chain) == len(active) - 1:
        assert el.path_emergence(chain, active) == el.path_emergence([chain[(k - 1, k)] for k in range(1, len(active))], active)


def test_dag_input_errors_name_the_problem():
    active = [torch.tensor([True, False]), torch.tensor([True])]
    with pytest.raises(ValueError, match=r"earlier layer i to a later layer j"):
        el.path_emergence({(1, 0): torch.ones(2, 1)}, active)
    with pytest.raises(ValueError, match=re.escape("(n_1, n_0) = (1, 2)")):
        el.path_emergence({(0, 1): torch.ones(2, 2)}, active)
    with pytest.raises(ValueError, match="0/1"):
        el.path_emergence({(0, 1): torch.full((1, 2), 2.0)}, active)


def test_deep_counts_with_zero_terms_stay_numbers():
    """A zero count may carry a huge exponent; aligning it with others must not compute 0 * inf (NaN)."""
    depth, width = 200, 64
    ones = torch.ones(width, width)
    active = [torch.zeros(width, dtype=torch.bool) for _ in range(depth + 1)]
    active[1][:] = True  # only paths from layer 0 to layer 1 are emergent: width * width of them
    chain = [ones] * depth
    assert el.path_emergence(chain, active) == width * width == el.dense_emergence(
        [width] * (depth + 1), [int(a.sum()) for a in active])
    dag = {(k - 1, k): ones for k in range(1, depth + 1)}
    dag[(0, depth + 1)] = torch.ones(1, width)
    joined = {**dag, (depth, depth + 1): torch.zeros(1, width)}  # a zero term meets a nonzero one
    last = active + [torch.ones(1, dtype=torch.bool)]
    assert math.isfinite(el.path_emergence(joined, last)) and el.path_emergence(joined, last) == el.path_emergence(dag, last)


# --------------------------------------------------------------------------- random DAG networks


class DagMLP(nn.Module):
    """``h_k = act(L_k(cat of earlier h) + identity skips + projections of earlier h)``; logits from the last.

    ``spec[k] = (sources, skips, projections)`` for k >= 1 (layer 0 reads the input). Activations are separate
    modules ``acts.k`` (so the reference reads them with hooks) or, with ``functional``, F.relu / torch.relu /
    Tensor.relu in turn.
    """

    def __init__(self, widths, spec, n_in=5, n_out=3, functional=False):
        super().__init__()
        self.spec, self.functional = spec, functional
        self.lin = nn.ModuleList([nn.Linear(n_in, widths[0])] + [
            nn.Linear(sum(widths[s] for s in spec[k][0]), widths[k]) for k in range(1, len(widths))
        ])  # fmt: skip
        self.proj = nn.ModuleDict(
            {f"{k}_{p}": nn.Linear(widths[p], widths[k], bias=False) for k in range(1, len(widths)) for p in spec[k][2]}
        )
        self.acts = nn.ModuleList(nn.ReLU() for _ in widths)
        self.head = nn.Linear(widths[-1], n_out)

    def act(self, k, x):
        if not self.functional:
            return self.acts[k](x)
        return (F.relu, torch.relu, lambda t: t.relu())[k % 3](x)

    def forward(self, x):
        h = [self.act(0, self.lin[0](x))]
        for k in range(1, len(self.lin)):
            sources, skips, projections = self.spec[k]
            z = self.lin[k](h[sources[0]] if len(sources) == 1 else torch.cat([h[s] for s in sources], dim=1))
            for s in skips:
                z = z + h[s]
            for p in projections:
                z = z + self.proj[f"{k}_{p}"](h[p])
            h.append(self.act(k, z))
        return self.head(h[-1])

    def expected(self, layers):
        """The node graph by the book's definitions, from the weights alone: (kept per layer, edges)."""
        widths = [lin.out_features for lin in self.lin] + [self.head.out_features]
        incoming = [{} for _ in widths]
        has_input = [torch.zeros(w, dtype=torch.bool) for w in widths]
        has_input[0] = (self.lin[0].weight != 0).any(dim=1)

        def add(i, j, matrix):
            incoming[j][i] = incoming[j].get(i, torch.zeros(widths[j], widths[i], dtype=torch.bool)) | matrix

        for k in range(1, len(self.lin)):
            sources, skips, projections = self.spec[k]
            offset = 0
            for s in sources:
                add(s, k, self.lin[k].weight[:, offset : offset + widths[s]] != 0)
                offset += widths[s]
            for s in skips:
                add(s, k, torch.eye(widths[k], dtype=torch.bool))
            for p in projections:
                add(p, k, self.proj[f"{k}_{p}"].weight != 0)
        add(len(self.lin) - 1, len(widths) - 1, self.head.weight != 0)
        has_out = [torch.zeros(w, dtype=torch.bool) for w in widths]
        for j, edges in enumerate(incoming):
            for i, matrix in edges.items():
                has_out[i] |= matrix.any(dim=0)
        kept = [
            torch.nonzero(has_input[j] | has_out[j] | torch.stack([m.any(dim=1) for m in e.values()] or
                                                                  [torch.zeros(widths[j], dtype=torch.bool)]).any(0)).flatten()
            for j, e in enumerate(incoming)
        ]  # fmt: skip
        counted = len(widths) - (1 if layers == "hidden" else 0)
        edges = {(i, j): m[kept[j]][:, kept[i]] for j in range(counted) for i, m in incoming[j].items()}
        return kept[:counted], edges


def random_dag_mlp(seed: int, functional: bool = False) -> DagMLP:
    """4-6 hidden layers of 3 or 4 neurons, concatenations, identity skips (equal widths), projections, and
    pruning: about a third of all weights zero."""
    g = torch.Generator().manual_seed(seed)
    depth = int(torch.randint(4, 7, (1,), generator=g))
    widths = [int(w) for w in torch.randint(3, 5, (depth,), generator=g)]
    spec = [None]
    for k in range(1, depth):
        earlier = list(range(k - 1))
        extra = [s for s in earlier if torch.rand(1, generator=g) < 0.3]
        sources = [k - 1] + extra[:1]
        skips = [s for s in earlier if widths[s] == widths[k] and torch.rand(1, generator=g) < 0.4]
        projections = [s for s in earlier if s not in skips and torch.rand(1, generator=g) < 0.25]
        spec.append((sources, skips, projections))
    torch.manual_seed(seed)
    model = DagMLP(widths, spec, functional=functional)
    with torch.no_grad():
        for _, m in el.weight_layers(model):
            m.weight.mul_(torch.rand(m.weight.shape, generator=g) > 0.35)
    return model


@pytest.mark.parametrize("through", ["any", "active"])
@pytest.mark.parametrize("layers", ["hidden", "hidden+output"])
@pytest.mark.parametrize("seed", range(6))
def test_random_dag_networks_match_the_definitions_and_enumeration(seed, layers, through):
    model = random_dag_mlp(seed)
    probe = torch.randn(24, 5, generator=torch.Generator().manual_seed(seed))
    kept, edges = model.expected(layers)
    graph = el.node_graph(model, probe[:2], layers=layers)
    assert [layer.kept.tolist() for layer in graph.layers] == [k.tolist() for k in kept]
    assert sorted(graph.edges) == sorted(edges)
    for pair, matrix in edges.items():
        assert torch.equal(graph.edges[pair], matrix), pair
    assert not graph.is_chain or all(j == i + 1 for i, j in edges)

    names = [f"acts.{k}" for k in range(len(model.lin))] + (["head"] if layers == "hidden+output" else [])
    values = [v[k] for v, k in zip(reduce_values(probe_outputs(model, probe, names), "mean"), kept)]
    for threshold in sorted({float(x) for v in values for x in v} | {0.0}):
        active = [v > threshold for v in values]
        E, T = pair_counts(edges, active, through)
        if E.sum() > 0:
            break
    assert E.sum() > 0, "the test network must have emergent paths"
    result = el.measure(model, probe, threshold=threshold, layers=layers, through=through, per_pair=True)
    assert result.absolute == int(E.sum())
    assert result.fraction == pytest.approx(int(E.sum()) / int(T.sum()), rel=1e-12)
    expected_pairs = np.array([[math.log10(x) if x else -math.inf for x in row] for row in E], dtype=float)
    np.testing.assert_allclose(result.per_pair, expected_pairs, rtol=1e-12)
    assert result.active_counts == tuple(float(a.sum()) for a in active)


@pytest.mark.parametrize("seed", range(3))
def test_functional_activations_read_as_activation_modules(seed):
    modules, functional = random_dag_mlp(seed), random_dag_mlp(seed, functional=True)
    probe = torch.randn(16, 5, generator=torch.Generator().manual_seed(seed))
    a, b = el.node_graph(modules), el.node_graph(functional)
    assert a.sizes == b.sizes and sorted(a.edges) == sorted(b.edges)
    assert all(torch.equal(a.edges[p], b.edges[p]) for p in a.edges)
    assert [layer.probe for layer in b.layers][:3] == ["relu", "relu_1", "relu_2"]  # the fx nodes of the calls
    for through in ("any", "active"):
        assert el.measure(modules, probe, through=through, threshold=0.1) == el.measure(
            functional, probe, through=through, threshold=0.1
        )


# --------------------------------------------------------------------------- a residual MLP by hand


class HandResidual(nn.Module):
    """h0 = relu(W0 x + b0) (3 nodes), h1 = relu(W1 h0 + b1) (2), h2 = relu(W2 h1 + b2 + h0) (3), all weights 1."""

    def __init__(self):
        super().__init__()
        self.fc0, self.fc1, self.fc2, self.out = nn.Linear(2, 3), nn.Linear(3, 2), nn.Linear(2, 3), nn.Linear(3, 2)
        self.act0, self.act1, self.act2 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        with torch.no_grad():
            for fc in (self.fc0, self.fc1, self.fc2, self.out):
                fc.weight.fill_(1.0)
            # on a zero input: h0 = [1, 0, 1], h1 = relu(2 + b1) = [0, 2], h2 = relu(2 + b2 + h0) = [0, 1, 1]
            self.fc0.bias.copy_(torch.tensor([1.0, 0.0, 1.0]))
            self.fc1.bias.copy_(torch.tensor([-2.0, 0.0]))
            self.fc2.bias.copy_(torch.tensor([-3.0, -1.0, -2.0]))

    def forward(self, x):
        h0 = self.act0(self.fc0(x))
        h1 = self.act1(self.fc1(h0))
        return self.out(self.act2(self.fc2(h1) + h0))


def test_residual_mlp_worked_out_by_hand():
    model, probe = HandResidual(), torch.zeros(4, 2)
    graph = el.node_graph(model)
    assert graph.sizes == (3, 2, 3) and sorted(graph.edges) == [(0, 1), (0, 2), (1, 2)]
    assert torch.equal(graph.edges[(0, 2)], torch.eye(3, dtype=torch.bool))  # the skip: node u to node u
    act = el.activity(model, probe)
    active = [a.tolist() for a in act.active]
    assert active == [[True, False, True], [False, True], [False, True, True]]
    n1, a1 = 2, 1
    # E_01 + E_12: dense edges, (inactive) x (active); E_02: via any node of layer 1 (n1 paths) plus the skip
    # when u == v; with through="active" only the a1 active nodes of layer 1 carry paths.
    inactive0, active2 = [u for u in range(3) if not active[0][u]], [v for v in range(3) if active[2][v]]
    e01, e12 = len(inactive0) * a1, (n1 - a1) * len(active2)
    e02_any = sum(n1 + (u == v) for u in inactive0 for v in active2)
    e02_active = sum(a1 + (u == v) for u in inactive0 for v in active2)
    assert (e01 + e02_any + e12, e01 + e02_active + e12) == (8, 6)  # worked out by hand in the docstring's setting
    assert el.measure(model, probe).absolute == e01 + e02_any + e12
    assert el.measure(model, probe, through="active").absolute == e01 + e02_active + e12
    result = el.measure(model, probe, per_pair=True)
    assert 10 ** result.per_pair[0, 2] == pytest.approx(e02_any)


def test_without_skips_is_the_same_chain_with_the_same_weights():
    torch.manual_seed(0)
    model = el.residual_mlp(12, width=6, blocks=2, num_classes=3)
    plain = el.without_skips(model)
    chain = nn.Sequential(model.stem[1], nn.ReLU(), *[m for b in model.blocks for m in
                          (b["fc1"], nn.ReLU(), b["fc2"], nn.ReLU())], model.head)  # fmt: skip
    probe = torch.randn(32, 12)
    assert el.node_graph(plain).is_chain and not el.node_graph(model).is_chain
    torch.testing.assert_close(plain(probe), chain(probe))
    for through in ("any", "active"):
        a, b = el.measure(plain, probe, through=through), el.measure(chain, probe, through=through)
        assert (a.absolute, a.n_weights, a.layer_sizes) == (b.absolute, b.n_weights, b.layer_sizes)
    assert el.measure(model, probe).absolute != el.measure(plain, probe).absolute  # the skips carry paths


# --------------------------------------------------------------------------- convolutions: groups, projections


def test_grouped_and_depthwise_convolutions_join_only_within_groups():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU(),  # two groups of two channels
        nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.ReLU(),  # depthwise, two output channels per input channel
        nn.Flatten(), nn.Linear(8 * 16, 3),
    )  # fmt: skip
    graph = el.node_graph(model, torch.randn(2, 2, 4, 4))
    assert graph.is_chain
    block = torch.block_diag(torch.ones(2, 2), torch.ones(2, 2)).bool()
    assert torch.equal(graph.adjacency[0], block)
    depthwise = torch.zeros(8, 4, dtype=torch.bool)
    depthwise[torch.arange(8), torch.arange(8) // 2] = True
    assert torch.equal(graph.adjacency[1], depthwise)
    probe = torch.randn(16, 2, 4, 4)
    act = el.activity(model, probe, threshold=0.1)
    assert el.measure(model, probe, threshold=0.1).absolute == int(pair_counts(graph.adjacency, act.active)[0].sum())


class GroupedResidual(nn.Module):
    """A grouped and a depthwise convolution, with a skip from the first layer around both."""

    def __init__(self):
        super().__init__()
        self.c0, self.c1, self.c2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=2), \
            nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.head = nn.Linear(4 * 16, 3)

    def forward(self, x):
        h0 = F.relu(self.c0(x))
        h2 = F.relu(self.c2(F.relu(self.c1(h0))) + h0)
        return self.head(h2.flatten(1))


def test_skips_and_groups_together_match_enumeration():
    torch.manual_seed(1)
    model, probe = GroupedResidual(), torch.randn(16, 2, 4, 4)
    graph = el.node_graph(model)
    eye = torch.eye(4, dtype=torch.bool)
    assert sorted(graph.edges) == [(0, 1), (0, 2), (1, 2)]
    assert torch.equal(graph.edges[(0, 1)], torch.block_diag(torch.ones(2, 2), torch.ones(2, 2)).bool())
    assert torch.equal(graph.edges[(1, 2)], eye) and torch.equal(graph.edges[(0, 2)], eye)
    for through in ("any", "active"):
        act = el.activity(model, probe, threshold=0.5, threshold_mode="layer_mean")
        expected = int(pair_counts(graph.edges, act.active, through)[0].sum())
        result = el.measure(model, probe, threshold=0.5, threshold_mode="layer_mean", through=through)
        assert expected > 0 and result.absolute == expected


class ProjectionBlock(nn.Module):
    """A stem, then a ResNet basic block whose shortcut is a strided 1x1 convolution with BatchNorm."""

    def __init__(self):
        super().__init__()
        self.stem, self.act = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()
        self.conv1, self.bn1 = nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.proj = nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6))
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        x = self.act(self.stem(x))
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out = F.relu(out + self.proj(x))
        return self.head(F.adaptive_avg_pool2d(out, 1).flatten(1))


def test_projection_shortcut_joins_through_its_weights_with_no_nodes_of_its_own():
    torch.manual_seed(0)
    model = ProjectionBlock()
    with torch.no_grad():
        model.proj[0].weight[:, 1] = 0  # input channel 1 reaches the join only through the main branch
        model.proj[0].weight[3, :] = 0
    graph = el.node_graph(model, torch.randn(2, 1, 8, 8))
    assert [layer.name for layer in graph.layers] == ["stem", "conv1", "conv2+proj.0"]
    assert sorted(graph.edges) == [(0, 1), (0, 2), (1, 2)]
    assert torch.equal(graph.edges[(0, 2)], model.proj[0].weight[:, :, 0, 0] != 0)
    probe = torch.randn(12, 1, 8, 8)
    act = el.activity(model, probe, threshold_mode="layer_mean", threshold=1.0)
    expected = int(pair_counts(graph.edges, act.active)[0].sum())
    assert expected > 0
    assert el.measure(model, probe, threshold_mode="layer_mean", threshold=1.0).absolute == expected


def test_concatenation_stacks_the_parts_nodes():
    class Concat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c, self.out = nn.Linear(3, 2), nn.Linear(2, 4), nn.Linear(6, 5), nn.Linear(5, 2)

        def forward(self, x):
            h0 = torch.relu(self.a(x))
            h1 = torch.relu(self.b(h0))
            return self.out(torch.relu(self.c(torch.cat([h0, h1], dim=1))))

    model = Concat()
    with torch.no_grad():
        model.c.weight[:, 0] = 0
    graph = el.node_graph(model)
    assert sorted(graph.edges) == [(0, 1), (0, 2), (1, 2)]
    assert torch.equal(graph.edges[(0, 2)], model.c.weight[:, :2] != 0)
    assert torch.equal(graph.edges[(1, 2)], model.c.weight[:, 2:] != 0)


def test_a_reused_module_counts_once_per_call():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.shared, self.out, self.act = nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2), nn.ReLU()

        def forward(self, x):
            return self.out(self.act(self.shared(self.act(self.shared(self.act(self.first(x)))))))

    graph = el.node_graph(Shared(), layers="hidden+output")
    assert [(layer.name, layer.probe, layer.probe_call) for layer in graph.layers] == [
        ("first", "act", 0), ("shared", "act", 1), ("shared", "act", 2), ("out", "out", 0)
    ]  # fmt: skip
    assert graph.is_chain


# --------------------------------------------------------------------------- what is refused


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.attn, self.out = nn.Linear(4, 8), nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        return self.out(self.attn(h, h, h)[0])


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.gate, self.out = nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)) * torch.sigmoid(self.gate(x)))


class Branching(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.out = nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        if h.sum() > 0:  # data-dependent control flow
            h = h * 2
        return self.out(h)


class Sliced(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.out = nn.Linear(4, 6), nn.Linear(3, 2)

    def forward(self, x):
        return self.out(torch.relu(self.fc(x))[:, :3])


class ChannelMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.out = nn.Conv2d(4, 6, 3), nn.Linear(1, 2)

    def forward(self, x):
        return self.out(torch.relu(self.conv(x)).mean(dim=1).flatten(1)[:, :1])


class SpatialCat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.out = nn.Conv2d(4, 6, 3), nn.Linear(6, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.out(torch.cat([h, h], dim=2).mean(dim=(2, 3)))


class NoActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.c(torch.relu(self.b(self.a(x))))


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0, self.fc1, self.out = nn.Linear(4, 3), nn.Linear(3, 3), nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.fc0(x))
        z = self.fc1(h)
        z.add_(h)  # mutates z; torch.fx cannot see that the next line reads the sum
        return self.out(torch.relu(z))


class SideBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0, self.aux, self.fc1, self.out = nn.Linear(4, 3), nn.Linear(3, 5), nn.Linear(3, 3), nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.fc0(x))
        unused = torch.relu(self.aux(h))  # noqa: F841 (a branch that leads nowhere)
        return self.out(torch.relu(self.fc1(h)))


class FlatConcat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Conv2d(2, 3, 3), nn.Conv2d(2, 3, 3), nn.Linear(2 * 3 * 9, 2)

    def forward(self, x):
        return self.out(torch.cat([torch.relu(self.a(x)).flatten(1), torch.relu(self.b(x)).flatten(1)], dim=1))


@pytest.mark.parametrize(
    "model, pattern",
    [
        (Attention(), r"'attn' \(MultiheadAttention\) is not supported"),
        (Gated(), r"multiplies two tensors"),
        (Branching(), r"could not trace Branching.*data-dependent control flow"),
        (Sliced(), r"getitem.*not supported"),
        (NoActivation(), r"'b' takes the output of weight layer\(s\) \['a'\] with no activation"),
        (ChannelMean(), r"a mean keeps nodes only over the spatial dimensions.*dim=\(1,\)"),
        (SpatialCat(), r"concatenation 'cat'.*got dim=2"),
        (InPlace(), r"'add_' \(call_method add_\) does not lead to the model's output.*z = z.add_\(h\)"),
        (SideBranch(), r"'aux' \(call_module aux\) does not lead to the model's output"),
        (FlatConcat(), r"joins flattened convolution outputs"),
    ],
    ids=["attention", "gating", "control-flow", "indexing", "no-activation", "channel-mean", "spatial-cat", "in-place",
         "side-branch", "flat-concat"],
)
def test_what_cannot_be_read_is_refused_naming_the_operation(model, pattern):
    shapes = {Attention: (3, 5, 4), ChannelMean: (3, 4, 5, 5), SpatialCat: (3, 4, 5, 5), FlatConcat: (3, 2, 5, 5)}
    x = torch.randn(*shapes.get(type(model), (3, 4)))
    model(x)  # the model itself runs
    with pytest.raises(el.UnsupportedModelError, match=pattern):
        el.measure(model, x)


def test_global_average_pooling_by_a_mean_keeps_the_channels():
    class MeanPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.conv2, self.out = nn.Conv2d(2, 4, 3), nn.Conv2d(4, 5, 3), nn.Linear(5, 3)

        def forward(self, x):
            return self.out(torch.relu(self.conv2(torch.relu(self.conv(x)))).mean(dim=(2, 3)))

    model = MeanPool()
    sequential = nn.Sequential(model.conv, nn.ReLU(), model.conv2, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                               model.out)  # fmt: skip
    x = torch.randn(8, 2, 7, 7)
    assert el.measure(model, x, layers="hidden+output") == el.measure(sequential, x, layers="hidden+output")


def test_the_probe_reads_a_functional_dropout_as_the_evaluation_mode_runs_it():
    class Dropping(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc0, self.fc1, self.out = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            h = F.dropout(torch.relu(self.fc0(x)), 0.5, training=self.training)
            return self.out(torch.relu(self.fc1(h)))

    torch.manual_seed(0)
    model, probe = Dropping().train(), torch.randn(32, 4)  # traced while training: dropout must still be off
    first, second = el.activity(model, probe).values, el.activity(model, probe).values
    with torch.no_grad():
        h0 = torch.relu(model.fc0(probe))
        expected = [h0.mean(dim=0), torch.relu(model.fc1(h0)).mean(dim=0)]
    for a, b, e in zip(first, second, expected):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, e)
    assert model.training  # the mode is restored


def test_without_skips_keeps_the_branch_through_weights_when_both_terms_come_from_one_layer():
    class OneLayerResidual(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc0, self.fc, self.out = nn.Linear(4, 3), nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            h = torch.relu(self.fc0(x))
            return self.out(torch.relu(h + self.fc(h)))

    torch.manual_seed(0)
    model, x = OneLayerResidual(), torch.randn(8, 4)
    with torch.no_grad():
        expected = model.out(torch.relu(model.fc(torch.relu(model.fc0(x)))))
    torch.testing.assert_close(el.without_skips(model)(x), expected)


def test_a_dag_has_no_chain_adjacency_and_structured_pruning_refuses_it():
    model = el.residual_mlp(6, width=4, blocks=1, num_classes=2)
    graph = el.node_graph(model)
    with pytest.raises(ValueError, match=r"graph.edges"):
        graph.adjacency
    with pytest.raises(el.UnsupportedModelError, match="needs a chain"):
        el.prune.nodes(model, 0.5, criterion="norm")


# --------------------------------------------------------------------------- torchvision's ResNet-18


def exact_emergence(graph: el.NodeGraph, active: list[torch.Tensor], through: str = "any") -> int:
    """E with Python integers in one topological pass (no floating point): paths from inactive nodes ending at
    each node, summed over active end nodes."""
    ends, total = [], 0
    for j, incoming in enumerate(graph.inputs()):
        count = np.zeros(graph.sizes[j], dtype=object)
        for i, edges in incoming:
            carried = ends[i] * (active[i].numpy().astype(int) if through == "active" else 1)
            count = count + edges.numpy().astype(int).astype(object) @ (carried + (~active[i]).numpy().astype(int))
        ends.append(count)
        total += int(count[active[j].numpy()].sum())
    return total


@pytest.mark.parametrize("form", ["original 3x224x224", "adapted 1x28x28"])
def test_torchvision_resnet18_is_measured_exactly(form):
    torch.manual_seed(0)
    if form.startswith("original"):
        import torchvision

        model, probe = torchvision.models.resnet18(weights=None), torch.randn(2, 3, 224, 224)
    else:
        model, probe = el.resnet18(in_channels=1, num_classes=10, small_input=True), torch.randn(8, 1, 28, 28)
        assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and model.conv1.in_channels == 1
        assert isinstance(model.maxpool, nn.Identity)
        assert type(el.build_model("resnet18", (1, 28, 28), 10).conv1) is nn.Conv2d
    with torch.no_grad():
        model.layer3[0].downsample[0].weight[::3] = 0  # some projection paths pruned
    graph = el.node_graph(model, layers="hidden+output")
    assert len(graph.layers) == 1 + 8 * 2 + 1 and not graph.is_chain
    names = [layer.name for layer in graph.layers]
    assert names[1:3] == ["layer1.0.conv1", "layer1.0.conv2"] and "layer3.0.conv2+layer3.0.downsample.0" in names
    join = names.index("layer3.0.conv2+layer3.0.downsample.0")
    block_input = names.index("layer2.1.conv2")
    projection = model.layer3[0].downsample[0].weight[:, :, 0, 0] != 0
    assert torch.equal(graph.edges[(block_input, join)], projection)
    assert torch.equal(graph.edges[(0, 2)], torch.eye(64, dtype=torch.bool))  # layer1.0's identity skip from the stem
    hidden = graph.prefix(len(graph.layers) - 1)
    act = el.activity(model, probe, threshold=1.0, threshold_mode="layer_mean")
    for through in ("any", "active"):
        result = el.measure(model, probe, threshold=1.0, threshold_mode="layer_mean", through=through)
        exact = exact_emergence(hidden, act.active, through)
        assert exact > 0 and result.log10_absolute == pytest.approx(math.log10(exact), rel=1e-12)
    assert result.n_weights == sum(int((m.weight != 0).sum()) for _, m in el.weight_layers(model))
    plain = el.without_skips(model)
    assert el.node_graph(plain).is_chain and not any("downsample" in name for name, _ in plain.named_modules())
