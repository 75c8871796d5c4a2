"""Tests of the path-count metric (``path_emergence``, ``dense_emergence``).

Every expected value here is derived independently of the library: by brute-force
enumeration of paths with networkx, by exact dynamic programming in Python integers,
or by evaluating the closed form of the reference (shared/paper/README.md) in Python
integers.  Nothing is compared against the library's own helpers.
"""

from __future__ import annotations

import math
import random
import sys

import numpy as np
import pytest
import torch

from reference import emergence

import emergence_lib as el

FLOAT_MAX = sys.float_info.max


# --------------------------------------------------------------------------- references


def exact_dp_per_layer(adjacency, active, through="any"):
    """Exact counts of inactive -> active paths ending in each layer (Python integers), one pass over the layers."""
    act = [np.array([int(bool(x)) for x in a.tolist()], dtype=object) for a in active]
    s = np.zeros(len(act[0]), dtype=object)
    per_layer = [0]
    for k, b in enumerate(adjacency, start=1):
        b_obj = np.array((b != 0).to(torch.int64).tolist(), dtype=object).reshape(b.shape)
        prev_inactive = 1 - act[k - 1]
        carried = s * act[k - 1] if through == "active" else s
        s = b_obj.dot(carried + prev_inactive)
        per_layer.append(int((s * act[k]).sum()))
    return per_layer


def exact_dp(adjacency, active, through="any"):
    """Exact path count in Python integers."""
    return sum(exact_dp_per_layer(adjacency, active, through))


def closed_form(sizes, counts, through="any"):
    """sum_{i<j} (n_i - a_i) a_j prod_{i<k<j} m_k with m = n (through any) or a (through active)."""
    total = 0
    for i in range(len(sizes)):
        prod = 1
        for j in range(i + 1, len(sizes)):
            total += (sizes[i] - counts[i]) * counts[j] * prod
            prod *= sizes[j] if through == "any" else counts[j]
    return total


def log10_int(x: int) -> float:
    return math.log10(x) if x > 0 else -math.inf


def random_layered(rng: random.Random, trng: torch.Generator):
    """A random small layered graph: depth 1-5, widths 1-5, mixed densities."""
    depth = rng.randint(1, 5)
    widths = [rng.randint(1, 5) for _ in range(depth + 1)]
    adjacency = []
    for k in range(1, depth + 1):
        density = rng.choice([0.0, 0.15, 0.4, 0.7, 1.0, rng.random()])
        b = (torch.rand(widths[k], widths[k - 1], generator=trng) < density).to(torch.int64)
        # sometimes empty a whole row or column
        if rng.random() < 0.3:
            b[rng.randrange(widths[k]), :] = 0
        if rng.random() < 0.3:
            b[:, rng.randrange(widths[k - 1])] = 0
        dtype = rng.choice([torch.bool, torch.int64, torch.int32, torch.uint8, torch.float32, torch.float64])
        adjacency.append(b.to(dtype))
    active = []
    for w in widths:
        p = rng.choice([0.0, 0.3, 0.5, 0.8, 1.0])
        active.append(torch.rand(w, generator=trng) < p)
    return adjacency, active


RANDOM_CASES = 200


def _cases():
    rng = random.Random(1234)
    trng = torch.Generator().manual_seed(1234)
    return [random_layered(rng, trng) for _ in range(RANDOM_CASES)]


CASES = _cases()


def _clone(xs):
    return [x.clone() for x in xs]


# --------------------------------------------------------------------------- reference sanity


def test_references_agree_on_a_hand_example():
    # layer0: 2 nodes (inactive, active); layer1: 2 nodes; layer2: 1 node.
    adjacency = [torch.tensor([[1, 1], [0, 1]]), torch.tensor([[1, 1]])]
    active = [torch.tensor([False, True]), torch.tensor([True, False]), torch.tensor([True])]
    # paths from (0,0): ->(1,0) [active end] = 1 ; ->(1,0)->(2,0) = 1
    # from (1,1) inactive: ->(2,0) = 1.  Total 3.  Through active: (0,0)->(1,0)->(2,0)
    # has active middle, so also 3.
    assert emergence(adjacency, active) == 3
    assert exact_dp(adjacency, active) == 3
    assert emergence(adjacency, active, "active") == 3
    assert exact_dp(adjacency, active, "active") == 3
    active[1] = torch.tensor([False, False])
    # from (0,0): ->(1,0)->(2,0) = 1; from (1,0): ->(2,0) = 1; from (1,1): ->(2,0) = 1
    assert emergence(adjacency, active) == 3
    # through active: (0,0)->(1,0)->(2,0) has an inactive middle node: dropped
    assert emergence(adjacency, active, "active") == 2
    assert exact_dp(adjacency, active, "active") == 2


