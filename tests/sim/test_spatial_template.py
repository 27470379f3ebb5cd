"""Spatial dataflows simulate exactly the cascade they are given or refuse it: the whole structure is checked
against the MHA (or GEMM) template, up to the names of the inputs; archs, dtypes and buffers they do not model are
refused with what does not fit and what would."""
from __future__ import annotations

import re

import pytest

import accel
import sim
import workloads
from sim.ir.mapping import MappingError

SHAPE = dict(batch=1, heads=2, seq=512, head_dim=64)
ONE_PASS = ("fusemax-cascade", "fusemax-arch", "fusemax")
THREE_PASS = ("flat", "unfused")
HARDWARE = {"fusemax-cascade": "flat", "fusemax-arch": "fusemax", "fusemax": "fusemax", "flat": "flat",
            "unfused": "flat"}


def text(softmax):
    return workloads.to_text(workloads.attention("mha", softmax=softmax, **SHAPE))


def sizes(softmax):
    s = dict(workloads.attention("mha", softmax=softmax, **SHAPE).sizes)
    s.pop("P1", None)
    return s


def edited(softmax, *edits):
    """The MHA cascade with the (old, new) text edits applied."""
    t = text(softmax)
    for old, new in edits:
        assert old in t
        t = t.replace(old, new)
    return workloads.cascade(t, sizes(softmax), name="perturbed")


PERTURBED_1PASS = {
    "bias on the scores": (("input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]",
                            "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], BIAS[h,m,p1,p0]"),
                           ("BQK[b,h,m,p1,p0] = Q[b,h,m,e] * K[b,h,p1,p0,e]",
                            "S[b,h,m,p1,p0] = Q[b,h,m,e] * K[b,h,p1,p0,e]\nBQK[b,h,m,p1,p0] = S[b,h,m,p1,p0] + "
                            "BIAS[h,m,p1,p0]")),
    "sigmoid for exp": (("SLN[b,h,m,p1,p0] = exp(BQK[b,h,m,p1,p0] - RM[b,h,m,p1+1])",
                         "SLN[b,h,m,p1,p0] = sigmoid(BQK[b,h,m,p1,p0] - RM[b,h,m,p1+1])"),),
    "scaled scores": (("BQK[b,h,m,p1,p0] = Q[b,h,m,e] * K[b,h,p1,p0,e]",
                       "BQK[b,h,m,p1,p0] = 0.125 * Q[b,h,m,e] * K[b,h,p1,p0,e]"),),
    "dropped Einsum": (("SLD[b,h,m,p1] = SLN[b,h,m,p1,p0]\n", ""),
                       ("RD[b,h,m,p1+1] = SPD[b,h,m,p1] + SLD[b,h,m,p1]", "RD[b,h,m,p1+1] = SPD[b,h,m,p1]")),
    "renamed Einsum": (("LM[b,h,m,p1] = max(p0: BQK[b,h,m,p1,p0])", "TM[b,h,m,p1] = max(p0: BQK[b,h,m,p1,p0])"),
                       ("max(RM[b,h,m,p1], LM[b,h,m,p1])", "max(RM[b,h,m,p1], TM[b,h,m,p1])")),
    "another reduction": (("LM[b,h,m,p1] = max(p0: BQK[b,h,m,p1,p0])", "LM[b,h,m,p1] = BQK[b,h,m,p1,p0]"),),
}


def perturbed_1pass(kind):
    return edited("1pass", *PERTURBED_1PASS[kind])


@pytest.mark.parametrize("df", ONE_PASS)
@pytest.mark.parametrize("kind", PERTURBED_1PASS)
def test_perturbed_1pass_cascades_are_refused(df, kind):
    """ALiBi-style bias, another nonlinearity, a scale, a dropped or renamed Einsum, another reduction: refused,
    naming what differs from the template."""
    reason = sim.dataflow(df).supports(perturbed_1pass(kind), accel.preset(HARDWARE[df]))
    assert reason is not None
    assert "template" in reason or "Einsum" in reason or "multi-head attention" in reason


