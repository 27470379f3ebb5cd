"""What a plan asks of the links: each collective it issues (kind, bytes per rank, group), timed by
`sim.collective` on the cluster, and which unit of each device it occupies (NVLink inside a node, the NIC when
the group spans nodes)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from sim.ir import MappingError

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")


@dataclass(frozen=True)
class CollectiveRun:
    """One collective of a plan: `kind` over `group` devices, `nbytes` per rank, `seconds` each time, issued
    `count` times per step (e.g. two all-reduces per layer), on the `unit` kind ("link" or "nic")."""
    name: str
    kind: str
    nbytes: int
    group: int
    seconds: float
    count: int = 1
    unit: str = "link"

    @property
    def total_s(self) -> float:
        """Seconds of all its issues."""
        return self.seconds * self.count


def _collective():
    """`sim.parallel.collective.collective` (imported when first needed: the collectives module sits beside this
    one and is loaded with the package)."""
    try:
        return importlib.import_module("sim.parallel.collective").collective
    except (ImportError, AttributeError) as err:
        raise MappingError(f"parallel plans need sim.collective to time their collectives: {err}") from None


def unit_for(cluster, group: int) -> str:
    """The link unit a collective of `group` consecutive devices occupies: the NIC once it leaves the node."""
    return "link" if group <= cluster.devices_per_node else "nic"


def timed(name: str, kind: str, nbytes: float, cluster, group: int, count: int = 1) -> CollectiveRun:
    """A collective of the plan, timed on the cluster (zero time for a group of one device)."""
    if kind not in KINDS:
        raise MappingError(f"collective {name}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    nbytes = int(round(nbytes))
    if group == 1 or nbytes == 0:
        return CollectiveRun(name, kind, nbytes, group, 0.0, count)
    record = _collective()(kind, nbytes, cluster, group=group)
    return CollectiveRun(name, kind, nbytes, group, float(record.latency_s), count, unit_for(cluster, group))
