"""sim.reference: the SimPy model's buffer semantics (program-order FIFO, releases of earlier ops only), same-time
event ordering, and runtime deadlock detection, each checked against the engine too."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.reference import simulate_reference
from sim.engine.scheduler import run_validated, simulate
from sim.ir.checks import flatten
from sim.ir.program import Program, ProgramBuilder, ProgramError, Validated

SIMULATORS = {"engine": lambda p, **kw: simulate(p, extrapolate=False, **kw),  # full: trace lists every op
              "reference": simulate_reference}


@pytest.mark.parametrize("sim", SIMULATORS)
def test_fifo_grants_in_program_order(sim):
    """Buffer of 4, all held by 'init'. op0 frees 2 at 10, op1 frees 2 at 20. op2 wants 3, so starts at 20. op3
    wants 1, which fits from 10, but grants are in program order: it starts with op2 at 20 (a "buffer" stall)."""
    b = ProgramBuilder(units=["u0", "u1", "u2"], buffers={"x": 4})
    b.segment("init").op("u0", 0, acquire={"x": 4})
    s = b.segment("body")
    s.op("u0", 10, release={"x": 2})
    s.op("u0", 10, release={"x": 2})
    s.op("u1", 1, acquire={"x": 3})
    s.op("u2", 1, acquire={"x": 1})
    run = SIMULATORS[sim](b.build(), trace=True)
    assert run.trace.start.tolist() == [0, 0, 10, 20, 20]
    assert run.stall_ticks.tolist() == [[0, 0, 0], [0, 0, 20], [0, 0, 20]]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_multi_acquire_grants_all_at_start(sim):
    """op1 acquires a (free) and b (freed at 10 by op0): it starts at 10 and only then passes a's turn on, so
    op2, wanting one byte of the roomy buffer a, also starts at 10."""
    b = ProgramBuilder(units=["u0", "u1", "u2"], buffers={"a": 4, "b": 1})
    b.segment("init").op("u0", 0, acquire={"b": 1})
    s = b.segment("body")
    s.op("u0", 10, release={"b": 1})
    s.op("u1", 1, acquire={"a": 1, "b": 1})
    s.op("u2", 1, acquire={"a": 1})
    run = SIMULATORS[sim](b.build(), trace=True)
    assert run.trace.start.tolist() == [0, 0, 10, 10]


@pytest.mark.parametrize("sim", SIMULATORS)
def test_release_and_acquire_at_the_same_instant(sim):
    """A release at 5 and an acquire becoming ready at 5 (its dep's ready time): granted at 5, whichever SimPy
    event is processed first. Zero-duration ops and zero latencies keep everything on the same instants."""
    b = ProgramBuilder(units=["u0", "u1", "u2"], buffers={"x": 1})
    s = b.segment("body", repeat=3)
    hold = s.op("u0", 0, acquire={"x": 1})
    s.op("u1", 5, deps=[hold], release={"x": 1})
    gate = s.op("u2", 5, deps=[hold])
    s.op("u2", 0, deps=[gate], acquire={"x": 1}, release={"x": 1})
    run = SIMULATORS[sim](b.build(), trace=True)
    assert run.trace.start.tolist() == [0, 0, 0, 5, 5, 5, 5, 10, 10, 10, 10, 15]
    assert run.ticks == 15


def test_runtime_deadlock_detection_agrees_with_validation(monkeypatch):
    """With the static check bypassed, the engine's heap running dry and the SimPy model stopping with an op
    waiting on a buffer report the same deadlock as `validate`."""
    b = ProgramBuilder(units=["dma", "pe"], buffers={"sp": 4})
    s = b.segment("leak", repeat=3)
    s.op("dma", 1)
    s.op("pe", 1, acquire={"sp": 3})
    with pytest.raises(ProgramError) as static:
        b.build()
    program = Program(units=b.units, unit_is_memory=b.unit_is_memory, buffers=b.buffers,
                      buffer_capacity=b.buffer_capacity, levels=b.levels, tags=b.tags,
                      ticks_per_cycle=b.ticks_per_cycle, segments=(s.build(),))
    unchecked = Validated(flatten(program), np.zeros(2, np.int64), np.zeros(0), np.zeros((0, 2), np.int64))
    monkeypatch.setattr("sim.engine.reference.validate", lambda p: None)
    for sim in (lambda p: run_validated(p, unchecked, True, False), simulate_reference):
        with pytest.raises(ProgramError) as runtime:
            sim(program)
        assert str(runtime.value) == str(static.value).split(" (")[0]


def test_reference_expands_every_iteration():
    """The reference never extrapolates: every op is simulated, with a trace entry per op."""
    b = ProgramBuilder(units=["u"])
    b.segment("s", repeat=7).op("u", 2)
    run = simulate_reference(b.build(), trace=True)
    assert run.ops_simulated == run.ops_total == 7
    assert run.iterations_simulated.tolist() == [7] and run.period_ticks.tolist() == [0]
    np.testing.assert_array_equal(run.trace.start, 2 * np.arange(7))
