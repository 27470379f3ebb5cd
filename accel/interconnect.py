"""Interconnect specs: the links between devices, the switches and NICs they cross, and the `Cluster` of devices
they join. Strict, frozen, hashable records like the rest of `accel`: a record checks its own fields when it is made
and refuses bad ones with one ArchError naming each key path (`cluster.link.bytes_per_s`).

Bandwidths are per direction (a link moving 450 GB/s each way is 900 GB/s "bidirectional" in datasheet terms)
and are the datasheet's signalling rate; `efficiency` is the share of it that carries payload (packet and flit
headers, flow control and acknowledgements take the rest), so a transfer's data moves at `achievable_bytes_per_s`
= bytes_per_s × efficiency. Latencies are one-way, for a small message, in seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from accel.errors import ArchError, Problems, show
from accel.spec import Arch, instances

__all__ = ["Cluster", "Link", "Nic", "Switch", "cluster_sms"]

MAX_DEVICES = 1 << 20           # devices in one cluster (far beyond any built machine; bounds every loop over them)
MAX_BYTES_PER_S = 1e15          # one link direction (1 PB/s: three orders above NVLink 5)
MAX_LATENCY_S = 1.0
MAX_PLANES = 64
_NAME_LIMIT = 128


def _number(problems: Problems, path: tuple, value: Any, low: float, high: float, *, above: bool = False,
            integer: bool = False) -> None:
    """Record a problem unless `value` is a (whole, if `integer`) number in `low…high` (`above`: low excluded)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        problems.add(path, f"expected {kind}, got {type(value).__name__} {show(value)}")
    elif not math.isfinite(value) or value < low or value > high or (above and value == low):
        bound = f"above {low:g}" if above else f"at least {low:g}"
        problems.add(path, f"{show(value)} is out of range (expected {bound} and at most {high:g})")


