"""GPU attention kernels run exactly the cascade they are given: the structural template match (name-independent),
its roles (which Einsum is the score GEMM, the softmax, PV), refusals with the Einsum that does not fit, and
Result.mapping / per_einsum / kernels reporting exactly what was simulated."""
import dataclasses

import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu.template import match
from sim.ir.mapping import Mapping

H100 = accel.preset("h100")

ACCEPTED = {   # variant → (shape, the dataflow that runs it)
    "mha": (dict(batch=1, heads=4, seq=512, head_dim=64), "flash2"),
    "gqa": (dict(batch=1, heads=8, kv_heads=2, seq=512, head_dim=64), "flash3"),
    "mqa": (dict(batch=1, heads=8, seq=1, seq_kv=4096, head_dim=128), "flash-decoding"),
    "sqa": (dict(batch=1, heads=8, seq=512, head_dim=64, query_heads=4, kv_heads=2), "flash2"),
    "ssqa": (dict(batch=1, heads=8, seq=512, head_dim=64), "cudnn"),
    "gna": (dict(batch=1, heads=2, spatial=(32, 32), window=(8, 8), stride=(4, 4), head_dim=64), "gna"),
    "na": (dict(batch=1, heads=2, spatial=(1024,), window=(65,), head_dim=64), "gna"),
    "blocked": (dict(batch=1, heads=2, spatial=(1024,), block=(128,), head_dim=64), "gna"),
    "mla": (dict(batch=2, seq=1, seq_kv=2048, heads=16), "mla-decode"),
}
REFUSED = {    # variant → (shape, a fragment of the reason)
    "linear": (dict(batch=1, heads=2, seq=256, head_dim=64), "Einsum AV"),
    "moh": (dict(batch=1, heads=8, seq=256, head_dim=64, model_dim=512, shared_heads=2, top_k=2), "Einsum Y"),
    "cca": (dict(batch=1, seq=256, model_dim=512, heads=4, compression=2), "Einsum Y"),
    "split_kv": (dict(batch=1, heads=2, seq_kv=1024, head_dim=64, splits=4), "Einsum AV"),
    "tpla": (dict(batch=1, seq=1, devices=2, seq_kv=512), "Einsum AV"),
    "sliding": (dict(batch=1, heads=2, seq=256, head_dim=64, left=32), "mask Window"),
}


@pytest.mark.parametrize("variant", sorted(ACCEPTED))
@pytest.mark.parametrize("softmax", ["1pass", "2pass", "3pass"])
def test_every_softmax_form_of_the_attention_variants_runs(variant, softmax):
    """Each softmax core (the same function, FuseMax's 1-, 2- and 3-pass cascades) of each attention variant
    matches a template and runs at or above its roofline with exactly the cascade's Einsums reported."""
    shape, dataflow = ACCEPTED[variant]
    c = workloads.attention(variant, softmax=softmax, **shape)
    assert sim.dataflow(dataflow).supports(c, H100) is None
    r = sim.evaluate(c, H100, dataflow=dataflow)
    assert r.latency_s >= sim.roofline(c, H100).lower_bound_s
    assert set(r.per_einsum) <= {e.name for e in c.einsums}
    assert set(r.phases) <= {"load", "epilogue", "launch", "copy", "mask", "combine", "permute", "unpermute"}
    lowered = sim.dataflow(dataflow).lower(c, H100, r.mapping)
    counted = {}
    for key, n in lowered.actions.items():
        counted[key.split(".", 1)[1]] = counted.get(key.split(".", 1)[1], 0) + n
    assert counted == pytest.approx(dict(workloads.total_ops(c)))     # useful work = the cascade's op counts


@pytest.mark.parametrize("variant", sorted(REFUSED))
def test_other_cascades_are_refused_naming_what_does_not_fit(variant):
    """Linear attention, MoH's gate and output projection, CCA's projections, a split-KV merge written as a
    cascade, TPLA's normalisation and sliding windows are not what the kernels compute: every GPU attention
    dataflow refuses them, and the reason names the Einsum (or mask) that does not fit."""
    shape, fragment = REFUSED[variant]
    c = workloads.attention(variant, **shape)
    for name in ("flash2", "flash3", "cudnn", "gpu-unfused", "flash-decoding", "mla-decode", "gna"):
        why = sim.dataflow(name).supports(c, H100)
        assert why is not None and len(why) < 600
    assert fragment in sim.dataflow("flash2").supports(c, H100)


def renamed(c, suffix="_X"):
    """The same cascade with every intermediate tensor renamed (a name-independent match must not care)."""
    text = workloads.to_text(c)
    for e in sorted(c.einsums, key=lambda e: -len(e.name)):
        if e.name != c.output:
            text = text.replace(f"{e.name}[", f"{e.name.lower()}{suffix}[".upper())
    return workloads.cascade(text, dict(c.sizes), name=c.name + "_renamed", dtype=c.dtype)


@pytest.mark.parametrize("dataflow", ["flash2", "flash3", "gpu-unfused"])
def test_the_match_is_name_independent(dataflow):
    """Renaming every intermediate Einsum changes nothing but the names in per_einsum."""
    c = workloads.attention("mha", batch=2, heads=8, seq=1024, head_dim=64, causal=True)
    d = renamed(c)
    assert {e.name for e in d.einsums} != {e.name for e in c.einsums}
    a, b = sim.evaluate(c, H100, dataflow=dataflow), sim.evaluate(d, H100, dataflow=dataflow)
    assert a.latency_s == b.latency_s and a.dram_bytes == b.dram_bytes
    assert set(b.per_einsum) <= {e.name for e in d.einsums}


