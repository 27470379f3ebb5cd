"""Regressions of wrong numbers and leaking errors on the paths users take through workloads: each reproduction
gives the right answer or a CascadeError that names the culprit and what would work."""
import math

import numpy as np
import pytest

import workloads
from workloads import CascadeError, masks
from workloads.executor import MAX_POINTS, MAX_STEPS


def gqa(**kw):
    shape = dict(batch=1, heads=4, kv_heads=2, seq=1, seq_kv=64, head_dim=8)
    shape.update(kw)
    return workloads.attention("gqa", **shape)


# --- arguments the model fixes, misspelt arguments -----------------------------------------------------------

def test_model_attention_refuses_an_argument_the_model_fixes():
    """`model("llama3-8b").attention(seq=1024, heads=16)` names `heads`, its fixed value and what may be passed."""
    with pytest.raises(CascadeError) as info:
        workloads.model("llama3-8b").attention(seq=1024, heads=16)
    message = str(info.value)
    assert "heads is fixed by the model (heads=32)" in message and "seq_kv" in message and "softmax" in message
    with pytest.raises(CascadeError, match="latent is fixed by the model"):
        workloads.model("deepseek-v3").attention(seq=4, latent=64)
    with pytest.raises(CascadeError, match=r"unknown option 'seqkv' \(did you mean 'seq_kv'"):
        workloads.model("llama3-8b").attention(seq=8, seqkv=8)


def test_misspelt_builder_argument_names_the_nearest():
    """`attention("mha", num_heads=12, ...)` names `num_heads`, suggests `heads` and lists the valid keywords."""
    with pytest.raises(CascadeError) as info:
        workloads.attention("mha", num_heads=12, batch=1, seq=4, head_dim=2)
    message = str(info.value)
    assert "'num_heads' (did you mean 'heads'?)" in message and "valid arguments: batch, heads, seq" in message
    assert isinstance(info.value, TypeError)
    with pytest.raises(CascadeError, match=r"unknown attention variant 'gqaa' \(did you mean 'gqa'"):
        workloads.attention("gqaa", batch=1)
    with pytest.raises(CascadeError, match="unknown attention variant"):
        workloads.attention(["mha"], batch=1)
    with pytest.raises(CascadeError, match=r"unknown model 'llama3-8B' \(did you mean 'llama3-8b'"):
        workloads.model("llama3-8B")


def test_local_attention_models_check_seq_against_their_layout():
    """FLUX's NA core is self-attention over its layout: a `seq` that disagrees with it is refused, not ignored."""
    flux = workloads.model("flux")
    assert flux.attention(seq=256 * 256).sizes["M"] == 256 * 256
    with pytest.raises(CascadeError, match=r"seq=1024 disagrees with the token layout spatial=\(256, 256\)"):
        flux.attention(seq=1024)


# --- causal: bottom-right aligned, and no query without keys ------------------------------------------------

@pytest.mark.parametrize("name,extra", [("mha", {}), ("gqa", {"kv_heads": 1}), ("mqa", {}),
                                        ("sqa", {"query_heads": 2, "kv_heads": 1}), ("split_kv", {"splits": 2}),
                                        ("moh", {"model_dim": 4, "shared_heads": 1, "top_k": 1})])
def test_causal_with_fewer_keys_than_queries_is_refused(name, extra):
    """Causal with seq_kv < seq would leave the first queries with no keys (1-pass: NaN rows, 3-pass: zeros):
    every builder refuses it, as `sliding` does, saying how many queries and what would work."""
    shape = dict(batch=1, heads=4, seq=6, seq_kv=4, head_dim=2, causal=True, **extra)
    with pytest.raises(CascadeError, match=r"causal with seq_kv=4 < seq=6 leaves the first 2 queries with no keys"):
        workloads.attention(name, **shape)


def test_causal_mla_with_fewer_keys_is_refused():
    with pytest.raises(CascadeError, match="seq_kv=2 < seq=3"):
        workloads.attention("mla", batch=1, seq=3, seq_kv=2, heads=2, latent=4, rope_dim=2, nope_dim=2,
                            head_dim_v=2, causal=True)


