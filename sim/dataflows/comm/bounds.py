"""The closed form (α–β model) of each collective's schedule, in the engine's own ticks: a lower bound on what the
engine simulates, and equal to it where the schedule has no overlap left to find (one chunk, or no latency).

With d = a piece's transfer ticks and a = its latency on each hop, S steps and C chunks:
- ring: base + max(the first chunk's chain Σ over S hops of (d + a), the busiest sender's S·C·d + a);
- NVLS: base + max(push + a + multicast + a, C·(push + multicast) + a);
- direct (all-to-all, send/recv): base + the busiest sender unit's Σ d + a (no step waits for another).
"""
from __future__ import annotations

from sim.dataflows.comm.plan import CommPlan, Hop, tick_rate, ticks

__all__ = ["bound_s", "bound_ticks", "hop_ticks"]


def hop_ticks(plan: CommPlan, hop: Hop, nbytes: float, ticks_per_s: float) -> tuple[int, int]:
    """(transfer, latency) ticks of `nbytes` over `hop`."""
    return ticks(nbytes / hop.bytes_per_s, ticks_per_s), ticks(hop.latency_s, ticks_per_s)


def _ring(plan: CommPlan, tps: float) -> int:
    timed = [hop_ticks(plan, h, plan.piece_bytes, tps) for h in plan.ring_hops()]
    g, steps = plan.size, plan.steps
    chain = max(sum(sum(timed[(p + s) % g]) for s in range(steps)) for p in range(g))
    busy = max(steps * plan.chunks * d + a for d, a in timed)
    return max(chain, busy)


def _nvls(plan: CommPlan, tps: float) -> int:
    hop = plan.hop(plan.devices[0], plan.devices[0])
    push, a = hop_ticks(plan, hop, plan.piece_bytes, tps)
    cast, _ = hop_ticks(plan, hop, plan.piece_bytes / plan.size, tps)
    return max(push + cast + 2 * a, plan.chunks * (push + cast) + a)


def _direct(plan: CommPlan, tps: float) -> int:
    g = plan.devices
    peers = range(1, len(g)) if plan.kind == "all_to_all" else (1,)
    piece = plan.nbytes / len(g) if plan.kind == "all_to_all" else plan.piece_bytes
    reps = 1 if plan.kind == "all_to_all" else plan.chunks
    busy: dict[str, list[int]] = {}
    for i, d in enumerate(g):
        for j in peers:
            dur, lat = hop_ticks(plan, plan.hop(d, g[(i + j) % len(g)]), piece, tps)
            total = busy.setdefault(plan.hop(d, g[(i + j) % len(g)]).unit, [0, 0])
            total[0] += reps * dur
            total[1] = max(total[1], lat)
    return max(t + a for t, a in busy.values())


_BODY = {"ring": _ring, "nvls": _nvls, "direct": _direct}


def bound_ticks(plan: CommPlan, ticks_per_s: float) -> int:
    """The closed-form ticks of `plan`'s schedule, its fixed latency included."""
    return ticks(plan.base_latency_s, ticks_per_s) + _BODY[plan.algorithm](plan, ticks_per_s)


def bound_s(plan: CommPlan, ticks_per_s: float | None = None) -> float:
    """The closed form in seconds (at the cluster device's tick rate unless `ticks_per_s` is given)."""
    from_rate = ticks_per_s if ticks_per_s is not None else tick_rate(plan)
    return bound_ticks(plan, from_rate) / from_rate

