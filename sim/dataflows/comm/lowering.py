"""A collective's ops on the engine: `comm_units(plan)` names the units it occupies, `collective_ops(segment,
plan, ...)` appends its ops to a segment body, `collective_program(plan)` builds it alone.

Per device d of the group: `d<d>.comm` (the collective's kernel on its `cluster.comm_sms` SMs: its fixed latency,
then a zero-time op when d holds its result), `d<d>.link` (d's NVLink egress), `d<d>.nic` (d's NIC egress, direct
algorithms across nodes) and, for rings and trees across nodes, `n<k>.nic` (node k's NICs together, which NCCL's
channels share for the crossing). Units are in-order: a device sends its pieces one after another; a piece is
visible to its receiver `latency` ticks after its transfer ends, and the receiver forwards it then.

Ops are listed by their earliest possible start — chunk k released k × its shortest transfer after the first,
each transfer at the longest (transfer + latency) path to it in its chunk — so an in-order link sends the next
chunks' pieces while the previous chunk's data is still in flight: the pipeline.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from sim.dataflows.comm.bounds import hop_ticks, unit_bytes
from sim.dataflows.comm.plan import CommPlan, tick_rate, ticks
from sim.dataflows.comm.transfers import chunk_transfers
from sim.dataflows.gpu.constants import TICKS_PER_CYCLE
from sim.ir.program import Program, ProgramBuilder, SegmentBuilder

__all__ = ["collective_ops", "collective_program", "comm_units"]


def comm_units(plan: CommPlan) -> tuple[str, ...]:
    """Engine units the collective occupies (every device's `comm` unit first, then the links it sends on)."""
    return tuple(f"d{d}.comm" for d in plan.devices) + tuple(unit_bytes(plan))


def collective_ops(segment: SegmentBuilder, plan: CommPlan, *, ticks_per_s: float | None = None,
                   after: Mapping[int, Sequence[int]] | Sequence[int] = (), tag: str | None = None) -> dict[int, int]:
    """Append the collective's ops to `segment` (whose program has the units `comm_units(plan)`). `after`: op
    indices of the same body that every device's part waits for, or device → such indices. Returns device → the
    op whose result marks that device holding its output."""
    tps = tick_rate(plan) if ticks_per_s is None else ticks_per_s
    base = ticks(plan.base_latency_s, tps)
    start = {}
    for d in plan.devices:
        deps = after.get(d, ()) if isinstance(after, Mapping) else after
        start[d] = segment.op(f"d{d}.comm", base, deps=list(deps), tag=tag)
    shapes = [chunk_transfers(plan, k) for k in range(min(plan.chunks, 2 if plan.algorithm == "tree" else 1))]
    timed = [[hop_ticks(t.hop, t.nbytes, tps) for t in shape] for shape in shapes]
    listed = sorted((k * _release(timed[k % len(shapes)]) + asap, k, i) for k in range(plan.chunks)
                    for i, asap in enumerate(_asap(shapes[k % len(shapes)], timed[k % len(shapes)])))
    ops: dict[tuple[int, int], int] = {}
    held: dict[int, list[int]] = {d: [] for d in plan.devices}
    for _, k, i in listed:
        t = shapes[k % len(shapes)][i]
        d, a = timed[k % len(shapes)][i]
        deps = [ops[k, j] for j in t.deps] if t.deps else [start[t.sender]]
        ops[k, i] = segment.op(t.hop.unit, d, a, deps=deps, tag=tag)
        for r in t.receivers:
            held[r].append(ops[k, i])
    return {d: segment.op(f"d{d}.comm", 0, deps=[start[d], *held[d]], tag=tag) for d in plan.devices}


def _asap(shape, timed) -> list[int]:
    """Earliest start of each transfer of a chunk, were every unit free: the longest (d + a) path to it."""
    start: list[int] = []
    for t in shape:
        start.append(max((start[j] + sum(timed[j]) for j in t.deps), default=0))
    return start


def _release(timed) -> int:
    """Ticks between the releases of successive chunks: the shortest transfer of one (a sender sends the next
    chunk's first piece as soon as its link is free)."""
    return min(d for d, _ in timed)


def collective_program(plan: CommPlan, *, tag: str = "comm") -> Program:
    """The collective alone as a validated one-segment Program (link and NIC units count as memory channels)."""
    units = comm_units(plan)
    builder = ProgramBuilder(units, [not u.endswith(".comm") for u in units], tags=(tag,),
                             ticks_per_cycle=TICKS_PER_CYCLE)
    collective_ops(builder.segment(plan.kind), plan, tag=tag)
    return builder.build()
