"""What a collective does on a cluster: its steps, which link each step crosses, its chunks and its protocol
(`CommPlan`), and engine ticks of a time (`ticks`).

Every transfer is charged to its sender's egress: on the NVSwitch nodes modelled here every collective is
symmetric (each device receives as many bytes as it sends, at the same rate), so ingress never binds first.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from accel.interconnect import Cluster

from sim.dataflows.gpu.constants import TICKS_PER_CYCLE
from sim.dataflows.comm.protocols import NVLS_BASE_LATENCY_S, PROTOCOLS, SLOT_BYTES, Protocol
from sim.ir.mapping import MappingError

__all__ = ["ALGORITHMS", "KINDS", "MAX_CHUNKS", "MAX_COMM_OPS", "CommPlan", "Hop", "default_chunks", "fit_chunks", "tick_rate", "ticks"]

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
# Algorithms per kind: `ring` (NCCL's bandwidth-optimal ring), `tree` (NCCL's double binary tree across nodes,
# a chain inside each), `nvls` (NVLink SHARP: the switch reduces and multicasts, one NVSwitch domain), `direct` (every pair at once through the switch: NCCL's all-to-all and p2p).
ALGORITHMS = {"all_reduce": ("ring", "tree", "nvls"), "all_gather": ("ring",), "reduce_scatter": ("ring",),
              "all_to_all": ("direct",), "send_recv": ("direct",)}
MAX_CHUNKS = 64          # pipeline chunks of one collective (beyond, the pipeline's fill is already negligible)
MAX_COMM_OPS = 1 << 18   # engine ops one collective may list (bounds lowering and scheduling time)


@dataclass(frozen=True)
class Hop:
    """One device's sends in a step: over `transport` (`link` or `nic`) on engine unit `unit`, at `bytes_per_s`
    (after the protocol's share), each result visible `latency_s` after its transfer ends."""
    transport: str
    unit: str
    bytes_per_s: float
    latency_s: float


@dataclass(frozen=True)
class CommPlan:
    """A collective as it will be lowered: `kind` over `devices` (cluster device ids, in ring order), `nbytes` per
    rank (nccl-tests' size), `algorithm`, `protocol`, and `chunks` pieces pipelined through the steps."""
    kind: str
    nbytes: int
    devices: tuple[int, ...]
    algorithm: str
    protocol: str
    chunks: int
    cluster: Cluster

    @property
    def size(self) -> int:
        """Devices in the group."""
        return len(self.devices)

    @property
    def steps(self) -> int:
        """Ring steps: 2(G−1) for all-reduce (reduce-scatter then all-gather), G−1 for the others."""
        return 2 * (self.size - 1) if self.kind == "all_reduce" else self.size - 1

    @property
    def proto(self) -> Protocol:
        """The protocol record."""
        return PROTOCOLS[self.protocol]

    @property
    def base_latency_s(self) -> float:
        """Fixed latency of the collective (launch and setup)."""
        return NVLS_BASE_LATENCY_S if self.algorithm == "nvls" else self.proto.base_latency_s

    def node(self, device: int) -> int:
        """The node a device sits in."""
        return device // self.cluster.devices_per_node

    @property
    def nodes_spanned(self) -> int:
        """Distinct nodes of the group."""
        return len({self.node(d) for d in self.devices})

    def hop(self, sender: int, receiver: int, *, spread: bool = False) -> Hop:
        """How `sender` reaches `receiver`: its NVLink inside a node, else its NIC. A ring's or tree's crossing
        between nodes is spread by NCCL's channels over every NIC of the sender's node in the group (`spread`): one
        unit of their summed bandwidth."""
        c, p = self.cluster, self.proto
        if self.node(sender) == self.node(receiver):
            rate = c.link.bytes_per_s if self.algorithm != "nvls" or c.switch is None else \
                min(c.link.bytes_per_s, c.switch.bytes_per_s)
            return Hop("link", f"d{sender}.link", rate * p.bandwidth_fraction,
                       c.link.latency_s * p.nvlink_step_fraction)
        latency = c.nic.latency_for(self.nodes_spanned) * p.net_step_fraction
        if spread:
            nics = sum(1 for d in self.devices if self.node(d) == self.node(sender))
            return Hop("nic", f"n{self.node(sender)}.nic", c.nic.bytes_per_s * nics * p.bandwidth_fraction, latency)
        return Hop("nic", f"d{sender}.nic", c.nic.bytes_per_s * p.bandwidth_fraction, latency)

    def ring_hops(self) -> tuple[Hop, ...]:
        """Hop i: ring position i to position i + 1 (wrapping)."""
        g = self.devices
        return tuple(self.hop(g[i], g[(i + 1) % len(g)], spread=True) for i in range(len(g)))

    def node_groups(self) -> tuple[tuple[int, ...], ...]:
        """The group's devices node by node (nodes in order of first appearance, devices in group order)."""
        out: dict[int, list[int]] = {}
        for d in self.devices:
            out.setdefault(self.node(d), []).append(d)
        return tuple(tuple(v) for v in out.values())

    @property
    def piece_bytes(self) -> float:
        """Bytes one transfer of one chunk carries: a rank's slice nbytes / G in rings and all-to-all; the whole
        chunk in trees, NVLS pushes and send/recv."""
        whole = self.nbytes / self.size if self.algorithm == "ring" or self.kind == "all_to_all" else self.nbytes
        return whole / self.chunks

    def transfers_per_chunk(self) -> int:
        """Transfers one chunk lists (known before listing them, to bound the lowering)."""
        g = self.size
        return {"ring": self.steps * g, "nvls": 2 * g, "tree": 2 * (g - 1)}.get(
            self.algorithm, g * (g - 1) if self.kind == "all_to_all" else g)

    def ops(self) -> int:
        """Engine ops the lowering lists: every chunk's transfers and two ops per device on its `comm` unit."""
        return self.transfers_per_chunk() * self.chunks + 2 * self.size


def tick_rate(plan: CommPlan) -> float:
    """Engine ticks per second of the cluster's devices: their GPU programs' rate, so that a collective's ops and
    a kernel's share one program."""
    return plan.cluster.device.clock_hz * TICKS_PER_CYCLE


def ticks(seconds: float, ticks_per_s: float) -> int:
    """Engine ticks of `seconds`, rounded up (a transfer never finishes early)."""
    return max(int(math.ceil(seconds * ticks_per_s)), 0)


def default_chunks(plan: CommPlan) -> int:
    """NCCL's pipeline granularity: a chunk is one slot of every channel (SLOT_BYTES × comm_sms) of what one
    transfer carries (a ring's slice, a tree's whole buffer; an all-to-all is one piece per peer)."""
    if plan.kind == "all_to_all":
        return 1
    whole = plan.piece_bytes * plan.chunks
    return max(1, min(MAX_CHUNKS, math.ceil(whole / (SLOT_BYTES * plan.cluster.comm_sms))))


def fit_chunks(plan: CommPlan) -> CommPlan:
    """`plan` with as many of its chunks as MAX_COMM_OPS allows; refused if even one chunk lists too many ops."""
    while plan.ops() > MAX_COMM_OPS and plan.chunks > 1:
        plan = dataclasses.replace(plan, chunks=max(1, plan.chunks // 2))
    if plan.ops() > MAX_COMM_OPS:
        raise MappingError(f"{plan.kind} over {plan.size} devices ({plan.algorithm}) lists {plan.ops():,} engine ops, "
                           f"over the limit of {MAX_COMM_OPS:,}: use a smaller group")
    return plan
