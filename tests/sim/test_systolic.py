"""sim.systolic: GEMMs on 2D systolic arrays — the hand-derived fold timing, the roofline bound, and the SimPy
reference."""
from __future__ import annotations

import pytest

import accel
import sim
import workloads
from sim.engine.scheduler import simulate
from sim.engine.reference import simulate_reference

SYSTOLIC = ("systolic-ws", "systolic-os", "systolic-is")


@pytest.mark.parametrize("df", ["systolic-ws", "systolic-os"])
@pytest.mark.parametrize("n", [128, 256])
def test_gemm_1024_cube_hand_derivation(df, n):
    """1024×1024×1024 GEMM on an n×n array, unlimited bandwidth.

    Weight-stationary: a fold holds one n×n tile of B (K×N), so there are (K/n)·(N/n) folds. Each fold preloads the
    tile (n cycles: fill), streams the M = 1024 rows of A (1024 cycles: steady state), and the skewed wavefront
    leaves the array n + n − 2 cycles after the last row entered (drain); the next preload waits for it.
    Output-stationary: a fold holds an n×n tile of Z, (M/n)·(N/n) folds; K = 1024 cycles of MACs (steady state),
    n + n − 2 cycles for the skewed wavefront to reach the last PE (fill), then n cycles to shift the outputs out
    (drain). Both: per fold 2n + n + 1024 − 2 cycles.
      n = 128: 64 folds × (256 + 128 + 1022) = 64 × 1406 = 89,984 cycles
      n = 256: 16 folds × (512 + 256 + 1022) = 16 × 1790 = 28,640 cycles
    """
    expected = {128: 89_984, 256: 28_640}[n]
    r = sim.evaluate(workloads.gemm(1024, 1024, 1024), accel.systolic(n, n, buffer_bytes=64 * 2 ** 20), dataflow=df)
    assert r.cycles == expected
    assert r.cycles == (1024 // n) ** 2 * sim.dataflows.spatial.systolic.fold_cycles(n, n, 1024)


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


def test_unsupported_shapes_say_why():
    """A GEMM whose stationary dims do not divide the array is refused with a reason."""
    reason = sim.dataflow("systolic-ws").supports(workloads.gemm(100, 100, 100), accel.systolic(64, 64))
    assert reason and "divide" in reason
