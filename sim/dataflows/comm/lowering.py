"""A collective's ops on the engine: `comm_units(plan)` names the units it occupies, `collective_ops(segment,
plan, ...)` appends its ops to a segment body, `collective_program(plan)` builds it alone.

Per device d of the group: `d<d>.comm` (the collective's kernel on its `cluster.comm_sms` SMs: its fixed latency,
then a zero-time op when d holds its result), `d<d>.link` (d's NVLink egress), `d<d>.nic` (d's NIC egress, direct
algorithms across nodes) and, for rings across nodes, `n<k>.nic` (node k's NICs together, which NCCL's channels
share for the ring's crossing). Link units are in-order: a device sends its pieces one after another; a piece is
visible to its receiver `latency` ticks after its transfer ends, and the receiver forwards it then.

Ops are listed in wavefront order (all pieces of step s of chunk k where s + k = w, later chunks first), so that an
in-order link sends the next chunk's first piece while the previous chunk's data is still in flight: the pipeline.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from sim.dataflows.comm.bounds import hop_ticks
from sim.dataflows.comm.plan import CommPlan, tick_rate, ticks
from sim.dataflows.gpu.constants import TICKS_PER_CYCLE
from sim.ir.program import Program, ProgramBuilder, SegmentBuilder

__all__ = ["collective_ops", "collective_program", "comm_units"]


def comm_units(plan: CommPlan) -> tuple[str, ...]:
    """Engine units the collective occupies (every device's `comm` unit first, then the links it sends on)."""
    return tuple(f"d{d}.comm" for d in plan.devices) + tuple(plan.unit_bytes())


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
    lower = {"ring": _ring, "nvls": _nvls}.get(plan.algorithm, _direct)
    incoming = lower(segment, plan, tps, start, tag)
    return {d: segment.op(f"d{d}.comm", 0, deps=[start[d], *incoming[d]], tag=tag) for d in plan.devices}


def _ring(segment: SegmentBuilder, plan: CommPlan, tps: float, start: dict[int, int],
          tag: str | None) -> dict[int, list[int]]:
    """Step s of chunk k at ring position p forwards what position p − 1 sent at step s − 1."""
    g, steps, chunks = plan.devices, plan.steps, plan.chunks
    hops = plan.ring_hops()
    timed = [hop_ticks(plan, h, plan.piece_bytes, tps) for h in hops]
    sent: dict[tuple[int, int, int], int] = {}
    for wave in range(steps + chunks - 1):
        for k in range(min(wave, chunks - 1), max(-1, wave - steps), -1):
            s = wave - k
            for p, d in enumerate(g):
                deps = [start[d]] if s == 0 else [sent[k, s - 1, (p - 1) % len(g)]]
                sent[k, s, p] = segment.op(hops[p].unit, timed[p][0], timed[p][1], deps=deps, tag=tag)
    return {d: [sent[k, steps - 1, (p - 1) % len(g)] for k in range(chunks)] for p, d in enumerate(g)}


def _nvls(segment: SegmentBuilder, plan: CommPlan, tps: float, start: dict[int, int],
          tag: str | None) -> dict[int, list[int]]:
    """Each chunk: every device pushes it into the switch's reduction, then multicasts its reduced 1/G slice."""
    g = plan.devices
    units = {d: plan.hop(d, d).unit for d in g}
    push, latency = hop_ticks(plan, plan.hop(g[0], g[0]), plan.piece_bytes, tps)
    cast, _ = hop_ticks(plan, plan.hop(g[0], g[0]), plan.piece_bytes / len(g), tps)
    pushed: dict[tuple[int, int], int] = {}
    cast_ops: list[int] = []
    for wave in range(plan.chunks + 1):
        if wave < plan.chunks:
            for d in g:
                pushed[wave, d] = segment.op(units[d], push, latency, deps=[start[d]], tag=tag)
        if wave > 0:
            reduced = [pushed[wave - 1, q] for q in g]
            cast_ops = [segment.op(units[d], cast, latency, deps=reduced, tag=tag) for d in g]
    return {d: list(cast_ops) for d in g}


def _direct(segment: SegmentBuilder, plan: CommPlan, tps: float, start: dict[int, int],
            tag: str | None) -> dict[int, list[int]]:
    """All-to-all: each device sends 1/G of its buffer to every peer, nearest first; send/recv: to the next."""
    g = plan.devices
    a2a = plan.kind == "all_to_all"
    peers = range(1, len(g)) if a2a else (1,)
    piece = plan.nbytes / len(g) if a2a else plan.piece_bytes
    incoming: dict[int, list[int]] = {d: [] for d in g}
    for k in range(1 if a2a else plan.chunks):
        for i, d in enumerate(g):
            for j in peers:
                q = g[(i + j) % len(g)]
                hop = plan.hop(d, q)
                dur, lat = hop_ticks(plan, hop, piece, tps)
                op = segment.op(hop.unit, dur, lat, deps=[start[d]], tag=tag)
                if k == (0 if a2a else plan.chunks - 1):
                    incoming[q].append(op)
    return incoming


def collective_program(plan: CommPlan, *, tag: str = "comm") -> Program:
    """The collective alone as a validated one-segment Program (link and NIC units count as memory channels)."""
    units = comm_units(plan)
    builder = ProgramBuilder(units, [not u.endswith(".comm") for u in units], tags=(tag,),
                             ticks_per_cycle=TICKS_PER_CYCLE)
    collective_ops(builder.segment(plan.kind), plan, tag=tag)
    return builder.build()
