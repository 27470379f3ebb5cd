"""Backward cascades as data: MHA's op counts against the hand formulas of docs/backward.md, the pass counts, the
FlashAttention form's independence of the forward's softmax form, determinism, round trips, and the general
derivation of softmax cascades without the FlashAttention form (checked against autograd too)."""
import numpy as np
import pytest
import torch

import workloads
from workloads import attention, backward, flops, passes, total_ops
from workloads.autodiff import LSE, derive, saved_inputs

from test_backward import TOLERANCE, attend, random_inputs


def pairs(m, p, causal):
    """(query, key) pairs a bottom-right-aligned causal mask attends, or all of them."""
    return sum(min(p, i + 1 + p - m) for i in range(m)) if causal else m * p


@pytest.mark.parametrize("b,h,m,p,e,f,causal", [(2, 3, 8, 8, 4, 5, True), (1, 2, 3, 7, 6, 6, False),
                                                 (1, 1, 1, 9, 4, 4, True), (2, 2, 6, 10, 3, 3, True)])
def test_mha_backward_op_counts_match_the_hand_formulas(b, h, m, p, e, f, causal):
    """Per (b, h): MACs N·(3E + 2F) + M·F (QK, dQ, dK over E; dP, dV over F; Drow), and per pair a sub and an exp
    (P) and a mul and a sub (dS), with N the attended pairs."""
    c = attention("mha", batch=b, heads=h, seq=m, seq_kv=p, head_dim=e, head_dim_v=f, causal=causal)
    n = pairs(m, p, causal)
    bc = backward(c)
    assert total_ops(bc) == {"mac": b * h * (n * (3 * e + 2 * f) + m * f), "sub": 2 * b * h * n,
                             "exp": b * h * n, "mul": b * h * n}
    assert flops(c) == 2 * b * h * n * (e + f)
    if e == f:   # FlashAttention's convention: 5 GEMM-shaped products against the forward's 2, plus Drow's M·F
        assert flops(bc) == 2.5 * flops(c) + 2 * b * h * m * f
    per_einsum = workloads.op_counts(bc)
    assert per_einsum["QK"] == {"mac": b * h * n * e} and per_einsum["Drow"] == {"mac": b * h * m * f}


@pytest.mark.parametrize("variant,extra", [("mha", {}), ("gqa", {"kv_heads": 2})])
def test_the_flash_form_does_not_depend_on_the_forward_softmax(variant, extra):
    shape = dict(batch=1, heads=4, seq=5, seq_kv=7, head_dim=3, causal=True, **extra)
    forms = [workloads.structure(backward(attention(variant, softmax=s, key_tile=3, **shape)))
             for s in ("1pass", "2pass", "3pass")]
    assert forms[0] == forms[1] == forms[2]


def test_backward_of_one_pass_attention_needs_one_pass_over_keys_and_queries():
    """With O and LSE saved, nothing the backward traverses waits for a full reduction over P or M: one pass over
    each (the forward 1-pass cascade is one pass over P). Without them, the general derivation of the 3-pass and
    2-pass cascades recomputes the forward's passes and adds its own: 5 and 3 passes over P."""
    shape = dict(batch=1, heads=2, seq=6, head_dim=3, causal=True, key_tile=2)
    one = attention("mha", softmax="1pass", **shape)
    assert passes(one, "P") == 1
    bc = backward(one)
    assert (passes(bc, "P"), passes(bc, "M")) == (1, 1)
    assert passes(derive(attention("mha", softmax="3pass", **shape), flash=False), "P") == 5
    assert passes(derive(attention("mha", softmax="2pass", **shape), flash=False), "P") == 3


