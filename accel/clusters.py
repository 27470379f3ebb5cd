"""Cluster presets: one node each (`hgx-h100x8`, `hgx-h200x8`, `hgx-h800x8`, `hgx-b200x8`, `gb200-nvl72`), and
`cluster(node, nodes=N, ...)` for many such nodes over an InfiniBand or RoCE fabric, one 400 Gb/s NIC per GPU.

Sources, per number below: NVIDIA's H100 Tensor Core GPU datasheet and architecture whitepaper (2022: NVLink 4,
18 links, 900 GB/s bidirectional; third-generation NVSwitch with NVLink SHARP), the H200 and H800 datasheets, the
DGX B200 and GB200 NVL72 datasheets (2024: NVLink 5, 1.8 TB/s bidirectional per GPU; 72 GPUs in one NVLink domain),
the DGX H100 user guide (8× ConnectX-7 400 Gb/s, one per GPU), and DeepSeek-V3's papers: "DeepSeek-V3 Technical
Report" (arXiv 2412.19437, §3.2.2: 20 of 132 SMs suffice to saturate IB and NVLink) and "Insights into
DeepSeek-V3: Scaling Challenges and Reflections on Hardware for AI Architectures" (arXiv 2505.09343: Table 5
latencies; H800 NVLink ~160 of 200 GB/s and a 400 Gb/s IB NIC ~40 of 50 GB/s achievable; the multi-plane two-layer
fat tree of 64-port 400G switches for up to 16,384 GPUs).

Links and NICs carry their achievable payload share (`efficiency`): 0.8 for NVLink and for a NIC, as DeepSeek
measured on H800. That the same share holds for NVLink 4 on H100/H200, NVLink 5 on B200 and GB200 NVL72, and for
RoCE, is an assumption (the overheads are the links' packet and flow-control protocols, which those generations
share, but no measurement of them is cited here); `accel.cluster(..., link_efficiency=, nic_efficiency=)` sets
others, 1.0 being the datasheet peak.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable

from accel.errors import ArchError, show
from accel.gpus import B200, H100, H200
from accel.interconnect import MAX_DEVICES, Cluster, Link, Nic, Switch
from accel.schema import from_dict

__all__ = ["CLUSTERS", "FABRICS", "cluster", "cluster_from_dict", "cluster_preset"]

GB = 1e9
# One-way latency of a small message (DeepSeek-V3 insights paper, arXiv 2505.09343, Table 5).
NVLINK_LATENCY_S = 3.33e-6
IB_LATENCY_S, IB_CROSS_LEAF_LATENCY_S = 2.8e-6, 3.7e-6
ROCE_LATENCY_S, ROCE_CROSS_LEAF_LATENCY_S = 3.6e-6, 5.6e-6
# 400 Gb/s per NIC (ConnectX-7, one per GPU in HGX/DGX H100, H200, H800 and B200 nodes) = 50 GB/s each way.
NIC_400G_BYTES_PER_S = 400e9 / 8
# NVLink per GPU and direction: NVLink 4 (H100/H200) 18 links × 25 GB/s = 450 GB/s; H800 cut to 400 GB/s
# bidirectional = 200 GB/s; NVLink 5 (B200, GB200) 1.8 TB/s bidirectional = 900 GB/s.
NVLINK4_BYTES_PER_S, H800_NVLINK_BYTES_PER_S, NVLINK5_BYTES_PER_S = 450 * GB, 200 * GB, 900 * GB
# Achievable payload share of the datasheet rate (DeepSeek-V3 insights paper, arXiv 2505.09343, measured on H800):
# NVLink ~160 of 200 GB/s per direction, a 400 Gb/s InfiniBand NIC ~40 of 50 GB/s. Applied to every NVLink
# generation and to RoCE as an assumption (see the module docstring).
NVLINK_EFFICIENCY = 160 / 200
NIC_EFFICIENCY = 40 / 50
# Communication SMs per GPU: DeepSeek-V3 ran its all-to-all kernels on 20 of 132 SMs (arXiv 2412.19437 §3.2.2).
COMM_SMS = 20
# A 64-port 400G switch (NVIDIA Quantum-2 QM9700) as a leaf of a two-layer fat tree: 32 ports down, 32 up.
LEAF_DOWN_PORTS, SWITCH_PORTS = 32, 64
# Endpoints of one two-layer fat tree of 64-port switches: 64 leaves × 32 = 2048 (arXiv 2505.09343: a multi-plane
# fat tree of 8 such planes reaches 16,384 GPUs).
FAT_TREE_ENDPOINTS = SWITCH_PORTS * LEAF_DOWN_PORTS


def _node(name: str, device: dict, link_bytes_per_s: float, devices: int, notes: str) -> Cluster:
    """One NVSwitch node with NVLink SHARP: every GPU's links at `link_bytes_per_s` each way to the switch."""
    return Cluster(name=name, device=from_dict(device, path=f"cluster {name} device"), devices_per_node=devices,
                   nodes=1, link=Link("nvlink", link_bytes_per_s, NVLINK_LATENCY_S, NVLINK_EFFICIENCY),
                   switch=Switch("nvswitch", link_bytes_per_s, reduction=True), nic=None, comm_sms=COMM_SMS,
                   notes=notes)