def test_hand_example_library():
    adjacency = [torch.tensor([[1, 1], [0, 1]]), torch.tensor([[1, 1]])]
    active = [torch.tensor([False, True]), torch.tensor([False, False]), torch.tensor([True])]
    assert el.path_emergence(adjacency, active) == 3.0
    assert el.path_emergence(adjacency, active, through="active") == 2.0
    assert el.path_emergence(adjacency, active, through="any", log=True) == pytest.approx(math.log10(3))


# --------------------------------------------------------------------------- random graphs


@pytest.mark.parametrize("through", ["any", "active"])
def test_path_emergence_matches_brute_force_on_random_graphs(through):
    nonzero = 0
    for n, (adjacency, active) in enumerate(CASES):
        expected = emergence(adjacency, active, through)
        got = el.path_emergence(adjacency, active, through=through)
        assert isinstance(got, float), type(got)
        assert got == expected, (n, through, got, expected, [a.shape for a in adjacency])
        nonzero += expected > 0
    # the random family must exercise nonzero and zero counts alike
    assert 0.3 * RANDOM_CASES < nonzero < RANDOM_CASES


def test_through_active_differs_from_any_somewhere():
    differing = sum(
        emergence(a, s, "any") != emergence(a, s, "active") for a, s in CASES[:60]
    )
    assert differing > 5
    for adjacency, active in CASES[:60]:
        assert el.path_emergence(adjacency, active, through="active") <= el.path_emergence(adjacency, active)


def test_exact_dp_reference_matches_brute_force():
    # the integer DP reference used for the large cases below is itself checked here
    for adjacency, active in CASES[:80]:
        for through in ("any", "active"):
            assert exact_dp(adjacency, active, through) == emergence(adjacency, active, through)


@pytest.mark.parametrize("through", ["any", "active"])
def test_log_equals_log10_of_plain(through):
    zeros = 0
    for adjacency, active in CASES:
        plain = el.path_emergence(adjacency, active, through=through)
        logged = el.path_emergence(adjacency, active, through=through, log=True)
        assert isinstance(logged, float)
        if plain == 0:
            zeros += 1
            assert logged == -math.inf
        else:
            assert logged == pytest.approx(math.log10(plain), rel=1e-12, abs=1e-12)
    assert zeros > 0


def test_inputs_not_modified():
    for adjacency, active in CASES[:30]:
        a0, s0 = _clone(adjacency), _clone(active)
        el.path_emergence(adjacency, active)
        el.path_emergence(adjacency, active, through="active", log=True)
        for x, y in zip(adjacency, a0):
            assert x.dtype == y.dtype and torch.equal(x, y)
        for x, y in zip(active, s0):
            assert x.dtype == y.dtype and torch.equal(x, y)


def test_adjacency_dtypes_are_equivalent():
    adjacency, active = CASES[7]
    while not emergence(adjacency, active):
        adjacency, active = random_layered(random.Random(5), torch.Generator().manual_seed(5))
    expected = el.path_emergence([a.to(torch.bool) for a in adjacency], active)
    assert expected > 0
    for dtype in (torch.int8, torch.int64, torch.float16, torch.float32, torch.float64, torch.uint8):
        assert el.path_emergence([a.to(dtype) for a in adjacency], active) == expected


def test_all_active_or_all_inactive_is_zero():
    adjacency = [torch.ones(3, 4), torch.ones(2, 3)]
    sizes = [4, 3, 2]
    all_on = [torch.ones(n, dtype=torch.bool) for n in sizes]
    all_off = [torch.zeros(n, dtype=torch.bool) for n in sizes]
    for active in (all_on, all_off):
        assert el.path_emergence(adjacency, active) == 0.0
        assert el.path_emergence(adjacency, active, log=True) == -math.inf
        assert el.path_emergence(adjacency, active, through="active", log=True) == -math.inf


def test_empty_graph_is_zero():
    adjacency = [torch.zeros(3, 4), torch.zeros(2, 3)]
    active = [torch.tensor([False] * 4), torch.tensor([True, False, True]), torch.tensor([True, True])]
    assert el.path_emergence(adjacency, active) == 0.0
    assert el.path_emergence(adjacency, active, log=True) == -math.inf


