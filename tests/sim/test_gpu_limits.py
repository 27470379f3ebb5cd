"""GPU model limits and edge cases: null arch fields by the schema's meaning, wrong argument types, exact resident
CTAs, equivalent tile-program layouts, NumPy integers as pins, and utilization as useful work over capacity."""
import dataclasses

import numpy as np
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import programs
from sim.ir.options import Options

H100 = accel.preset("h100")
MHA = workloads.attention("mha", batch=2, heads=8, seq=2048, head_dim=128)


def with_level(arch, name, **fields):
    levels = tuple(dataclasses.replace(lv, **fields) if lv.name == name else lv for lv in arch.levels)
    return dataclasses.replace(arch, levels=levels)


@pytest.mark.parametrize("level", ["L2", "SMEM", "HBM"])
def test_a_null_bandwidth_is_not_a_bottleneck(level):
    """A level whose bandwidth is null (the schema: transfers take no time) never slows a kernel down."""
    free = accel.from_dict({**accel.to_dict(with_level(H100, level, bandwidth_bytes_per_s=None)), "measured": {}})
    plain = accel.from_dict({**accel.to_dict(H100), "measured": {}})
    for dataflow in ("flash2", "flash3", "gpu-unfused"):
        assert sim.evaluate(MHA, free, dataflow=dataflow).latency_s <= sim.evaluate(MHA, plain,
                                                                                   dataflow=dataflow).latency_s
    assert sim.evaluate(workloads.gemm(2048, 2048, 2048), free, dataflow="gemm").latency_s > 0


def test_a_null_shared_memory_capacity_is_refused():
    """An arch built directly with no SMEM capacity (from_dict refuses it) is refused, with the reason."""
    broken = with_level(H100, "SMEM", capacity_bytes=None)
    for name in ("flash2", "gemm", "gna"):
        assert "SMEM has no capacity" in sim.dataflow(name).supports(MHA, broken)


def test_wrong_argument_types_are_reasons_or_mapping_errors():
    """A preset name or a variant name where an Arch or a Cascade goes: supports gives the reason, plan and lower
    raise MappingError — never TypeError or AttributeError."""
    for name in ("flash2", "flash3", "cudnn", "gpu-unfused", "flash-decoding", "mla-decode", "gna", "gemm",
                 "flash-blackwell", "decode-blackwell"):
        df, arch = sim.dataflow(name), accel.preset("b200") if "blackwell" in name else H100
        assert "expected an accel.Arch, got str" in df.supports(MHA, "h100")
        assert "expected a workloads.Cascade, got str" in df.supports("mha", arch)
        with pytest.raises(sim.MappingError):
            df.plan("mha", arch, {})
        with pytest.raises(sim.MappingError):
            df.plan(MHA, "h100", {})
        plan = sim.dataflow("flash2").plan(MHA, H100, {})
        with pytest.raises(sim.MappingError):
            df.lower(MHA, "h100", plan)


def test_resident_ctas_are_exactly_the_mapping():
    """ctas_per_sm CTAs are resident per SM, no more: one CTA per SM is slower than two for FA2, and three do
    not fit FA2's registers (4 warps × 32 threads × 255 registers each)."""
    one = sim.evaluate(MHA, H100, dataflow="flash2", constraints={"ctas_per_sm": 1})
    two = sim.evaluate(MHA, H100, dataflow="flash2", constraints={"ctas_per_sm": 2})
    assert one.latency_s > two.latency_s
    with pytest.raises(sim.MappingError, match="registers"):
        sim.evaluate(MHA, H100, dataflow="flash2", constraints={"ctas_per_sm": 3})


@pytest.mark.parametrize("dataflow,causal", [("flash2", False), ("flash3", True), ("flash-decoding", False)])
def test_unrolled_and_separate_ctas_schedule_identically(monkeypatch, dataflow, causal):
    """A run of equal CTAs as one repeated segment (KV loop unrolled) or as separate CTAs (prologue, looped KV
    tiles, epilogue): the same ops in the same order, hence the same schedule (without intra-warpgroup pipelining,
    no dependency crosses a loop boundary that the in-order tensor unit does not already imply)."""
    c = workloads.attention("mha", batch=4, heads=33, seq=1024, head_dim=64, causal=causal)
    default = sim.evaluate(c, H100, dataflow=dataflow)
    monkeypatch.setattr(programs, "MAX_UNROLLED_OPS", 0)
    separate = sim.evaluate(c, H100, dataflow=dataflow)
    assert len(separate.run.segments) > len(default.run.segments)
    assert separate.cycles == default.cycles and separate.dram_bytes == pytest.approx(default.dram_bytes)


def test_numpy_integers_are_accepted_as_pins():
    """np.int64 pins are positive integers like any other."""
    r = sim.evaluate(MHA, H100, dataflow="flash3", constraints={"kv_tile": np.int64(64), "stages": np.int32(2)})
    assert r.mapping.params["kv_tile"] == 64 and type(r.mapping.params["kv_tile"]) is int


def test_utilization_is_useful_work_over_capacity():
    """Tensor utilization of a fused kernel is its MAC FLOP rate over the tensor peak; HBM utilization is the HBM
    bytes over bandwidth × time."""
    r = sim.evaluate(MHA, H100, dataflow="flash3")
    tensor = accel.unit(H100, "tensor")
    peak = 2 * accel.pe_count(H100, tensor) * accel.op_rate(tensor, "mac", "fp16") * H100.clock_hz
    assert r.utilization["tensor"] == pytest.approx(workloads.flops(MHA) / r.latency_s / peak, rel=1e-9)
    hbm = sum(v for k, v in r.bytes_per_level.items() if k.startswith("HBM."))
    assert r.utilization["hbm"] == pytest.approx(hbm / (H100.levels[0].bandwidth_bytes_per_s * r.latency_s))


def test_tf32_gemms_run_and_fp32_is_refused():
    """TF32 GEMMs run at the tensor cores' tf32 rate (half of bf16 on H100); fp32 has no tensor-core path."""
    tf32 = sim.evaluate(workloads.gemm(4096, 4096, 4096, dtype="tf32"), H100, dataflow="gemm")
    bf16 = sim.evaluate(workloads.gemm(4096, 4096, 4096, dtype="bf16"), H100, dataflow="gemm")
    assert 1.6 < tf32.latency_s / bf16.latency_s < 2.6
    assert "dtype fp32 is not modelled" in sim.dataflow("gemm").supports(workloads.gemm(64, 64, 64, dtype="fp32"),
                                                                         H100)


def test_symmetric_option_replaces_the_mapping_param():
    """Simulating every SM is a simulation option, not a mapping choice."""
    assert "symmetric" not in sim.dataflow("flash2").plan(MHA, H100, {}).params
    with pytest.raises(sim.MappingError, match="unknown mapping parameter"):
        sim.evaluate(MHA, H100, dataflow="flash2", constraints={"symmetric": False})
    c = workloads.attention("mha", batch=1, heads=33, seq=4096, head_dim=128)
    full = sim.evaluate(c, H100, dataflow="flash3", options=Options(symmetric=False))
    assert full.options.symmetric is False and full.latency_s > 0
