"""A slow, readable SimPy model of the engine's schedule: the executable specification of `sim.engine`.

Every iteration of every segment is expanded into ops (no extrapolation). Each unit is a SimPy process that walks
its ops in program order; for each op it waits for the op's dependencies (one SimPy event per op, triggered when the
op's result is ready, at end + latency), then for its buffer acquires, then occupies the unit for the duration.

Buffers grant in program order (FIFO over ALL ops that acquire them, not only those already waiting) and count only
releases of ops EARLIER in program order than the op requesting. That is what list scheduling in program order
means: when the engine places an op, only earlier ops have been scheduled, so only their releases exist. A release
by a later op that happens to come earlier in time is invisible to the requester.

Same-time event ordering, where care was needed:
- A release and a waiting acquire at the same instant: every release and every grant re-checks the buffer's head
  requester, so a release at time T lets an acquire be granted at T whichever of the two SimPy processes first.
- A buffer's next requester in program order may be granted at the same instant as the previous one: the previous
  op calls `granted()` before it starts its duration timeout, which re-checks the queue at that time.
- An op with several acquires reserves each buffer's bytes as it gets them, but only passes each buffer's turn on
  (`granted()`) once all its acquires are held, at its start time, as the engine grants them all at the start.
- Dependencies are read from recorded ready times, not from the order events fire in, so ties in the stall
  attribution resolve as in the engine: first dep in dep order, the barrier after the deps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.ir.program import Program, ProgramError, validate
from sim.ir.run import Run, Trace

__all__ = ["MAX_REFERENCE_OPS", "simulate_reference"]

_DEPENDENCY, _MEMORY, _BUFFER = 0, 1, 2  # columns of Run.stall_ticks
MAX_REFERENCE_OPS = 2_000_000  # ops of all iterations; at ~30k ops/s the reference would run over a minute


@dataclass
class _Op:
    """One op of one iteration, with the times the simulation gives it."""

    segment: int
    iteration: int
    index: int  # in the segment body
    unit: int
    duration: int
    latency: int
    deps: list[int]  # global op numbers (program order)
    barrier: bool  # waits for all ops of earlier segments
    acquires: list[tuple[int, int]]
    releases: list[tuple[int, int]]
    tag: int
    level_bytes: np.ndarray
    start: int | None = None
    ready: int | None = None
    waiting_on: int | None = None  # buffer it is waiting for, if any


@dataclass
class _Buffer:
    """Grants in program order; an op sees only releases of ops before it in program order."""

    env: simpy.Environment
    capacity: int
    acquirers: list[int]  # ops that acquire this buffer, in program order
    turn: int = 0  # index into `acquirers` of the op whose acquire is next
    held: int = 0  # bytes granted or reserved, minus releases counted so far
    uncounted: list[tuple[int, int]] = field(default_factory=list)  # (op, bytes) released by ops not yet < turn
    requests: dict[int, tuple[int, simpy.Event]] = field(default_factory=dict)  # op -> (bytes, event), unserved

    def acquire(self, op: int, amount: int) -> simpy.Event:
        """An event that succeeds when `op` (its turn in program order come) holds `amount` bytes."""
        event = self.env.event()
        self.requests[op] = (amount, event)
        self._check()
        return event

    def granted(self, op: int) -> None:
        """`op` holds all its acquires and starts now: the next op in program order may be served."""
        assert self.acquirers[self.turn] == op
        self.turn += 1
        self._check()

    def release(self, op: int, amount: int) -> None:
        """`op` frees `amount` bytes now; requesters later in program order than `op` may count them."""
        self.uncounted.append((op, amount))
        self._check()

    def _check(self) -> None:
        if self.turn == len(self.acquirers) or self.acquirers[self.turn] not in self.requests:
            return  # the op whose turn it is (in program order) has not asked yet; later ones wait behind it
        op = self.acquirers[self.turn]
        amount, event = self.requests[op]
        still = []
        for releaser, released in self.uncounted:
            if releaser < op:  # the requester only sees releases of earlier ops; `op` only grows
                self.held -= released
            else:
                still.append((releaser, released))
        self.uncounted = still
        if self.held + amount <= self.capacity:
            self.held += amount  # reserved from now; the turn passes at the op's start (`granted`)
            del self.requests[op]
            event.succeed()


class _Model:
    def __init__(self, program: Program, env: simpy.Environment) -> None:
        self.program, self.env = program, env
        self.ops = _expand(program)
        self.ready_events = [env.event() for _ in self.ops]
        self.stall = np.zeros((len(program.units), 3), np.int64)
        seg_first = [next((g for g, o in enumerate(self.ops) if o.segment >= s), len(self.ops))
                     for s in range(len(program.segments))]
        self.barriers = [env.all_of(self.ready_events[:first]) if seg.barrier else None
                         for first, seg in zip(seg_first, program.segments)]
        self.seg_first = seg_first
        self._latest: dict[int, tuple[int, int]] = {}
        self.buffers = [
            _Buffer(env, int(cap), [g for g, o in enumerate(self.ops) if any(b == bi for bi, _ in o.acquires)])
            for b, cap in enumerate(program.buffer_capacity)
        ]
        for u in range(len(program.units)):
            env.process(self._unit(u, [g for g, o in enumerate(self.ops) if o.unit == u]))

    def _unit(self, u: int, my_ops: list[int]):
        env = self.env
        for g in my_ops:
            op = self.ops[g]
            t_unit = env.now  # the unit became free now
            waits = [self.ready_events[d] for d in op.deps]
            if op.barrier:
                waits.append(self.barriers[op.segment])
            yield env.all_of(waits)
            t_dep, dep_unit = 0, -1
            for d in op.deps:  # strict '>': the first dep in dep order wins ties, as in the engine
                if self.ops[d].ready > t_dep:
                    t_dep, dep_unit = self.ops[d].ready, self.ops[d].unit
            if op.barrier:
                t_bar, bar_unit = self._latest_before(self.seg_first[op.segment])
                if t_bar > t_dep:
                    t_dep, dep_unit = t_bar, bar_unit
            t0 = env.now
            assert t0 == max(t_unit, t_dep)
            for b, amount in op.acquires:
                op.waiting_on = b
                yield self.buffers[b].acquire(g, amount)
            op.waiting_on = None
            for b in dict.fromkeys(b for b, _ in op.acquires):
                self.buffers[b].granted(g)
            op.start = env.now
            if op.start > t_unit:
                cause = _BUFFER if op.start > t0 else _MEMORY if self.program.unit_is_memory[dep_unit] else _DEPENDENCY
                self.stall[u, cause] += op.start - t_unit
            yield env.timeout(op.duration)
            for b, amount in op.releases:
                self.buffers[b].release(g, amount)
            env.process(self._finish(g))

    def _finish(self, g: int):
        yield self.env.timeout(self.ops[g].latency)
        self.ops[g].ready = self.env.now
        self.ready_events[g].succeed()

    def _latest_before(self, first: int) -> tuple[int, int]:
        """Max ready of ops [0, first) and the unit of the first op (in program order) attaining it."""
        if first not in self._latest:
            t, unit = 0, -1
            for op in self.ops[:first]:
                if op.ready > t:
                    t, unit = op.ready, op.unit
            self._latest[first] = (t, unit)
        return self._latest[first]


def _expand(p: Program) -> list[_Op]:
    """All ops of all iterations, in program order, with global dependency numbers."""
    ops: list[_Op] = []
    for s, seg in enumerate(p.segments):
        n = seg.n_ops
        for k in range(seg.repeat):
            base = len(ops)
            for i in range(n):
                deps = []
                for e in range(seg.dep_ptr[i], seg.dep_ptr[i + 1]):
                    d = int(seg.dep_op[e])
                    if not seg.dep_prev[e]:
                        deps.append(base + d)
                    elif k > 0:
                        deps.append(base - n + d)
                ops.append(_Op(
                    segment=s, iteration=k, index=i, unit=int(seg.unit[i]),
                    duration=int(seg.duration[i]), latency=int(seg.latency[i]), deps=deps,
                    barrier=bool(seg.barrier) and k == 0,
                    acquires=[(int(seg.acq_buf[e]), int(seg.acq_amount[e]))
                              for e in range(seg.acq_ptr[i], seg.acq_ptr[i + 1])],
                    releases=[(int(seg.rel_buf[e]), int(seg.rel_amount[e]))
                              for e in range(seg.rel_ptr[i], seg.rel_ptr[i + 1])],
                    tag=int(seg.tag[i]), level_bytes=seg.level_bytes[i],
                ))
    return ops


def simulate_reference(program: Program, *, trace: bool = False) -> Run:
    """Simulate every op of `program` with SimPy; same Run fields as `sim.engine.simulate`."""
    validate(program)
    if program.ops_total > MAX_REFERENCE_OPS:
        raise ProgramError(f"simulate_reference expands every iteration: {program.ops_total:,} ops is beyond its "
                           f"limit of {MAX_REFERENCE_OPS:,} (about a minute); use sim.engine.simulate")
    model = _Model(program, simpy.Environment())
    model.env.run()
    for g, op in enumerate(model.ops):
        if op.start is None:  # the first op that never started: everything before it completed
            if op.waiting_on is None:
                raise ProgramError(f"reference model stalled at op {g} without waiting on a buffer (bug)")
            raise ProgramError(f"deadlock: segment {program.segments[op.segment].name!r} iteration {op.iteration} "
                               f"op {op.index} waits for space in buffer {program.buffers[op.waiting_on]!r} "
                               f"that no earlier op releases")
    ops = model.ops
    busy = np.zeros(len(program.units), np.int64)
    tag_busy = np.zeros((len(program.tags), len(program.units)), np.int64)
    level_bytes = np.zeros(len(program.levels), np.float64)
    for op in ops:
        busy[op.unit] += op.duration
        level_bytes += op.level_bytes
        if op.tag >= 0:
            tag_busy[op.tag, op.unit] += op.duration
    run_trace = None
    if trace:
        start = np.array([op.start for op in ops], np.int64)
        run_trace = Trace(
            start=start, end=start + np.array([op.duration for op in ops], np.int64),
            unit=np.array([op.unit for op in ops], np.int32), tag=np.array([op.tag for op in ops], np.int32),
            segment=np.array([op.segment for op in ops], np.int32),
            iteration=np.array([op.iteration for op in ops], np.int64),
            op=np.array([op.index for op in ops], np.int64),
        )
    seg_end = np.zeros(len(program.segments), np.int64)
    for op in ops:
        seg_end[op.segment] = max(seg_end[op.segment], op.ready)
    seg_end = np.maximum.accumulate(seg_end) if len(seg_end) else seg_end
    return Run(
        ticks=max((op.ready for op in ops), default=0), ticks_per_cycle=int(program.ticks_per_cycle),
        units=program.units, levels=program.levels, tags=program.tags,
        segments=tuple(s.name for s in program.segments), busy_ticks=busy, stall_ticks=model.stall,
        level_bytes=level_bytes, tag_busy_ticks=tag_busy, ops_total=program.ops_total, ops_simulated=len(ops),
        iterations_simulated=np.array([s.repeat for s in program.segments], np.int64),
        period_ticks=np.zeros(len(program.segments), np.int64), segment_end_ticks=seg_end, trace=run_trace,
    )
