"""Backward cascades of every registered variant equal PyTorch autograd (float64) of a direct implementation written
here — masks, GQA/MQA sharing, MLA, local attention included — or are refused with the reason the docs give.

The direct implementations build masks with `workloads.masks.dense`, whose predicates tests/workloads/test_variants.py
proves against independent ones (NATTEN's, FlashAttention's window); everything else here is plain PyTorch."""
import numpy as np
import pytest
import torch

import workloads
from workloads import CascadeError, VARIANTS, masks
from workloads.autodiff import backward, derive, saved_inputs

TOLERANCE = 1e-9


def allowed(c):
    """The cascade's (query, key) filter as a boolean [H?, M, P] tensor (None when unmasked)."""
    mask = next((m for m in c.masks if m.key == "P"), None)
    if mask is None:
        return None
    dense = torch.from_numpy(masks.dense(mask, c.sizes[mask.query], c.sizes["P"]))
    return dense.reshape(c.sizes["H"], c.sizes["M"], -1) if mask.query == "HM" else dense


def attend(q, k, v, keep=None):
    """softmax(q·kᵀ)·v over [B,H,M,·] queries and [B,G,P,·] keys (query head h reads key head h // (H/G))."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    s = torch.einsum("bhme,bhpe->bhmp", q, k)
    if keep is not None:
        s = s.masked_fill(~keep, float("-inf"))
    return torch.einsum("bhmp,bhpf->bhmf", torch.softmax(s, -1), v)


def grouped_out(c, out):
    """A [B,H,M,F] result in the cascade's output layout ([B,G,R,M,F] for grouped heads)."""
    return out.reshape([c.sizes[r] for r in c.tensors[c.output].ranks])


def ref_softmax(c, t):
    return grouped_out(c, attend(t["Q"], t["K"], t["V"], allowed(c)))


def ref_linear(c, t):
    phi = lambda x: torch.nn.functional.elu(x) + 1
    group = c.sizes["R"]
    q, k, v = phi(t["Q"]), phi(t["K"]).repeat_interleave(group, 1), t["V"].repeat_interleave(group, 1)
    num = torch.einsum("bhme,bhpe,bhpf->bhmf", q, k, v)
    return grouped_out(c, num / torch.einsum("bhme,bhpe->bhm", q, k)[..., None])


def ref_mla(c, t):
    k = torch.einsum("bpc,che->bhpe", t["CKV"], t["WUK"])
    s = torch.einsum("bhme,bhpe->bhmp", t["QN"], k) + torch.einsum("bhmr,bpr->bhmp", t["QR"], t["KR"])
    keep = allowed(c)
    s = s if keep is None else s.masked_fill(~keep, float("-inf"))
    return torch.einsum("bhmp,bpc,chf->bhmf", torch.softmax(s, -1), t["CKV"], t["WUV"])


def ref_tpla(c, t, alpha, mu, eps=1e-6):
    g, cs = c.sizes["G"], c.sizes["C0"]
    q_abs = torch.einsum("bhme,che->bhmc", t["QN"], t["WUK"])
    rope = torch.einsum("bhmr,bpr->bhmp", t["QR"], t["KR"])
    total = 0
    for d in range(g):
        sl = slice(d * cs, (d + 1) * cs)
        lat = t["CKV"][..., sl]
        lat = lat / torch.sqrt(alpha * (lat * lat).sum(-1, keepdim=True) / c.sizes["C"] + eps)
        s = mu * torch.einsum("bhmc,bpc->bhmp", q_abs[..., sl], lat) + rope
        ol = torch.softmax(s, -1) @ lat[:, None]
        total = total + torch.einsum("bhmc,chf->bhmf", ol, t["WUV"][sl])
    return total


def ref_moh(c, t):
    heads = attend(t["Q"], t["K"], t["V"], allowed(c))
    route = next((m for m in c.masks if m.key == "H"), None)
    gate = t["GATE"] if route is None else t["GATE"] * torch.from_numpy(masks.dense(route, c.sizes["M"],
                                                                                  c.sizes["H"])).T
    return torch.einsum("bhm,bhmf,hfd->bmd", gate, heads, t["WO"])