@pytest.mark.parametrize("softmax", ["1pass", "2pass", "3pass"])
def test_causal_decode_counts_like_non_causal(softmax):
    """One query token masks nothing (bottom-right alignment): points, op counts and FLOPs equal the
    non-causal ones exactly, for every core."""
    causal, plain = gqa(causal=True, softmax=softmax, key_tile=16), gqa(causal=False, softmax=softmax, key_tile=16)
    assert workloads.points(causal) == workloads.points(plain)
    assert workloads.total_ops(causal) == workloads.total_ops(plain)
    assert workloads.flops(causal) == workloads.flops(plain)
    if softmax != "2pass":   # the 2-pass core adds the per-tile rescale MACs
        assert workloads.flops(plain) == 2 * 4 * 64 * (8 + 8)


@pytest.mark.parametrize("m", [2, 3, 5, 8, 16])
@pytest.mark.parametrize("tile", [1, 7, 16])
def test_speculative_and_chunked_causal_counts_are_exact(m, tile):
    """M = 2…16 new tokens against P = 64 keys (speculative decoding, a prefill chunk): query i sees keys
    ≤ i + P − M, so the score points are Σ (P − M + i + 1) and the tile points count the visited key tiles."""
    p = 64
    c = gqa(seq=m, seq_kv=p, causal=True, key_tile=tile)
    pts = workloads.points(c)
    rows = 4 * 1
    assert pts["BQK"] == rows * 8 * sum(p - m + i + 1 for i in range(m))
    assert pts["LM"] == rows * sum(p - m + i + 1 for i in range(m))
    assert pts["RM"] == rows * sum(math.ceil((p - m + i + 1) / tile) for i in range(m))
    dense = masks.dense(c.masks[0], m, p)
    assert dense.sum() == sum(p - m + i + 1 for i in range(m))


def test_causal_mask_over_2_to_the_40_queries_is_counted_in_closed_form():
    """The 8-TiB allocation is gone: a causal prefill of 2^40 tokens counts exactly, at once."""
    n = 1 << 40
    c = workloads.attention("mha", batch=1, heads=1, seq=n, head_dim=1, causal=True, key_tile=256)
    pts = workloads.points(c)
    assert pts["LM"] == n * (n + 1) // 2
    full = n // 256   # query i visits ⌈(i + 1)/256⌉ key tiles
    assert pts["RM"] == 256 * full * (full + 1) // 2
    window = workloads.attention("sliding", batch=1, heads=1, seq=n, head_dim=1, left=1000, key_tile=256)
    assert workloads.points(window)["LM"] == 1001 * n - 1000 * 1001 // 2


def test_counts_above_int64_are_exact():
    """A block table over 2^40 × 2^40 keys has 2^80 pairs: counted in Python integers, not wrapped int64."""
    n = 1 << 40
    text = "input Q[m], K[p]\nmask m, p: blocks(q_block=1099511627776, kv_block=1099511627776, keep=((1,),))\n" \
           "S[m,p] = Q[m] * K[p]"
    c = workloads.cascade(text, {"M": n, "P": n})
    assert workloads.points(c)["S"] == n * n


