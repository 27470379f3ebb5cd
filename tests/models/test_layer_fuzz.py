"""Random layers (variant, widths, FFN, norm placement, prefill or decode, batch) on random GPU presets: each is
simulated — time the sum of its kernels, at or above its roofline, utilization within capacity, bytes the kernels'
sum — or refused with a MappingError naming the kernel; never another exception."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import accel
import sim
import workloads
from workloads.models.moe import MoE

GPUS = ("a100", "h100", "h200", "b200")


@st.composite
def layers(draw):
    heads = draw(st.sampled_from([2, 4, 8]))
    kv = draw(st.sampled_from([h for h in (1, 2, 4, 8) if heads % h == 0]))
    head_dim = draw(st.sampled_from([32, 64, 128]))
    decode = draw(st.booleans())
    seq, seq_kv = (1, draw(st.sampled_from([64, 300, 1024]))) if decode else (draw(st.sampled_from([64, 257, 512])), None)
    dtype = draw(st.sampled_from(["bf16", "fp16"]))
    core = workloads.attention("gqa", batch=draw(st.sampled_from([1, 3])), heads=heads, kv_heads=kv, seq=seq,
                               seq_kv=seq_kv, head_dim=head_dim, causal=draw(st.booleans()), dtype=dtype)
    ffn = draw(st.sampled_from(["swiglu", "gelu", "relu", "moe"]))
    moe = MoE(experts=8, top_k=2, expert_dim=64, shared_dim=64) if ffn == "moe" else None
    post = draw(st.booleans())
    return workloads.layer(core, model_dim=draw(st.sampled_from([128, 256])), ffn_kind=ffn, ffn_dim=384, moe=moe,
                           norm_kind=draw(st.sampled_from(["rms", "layer"])), post_norm=post,
                           rope=draw(st.booleans()))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(layers(), st.sampled_from(GPUS))
def test_random_layers_compose_or_refuse(c, arch_name):
    arch = accel.preset(arch_name)
    try:
        r = sim.evaluate(c, arch)
    except sim.MappingError as err:
        assert "kernel " in str(err) and len(str(err)) < 4000
        return
    assert r.latency_s == pytest.approx(sum(r.kernels.values()), rel=1e-12)
    assert r.latency_s >= sim.roofline(c, arch).lower_bound_s * (1 - 1e-9)
    assert r.dram_bytes == pytest.approx(sum(p.result.dram_bytes * p.launches for p in r.parts))
    assert r.dram_bytes >= workloads.compulsory_bytes(c) * (1 - 1e-9) or c.sizes.get("X")
    assert all(0 <= u <= 1 + 1e-9 for u in r.utilization.values())
    assert set(r.per_einsum) <= {e.name for e in c.einsums}
