"""Counting closes the class of mask bugs: for every mask kind (causal, sliding window, block table, neighborhood),
any sizes (fewer keys than queries included), and every way an Einsum can see the two masked ranks (whole, split
into tiles, or by tile only), `points` equals what the reference executor visits; and the attention builders
either refuse a shape (naming queries with no keys) or their 1/2/3-pass cores agree with a dense softmax."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import workloads
from workloads import CascadeError, masks
from workloads.executor import _mask
from workloads.order import loop_ranks

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))

SIDES = ("whole", "split", "tile")   # m | m1,m0 | m1 (the Einsum iterates query tiles only)


@st.composite
def mask_spec(draw, m: int, p: int) -> str | None:
    kind = draw(st.sampled_from(["causal", "window", "blocks", "gna"] if m == p else ["causal", "window", "blocks"]))
    if kind == "causal":
        return "causal"
    if kind == "window":
        return f"window(left={draw(st.integers(0, 6))}, right={draw(st.integers(0, 6))})"
    if kind == "blocks":
        qb, kb = draw(st.integers(1, m)), draw(st.integers(1, p))
        rows, cols = -(-m // qb), -(-p // kb)
        keep = tuple(tuple(draw(st.integers(0, 1)) for _ in range(cols)) for _ in range(rows))
        return f"blocks(q_block={qb}, kv_block={kb}, keep={keep})"
    n = m
    dims = [d for d in (1, 2) if d == 1 or any(n % a == 0 and 2 <= a <= n // 2 for a in range(2, n))]
    if draw(st.sampled_from(dims)) == 2:
        a = draw(st.sampled_from([a for a in range(2, n) if n % a == 0 and n // a >= 2]))
        spatial = (a, n // a)
    else:
        spatial = (n,)
    window = tuple(draw(st.integers(1, s)) for s in spatial)
    dilation = tuple(draw(st.integers(1, max(1, s // w))) for s, w in zip(spatial, window))
    stride = tuple(draw(st.integers(1, w)) for w in window)
    causal = tuple(draw(st.booleans()) for _ in spatial)
    return f"gna(spatial={spatial}, window={window}, stride={stride}, dilation={dilation}, causal={causal})"


def _side(var: str, how: str) -> tuple[str, str]:
    """(declared input indices, indices the Einsum reads) for one masked rank."""
    if how == "whole":
        return var, var
    if how == "split":
        return var, f"{var}1,{var}0"
    return f"{var}1", f"{var}1"


@st.composite
def masked_cascade(draw):
    m, p = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    if draw(st.booleans()):
        p = m
    q_how, k_how = draw(st.sampled_from(SIDES)), draw(st.sampled_from(SIDES))
    sizes = {"M": m, "P": p}
    lines = []
    if q_how != "whole":
        lines.append("split m -> m1, m0")
        sizes["M0"] = draw(st.integers(1, m))
    if k_how != "whole":
        lines.append("split p -> p1, p0")
        sizes["P0"] = draw(st.integers(1, p))
    lines.append(f"mask m, p: {draw(mask_spec(m, p))}")
    (qd, qr), (kd, kr) = _side("m", q_how), _side("p", k_how)
    out = ",".join(x for x in (qr, kr))
    text = f"input Q[{qd}], K[{kd}]\n" + "\n".join(lines) + f"\nS[{out}] = Q[{qr}] * K[{kr}]\n"
    return workloads.cascade(text, sizes)


def visited(c: workloads.Cascade, name: str) -> int:
    """Points the reference executor visits for one Einsum: its dense, projected mask summed over the loops."""
    e = next(e for e in c.einsums if e.name == name)
    loops = list(loop_ranks(e))
    shape = tuple(c.sizes[r] for r in loops)
    keep = _mask(c, loops, {})
    return math.prod(shape) if keep is None else int(np.broadcast_to(keep, shape).sum())


def check_counts(c: workloads.Cascade) -> None:
    assert workloads.points(c)["S"] == visited(c, "S"), workloads.to_text(c)


@FAST
@given(masked_cascade())
def test_points_equal_the_points_the_executor_visits(c):
    """Closed forms, block counts and neighborhood runs agree with the executor's dense masks, whole or tiled."""
    check_counts(c)


@pytest.mark.slow
@SLOW
@given(masked_cascade())
def test_points_equal_the_points_the_executor_visits_slow(c):
    check_counts(c)


@pytest.mark.parametrize("m,p", [(1, 1), (1, 9), (9, 1), (5, 5), (7, 3), (3, 7)])
@pytest.mark.parametrize("spec", ["causal", "window(left=0, right=0)", "window(left=2, right=1)",
                                  "window(left=0, right=4)"])