def test_single_adjacency_counts_edges():
    # one layer pair: E = number of edges from inactive u to active v
    gen = torch.Generator().manual_seed(3)
    b = (torch.rand(7, 9, generator=gen) < 0.5).int()
    a0 = torch.rand(9, generator=gen) < 0.5
    a1 = torch.rand(7, generator=gen) < 0.5
    expected = int(b[a1][:, ~a0].sum())
    assert expected > 0
    assert el.path_emergence([b], [a0, a1]) == expected
    assert el.path_emergence([b], [a0, a1], through="active") == expected


# --------------------------------------------------------------------------- dense graphs


def test_dense_emergence_equals_closed_form_python_ints():
    rng = random.Random(99)
    for _ in range(100):
        sizes = [rng.randint(1, 40) for _ in range(rng.randint(2, 8))]
        counts = [rng.randint(0, n) for n in sizes]
        expected = closed_form(sizes, counts)
        got = el.dense_emergence(sizes, counts)
        assert isinstance(got, float)
        assert got == float(expected)
        got_log = el.dense_emergence(sizes, counts, log=True)
        if expected == 0:
            assert got_log == -math.inf
        else:
            assert got_log == pytest.approx(math.log10(expected), rel=1e-12, abs=1e-12)


def test_dense_emergence_hand_values():
    # sizes (3, 4), actives (1, 2): (3-1)*2 = 4
    assert el.dense_emergence([3, 4], [1, 2]) == 4.0
    # sizes (2, 3, 4), actives (0, 1, 4): (2*1) + (2*4*3) + (3-1)*4 = 2 + 24 + 8 = 34
    assert el.dense_emergence([2, 3, 4], [0, 1, 4]) == 34.0
    assert el.dense_emergence((2, 3, 4), (0, 1, 4)) == 34.0
    # the "slip" transcription (product up to the last layer) would give something else
    assert el.dense_emergence([5, 5, 5, 5], [2, 2, 2, 2]) == closed_form([5, 5, 5, 5], [2, 2, 2, 2])


def test_dense_emergence_matches_brute_force_on_dense_graphs():
    rng = random.Random(7)
    trng = torch.Generator().manual_seed(7)
    for _ in range(60):
        widths = [rng.randint(1, 5) for _ in range(rng.randint(2, 6))]
        adjacency = [torch.ones(widths[k], widths[k - 1]) for k in range(1, len(widths))]
        active = [torch.rand(w, generator=trng) < rng.random() for w in widths]
        counts = [int(a.sum()) for a in active]
        brute = emergence(adjacency, active)
        assert closed_form(widths, counts) == brute
        assert el.dense_emergence(widths, counts) == brute
        assert el.path_emergence(adjacency, active) == brute
        # through active on a dense graph: the middle factor becomes the active count
        brute_active = emergence(adjacency, active, "active")
        assert closed_form(widths, counts, "active") == brute_active
        assert el.path_emergence(adjacency, active, through="active") == brute_active


def test_exact_below_2_pow_53():
    # counts well above float32 precision but below 2**53 must be exact
    gen = torch.Generator().manual_seed(11)
    widths = [40] * 10
    adjacency = [(torch.rand(40, 40, generator=gen) < 0.7).to(torch.uint8) for _ in range(9)]
    active = [torch.rand(40, generator=gen) < 0.5 for _ in widths]
    expected = exact_dp(adjacency, active)
    assert 2**30 < expected < 2**53
    assert el.path_emergence(adjacency, active) == expected
    expected_a = exact_dp(adjacency, active, "active")
    assert 2**20 < expected_a < 2**53
    assert el.path_emergence(adjacency, active, through="active") == expected_a
    # dense version, exactness of dense_emergence
    sizes = [300, 400, 500, 400, 300]
    counts = [100, 123, 321, 7, 299]
    exact = closed_form(sizes, counts)
    assert 2**40 < exact < 2**53
    assert el.dense_emergence(sizes, counts) == exact


# --------------------------------------------------------------------------- huge graphs


def test_deep_wide_dense_log_is_finite_and_matches_closed_form():
    n_layers, width = 300, 512
    gen = torch.Generator().manual_seed(0)
    ones = torch.ones(width, width, dtype=torch.bool)
    adjacency = [ones] * (n_layers - 1)
    active = [torch.rand(width, generator=gen) < 0.5 for _ in range(n_layers)]
    counts = [int(a.sum()) for a in active]
    sizes = [width] * n_layers
    exact = closed_form(sizes, counts)
    assert exact > 10**700  # way beyond float64

    logged = el.path_emergence(adjacency, active, log=True)
    assert math.isfinite(logged)
    dense_log = el.dense_emergence(sizes, counts, log=True)
    assert math.isfinite(dense_log)
    assert logged == pytest.approx(dense_log, rel=1e-9)
    assert dense_log == pytest.approx(math.log10(exact), rel=1e-12)
    assert logged == pytest.approx(math.log10(exact), rel=1e-9)

    assert el.path_emergence(adjacency, active) == math.inf
    assert el.dense_emergence(sizes, counts) == math.inf

    # through="active": middle factors are the active counts
    exact_active = closed_form(sizes, counts, "active")
    assert exact_active > 10**400
    logged_active = el.path_emergence(adjacency, active, through="active", log=True)
    assert logged_active == pytest.approx(math.log10(exact_active), rel=1e-9)


