"""FlashAttention-2/-3 backward dataflows (`flash2-bwd`, `flash3-bwd`): they run the backward cascade of softmax
attention on A100/H100, name their kernels, account every Einsum of the given cascade, stay above the roofline, are
slower than the forward and faster causal than dense, and refuse what they do not model with the reason."""
from __future__ import annotations

import dataclasses
import math

import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import backward_costs, backward_lowering
from sim.dataflows.gpu.backward import derivation, fa_convention_flops, recognise
from sim.dataflows.gpu.machine import sm_rates
from sim.engine import simulate
from sim.ir.mapping import MappingError
from sim.ir.options import DEFAULT_OPTIONS

import backward_standin

A100, H100, B200 = accel.preset("a100"), accel.preset("h100"), accel.preset("b200")
BACKWARD = derivation() or backward_standin.backward


@pytest.fixture(autouse=True)
def _backward(monkeypatch):
    """The checkout's `workloads.backward`, or the stand-in where it has none yet."""
    if derivation() is None:
        monkeypatch.setattr(workloads, "backward", backward_standin.backward, raising=False)


def mha(**kw):
    return workloads.attention("mha", **{**dict(batch=2, heads=8, seq=2048, head_dim=128), **kw})


def bwd(**kw):
    return BACKWARD(mha(**kw))


CASES = [("flash2-bwd", A100), ("flash2-bwd", H100), ("flash3-bwd", H100)]


@pytest.mark.parametrize("df,arch", CASES, ids=lambda x: getattr(x, "name", x))
@pytest.mark.parametrize("causal", [False, True])
def test_runs_with_kernels_in_order_and_every_einsum(df, arch, causal):
    bc = bwd(causal=causal)
    r = sim.evaluate(bc, arch, dataflow=df)
    assert list(r.kernels) == ["preprocess", "dq_dk_dv", "convert_dq"]
    assert math.isclose(sum(r.kernels.values()), r.latency_s, rel_tol=1e-6)
    assert r.kernels["dq_dk_dv"] > 0.8 * r.latency_s          # the main kernel dominates
    assert set(r.per_einsum) == {e.name for e in bc.einsums}
    assert all(0.0 <= u <= 1.0 + 1e-9 for u in r.utilization.values())
    assert r.latency_s >= sim.roofline(bc, arch).lower_bound_s


@pytest.mark.parametrize("df,fwd,arch", [("flash2-bwd", "flash2", A100), ("flash2-bwd", "flash2", H100),
                                         ("flash3-bwd", "flash3", H100)])
@pytest.mark.parametrize("d", [64, 128])
def test_backward_slower_than_forward_and_causal_faster(df, fwd, arch, d):
    dense = sim.evaluate(bwd(head_dim=d), arch, dataflow=df).latency_s
    causal = sim.evaluate(bwd(head_dim=d, causal=True), arch, dataflow=df).latency_s
    forward = sim.evaluate(mha(head_dim=d), arch, dataflow=fwd).latency_s
    assert dense > forward
    assert causal < dense


def test_fa3_backward_faster_than_fa2_on_hopper():
    bc = bwd(seq=4096)
    assert sim.evaluate(bc, H100, "flash3-bwd").latency_s < sim.evaluate(bc, H100, "flash2-bwd").latency_s


def test_flops_are_the_cascades_and_fa_convention_is_two_and_a_half_forward():
    f, bc = mha(), bwd()
    r = sim.evaluate(bc, H100, "flash2-bwd")
    assert math.isclose(r.tflops * 1e12 * r.latency_s, workloads.flops(bc), rel_tol=1e-9)
    a = recognise(bc).a
    assert fa_convention_flops(a) == 2.5 * 4 * 2 * 8 * 2048 * 2048 * 128
    # five GEMM-shaped products against two, plus Drow's B·H·M·F multiply-adds
    assert 2.5 <= workloads.flops(bc) / workloads.flops(f) < 2.5 * (1 + 1 / 2048)


def test_grouped_heads_sum_the_sharing_heads_on_flash2_only():
    bc = BACKWARD(workloads.attention("gqa", batch=1, heads=8, kv_heads=2, seq=1024, head_dim=64))
    r = sim.evaluate(bc, H100, "flash2-bwd")
    assert list(r.kernels) == ["preprocess", "dq_dk_dv", "convert_dq", "sum_dk_dv"]
    assert "grouped heads" in sim.dataflow("flash3-bwd").supports(bc, H100)


