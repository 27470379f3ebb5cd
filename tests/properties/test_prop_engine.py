"""Engine invariants over generated tile programs: the Numba engine equals the SimPy reference (totals, stalls,
per-segment end times, every op's start), periodic extrapolation equals full simulation, results are deterministic,
cycles cover every unit's busy time, and utilizations lie in [0, 1]."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from sim.engine.reference import simulate_reference
from sim.engine.scheduler import simulate
from sim.ir.program import ProgramError

from prop_strategies import FAST, SLOW, programs


def _same(a, b) -> None:
    assert a.ticks == b.ticks
    for name in ("busy_ticks", "stall_ticks", "level_bytes", "tag_busy_ticks", "segment_end_ticks"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def check_engine_equals_reference(program) -> None:
    try:
        ref = simulate_reference(program, trace=True)
    except ProgramError as e:
        with pytest.raises(ProgramError) as fast_error:
            simulate(program)
        assert str(fast_error.value) == str(e)
        return
    fast = simulate(program, trace=True)
    full = simulate(program, extrapolate=False, trace=True)
    _same(fast, ref)
    _same(full, ref)
    for name in ("start", "end", "unit", "segment", "iteration", "op"):
        np.testing.assert_array_equal(getattr(full.trace, name), getattr(ref.trace, name), err_msg=name)
    # Determinism: a second run is identical.
    again = simulate(program, trace=True)
    _same(again, fast)
    np.testing.assert_array_equal(again.trace.start, fast.trace.start)
    # Cycles cover every unit's busy time; busy time is the sum of durations; utilization in [0, 1].
    assert np.all(fast.busy_ticks <= fast.ticks)
    expected_busy = np.zeros(len(program.units), np.int64)
    for seg in program.segments:
        np.add.at(expected_busy, seg.unit, seg.duration * seg.repeat)
    np.testing.assert_array_equal(fast.busy_ticks, expected_busy)
    util = fast.utilization
    assert np.all((util >= 0) & (util <= 1))
    assert np.all(fast.stall_ticks >= 0)
    assert np.all(fast.busy_ticks + fast.stall_ticks.sum(axis=1) <= fast.ticks)
    # Bytes per level are schedule-independent sums.
    total = sum(seg.level_bytes.sum(axis=0) * seg.repeat for seg in program.segments)
    np.testing.assert_allclose(fast.level_bytes, total)
    assert fast.ops_total == program.ops_total


@settings(max_examples=FAST * 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_engine_equals_reference_on_random_programs(program):
    """Ticks, busy, stalls, bytes and every op's start equal the SimPy model's (or both raise the same deadlock);
    runs are deterministic; busy ≤ cycles; utilization in [0, 1]."""
    check_engine_equals_reference(program)


@pytest.mark.slow
@settings(max_examples=SLOW * 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(max_segments=4, max_ops=10, max_repeat=40))
def test_engine_equals_reference_on_random_programs_slow(program):
    check_engine_equals_reference(program)