_H800_NOTES = ("H800: an H100 with NVLink cut to 400 GB/s bidirectional (200 GB/s per direction; DeepSeek measures "
               "~160 GB/s achievable, arXiv 2505.09343, the link's efficiency 0.8). The device spec is the H100's.")
CLUSTERS: dict[str, Callable[[], Cluster]] = {
    "hgx-h100x8": lambda: _node("hgx-h100x8", H100, NVLINK4_BYTES_PER_S, 8,
                                "HGX H100: 8 × H100 SXM5, NVLink 4 (450 GB/s per direction) to 4 NVSwitch chips."),
    "hgx-h200x8": lambda: _node("hgx-h200x8", H200, NVLINK4_BYTES_PER_S, 8,
                                "HGX H200: 8 × H200 SXM, NVLink 4 and NVSwitch as HGX H100."),
    "hgx-h800x8": lambda: _node("hgx-h800x8", H100, H800_NVLINK_BYTES_PER_S, 8, _H800_NOTES),
    "hgx-b200x8": lambda: _node("hgx-b200x8", B200, NVLINK5_BYTES_PER_S, 8,
                                "HGX B200: 8 × B200, NVLink 5 (900 GB/s per direction), NVSwitch."),
    "gb200-nvl72": lambda: _node("gb200-nvl72", B200, NVLINK5_BYTES_PER_S, 72,
                                 "GB200 NVL72: 72 Blackwell GPUs in one NVLink 5 domain (900 GB/s per direction "
                                 "each). The device spec is the HGX B200's (GB200's GPUs run at a higher power "
                                 "limit)."),
}