def ref_cca(c, t):
    q = torch.einsum("bnd,dhe->bhne", t["X"], t["WQ"])
    k, v = (torch.einsum("bnd,dge->bgne", t["X"], t[w]) for w in ("WK", "WV"))
    return torch.einsum("bhne,hed->bnd", attend(q, k, v, allowed(c)), t["WO"])


SMALL = dict(batch=1, heads=4, seq=3, head_dim=2)
# Every registered variant: (builder arguments, direct implementation) per case; a case whose backward is refused
# names the message fragment instead of an implementation.
CASES = {
    "mha": [(dict(SMALL, seq_kv=5, causal=True, softmax=s, key_tile=2), ref_softmax) for s in ("1pass", "2pass", "3pass")]
           + [(dict(batch=2, heads=1, seq=4, head_dim=3, head_dim_v=2), ref_softmax)],
    "gqa": [(dict(SMALL, kv_heads=2, seq_kv=7, causal=True, softmax=s, key_tile=3), ref_softmax)
            for s in ("1pass", "3pass")],
    "mqa": [(dict(SMALL, seq=1, seq_kv=6, softmax="2pass", key_tile=4), ref_softmax)],
    "sqa": [(dict(batch=1, heads=8, query_heads=4, kv_heads=2, seq=4, head_dim=2, causal=True), ref_softmax)],
    "ssqa": [(dict(batch=1, heads=8, seq=3, head_dim=2), ref_softmax)],
    "xsqa": [(dict(batch=1, heads=8, seq=3, head_dim=2, key_tile=2), ref_softmax)],
    "split_kv": [(dict(batch=1, heads=4, kv_heads=2, seq=2, seq_kv=7, head_dim=2, splits=3, causal=True),
                  ref_softmax)],
    "linear": [(dict(batch=1, heads=4, kv_heads=2, seq=3, seq_kv=4, head_dim=2), ref_linear),
               (dict(batch=1, heads=2, seq=4, head_dim=2, causal=True), "does not differentiate through an iterative")],
    "sliding": [(dict(batch=1, heads=2, seq=4, seq_kv=9, head_dim=2, left=3, right=1, key_tile=4), ref_softmax),
                (dict(batch=1, heads=2, kv_heads=1, seq=6, head_dim=2, left=2, softmax="3pass"), ref_softmax)],
    "na": [(dict(batch=1, heads=2, spatial=(4, 5), window=(3, 3), head_dim=2, key_tile=4), ref_softmax)],
    "gna": [(dict(batch=1, heads=2, spatial=(3, 4), window=(2, 3), stride=(1, 2), dilation=(1, 1),
                  causal=(True, False), head_dim=2, key_tile=5), ref_softmax)],
    "blocked": [(dict(batch=1, heads=2, spatial=7, block=3, keep=((1, 0, 0), (1, 1, 0), (0, 1, 1)), head_dim=2,
                      key_tile=3), ref_softmax),
                (dict(batch=1, heads=2, spatial=(4, 4), block=(2, 2), head_dim=2, softmax="2pass"), ref_softmax)],
    "moa": [(dict(batch=1, heads=3, seq=4, seq_kv=6, head_dim=2, spans=(1, 3, 6), key_tile=2), ref_softmax)],
    "dynamic": [(dict(batch=1, heads=2, seq=4, seq_kv=6, head_dim=2, block=2,
                      keep=(((1, 0, 1), (0, 1, 0)), ((0, 0, 1), (1, 1, 1))), key_tile=4), ref_softmax)],
    "mla": [(dict(batch=1, seq=s, seq_kv=4, heads=2, latent=4, rope_dim=2, nope_dim=3, head_dim_v=3, form=f,
                  causal=s > 1, softmax=sm, key_tile=2), ref_mla)
            for f, s, sm in (("naive", 3, "1pass"), ("absorbed", 1, "1pass"), ("absorbed", 2, "3pass"))],
    "tpla": [(dict(batch=1, seq=2, seq_kv=4, devices=2, heads=2, latent=4, rope_dim=2, nope_dim=2, head_dim_v=3,
                   mu=0.7, key_tile=2), lambda c, t: ref_tpla(c, t, alpha=2.0, mu=0.7))],
    "moh": [(dict(batch=1, heads=4, seq=3, head_dim=2, model_dim=3, shared_heads=1, top_k=2, accounting=a,
                  key_tile=2), ref_moh) for a in ("dense", "sparse")],
    "cca": [(dict(batch=1, seq=4, model_dim=8, heads=4, compression=2, key_tile=2), ref_cca)],
    "ccgqa": [(dict(batch=1, seq=4, model_dim=16, heads=8, compression=2, kv_heads=2, head_dim=2), ref_cca)],
}
PARAMS = [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(VARIANTS) for k in range(len(CASES.get(name, [0])))]


