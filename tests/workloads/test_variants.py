"""Every attention variant executes (workloads.execute, float64) to the same values as an independent PyTorch
implementation written here, on small random shapes, including non-divisible tiles and head groups."""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import workloads
from workloads import CascadeError, attention, execute, masks

SOFTMAXES = ("3pass", "2pass", "1pass")


def rand(rng, *shape):
    return rng.standard_normal(shape)


def run(c, **inputs):
    """The cascade's output as a NumPy array; a grouped output [B,G,R,M,F] is returned as [B,H,M,F]."""
    out = execute(c, inputs)[c.output]
    if out.ndim == 5:
        b, g, r, m, f = out.shape
        out = out.reshape(b, g * r, m, f)
    return out


def sdpa(q, k, v, mask=None):
    """Reference softmax(QKᵀ)V with PyTorch's GQA head mapping; `mask` is a boolean [M, P] (True = attend)."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    out = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=None if mask is None else t(mask),
                                         scale=1.0, enable_gqa=True)
    return out.numpy()


def causal_mask(m, p):
    return np.tril(np.ones((m, p), dtype=bool), p - m)


# --- NATTEN's predicate, re-implemented independently per (query, key) from NATTEN's definition ---------

def natten_1d(i, j, n, w, s, d, causal):
    if i % d != j % d:
        return False
    grp = i % d
    ng = (n - grp + d - 1) // d
    ig, jg = i // d, j // d
    if causal:
        leader = min((ig // s) * s + s - 1, ng - 1)
        start, end = max(leader - w + 1, 0), min(ig + 1, ng)
    else:
        w_left, w_right = w // 2, w // 2 + (w % 2 - 1)
        leader = min((ig // s) * s + s // 2, ng - 1)
        start = max(leader - w_left, 0)
        if leader + w_right >= ng:
            start += ng - w_right - leader - 1
        end = start + w
    return start <= jg < end


def natten_mask(spatial, window, stride, dilation, causal):
    coords = list(itertools.product(*[range(n) for n in spatial]))  # row-major: the last dimension fastest
    out = np.zeros((len(coords), len(coords)), dtype=bool)
    for a, qi in enumerate(coords):
        for b, kj in enumerate(coords):
            out[a, b] = all(natten_1d(qi[x], kj[x], spatial[x], window[x], stride[x], dilation[x], causal[x])
                            for x in range(len(spatial)))
    return out


def random_gna(rng, dims):
    """A random valid GNA configuration with 1..dims-D layouts (stride ≤ window, window·dilation ≤ input)."""
    spatial, window, stride, dilation, causal = [], [], [], [], []
    for _ in range(dims):
        n = int(rng.integers(2, 9 if dims == 1 else 6))
        d = int(rng.integers(1, 3)) if n >= 4 else 1
        w = int(rng.integers(1, n // d + 1))
        spatial.append(n), dilation.append(d), window.append(w)
        stride.append(int(rng.integers(1, w + 1)))
        causal.append(bool(rng.integers(0, 2)))
    return tuple(spatial), tuple(window), tuple(stride), tuple(dilation), tuple(causal)


# --- GQA / MQA / SQA --------------------------------------------------------------------------------------

@pytest.mark.parametrize("softmax", SOFTMAXES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_gqa_matches_sdpa_enable_gqa(softmax, causal, seed):
    """GQA (Q [B,H,M,E], K/V [B,G,P,·]) equals SDPA with enable_gqa, prefill and decode, ragged key tiles."""
    rng = np.random.default_rng(seed)
    g = int(rng.integers(1, 4))
    h = g * int(rng.integers(1, 4))
    b, e, f = int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
    p = int(rng.integers(2, 12))
    m = p if seed == 0 else int(rng.integers(1, p + 1))
    c = attention("gqa", batch=b, heads=h, kv_heads=g, seq=m, seq_kv=p, head_dim=e, head_dim_v=f, causal=causal,
                  softmax=softmax, key_tile=int(rng.integers(1, p + 1)))
    q, k, v = rand(rng, b, h, m, e), rand(rng, b, g, p, e), rand(rng, b, g, p, f)
    ref = sdpa(q, k, v, causal_mask(m, p) if causal else None)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("softmax", SOFTMAXES)
def test_mqa_is_one_kv_head(softmax):
    """MQA: every query head reads the single K/V head (decode, M = 2 speculative tokens, causal)."""
    rng = np.random.default_rng(7)
    q, k, v = rand(rng, 2, 5, 2, 3), rand(rng, 2, 1, 9, 3), rand(rng, 2, 1, 9, 2)
    c = attention("mqa", batch=2, heads=5, seq=2, seq_kv=9, head_dim=3, head_dim_v=2, causal=True, softmax=softmax,
                  key_tile=4)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), sdpa(q, k, v, causal_mask(2, 9)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("setting,hq,hkv", [("ssqa", 4, 4), ("xsqa", 2, 2), (None, 4, 2)])
def test_sqa_settings(setting, hq, hkv):
    """SQA is GQA with H_q < H query heads; sSQA = H/2 / H/2, xSQA = H/4 / H/4 of an 8-head baseline."""
    rng = np.random.default_rng(3)
    shape = dict(batch=1, heads=8, seq=5, head_dim=3, causal=True, key_tile=2)
    c = (attention(setting, **shape) if setting else attention("sqa", query_heads=hq, kv_heads=hkv, **shape))
    assert c.sizes["H"] == hq and c.sizes["G"] == hkv
    q, k, v = rand(rng, 1, hq, 5, 3), rand(rng, 1, hkv, 5, 3), rand(rng, 1, hkv, 5, 3)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), sdpa(q, k, v, causal_mask(5, 5)), rtol=0, atol=1e-9)


# --- split-KV merge and linear attention --------------------------------------------------------------------

@pytest.mark.parametrize("p,splits,m,causal", [(10, 4, 1, False), (9, 4, 3, True), (7, 7, 1, False), (8, 3, 2, False)])
def test_split_kv_merge_is_exact(p, splits, m, causal):
    """The flash-decoding merge of per-segment (max, denominator, numerator) equals full attention."""
    rng = np.random.default_rng(p)
    q, k, v = rand(rng, 2, 4, m, 3), rand(rng, 2, 2, p, 3), rand(rng, 2, 2, p, 5)
    c = attention("split_kv", batch=2, heads=4, kv_heads=2, seq=m, seq_kv=p, head_dim=3, head_dim_v=5,
                  splits=splits, causal=causal)
    ref = sdpa(q, k, v, causal_mask(m, p) if causal else None)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("causal", [False, True])
def test_linear_attention_matches_torch(causal):
    """Kernelised attention with φ = elu + 1: Σ_p φ(q)·φ(k_p) v_p / Σ_p φ(q)·φ(k_p) (causal: p ≤ m)."""
    rng = np.random.default_rng(11)
    b, h, g, n, e, f = 2, 4, 2, 6, 3, 4
    q, k, v = rand(rng, b, h, n, e), rand(rng, b, g, n, e), rand(rng, b, g, n, f)
    c = attention("linear", batch=b, heads=h, kv_heads=g, seq=n, head_dim=e, head_dim_v=f, causal=causal)
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    phi = lambda x: F.elu(x) + 1
    pk, pv = phi(tk).repeat_interleave(h // g, dim=1), tv.repeat_interleave(h // g, dim=1)
    scores = phi(tq) @ pk.transpose(-1, -2)
    if causal:
        scores = scores * torch.from_numpy(causal_mask(n, n))
    ref = (scores @ pv) / scores.sum(-1, keepdim=True)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), ref.numpy(), rtol=0, atol=1e-9)


# --- local attention --------------------------------------------------------------------------------------

@pytest.mark.parametrize("softmax", SOFTMAXES)
@pytest.mark.parametrize("m,p,left,right", [(6, 6, 2, 0), (6, 6, 1, 2), (1, 9, 3, 0), (3, 10, 4, 1)])
def test_sliding_window_matches_flash_semantics(softmax, m, p, left, right):
    """Sliding window: query i attends keys [i + P − M − left, i + P − M + right] (FlashAttention's docstring)."""
    rng = np.random.default_rng(m * 31 + p)
    q, k, v = rand(rng, 1, 4, m, 3), rand(rng, 1, 2, p, 3), rand(rng, 1, 2, p, 3)
    c = attention("sliding", batch=1, heads=4, kv_heads=2, seq=m, seq_kv=p, head_dim=3, left=left, right=right,
                  softmax=softmax, key_tile=4)
    i = np.arange(m)[:, None] + p - m
    j = np.arange(p)[None, :]
    mask = (j >= i - left) & (j <= i + right)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), sdpa(q, k, v, mask), rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(9))
