"""The `sparse` dataflow: per-head sliding windows (MoA) and per-(head, query block) block tables. Tile patterns
equal brute force on the dense mask, the degenerate cases equal the dense and causal FlashAttention-3 kernels, and
the imbalance between heads and between query blocks costs time."""
import numpy as np
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import sparse
from sim.dataflows.gpu.costs import tile_pattern, unit_shape
from sim.dataflows.gpu.flash import FA3
from workloads import masks

H100 = accel.preset("h100")


def brute(c, q, k):
    """(partial, full) KV tiles per (head, Q tile) from the dense mask (padded keys make a tile partial)."""
    mask = c.masks[0]
    h, m, p = c.sizes["H"], c.sizes["M"], c.sizes["P"]
    rows = c.sizes[mask.query]
    d = masks.dense(mask, rows, p).reshape(-1, m, p)
    if d.shape[0] == 1:
        d = np.broadcast_to(d, (h, m, p))
    d = np.pad(d, ((0, 0), (0, -m % q), (0, -p % k)), constant_values=False)
    valid = np.pad(np.ones((m, p), bool), ((0, -m % q), (0, -p % k)))
    blocks = d.reshape(h, -1, q, d.shape[2] // k, k)
    real = valid.reshape(-1, q, d.shape[2] // k, k).any(axis=1)[None]
    visited = blocks.any(axis=(2, 4))
    rows_real = valid[:, 0].reshape(-1, q)
    full = np.stack([[[blocks[i, t][rows_real[t]][:, j].all() and real[0, t, j].all()
                       for j in range(blocks.shape[3])] for t in range(blocks.shape[1])] for i in range(h)])
    full &= visited
    return (visited.sum(axis=2) - full.sum(axis=2)).ravel(), full.sum(axis=2).ravel()


def pattern(c, q, k):
    a = sparse.shape(c, "sparse")
    partial, full, heads = sparse._pattern(c, {"q_tile": q, "kv_tile": k})(a, None)
    if heads == 1:
        partial, full = np.tile(partial, a.heads), np.tile(full, a.heads)
    return partial, full


@pytest.mark.parametrize("m,p,spans,q,k", [(12, 12, (1, 5, 12), 4, 4), (7, 13, (3, 13, 6), 3, 5),
                                          (1, 9, (4, 1, 9), 2, 4), (10, 10, (2, 2, 2), 10, 3)])
def test_window_pattern_matches_the_dense_mask(m, p, spans, q, k):
    c = workloads.attention("moa", batch=1, heads=3, seq=m, seq_kv=p, head_dim=4, spans=spans)
    got, want = pattern(c, q, k), brute(c, q, k)
    assert list(got[0]) == list(want[0]) and list(got[1]) == list(want[1])


def test_shared_sliding_window_pattern_matches_the_dense_mask():
    """FlashAttention's sliding window (one window for every head) runs on the same kernel."""
    c = workloads.attention("sliding", batch=1, heads=2, seq=9, seq_kv=14, head_dim=4, left=3, right=2)
    got, want = pattern(c, 4, 3), brute(c, 4, 3)
    assert list(got[0]) == list(want[0]) and list(got[1]) == list(want[1])


@pytest.mark.parametrize("m,p,block,q,k", [(8, 8, 2, 2, 2), (8, 10, 4, 2, 4), (12, 12, 3, 4, 6), (6, 7, 2, 6, 3)])
def test_block_pattern_matches_the_dense_mask(m, p, block, q, k):
    rng = np.random.default_rng(m + p + block)
    kb = -(-p // block)
    table = rng.integers(0, 2, (2, m // block, kb))
    table[:, :, 0] = 1
    c = workloads.attention("dynamic", batch=1, heads=2, seq=m, seq_kv=p, head_dim=4, block=block,
                            keep=table.tolist())
    got, want = pattern(c, q, k), brute(c, q, k)
    assert list(got[0]) == list(want[0]) and list(got[1]) == list(want[1])


def test_full_spans_are_causal_attention():
    """MoA with every span = the key length is causal attention: the same tiles as the causal kernel's."""
    c = workloads.attention("moa", batch=1, heads=4, seq=1024, head_dim=64, spans=(1024,) * 4)
    causal = workloads.attention("mha", batch=1, heads=4, seq=1024, head_dim=64, causal=True)
    a = sim.dataflows.gpu.shape.attention(causal)
    want = tile_pattern(a, unit_shape(a, FA3, 128, 128), 1024, 1, 1)
    got = pattern(c, 128, 128)
    assert list(got[0][:8]) == list(want[0]) and list(got[1][:8]) == list(want[1])


def test_all_kept_table_is_dense_attention():
    """A table that keeps every block runs exactly like the dense FlashAttention-3 kernel with the same tiles (the
    block-sparse kernel's KV tile divides the 128-key blocks; dense FA3 at head dim 128 defaults to 176 keys)."""
    c = workloads.attention("dynamic", batch=2, heads=8, seq=2048, head_dim=128, block=128, top_k=16)
    dense = workloads.attention("mha", batch=2, heads=8, seq=2048, head_dim=128)
    r = sim.evaluate(c, H100, dataflow="sparse")
    tiles = {k: r.mapping.params[k] for k in ("q_tile", "kv_tile", "stages", "ctas_per_sm")}
    d = sim.evaluate(dense, H100, dataflow="flash3", constraints=tiles)
    assert r.latency_s == pytest.approx(d.latency_s, rel=1e-9)
    assert r.tflops == pytest.approx(d.tflops, rel=1e-9)


def test_head_imbalance_costs_time():
    """Spans that differ per head (same total work) take longer than equal spans: the long heads' CTAs load the
    busiest SM; both stay above their rooflines."""
    spans = tuple(256 if h % 2 else 3840 for h in range(32))
    skewed = workloads.attention("moa", batch=1, heads=32, seq=4096, head_dim=128, spans=spans)
    even = workloads.attention("moa", batch=1, heads=32, seq=4096, head_dim=128, spans=(2048,) * 32)
    rs, re = sim.evaluate(skewed, H100, dataflow="sparse"), sim.evaluate(even, H100, dataflow="sparse")
    assert workloads.flops(skewed) <= workloads.flops(even) * 1.01
    assert rs.tflops < re.tflops
    for c, r in ((skewed, rs), (even, re)):
        assert r.latency_s >= sim.roofline(c, H100).lower_bound_s


def test_query_block_imbalance_costs_time():
    """A table whose first query blocks keep everything and the rest one block is slower than a table keeping
    the same number of blocks evenly, once its heavy CTAs outnumber what one wave balances."""
    heads, qb, kb = 4, 64, 64
    skew = np.zeros((heads, qb, kb), int)
    skew[:, :8, :] = 1
    skew[:, 8:, 0] = 1
    per_row = -(-skew.sum() // (heads * qb))
    even = workloads.attention("dynamic", batch=1, heads=heads, seq=8192, head_dim=128, block=128, top_k=int(per_row))
    skewed = workloads.attention("dynamic", batch=1, heads=heads, seq=8192, head_dim=128, block=128,
                                 keep=skew.tolist())
    assert workloads.flops(skewed) <= workloads.flops(even)
    assert sim.evaluate(skewed, H100, dataflow="sparse").latency_s > \
        sim.evaluate(even, H100, dataflow="sparse").latency_s


def test_results_carry_exact_counts_and_refuse_what_they_cannot_run():
    """FLOPs are the cascade's own (attended pairs); other masks and grouped heads get reasons."""
    c = workloads.attention("moa", batch=1, heads=2, seq=512, head_dim=64, spans=(64, 512))
    r = sim.evaluate(c, H100, dataflow="sparse")
    assert r.tflops * r.latency_s * 1e12 == pytest.approx(workloads.flops(c)) and list(r.kernels) == ["fmha"]
    gna = workloads.attention("gna", batch=1, heads=2, spatial=(16, 16), window=(5, 5), head_dim=64)
    assert "sliding-window or block-table" in sim.dataflow("sparse").supports(gna, H100)
    mha = workloads.attention("mha", batch=1, heads=2, seq=64, head_dim=64)
    assert "needs one sliding-window" in sim.dataflow("sparse").supports(mha, H100)