def test_interval_counts_match_the_dense_mask_on_every_tiling(m, p, spec):
    """Causal and windows, all query and key tiles, empty rows included (P < M)."""
    for qt in range(1, m + 1):
        for kt in range(1, p + 1):
            mask = workloads.cascade(f"input Q[m], K[p]\nmask m, p: {spec}\nS[m,p] = Q[m] * K[p]",
                                     {"M": m, "P": p}).masks[0]
            d = masks.dense(mask, m, p)
            padded = np.zeros((-(-m // qt) * qt, -(-p // kt) * kt), bool)
            padded[:m, :p] = d
            tiles = padded.reshape(-(-m // qt), qt, -(-p // kt), kt).any(axis=(1, 3))
            assert masks.pair_count(mask, m, p) == d.sum()
            assert masks.tile_count(mask, m, p, kt) == padded.reshape(len(padded), -1, kt).any(axis=2)[:m].sum()
            assert masks.group_count(mask, m, p, qt) == padded.reshape(-1, qt, padded.shape[1]).any(axis=1).sum()
            assert masks.group_count(mask, m, p, qt, kt) == tiles.sum()


# --- the attention builders: refused, or every core agrees -------------------------------------------------

def dense_attention(q, k, v, keep):
    s = np.einsum("bhme,bhpe->bhmp", q, k)
    s = np.where(keep, s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    return np.einsum("bhmp,bhpf->bhmf", w / w.sum(axis=-1, keepdims=True), v)


@st.composite
def attention_request(draw):
    m, p = draw(st.integers(1, 8)), draw(st.integers(1, 10))
    shape = dict(batch=1, heads=draw(st.integers(1, 2)), seq=m, seq_kv=p, head_dim=draw(st.integers(1, 3)))
    kind = draw(st.sampled_from(["none", "causal", "sliding", "blocked"]))
    if kind == "sliding":
        return "sliding", dict(shape, left=draw(st.integers(0, 4)), right=draw(st.integers(0, 4)))
    if kind == "blocked":
        block = draw(st.integers(1, m))
        rows = -(-m // block)
        keep = tuple(tuple(draw(st.integers(0, 1)) for _ in range(rows)) for _ in range(rows))
        return "blocked", dict(batch=1, heads=shape["heads"], spatial=m, block=block, keep=keep,
                               head_dim=shape["head_dim"])
    return "mha", dict(shape, causal=kind == "causal")


def leaves_a_query_without_keys(name, shape) -> bool:
    """Whether the requested mask gives some query no key (bottom-right-aligned causal or window with P < M, or a
    block-table row of zeros)."""
    if name == "blocked":
        return not all(any(row) for row in shape["keep"])
    return (name == "sliding" or shape.get("causal")) and shape["seq_kv"] < shape["seq"]


def check_cores(name, shape, seed):
    outs, c = {}, None
    for softmax in ("3pass", "2pass", "1pass"):
        try:
            c = workloads.attention(name, **shape, softmax=softmax)
        except CascadeError as err:
            assert "no key" in str(err) and leaves_a_query_without_keys(name, shape), str(err)
            return
        rng = np.random.default_rng(seed)
        m, p = c.sizes["M"], c.sizes["P"]
        q, k, v = (rng.standard_normal((1, c.sizes["H"], n, c.sizes["E"])) for n in (m, p, p))
        outs[softmax] = workloads.execute(c, {"Q": q, "K": k, "V": v})[c.output].reshape(1, -1, m, c.sizes["E"])
    assert not leaves_a_query_without_keys(name, shape)
    keep = np.ones((m, p), bool) if not c.masks else masks.dense(c.masks[0], m, p)
    assert keep.any(axis=1).all()   # an accepted shape gives every query a key
    expected = dense_attention(q, k, v, keep)
    for softmax, out in outs.items():
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-10, err_msg=softmax)


@FAST
@given(attention_request(), st.integers(0, 2 ** 16))
def test_builders_refuse_or_all_cores_agree(request, seed):
    """Any seq/seq_kv (fewer keys than queries included), causal, sliding or block tables: the builder refuses a
    shape that leaves a query without keys, and otherwise the three cores give the dense softmax."""
    check_cores(*request, seed)


@pytest.mark.slow
@SLOW
@given(attention_request(), st.integers(0, 2 ** 16))
def test_builders_refuse_or_all_cores_agree_slow(request, seed):
    check_cores(*request, seed)


def test_a_generic_cascade_may_have_queries_without_keys():
    """Outside the attention builders a mask may leave a query without keys: its points are simply not there."""
    c = workloads.cascade("input Q[m], K[p]\nmask m, p: causal\nS[m,p] = Q[m] * K[p]", {"M": 5, "P": 2})
    assert workloads.points(c)["S"] == visited(c, "S") == 3
