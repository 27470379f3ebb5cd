"""sim.engine: the Numba list scheduler, checked against the SimPy reference, by hand, and against itself
(periodic extrapolation == full simulation)."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from engine_programs import random_program
from sim.engine.dispatch import greedy_dispatch
from sim.engine.reference import simulate_reference
from sim.engine.scheduler import simulate
from sim.ir.program import Program, ProgramBuilder, ProgramError
from sim.ir.run import STALL_CAUSES

DEP, MEM, BUF = (STALL_CAUSES.index(c) for c in ("dependency", "memory", "buffer"))
SIMULATORS = {"engine": simulate, "engine-full": lambda p, **kw: simulate(p, extrapolate=False, **kw),
              "reference": simulate_reference}


def assert_same_totals(a, b) -> None:
    assert a.ticks == b.ticks
    assert a.cycles == b.cycles
    np.testing.assert_array_equal(a.busy_ticks, b.busy_ticks)
    np.testing.assert_array_equal(a.stall_ticks, b.stall_ticks)
    np.testing.assert_array_equal(a.level_bytes, b.level_bytes)
    np.testing.assert_array_equal(a.tag_busy_ticks, b.tag_busy_ticks)
    np.testing.assert_array_equal(a.segment_end_ticks, b.segment_end_ticks)
    assert a.ops_total == b.ops_total


def assert_same_trace(a, b) -> None:
    for name in ("start", "end", "unit", "tag", "segment", "iteration", "op"):
        np.testing.assert_array_equal(getattr(a.trace, name), getattr(b.trace, name), err_msg=name)


@pytest.mark.parametrize("seed", range(60))
def test_engine_matches_reference_on_random_programs(seed):
    """Ticks, busy, stalls, bytes, tag busy and every op's start time equal the SimPy model's; deadlocks raise
    ProgramError in both with the same message."""
    program = random_program(seed)
    try:
        ref = simulate_reference(program, trace=True)
    except ProgramError as e:
        with pytest.raises(ProgramError) as engine_error:
            simulate(program)
        assert str(engine_error.value) == str(e)
        return
    full = simulate(program, extrapolate=False, trace=True)
    fast = simulate(program)
    assert_same_totals(full, ref)
    assert_same_totals(fast, ref)
    assert_same_trace(full, ref)
    assert full.ops_simulated == ref.ops_simulated == program.ops_total
    assert np.all(ref.busy_ticks <= ref.ticks)


def test_random_generator_covers_the_features():
    """The random programs above include buffers, previous-iteration deps, barriers, repeats and deadlocks."""
    programs = [random_program(seed) for seed in range(60)]
    segs = [s for p in programs for s in p.segments]
    assert sum(len(s.acq_buf) > 0 for s in segs) > 20
    assert sum(s.dep_prev.any() for s in segs) > 20
    assert sum(s.barrier for s in segs) > 10
    assert sum(s.repeat > 1 for s in segs) > 20
    assert sum(len(p.segments) > 1 for p in programs) > 20
    deadlocks = 0
    for p in programs:
        try:
            simulate(p)
        except ProgramError:
            deadlocks += 1
    assert 0 < deadlocks < 20


@pytest.mark.parametrize("seed", range(40))
def test_extrapolation_equals_full_simulation(seed):
    """With long repeats the state becomes periodic; the closed-form rest equals simulating every iteration."""
    program = random_program(1000 + seed, max_repeat=60, max_ops=6)
    try:
        full = simulate(program, extrapolate=False)
    except ProgramError:
        with pytest.raises(ProgramError):
            simulate(program)
        return
    fast = simulate(program)
    assert_same_totals(fast, full)
    assert fast.ops_simulated <= full.ops_simulated == program.ops_total


def test_extrapolation_kicks_in_on_random_programs():
    """Most random programs with long repeats are extrapolated after a few iterations."""
    saved = total = 0
    for seed in range(40):
        program = random_program(1000 + seed, max_repeat=60, max_ops=6)
        try:
            run = simulate(program)
        except ProgramError:
            continue
        saved += run.ops_simulated < run.ops_total
        total += 1
    assert saved > total // 2


# ---------------------------------------------------------------------------------------------------------------
# Hand-checked cases


def double_buffer(n: int, load: int, compute: int, *, slots: int = 2) -> Program:
    """DMA loads tile i into a `slots`-slot buffer; the PE computes on it and frees the slot at its end."""
    b = ProgramBuilder(units=["dma", "pe"], unit_is_memory=[True, False], buffers={"sp": slots},
                       levels=["DRAM"], tags=["load", "mm"])
    s = b.segment("tiles", repeat=n)
    ld = s.op("dma", load, acquire={"sp": 1}, bytes={"DRAM": 64}, tag="load")
    s.op("pe", compute, deps=[ld], release={"sp": 1}, tag="mm")
    return b.build()


@pytest.mark.parametrize("sim", SIMULATORS)
def test_serial_chain(sim):
    """a (u0, 5 + latency 2) -> b (u1, 3 + latency 1) -> c (u0, 4): b starts at 7, ends 10, ready 11; c runs
    11..15. ticks = 15; u1 idles 7 and u0 idles 11 - 5 = 6, both on a non-memory producer: "dependency"."""
    b = ProgramBuilder(units=["u0", "u1"])
    s = b.segment("chain")
    a = s.op("u0", 5, 2)
    c = s.op("u1", 3, 1, deps=[a])
    s.op("u0", 4, deps=[c])
    run = SIMULATORS[sim](b.build(), trace=True)
    assert run.ticks == 15
    assert run.trace.start.tolist() == [0, 7, 11]
    assert run.busy_ticks.tolist() == [9, 3]
    assert run.stall_ticks.tolist() == [[6, 0, 0], [7, 0, 0]]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_independent_units_overlap(sim):
    """Ops on two units with no deps run at the same time: ticks = max(10, 7) = 10, no stalls."""
    b = ProgramBuilder(units=["u0", "u1"], ticks_per_cycle=2)
    s = b.segment("par")
    s.op("u0", 10)
    s.op("u1", 7)
    run = SIMULATORS[sim](b.build())
    assert run.ticks == 10 and run.cycles == 5.0
    assert run.busy_ticks.tolist() == [10, 7]
    assert not run.stall_ticks.any()


@pytest.mark.parametrize("sim", SIMULATORS)
def test_double_buffer_compute_bound(sim):
    """load 5, compute 12, 2 slots, 8 tiles. compute_i runs 5 + 12i .. 17 + 12i (load_0 first, then back to back),
    so ticks = 5 + 12*8 = 101. load_i (i >= 2) waits for compute_{i-2} to free a slot at 12i - 7: the DMA idles
    7 ticks per load for i >= 2 ("buffer", 7 * 6 = 42); the PE only waits for load_0 ("memory", 5)."""
    run = SIMULATORS[sim](double_buffer(8, load=5, compute=12))
    assert run.ticks == 101
    assert run.busy_ticks.tolist() == [40, 96]
    assert run.stall_ticks.tolist() == [[0, 0, 42], [0, 5, 0]]
    assert run.tag_busy_ticks.tolist() == [[40, 0], [0, 96]]
    assert run.level_bytes.tolist() == [8 * 64]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_double_buffer_load_bound(sim):
    """load 10, compute 3, 8 tiles: the slots never fill, load_i runs 10i .. 10i + 10 and compute_i right after,
    so ticks = 10*8 + 3 = 83. The PE waits 10 for load_0 and 7 for each later load ("memory", 10 + 7*7 = 59)."""
    run = SIMULATORS[sim](double_buffer(8, load=10, compute=3))
    assert run.ticks == 83
    assert run.stall_ticks.tolist() == [[0, 0, 0], [0, 59, 0]]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_latency_exposes_pipeline_drain(sim):
    """Three independent ops of 4 ticks with latency 10 on one unit: they occupy 0..12, but the last result is
    visible at 12 + 10 = 22, so ticks = 22 although the unit is busy only 12."""
    b = ProgramBuilder(units=["pe"])
    b.segment("drain", repeat=3).op("pe", 4, 10)
    run = SIMULATORS[sim](b.build())
    assert run.ticks == 22 and run.busy_ticks.tolist() == [12]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_barrier_waits_for_earlier_segments_and_charges_their_unit(sim):
    """Segment 'load' runs a 30-tick DMA op (memory). The barrier segment's first op on the PE (free at 0) waits
    until 30 ("memory" stall 30); its second iteration does not wait for the barrier. ticks = 30 + 2*5 = 40."""
    b = ProgramBuilder(units=["dma", "pe"], unit_is_memory=[True, False])
    b.segment("load").op("dma", 30)
    b.segment("after", repeat=2, barrier=True).op("pe", 5)
    run = SIMULATORS[sim](b.build())
    assert run.ticks == 40
    assert run.stall_ticks.tolist() == [[0, 0, 0], [0, 30, 0]]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_segment_end_is_the_latest_ready_so_far(sim):
    """'long' runs 50 ticks on u0 with latency 5 (ready 55); 'short' (no barrier) runs 3 x 5 ticks on u1 from 0:
    its own results are ready by 15, but segment_end is the latest ready of segments 0..s, so both are 55; the
    barrier segment 'tail' waits for 55 and ends at 57 (the per-kernel times of `Result.kernels`)."""
    b = ProgramBuilder(units=["u0", "u1"])
    b.segment("long").op("u0", 50, 5)
    b.segment("short", repeat=3).op("u1", 5)
    b.segment("tail", barrier=True).op("u1", 2)
    run = SIMULATORS[sim](b.build())
    assert run.segment_end_ticks.tolist() == [55, 55, 57] and run.ticks == 57


@pytest.mark.parametrize("sim", SIMULATORS)
def test_release_of_a_later_op_is_invisible_to_an_earlier_acquire(sim):
    """Buffer of 1 byte, taken by 'init'. op0 (u0) frees it at 10; op1 (u1) acquires it, so starts at 10. op2 (u2)
    releases a byte at 1, earlier in time, but it comes after op1 in program order, so op1 cannot use it."""
    b = ProgramBuilder(units=["u0", "u1", "u2"], buffers={"x": 1})
    b.segment("init").op("u2", 0, acquire={"x": 1})
    s = b.segment("body")
    s.op("u0", 10, release={"x": 1})
    s.op("u1", 1, acquire={"x": 1})
    s.op("u2", 1, release={"x": 1})
    run = SIMULATORS[sim](b.build(), trace=True)
    assert run.trace.start.tolist() == [0, 0, 10, 0]
    assert run.ticks == 11
    assert run.stall_ticks[1].tolist() == [0, 0, 10]


def test_long_double_buffer_is_extrapolated_exactly():
    """10,000 tiles of the compute-bound double buffer: ticks = 5 + 12 * 10,000, found from a few iterations."""
    program = double_buffer(10_000, load=5, compute=12)
    fast, full = simulate(program), simulate(program, extrapolate=False, trace=True)
    assert_same_totals(fast, full)
    assert full.trace.start[-1] == 5 + 12 * 9_999  # the trace arrays grew past their first allocation
    assert fast.ticks == 5 + 12 * 10_000
    assert fast.period_ticks.tolist() == [12]
    assert fast.ops_simulated < 20 < full.ops_simulated == program.ops_total == 20_000
    assert fast.stall_ticks.tolist() == [[0, 0, 7 * 9_998], [0, 5, 0]]


def test_extrapolated_segment_is_followed_exactly_by_later_segments():
    """A pipelined segment with previous-iteration deps and latency, then a barrier segment using the same
    buffer: the shifted state (unit free times, buffer grants, pending releases, max ready) carries over."""
    b = ProgramBuilder(units=["dma", "pe", "vec"], unit_is_memory=[True, False, False], buffers={"sp": 3},
                       levels=["DRAM"], tags=["qk", "sv"])
    s = b.segment("blocks", repeat=5_000)
    ld = s.op("dma", 7, 3, acquire={"sp": 2}, bytes={"DRAM": 128})
    qk = s.op("pe", 9, 4, deps=[ld], prev_deps=[2], tag="qk")
    s.op("vec", 6, 1, deps=[qk], release={"sp": 2}, tag="sv")
    t = b.segment("tail", repeat=50, barrier=True)
    a = t.op("dma", 3, acquire={"sp": 3})
    t.op("pe", 2, 20, deps=[a], prev_deps=[1], release={"sp": 3})
    program = b.build()
    fast, full = simulate(program, trace=True), simulate(program, extrapolate=False)
    assert_same_totals(fast, full)
    assert fast.ops_simulated < 100
    assert (fast.period_ticks > 0).all()


@pytest.mark.parametrize("sim", SIMULATORS)
def test_many_pending_releases(sim):
    """A fast producer (1 tick) fills a 64-byte buffer that a slow consumer (10 ticks) frees: up to ~36 releases
    are pending at once (the engine's heaps grow past their first size). Consumer i ends at 1 + 10(i+1), so
    ticks = 1 + 10 * 40 = 401; the producer never waits (the buffer never fills)."""
    b = ProgramBuilder(units=["dma", "pe"], unit_is_memory=[True, False], buffers={"sp": 64})
    s = b.segment("fill", repeat=40)
    ld = s.op("dma", 1, acquire={"sp": 1})
    s.op("pe", 10, deps=[ld], release={"sp": 1})
    run = SIMULATORS[sim](b.build())
    assert run.ticks == 401
    assert run.stall_ticks.tolist() == [[0, 0, 0], [0, 1, 0]]


def test_busy_never_exceeds_ticks_and_runs_are_deterministic():
    """busy <= ticks per unit; two runs of the same program give identical results."""
    for seed in range(10):
        program = random_program(2000 + seed)
        try:
            a, b = simulate(program, trace=True), simulate(program, trace=True)
        except ProgramError:
            continue
        assert np.all(a.busy_ticks <= a.ticks)
        assert_same_totals(a, b)
        assert_same_trace(a, b)


def test_run_str_names_units_and_segments():
    """The Run prints cycles, each unit's busy/stall row and each segment's extrapolation."""
    text = str(simulate(double_buffer(100, load=5, compute=12)))
    assert "1,205 ticks" in text and "dma" in text and "periodic every 12 ticks" in text


def test_empty_program():
    """No segments: zero ticks, zero ops."""
    run = simulate(ProgramBuilder(units=["u"]).build())
    assert run.ticks == 0 and run.ops_total == 0 and run.busy_ticks.tolist() == [0]


@pytest.mark.parametrize("seed", range(4))
def test_greedy_dispatch_is_one_heap_pop_per_item(seed):
    """The compiled dispatch gives each item the least-loaded worker (ties: the lowest index), as a heap of
    (load, worker) pairs does, and each worker's total load."""
    rng = np.random.default_rng(seed)
    for _ in range(30):
        workers, n = int(rng.integers(1, 50)), int(rng.integers(0, 300))
        est = rng.integers(1, 4, n).astype(float) if seed % 2 else rng.random(n) * 9
        heap, owner, load = [(0.0, k) for k in range(workers)], [], np.zeros(workers)
        for e in est:
            t, k = heapq.heappop(heap)
            owner.append(k)
            load[k] = t + e
            heapq.heappush(heap, (t + e, k))
        got_owner, got_load = greedy_dispatch(est, workers)
        assert got_owner.tolist() == owner and np.array_equal(got_load, load)
