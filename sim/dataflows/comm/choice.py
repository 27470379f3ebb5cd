"""Which algorithm, protocol and listing order a collective runs with: what is pinned, else NCCL's tuner rule —
the choice of least predicted time (NCCL's src/graph/tuning.cc picks the algorithm and protocol minimizing its
cost model). Our prediction is the engine itself: every candidate is simulated, in the order of its closed form
(a lower bound), until no remaining bound can beat the best time found — so the choice is the exact minimum, and
a faster link or a smaller message never makes the chosen collective slower."""
from __future__ import annotations

import dataclasses
import functools

from accel.interconnect import Cluster

from sim.dataflows.comm.bounds import bound_ticks
from sim.dataflows.comm.lowering import ORDERS, collective_program
from sim.dataflows.comm.plan import ALGORITHMS, CommPlan, chunked, tick_rate
from sim.dataflows.comm.protocols import PROTOCOLS
from sim.dataflows.comm.transfers import clear_cache
from sim.engine import simulate
from sim.ir.mapping import MappingError
from sim.ir.run import Run

__all__ = ["candidates", "choose", "clear_caches", "plan_collective"]

_CACHED = 256   # collectives remembered (plans ask for the same few many times)


def candidates(kind: str, cluster: Cluster, devices: tuple[int, ...]) -> list[tuple[str, str]]:
    """(algorithm, protocol) pairs that can run `kind` on `devices`: NVLS needs a reducing switch and one node and
    runs Simple only; the tree is for all-reduce; every other algorithm runs every protocol."""
    one_node = len({d // cluster.devices_per_node for d in devices}) == 1
    reducing = cluster.switch is not None and cluster.switch.reduction
    out = []
    for algorithm in ALGORITHMS[kind]:
        if algorithm == "nvls" and not (one_node and reducing):
            continue
        out += [(algorithm, p) for p in (("Simple",) if algorithm == "nvls" else PROTOCOLS)]
    return out


def plan_collective(kind: str, nbytes: int, cluster: Cluster, devices: tuple[int, ...], algorithm: str | None = None,
                    protocol: str | None = None, chunks: int | None = None) -> CommPlan:
    """The plan of a collective whose arguments are already checked (`sim.collective` checks them)."""
    return choose(kind, nbytes, cluster, devices, algorithm, protocol, chunks)[0]


@functools.lru_cache(maxsize=_CACHED)
def choose(kind: str, nbytes: int, cluster: Cluster, devices: tuple[int, ...], algorithm: str | None = None,
           protocol: str | None = None, chunks: int | None = None) -> tuple[CommPlan, Run]:
    """(plan, its engine run) of least simulated time among the candidates that fit the pins."""
    pairs = [(a, p) for a, p in candidates(kind, cluster, devices)
             if (algorithm is None or a == algorithm) and (protocol is None or p == protocol)]
    if not pairs:
        valid = sorted({f"{a}/{p}" for a, p in candidates(kind, cluster, devices)})
        raise MappingError(f"{kind}: algorithm={algorithm!r} with protocol={protocol!r} cannot run on this group "
                           f"of {len(devices)} devices (valid here: {', '.join(valid)})")
    plans = [chunked(CommPlan(kind, nbytes, devices, a, p, cluster), chunks) for a, p in pairs]
    ranked = sorted(((bound_ticks(p, tick_rate(p)), i) for i, p in enumerate(plans)))
    best = None
    for bound, i in ranked:
        plan = plans[i]
        if best is not None and bound >= best[1].ticks:
            break
        for order in ORDERS[: 1 if plan.chunks == 1 else len(ORDERS)]:
            ordered = dataclasses.replace(plan, order=order)
            run = simulate(collective_program(ordered))
            if best is None or run.ticks < best[1].ticks:
                best = (ordered, run)
    return best


def clear_caches() -> None:
    """Forget remembered choices and chunk shapes (for timing fresh calls)."""
    choose.cache_clear()
    clear_cache()
