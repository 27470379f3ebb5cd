"""A multi-device step as one engine program: every device has a compute unit (its kernels, each as simulated on
the single-device path), and the plan's collectives are lowered among them by `sim.dataflows.comm` onto each
device's `comm` unit (the collective kernel's SMs), NVLink egress `link` and NIC egress `nic` (and a node's NICs
together, `n<k>.nic`, for rings across nodes). The engine schedules it all — in-order units, dependencies across
devices — so whether communication hides behind compute is simulated, not assumed.

`Step` is the plan's description (ops and collectives per device, with dependencies); `schedule` builds and runs
the program and returns `Scheduled`: makespan, per-device busy time per unit, every device's communication (its
collectives' spans and its sends) and the part overlapped with its compute, and the exposed communication: the
makespan minus that of the same step with every transfer free (simulated too), so waiting on a slower peer counts
as load imbalance, not as communication.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.dataflows.gpu.constants import TICKS_PER_CYCLE
from sim.engine import simulate
from sim.ir import MappingError, ProgramBuilder
from sim.ir.run import Run

UNIT_KINDS = ("compute", "comm", "link", "nic")
MAX_OPS = 1 << 20         # ops one multi-device step may hold (devices × kernels × ring steps, bounded)


@dataclass(frozen=True)
class Op:
    """One op of a device: on its `unit` kind ("compute", "link" or "nic"), lasting `seconds`, named `name` (a
    kernel or transfer), after the handles `after`."""
    device: int
    unit: str
    seconds: float
    name: str
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class Collective:
    """A collective's `CommPlan` (cluster device ids), named `name`; device d's part waits for `after[d]`."""
    plan: object
    name: str
    after: dict


@dataclass
class Step:
    """Entries (ops and collectives) in program order; a handle names an op, or one device's part of a collective."""
    devices: int
    entries: list = field(default_factory=list)
    handles: list[tuple[int, int]] = field(default_factory=list)   # handle → (entry, device)
    ops: int = 0

    def _count(self, n: int) -> None:
        self.ops += n
        if self.ops > MAX_OPS:
            raise MappingError(f"parallel step: more than {MAX_OPS} ops (devices × kernels × steps); use fewer devices "
                               f"or a coarser plan")

    def add(self, device: int, unit: str, seconds: float, name: str, after=()) -> int:
        """Append an op (see `Op`); returns its handle."""
        self._count(1)
        self.entries.append(Op(device, unit, float(seconds), name, tuple(after)))
        self.handles.append((len(self.entries) - 1, device))
        return len(self.handles) - 1

    def collective(self, run, after: dict[int, int | None]) -> dict[int, int]:
        """Collective `run` (a `links.CollectiveRun`) over its plan's devices, each waiting for its `after[d]`
        handle (None: nothing); returns device → the handle of its part (done when it holds the result)."""
        self._count(run.plan.ops())
        deps = {d: () if after.get(d) is None else (after[d],) for d in run.plan.devices}
        self.entries.append(Collective(run.plan, run.name, deps))
        e = len(self.entries) - 1
        out = {}
        for d in run.plan.devices:
            self.handles.append((e, d))
            out[d] = len(self.handles) - 1
        return out

    def last(self, device: int) -> int | None:
        """The device's latest handle (None before its first op)."""
        return next((h for h in range(len(self.handles) - 1, -1, -1) if self.handles[h][1] == device), None)


@dataclass(frozen=True)
class Scheduled:
    """A simulated step. `seconds`: makespan; `compute_only_s`: the makespan with every transfer and collective
    free (so `exposed_s`, their difference, is what communication adds); `busy[d][kind]`: seconds device d's unit
    of that kind was busy; `communication[d]` / `overlapped[d]`: its communication seconds / those while its
    compute runs; `run`: the engine's run (with a trace), whose units are named `d<i>.<kind>`."""
    seconds: float
    compute_only_s: float
    busy: tuple[dict[str, float], ...]
    communication: tuple[float, ...]
    overlapped: tuple[float, ...]
    run: Run

    @property
    def exposed_s(self) -> float:
        """Seconds communication adds to the step (its makespan minus the compute-only makespan)."""
        return max(self.seconds - self.compute_only_s, 0.0)


