"""GPU energy: every GPU result carries dynamic energy from named per-op and per-byte figures (accel.gpus), a
tensor-bound kernel at full load comes out near the board's power limit once static power is added, a streaming
one near its memory-bound power, FP8 costs less per FLOP than bf16, and explore can minimize energy on a GPU."""
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import energy

H100, B200 = accel.preset("h100"), accel.preset("b200")
MHA = workloads.attention("mha", batch=1, heads=16, seq=4096, head_dim=128)
CASES = [(MHA, "flash2", H100), (MHA, "flash3", H100), (MHA, "cudnn", H100), (MHA, "gpu-unfused", H100),
         (MHA, "flash-blackwell", B200),
         (workloads.attention("gqa", batch=4, heads=32, kv_heads=8, seq=1, seq_kv=32768, head_dim=128),
          "flash-decoding", H100),
         (workloads.attention("gqa", batch=4, heads=32, kv_heads=8, seq=1, seq_kv=32768, head_dim=128),
          "decode-blackwell", B200),
         (workloads.attention("mla", batch=8, seq=1, seq_kv=8192), "mla-decode", H100),
         (workloads.attention("gna", batch=1, heads=4, spatial=(64, 64), window=(16, 16), head_dim=64), "gna", H100),
         (workloads.gemm(4096, 4096, 4096), "gemm", H100)]


@pytest.mark.parametrize("c,dataflow,arch", CASES, ids=[c[1] for c in CASES])
def test_every_gpu_result_carries_energy(c, dataflow, arch):
    """Dynamic energy is positive and is the sum of its breakdown; compute and memory both contribute."""
    r = sim.evaluate(c, arch, dataflow=dataflow)
    assert r.energy_j > 0 and r.energy_j == pytest.approx(sum(r.energy_breakdown.values()))
    assert any(k.startswith("tensor.") and v > 0 for k, v in r.energy_breakdown.items())
    assert any(k.startswith(("HBM.", "L2.")) and v > 0 for k, v in r.energy_breakdown.items())


def test_a_tensor_bound_kernel_at_full_load_is_near_the_power_limit():
    """An 8192³ bf16 GEMM on H100 at its measured ceiling: static + dynamic within 15% of the 700 W limit. On B200
    at its default sustained fraction the same figures give about 1.35× its 1000 W: the 7 nm op energies overstate
    Blackwell (or its default ceiling is one it cannot hold within 1000 W)."""
    gemm = workloads.gemm(8192, 8192, 8192, dtype="bf16")
    h = sim.evaluate(gemm, H100, dataflow="gemm")
    assert energy.board_watts(h, H100) == pytest.approx(energy.tdp_w(H100), rel=0.15)
    b = sim.evaluate(gemm, B200, dataflow="gemm")
    assert 0.9 * energy.tdp_w(B200) < energy.board_watts(b, B200) < 1.5 * energy.tdp_w(B200)


def test_a_streaming_kernel_draws_its_memory_bound_power():
    """Decode over a long cache streams HBM: static power plus HBM and L2 traffic, well under the limit and above
    static power by at least the HBM bytes' energy at the bandwidth reached."""
    c = workloads.attention("gqa", batch=8, heads=32, kv_heads=8, seq=1, seq_kv=131072, head_dim=128)
    r = sim.evaluate(c, H100, dataflow="flash-decoding")
    watts = energy.board_watts(r, H100)
    hbm_w = sum(v for k, v in r.energy_breakdown.items() if k.startswith("HBM.")) / r.latency_s
    assert hbm_w > 50 and energy.static_power_w(H100) + hbm_w <= watts < 0.6 * energy.tdp_w(H100)


@pytest.mark.parametrize("arch,dataflow", [(H100, "flash3"), (B200, "flash-blackwell")])
def test_fp8_costs_less_per_flop(arch, dataflow):
    """FP8 MACs (an 8-bit multiplier) and half the bytes: less energy per FLOP than bf16, charged as mac.fp8."""
    def joules_per_flop(dtype):
        c = workloads.attention("mha", batch=1, heads=16, seq=8192, head_dim=128, dtype=dtype)
        r = sim.evaluate(c, arch, dataflow=dataflow)
        return energy.per_flop(r, arch, workloads.flops(c)), r
    bf16, _ = joules_per_flop("bf16")
    fp8, r = joules_per_flop("fp8")
    assert fp8 < 0.8 * bf16 and "tensor.mac.fp8" in r.energy_breakdown


def test_explore_minimizes_energy_on_a_gpu():
    """objective='energy' runs on GPUs and its best uses no more energy than the fastest candidate."""
    fastest = sim.explore(MHA, H100, budget=24).best
    frugal = sim.explore(MHA, H100, objective="energy", budget=24).best
    assert 0 < frugal.energy_j <= fastest.energy_j


def test_static_power_is_stated_for_gpu_presets_only():
    """Presets and their variants have a static power; other archs have none (dynamic energy only)."""
    assert energy.static_power_w(accel.variant(H100, sms=264)) == energy.static_power_w(H100) > 0
    assert energy.static_power_w(accel.preset("fusemax")) is None


def test_a_result_carries_the_static_power_over_its_latency():
    """`Arch.static_power_w` × latency is the "static" entry of the breakdown, inside `energy_j`; explore's energy
    objective therefore prefers the faster of two kernels doing the same work."""
    c = workloads.attention("mha", batch=1, heads=16, seq=4096, head_dim=128)
    r = sim.evaluate(c, H100, "flash3")
    assert H100.static_power_w > 0
    assert r.energy_breakdown["static"] == pytest.approx(H100.static_power_w * r.latency_s)
    assert r.energy_j == pytest.approx(sum(r.energy_breakdown.values()))
    assert "static" not in sim.evaluate(workloads.attention("mha", batch=1, heads=2, seq=1024, head_dim=64),
                                        accel.preset("fusemax"), "fusemax").energy_breakdown
    x = sim.explore(c, H100, objective="energy", dataflows=["flash2", "flash3"])
    assert x.best.dataflow == "flash3"
