"""Compulsory traffic counts only what the masks let any Einsum reach: a sliding window's decode reads its window
of the KV cache, an MoE batch the experts its tokens route to — so the roofline is a bound (a result above it)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import accel
import sim
import workloads
from workloads import masks
from workloads.ir import Blocks, Causal, Window


def test_sliding_window_decode_reads_its_window():
    c = workloads.attention("sliding", batch=1, heads=8, seq=1, seq_kv=32768, head_dim=128, left=4096)
    window = 4097 * 8 * 128 * 2                        # K (and V) rows of the window, fp16
    q_and_out = 2 * 8 * 128 * 2
    assert workloads.compulsory_bytes(c) == 2 * window + q_and_out


def test_an_unmasked_cascade_reads_everything():
    c = workloads.attention("mha", batch=2, heads=4, seq=128, head_dim=64, causal=True)
    assert workloads.compulsory_bytes(c) == 2 * sum(workloads.elements(c, t) for t in (*c.inputs, c.output))


def test_moe_decode_layer_result_is_above_its_roofline():
    layer = workloads.model("deepseek-v3").layer(seq=1, seq_kv=4096, batch=8)
    h100 = accel.preset("h100")
    assert sim.evaluate(layer, h100).latency_s >= sim.roofline(layer, h100).lower_bound_s


MASKS = st.one_of(
    st.builds(lambda: Causal("M", "P")),
    st.builds(lambda l, r: Window("M", "P", l, r), st.integers(0, 9), st.integers(0, 9)),
)


@settings(max_examples=120, deadline=None)
@given(MASKS, st.integers(1, 24), st.integers(1, 24))
def test_touched_equals_the_dense_mask(mask, m, p):
    d = masks.dense(mask, m, p)
    assert masks.touched(mask, m, p) == (int(d.any(axis=1).sum()), int(d.any(axis=0).sum()))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_touched_blocks_equals_the_dense_mask(rows, cols, data):
    keep = tuple(tuple(data.draw(st.booleans()) for _ in range(cols)) for _ in range(rows))
    mask = Blocks("M", "P", 3, 2, keep)
    m, p = 3 * rows - data.draw(st.integers(0, 2)), 2 * cols - data.draw(st.integers(0, 1))
    d = masks.dense(mask, m, p)
    assert masks.touched(mask, m, p) == (int(d.any(axis=1).sum()), int(d.any(axis=0).sum()))
