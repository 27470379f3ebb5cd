"""Executor invariants over generated cascades: splitting a rank never changes the result (any tile, padded,
masked or not), the 1/2/3-pass softmax cores agree with each other and with a dense softmax, op counts do not
depend on the split, and execution is deterministic."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import workloads
from workloads import masks as mask_rules

from prop_strategies import FAST, GENERIC, SLOW, attention_shape, generic_case, random_inputs, with_mask


def _split_pair(kind, sizes, tile, mask):
    plain_text, split_text = GENERIC[kind]
    plain = workloads.cascade(with_mask(plain_text, mask), sizes)
    split = workloads.cascade(with_mask(split_text, mask), {**sizes, "P0": tile})
    return plain, split


def check_split_invariance(case, seed):
    kind, sizes, tile, mask = case
    plain, split = _split_pair(kind, sizes, tile, mask)
    inputs = random_inputs(plain, seed)
    a = workloads.execute(plain, inputs)["Z"]
    b = workloads.execute(split, inputs)["Z"]
    if b.ndim == 3:  # Z[m, p1, p0]: trim the padded tail of P
        b = b.reshape(b.shape[0], -1)[:, : sizes["P"]]
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, equal_nan=True)
    # Masked and padded points are excluded exactly: the split cascade does the same work per op type.
    assert workloads.total_ops(split) == workloads.total_ops(plain)
    if "P1" in split.tensors[split.output].ranks:
        # An output stored as [.., P1, P0] counts its padded tail (⌈P/P0⌉·P0 points): never less than unsplit.
        assert workloads.compulsory_bytes(split) >= workloads.compulsory_bytes(plain)
    else:
        assert workloads.compulsory_bytes(split) == workloads.compulsory_bytes(plain)


@settings(max_examples=FAST, deadline=None, suppress_health_check=list(HealthCheck))
@given(generic_case(), st.integers(0, 2 ** 16))
def test_splitting_a_rank_never_changes_the_result(case, seed):
    """P → P1·P0 with any tile P0 ≤ P (padded when it does not divide), with no mask, a causal mask or a
    window mask: the executor's output is unchanged, and so are the op counts and compulsory bytes."""
    check_split_invariance(case, seed)


@pytest.mark.slow
@settings(max_examples=SLOW, deadline=None, suppress_health_check=list(HealthCheck))
@given(generic_case(), st.integers(0, 2 ** 16))
def test_splitting_a_rank_never_changes_the_result_slow(case, seed):
    check_split_invariance(case, seed)


def _dense_attention(q, k, v, keep):
    s = np.einsum("bhme,bhpe->bhmp", q, k)
    s = np.where(keep, s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w = w / w.sum(axis=-1, keepdims=True)
    return np.einsum("bhmp,bhpf->bhmf", w, v)


def check_cores_agree(shape, mask, tiles, seed):
    m, p = shape["seq"], shape["seq_kv"]
    results = {}
    for softmax, tile in zip(("3pass", "2pass", "1pass"), (None, *tiles)):
        tile = None if tile is None else min(tile, p)
        if mask is None:
            c = workloads.attention("mha", **shape, softmax=softmax, key_tile=tile, causal=False)
        elif mask == "causal":
            c = workloads.attention("mha", **shape, softmax=softmax, key_tile=tile, causal=True)
        else:
            c = workloads.attention("sliding", **shape, left=mask[0], right=mask[1], softmax=softmax, key_tile=tile)
        rng = np.random.default_rng(seed)
        b, h, e, f = shape["batch"], shape["heads"], shape["head_dim"], shape["head_dim_v"]
        q, k, v = rng.standard_normal((b, h, m, e)), rng.standard_normal((b, h, p, e)), rng.standard_normal((b, h, p, f))
        out = workloads.execute(c, {"Q": q, "K": k, "V": v})[c.output].reshape(b, h, m, f)
        results[softmax] = out
        assert workloads.passes(c, "P") == int(softmax[0])
    keep = np.ones((m, p), bool) if mask is None else mask_rules.dense(c.masks[0], m, p)
    expected = _dense_attention(q, k, v, keep)
    for softmax, out in results.items():
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-10, err_msg=softmax)


masks = st.one_of(st.none(), st.just("causal"), st.tuples(st.integers(0, 5), st.integers(0, 5)))


@settings(max_examples=FAST, deadline=None, suppress_health_check=list(HealthCheck))
@given(attention_shape(), masks, st.tuples(st.integers(1, 12), st.integers(1, 12)), st.integers(0, 2 ** 16))
def test_softmax_cores_agree(shape, mask, tiles, seed):
    """The 3-pass, 2-pass and 1-pass cores (any key tiles) give the same attention as a dense softmax, with no
    mask, a causal mask or a sliding window; `passes` reports 3, 2 and 1."""
    check_cores_agree(shape, mask, tiles, seed)


@pytest.mark.slow
@settings(max_examples=SLOW, deadline=None, suppress_health_check=list(HealthCheck))
@given(attention_shape(max_seq=16), masks, st.tuples(st.integers(1, 20), st.integers(1, 20)), st.integers(0, 2 ** 16))
def test_softmax_cores_agree_slow(shape, mask, tiles, seed):
    check_cores_agree(shape, mask, tiles, seed)


@settings(max_examples=max(FAST // 2, 5), deadline=None, suppress_health_check=list(HealthCheck))
@given(generic_case(), st.integers(0, 2 ** 16))
def test_execution_and_counts_are_deterministic(case, seed):
    """Running the same cascade on the same inputs twice gives bit-identical tensors and identical counts."""
    kind, sizes, tile, mask = case
    _, split = _split_pair(kind, sizes, tile, mask)
    inputs = random_inputs(split, seed)
    first, second = workloads.execute(split, inputs), workloads.execute(split, inputs)
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert workloads.op_counts(split) == workloads.op_counts(split)
