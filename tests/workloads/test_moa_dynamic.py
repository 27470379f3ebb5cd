"""MoA (per-head causal sliding windows, elastic spans) and content-dependent block-sparse attention equal a direct
PyTorch float64 implementation, are counted exactly (against the dense mask), and refuse bad requests."""
import numpy as np
import pytest
import torch

import workloads
from workloads import CascadeError, attention, execute, masks
from workloads.variants.dynamic import strided_table, topk_blocks
from workloads.variants.moa import elastic_spans, moa_layers


def torch_masked_attention(q, k, v, allowed):
    """softmax(QKᵀ over the allowed keys) V in float64 (scale folded into Q, as the cascades do); allowed [H,M,P]."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    s = torch.einsum("bhme,bhpe->bhmp", t(q), t(k)).masked_fill(~t(allowed)[None], -torch.inf)
    return torch.einsum("bhmp,bhpf->bhmf", torch.softmax(s, -1), t(v)).numpy()


def moa_allowed(spans, m, p):
    """Row m of head h sees keys [m' − span + 1, m'], m' = m + p − M."""
    i, j = np.arange(m)[:, None] + (p - m), np.arange(p)[None, :]
    return np.stack([(j <= i) & (j > i - w) for w in spans])


def block_allowed(table, block, m, p):
    keep = np.asarray(table, dtype=bool)
    return keep[:, np.arange(m)[:, None] // block, np.arange(p)[None, :] // block]


def run(c, b, h, m, p, e, f, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((b, h, m, e)), rng.standard_normal((b, h, p, e)), rng.standard_normal((b, h, p, f))
    return q, k, v, execute(c, {"Q": q, "K": k, "V": v})[c.output]


@pytest.mark.parametrize("softmax,m,p,spans,key_tile", [
    ("1pass", 9, 9, (1, 4, 9), 4), ("2pass", 5, 11, (2, 11, 6), 3), ("3pass", 1, 8, (3, 8, 1), None),
    ("1pass", 6, 6, (6, 6, 6), 2)])
def test_moa_matches_torch(softmax, m, p, spans, key_tile):
    """Each head attends its own causal window, also in decode (M = 1) and with ragged key tiles."""
    c = attention("moa", batch=2, heads=3, seq=m, seq_kv=p, head_dim=3, head_dim_v=2, spans=spans,
                  softmax=softmax, key_tile=key_tile)
    q, k, v, out = run(c, 2, 3, m, p, 3, 2, m + p)
    np.testing.assert_allclose(out, torch_masked_attention(q, k, v, moa_allowed(spans, m, p)), atol=1e-12)


@pytest.mark.parametrize("softmax,m,p,block", [("1pass", 8, 8, 2), ("2pass", 6, 9, 3), ("3pass", 4, 6, 2)])
def test_dynamic_matches_torch_with_a_data_chosen_table(softmax, m, p, block):
    """Top-k block selection from the data itself (topk_blocks) executes like a direct masked attention."""
    rng = np.random.default_rng(m * p)
    h = 2
    q, k = rng.standard_normal((1, h, m, 3)), rng.standard_normal((1, h, p, 3))
    table = topk_blocks(q[0], k[0], block, top_k=2)
    c = attention("dynamic", batch=1, heads=h, seq=m, seq_kv=p, head_dim=3, block=block, keep=table,
                  softmax=softmax, key_tile=min(block, p))
    v = rng.standard_normal((1, h, p, 4))
    c = attention("dynamic", batch=1, heads=h, seq=m, seq_kv=p, head_dim=3, head_dim_v=4, block=block, keep=table,
                  softmax=softmax, key_tile=min(block, p))
    out = execute(c, {"Q": q, "K": k, "V": v})[c.output]
    np.testing.assert_allclose(out, torch_masked_attention(q, k, v, block_allowed(table, block, m, p)), atol=1e-12)
    assert all(sum(row) == 2 for head in table for row in head)


def test_topk_blocks_picks_the_highest_pooled_scores():
    """A key block aligned with the query block's mean wins."""
    q = np.zeros((1, 4, 2))
    q[0, :2, 0], q[0, 2:, 1] = 1.0, 1.0
    k = np.zeros((1, 6, 2))
    k[0, 2:4, 0], k[0, 4:, 1] = 5.0, 5.0
    assert topk_blocks(q, k, block=2, top_k=1) == (((0, 1, 0), (0, 0, 1)),)


@pytest.mark.parametrize("name,kw", [
    ("moa", dict(batch=2, heads=3, seq=7, seq_kv=10, head_dim=2, spans=(1, 4, 10), key_tile=3)),
    ("moa", dict(batch=1, heads=2, seq=5, head_dim=2, spans=(2, 5), softmax="3pass")),
    ("dynamic", dict(batch=1, heads=2, seq=6, seq_kv=7, head_dim=2, block=3, top_k=2, key_tile=2)),
    ("dynamic", dict(batch=2, heads=3, seq=4, head_dim=2, block=2, top_k=1, softmax="2pass"))])
def test_counts_are_exact(name, kw):
    """Every Einsum's points equal a brute-force count from the dense per-head mask, tile by tile."""
    c = attention(name, **kw)
    dense = masks.dense(c.masks[0], c.sizes["HM"], c.sizes["P"]).reshape(c.sizes["H"], c.sizes["M"], -1)
    pts = workloads.points(c)
    other = c.sizes["B"]
    first = c.einsums[0]            # the score GEMM: every (b, h, m, p) point times E
    assert pts[first.name] == other * int(dense.sum()) * c.sizes["E"]
    if "P0" in c.sizes:
        t = c.sizes["P0"]
        padded = np.pad(dense, ((0, 0), (0, 0), (0, -c.sizes["P"] % t)))
        per_tile = padded.reshape(c.sizes["H"], c.sizes["M"], -1, t).any(axis=3).sum()
        by_tile = [e for e in c.einsums if e.name == "SLD"]
        assert pts[by_tile[0].name] == other * int(padded.sum())
        assert pts["PRM" if "PRM" in pts else "CF"] == other * int(per_tile)


def test_grouped_window_counts_match_the_dense_mask():
    """Per-group window counts (pairs, key tiles, query tiles × key tiles) equal brute force on random spans."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        g, rows, p = rng.integers(1, 5), rng.integers(1, 9), rng.integers(1, 12)
        p = max(p, rows)
        left = tuple(int(x) for x in rng.integers(0, p + 1, g))
        right = tuple(int(x) for x in rng.integers(0, 3, g))
        w = workloads.Window("HM", "P", left, right)
        m = g * rows
        d = masks.dense(w, m, p)
        kt, qt = int(rng.integers(1, p + 1)), int(rng.integers(1, rows + 1))
        assert masks.pair_count(w, m, p) == d.sum()
        tiles = np.pad(d, ((0, 0), (0, -p % kt))).reshape(m, -1, kt).any(axis=2)
        assert masks.tile_count(w, m, p, kt) == tiles.sum()
        grouped = np.pad(tiles, ((0, -m % qt), (0, 0))).reshape(-1, qt, tiles.shape[1]).any(axis=1)
        assert masks.group_count(w, m, p, qt, kt) == grouped.sum()


def test_elastic_spans_scale_with_length_and_layers_differ():
    """MoA's span = α + β·N grows with the sequence; each layer is its own cascade."""
    assert elastic_spans((16, 0), (0.0, 0.25), 1024) == (16, 256)
    assert elastic_spans((16, 0), (0.0, 0.25), 4096) == (16, 1024)
    layers = moa_layers([((4, 8), (0.0, 0.5)), ((2, 2), (0.25, 0.0))], batch=1, heads=2, seq=16, head_dim=2)
    assert [mk.left for c in layers for mk in c.masks] == [(3, 15), (5, 1)]


def test_strided_table_differs_per_head_and_keeps_k_blocks():
    """The accounting table keeps exactly k blocks per row, shifted per head (so heads are not identical)."""
    t = np.asarray(strided_table(3, 4, 8, 2))
    assert (t.sum(axis=2) == 2).all() and not (t[0] == t[1]).all()
    for k in range(1, 65):   # distinct blocks for every k ≤ KB (spacing that would wrap onto a kept block)
        assert (np.asarray(strided_table(2, 3, 64, k)).sum(axis=2) == k).all()


@pytest.mark.parametrize("name,kw,fragment", [
    ("moa", dict(spans=(1, 2)), "2 spans for heads=3"),
    ("moa", dict(spans=(0, 1, 2)), "positive integers"),
    ("moa", dict(spans=None), "either spans"),
    ("moa", dict(spans=None, alpha=(1, 2, 3), beta=(0, -1, 0)), "finite numbers ≥ 0"),
    ("moa", dict(spans=None, alpha=(1, 2), beta=(0, 0)), "2 spans for heads=3"),
    ("moa", dict(seq_kv=3), "leaves the first queries"),
    ("dynamic", dict(block=4), "must divide seq"),
    ("dynamic", dict(block=2), "either keep"),
    ("dynamic", dict(block=2, top_k=9), "top_k=9 > 3"),
    ("dynamic", dict(block=2, keep=((1, 0, 0),)), "must be [3][3][3]"),
    ("dynamic", dict(block=2, keep=(((0, 0, 0),) * 3,) * 3), "keeps no key block"),
    ("dynamic", dict(block=2, keep=(((2, 0, 0),) * 3,) * 3), "0/1"),
    ("dynamic", dict(block=1, top_k=1, seq=2048, seq_kv=2048), "at most"),
])
def test_bad_requests_are_refused(name, kw, fragment):
    base = dict(batch=1, heads=3, seq=6, head_dim=2)
    if name == "moa":
        base["spans"] = (1, 2, 3)
    base.update(kw)
    with pytest.raises(CascadeError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        attention(name, **base)


def test_grouped_window_parameters_are_checked():
    """A per-group window must split the query rows evenly and have matching spans."""
    text = "input Q[hm,e], K[p,e]\nmask hm, p: window(left={}, right={})\nS[hm,p] = Q[hm,e] * K[p,e]\n"
    for left, right, fragment in [("(1, 2)", "(0,)", "equal"), ("(1, 2)", "(0, 0)", "do not split"),
                                  ("(1, -1, 0)", "(0, 0, 0)", "must be")]:
        with pytest.raises(CascadeError, match=fragment):
            workloads.cascade(text.format(left, right), {"HM": 7, "P": 4, "E": 1})