def test_deep_sparse_log_matches_exact_integer_dp():
    n_layers, width = 300, 32
    gen = torch.Generator().manual_seed(1)
    adjacency = [(torch.rand(width, width, generator=gen) < 0.6) for _ in range(n_layers - 1)]
    # some structurally empty rows and columns
    adjacency[10][3, :] = False
    adjacency[20][:, 5] = False
    active = [torch.rand(width, generator=gen) < 0.5 for _ in range(n_layers)]
    exact = exact_dp(adjacency, active)
    assert exact > FLOAT_MAX
    assert el.path_emergence(adjacency, active) == math.inf
    logged = el.path_emergence(adjacency, active, log=True)
    assert logged == pytest.approx(math.log10(exact), rel=1e-9)

    exact_active = exact_dp(adjacency, active, "active")
    assert exact_active > 0
    logged_active = el.path_emergence(adjacency, active, through="active", log=True)
    assert logged_active == pytest.approx(log10_int(exact_active), rel=1e-9)
    plain_active = el.path_emergence(adjacency, active, through="active")
    if exact_active < FLOAT_MAX / 2:
        assert plain_active == pytest.approx(float(exact_active), rel=1e-9)


def test_deep_graph_with_tiny_count_is_exact():
    # long chain where only one path exists: counts stay small although the graph is deep,
    # so the log-scaled computation must not lose small values next to huge intermediate ones
    n_layers, width = 200, 64
    adjacency = [torch.ones(width, width) for _ in range(n_layers - 1)]
    active = [torch.ones(width, dtype=torch.bool) for _ in range(n_layers)]
    active[0][0] = False  # one inactive source at the bottom
    # the only active ends: everything; E = paths from (0,0) to every later node
    exact = exact_dp(adjacency, active)
    assert exact > FLOAT_MAX
    assert el.path_emergence(adjacency, active, log=True) == pytest.approx(math.log10(exact), rel=1e-9)
    # now only one inactive node and the top layer active only: a single-edge answer
    adjacency2 = [torch.eye(width) for _ in range(n_layers - 1)]
    active2 = [torch.ones(width, dtype=torch.bool) for _ in range(n_layers)]
    active2[0][5] = False
    # paths from (0,5) along the identity chain to (k,5) for every k>0: n_layers-1 paths
    assert el.path_emergence(adjacency2, active2) == n_layers - 1
    assert el.path_emergence(adjacency2, active2, log=True) == pytest.approx(math.log10(n_layers - 1))