def test_renamed_backward_runs_and_reports_its_own_einsums():
    bc = bwd(seq=1024)
    text = workloads.serialize.to_text(bc)
    for old, new in (("dS[", "gradS["), ("Drow[", "Dsum["), ("(dS", "(gradS"), ("dS ", "gradS ")):
        text = text.replace(old, new)
    renamed = workloads.cascade(text, bc.sizes, name=bc.name, dtype=bc.dtype)
    assert workloads.structure(renamed) == workloads.structure(bc)
    r = sim.evaluate(renamed, H100, "flash2-bwd")
    assert {"gradS", "Dsum"} <= set(r.per_einsum)
    assert math.isclose(r.latency_s, sim.evaluate(bc, H100, "flash2-bwd").latency_s, rel_tol=1e-9)


@pytest.mark.parametrize("make,df,arch,fragment", [
    (lambda: mha(), "flash2-bwd", H100, "is not a FlashAttention-form backward"),
    (lambda: bwd(dtype="bf16"), "flash2-bwd", B200, "Blackwell"),
    (lambda: bwd(), "flash3-bwd", A100, "warpgroup MMA"),
    (lambda: bwd(head_dim=512), "flash2-bwd", H100, "head dim 512"),
    (lambda: bwd(head_dim_v=64), "flash2-bwd", H100, "one head dim"),
    (lambda: bwd(), "flash2-bwd", accel.preset("fusemax"), "not a GPU"),
])
def test_refusals_name_the_reason(make, df, arch, fragment):
    why = sim.dataflow(df).supports(make(), arch)
    assert why is not None and fragment in why
    with pytest.raises(MappingError, match=fragment.split()[0]):
        sim.evaluate(make(), arch, dataflow=df)


def test_non_softmax_backward_is_refused():
    text = workloads.serialize.to_text(bwd(seq=256)).replace("sub_exp(QK[b,h,m,p], LSE[b,h,m])", "sigmoid(QK[b,h,m,p])")
    c = workloads.cascade(text, bwd(seq=256).sizes, name="sigmoid-bwd")
    assert "is not the FlashAttention-form backward" in sim.dataflow("flash2-bwd").supports(c, H100)


def test_fp8_backward_is_refused():
    bc = BACKWARD(mha(seq=256))
    fp8 = workloads.cascade(workloads.serialize.to_text(bc), bc.sizes, name=bc.name, dtype="fp8")
    assert "forward-only" in sim.dataflow("flash3-bwd").supports(fp8, H100)


def test_pins_are_checked():
    with pytest.raises(MappingError, match="unknown mapping parameter"):
        sim.evaluate(bwd(), H100, "flash2-bwd", constraints={"tile": 64})
    with pytest.raises(MappingError, match="shared memory"):
        sim.evaluate(bwd(), H100, "flash3-bwd", constraints={"q_tile": 256, "kv_tile": 256})
    with pytest.raises(MappingError, match="must divide warps"):
        sim.evaluate(bwd(), H100, "flash2-bwd", constraints={"layout_sdp": 3})


def test_a100_head_dim_256_drops_the_q_double_buffer():
    mp = sim.dataflow("flash2-bwd").plan(bwd(head_dim=256, seq=512), A100, {})
    assert mp.params["stages"] == 1 and mp.params["q_tile"] == 64
    assert sim.dataflow("flash2-bwd").plan(bwd(head_dim=256, seq=512), H100, {}).params["stages"] == 2


def test_backward_of_one_pass_attention_is_one_pass_and_only_fusemax_bwd_maps_it_on_arrays():
    for causal in (False, True):
        c = bwd(seq=1024, causal=causal)
        assert workloads.passes(c, "P") == workloads.passes(c, "M") == 1
    verdicts = sim.verdicts(bwd(seq=1024), accel.preset("fusemax"))
    assert [n for n, why in verdicts.items() if why is None] == ["fusemax-bwd"]
    assert "1pass softmax" in verdicts["fusemax"]


def test_forward_attention_is_refused_cheaply_with_the_input_count():
    why = sim.dataflow("flash2-bwd").supports(mha(), H100)
    assert "has 3 inputs" in why and "6 (Q, K, V, dO, O, LSE)" in why


def _fa2_costs(arch, mech=backward_costs.ALL, **kw):
    bc = bwd(**kw)
    p = sim.dataflow("flash2-bwd").plan(bc, arch, {}).params
    return backward_costs.Costs(recognise(bc), p, sm_rates(arch, "fp16"), False, DEFAULT_OPTIONS, mech), p


@pytest.mark.parametrize("arch", [A100, H100], ids=lambda a: a.name)
def test_fa2_mechanisms_each_add_time_and_none_is_the_idealized_loop(arch):
    bc = bwd(seq=4096)
    mp = sim.dataflow("flash2-bwd").plan(bc, arch, {})
    ticks = lambda mech: simulate(backward_lowering.lower(bc, arch, mp, DEFAULT_OPTIONS, False, mech).program).ticks
    full, none = ticks(backward_costs.ALL), ticks(backward_costs.NONE)
    for name in backward_costs.FA2_MECHANISMS:
        without = ticks(dataclasses.replace(backward_costs.ALL, **{name: False}))
        assert none <= without < full, name
    assert full == sim.evaluate(bc, arch, "flash2-bwd").cycles * 4       # the registered dataflow models them all


