"""MoH equals a PyTorch MoH (shared + top-k routed heads, gated sum through W_O) in both accountings, and the
sparse accounting counts only active heads; CCA / CCGQA equal a PyTorch latent-space attention."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import workloads
from workloads import CascadeError, attention, execute


def torch_moh_gates(rng, b, h, m, shared, k):
    """MoH's gating (Jin et al.): softmax over shared logits, softmax + top-k (renormalised) over routed logits,
    mixed by a 2-way softmax α. Returns GATE [B,H,M] (zeros for unselected routed heads)."""
    ls, lr, lh = (torch.from_numpy(rng.standard_normal(s)) for s in ((b, m, shared), (b, m, h - shared), (b, m, 2)))
    alpha = torch.softmax(lh, -1)
    ps = torch.softmax(ls, -1) * alpha[..., :1]
    pr = torch.softmax(lr, -1)
    top = torch.topk(pr, k, dim=-1)
    routed = torch.zeros_like(pr).scatter(-1, top.indices, top.values / top.values.sum(-1, keepdim=True))
    return torch.cat([ps, routed * alpha[..., 1:]], dim=-1).permute(0, 2, 1).numpy()


def torch_moh(q, k, v, gate, wo, causal):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    m, p = q.shape[2], k.shape[2]
    mask = torch.ones(m, p, dtype=torch.bool).tril(p - m) if causal else None
    heads = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=mask, scale=1.0)  # [B,H,M,F]
    return torch.einsum("bhm,bhmf,hfd->bmd", t(gate), heads, t(wo)).numpy()


@pytest.mark.parametrize("accounting,b,m,p,causal,softmax", [
    ("dense", 2, 5, 5, True, "1pass"), ("dense", 1, 2, 7, False, "3pass"),
    ("sparse", 1, 4, 6, False, "1pass"), ("sparse", 1, 1, 9, True, "2pass"), ("sparse", 1, 3, 3, False, "3pass")])
def test_moh_matches_torch_moh(accounting, b, m, p, causal, softmax):
    """MoH's gated head sum equals PyTorch's, whether inactive heads are computed (dense) or skipped (sparse)."""
    rng = np.random.default_rng(m * 7 + p)
    h, e, f, d, shared, top_k = 6, 3, 4, 5, 2, 2
    q, k, v = rng.standard_normal((b, h, m, e)), rng.standard_normal((b, h, p, e)), rng.standard_normal((b, h, p, f))
    gate, wo = torch_moh_gates(rng, b, h, m, shared, top_k), rng.standard_normal((h, f, d))
    routing = (gate[0].T != 0).astype(int)
    c = attention("moh", batch=b, heads=h, seq=m, seq_kv=p, head_dim=e, head_dim_v=f, model_dim=d,
                  shared_heads=shared, top_k=top_k, accounting=accounting, routing=routing, causal=causal,
                  softmax=softmax, key_tile=2)
    out = execute(c, dict(Q=q, K=k, V=v, GATE=gate, WO=wo))["Y"]
    np.testing.assert_allclose(out, torch_moh(q, k, v, gate, wo, causal), rtol=0, atol=1e-9)


def test_moh_sparse_accounting_scales_with_active_heads():
    """Sparse accounting: core FLOPs scale with h_a/H (here 4 of 8 heads); dense counts every head."""
    shape = dict(batch=1, heads=8, seq=16, head_dim=8, model_dim=32, shared_heads=2, top_k=2, softmax="3pass")
    dense, sparse = (attention("moh", accounting=a, **shape) for a in ("dense", "sparse"))
    pd, ps = workloads.points(dense), workloads.points(sparse)
    assert ps["QK"] * 2 == pd["QK"] and ps["AV"] * 2 == pd["AV"]
    assert ps["Y"] * 2 == pd["Y"]


def test_cca_and_ccgqa_match_latent_attention():
    """CCA/CCGQA: attention over H/C latent heads of X·WQ, X·WK, X·WV (GQA-shared), up-projected by WO."""
    rng = np.random.default_rng(4)
    b, n, d, heads, comp, kvh, e = 2, 5, 12, 8, 2, 2, 3
    hq = heads // comp
    x = rng.standard_normal((b, n, d))
    wq, wk, wv = rng.standard_normal((d, hq, e)), rng.standard_normal((d, kvh, e)), rng.standard_normal((d, kvh, e))
    wo = rng.standard_normal((hq, e, d))
    for name, kv in (("ccgqa", kvh), ("cca", hq)):
        wk_, wv_ = (wk, wv) if kv == kvh else (rng.standard_normal((d, hq, e)), rng.standard_normal((d, hq, e)))
        extra = dict(kv_heads=kv) if name == "ccgqa" else {}
        c = attention(name, batch=b, seq=n, model_dim=d, heads=heads, compression=comp, head_dim=e, key_tile=2, **extra)
        out = execute(c, dict(X=x, WQ=wq, WK=wk_, WV=wv_, WO=wo))["Y"]
        t = lambda a: torch.from_numpy(a)
        q = torch.einsum("bnd,dhe->bhne", t(x), t(wq))
        k = torch.einsum("bnd,dhe->bhne", t(x), t(wk_))
        v = torch.einsum("bnd,dhe->bhne", t(x), t(wv_))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0, enable_gqa=True)
        np.testing.assert_allclose(out, torch.einsum("bhne,hed->bnd", o, t(wo)).numpy(), rtol=0, atol=1e-9)


def test_zaya1_ccgqa_attention_flops_per_pair():
    """ZAYA1 CCGQA (8 latent query heads, E = 128) costs 2·H̃q·2E = 4096 FLOPs per (q, k) pair."""
    shape = dict(batch=1, model_dim=2048, heads=16, compression=2, kv_heads=2, head_dim=128, causal=False,
                 softmax="3pass")
    one, two = (attention("ccgqa", seq=n, **shape) for n in (1, 2))
    core = lambda c: 2 * (workloads.op_counts(c)["QK"]["mac"] + workloads.op_counts(c)["AV"]["mac"])
    assert core(one) == 4096 and core(two) == 4 * 4096


@pytest.mark.parametrize("name,shape,fragment", [
    ("moh", dict(batch=1, heads=4, seq=2, head_dim=2, model_dim=4, shared_heads=2, top_k=3), "exceeds heads=4"),
    ("moh", dict(batch=1, heads=4, seq=3, head_dim=2, model_dim=4, shared_heads=1, top_k=1, accounting="sparse",
                 causal=True), "cannot also apply a causal mask"),
    ("moh", dict(batch=1, heads=4, seq=1, head_dim=2, model_dim=4, shared_heads=1, top_k=1, accounting="sparse",
                 routing=[[0, 1, 1, 0]]), "must keep the 1 shared heads"),
    ("moh", dict(batch=1, heads=4, seq=1, head_dim=2, model_dim=4, shared_heads=1, top_k=1, accounting="ideal"),
     "unknown accounting"),
    ("cca", dict(batch=1, seq=4, model_dim=16, heads=8, compression=3), "compression=3 does not divide heads=8"),
    ("ccgqa", dict(batch=1, seq=4, model_dim=16, heads=8, compression=2, kv_heads=3), "kv_heads=3 does not divide"),
])
def test_invalid_moh_cca_parameters(name, shape, fragment):
    """Invalid MoH / CCA parameters raise CascadeError naming the problem."""
    with pytest.raises(CascadeError) as info:
        attention(name, **shape)
    assert fragment in str(info.value)
