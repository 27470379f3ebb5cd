"""GPU kernel dataflows: calibration against the public FlashAttention-2 H100 table, GEMM/decode/MLA sanity,
GNA costs, the per-SM symmetry, and each dataflow's `supports`."""
import statistics

import numpy as np
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import machine
from sim.dataflows.gpu.unfused import unfused_fits
from sim.ir.options import Options
from validation.data.fa2_public import FWD_FLASH2, FWD_STANDARD, SEQS

H100 = accel.preset("h100")
FIT_ROW = (128, False)   # the only row constants were fitted on


def bench(seq: int, d: int, causal: bool):
    """The FlashAttention benchmark shape: B·S = 16K tokens, hidden 2048."""
    return workloads.attention("mha", batch=16384 // seq, heads=2048 // d, seq=seq, head_dim=d, causal=causal)


def table_errors(table, dataflow):
    """Relative error of the predicted rate: the published TFLOP/s use FlashAttention's convention (4·B·S²·H·D,
    halved when causal), so both sides are compared as times."""
    errors = {}
    for (d, causal), values in table.items():
        for seq, text in zip(SEQS, values.split("/")):
            if text in ("OOM", "-"):
                continue
            published_s = 4 * 16384 * seq * 2048 * (0.5 if causal else 1.0) / (float(text) * 1e12)
            got = sim.evaluate(bench(seq, d, causal), H100, dataflow=dataflow).latency_s
            errors[(d, causal, seq)] = published_s / got - 1
    return errors


def test_flash2_matches_the_public_h100_table():
    """FA2 forward: median |error| ≤ 10% and max ≤ 25% over the rows not used for fitting (30 points)."""
    errors = table_errors(FWD_FLASH2, "flash2")
    held_out = [abs(e) for (d, causal, _), e in errors.items() if (d, causal) != FIT_ROW]
    assert len(errors) == 36 and len(held_out) == 30
    assert statistics.median(held_out) <= 0.10
    assert max(held_out) <= 0.25
    assert max(abs(e) for (d, causal, _), e in errors.items() if (d, causal) == FIT_ROW) <= 0.10


def test_unfused_matches_the_standard_column():
    """PyTorch "Standard" attention: median |error| ≤ 15%; the 16K points are predicted out of memory."""
    errors = table_errors(FWD_STANDARD, "gpu-unfused")
    assert len(errors) == 20
    assert statistics.median(abs(e) for e in errors.values()) <= 0.15
    assert not unfused_fits(bench(16384, 64, False), H100)
    assert unfused_fits(bench(8192, 128, True), H100)


def test_large_square_gemm_reaches_the_measured_ceiling():
    """8192³ and 16384³ bf16 GEMMs on H100 come within 5% of the measured 798 TFLOP/s."""
    for n in (8192, 16384):
        r = sim.evaluate(workloads.gemm(n, n, n, dtype="bf16"), H100, dataflow="gemm")
        assert r.tflops == pytest.approx(798, rel=0.05)
        assert r.busy["tensor"] > 0.9                      # the tensor pipes are occupied ...
        peak = 2 * accel.pe_count(H100, accel.unit(H100, "tensor")) * accel.op_rate(
            accel.unit(H100, "tensor"), "mac", "bf16") * H100.clock_hz
        assert r.utilization["tensor"] == pytest.approx(r.tflops * 1e12 / peak, rel=1e-6)   # ... useful work / peak


def test_decode_is_hbm_bound_at_long_kv():
    """Single-token GQA decode over a 256K cache streams K/V at ≥ 80% of HBM bandwidth (measured and datasheet)."""
    c = workloads.attention("gqa", batch=8, heads=32, kv_heads=8, seq=1, seq_kv=262144, head_dim=128)
    r = sim.evaluate(c, H100, dataflow="flash-decoding")
    assert r.utilization["hbm"] >= 0.8
    assert r.dram_bytes / r.latency_s >= 0.8 * H100.levels[0].bandwidth_bytes_per_s
    assert r.mapping.params["splits"] > 1


def test_mla_decode_turns_compute_bound_near_128_rows():
    """Absorbed MLA decode (latent 512 + rope 64): HBM-bound below heads × query length = 128, tensor-bound above
    (FlashMLA's intensity argument: 2·h_q·s_q FLOP per cached byte)."""
    def busy(heads, seq):
        c = workloads.attention("mla", batch=64, heads=heads, seq=seq, seq_kv=8192)
        return sim.evaluate(c, H100, dataflow="mla-decode").busy
    low, high = busy(64, 1), busy(128, 2)
    assert low["hbm"] > 0.9 and low["tensor"] < low["hbm"]
    assert high["tensor"] > high["hbm"] and high["hbm"] < 0.6


def test_mla_decode_needs_the_absorbed_cascade():
    """An MQA cascade with its own V input is not MLA: its V bytes would be dropped, so mla-decode refuses it."""
    c = workloads.attention("mqa", batch=64, heads=64, seq=1, seq_kv=8192, head_dim=576, head_dim_v=512)
    assert "absorbed" in sim.dataflow("mla-decode").supports(c, H100)


def test_stride_one_na_costs_more_than_its_flop_bound():
    """Sliding-window NA (stride 1) visits partial tiles beyond its window; strided GNA on block boundaries does not,
    so its kernel time (without the permutes) is the FLOP share of dense attention's."""
    dense = sim.evaluate(workloads.attention("mha", batch=1, heads=24, seq=65536, head_dim=128), H100,
                         dataflow="flash3")

    def gna(stride):
        c = workloads.attention("gna", batch=1, heads=24, spatial=(256, 256), window=(80, 80), stride=stride,
                                head_dim=128)
        return c, sim.evaluate(c, H100, dataflow="gna")
    c1, na = gna((1, 1))
    c16, strided = gna((16, 16))
    flop_time = dense.latency_s / sim.bounds.gna_tiles.flop_bound(c1)
    assert na.latency_s > 1.3 * flop_time
    assert na.latency_s > strided.latency_s
    assert strided.tflops > 0.6 * dense.tflops


@pytest.mark.parametrize("dataflow", ["flash2", "flash3"])
def test_per_sm_symmetry_matches_the_full_simulation(dataflow):
    """Simulating only the most loaded SM (per-SM HBM/L2 shares) agrees with simulating all 132 SMs sharing
    one HBM and one L2 within 3% when every SM gets the same CTAs."""
    c = workloads.attention("mha", batch=1, heads=33, seq=4096, head_dim=128)
    sym = sim.evaluate(c, H100, dataflow=dataflow)
    full = sim.evaluate(c, H100, dataflow=dataflow, options=Options(symmetric=False))
    assert sym.latency_s == pytest.approx(full.latency_s, rel=0.03)
    assert sym.dram_bytes == pytest.approx(full.dram_bytes, rel=1e-6)


def test_wave_quantization_and_causal_balance():
    """One CTA more than a full wave runs alone after it: it adds at least its own compute time (it then has HBM
    to itself, so its loads hide); causal CTAs are balanced greedily."""
    one_wave = workloads.attention("mha", batch=1, heads=132, seq=128, seq_kv=8192, head_dim=128)
    plus_one = workloads.attention("mha", batch=1, heads=133, seq=128, seq_kv=8192, head_dim=128)
    a = sim.evaluate(one_wave, H100, dataflow="flash3", constraints={"ctas_per_sm": 1})
    b = sim.evaluate(plus_one, H100, dataflow="flash3", constraints={"ctas_per_sm": 1})
    sm = machine.sm_rates(H100)
    compute = 128 * 8192 * (128 + 128) / sm.mac / H100.clock_hz     # one CTA's MACs on one SM's tensor cores
    assert b.latency_s - a.latency_s >= 0.9 * compute
    assert b.latency_s < a.latency_s + 1.5 * compute
    owner, worst = machine.critical_sm(np.array([4.0, 1, 1, 1, 1]), 2)
    assert list(owner) == [0, 1, 1, 1, 1] and worst == 0


def test_flop_convention_and_utilization_keys():
    """tflops counts 2 FLOPs per MAC over the pairs the mask attends (workloads.flops): causal S² → S(S+1)/2;
    utilization has tensor, sfu and hbm."""
    c = bench(2048, 128, True)
    r = sim.evaluate(c, H100, dataflow="flash2")
    assert r.tflops * 1e12 * r.latency_s == pytest.approx(workloads.flops(c), rel=1e-9)
    assert workloads.flops(c) == 4 * 8 * 16 * 128 * 2048 * 2049 // 2
    assert {"tensor", "sfu", "hbm"} <= set(r.utilization)


def test_flash3_beats_flash2_and_follows_the_headline():
    """FA3 on H100 is at least 1.4× FA2 and never above the measured bf16 GEMM ceiling (798 TFLOP/s: no attention
    kernel out-runs a GEMM on the same tensor cores); cuDNN-style (64-row CTAs, no FA3 head-dim structure) is in
    the same range, within 0.6–1.05× of FA3."""
    for d in (64, 128, 256):
        c = bench(8192, d, False)
        f2 = sim.evaluate(c, H100, dataflow="flash2").tflops
        f3 = sim.evaluate(c, H100, dataflow="flash3").tflops
        cu = sim.evaluate(c, H100, dataflow="cudnn").tflops
        assert f2 * 1.4 < f3 < 798 and 0.6 * f3 < cu < 1.05 * f3


def test_supports_reasons():
    """Each GPU dataflow says why it cannot run: wrong arch kind, no wgmma on A100, wrong workload."""
    mha = bench(1024, 64, False)
    gemm = workloads.gemm(256, 256, 256)
    gna = workloads.attention("gna", batch=1, heads=2, spatial=(64,), window=(16,), stride=(8,), head_dim=64)
    fusemax, a100 = accel.preset("fusemax"), accel.preset("a100")
    for name in ("flash2", "flash3", "cudnn", "gpu-unfused", "flash-decoding", "mla-decode", "gna", "gemm",
                 "flash-blackwell", "decode-blackwell"):
        assert "not a GPU" in sim.dataflow(name).supports(mha, fusemax)
    assert "warpgroup" in sim.dataflow("flash3").supports(mha, a100)
    assert sim.dataflow("flash2").supports(mha, a100) is None
    assert "not a single GEMM" in sim.dataflow("gemm").supports(mha, H100) or "not a GEMM" in \
        sim.dataflow("gemm").supports(mha, H100)
    assert "attention" in sim.dataflow("flash2").supports(gemm, H100)
    assert "gna" in sim.dataflow("flash2").supports(gna, H100)
    assert "neighborhood" in sim.dataflow("gna").supports(mha, H100)
    assert "MLA" in sim.dataflow("mla-decode").supports(mha, H100)
    with pytest.raises(sim.MappingError, match="unknown mapping parameter"):
        sim.evaluate(mha, H100, dataflow="flash2", constraints={"q_tiles": 64})


@pytest.mark.parametrize("arch", ["a100", "h100", "h200", "b200"])
def test_every_gpu_preset_runs(arch):
    """flash2, gemm and decode run on every GPU preset at or above their rooflines, and a newer GPU is never
    slower than an A100 on the same request."""
    g, a100 = accel.preset(arch), accel.preset("a100")
    cases = [(bench(1024, 128, True), "flash2"), (workloads.gemm(2048, 2048, 2048), "gemm"),
             (workloads.attention("gqa", batch=2, heads=8, kv_heads=2, seq=1, seq_kv=4096, head_dim=128),
              "flash-decoding")]
    for c, dataflow in cases:
        r = sim.evaluate(c, g, dataflow=dataflow)
        assert r.latency_s >= sim.roofline(c, g).lower_bound_s
        assert r.latency_s <= sim.evaluate(c, a100, dataflow=dataflow).latency_s * (1 + 1e-9)


def test_presets_carry_instruction_paths_and_launch_overhead():
    """Hopper's mma.sync path is 2/3 of its wgmma rate; Ampere's is its native path; launches cost 2 µs."""
    h, a = accel.unit(H100, "tensor"), accel.unit(accel.preset("a100"), "tensor")
    assert accel.op_rate(h, "mma_sync") == pytest.approx(accel.op_rate(h, "mac") * 2 / 3)
    assert accel.op_rate(a, "mma_sync") == accel.op_rate(a, "mac")
    assert H100.launch_overhead_s == 2e-6
    assert machine.occupancy(machine.sm_rates(H100), 128, 255, 64 * 1024) == 2
    assert machine.occupancy(machine.sm_rates(H100), 256, 255, 128 * 1024) == 1