def test_query_tile_counts_are_exact_for_causal():
    """An Einsum over query tiles and keys (split m -> m1, m0; it iterates m1 only) counts the union of each
    tile's keys, in closed form (the dense fallback, limited to 2^26 entries, is only for tables and
    neighborhoods)."""
    text = "input Q[m1], K[p]\nsplit m -> m1, m0\nmask m, p: causal\nS[m1,p] = Q[m1] * K[p]"
    for m, p, mt in [(10, 10, 3), (7, 12, 4), (1 << 30, 1 << 30, 1 << 10)]:
        c = workloads.cascade(text, {"M": m, "P": p, "M0": mt})
        tiles = -(-m // mt)   # tile t's last query, min(t·mt + mt, m) − 1, sees keys ≤ it + P − M
        expected = sum(min(min(t * mt + mt, m) + p - m, p) for t in range(tiles)) if m < 100 else \
            mt * tiles * (tiles + 1) // 2
        assert workloads.points(c)["S"] == expected


# --- names, dtypes, NumPy values ------------------------------------------------------------------------------

def test_unicode_rank_names_are_refused():
    """`mi` and `mı` both upper-case to `MI`; a Unicode name is refused before it can turn a sum into a product."""
    with pytest.raises(CascadeError, match="non-ASCII character 'ı'"):
        workloads.cascade("input A[m,mi], B[mı]\nZ[m] = A[m,mi] * B[mı]", {"M": 2, "MI": 3})
    with pytest.raises(CascadeError, match="non-ASCII character"):
        workloads.cascade("input Ä[m]\nZ[m] = exp(Ä[m])", {"M": 2})
    with pytest.raises(CascadeError, match="rank names are upper case"):
        workloads.cascade("input A[m]\nZ[m] = exp(A[m])", {"M": 2, "Mİ": 3})


def test_execute_refuses_complex_object_and_string_arrays():
    """Complex, object and string inputs would be cast silently; they are refused, naming the input and dtype.
    Real floating, integer and boolean inputs are accepted as before."""
    c = workloads.attention("mha", batch=1, heads=1, seq=4, head_dim=2, softmax="3pass")
    ok = {t: np.ones((1, 1, 4, 2)) for t in c.inputs}
    for bad in (np.ones((1, 1, 4, 2), complex), np.ones((1, 1, 4, 2), object), np.full((1, 1, 4, 2), "a")):
        with pytest.raises(CascadeError, match=f"input K has dtype {bad.dtype}"):
            workloads.execute(c, {**ok, "K": bad})
    reference = workloads.execute(c, ok)["AV"]
    for good in (np.ones((1, 1, 4, 2), np.int32), np.ones((1, 1, 4, 2), bool), np.ones((1, 1, 4, 2), np.float32)):
        np.testing.assert_allclose(workloads.execute(c, {**ok, "K": good})["AV"], reference, rtol=1e-6)
    with pytest.raises(CascadeError, match="inputs must be a mapping"):
        workloads.execute(c, [1, 2])
    with pytest.raises(CascadeError, match="input K is not an array"):
        workloads.execute(c, {**ok, "K": [[1, 2], [3]]})


def test_numpy_integers_are_accepted_everywhere():
    """np.int64 and friends work as sizes, builder arguments, model arguments, layer sizes and mask fields."""
    i = np.int64
    c = workloads.attention("gqa", batch=i(1), heads=i(4), kv_heads=np.int32(2), seq=i(8), head_dim=np.uint8(4),
                            key_tile=i(4), causal=np.bool_(True))
    assert c == workloads.attention("gqa", batch=1, heads=4, kv_heads=2, seq=8, head_dim=4, key_tile=4, causal=True)
    assert workloads.gemm(i(4), np.int32(5), np.uint16(6)).sizes == {"M": 4, "N": 5, "K": 6}
    assert workloads.model("llama3-8b").attention(seq=i(2), seq_kv=i(8)).sizes["P"] == 8
    g = workloads.attention("gna", batch=1, heads=1, spatial=np.array([4, 4]), window=np.array([3, 3]), head_dim=2)
    assert g.masks[0].spatial == (4, 4)
    layer = workloads.layer(c, model_dim=i(8), ffn_kind="swiglu", ffn_dim=i(6))
    assert layer.sizes["D"] == 8 and type(layer.sizes["D"]) is int
    assert workloads.retile(c, "P0", i(2)).sizes["P0"] == 2
    assert workloads.cascade("input A[m]\nZ[m] = exp(A[m])", {"M": np.uint32(3)}).sizes["M"] == 3


# --- limits, checked before allocating or looping ------------------------------------------------------------

def test_executor_point_limit_counts_the_iterative_rank():
    """A 1-pass cascade whose per-step Einsums are small but whose key loop is long is refused up front: the
    iterative rank is part of the point count (and its steps have their own limit)."""
    per_step = MAX_POINTS // 4
    c = workloads.cascade("input X[m]\nR[m,p1+1] = max(R[m,p1], X[m])\nR[m,0] = -inf\nY[m] = R[m,P1]",
                          {"M": per_step, "P1": 8})
    with pytest.raises(CascadeError, match=r"Einsum R: \d+ points is too many .* the iterative rank included"):
        workloads.execute(c, {"X": np.zeros(1)})   # refused before the inputs are even looked at
    long = workloads.cascade("input X[m]\nR[m,p1+1] = max(R[m,p1], X[m])\nR[m,0] = -inf\nY[m] = R[m,P1]",
                             {"M": 1, "P1": MAX_STEPS + 1})
    with pytest.raises(CascadeError, match="steps it in Python, at most 2"):
        workloads.execute(long, {"X": np.zeros(1)})


def test_messages_quoting_user_input_are_bounded():
    """A 10-million-character token or value never becomes a 10-million-character message."""
    huge = "B" * 10 ** 7
    cases = [
        lambda: workloads.cascade(f"input A[m]\nZ[m] = exp(A[m]) + {huge}[m]", {"M": 2}),
        lambda: workloads.cascade("input A[m]\nZ[m] = exp(A[m])", {huge: 2}),
        lambda: workloads.cascade("input A[m]\nZ[m] = exp(A[m])", {"M": 2}, dtype=huge),
        lambda: workloads.attention("mha", batch=1, heads=2, seq=4, head_dim=2, softmax=huge),
        lambda: workloads.attention("mha", **{huge: 1}),
        lambda: workloads.model(huge),
        lambda: workloads.cascade("input A[m]\nZ[m] = exp(A[m]) $ " + huge, {"M": 2}),
        lambda: workloads.cascade("input A[m]\nZ[m] = exp(A[m])", {"M": 2}, name=huge),
        lambda: workloads.attention("blocked", batch=1, heads=1, spatial=6, block=3, keep=[huge], head_dim=2),
        lambda: workloads.load("cascade: x\nsizes: {M: 2}\ninputs: {A: [M]}\neinsums: ['" + huge + "']\n"),
    ]
    for call in cases:
        with pytest.raises(CascadeError) as info:
            call()
        assert len(str(info.value)) < 1000, str(info.value)[:200]


def test_yaml_alias_bomb_is_refused_quickly():
    """A billion-laughs document is refused once it expands past the node limit, with a short message."""
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]" for k in range(1, 9)]
    text = "cascade: bomb\nsizes: {M: 2}\ninputs: {A: [M]}\neinsums: ['Z[m] = exp(A[m])']\n" + "\n".join(lines)
    with pytest.raises(CascadeError) as info:
        workloads.load(text)
    assert "more than 65536 nodes" in str(info.value) and len(str(info.value)) < 500


