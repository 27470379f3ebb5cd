"""A multi-device step as one engine program: every device has a compute unit (its kernels, each as simulated on
the single-device path) and link units (NVLink, and the NIC where a collective leaves the node); collectives and
transfers are ops on the link units of every device taking part. The engine schedules them all — in-order units,
dependencies across devices — so whether communication hides behind compute is simulated, not assumed.

`Step` is the plan's description (ops per device with dependencies); `schedule` builds and runs the program and
returns `Scheduled`: makespan, per-device busy time per unit, and for every device the communication time that
overlaps its compute and the part that is exposed (link busy while the compute unit idles).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.engine import simulate
from sim.ir import MappingError, ProgramBuilder
from sim.ir.run import Run

TICK_S = 1e-12           # one engine tick is a picosecond (kernel times are µs; a model step is ms)
UNIT_KINDS = ("compute", "link", "nic")
MAX_OPS = 1 << 20         # ops one multi-device step may hold (devices × kernels × ring steps, bounded)


@dataclass(frozen=True)
class Op:
    """One op of a device: on its `unit` kind ("compute", "link" or "nic"), lasting `seconds`, named `name` (a
    kernel or collective), after the ops `after` (indices into the step's ops)."""
    device: int
    unit: str
    seconds: float
    name: str
    after: tuple[int, ...] = ()


@dataclass
class Step:
    """Ops of all devices in program order; `add` returns the new op's index."""
    devices: int
    ops: list[Op] = field(default_factory=list)

    def add(self, device: int, unit: str, seconds: float, name: str, after=()) -> int:
        """Append an op (see `Op`)."""
        if len(self.ops) >= MAX_OPS:
            raise MappingError(f"parallel step: more than {MAX_OPS} ops (devices × kernels × steps); use fewer devices "
                               f"or a coarser plan")
        self.ops.append(Op(device, unit, float(seconds), name, tuple(after)))
        return len(self.ops) - 1

    def collective(self, devices, unit: str, seconds: float, name: str, after: dict[int, int | None]) -> dict[int, int]:
        """A collective over `devices`: one op per device on its `unit`, each after every member's last op
        (`after[d]`: device d's previous op, or None), as a collective starts when all members have arrived."""
        ready = tuple(a for a in (after.get(d) for d in devices) if a is not None)
        return {d: self.add(d, unit, seconds, name, ready) for d in devices}


@dataclass(frozen=True)
class Scheduled:
    """A simulated step. `seconds`: makespan; `busy[d][kind]`: seconds device d's unit of that kind was busy;
    `exposed[d]` / `overlapped[d]`: its communication seconds while its compute idles / runs; `run`: the engine's
    run (with a trace), whose units are named `d<i>.<kind>`."""
    seconds: float
    busy: tuple[dict[str, float], ...]
    exposed: tuple[float, ...]
    overlapped: tuple[float, ...]
    run: Run


def unit_name(device: int, kind: str) -> str:
    """The engine unit of a device's unit kind."""
    return f"d{device}.{kind}"


def schedule(step: Step) -> Scheduled:
    """Build the step's program, simulate it on the engine, and measure overlap (see the module docstring)."""
    if not step.ops:
        raise MappingError("parallel step: no ops to schedule")
    units = [unit_name(d, k) for d in range(step.devices) for k in UNIT_KINDS]
    tags = sorted({op.name for op in step.ops})
    b = ProgramBuilder(units=units, unit_is_memory=[k != "compute" for _ in range(step.devices) for k in UNIT_KINDS],
                       tags=tags)
    seg = b.segment("step")
    for op in step.ops:
        seg.op(unit_name(op.device, op.unit), int(round(op.seconds / TICK_S)), deps=op.after, tag=op.name)
    run = simulate(b.build(), extrapolate=False, trace=True)
    busy = tuple({k: float(run.busy_ticks[d * len(UNIT_KINDS) + i]) * TICK_S for i, k in enumerate(UNIT_KINDS)}
                 for d in range(step.devices))
    exposed, overlapped = zip(*(_overlap(run, d) for d in range(step.devices)))
    return Scheduled(run.ticks * TICK_S, busy, tuple(exposed), tuple(overlapped), run)


def _overlap(run: Run, device: int) -> tuple[float, float]:
    """(exposed, overlapped) communication seconds of one device from the trace's busy intervals."""
    tr = run.trace
    base = device * len(UNIT_KINDS)
    compute = _union(tr.start[tr.unit == base], tr.end[tr.unit == base])
    comm_mask = (tr.unit > base) & (tr.unit < base + len(UNIT_KINDS))
    comm = _union(tr.start[comm_mask], tr.end[comm_mask])
    total = sum(e - s for s, e in comm)
    both = _intersection(comm, compute)
    return (total - both) * TICK_S, both * TICK_S


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
