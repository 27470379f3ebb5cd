"""`sim.collective`: one collective on a cluster, simulated on the engine, reported as nccl-tests reports it.

nccl-tests conventions (NVIDIA/nccl-tests, doc/PERFORMANCE.md): `nbytes` is the per-rank buffer size (all-gather:
the gathered output; reduce-scatter: the input; all-to-all: the send buffer), `algbw = nbytes / time`, and
`busbw = algbw × 2(G−1)/G` for all-reduce, × (G−1)/G for all-gather, reduce-scatter and all-to-all, × 1 for
send/recv — the rate each link would run at in the bandwidth-optimal (ring) algorithm, comparable across G. Links
move payload at their achievable rate (`accel.Link.efficiency` × the datasheet rate), so a large collective's busbw
approaches that, not the datasheet's.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from accel.interconnect import Cluster
from workloads.frozen import FrozenDict

from sim.dataflows.comm import ALGORITHMS, KINDS, MAX_CHUNKS, PROTOCOLS, bound_ticks, choose, tick_rate, unit_bytes
from sim.ir.mapping import MappingError

__all__ = ["Collective", "MAX_COLLECTIVE_BYTES", "bus_factor", "collective"]

MAX_COLLECTIVE_BYTES = 1 << 44   # 16 TiB per rank: beyond any device memory, so surely a mistake
_MAX_LISTED_DEVICES = 1 << 12


def bus_factor(kind: str, size: int) -> float:
    """nccl-tests' busbw ÷ algbw for `kind` over `size` ranks."""
    if kind == "all_reduce":
        return 2 * (size - 1) / size
    return 1.0 if kind == "send_recv" else (size - 1) / size


@dataclass(frozen=True)
class Collective:
    """One simulated collective. `latency_s` is the engine's time; `bound_s` the closed form of the same schedule
    (never above it); `order`: how its ops were listed (`sim.dataflows.comm.lowering.ORDERS`); `unit_bytes`: data
    bytes each engine unit sent; `sms`: SMs it occupies on each device."""
    kind: str
    nbytes: int
    group: tuple[int, ...]
    cluster: str
    algorithm: str
    protocol: str
    chunks: int
    order: str
    latency_s: float
    bound_s: float
    unit_bytes: Mapping[str, float]
    sms: int

    @property
    def algorithm_bandwidth_bytes_per_s(self) -> float:
        """nccl-tests' algbw: nbytes / latency."""
        return self.nbytes / self.latency_s

    @property
    def bus_bandwidth_bytes_per_s(self) -> float:
        """nccl-tests' busbw (see the module docstring)."""
        return self.algorithm_bandwidth_bytes_per_s * bus_factor(self.kind, len(self.group))

    @property
    def link_bytes(self) -> float:
        """Data bytes the busiest unit sent."""
        return max(self.unit_bytes.values())

    def __str__(self) -> str:
        return (f"{self.kind} of {_size(self.nbytes)} per rank over {len(self.group)} devices of {self.cluster}: "
                f"{self.algorithm}/{self.protocol}, {self.chunks} chunk(s), {self.latency_s * 1e6:.4g} µs "
                f"(closed form {self.bound_s * 1e6:.4g} µs); algbw {self.algorithm_bandwidth_bytes_per_s / 1e9:.4g} "
                f"GB/s, busbw {self.bus_bandwidth_bytes_per_s / 1e9:.4g} GB/s; busiest link sent "
                f"{_size(self.link_bytes)}; on {self.sms} SMs per device")


def _size(nbytes: float) -> str:
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes:.0f} B"


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise MappingError(f"sim.collective: {name} must be an integer, got {type(value).__name__} "
                           f"{str(value)[:40]!r}")
    if not low <= value <= high:
        raise MappingError(f"sim.collective: {name}={value} is out of range (expected {low} to {high})")
    return int(value)


def _group(group: Any, kind: str, cluster: Cluster) -> tuple[int, ...]:
    """The group's device ids: `None` (all), a count G (devices 0…G−1) or distinct device ids."""
    if group is None:
        group = cluster.size
    if isinstance(group, numbers.Integral) and not isinstance(group, (bool, np.bool_)):
        devices = tuple(range(_whole(group, "group", 2, cluster.size)))
    elif isinstance(group, (tuple, list)) and len(group) <= min(cluster.size, _MAX_LISTED_DEVICES):
        devices = tuple(_whole(d, "group device", 0, cluster.size - 1) for d in group)
        if len(set(devices)) != len(devices) or len(devices) < 2:
            raise MappingError(f"sim.collective: group must list at least 2 distinct devices, got {len(devices)} "
                               f"ids with {len(devices) - len(set(devices))} repeated")
    else:
        raise MappingError(f"sim.collective: group must be a device count from 2 to {cluster.size} (the cluster's "
                           f"size) or a list of distinct device ids, got {type(group).__name__} {str(group)[:40]!r}")
    return devices


def _choice(value: Any, name: str, valid: tuple[str, ...]) -> str | None:
    if value is not None and (not isinstance(value, str) or value not in valid):
        raise MappingError(f"sim.collective: unknown {name} {str(value)[:40]!r} (valid: {', '.join(valid)}, or None "
                           f"for NCCL's choice)")
    return value


def collective(kind: str, nbytes: int, cluster: Cluster, group: int | tuple[int, ...] | None = None,
               algorithm: str | None = None, *, protocol: str | None = None, chunks: int | None = None) -> Collective:
    """Simulate `kind` (`all_reduce`, `all_gather`, `reduce_scatter`, `all_to_all`, `send_recv`) of `nbytes` per
    rank on `group` (default: every device) of `cluster`. `algorithm` (ring, nvls, direct), `protocol` (LL, LL128,
    Simple) and `chunks` (pipeline pieces) are chosen as NCCL would when None (`sim.dataflows.comm.choice`)."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise MappingError(f"sim.collective: unknown kind {str(kind)[:40]!r} (valid: {', '.join(KINDS)})")
    if not isinstance(cluster, Cluster):
        raise MappingError(f"sim.collective: cluster must be an accel.Cluster (e.g. accel.preset('hgx-h100x8')), got "
                           f"{type(cluster).__name__}")
    nbytes = _whole(nbytes, "nbytes", 1, MAX_COLLECTIVE_BYTES)
    devices = _group(group, kind, cluster)
    algorithm = _choice(algorithm, "algorithm", tuple(ALGORITHMS[kind]))
    protocol = _choice(protocol, "protocol", tuple(PROTOCOLS))
    if chunks is not None:
        _whole(chunks, "chunks", 1, MAX_CHUNKS)
    plan, run = choose(kind, nbytes, cluster, devices, algorithm, protocol, chunks)
    tps = tick_rate(plan)
    return Collective(kind=kind, nbytes=nbytes, group=devices, cluster=cluster.name, algorithm=plan.algorithm,
                      protocol=plan.protocol, chunks=plan.chunks, order=plan.order, latency_s=run.ticks / tps,
                      bound_s=bound_ticks(plan, tps) / tps, unit_bytes=FrozenDict(unit_bytes(plan)),
                      sms=cluster.comm_sms)
