"""GNA tile tools: bounding-box visits, NATTEN's fully-block-sparse rule and the speedup bound."""
import math
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import sim
import workloads
from sim.bounds.gna_tiles import flop_bound, fully_block_sparse, gna_speedup_bound, neighborhood, tile_visits
from workloads import masks

CASES = [  # (spatial, window, stride, q_tile, kv_tile): the reference's fully block-sparse use cases
    ((32768,), (2048,), (256,), (128,), (128,)),
    ((256, 256), (80, 80), (16, 16), (16, 8), (16, 8)),
    ((30, 48, 80), (18, 24, 24), (16, 8, 8), (2, 8, 8), (1, 8, 8)),
]


def gna(spatial, window, stride, **kw):
    return workloads.attention("gna", batch=1, heads=2, spatial=spatial, window=window, stride=stride,
                               head_dim=64, **kw)


@pytest.mark.parametrize("spatial,window,stride,q_tile,kv_tile", CASES)
def test_speedup_bound_is_the_flop_bound_when_fully_block_sparse(spatial, window, stride, q_tile, kv_tile):
    """1-D 32K w=2048 s=256, FLUX 256×256 w=80 s=16, HunyuanVideo 30×48×80: bound = N / prod(window)."""
    c = gna(spatial, window, stride)
    assert fully_block_sparse(spatial, window, stride, q_tile, kv_tile)
    assert gna_speedup_bound(c, q_tile=q_tile, kv_tile=kv_tile) == pytest.approx(
        math.prod(spatial) / math.prod(window))
    assert tile_visits(neighborhood(c), q_tile, kv_tile).partial.sum() == 0


def test_stride_one_bound_is_below_the_flop_bound():
    """Sliding-window NA: each Q tile's bounding box exceeds one window, and edge tiles are partially masked."""
    c = gna((256, 256), (80, 80), (1, 1))
    assert gna_speedup_bound(c, (16, 8), (16, 8)) < 0.8 * flop_bound(c)
    assert not fully_block_sparse((256, 256), (80, 80), (1, 1), (16, 8), (16, 8))