def unit_name(device: int, kind: str) -> str:
    """The engine unit of a device's unit kind."""
    return f"d{device}.{kind}"


def schedule(step: Step, clock_hz: float) -> Scheduled:
    """Build the step's program (ticks at the GPU programs' rate, `clock_hz` × ticks per cycle), simulate it on the
    engine, and measure overlap (see the module docstring)."""
    if not step.entries:
        raise MappingError("parallel step: no ops to schedule")
    tps = clock_hz * TICKS_PER_CYCLE
    run = simulate(_program(step, tps, free=False), extrapolate=False, trace=True)
    free = simulate(_program(step, tps, free=True), extrapolate=False)
    return _measured(run, free.ticks, step.devices, tps)


def _program(step: Step, tps: float, free: bool):
    """The step as a program; `free`: every transfer and collective takes no time (what compute alone needs)."""
    from sim.dataflows.comm import collective_ops, comm_units   # on first use: single-device runs never load it
    units = [unit_name(d, k) for d in range(step.devices) for k in UNIT_KINDS]
    for e in step.entries:
        if isinstance(e, Collective) and not free:
            units += [u for u in comm_units(e.plan) if u not in units]
    tags = sorted({e.name for e in step.entries})
    b = ProgramBuilder(units=units, unit_is_memory=[not u.endswith((".compute", ".comm")) for u in units],
                       tags=tags, ticks_per_cycle=TICKS_PER_CYCLE)
    seg = b.segment("step")
    index: list[int] = []            # handle → engine op
    for e in step.entries:
        if isinstance(e, Op):
            seconds = 0.0 if free and e.unit != "compute" else e.seconds
            index.append(seg.op(unit_name(e.device, e.unit), max(int(math.ceil(seconds * tps)), 0),
                                deps=[index[h] for h in e.after], tag=e.name))
        elif free:
            index += [seg.op(unit_name(d, "comm"), 0, deps=[index[h] for h in e.after[d]], tag=e.name)
                      for d in e.plan.devices]
        else:
            done = collective_ops(seg, e.plan, ticks_per_s=tps, tag=e.name,
                                  after={d: [index[h] for h in hs] for d, hs in e.after.items()})
            index += [done[d] for d in e.plan.devices]
    return b.build()


def _measured(run: Run, free_ticks: int, devices: int, tps: float) -> Scheduled:
    pos = {u: i for i, u in enumerate(run.units)}
    busy = tuple({k: float(run.busy_ticks[pos[unit_name(d, k)]]) / tps for k in UNIT_KINDS} for d in range(devices))
    split = [_communication(run, pos, d) for d in range(devices)]
    return Scheduled(run.ticks / tps, free_ticks / tps, busy, tuple(c / tps for c, _ in split),
                     tuple(o / tps for _, o in split), run)


def _communication(run: Run, pos: dict[str, int], device: int) -> tuple[int, int]:
    """(communication, overlapped) ticks of a device: the union of its link and NIC sends and of each collective's
    span on its `comm` unit (from its start to holding the result), and the part inside the busy intervals of its
    compute unit."""
    tr = run.trace
    compute = tr.unit == pos[unit_name(device, "compute")]
    sends = np.isin(tr.unit, [pos[unit_name(device, k)] for k in ("link", "nic")])
    starts, ends = list(tr.start[sends]), list(tr.end[sends])
    on_comm = tr.unit == pos[unit_name(device, "comm")]
    for tag in np.unique(tr.tag[on_comm]):
        mine = on_comm & (tr.tag == tag)
        starts.append(tr.start[mine].min())
        ends.append(tr.end[mine].max())
    comm = _union(np.asarray(starts, np.int64), np.asarray(ends, np.int64))
    both = _intersection(comm, _union(tr.start[compute], tr.end[compute]))
    return sum(e - s for s, e in comm), both


def _union(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(zip(starts.tolist(), ends.tolist())):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _intersection(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    """Total length of the intersection of two sorted lists of disjoint intervals."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(hi - lo, 0)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total
