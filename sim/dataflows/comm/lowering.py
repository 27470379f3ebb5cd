"""A collective's ops on the engine: `comm_units(plan)` names the units it occupies, `collective_ops(segment,
plan, ...)` appends its ops to a segment body, `collective_program(plan)` builds it alone.

Per device d of the group: `d<d>.comm` (the collective's kernel on its `cluster.comm_sms` SMs: its fixed latency,
then a zero-time op when d holds its result), `d<d>.link` (d's NVLink egress), `d<d>.nic` (d's NIC egress, direct
algorithms across nodes) and, for rings and trees across nodes, `n<k>.nic` (node k's NICs together, which NCCL's
channels share for the crossing). Units are in-order: a device sends its pieces one after another; a piece is
visible to its receiver `latency` ticks after its transfer ends, and the receiver forwards it then.

Ops are listed in one of two orders fixed by the plan's shape (`ORDERS`), so that an in-order link sends other
chunks' pieces while a chunk's data is in flight — the pipeline — and the schedule of a given order only gets
faster with faster links.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from sim.dataflows.comm.bounds import hop_ticks, unit_bytes
from sim.dataflows.comm.plan import CommPlan, tick_rate, ticks
from sim.dataflows.comm.transfers import chunk_shapes, chunk_transfers
from sim.dataflows.gpu.constants import TICKS_PER_CYCLE
from sim.ir.program import Program, ProgramBuilder, SegmentBuilder

__all__ = ["ORDERS", "collective_ops", "collective_program", "comm_units"]


def comm_units(plan: CommPlan) -> tuple[str, ...]:
    """Engine units the collective occupies (every device's `comm` unit first, then the links it sends on)."""
    return tuple(f"d{d}.comm" for d in plan.devices) + tuple(unit_bytes(plan))


def collective_ops(segment: SegmentBuilder, plan: CommPlan, *, ticks_per_s: float | None = None,
                   after: Mapping[int, Sequence[int]] | Sequence[int] = (), tag: str | None = None) -> dict[int, int]:
    """Append the collective's ops to `segment` (whose program has the units `comm_units(plan)`). `after`: op
    indices of the same body that every device's part waits for, or device → such indices. Ops are listed in
    `plan.order`. Returns device → the op whose result marks that device holding its output."""
    tps = tick_rate(plan) if ticks_per_s is None else ticks_per_s
    base = ticks(plan.base_latency_s, tps)
    start = {}
    for d in plan.devices:
        deps = after.get(d, ()) if isinstance(after, Mapping) else after
        start[d] = segment.op(f"d{d}.comm", base, deps=list(deps), tag=tag)
    shapes = {key: chunk_transfers(plan, first) for key, (first, _) in chunk_shapes(plan).items()}
    timed = {key: [hop_ticks(t.hop, t.nbytes, tps) for t in shape] for key, shape in shapes.items()}
    stage = {key: [t.stage for t in shape] for key, shape in shapes.items()}
    listed = sorted((_ORDERS[plan.order](k, stage[plan.shape(k)][i]), k, i) for k in range(plan.chunks)
                    for i in range(len(shapes[plan.shape(k)])))
    ops: dict[tuple[int, int], int] = {}
    held: dict[int, list[int]] = {d: [] for d in plan.devices}
    for _, k, i in listed:
        t, (d, a) = shapes[plan.shape(k)][i], timed[plan.shape(k)][i]
        deps = [ops[k, j] for j in t.deps] if t.deps else [start[t.sender]]
        ops[k, i] = segment.op(t.hop.unit, d, a, deps=deps, tag=tag)
        for r in t.receivers:
            held[r].append(ops[k, i])
    return {d: segment.op(f"d{d}.comm", 0, deps=[start[d], *held[d]], tag=tag) for d in plan.devices}


# Listing orders (a key per chunk k and stage s). `wave`: by k + s, later chunks first, so a link sends chunk
# k + 1's piece while chunk k's is in flight — best when transfers outlast latencies. `stage`: every
# chunk's step s before any step s + 1 — best when latencies dominate. Both are fixed by the plan's shape alone.
_ORDERS = {"wave": lambda k, s: (k + s, -k), "stage": lambda k, s: (s, k)}
ORDERS = tuple(_ORDERS)


def collective_program(plan: CommPlan, *, tag: str = "comm") -> Program:
    """The collective alone as a validated one-segment Program (link and NIC units count as memory channels)."""
    units = comm_units(plan)
    builder = ProgramBuilder(units, [not u.endswith(".comm") for u in units], tags=(tag,),
                             ticks_per_cycle=TICKS_PER_CYCLE)
    collective_ops(builder.segment(plan.kind), plan, tag=tag)
    return builder.build()