def test_backward_is_pure_deterministic_and_round_trips():
    c = attention("gqa", batch=1, heads=4, kv_heads=2, seq=3, seq_kv=5, head_dim=2, causal=True)
    bc = backward(c)
    assert bc == backward(c) and hash(bc) == hash(backward(c))
    assert bc.name == f"{c.name}-bwd" and bc.masks == c.masks and bc.dtype == c.dtype
    assert bc.inputs == ("Q", "K", "V", "dAV", "AV", LSE) and bc.output == "dK"
    for grad in ("dQ", "dK", "dV"):
        assert bc.tensors[grad].ranks == c.tensors[grad[1:]].ranks
    assert workloads.cascade(workloads.to_text(bc), bc.sizes, name=bc.name, dtype=bc.dtype) == bc
    assert workloads.load(workloads.save(bc)) == bc
    assert workloads.rebuild(bc) == bc


def test_saved_lse_is_the_row_logsumexp():
    c = attention("sliding", batch=1, heads=2, seq=4, seq_kv=7, head_dim=3, left=2, key_tile=3)
    inputs = random_inputs(c, 3)
    saved = saved_inputs(c, inputs)
    mask = torch.from_numpy(workloads.masks.dense(c.masks[0], 4, 7))
    s = torch.einsum("bhme,bhpe->bhmp", *(torch.from_numpy(inputs[n]) for n in ("Q", "K"))).masked_fill(~mask, -np.inf)
    np.testing.assert_allclose(saved[LSE].reshape(1, 2, 4), torch.logsumexp(s, -1).numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("softmax", ["2pass", "3pass"])
def test_the_general_derivation_of_softmax_equals_autograd_too(softmax):
    c = attention("gqa", batch=1, heads=4, kv_heads=2, seq=3, seq_kv=5, head_dim=2, causal=True, softmax=softmax,
                  key_tile=2)
    general = derive(c, flash=False)
    assert LSE not in general.inputs
    inputs = random_inputs(c, 5)
    d_out = np.random.default_rng(1).standard_normal([c.sizes[r] for r in c.tensors["AV"].ranks])
    got = workloads.execute(general, {**inputs, "dAV": d_out})
    leaves = {n: torch.from_numpy(a).requires_grad_() for n, a in inputs.items()}
    keep = torch.from_numpy(workloads.masks.dense(c.masks[0], 3, 5))
    attend(leaves["Q"], leaves["K"], leaves["V"], keep).reshape(1, 2, 2, 3, 2).backward(torch.from_numpy(d_out))
    for n, leaf in leaves.items():
        np.testing.assert_allclose(got["d" + n], leaf.grad.numpy(), rtol=0, atol=TOLERANCE)


def test_a_core_is_recognised_whatever_its_names():
    """Recognition is structural: the 1-pass core with every tensor and rank renamed takes the same FlashAttention
    form (equal structure), and a core whose running max reads its arguments swapped is not recognised."""
    import re
    c = attention("mha", batch=1, heads=2, seq=4, head_dim=3, causal=True, key_tile=2)
    names = {"RM": "Mx", "RD": "Den", "RNV": "Acc", "LM": "TileMax", "SLN": "E1", "SLD": "E2", "SLNV": "E3",
             "PRM": "Corr", "SPD": "E4", "SPNV": "E5", "BQK": "Score", "AV": "Out", "m": "i", "p": "j", "p1": "t",
             "p0": "u", "P1": "T"}
    text = re.sub(r"\b\w+\b", lambda w: names.get(w.group(0), w.group(0)), workloads.to_text(c))
    sizes = {{"M": "I", "P": "J", "P0": "U", "P1": "T"}.get(r, r): n for r, n in c.sizes.items()}
    renamed = workloads.cascade(text, sizes, name=c.name)
    assert workloads.structure(backward(renamed)) == workloads.structure(backward(c))
    swapped = workloads.cascade(text.replace("max(Mx[b,h,i,t], TileMax[b,h,i,t])", "max(TileMax[b,h,i,t], Mx[b,h,i,t])"),
                                sizes, name=c.name)
    with pytest.raises(workloads.CascadeError, match="does not differentiate through an iterative rank"):
        backward(swapped)
