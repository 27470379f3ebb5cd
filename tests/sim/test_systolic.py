"""sim.systolic: GEMMs on 2D systolic arrays — the hand-derived fold timing, the roofline bound, and the SimPy
reference."""
from __future__ import annotations

import pytest

import accel
import sim
import workloads
from sim.engine.scheduler import simulate
from sim.engine.reference import simulate_reference
from sim.ir.mapping import MappingError

SYSTOLIC = ("systolic-ws", "systolic-os", "systolic-is")


@pytest.mark.parametrize("df", ["systolic-ws", "systolic-os"])
@pytest.mark.parametrize("n", [128, 256])
def test_gemm_1024_cube_hand_derivation(df, n):
    """1024×1024×1024 GEMM on an n×n array, unlimited bandwidth (SCALE-Sim's timing).

    Weight-stationary: a fold holds one n×n tile of B (K×N), so there are (K/n)·(N/n) folds. Each fold preloads the
    tile (n cycles), streams the M = 1024 rows of A (1024 cycles), and the skewed wavefront leaves the array
    n + n − 2 cycles after the last row entered; the next preload waits for it: 2n + n + 1024 − 2 per fold.
    Output-stationary: a fold holds an n×n tile of Z, (M/n)·(N/n) folds; K = 1024 cycles of MACs, and the skewed
    wavefront takes n + n − 2 cycles to reach the last PE, during which the finished outputs drain — no preload and
    no separate drain: n + n + 1024 − 2 per fold.
      ws, n = 128: 64 folds × (256 + 128 + 1022) = 64 × 1406 = 89,984 cycles
      ws, n = 256: 16 folds × (512 + 256 + 1022) = 16 × 1790 = 28,640 cycles
      os, n = 128: 64 folds × (128 + 128 + 1022) = 64 × 1278 = 81,792 cycles
      os, n = 256: 16 folds × (256 + 256 + 1022) = 16 × 1534 = 24,544 cycles
    (Output-stationary used to add a separate n-cycle drain after the wavefront: 89,984 and 28,640, 10–17% slow.)
    """
    expected = {("systolic-ws", 128): 89_984, ("systolic-ws", 256): 28_640,
                ("systolic-os", 128): 81_792, ("systolic-os", 256): 24_544}[df, n]
    r = sim.evaluate(workloads.gemm(1024, 1024, 1024), accel.systolic(n, n, buffer_bytes=64 * 2 ** 20), dataflow=df)
    assert r.cycles == expected
    kind = df.split("-")[1]
    assert r.cycles == (1024 // n) ** 2 * sim.dataflows.spatial.systolic.fold_cycles(n, n, 1024, kind)


@pytest.mark.parametrize("df", SYSTOLIC)
@pytest.mark.parametrize("arch", ["systolic", "fusemax", "flat"])
def test_bound_and_busy(df, arch):
    """Cycles ≥ the roofline bound, busy ≤ total, MAC actions = the GEMM's MACs."""
    a = accel.systolic(64, 64, dram_bytes_per_s=50e9, buffer_bytes=2 ** 20) if arch == "systolic" \
        else accel.preset(arch)
    g = workloads.gemm(4096, 768, 512)
    r = sim.evaluate(g, a, dataflow=df)
    assert r.latency_s >= sim.roofline(g, a, binding=r.mapping.binding).lower_bound_s * (1 - 1e-12)
    assert (r.run.busy_ticks <= r.run.ticks).all()
    lowered = sim.dataflow(df).lower(g, a, r.mapping)
    assert lowered.actions["2d.mac"] == 4096 * 768 * 512


@pytest.mark.parametrize("df", SYSTOLIC)
def test_reference_equals_engine(df):
    """SimPy reference == engine on a small bandwidth-limited GEMM; extrapolation == full simulation."""
    a = accel.systolic(16, 16, dram_bytes_per_s=5e9, buffer_bytes=2 ** 16)
    g = workloads.gemm(256, 128, 64)
    d = sim.dataflow(df)
    prog = d.lower(g, a, d.plan(g, a, {})).program
    full = simulate(prog, extrapolate=False)
    assert full.ticks == simulate_reference(prog).ticks == simulate(prog).ticks
    assert full.busy_ticks.tolist() == simulate_reference(prog).busy_ticks.tolist()


@pytest.mark.parametrize("df", SYSTOLIC)
def test_padded_gemm_takes_ceil_folds(df):
    """A GEMM whose dims do not divide the array (K = 500 by 128, N = 300, M = 1000) runs in ceil folds with the
    padded PEs idle: the cycles are the closed form over ceil folds, the MAC actions are the GEMM's exact MACs, and
    utilization counts the idle padded PEs as capacity."""
    a = accel.systolic(128, 128)
    g = workloads.gemm(1000, 300, 500)
    r = sim.evaluate(g, a, dataflow=df)
    kind = df.split("-")[1]
    stationary, streamed = {"ws": ((500, 300), 1000), "os": ((1000, 300), 500), "is": ((500, 1000), 300)}[kind]
    folds = -(-stationary[0] // 128) * -(-stationary[1] // 128)
    assert r.cycles == folds * sim.dataflows.spatial.systolic.fold_cycles(128, 128, streamed, kind)
    assert sim.dataflow(df).lower(g, a, r.mapping).actions["2d.mac"] == 1000 * 300 * 500
    assert r.utilization["2d"] == pytest.approx(1000 * 300 * 500 / (128 * 128 * r.cycles))


def test_unsupported_shapes_say_why():
    """A cascade that is not a plain GEMM is refused with a reason."""
    c = workloads.attention("mha", batch=1, heads=1, seq=64, head_dim=16)
    reason = sim.dataflow("systolic-ws").supports(c, accel.systolic(64, 64))
    assert reason and "plain GEMM" in reason


def test_residency_is_a_mapping_choice():
    """Which operands stay on chip is part of the mapping, so a larger buffer never slows the same mapping down.
    Weights used by a single outer iteration are not preloaded by default (the preload would only be exposed);
    pinned residency that does not fit is refused."""
    a = accel.systolic(16, 16, dram_bytes_per_s=5e9, buffer_bytes=2 ** 20)
    g = workloads.gemm(256, 512, 512)
    r = sim.evaluate(g, a, "systolic-ws")
    assert r.mapping.params == {"Mt": 256, "a_resident": True, "weights_resident": False}
    bigger = accel.systolic(16, 16, dram_bytes_per_s=5e9, buffer_bytes=2 ** 22)
    assert sim.evaluate(g, bigger, mapping=r.mapping).cycles <= r.cycles
    preloaded = sim.evaluate(g, bigger, "systolic-ws", constraints={"weights_resident": True})
    assert preloaded.run.segments[0] == "weights" and preloaded.cycles > r.cycles
    with pytest.raises(MappingError, match="weights_resident=True needs"):
        sim.evaluate(g, a, "systolic-ws", constraints={"weights_resident": True})
    with pytest.raises(MappingError, match="must be True or False"):
        sim.evaluate(g, a, "systolic-os", constraints={"weights_resident": 1})


def _with_mac_rate(rate):
    d = accel.to_dict(accel.systolic(128, 128))
    d["units"][0]["ops_per_cycle"]["mac"] = rate
    return accel.from_dict(d)


@pytest.mark.parametrize("df", SYSTOLIC)
@pytest.mark.parametrize("rate", [1e-6, 0.5, 2.0, 1e6])
def test_the_mac_rate_times_the_folds(df, rate):
    """A PE doing r MACs per cycle streams T operands in ⌈T/r⌉ cycles (and, slower than one per cycle, every hop of
    the wavefront waits for its MAC): the cycles are the closed form at that rate and never below the roofline
    (a MAC a million times slower once simulated 1.73 µs against a 69.7 µs roofline)."""
    a = _with_mac_rate(rate)
    g = workloads.gemm(512, 256, 384)
    r = sim.evaluate(g, a, dataflow=df)
    kind = df.split("-")[1]
    stationary, streamed = {"ws": ((384, 256), 512), "os": ((512, 256), 384), "is": ((384, 512), 256)}[kind]
    folds = -(-stationary[0] // 128) * -(-stationary[1] // 128)
    assert r.cycles == folds * sim.dataflows.spatial.systolic.fold_cycles(128, 128, streamed, kind, rate)
    assert r.latency_s >= sim.roofline(g, a, binding=r.mapping.binding).lower_bound_s * (1 - 1e-12)
    if rate < 1:
        assert r.cycles >= folds * streamed / rate


@pytest.mark.parametrize("df,psum_folds", [("systolic-ws", 2), ("systolic-is", 2), ("systolic-os", 0)])
def test_partial_sums_accumulate_in_the_buffer(df, psum_folds):
    """Weight- and input-stationary accumulate partial sums in the global buffer across K folds (K = 384 on 128
    rows: three folds per output, so each output is written three times and read back twice); output-stationary
    accumulates in the PEs. Buffer reads = stationary tiles + streamed operands + partial sums read back + outputs
    stored."""
    a = accel.systolic(128, 128)
    M, N, K = 512, 256, 384
    r = sim.evaluate(workloads.gemm(M, N, K), a, dataflow=df, constraints={"weights_resident": False})
    outputs = M * N * 2
    reads = r.bytes_per_level["GlobalBuffer.read"]
    writes = r.bytes_per_level["GlobalBuffer.write"]
    loaded = r.bytes_per_level["DRAM.read"]
    if df == "systolic-os":
        assert reads == (M * K * (N // 128) + K * N * (M // 128)) * 2 + outputs
        assert writes == loaded
    else:
        assert writes == loaded + 3 * outputs
        stationary = (K * N * (M // r.mapping.params["Mt"]) if df == "systolic-ws" else K * M) * 2
        streamed = {"systolic-ws": M * K * (N // 128), "systolic-is": N * K * (M // 128)}[df] * 2
        assert reads == stationary + streamed + psum_folds * outputs + outputs
