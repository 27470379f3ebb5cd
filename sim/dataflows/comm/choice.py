"""Which algorithm and protocol a collective runs with: what is pinned, else NCCL's tuner rule — the pair of least
predicted time (NCCL's src/graph/tuning.cc picks the algorithm and protocol minimizing its cost model; ours is the
closed form of the schedule that will be simulated, `sim.dataflows.comm.bounds`)."""
from __future__ import annotations

import dataclasses

from accel.interconnect import Cluster

from sim.dataflows.comm.bounds import bound_ticks
from sim.dataflows.comm.plan import ALGORITHMS, MAX_COMM_OPS, CommPlan, default_chunks, fit_chunks, tick_rate
from sim.dataflows.comm.protocols import PROTOCOLS
from sim.ir.mapping import MappingError

__all__ = ["candidates", "plan_collective"]


def candidates(kind: str, cluster: Cluster, devices: tuple[int, ...]) -> list[tuple[str, str]]:
    """(algorithm, protocol) pairs that can run `kind` on `devices`: NVLS needs a reducing switch and one node and
    runs Simple only; every other algorithm runs every protocol."""
    one_node = len({d // cluster.devices_per_node for d in devices}) == 1
    reducing = cluster.switch is not None and cluster.switch.reduction
    out = []
    for algorithm in ALGORITHMS[kind]:
        if algorithm == "nvls" and not (one_node and reducing):
            continue
        out += [(algorithm, p) for p in (("Simple",) if algorithm == "nvls" else PROTOCOLS)]
    return out


def _chunked(plan: CommPlan, chunks: int | None) -> CommPlan:
    """`plan` with its pinned or default chunks, as many as the engine-op limit allows (all-to-all: one)."""
    n = 1 if plan.kind == "all_to_all" else chunks if chunks is not None else default_chunks(plan)
    return fit_chunks(dataclasses.replace(plan, chunks=n))


def plan_collective(kind: str, nbytes: int, cluster: Cluster, devices: tuple[int, ...], algorithm: str | None = None,
                    protocol: str | None = None, chunks: int | None = None) -> CommPlan:
    """The plan of a collective whose arguments are already checked (`sim.collective` checks them); unpinned
    choices by NCCL's rule (see the module docstring)."""
    pairs = [(a, p) for a, p in candidates(kind, cluster, devices)
             if (algorithm is None or a == algorithm) and (protocol is None or p == protocol)]
    if not pairs:
        valid = sorted({f"{a}/{p}" for a, p in candidates(kind, cluster, devices)})
        raise MappingError(f"{kind}: algorithm={algorithm!r} with protocol={protocol!r} cannot run on this group "
                           f"of {len(devices)} devices (valid here: {', '.join(valid)})")
    plans = [_chunked(CommPlan(kind, nbytes, devices, a, p, 1, cluster), chunks) for a, p in pairs]
    if chunks is not None and kind != "all_to_all" and any(p.chunks != chunks for p in plans):
        raise MappingError(f"{kind}: chunks={chunks} over {len(devices)} devices lists more than {MAX_COMM_OPS:,} "
                           f"engine ops: use fewer chunks")
    return min(plans, key=lambda p: bound_ticks(p, tick_rate(p)))