def _ib(bytes_per_s: float, planes: int, efficiency: float = NIC_EFFICIENCY) -> Nic:
    return Nic("infiniband", bytes_per_s, IB_LATENCY_S, IB_CROSS_LEAF_LATENCY_S, planes=1,
               nodes_per_leaf=LEAF_DOWN_PORTS, max_nodes=FAT_TREE_ENDPOINTS // planes, efficiency=efficiency)


def _roce(bytes_per_s: float, planes: int, efficiency: float = NIC_EFFICIENCY) -> Nic:
    return Nic("roce", bytes_per_s, ROCE_LATENCY_S, ROCE_CROSS_LEAF_LATENCY_S, planes=1,
               nodes_per_leaf=LEAF_DOWN_PORTS, max_nodes=FAT_TREE_ENDPOINTS // planes, efficiency=efficiency)


def _multi_plane(bytes_per_s: float, planes: int, efficiency: float = NIC_EFFICIENCY) -> Nic:
    """DeepSeek's multi-plane fat tree: each GPU's NIC on its own plane (a two-layer fat tree), so a node of
    `planes` GPUs reaches `planes` × the endpoints of one tree, and any two nodes are one leaf apart per plane."""
    return Nic("infiniband-multi-plane", bytes_per_s, IB_LATENCY_S, IB_CROSS_LEAF_LATENCY_S, planes=planes,
               nodes_per_leaf=LEAF_DOWN_PORTS, max_nodes=FAT_TREE_ENDPOINTS, efficiency=efficiency)


# A single-plane two-layer fat tree shares its 2048 endpoints among every GPU's NIC; a multi-plane one gives each
# plane its own tree, so it reaches as many nodes as one tree has endpoints. Each makes a NIC from (bytes_per_s,
# GPUs per node, efficiency).
FABRICS: dict[str, Callable[..., Nic]] = {"infiniband": _ib, "roce": _roce, "multi-plane": _multi_plane}


def cluster_preset(name: str) -> Cluster:
    """A node preset by name; an unknown name lists the valid ones."""
    if not isinstance(name, str):
        raise ArchError(f"accel.cluster: a node preset is named by text, got {type(name).__name__} {show(name)}")
    if name not in CLUSTERS:
        near = difflib.get_close_matches(name, list(CLUSTERS), n=1)
        raise ArchError(f"unknown cluster preset {show(name)}" + (f" (did you mean {near[0]!r}?)" if near else "")
                        + f" (valid: {', '.join(CLUSTERS)})")
    return CLUSTERS[name]()


def cluster(node: str | Cluster, *, nodes: int = 1, nic_bytes_per_s: float = NIC_400G_BYTES_PER_S,
            fabric: str = "infiniband", comm_sms: int | None = None, link_efficiency: float | None = None,
            nic_efficiency: float | None = None) -> Cluster:
    """`nodes` copies of a node (a preset name or a one-node Cluster) joined by `fabric` (`infiniband`, `roce` or
    `multi-plane`, DeepSeek's multi-plane fat tree), one NIC of `nic_bytes_per_s` each way per GPU.
    `link_efficiency` and `nic_efficiency` (0 < e ≤ 1; 1: the datasheet rate) replace the achievable payload share
    of the node's links (default: the node's) and of the NICs (default: NIC_EFFICIENCY); an override shows in the
    name (`-link-eff1`, `-nic-eff1`)."""
    base = cluster_preset(node) if isinstance(node, str) else node
    if not isinstance(base, Cluster):
        raise ArchError(f"accel.cluster: node must be a preset name ({', '.join(CLUSTERS)}) or an accel.Cluster, "
                        f"got {type(node).__name__} {show(node)}")
    if base.nodes != 1:
        raise ArchError(f"accel.cluster: node {base.name!r} is already {base.nodes} nodes; pass a one-node cluster")
    if not isinstance(fabric, str) or fabric not in FABRICS:
        raise ArchError(f"accel.cluster: fabric: unknown {show(fabric)} (valid: {', '.join(FABRICS)})")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_DEVICES:
        raise ArchError(f"accel.cluster: nodes: expected an integer from 1 to {MAX_DEVICES}, got {show(nodes)}")
    try:
        nic = FABRICS[fabric](nic_bytes_per_s, base.devices_per_node)
    except ArchError as e:
        raise ArchError(f"accel.cluster: nic_bytes_per_s: {e}") from None
    link = _replaced(base.link, "link_efficiency", link_efficiency)
    nic = _replaced(nic, "nic_efficiency", nic_efficiency)
    name = base.name if nodes == 1 else f"{base.name}-x{nodes}-{fabric}"
    name += f"-link-eff{link.efficiency:g}" if link.efficiency != base.link.efficiency else ""
    name += f"-nic-eff{nic.efficiency:g}" if nodes > 1 and nic.efficiency != NIC_EFFICIENCY else ""
    return Cluster(name=name, device=base.device, devices_per_node=base.devices_per_node, nodes=nodes,
                   link=link, switch=base.switch, nic=nic, comm_sms=base.comm_sms if comm_sms is None else comm_sms,
                   notes=base.notes + f" {nodes} node(s) over {nic.name}, {nic.bytes_per_s / 1e9:g} GB/s per GPU "
                                      f"(payload share {nic.efficiency:g}); NVLink payload share {link.efficiency:g}.")


def _replaced(port: Link | Nic, argument: str, efficiency: float | None) -> Link | Nic:
    """`port` with `efficiency` (unchanged for None); a bad value is refused naming the argument."""
    if efficiency is None:
        return port
    try:
        return dataclasses.replace(port, efficiency=efficiency)
    except ArchError as e:
        raise ArchError(f"accel.cluster: {argument}: {e}") from None


_CLUSTER_KEYS = ("node", "nodes", "nic_bytes_per_s", "fabric", "comm_sms", "link_efficiency", "nic_efficiency")


def cluster_from_dict(spec: Any) -> Cluster:
    """A cluster from a dict `{"node": preset name, "nodes": N, "nic_bytes_per_s": ..., "fabric": ...,
    "comm_sms": ..., "link_efficiency": ..., "nic_efficiency": ...}` (only `node` required), with
    `accel.cluster`'s checks; unknown keys are refused."""
    if not isinstance(spec, dict):
        raise ArchError(f"cluster: expected a mapping with keys {', '.join(_CLUSTER_KEYS)}, got "
                        f"{type(spec).__name__} {show(spec)}")
    unknown = [k for k in spec if k not in _CLUSTER_KEYS]
    if unknown:
        raise ArchError(f"cluster.{show(unknown[0])}: unknown key (valid: {', '.join(_CLUSTER_KEYS)})")
    if "node" not in spec:
        raise ArchError(f"cluster.node: required (a node preset: {', '.join(CLUSTERS)})")
    return cluster(spec["node"], **{k: v for k, v in spec.items() if k != "node"})


def to_cluster_dict(c: Cluster) -> dict[str, Any]:
    """A short, readable description of a cluster (the keys of `cluster_from_dict` where they apply)."""
    return {"name": c.name, "device": c.device.name, "devices_per_node": c.devices_per_node, "nodes": c.nodes,
            "link_bytes_per_s": c.link.bytes_per_s, "link_efficiency": c.link.efficiency,
            "nic": None if c.nic is None else c.nic.name,
            "nic_bytes_per_s": None if c.nic is None else c.nic.bytes_per_s,
            "nic_efficiency": None if c.nic is None else c.nic.efficiency, "comm_sms": c.comm_sms}
