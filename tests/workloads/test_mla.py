"""MLA (naive and weight-absorbed) equals a plain PyTorch MLA; TPLA equals a direct PyTorch TPLA; cost figures
match counts worked out by hand from the DeepSeek-V3 configuration and TPLA's per-device split."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import workloads
from workloads import CascadeError, attention, execute
from workloads.variants.mla import mla_flops_per_pair, mla_kv_bytes_per_token, tpla_kv_bytes_per_token

SMALL = dict(heads=3, latent=8, rope_dim=2, nope_dim=3, head_dim_v=4)


def inputs(rng, b, h, m, p, c, er, en, f):
    return dict(QN=rng.standard_normal((b, h, m, en)), QR=rng.standard_normal((b, h, m, er)),
                CKV=rng.standard_normal((b, p, c)), KR=rng.standard_normal((b, p, er)),
                WUK=rng.standard_normal((c, h, en)) / 3, WUV=rng.standard_normal((c, h, f)))


def torch_mla(x, causal):
    """Plain MLA in MHA mode: K = [CKV·WUK ‖ KR] per head, V = CKV·WUV, Q = [QN ‖ QR], SDPA (scale 1)."""
    t = {k: torch.from_numpy(v) for k, v in x.items()}
    h = t["QN"].shape[1]
    k_nope = torch.einsum("bpc,che->bhpe", t["CKV"], t["WUK"])
    k = torch.cat([k_nope, t["KR"][:, None].expand(-1, h, -1, -1)], dim=-1)
    v = torch.einsum("bpc,chf->bhpf", t["CKV"], t["WUV"])
    q = torch.cat([t["QN"], t["QR"]], dim=-1)
    m, p = q.shape[2], k.shape[2]
    mask = torch.ones(m, p, dtype=torch.bool).tril(p - m) if causal else None
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0).numpy()


@pytest.mark.parametrize("form", ["naive", "absorbed"])
@pytest.mark.parametrize("softmax", ["3pass", "2pass", "1pass"])
@pytest.mark.parametrize("m,p,causal", [(5, 5, True), (1, 7, False), (2, 9, True)])
def test_mla_forms_match_plain_torch_mla(form, softmax, m, p, causal):
    """Both MLA forms (prefill and decode shapes) equal a plain PyTorch MLA to 1e-9."""
    rng = np.random.default_rng(m * 10 + p)
    x = inputs(rng, 2, 3, m, p, 8, 2, 3, 4)
    c = attention("mla", batch=2, seq=m, seq_kv=p, form=form, causal=causal, softmax=softmax, key_tile=3, **SMALL)
    out = execute(c, x)[c.output]
    assert c.output == "AV" and out.shape == (2, 3, m, 4)
    np.testing.assert_allclose(out, torch_mla(x, causal), rtol=0, atol=1e-9)


def test_mla_naive_equals_absorbed():
    """The weight-absorbed form computes the same values as the naive one (DeepSeek's attn_impl switch)."""
    rng = np.random.default_rng(1)
    x = inputs(rng, 1, 3, 3, 6, 8, 2, 3, 4)
    outs = [execute(attention("mla", batch=1, seq=3, seq_kv=6, form=f, key_tile=4, **SMALL), x)["AV"]
            for f in ("naive", "absorbed")]
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-12)


def torch_tpla(x, g, alpha, mu, eps, causal):
    """Direct TPLA: per device d, the latent slice d is RMS-normalised with α·Σx²/C, scored with μ·(q·k) plus the
    replicated RoPE logits, softmaxed on its own and up-projected; the device outputs are summed."""
    t = {k: torch.from_numpy(v) for k, v in x.items()}
    c = t["CKV"].shape[-1]
    cs = c // g
    q_abs = torch.einsum("bhme,che->bhmc", t["QN"], t["WUK"])
    rope = torch.einsum("bhmr,bpr->bhmp", t["QR"], t["KR"])
    total = 0
    for d in range(g):
        sl = slice(d * cs, (d + 1) * cs)
        lat = t["CKV"][..., sl]
        lat = lat / torch.sqrt(alpha * (lat * lat).sum(-1, keepdim=True) / c + eps)
        s = mu * torch.einsum("bhmc,bpc->bhmp", q_abs[..., sl], lat) + rope
        if causal:
            m, p = s.shape[-2:]
            s = s.masked_fill(~torch.ones(m, p, dtype=torch.bool).tril(p - m), float("-inf"))
        ol = torch.softmax(s, dim=-1) @ lat[:, None]
        total = total + torch.einsum("bhmc,chf->bhmf", ol, t["WUV"][sl])
    return total.numpy()