def random_inputs(c, seed):
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal([c.sizes[r] for r in c.tensors[n].ranks]) / 2 for n in c.inputs}


def run_backward(c, inputs, d_out):
    """Execute the backward cascade of `c` on the forward inputs, the output gradient and the saved tensors."""
    bc = backward(c)
    values = {**inputs, "d" + c.output: d_out}
    if "LSE" in bc.inputs:
        values.update(saved_inputs(c, workloads.execute(c, inputs)))
    return bc, workloads.execute(bc, values)


@pytest.mark.parametrize("name,k", PARAMS)
def test_backward_equals_autograd(name, k):
    assert name in CASES, f"variant {name!r} has no backward case here: add its direct implementation to CASES"
    shape, reference = CASES[name][k]
    c = workloads.attention(name, **shape)
    if isinstance(reference, str):
        with pytest.raises(CascadeError, match=reference):
            backward(c)
        return
    inputs = random_inputs(c, seed=k)
    d_out = np.random.default_rng(99).standard_normal([c.sizes[r] for r in c.tensors[c.output].ranks])
    bc, got = run_backward(c, inputs, d_out)
    leaves = {n: torch.from_numpy(a).requires_grad_() for n, a in inputs.items()}
    out = reference(c, leaves)
    np.testing.assert_allclose(workloads.execute(c, inputs)[c.output], out.detach().numpy(), rtol=0, atol=TOLERANCE)
    out.backward(torch.from_numpy(d_out))
    for n, leaf in leaves.items():
        expected = leaf.grad.numpy() if leaf.grad is not None else np.zeros(leaf.shape)
        assert "d" + n in got, f"{name}: no gradient d{n}"
        np.testing.assert_allclose(got["d" + n], expected, rtol=0, atol=TOLERANCE, err_msg=f"{name}: d{n}")


def test_a_whole_layer_backward_agrees_with_finite_differences():
    """A transformer layer around a GQA core (norms, projections, RoPE, SwiGLU, residuals): the core takes the
    FlashAttention form, the rest the general derivation; sampled entries of every input gradient match central
    differences of the forward."""
    core = workloads.attention("gqa", batch=1, heads=4, kv_heads=2, seq=4, head_dim=4, causal=True, key_tile=2)
    c = workloads.layer(core, model_dim=8, ffn_kind="swiglu", ffn_dim=6)
    inputs = random_inputs(c, 11)
    rng = np.random.default_rng(12)
    d_out = rng.standard_normal([c.sizes[r] for r in c.tensors[c.output].ranks])
    bc, got = run_backward(c, inputs, d_out)
    loss = lambda x: float(np.sum(workloads.execute(c, x)[c.output] * d_out))
    for name, value in inputs.items():
        for _ in range(2):
            i = tuple(int(rng.integers(n)) for n in value.shape)
            plus, minus = dict(inputs), dict(inputs)
            plus[name], minus[name] = value.copy(), value.copy()
            plus[name][i] += 1e-6
            minus[name][i] -= 1e-6
            assert got["d" + name][i] == pytest.approx((loss(plus) - loss(minus)) / 2e-6, rel=1e-5, abs=1e-7), name