def _name(problems: Problems, path: tuple, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > _NAME_LIMIT or not value.isprintable():
        problems.add(path, f"expected a non-empty printable name of at most {_NAME_LIMIT} characters, got "
                           f"{show(value)}")


def _check(record: Any, root: str, numbers: dict[str, tuple]) -> None:
    """Check `record`'s name and its numeric fields (`field → (low, high, above, integer)`); raise one ArchError."""
    problems = Problems()
    _name(problems, ("name",), record.name)
    for name, (low, high, above, integer) in numbers.items():
        _number(problems, (name,), getattr(record, name), low, high, above=above, integer=integer)
    problems.raise_if_any(root)


_RATE = (0.0, MAX_BYTES_PER_S, True, False)
_LATENCY = (0.0, MAX_LATENCY_S, False, False)
_EFFICIENCY = (0.0, 1.0, True, False)   # a share of the datasheet rate: above 0, at most all of it


@dataclass(frozen=True)
class Link:
    """A device's link to the intra-node fabric (all its NVLink lanes together): `bytes_per_s` each way, of which
    `efficiency` (0 < e ≤ 1; 1: the datasheet peak) carries payload."""
    name: str
    bytes_per_s: float
    latency_s: float
    efficiency: float = 1.0

    def __post_init__(self) -> None:
        _check(self, "link", {"bytes_per_s": _RATE, "latency_s": _LATENCY, "efficiency": _EFFICIENCY})

    @property
    def achievable_bytes_per_s(self) -> float:
        """The payload rate each way: bytes_per_s × efficiency."""
        return self.bytes_per_s * self.efficiency


@dataclass(frozen=True)
class Switch:
    """The intra-node switch (NVSwitch) every device's link reaches. `reduction`: it can sum data in the switch
    (NVLink SHARP), at `bytes_per_s` per device port and direction (a datasheet rate: its ports speak the link's
    protocol, so the link's `efficiency` applies to what crosses them)."""
    name: str
    bytes_per_s: float
    reduction: bool = False

    def __post_init__(self) -> None:
        _check(self, "switch", {"bytes_per_s": _RATE})
        if not isinstance(self.reduction, bool):
            raise ArchError(f"switch.reduction: expected true or false, got {show(self.reduction)}")


@dataclass(frozen=True)
class Nic:
    """One device's network interface to other nodes: `bytes_per_s` each way; `latency_s` to a node under the
    same leaf switch, `cross_leaf_latency_s` through the spine; `planes` independent network planes (a multi-plane
    fat tree puts each NIC of a node on its own plane); `nodes_per_leaf` and `max_nodes` bound the fabric;
    `efficiency` (0 < e ≤ 1; 1: the line rate) is the share of `bytes_per_s` that carries payload."""
    name: str
    bytes_per_s: float
    latency_s: float
    cross_leaf_latency_s: float
    planes: int = 1
    nodes_per_leaf: int = 32
    max_nodes: int = 256
    efficiency: float = 1.0

    def __post_init__(self) -> None:
        _check(self, "nic", {"bytes_per_s": _RATE, "latency_s": _LATENCY, "cross_leaf_latency_s": _LATENCY,
                             "planes": (1, MAX_PLANES, False, True), "nodes_per_leaf": (1, MAX_DEVICES, False, True),
                             "max_nodes": (1, MAX_DEVICES, False, True), "efficiency": _EFFICIENCY})
        if self.cross_leaf_latency_s < self.latency_s:
            raise ArchError(f"nic.cross_leaf_latency_s: {self.cross_leaf_latency_s:g} s is below the same-leaf "
                            f"latency_s {self.latency_s:g} s (a path through the spine is never shorter)")

    @property
    def achievable_bytes_per_s(self) -> float:
        """The payload rate each way: bytes_per_s × efficiency."""
        return self.bytes_per_s * self.efficiency

    def latency_for(self, nodes: int) -> float:
        """One-way latency between the farthest two of `nodes` nodes (same leaf while they fit under one)."""
        return self.latency_s if nodes <= self.nodes_per_leaf else self.cross_leaf_latency_s


def cluster_sms(device: Arch) -> int:
    """Streaming multiprocessors of a GPU spec: the copies of its per-SM shared memory level."""
    names = [lv.name for lv in device.levels]
    return instances(device, "SMEM") if "SMEM" in names else 1


@dataclass(frozen=True)
class Cluster:
    """`nodes` nodes of `devices_per_node` devices (`device`, a GPU spec). Inside a node every device's `link`
    reaches the `switch` (None: no switch, links form the ring directly); between nodes every device has its own
    `nic` (None for a single node). `comm_sms`: SMs a collective occupies on each device (its channels), which
    compute co-scheduled with it cannot use."""
    name: str
    device: Arch
    devices_per_node: int
    nodes: int
    link: Link
    switch: Switch | None
    nic: Nic | None
    comm_sms: int
    notes: str = ""

    def __post_init__(self) -> None:
        problems = Problems()
        _name(problems, ("name",), self.name)
        for name, kind in (("device", Arch), ("link", Link), ("switch", (Switch, type(None))),
                           ("nic", (Nic, type(None)))):
            if not isinstance(getattr(self, name), kind):
                problems.add((name,), f"expected {_kind_name(kind)}, got {type(getattr(self, name)).__name__} "
                                      f"{show(getattr(self, name))}")
        _number(problems, ("devices_per_node",), self.devices_per_node, 1, MAX_DEVICES, integer=True)
        _number(problems, ("nodes",), self.nodes, 1, MAX_DEVICES, integer=True)
        problems.raise_if_any("cluster")
        self._check_scale()

    def _check_scale(self) -> None:
        problems = Problems()
        if self.size > MAX_DEVICES:
            problems.add(("nodes",), f"{self.nodes} nodes × {self.devices_per_node} devices = {self.size} devices, "
                                     f"over the limit of {MAX_DEVICES}")
        sms = cluster_sms(self.device)
        _number(problems, ("comm_sms",), self.comm_sms, 1, sms, integer=True)
        if self.nodes > 1 and self.nic is None:
            problems.add(("nic",), f"{self.nodes} nodes need a NIC per device to reach each other (got none)")
        if self.nic is not None and self.nodes > self.nic.max_nodes:
            problems.add(("nodes",), f"{self.nodes} nodes exceed the {self.nic.name} fabric's {self.nic.max_nodes}")
        if not isinstance(self.notes, str) or len(self.notes) > 10_000:
            problems.add(("notes",), "expected text of at most 10000 characters")
        problems.raise_if_any("cluster")

    @property
    def size(self) -> int:
        """Devices in the whole cluster."""
        return self.devices_per_node * self.nodes

    def __str__(self) -> str:
        switch = (f", {self.switch.name}{' with in-switch reduction' if self.switch.reduction else ''}"
                  if self.switch else "")
        net = (f"; {self.nodes} nodes over {self.nic.name} {_rate(self.nic)} per device"
               if self.nic and self.nodes > 1 else "")
        return (f"Cluster {self.name}: {self.size} × {self.device.name}, {self.devices_per_node} per node over "
                f"{self.link.name} {_rate(self.link)} per direction{switch}{net}; collectives on {self.comm_sms} SMs")


def _rate(port: Link | Nic) -> str:
    """`port`'s datasheet rate, and its payload rate where that is less."""
    peak = f"{port.bytes_per_s / 1e9:g} GB/s"
    return peak if port.efficiency == 1 else f"{peak} ({port.achievable_bytes_per_s / 1e9:.4g} GB/s achievable)"


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("None" if k is type(None) else f"an accel.{k.__name__}" for k in kinds)