def test_gna_matches_natten_predicate(seed):
    """GNA over random 1-D/2-D/3-D layouts (window, stride, dilation, causal) equals SDPA with NATTEN's mask."""
    rng = np.random.default_rng(100 + seed)
    dims = seed % 3 + 1
    spatial, window, stride, dilation, causal = random_gna(rng, dims)
    n = math.prod(spatial)
    softmax = SOFTMAXES[seed % 3]
    c = attention("gna", batch=1, heads=2, kv_heads=1, spatial=spatial, window=window, stride=stride,
                  dilation=dilation, causal=causal, head_dim=3, head_dim_v=2, softmax=softmax,
                  key_tile=int(rng.integers(1, n + 1)))
    q, k, v = rand(rng, 1, 2, n, 3), rand(rng, 1, 1, n, 3), rand(rng, 1, 1, n, 2)
    mask = natten_mask(spatial, window, stride, dilation, causal)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), sdpa(q, k, v, mask), rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(30))
def test_gna_pair_count_is_brute_force(seed):
    """The exact masked pair count (and the cascade's QK iteration space) equals brute-force enumeration."""
    rng = np.random.default_rng(seed)
    spatial, window, stride, dilation, causal = random_gna(rng, seed % 3 + 1)
    brute = int(natten_mask(spatial, window, stride, dilation, causal).sum())
    c = attention("gna", batch=2, heads=3, spatial=spatial, window=window, stride=stride, dilation=dilation,
                  causal=causal, head_dim=5, softmax="3pass")
    n = math.prod(spatial)
    assert masks.pair_count(c.masks[0], n, n) == brute
    assert workloads.points(c)["QK"] == 2 * 3 * brute * 5


