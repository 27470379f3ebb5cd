"""The closed form (α–β model) of a collective's schedule, in the engine's own ticks: a lower bound on what the
engine simulates, equal to it where the schedule has no overlap left to find (one chunk, or no latency).

With transfer ticks d (bytes over the hop's achievable payload rate: the datasheet rate × the link's or NIC's
`efficiency` × the protocol's data share) and latency ticks a per transfer (`hop_ticks`), the time after the fixed
latency is at least
- one chunk's critical path: the largest Σ (d + a) along its dependency chains (a ring's 2(G−1) hops for
  all-reduce, G−1 for all-gather and reduce-scatter; a tree's way up and down; NVLS's push and multicast); and
- the busiest unit's work over all chunks plus its last latency: C·Σ d + a (a ring's 2(G−1)·C·d + a).
"""
from __future__ import annotations

from sim.dataflows.comm.plan import CommPlan, Hop, tick_rate, ticks
from sim.dataflows.comm.transfers import chunk_shapes, chunk_transfers

__all__ = ["bound_s", "bound_ticks", "hop_ticks", "unit_bytes"]


def hop_ticks(hop: Hop, nbytes: float, ticks_per_s: float) -> tuple[int, int]:
    """(transfer, latency) ticks of `nbytes` over `hop`."""
    return ticks(nbytes / hop.bytes_per_s, ticks_per_s), ticks(hop.latency_s, ticks_per_s)


def bound_ticks(plan: CommPlan, ticks_per_s: float) -> int:
    """The closed-form ticks of `plan`'s schedule, its fixed latency included."""
    path, busy = 0, {}
    for first, count in chunk_shapes(plan).values():
        ready: list[int] = []
        for t in chunk_transfers(plan, first):
            d, a = hop_ticks(t.hop, t.nbytes, ticks_per_s)
            ready.append(max((ready[j] for j in t.deps), default=0) + d + a)
            work = busy.setdefault(t.hop.unit, [0, a])
            work[0] += count * d
            work[1] = min(work[1], a)
        path = max(path, max(ready))
    return ticks(plan.base_latency_s, ticks_per_s) + max(path, max(w + a for w, a in busy.values()))


def bound_s(plan: CommPlan, ticks_per_s: float | None = None) -> float:
    """The closed form in seconds (at the cluster device's tick rate unless `ticks_per_s` is given)."""
    rate = ticks_per_s if ticks_per_s is not None else tick_rate(plan)
    return bound_ticks(plan, rate) / rate


def unit_bytes(plan: CommPlan) -> dict[str, float]:
    """Data bytes each engine unit sends in the whole collective (protocol flags excluded)."""
    out: dict[str, float] = {}
    for first, count in chunk_shapes(plan).values():
        for t in chunk_transfers(plan, first):
            out[t.hop.unit] = out.get(t.hop.unit, 0.0) + count * t.nbytes
    return out
