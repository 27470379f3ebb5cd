"""Evaluating one candidate mapping for the search: lower it, bound it, and simulate it unless the bound shows it
cannot beat the incumbent — memoized per process.

The program bound: the busiest unit's total busy time (no schedule finishes sooner) with the exact energy (energy
does not depend on the schedule). Memo keys are plain hashes of frozen data, `(workload, arch, mapping, dataflow,
options)`: the dataflow record itself is part of the key, so re-registering a name with other functions never
returns the old dataflow's numbers.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import DATAFLOWS, Dataflow, Lowered, dataflow as get_dataflow
from sim.engine import simulate
from sim.evaluation import account, energy_breakdown
from sim.ir.mapping import Mapping
from sim.ir.options import Options
from sim.ir.program import Program, validated
from sim.ir.result import Result
from sim.search.records import can_win, objective_value

# Outcomes (results, bounds, refusals) kept per process: a result is ~7 KB (up to ~150 KB for a program at the
# engine's 16384-segment limit), so the memo stays within ~7 MB typically and ~150 MB at worst.
MEMO_SIZE = 1024
MAX_REASON = 400            # characters of a refusal kept as a row's reason
LOWERED_MEMO_SIZE = 16      # lowered programs of pruned candidates kept (a program can be megabytes)


@dataclass(frozen=True)
class Outcome:
    """What evaluating one candidate gave: "ok" (with its result), "pruned" (its bound, in objective units, cannot
    beat the incumbent) or "infeasible" (lowering or scheduling refused it; `reason` says why)."""
    status: str
    result: Result | None = None
    reason: str = ""
    onchip_bytes: int | None = None
    bound: float | None = None


@dataclass(frozen=True)
class _Bounded:
    """A lowered candidate's schedule-free facts: the busiest unit's seconds and the exact energy."""
    latency_s: float
    energy_j: float


@dataclass(frozen=True)
class _Simulated:
    result: Result
    onchip_bytes: int
    bound: _Bounded


@dataclass(frozen=True)
class _Refused:
    reason: str


_MEMO: OrderedDict[MemoKey, _Bounded | _Simulated | _Refused] = OrderedDict()
_LOWERED: OrderedDict[MemoKey, Lowered] = OrderedDict()


def clear_memo() -> None:
    """Forget every memoized evaluation of this process (benchmarks measure cold searches with it)."""
    _MEMO.clear()
    _LOWERED.clear()


class MemoKey:
    """The memo key of one evaluation: the frozen inputs `(workload, arch, mapping, dataflow, options)` themselves,
    compared by equality; their hash is computed once (hashing a cascade walks all of it)."""
    __slots__ = ("parts", "_hash")

    def __init__(self, workload: Cascade, arch: Arch, mapping: Mapping, df: Dataflow, options: Options) -> None:
        self.parts = (workload, arch, mapping, df, options)
        self._hash = hash(self.parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemoKey) and self._hash == other._hash and self.parts == other.parts


def evaluate_candidate(df: Dataflow, workload: Cascade, arch: Arch, mapping: Mapping, options: Options,
                       objective: str, incumbent: tuple[float, str, str] | None) -> Outcome:
    """Lower and bound `mapping`; simulate it unless its bound shows it cannot beat `incumbent` (objective value,
    dataflow, params key; see `records.can_win`). The outcome is the same whether or not the memo already knew
    the mapping."""
    key = MemoKey(workload, arch, mapping, df, options)
    known = _MEMO.get(key)
    if known is None:
        known = _lower_and_bound(df, workload, arch, mapping, options, key)
        _remember(_MEMO, key, known, MEMO_SIZE)
    if isinstance(known, _Refused):
        return Outcome("infeasible", reason=known.reason)
    bounded = known.bound if isinstance(known, _Simulated) else known
    bound = objective_value(objective, bounded.latency_s, bounded.energy_j)
    if not can_win(bound, df.name, mapping.params, incumbent):     # also when the memo knows its result
        return Outcome("pruned", reason="program bound (busiest unit) cannot beat the incumbent", bound=bound)
    if isinstance(known, _Simulated):
        return Outcome("ok", known.result, onchip_bytes=known.onchip_bytes, bound=bound)
    done = _simulate(df, workload, arch, mapping, options, key, bounded)
    _remember(_MEMO, key, done, MEMO_SIZE)
    if isinstance(done, _Refused):
        return Outcome("infeasible", reason=done.reason)
    return Outcome("ok", done.result, onchip_bytes=done.onchip_bytes, bound=bound)


def _lower_and_bound(df: Dataflow, workload: Cascade, arch: Arch, mapping: Mapping, options: Options,
                     key: MemoKey) -> _Bounded | _Refused:
    try:
        lowered = df.lower(workload, arch, mapping, options)
        totals = validated(lowered.program)          # remembered: simulating it later does not validate again
    except ValueError as e:          # MappingError, ProgramError, ArchError: this candidate cannot run
        return _Refused(reason_of(e))
    program = lowered.program
    latency = float(totals.busy_ticks.max(initial=0)) / program.ticks_per_cycle / arch.clock_hz
    levels = dict(zip(program.levels, totals.level_bytes.tolist()))
    energy = sum(energy_breakdown(arch, lowered.actions, levels, latency).values())   # static power at the bound
    _remember(_LOWERED, key, lowered, LOWERED_MEMO_SIZE)
    return _Bounded(latency, energy)


def _simulate(df: Dataflow, workload: Cascade, arch: Arch, mapping: Mapping, options: Options, key: MemoKey,
              bounded: _Bounded) -> _Simulated | _Refused:
    try:
        lowered = _LOWERED.pop(key, None) or df.lower(workload, arch, mapping, options)
        run = simulate(lowered.program, extrapolate=options.extrapolate, trace=options.trace)
        result = account(workload, arch, mapping, lowered, run, options)
    except ValueError as e:          # e.g. a buffer deadlock found while scheduling
        return _Refused(reason_of(e))
    return _Simulated(result, onchip_bytes(lowered.program), bounded)


def reason_of(error: ValueError) -> str:
    """A refusal as a row's reason: the error's type and message, cut to `MAX_REASON` characters."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def _remember(memo: OrderedDict, key: MemoKey, value: Any, size: int) -> None:
    memo[key] = value
    memo.move_to_end(key)
    while len(memo) > size:
        memo.popitem(last=False)


