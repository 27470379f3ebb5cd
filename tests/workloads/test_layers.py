"""Whole layers (norms, projections, RoPE, attention, residuals, FFN/MoE) execute to the values of a PyTorch layer."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workloads import attention, execute
from workloads.models.layers import MoE, layer
from workloads.models.moe import routing_table

T = torch.from_numpy


def rot_table(m, e, rng):
    """ROT[m, e1, a, b]: per position, the 2×2 rotation of pair (2·e1, 2·e1+1) by a random angle — the coefficient
    of x[2·e1 + a] in y[2·e1 + b]."""
    theta = rng.uniform(0, 2 * np.pi, (m, e // 2))
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, s], axis=-1), np.stack([-s, c], axis=-1)], axis=-2)
    return rot, theta


def torch_rope(x, theta):
    """y[2i] = x[2i]·cos − x[2i+1]·sin, y[2i+1] = x[2i]·sin + x[2i+1]·cos (RoFormer's interleaved pairs), positions on dim −2."""
    c, s = torch.cos(T(theta)), torch.sin(T(theta))
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)


def rms(x, g, eps=1e-5):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * g


def weights(rng, c):
    return {n: rng.standard_normal([c.sizes[r] for r in c.tensors[n].ranks]) / 2 for n in c.inputs}


def test_llama_like_layer_matches_torch():
    """Pre-norm GQA layer with RoPE and SwiGLU (Llama): h = x + O(attn(rms(x))), out = h + FFN(rms(h))."""
    rng = np.random.default_rng(0)
    b, m, d, h, g, e, s = 2, 5, 6, 4, 2, 4, 7
    c = layer(attention("gqa", batch=b, heads=h, kv_heads=g, seq=m, head_dim=e, causal=True, key_tile=2),
              model_dim=d, ffn_kind="swiglu", ffn_dim=s)
    w = weights(rng, c)
    w["ROT_E"], theta = rot_table(m, e, rng)
    out = execute(c, w)["OUT"]
    t = {k: T(v) for k, v in w.items()}
    xn = rms(t["X"], t["XN_G"])
    q = torch_rope(torch.einsum("bmd,dhe->bhme", xn, t["WQ"]), theta)
    k = torch_rope(torch.einsum("bmd,dhe->bhme", xn, t["WK"]), theta)
    v = torch.einsum("bmd,dhe->bhme", xn, t["WV"])
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0, enable_gqa=True)
    h1 = t["X"] + torch.einsum("bhmf,hfd->bmd", o, t["WO"])
    hn = rms(h1, t["HN_G"])
    ref = h1 + (F.silu(hn @ t["WG"]) * (hn @ t["WU"])) @ t["WD"]
    np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-9)


def test_bert_like_post_norm_layer_matches_torch():
    """Post-norm MHA layer with LayerNorm and GELU (BERT): h = LN(x + O(attn(x))), out = LN(h + FFN(h))."""
    rng = np.random.default_rng(1)
    b, m, d, h, e, s = 2, 4, 6, 2, 3, 5
    c = layer(attention("mha", batch=b, heads=h, seq=m, head_dim=e, softmax="3pass"), model_dim=d, ffn_kind="gelu",
              ffn_dim=s, norm_kind="layer", post_norm=True, rope=False, eps=1e-12)
    w = weights(rng, c)
    out = execute(c, w)["OUT"]
    t = {k: T(v) for k, v in w.items()}
    ln = lambda x, n: F.layer_norm(x, (d,), t[n + "_G"], t[n + "_B"], eps=1e-12)
    q, k, v = (torch.einsum("bmd,dhe->bhme", t["X"], t[n]) for n in ("WQ", "WK", "WV"))
    o = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    h1 = ln(t["X"] + torch.einsum("bhmf,hfd->bmd", o, t["WO"]), "HN")
    ref = ln(h1 + F.gelu(h1 @ t["W1"], approximate="tanh") @ t["W2"], "OUT")
    np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-9)