def _brute(spatial, window, stride, q_tile, kv_tile, causal=False):
    """Visited/partial tiles per Q tile from the dense mask on the permuted (tiled) token order."""
    mask = neighborhood(gna(spatial, window, stride, causal=causal))
    dense = masks.dense(mask, math.prod(spatial), math.prod(spatial)).reshape(spatial + spatial)
    grid = [range(-(-n // t)) for n, t in zip(spatial, q_tile)]
    kgrid = [range(-(-n // t)) for n, t in zip(spatial, kv_tile)]
    visited, partial = [], []
    for qt in itertools.product(*grid):
        qs = tuple(slice(i * t, (i + 1) * t) for i, t in zip(qt, q_tile))
        blocks = {}
        for kt in itertools.product(*kgrid):
            ks = tuple(slice(i * t, (i + 1) * t) for i, t in zip(kt, kv_tile))
            sub = dense[qs + ks]
            pad = any((i + 1) * t > n for i, t, n in zip(kt, kv_tile, spatial))
            blocks[kt] = (sub.any(), sub.all() and not pad)
        hit = [k for k, (any_, _) in blocks.items() if any_]
        lo = [min(k[d] for k in hit) for d in range(len(spatial))]
        hi = [max(k[d] for k in hit) for d in range(len(spatial))]
        box = list(itertools.product(*[range(a, b + 1) for a, b in zip(lo, hi)]))
        visited.append(len(box))
        partial.append(sum(not blocks[k][1] for k in box))
    return np.array(visited), np.array(partial)


@pytest.mark.parametrize("spatial,window,stride,q_tile,kv_tile", [
    ((40,), (9,), (1,), (4,), (4,)), ((40,), (12,), (4,), (4,), (4,)), ((36,), (12,), (6,), (3,), (6,)),
    ((12, 10), (5, 4), (2, 2), (2, 2), (2, 4)), ((12, 16), (8, 8), (4, 4), (4, 4), (4, 4)),
    ((6, 8, 8), (3, 4, 4), (2, 2, 4), (2, 2, 2), (1, 2, 2)), ((30,), (18,), (16,), (2,), (1,)),
])
def test_tile_visits_and_rule_match_the_dense_mask(spatial, window, stride, q_tile, kv_tile):
    """Bounding-box visits and partial tiles equal a brute-force count on the dense mask; `fully_block_sparse`
    agrees with 'no partially masked visited tile anywhere'."""
    v = tile_visits(neighborhood(gna(spatial, window, stride)), q_tile, kv_tile)
    visited, partial = _brute(spatial, window, stride, q_tile, kv_tile)
    assert list(v.visited) == list(visited)
    assert list(v.partial) == list(partial)
    assert fully_block_sparse(spatial, window, stride, q_tile, kv_tile) == (v.partial.sum() == 0)


def test_tile_shapes_are_checked():
    """Tiles are tuples matching the layout's dimensions."""
    c = gna((64, 64), (16, 16), (8, 8))
    with pytest.raises(sim.MappingError, match="one per layout dimension"):
        gna_speedup_bound(c, q_tile=(8,), kv_tile=(8, 8))


@st.composite
def layouts(draw):
    """A small 1-D or 2-D GNA layout (window, stride, causal per dimension) and tile shapes."""
    dims = draw(st.integers(1, 2))
    spatial, window, stride, causal, q_tile, kv_tile = [], [], [], [], [], []
    for _ in range(dims):
        n = draw(st.integers(4, 24))
        w = draw(st.integers(2, n))
        spatial.append(n), window.append(w), stride.append(draw(st.integers(1, w)))
        causal.append(draw(st.booleans()))
        q_tile.append(draw(st.integers(1, 8))), kv_tile.append(draw(st.integers(1, 8)))
    return tuple(spatial), tuple(window), tuple(stride), tuple(causal), tuple(q_tile), tuple(kv_tile)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=layouts())
def test_tile_visits_match_the_dense_mask_on_random_layouts(case):
    """The vectorized bounding-box count equals the brute-force count on random layouts, causal or not."""
    spatial, window, stride, causal, q_tile, kv_tile = case
    try:
        c = gna(spatial, window, stride, causal=causal)
    except workloads.CascadeError:
        return   # e.g. a causal layout the builder refuses
    v = tile_visits(neighborhood(c), q_tile, kv_tile)
    visited, partial = _brute(spatial, window, stride, q_tile, kv_tile, causal=causal)
    assert list(v.visited) == list(visited) and list(v.partial) == list(partial)


def test_huge_layouts_are_refused_before_allocating():
    """A layout whose tile slots exceed the stated limit is refused, not allocated."""
    c = workloads.attention("gna", batch=1, heads=1, spatial=(2 ** 14, 2 ** 14), window=(3, 3), head_dim=64)
    with pytest.raises(sim.MappingError, match="beyond the limit"):
        tile_visits(neighborhood(c), (1, 1), (1, 1))


def _visits_by_every_query(n, w, s, dil, causal, qt, kt):
    """One dimension's (visited, full) KV tiles per Q tile from every query's window (NATTEN tiles each dilation
    group on its own): the per-query reduction that `_dim_visits` replaces by each tile's first and last query."""
    start, end = masks.gna_bounds(n, w, s, dil, causal)
    visited, full = [], []
    for g in range(dil):
        rows = np.arange(g, n, dil)                     # the group's queries in position order
        for t in range(0, len(rows), qt):
            q = rows[t:t + qt]
            lo = start[q].min() // kt * kt
            visited.append((-(-end[q].max() // kt) * kt - lo) // kt)
            first, last_first = max(lo, -(-start[q].max() // kt) * kt), min(end[q].min(), len(rows)) - kt
            full.append((last_first - first) // kt + 1 if last_first >= first else 0)
    return visited, full


def test_tile_extremes_from_the_first_and_last_query_equal_every_query_s():
    """Window bounds never decrease along a dilation group, so per-tile extremes need two queries per tile: equal
    to the reduction over every query, dilated, strided and causal layouts included."""
    from sim.bounds.gna_tiles import _dim_visits
    rng = np.random.default_rng(3)
    for _ in range(400):
        n, dil = int(rng.integers(1, 200)), int(rng.integers(1, 5))
        if dil > n:
            continue
        w = int(rng.integers(1, n // dil + 1))
        s, causal = int(rng.integers(1, w + 1)), bool(rng.integers(0, 2))
        qt, kt = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        visited, full = _dim_visits(n, w, s, dil, causal, qt, kt)
        assert (list(visited), list(full)) == _visits_by_every_query(n, w, s, dil, causal, qt, kt), (n, w, s, dil)
    with pytest.raises(sim.MappingError, match="window·dilation"):
        _dim_visits(10, 6, 1, 2, False, 4, 4)


@pytest.mark.parametrize("fields,match", [
    (((None,), (3,), (1,), (1,), (False,)), "spatial must be an integer"),
    (((16,), 3, (1,), (1,), (False,)), "window=3 needs a tuple"),
    (((16,), (3,), (4,), (1,), (False,)), "stride 4 > window 3"),
    (((16,), (9,), (1,), (2,), (False,)), r"window·dilation = 9·2 > input 16"),
    (((1 << 40,), (1,), (1,), (1,), (False,)), "at most 2\\^20"),
])
def test_tile_visits_check_a_hand_built_mask_as_the_builder_does(fields, match):
    from workloads.ir import Neighborhood
    with pytest.raises(workloads.CascadeError, match=match):
        tile_visits(Neighborhood("m", "p", *fields), (4,), (4,))