@pytest.mark.parametrize("df", THREE_PASS)
def test_perturbed_3pass_cascades_are_refused(df):
    arch = accel.preset("flat")
    cases = [edited("3pass", ("SN[b,h,m,p] = exp(QK[b,h,m,p] - GM[b,h,m])",
                              "SN[b,h,m,p] = sigmoid(QK[b,h,m,p] - GM[b,h,m])")),
             edited("3pass", ("A[b,h,m,p] = SN[b,h,m,p] / SD[b,h,m]", "A[b,h,m,p] = SN[b,h,m,p] * SD[b,h,m]")),
             edited("3pass", ("input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]",
                              "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], W[f]"),
                    ("AV[b,h,m,f] = A[b,h,m,p] * V[b,h,p,f]", "AV[b,h,m,f] = A[b,h,m,p] * V[b,h,p,f] * W[f]"))]
    for c in cases:
        assert sim.dataflow(df).supports(c, arch) is not None


def test_the_bias_reason_names_the_einsum():
    reason = sim.dataflow("fusemax").supports(perturbed_1pass("bias on the scores"), accel.preset("fusemax"))
    assert "extra Einsum S" in reason or "inputs" in reason


@pytest.mark.parametrize("df", ONE_PASS + THREE_PASS)
def test_renamed_inputs_simulate_exactly_like_mha(df):
    """Up to the names of its inputs a cascade is the template: the same cycles, bytes and energy."""
    softmax = "3pass" if df in THREE_PASS else "1pass"
    t = re.sub(r"\bV\[", "VALUE[", re.sub(r"\bK\[", "KEY[", re.sub(r"\bQ\[", "QUERY[", text(softmax))))
    renamed = workloads.cascade(t, sizes(softmax), name="renamed")
    arch = accel.preset(HARDWARE[df])
    mha = workloads.attention("mha", softmax=softmax, **SHAPE)
    assert sim.dataflow(df).supports(renamed, arch) is None
    a, b = sim.evaluate(renamed, arch, df), sim.evaluate(mha, arch, df)
    assert (a.cycles, a.dram_bytes, a.energy_j) == (b.cycles, b.dram_bytes, b.energy_j)


def test_swapped_inputs_are_not_attention():
    """Renaming must be one-to-one and consistent: K read where V belongs is another cascade."""
    t = text("1pass").replace("* V[b,h,p1,p0,f]", "* K[b,h,p1,p0,f]")
    c = workloads.cascade(t, sizes("1pass"), name="swapped")
    assert sim.dataflow("fusemax").supports(c, accel.preset("fusemax")) is not None


@pytest.mark.parametrize("variant,shape", [("gqa", dict(kv_heads=1)), ("mqa", {})])
def test_grouped_heads_are_not_mha(variant, shape):
    c = workloads.attention(variant, **SHAPE, **shape)
    reason = sim.dataflow("fusemax").supports(c, accel.preset("fusemax"))
    assert reason is not None and "multi-head attention" in reason


@pytest.mark.parametrize("df", ONE_PASS + THREE_PASS)
def test_masks_and_other_dtypes_are_refused(df):
    softmax = "3pass" if df in THREE_PASS else "1pass"
    arch = accel.preset(HARDWARE[df])
    causal = workloads.attention("mha", softmax=softmax, causal=True, **SHAPE)
    assert "masked attention is not modelled" in sim.dataflow(df).supports(causal, arch)
    fp8 = workloads.attention("mha", softmax=softmax, dtype="fp8", **SHAPE)
    assert "dtype fp8 is not modelled" in sim.dataflow(df).supports(fp8, arch)


def arch_edit(edit):
    d = accel.to_dict(accel.preset("fusemax"))
    d["name"] = "edited"
    edit(d)
    return accel.from_dict(d)


def _extra_level(d):
    d["levels"].insert(1, {"name": "L2", "capacity_bytes": 2 ** 26, "bandwidth_bytes_per_s": None})


def _gb_bandwidth(d):
    d["levels"][1]["bandwidth_bytes_per_s"] = 1e12


def _two_arrays(d):
    d["units"][0]["count"] = 2


