"""What a plan asks of the links: each collective it issues (kind, bytes per rank, the cluster devices of its
group), planned by `sim.dataflows.comm` (NCCL's algorithm and protocol choice) and timed alone on the engine; a
plan's step then lowers the same `CommPlan` among its kernels (`schedule`)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sim.engine import simulate
from sim.ir import MappingError

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")   # as sim.dataflows.comm


@dataclass(frozen=True)
class CollectiveRun:
    """One collective of a plan: `kind` over `group` devices, `nbytes` per rank, `seconds` alone on the engine,
    issued `count` times per record (e.g. once per layer), leaving the node (`unit` "nic") or not ("link");
    `plan` is the `CommPlan` lowered among the kernels (None for an empty collective)."""
    name: str
    kind: str
    nbytes: int
    group: int
    seconds: float
    count: int = 1
    unit: str = "link"
    plan: Any = field(default=None, repr=False, compare=False)

    @property
    def total_s(self) -> float:
        """Seconds of all its issues."""
        return self.seconds * self.count


def timed(name: str, kind: str, nbytes: float, cluster, devices: tuple[int, ...], count: int = 1) -> CollectiveRun:
    """A collective of the plan over cluster `devices`, planned and timed alone (zero for one device or no
    bytes)."""
    if kind not in KINDS:
        raise MappingError(f"collective {name}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    nbytes = int(round(nbytes))
    devices = tuple(devices)
    if len(devices) == 1 or nbytes == 0:
        return CollectiveRun(name, kind, nbytes, len(devices), 0.0, count)
    plan, seconds = _planned(kind, nbytes, cluster, devices)
    across = len({d // cluster.devices_per_node for d in devices}) > 1
    return CollectiveRun(name, kind, nbytes, len(devices), seconds, count, "nic" if across else "link", plan)


@functools.lru_cache(maxsize=1024)
def _planned(kind: str, nbytes: int, cluster, devices: tuple[int, ...]):
    if max(devices) >= cluster.size:
        raise MappingError(f"collective {kind}: device {max(devices)} is not in {cluster.name} ({cluster.size} "
                           f"devices)")
    from sim.dataflows.comm import collective_program, plan_collective, tick_rate   # on first use: single-device runs never load it
    plan = plan_collective(kind, nbytes, cluster, devices)
    return plan, simulate(collective_program(plan), extrapolate=False).ticks / tick_rate(plan)