@pytest.mark.parametrize("g,alpha,mu,causal,softmax", [(2, None, 1.0, False, "1pass"), (4, 1.5, 0.7, True, "3pass"),
                                                        (1, None, 1.0, False, "2pass")])
def test_tpla_matches_direct_torch_tpla(g, alpha, mu, causal, softmax):
    """TPLA (sharded latent, per-device softmax, summed outputs) equals a direct PyTorch TPLA to 1e-9."""
    rng = np.random.default_rng(g)
    x = inputs(rng, 2, 3, 2, 7, 8, 2, 3, 4)
    c = attention("tpla", batch=2, seq=2, seq_kv=7, devices=g, alpha=alpha, mu=mu, eps=1e-6, causal=causal,
                  softmax=softmax, key_tile=3, **SMALL)
    ref = torch_tpla(x, g, float(g) if alpha is None else alpha, mu, 1e-6, causal)
    np.testing.assert_allclose(execute(c, x)["AV"], ref, rtol=0, atol=1e-9)


def test_tpla_is_an_approximation_of_mla():
    """With g = 2 devices the summed per-device softmaxes differ from MLA (it is not the log-sum-exp merge)."""
    rng = np.random.default_rng(0)
    x = inputs(rng, 1, 3, 1, 6, 8, 2, 3, 4)
    tp = execute(attention("tpla", batch=1, seq=1, seq_kv=6, devices=2, **SMALL), x)["AV"]
    ml = execute(attention("mla", batch=1, seq=1, seq_kv=6, **SMALL), x)["AV"]
    assert np.abs(tp - ml).max() > 1e-3


def test_deepseek_v3_mla_costs_match_reference():
    """MLA: 278,528 (absorbed) and 81,920 (naive) FLOPs per cached token; 1152 B (BF16), 656 B (FP8), 81,920 B
    (naive) of KV cache per token per layer; decode core AI 241.8 — both from the formulas and from the cascade."""
    assert mla_flops_per_pair("absorbed") == 278_528
    assert mla_flops_per_pair("naive") == 81_920
    assert mla_kv_bytes_per_token("absorbed") == 1152
    assert mla_kv_bytes_per_token("absorbed", "fp8_mla") == 656
    assert mla_kv_bytes_per_token("naive") == 81_920
    assert 61 * mla_kv_bytes_per_token() == 70_272
    assert round(mla_flops_per_pair() / mla_kv_bytes_per_token(), 1) == 241.8
    assert round(mla_flops_per_pair() / 656, 1) == 424.6
    # The decode cascade (M = 1, B = 1): one more cached token adds exactly those FLOPs and cache bytes.
    one, two = (attention("mla", batch=1, seq=1, seq_kv=n, key_tile=1) for n in (1, 2))
    assert workloads.flops(two) - workloads.flops(one) == 278_528
    assert workloads.compulsory_bytes(two) - workloads.compulsory_bytes(one) == 1152
    nv1, nv2 = (attention("mla", batch=1, seq=1, seq_kv=n, form="naive", key_tile=1) for n in (1, 2))
    # naive: the pair costs 81,920 plus the per-token up-projection of K and V (2·C·H·(En+F)).
    assert workloads.flops(nv2) - workloads.flops(nv1) == 81_920 + 2 * 512 * 128 * 256


def test_tpla_costs_match_reference():
    """TPLA g = 2 holds 640 B/token/device and does 147,456 FLOPs per pair per device (AI 230.4)."""
    assert tpla_kv_bytes_per_token(2) == 640
    assert mla_flops_per_pair(devices=2) == 147_456
    assert mla_flops_per_pair(devices=2) / tpla_kv_bytes_per_token(2) == 230.4
    assert (tpla_kv_bytes_per_token(4), tpla_kv_bytes_per_token(8)) == (384, 256)


@pytest.mark.parametrize("name,shape,fragment", [
    ("mla", dict(batch=1, seq=1, form="folded"), "unknown form 'folded'"),
    ("tpla", dict(batch=1, seq=1, devices=3), "devices=3 does not divide the latent dimension 512"),
    ("tpla", dict(batch=1, seq=1, devices=2, alpha=0.0), "alpha must be > 0"),
    ("mla", dict(batch=1, seq=4, seq_kv=8, key_tile=9), "key_tile=9 is larger"),
])
def test_invalid_mla_parameters(name, shape, fragment):
    """Invalid MLA / TPLA parameters raise CascadeError naming the problem."""
    with pytest.raises(CascadeError) as info:
        attention(name, **shape)
    assert fragment in str(info.value)