@pytest.mark.parametrize("arch", [A100, H100], ids=lambda a: a.name)
def test_fa2_steps_run_one_after_another(arch):
    """Equal CTAs, one wave pattern: the main kernel lasts (CTAs on an SM) × (Q tiles) × the sum of one Q tile's
    steps — S, exp, P store, dP, dS, dS store, dV, dQ, dK — within the loads and the CTA's prologue/epilogue."""
    k, p = _fa2_costs(arch, seq=4096)
    steps = (sum(k.gemm.values()) + max(k.exp, k.exp_fma) + k.fma + 2 * k.store_cycles)
    ctas = 2 * 8 * 4096 // p["kv_tile"]
    per_sm = -(-ctas // sm_rates(arch).sms)
    r = sim.evaluate(bwd(seq=4096), arch, "flash2-bwd")
    ratio = r.kernels["dq_dk_dv"] * arch.clock_hz / (per_sm * 4096 // p["q_tile"] * steps)
    assert 1.0 <= ratio < 1.06


def test_fa2_gemm_fill_is_a_two_stage_pipeline_of_k_steps():
    k, p = _fa2_costs(H100, seq=1024)
    smem = sm_rates(H100).smem
    steps = 128 // backward_costs.MMA_K                     # QK's k extent is the head dim
    traffic = k.reads["QK"] / smem
    assert math.isclose(k.gemm["QK"], backward_costs.SMEM_LATENCY_CYCLES + max(traffic / steps + k.tensor,
                                                                                 traffic + k.tensor / steps))
    assert k.gemm["dK"] == max(k.tensor, k.reads["dK"] / smem)     # dK's fragments load behind the atomics
    idle, _ = _fa2_costs(H100, backward_costs.NONE, seq=1024)
    assert idle.gemm["dV"] == max(k.tensor, (k.reads["dV"] + k.store) / smem)   # P's store hidden in dV's traffic


def test_fa3_backward_does_not_take_fa2s_mechanisms():
    bc = bwd(seq=1024)
    p = sim.dataflow("flash3-bwd").plan(bc, H100, {}).params
    k = backward_costs.Costs(recognise(bc), p, sm_rates(H100, "fp16"), True, DEFAULT_OPTIONS, backward_costs.ALL)
    assert k.mech == backward_costs.NONE


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 3), heads=st.integers(1, 4), seq=st.sampled_from([64, 100, 384, 1000]),
       kv=st.sampled_from([None, 256, 777]), d=st.sampled_from([32, 64, 80, 128, 256]), causal=st.booleans(),
       df=st.sampled_from(["flash2-bwd", "flash3-bwd"]), arch=st.sampled_from(["a100", "h100"]))
def test_fuzz_shapes_run_above_the_roofline_or_are_refused(batch, heads, seq, kv, d, causal, df, arch):
    a = accel.preset(arch)
    try:
        bc = BACKWARD(mha(batch=batch, heads=heads, seq=seq, seq_kv=kv, head_dim=d, causal=causal))
    except workloads.CascadeError:
        return
    why = sim.dataflow(df).supports(bc, a)
    if why is not None:
        assert isinstance(why, str) and len(why) < 600
        return
    r = sim.evaluate(bc, a, df)
    assert r.latency_s >= sim.roofline(bc, a).lower_bound_s
    assert all(0.0 <= u <= 1.0 + 1e-9 for u in r.utilization.values())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_perturbed_backward_is_refused_or_is_the_backward(data):
    """A backward cascade with one Einsum's op or operand changed is refused, or is still an exact backward."""
    bc = bwd(seq=256, batch=1, heads=2)
    text = workloads.serialize.to_text(bc)
    edits = [("* K[", "* Q["), ("dP[b,h,m,p] - Drow", "Drow[b,h,m] - dP"), ("P[b,h,m,p] * dAV", "dS[b,h,m,p] * dAV"),
             ("dS[b,h,m,p] * Q", "P[b,h,m,p] * Q"), ("sub_exp(QK[b,h,m,p], LSE[b,h,m])", "exp(QK[b,h,m,p])")]
    old, new = data.draw(st.sampled_from(edits))
    try:
        c = workloads.cascade(text.replace(old, new, 1), bc.sizes, name=bc.name, dtype=bc.dtype)
    except workloads.CascadeError:
        return
    why = sim.dataflow("flash2-bwd").supports(c, H100)
    assert why is not None and "not the FlashAttention-form backward" in why
