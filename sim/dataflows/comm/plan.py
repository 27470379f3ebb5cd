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

__all__ = ["ALGORITHMS", "KINDS", "MAX_CHUNKS", "MAX_COMM_OPS", "CommPlan", "Hop", "chunked", "tick_rate", "ticks"]

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
    (the achievable payload rate after the protocol's share), each result visible `latency_s` after its transfer
    ends."""
    transport: str
    unit: str
    bytes_per_s: float
    latency_s: float


@dataclass(frozen=True)
class CommPlan:
    """A collective as it will be lowered: `kind` over `devices` (cluster device ids, in ring order), `nbytes` per
    rank (nccl-tests' size), `algorithm`, `protocol`, and what each transfer carries pipelined in chunks of
    `chunk_bytes` (the last chunk is the rest: more data adds to it or adds a chunk, never reshapes the others),
    its ops listed in `order` (`lowering.ORDERS`)."""
    kind: str
    nbytes: int
    devices: tuple[int, ...]
    algorithm: str
    protocol: str
    cluster: Cluster
    chunk_bytes: float = math.inf
    order: str = "wave"

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
        unit of their summed bandwidth. Rates are achievable payload rates (the datasheet rate × the link's or NIC's
        `efficiency`: the switch's ports speak NVLink, so NVLS pushes pay the link's), × the protocol's data share;
        latencies are the link's."""
        c, p = self.cluster, self.proto
        if self.node(sender) == self.node(receiver):
            rate = c.link.bytes_per_s if self.algorithm != "nvls" or c.switch is None else \
                min(c.link.bytes_per_s, c.switch.bytes_per_s)
            return Hop("link", f"d{sender}.link", rate * c.link.efficiency * p.bandwidth_fraction,
                       c.link.latency_s * p.nvlink_step_fraction)
        latency = c.nic.latency_for(self.nodes_spanned) * p.net_step_fraction
        rate = c.nic.achievable_bytes_per_s * p.bandwidth_fraction
        if spread:
            nics = sum(1 for d in self.devices if self.node(d) == self.node(sender))
            return Hop("nic", f"n{self.node(sender)}.nic", rate * nics, latency)
        return Hop("nic", f"d{sender}.nic", rate, latency)

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
    def whole_bytes(self) -> float:
        """What one transfer carries over all chunks: a rank's slice nbytes / G in rings and all-to-all; the
        whole buffer in trees, NVLS pushes and send/recv."""
        return self.nbytes / self.size if self.algorithm == "ring" or self.kind == "all_to_all" else self.nbytes

    @property
    def chunks(self) -> int:
        """Pipeline chunks: whole_bytes in pieces of chunk_bytes (robust to rounding at exact multiples)."""
        if self.chunk_bytes >= self.whole_bytes:
            return 1
        n = math.ceil(self.whole_bytes / self.chunk_bytes)
        return n - 1 if (n - 1) * self.chunk_bytes >= self.whole_bytes else n

    def piece_bytes(self, k: int) -> float:
        """What one transfer of chunk k carries (the last chunk: the rest)."""
        return min(self.chunk_bytes, self.whole_bytes - k * self.chunk_bytes)

    def shape(self, k: int) -> tuple[int, bool]:
        """Chunks of one shape have the same transfers: the tree's parity and whether it is the last chunk."""
        return (k % 2 if self.algorithm == "tree" else 0, k == self.chunks - 1)

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


def chunked(plan: CommPlan, chunks: int | None = None) -> CommPlan:
    """`plan` cut into `chunks` equal chunks, or by default in NCCL's pipeline granularity: one slot of every
    channel (SLOT_BYTES × comm_sms), at most MAX_CHUNKS chunks and MAX_COMM_OPS engine ops (beyond, larger
    chunks). An all-to-all sends one piece per peer. Refused if even one chunk lists too many ops."""
    g, per_chunk = plan.size, plan.transfers_per_chunk()
    most = min(MAX_CHUNKS, (MAX_COMM_OPS - 2 * g) // per_chunk)
    if most < 1:
        raise MappingError(f"{plan.kind} over {g} devices ({plan.algorithm}) lists {per_chunk + 2 * g:,} engine ops, "
                           f"over the limit of {MAX_COMM_OPS:,}: use a smaller group")
    whole = plan.whole_bytes
    if plan.kind == "all_to_all":
        size = whole
    elif chunks is not None:
        if chunks > most:
            raise MappingError(f"{plan.kind}: chunks={chunks} over {g} devices ({plan.algorithm}) lists more than "
                               f"{MAX_COMM_OPS:,} engine ops (at most {most} chunks here): use fewer chunks")
        size = whole / chunks
    else:
        size = max(SLOT_BYTES * plan.cluster.comm_sms, whole / most)
    return dataclasses.replace(plan, chunk_bytes=size)