def test_commuted_operands_still_match():
    """`max(LM, RM)` for `max(RM, LM)` and `V · SLN` for `SLN · V` are the same computation."""
    c = workloads.attention("mha", batch=1, heads=4, seq=512, head_dim=64)
    text = workloads.to_text(c).replace("max(RM[b,h,m,p1], LM[b,h,m,p1])", "max(LM[b,h,m,p1], RM[b,h,m,p1])")
    text = text.replace("SLN[b,h,m,p1,p0] * V[b,h,p1,p0,f]", "V[b,h,p1,p0,f] * SLN[b,h,m,p1,p0]")
    d = workloads.cascade(text, dict(c.sizes), name="commuted")
    assert sim.evaluate(d, H100, dataflow="flash2").latency_s == sim.evaluate(c, H100, dataflow="flash2").latency_s


def test_roles_of_the_matched_einsums():
    """The match says which Einsum plays which role; MLA's absorbed projections are its pre/post GEMMs."""
    m = match(workloads.attention("mla", batch=1, seq=1, seq_kv=512, heads=8))
    assert m.template.name == "mla/1pass"
    assert m.roles["pre"] == ("QA",) and m.roles["post"] == ("AV",) and m.roles["pv"] == ("SLNV",)
    assert m.roles["normalize"] == ("OL",) and set(m.roles["qk"]) == {"BQKC", "BQKR", "BQK"}
    three = match(workloads.attention("mha", batch=1, heads=2, seq=64, head_dim=8, softmax="3pass"))
    assert dict(three.roles) == {"qk": ("QK",), "softmax": ("GM", "SN", "SD", "A"), "pv": ("AV",)}


def test_a_changed_core_is_refused():
    """exp replaced by sigmoid inside the online softmax is neither softmax nor sigmoid attention."""
    c = workloads.attention("mha", batch=1, heads=2, seq=256, head_dim=64)
    d = workloads.cascade(workloads.to_text(c).replace("exp(BQK", "sigmoid(BQK"), dict(c.sizes), name="odd")
    why = sim.dataflow("flash3").supports(d, H100)
    assert "Einsum SLN" in why and "exp(" in why


@pytest.mark.parametrize("dataflow,kernels", [
    ("flash2", ["fmha"]), ("gpu-unfused", ["copy_qkv", "qk", "mask_build", "mask", "softmax", "pv", "copy_o"]),
])
def test_kernels_are_reported(dataflow, kernels):
    """Result.kernels lists the kernels in launch order, with their seconds summing to the latency."""
    c = workloads.attention("mha", batch=2, heads=8, seq=1024, head_dim=64, causal=True)
    r = sim.evaluate(c, H100, dataflow=dataflow)
    assert list(r.kernels) == kernels
    assert sum(r.kernels.values()) == pytest.approx(r.latency_s, rel=1e-9)


def test_decode_gna_and_mla_kernels():
    """Split-KV decode adds a combine kernel; GNA permutes around its kernel; MLA runs its projections."""
    dec = sim.evaluate(workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=1, seq_kv=32768,
                                           head_dim=128), H100, dataflow="flash-decoding")
    assert list(dec.kernels) == ["fmha", "combine"]
    gna = sim.evaluate(workloads.attention(*("gna",), **ACCEPTED["gna"][0]), H100, dataflow="gna")
    assert list(gna.kernels) == ["permute", "fmha", "unpermute"]
    mla = sim.evaluate(workloads.attention("mla", batch=1, seq=1, seq_kv=8192), H100, dataflow="mla-decode")
    assert list(mla.kernels) == ["q_absorb", "fmha", "combine", "o_absorb"]
    assert {"QA", "AV"} <= set(mla.per_einsum)


@pytest.mark.parametrize("dataflow", ["flash2", "flash3", "cudnn", "flash-decoding", "gna", "gpu-unfused"])
def test_result_mapping_is_what_was_simulated(dataflow):
    """The reported mapping re-evaluates to the same result; it holds mapping choices only (no derived sizes,
    no simulation options)."""
    shape = ACCEPTED["gna"][0] if dataflow == "gna" else dict(batch=2, heads=8, seq=1024, head_dim=128)
    c = workloads.attention("gna" if dataflow == "gna" else "mha", **shape)
    r = sim.evaluate(c, H100, dataflow=dataflow)
    again = sim.evaluate(c, H100, mapping=r.mapping)
    assert again.latency_s == r.latency_s
    assert not {"symmetric", "post_bytes"} & set(r.mapping.params)
    if dataflow == "gna":
        assert not {"q_tile", "kv_tile"} & set(r.mapping.params)
    if dataflow == "cudnn":
        assert r.mapping.params["q_tile"] == 64 and r.mapping.params["ctas_per_sm"] == 2


def test_an_explicit_mapping_is_checked_like_a_plan():
    """A hand-made mapping that does not fit is refused by the lowering with the same reason a pin gets."""
    c = workloads.attention("mha", batch=1, heads=8, seq=1024, head_dim=128)
    plan = sim.dataflow("flash3").plan(c, H100, {})
    bad = dataclasses.replace(plan, params={**plan.params, "stages": 64})
    with pytest.raises(sim.MappingError, match="stages=64 need"):
        sim.evaluate(c, H100, mapping=Mapping(bad.dataflow, bad.groups, bad.binding, bad.params))
