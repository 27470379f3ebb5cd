"""NCCL's protocols and latency terms, as the collectives model them.

A protocol trades bandwidth for latency (NCCL documentation, "NCCL_PROTO"; NCCL's src/device/prims_ll.h and
prims_ll128.h):
- `LL` (low latency): every 8-byte store carries 4 bytes of data and a 4-byte flag, so the receiver polls without
  a separate synchronization: half the link bandwidth, the shortest per-step latency;
- `LL128`: 128-byte lines of 120 bytes of data and an 8-byte flag (15/16 of the bandwidth);
- `Simple`: plain copies with a memory fence and a flag per step: the whole bandwidth, the longest latency.

Latency terms, from the tables of NCCL's own cost model (src/graph/tuning.cc, `baseLat` and `hwLat`, NCCL 2.18):
a fixed `base` per collective (kernel launch and setup) and a per-step latency by transport. Our per-step latency is
the spec's link latency (DeepSeek-V3's measured NVLink and InfiniBand latencies, arXiv 2505.09343 Table 5, which
match NCCL's Simple figures over NVLink) scaled by the protocol's share of Simple's latency in NCCL's table. What is
not modelled: NCCL's per-channel bandwidth caps of LL (its `llMaxBw`), the proxy thread of network transports
(beyond NCCL's net latency ratios), and the HBM traffic of the reduction (far below the link time on these GPUs).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NVLS_BASE_LATENCY_S", "PROTOCOLS", "Protocol", "SLOT_BYTES"]


@dataclass(frozen=True)
class Protocol:
    """One NCCL protocol: the fraction of link bandwidth that carries data, its fixed latency per collective, and
    its per-step latency as a fraction of the Simple protocol's, over NVLink and over the network."""
    name: str
    bandwidth_fraction: float
    base_latency_s: float
    nvlink_step_fraction: float
    net_step_fraction: float


# NCCL tuning.cc (2.18): ring baseLat {LL 6.6, LL128 14.0, Simple 8.4} µs; ring hwLat over NVLink {.6, 1.9, 3.4} µs
# and over the network {2.7, 4.0, 14.0} µs. Bandwidth: LL 4 of 8 bytes, LL128 120 of 128 bytes are data.
_NVLINK_SIMPLE_US, _NET_SIMPLE_US = 3.4, 14.0
PROTOCOLS = {
    "LL": Protocol("LL", 4 / 8, 6.6e-6, 0.6 / _NVLINK_SIMPLE_US, 2.7 / _NET_SIMPLE_US),
    "LL128": Protocol("LL128", 120 / 128, 14.0e-6, 1.9 / _NVLINK_SIMPLE_US, 4.0 / _NET_SIMPLE_US),
    "Simple": Protocol("Simple", 1.0, 8.4e-6, 1.0, 1.0),
}
# NVLink SHARP (NVLS) runs the Simple protocol only; NCCL's table charges it 25 µs over NVLink (hwLat, NVLS row),
# which we take as its fixed setup latency (multicast objects, switch reduction), with link latency per step.
NVLS_BASE_LATENCY_S = 25e-6
# The pipeline granularity: NCCL's default buffer per channel (NCCL_BUFFSIZE, 4 MiB) is split into NCCL_STEPS = 8
# slots, so a channel moves data in 512 KiB pieces; the channels together (one per communication SM) move
# SLOT_BYTES × comm_sms per chunk.
SLOT_BYTES = 4 * 2 ** 20 // 8