def test_deepseek_moe_ffn_matches_torch():
    """DeepSeek-V3 MoE FFN: sigmoid router, gate weights renormalised over the chosen k and scaled by 2.5, SwiGLU
    experts only for chosen (token, expert) pairs, plus the shared expert. The batch's tokens are routed as one
    stream (B·M rows of the routing table)."""
    rng = np.random.default_rng(2)
    b, m, d, h, g, e = 2, 4, 6, 2, 1, 2
    moe = MoE(experts=5, top_k=2, expert_dim=3, shared_dim=4)
    c = layer(attention("gqa", batch=b, heads=h, kv_heads=g, seq=m, head_dim=e, causal=True), model_dim=d,
              ffn_kind="moe", moe=moe, rope=False)
    w = weights(rng, c)
    w["ROUTE"] = np.array(routing_table(b * m, moe), dtype=float).reshape(b, m, moe.experts)
    out = execute(c, w)["OUT"]
    t = {k: T(v) for k, v in w.items()}
    xn = rms(t["X"], t["XN_G"])
    q, k, v = (torch.einsum("bmd,dhe->bhme", xn, t[n]) for n in ("WQ", "WK", "WV"))
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0, enable_gqa=True)
    h1 = t["X"] + torch.einsum("bhmf,hfd->bmd", o, t["WO"])
    hn = rms(h1, t["HN_G"])
    score = torch.sigmoid(hn @ t["WGATE"].T)
    chosen = t["ROUTE"] > 0
    wt = torch.where(chosen, score, 0) / (score * chosen).sum(-1, keepdim=True) * 2.5
    experts = torch.zeros_like(hn)
    for x in range(moe.experts):
        a = F.silu(hn @ t["WEG"][x]) * (hn @ t["WEU"][x])
        experts = experts + wt[..., x:x + 1] * (a @ t["WED"][x])
    ref = h1 + experts + (F.silu(hn @ t["WG"]) * (hn @ t["WU"])) @ t["WD"]
    np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("seq,seq_kv", [(4, 4), (1, 6)])
def test_mla_layer_runs_prefill_and_decode(seq, seq_kv):
    """An MLA layer (q-LoRA, latent cache, decoupled RoPE) builds and executes to finite values."""
    rng = np.random.default_rng(3)
    a = attention("mla", batch=1, seq=seq, seq_kv=seq_kv, heads=2, latent=4, rope_dim=2, nope_dim=2, head_dim_v=3,
                  causal=True, form="naive" if seq == seq_kv else "absorbed")
    c = layer(a, model_dim=6, ffn_kind="swiglu", ffn_dim=5, q_lora=3)
    out = execute(c, weights(rng, c))["OUT"]
    assert out.shape == (1, seq, 6) and np.isfinite(out).all()


@pytest.mark.parametrize("core", [
    dict(name="gqa", batch=1, heads=4, kv_heads=2, seq=4, head_dim=4, causal=True, key_tile=2),
    dict(name="gqa", batch=1, heads=4, kv_heads=2, seq=1, seq_kv=8, head_dim=4, causal=True),
    dict(name="mla", batch=1, seq=4, heads=2, latent=4, rope_dim=2, nope_dim=2, head_dim_v=3, form="naive"),
    dict(name="mla", batch=1, seq=1, seq_kv=6, heads=2, latent=4, rope_dim=2, nope_dim=2, head_dim_v=3),
])
@pytest.mark.parametrize("ffn", ["swiglu", "moe"])
def test_layer_is_composed_from_the_attention_cascade_data(core, ffn):
    """The layer holds the attention cascade's own Einsums, splits, masks and initial values (composed as data,
    not re-parsed), and it still round-trips through text."""
    spec = dict(core)
    a = attention(spec.pop("name"), **spec)
    moe = MoE(experts=4, top_k=2, expert_dim=3, shared_dim=3) if ffn == "moe" else None
    c = layer(a, model_dim=6, ffn_kind=ffn, ffn_dim=5, moe=moe, q_lora=3)
    assert all(e in c.einsums for e in a.einsums)
    assert set(a.splits) <= set(c.splits) and set(a.masks) <= set(c.masks) and c.inits == a.inits
    import workloads
    assert workloads.cascade(workloads.to_text(c), c.sizes, name=c.name, dtype=c.dtype) == c
    assert workloads.load(workloads.save(c)) == c


def test_deepseek_layer_builds_without_text_round_trips():
    """A DeepSeek-V3 prefill layer at 4K keeps its routing table as data (it was printed and parsed back): 4096
    tokens × 32 groups of 8 experts; expert points count only the chosen (token, expert) pairs."""
    import workloads
    c = workloads.model("deepseek-v3").layer(seq=4096)
    routing = next(m for m in c.masks if m.query == "T")
    assert len(routing.keep) == 4096 and sum(routing.keep[0]) == 1 and routing.kv_block == 8
    assert workloads.points(c)["EG"] == 4096 * 8 * 2048 * 7168   # only the chosen (token, expert) pairs