def test_na_is_gna_with_stride_one_and_sees_exactly_window_keys():
    """Non-causal NA gives every query exactly prod(window) keys; `na` is `gna` with stride 1."""
    c = attention("na", batch=1, heads=1, spatial=(5, 7), window=(3, 4), dilation=(1, 1), head_dim=2)
    rows = masks.dense(c.masks[0], 35, 35).sum(axis=1)
    assert (rows == 12).all()
    g = attention("gna", batch=1, heads=1, spatial=(5, 7), window=(3, 4), stride=1, head_dim=2)
    assert c.masks == g.masks


@pytest.mark.parametrize("spatial,block,causal", [((8,), 4, False), ((10,), 4, True), ((4, 6), (2, 3), False)])
def test_blocked_is_window_self_attention(spatial, block, causal):
    """Blocked attention (stride = window) equals SDPA with NATTEN's mask; divisible blocks are disjoint."""
    rng = np.random.default_rng(5)
    n = math.prod(spatial)
    c = attention("blocked", batch=1, heads=2, spatial=spatial, block=block, causal=causal, head_dim=3, key_tile=3)
    w = block if isinstance(block, tuple) else (block,)
    mask = natten_mask(spatial, w, w, (1,) * len(spatial), (causal,) * len(spatial))
    q, k, v = rand(rng, 1, 2, n, 3), rand(rng, 1, 2, n, 3), rand(rng, 1, 2, n, 3)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), sdpa(q, k, v, mask), rtol=0, atol=1e-9)
    if spatial == (8,):
        assert (mask == np.kron(np.eye(2, dtype=bool), np.ones((4, 4), dtype=bool))).all()


def test_blocked_explicit_keep_table():
    """An explicit block-sparse keep table (ragged last block) equals SDPA with the expanded block mask."""
    rng = np.random.default_rng(9)
    keep = ((1, 0, 0), (1, 1, 0), (0, 1, 1))
    c = attention("blocked", batch=1, heads=2, spatial=7, block=3, keep=keep, head_dim=3, key_tile=2)
    mask = np.kron(np.array(keep, dtype=bool), np.ones((3, 3), dtype=bool))[:7, :7]
    q, k, v = rand(rng, 1, 2, 7, 3), rand(rng, 1, 2, 7, 3), rand(rng, 1, 2, 7, 3)
    np.testing.assert_allclose(run(c, Q=q, K=k, V=v), sdpa(q, k, v, mask), rtol=0, atol=1e-9)