def _no_1d(d):
    del d["units"][1]


@pytest.mark.parametrize("edit,fragment", [
    (_extra_level, "needs two memory levels"),
    (_gb_bandwidth, "bandwidth_bytes_per_s must be null"),
    (_two_arrays, "needs one '2d' array"),
    (_no_1d, "needs a unit '1d'"),
])
def test_archs_the_lowering_does_not_model_are_refused(edit, fragment):
    c = workloads.attention("mha", **SHAPE)
    reason = sim.dataflow("fusemax").supports(c, arch_edit(edit))
    assert reason is not None and fragment in reason


def test_gpu_archs_are_refused():
    c = workloads.attention("mha", **SHAPE)
    assert "needs two memory levels" in sim.dataflow("fusemax").supports(c, accel.preset("h100"))


@pytest.mark.parametrize("df", ONE_PASS + THREE_PASS)
def test_a_tiny_buffer_says_what_does_not_fit(df):
    """13: a 1 KiB global buffer used to fail deep in the program (negative buffer capacity); the plan now says
    what does not fit, how much, and the buffer that would run it — and that buffer does."""
    softmax = "3pass" if df in THREE_PASS else "1pass"
    c = workloads.attention("mha", softmax=softmax, **SHAPE)
    tiny = arch_edit(lambda d: d["levels"][1].update(capacity_bytes=1024)) if HARDWARE[df] == "fusemax" else \
        _flat_with_buffer(1024)
    with pytest.raises(MappingError, match="1024") as err:
        sim.evaluate(c, tiny, df)
    need = int(str(err.value).split("buffer of ≥ ")[1].split()[0])
    enough = arch_edit(lambda d: d["levels"][1].update(capacity_bytes=need)) if HARDWARE[df] == "fusemax" else \
        _flat_with_buffer(need)
    assert sim.evaluate(c, enough, df).cycles > 0


def _flat_with_buffer(capacity):
    d = accel.to_dict(accel.preset("flat"))
    d["name"], d["levels"][1]["capacity_bytes"] = "flat_small", capacity
    return accel.from_dict(d)


def test_a_pinned_query_block_that_does_not_fit_names_the_largest_that_does():
    c = workloads.attention("mha", batch=1, heads=1, seq=2 ** 20, head_dim=64)
    with pytest.raises(MappingError, match="the largest M1 that fits is 128"):
        sim.evaluate(c, accel.preset("fusemax"), "fusemax", constraints={"M1": 256})


def test_a_billion_tokens_plan_a_query_block_that_can_be_simulated():
    """13: very long sequences used to die on a buffer acquire. At 2^30 tokens FuseMax's rule gives M1 = 128, whose
    K/V chunks in flight (at the coarsest grouping the engine can simulate) do not fit beside it, so the plan takes
    the largest M1 that does (64); pinning M1 = 128 is refused naming M1 = 64. At 2^31 no M1 fits the 16 MiB
    buffer: refused with the buffer that would."""
    arch = accel.preset("fusemax")
    c = workloads.attention("mha", batch=1, heads=1, seq=2 ** 30, head_dim=64)
    r = sim.evaluate(c, arch, "fusemax")
    assert r.mapping.params["M1"] == 64
    assert r.latency_s >= sim.roofline(c, arch, binding=r.mapping.binding).lower_bound_s
    with pytest.raises(MappingError, match="M1=64 would"):
        sim.evaluate(c, arch, "fusemax", constraints={"M1": 128})
    longer = workloads.attention("mha", batch=1, heads=1, seq=2 ** 31, head_dim=64)
    with pytest.raises(MappingError, match="a buffer of ≥ 25296896 bytes or a shorter key sequence would"):
        sim.evaluate(longer, arch, "fusemax")


def test_a_prime_key_length_is_refused_with_the_reason():
    c = workloads.attention("mha", batch=1, heads=1, seq=1_000_003, head_dim=64)
    with pytest.raises(MappingError, match="has no divisor near the array's 256"):
        sim.evaluate(c, accel.preset("fusemax"), "fusemax")