def onchip_bytes(program: Program) -> int:
    """Peak bytes held per buffer with acquires and releases applied in program order (an op's acquires before its
    releases), over all iterations, summed over buffers: the smallest capacities the program runs in."""
    segs = program.segments
    acq = np.concatenate([np.diff(s.acq_ptr) for s in segs])        # acquires of each op, all segments in order
    rel = np.concatenate([np.diff(s.rel_ptr) for s in segs])
    if not acq.sum():
        return 0
    op = np.arange(len(acq))
    seg_of_op = np.repeat(np.arange(len(segs)), [len(s.acq_ptr) - 1 for s in segs])
    # One event per acquire or release: (segment, buffer, program-order position, bytes), acquires of an op first.
    seg = np.concatenate([np.repeat(seg_of_op, acq), np.repeat(seg_of_op, rel)])
    when = np.concatenate([np.repeat(op * 2, acq), np.repeat(op * 2 + 1, rel)])
    buf = np.concatenate([s.acq_buf for s in segs] + [s.rel_buf for s in segs]).astype(np.int64)
    delta = np.concatenate([s.acq_amount for s in segs] + [-s.rel_amount for s in segs]).astype(np.int64)
    order = np.lexsort((when, buf, seg))
    seg, buf, delta = seg[order], buf[order], delta[order]
    starts = np.flatnonzero(np.r_[True, (seg[1:] != seg[:-1]) | (buf[1:] != buf[:-1])])
    top = np.maximum.reduceat(_running(delta, starts), starts)   # peak within one iteration of the body
    net = np.add.reduceat(delta, starts)                          # bytes one iteration leaves held
    g_seg, g_buf = seg[starts], buf[starts]
    repeat = np.array([s.repeat for s in segs], np.int64)[g_seg]
    # Bytes held before each (segment, buffer) group: earlier segments' net × repeats, per buffer.
    by_buf = np.lexsort((g_seg, g_buf))
    total = net[by_buf] * repeat[by_buf]
    b_starts = np.flatnonzero(np.r_[True, g_buf[by_buf][1:] != g_buf[by_buf][:-1]])
    held = _running(total, b_starts) - total
    peak = held + top[by_buf] + np.maximum(0, (repeat[by_buf] - 1) * net[by_buf])
    return int(np.maximum.reduceat(np.maximum(peak, 0), b_starts).sum())


def _running(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums of `values` restarting at each index in `starts` (which begins with 0)."""
    run = np.cumsum(values)
    offset = np.repeat(np.r_[0, run[starts[1:] - 1]], np.diff(np.r_[starts, len(values)]))
    return run - offset


def portable(df: Dataflow) -> str | Dataflow:
    """What to send to a worker: the name of a dataflow registered by a module of `sim` (the worker imports it by
    name; closures do not pickle), else the record itself (its functions must be importable there)."""
    module = getattr(df.lower, "__module__", "") or ""
    return df.name if DATAFLOWS.get(df.name) is df and module.startswith("sim.") else df


def evaluate_task(task: tuple) -> Outcome:
    """`evaluate_candidate` on a task tuple whose first item is a dataflow or its name (for executors)."""
    df, *rest = task
    return evaluate_candidate(get_dataflow(df) if isinstance(df, str) else df, *rest)