def test_per_layer_counts_after_a_blocked_layer_are_exact():
    # Issue 12, fix 1: a fully inactive layer zeroes the running counts under through="active"; the next start
    # nodes must not be scaled by the stale exponent of the counts before it (they underflowed to zero).
    n_layers, width, blocked = 300, 64, 280
    adjacency = [torch.ones(width, width, dtype=torch.bool)] * (n_layers - 1)
    active = [torch.ones(width, dtype=torch.bool) for _ in range(n_layers)]
    active[0][: width // 2] = False
    active[blocked][:] = False
    exact = exact_dp_per_layer(adjacency, active, "active")
    assert exact[blocked + 1 :] == [width ** (j - blocked + 1) for j in range(blocked + 1, n_layers)]
    inactive = [(~a).to(torch.float64).reshape(-1, 1) for a in active]
    ends = [a.to(torch.float64).reshape(-1, 1) for a in active]
    mantissa, exponent = el.metric.counting.layer_path_counts(
        [b.to(torch.float64) for b in adjacency], inactive, ends, through=ends
    )
    logged = el.metric.counting.to_log10(mantissa[:, 0], exponent[:, 0]).tolist()
    assert logged == pytest.approx([log10_int(x) for x in exact], rel=1e-12)

    # The same after an all-zero adjacency (any path), where the count is exact in float64 anyway.
    adjacency = [torch.ones(width, width, dtype=torch.float64)] * (n_layers - 1)
    adjacency[blocked - 1] = torch.zeros(width, width, dtype=torch.float64)
    exact = exact_dp_per_layer(adjacency, active, "any")
    mantissa, exponent = el.metric.counting.layer_path_counts(adjacency, inactive, ends)
    logged = el.metric.counting.to_log10(mantissa[:, 0], exponent[:, 0]).tolist()
    assert logged == pytest.approx([log10_int(x) for x in exact], rel=1e-12)


# --------------------------------------------------------------------------- errors


def names_all(*words):
    """A regex that matches when every word occurs in the message (any order)."""
    import re

    return "(?s)^" + "".join(f"(?=.*{re.escape(w)})" for w in words)


def _small():
    adjacency = [torch.ones(3, 2), torch.ones(4, 3)]
    active = [torch.tensor([True, False]), torch.tensor([False, True, True]), torch.tensor([True] * 4)]
    return adjacency, active


@pytest.mark.parametrize("bad", ["all", "ANY", "", None, "inactive"])
def test_bad_through(bad):
    adjacency, active = _small()
    with pytest.raises(ValueError, match=names_all("any", "active")):
        el.path_emergence(adjacency, active, through=bad)


def test_mismatched_list_lengths():
    adjacency, active = _small()
    with pytest.raises(ValueError):
        el.path_emergence(adjacency, active[:-1])
    with pytest.raises(ValueError):
        el.path_emergence(adjacency, active + [torch.tensor([True])])
    with pytest.raises(ValueError):
        el.path_emergence(adjacency[:1], active)


def test_wrong_adjacency_shape():
    adjacency, active = _small()
    # transposed matrix (n_{k-1}, n_k) instead of (n_k, n_{k-1})
    with pytest.raises(ValueError, match=r"\(3, 2\)|3 ?x ?2|shape"):
        el.path_emergence([torch.ones(2, 3), adjacency[1]], active)
    with pytest.raises(ValueError, match=r"\(4, 3\)|4 ?x ?3|shape"):
        el.path_emergence([adjacency[0], torch.ones(4, 2)], active)
    with pytest.raises(ValueError):
        el.path_emergence([torch.ones(6), adjacency[1]], active)
    with pytest.raises(ValueError):
        el.path_emergence([torch.ones(1, 3, 2), adjacency[1]], active)


@pytest.mark.parametrize("value", [2.0, 0.5, -1.0, float("nan")])
def test_non_binary_adjacency(value):
    adjacency, active = _small()
    bad = adjacency[0].clone()
    bad[1, 0] = value
    with pytest.raises(ValueError, match=r"0.*1|binary|bool"):
        el.path_emergence([bad, adjacency[1]], active)


def test_non_binary_integer_adjacency():
    adjacency, active = _small()
    bad = torch.ones(3, 2, dtype=torch.int64)
    bad[0, 0] = 3
    with pytest.raises(ValueError, match=r"0.*1|binary|bool"):
        el.path_emergence([bad, adjacency[1]], active)


def test_active_wrong_length():
    adjacency, active = _small()
    with pytest.raises(ValueError):
        el.path_emergence(adjacency, [active[0], torch.tensor([True, False]), active[2]])
    with pytest.raises(ValueError):
        el.path_emergence(adjacency, [torch.tensor([True, False, True]), active[1], active[2]])


@pytest.mark.parametrize("bad", [torch.tensor([0.3, 0.9, 0.0]), torch.tensor([2, 0, 1])])
def test_active_not_bool_like(bad):
    adjacency, active = _small()
    with pytest.raises(ValueError, match=r"(?i)bool|0.*1|binary"):
        el.path_emergence(adjacency, [active[0], bad, active[2]])


def test_active_wrong_ndim():
    adjacency, active = _small()
    with pytest.raises(ValueError):
        el.path_emergence(adjacency, [active[0], active[1].reshape(1, 3).repeat(2, 1), active[2]])


def test_dense_emergence_bad_inputs():
    with pytest.raises(ValueError):
        el.dense_emergence([3, 4, 5], [1, 2])
    with pytest.raises(ValueError):
        el.dense_emergence([3, 4], [4, 1])  # more active than nodes
    with pytest.raises(ValueError):
        el.dense_emergence([3, 4], [-1, 1])


def test_dense_emergence_just_below_float_overflow_is_inf():
    # 2**1024 - 1 has bit_length 1024 but rounds up to 2**1024: the float must be inf, not an error
    assert el.dense_emergence([2**1024 - 1, 1], [0, 1]) == math.inf
    assert el.dense_emergence([2**1024 - 1, 1], [0, 1], log=True) == pytest.approx(1024 * math.log10(2))
    # largest finite value is returned as such
    big = 2**1023
    assert el.dense_emergence([big, 1], [0, 1]) == float(big)
