"""FP8 (e4m3) forward on Hopper (FlashAttention-3's FP8 path) and Blackwell: the FP8 tensor rate, FA3's FP8 tiles,
the V transpose in shared memory and the P permute that Hopper's FP8 wgmma needs, refused where no FP8 tensor rate
or kernel exists."""
import dataclasses

import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import flash, machine
from sim.dataflows.gpu.costs import tile_cost, unit_shape
from sim.dataflows.gpu.shape import attention

H100, B200 = accel.preset("h100"), accel.preset("b200")


def mha(d=128, dtype="fp8", seq=8192, causal=False):
    return workloads.attention("mha", batch=2, heads=2048 // d, seq=seq, head_dim=d, dtype=dtype, causal=causal)


@pytest.mark.parametrize("arch,dataflow", [(H100, "flash3"), (B200, "flash-blackwell")])
@pytest.mark.parametrize("d", [64, 128, 256])
def test_fp8_forward_runs_faster_than_bf16(arch, dataflow, d):
    """FP8 runs at twice the tensor rate with half the bytes: faster than bf16, about twice as fast at most (FA3's
    FP8 tiles differ from its bf16 ones, so a little more where the bf16 tile was smaller), at or above its
    roofline, as one fmha kernel."""
    fp8 = sim.evaluate(mha(d), arch, dataflow=dataflow)
    bf16 = sim.evaluate(mha(d, "bf16"), arch, dataflow=dataflow)
    assert bf16.latency_s / 2.2 <= fp8.latency_s < bf16.latency_s
    assert fp8.latency_s >= sim.roofline(mha(d), arch).lower_bound_s
    assert list(fp8.kernels) == ["fmha"]


@pytest.mark.parametrize("d,tiles", [(64, (192, 160)), (128, (128, 224)), (256, (128, 128))])
def test_flash3_fp8_uses_its_own_tiles(d, tiles):
    """FA3's FP8 forward tiles per head dim (tile_size_fwd_sm90 for 1-byte elements)."""
    p = sim.dataflow("flash3").plan(mha(d), H100, {}).params
    assert (p["q_tile"], p["kv_tile"]) == tiles


def test_hopper_fp8_transposes_v_and_permutes_p():
    """On Hopper each FP8 V tile is read and written once more in shared memory (FP8 wgmma is K-major) and each
    score takes a byte permute on the FMA pipe; a kernel without the transpose moves less shared memory."""
    a = attention(mha(128))
    sm = machine.sm_rates(H100, "fp8")
    u = unit_shape(a, flash.FA3, 128, 128)
    with_t = tile_cost(sm, a, flash.FA3, u, (0.0, 0.0))
    without = tile_cost(sm, a, dataclasses.replace(flash.FA3, fp8_transpose_v=False), u, (0.0, 0.0))
    assert with_t.smem_bytes - without.smem_bytes == pytest.approx(2 * 128 * 128 * 1)
    bf16 = attention(mha(128, "bf16"))
    plain = tile_cost(machine.sm_rates(H100), bf16, flash.FA3, unit_shape(bf16, flash.FA3, 128, 128), (0.0, 0.0))
    assert with_t.fma * sm.fma - plain.fma * sm.fma == pytest.approx(64 * 128)   # one permute per score


def test_fp8_is_refused_without_an_fp8_tensor_rate():
    """No FP8 tensor rate, no FP8 attention: an H100 whose tensor unit states none, and kernels without an FP8
    forward, give the reason."""
    spec = accel.to_dict(H100)
    for u in spec["units"]:
        u["ops_per_cycle"].pop("mac.fp8", None)
    no_fp8 = accel.from_dict(spec)
    assert "no mac.fp8 rate" in sim.dataflow("flash3").supports(mha(), no_fp8)
    assert "FP8 forward runs on flash3 and flash-blackwell" in sim.dataflow("flash2").supports(mha(), H100)