def test_neighborhood_counts_factor_over_dimensions_or_refuse_with_a_limit():
    """FLUX at a 1024 × 1024 layout counts its key tiles per dimension (tiles that line up with the layout's rows);
    a layout whose tiles do not line up and whose runs exceed the stated limit is refused before allocating."""
    big = workloads.model("flux").attention(spatial=(1024, 1024), window=(80, 80))
    n = 1024 * 1024
    assert workloads.points(big)["LM"] == 24 * n * 80 * 80
    starts = [min(max(i - 40, 0), 1024 - 80) for i in range(1024)]   # NATTEN shifts the window at the borders
    row_tiles = sum((s + 79) // 256 - s // 256 + 1 for s in starts)
    assert workloads.points(big)["RM"] == 24 * (1024 * 80) * row_tiles
    odd = workloads.attention("na", batch=1, heads=1, spatial=(3000, 3001), window=(3, 3), head_dim=2, key_tile=7)
    with pytest.raises(CascadeError, match=r"at most 2\^23 = 8388608"):
        workloads.points(odd)
    with pytest.raises(CascadeError, match=r"at most 2\^20 = 1048576 per dimension"):
        workloads.points(workloads.attention("na", batch=1, heads=1, spatial=(1 << 21,), window=(3,), head_dim=2,
                                             causal=True, softmax="3pass"))
    # Found by the slow fuzz test: a 2^40-token window-1 layout was accepted, then refused by its first count.
    with pytest.raises(CascadeError, match=r"dimension 0 has 1099511627776 tokens.*at most 2\^20"):
        workloads.attention("na", batch=1, heads=2, spatial=1 << 40, window=1, head_dim=2)