# --- invalid parameters -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,shape,fragment", [
    ("gqa", dict(batch=1, heads=8, kv_heads=3, seq=4, head_dim=2), "kv_heads=3 does not divide heads=8"),
    ("gqa", dict(batch=1, heads=8, kv_heads=0, seq=4, head_dim=2), "kv_heads must be a positive integer"),
    ("gna", dict(batch=1, heads=1, spatial=(8,), window=3, stride=4, head_dim=2), "stride 4 > window 3"),
    ("gna", dict(batch=1, heads=1, spatial=(4, 8), window=(3, 3), dilation=(2, 1), head_dim=2),
     "window·dilation = 3·2 > input 4"),
    ("gna", dict(batch=1, heads=1, spatial=(4, 8), window=(3, 3, 3), head_dim=2), "one entry per layout dimension"),
    ("na", dict(batch=1, heads=1, spatial=(4,), window=5, head_dim=2), "window·dilation = 5·1 > input 4"),
    ("sliding", dict(batch=1, heads=1, seq=4, head_dim=2, left=-1), "left must be a non-negative integer"),
    ("sliding", dict(batch=1, heads=1, seq=5, seq_kv=3, head_dim=2, left=1), "leaves queries with no keys"),
    ("sqa", dict(batch=1, heads=8, query_heads=8, kv_heads=8, seq=4, head_dim=2), "must be fewer than"),
    ("sqa", dict(batch=1, heads=8, query_heads=2, kv_heads=4, seq=4, head_dim=2), "must not exceed"),
    ("sqa", dict(batch=1, heads=6, setting="xsqa", seq=4, head_dim=2), "divisible by 4"),
    ("split_kv", dict(batch=1, heads=2, seq_kv=3, head_dim=2, splits=4), "splits=4 exceeds"),
    ("linear", dict(batch=1, heads=2, seq=2, seq_kv=5, head_dim=2, causal=True), "needs seq_kv == seq"),
    ("gqa", dict(batch=1, heads=2, kv_heads=1, seq=4, head_dim=2, softmax="4pass"), "unknown softmax"),
    ("nope", dict(), "valid: "),
])
def test_invalid_parameters_raise(name, shape, fragment):
    """Invalid variant parameters raise CascadeError with a message naming the problem."""
    with pytest.raises(CascadeError, match=None) as info:
        attention(name, **shape)
    assert fragment in str(info.value)


@pytest.fixture
def alibi_variant():
    """An ALiBi-style variant (an additive bias on the scores) written through the documented extension point
    `workloads.variants.core`, registered for one test and removed after it."""
    from workloads.variants import core
    from workloads.variants.registry import VARIANTS

    @workloads.register_variant("alibi_test")
    def alibi(*, batch, heads, seq, head_dim, softmax="1pass"):
        scores = "{S}R[b,h,m,{p}] = Q[b,h,m,e] * K[b,h,{p},e]\n{S}[b,h,m,{p}] = {S}R[b,h,m,{p}] + BIAS[h,m,{p}]"
        text = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], BIAS[h,m,p]\n" + core(softmax, "b,h", "b,h", scores=scores)
        sizes = {"B": batch, "H": heads, "M": seq, "P": seq, "E": head_dim, "F": head_dim}
        if softmax != "3pass":
            sizes["P0"] = 2
        return workloads.cascade(text, sizes, name="alibi")

    yield "alibi_test"
    del VARIANTS["alibi_test"]


@pytest.mark.parametrize("softmax", SOFTMAXES)
def test_core_is_the_extension_point_for_new_score_functions(alibi_variant, softmax):
    """A variant built on `workloads.variants.core` with its own score statements runs like SDPA with that bias."""
    rng = np.random.default_rng(7)
    c = attention(alibi_variant, batch=1, heads=2, seq=5, head_dim=3, softmax=softmax)
    q, k, v = rand(rng, 1, 2, 5, 3), rand(rng, 1, 2, 5, 3), rand(rng, 1, 2, 5, 3)
    bias = rand(rng, 2, 5, 5)
    out = run(c, Q=q, K=k, V=v, BIAS=bias)
    t = lambda a: torch.from_numpy(a)
    ref = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=t(bias)[None], scale=1.0).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    plain = attention("mha", batch=1, heads=2, seq=5, head_dim=3, softmax=softmax,
                      key_tile=2 if softmax != "3pass" else None)
    assert "BIAS" in c.inputs and workloads.compulsory_bytes(c) > workloads.compulsory_bytes(plain)
