"""Bad collectives and clusters: `sim.collective` refuses each with a MappingError naming the argument (and what
would work); cluster specs and `accel.cluster` with an ArchError naming the key path."""
from __future__ import annotations

import dataclasses

import accel
import sim
from accel import ArchError
from sim.ir.mapping import MappingError

_NODE = accel.preset("hgx-h100x8")


def _collective(*args, **kw):
    return lambda: sim.collective(*args, **kw)


CASES = [
    ("collective-unknown-kind", _collective("allreduce", 1024, _NODE), MappingError,
     "unknown kind 'allreduce' (valid: all_reduce, all_gather"),
    ("collective-kind-not-text", _collective(3, 1024, _NODE), MappingError, "unknown kind '3'"),
    ("collective-zero-bytes", _collective("all_reduce", 0, _NODE), MappingError, "nbytes=0 is out of range"),
    ("collective-negative-bytes", _collective("all_gather", -8, _NODE), MappingError, "nbytes=-8 is out of range"),
    ("collective-float-bytes", _collective("all_reduce", 1.5e6, _NODE), MappingError,
     "nbytes must be an integer, got float"),
    ("collective-bool-bytes", _collective("all_reduce", True, _NODE), MappingError, "nbytes must be an integer"),
    ("collective-absurd-bytes", _collective("all_reduce", 1 << 60, _NODE), MappingError,
     "is out of range (expected 1 to 17592186044416)"),
    ("collective-not-a-cluster", _collective("all_reduce", 1024, accel.preset("h100")), MappingError,
     "cluster must be an accel.Cluster (e.g. accel.preset('hgx-h100x8')), got Arch"),
    ("collective-cluster-name", _collective("all_reduce", 1024, "hgx-h100x8"), MappingError,
     "cluster must be an accel.Cluster"),
    ("collective-group-too-big", _collective("all_reduce", 1024, _NODE, group=9), MappingError,
     "group=9 is out of range (expected 2 to 8)"),
    ("collective-group-of-one", _collective("all_gather", 1024, _NODE, group=1), MappingError,
     "group=1 is out of range"),
    ("collective-group-repeats", _collective("all_reduce", 1024, _NODE, group=[0, 1, 1]), MappingError,
     "at least 2 distinct devices"),
    ("collective-group-device-outside", _collective("all_reduce", 1024, _NODE, group=[0, 8]), MappingError,
     "group device=8 is out of range (expected 0 to 7)"),
    ("collective-group-kind", _collective("all_reduce", 1024, _NODE, group="all"), MappingError,
     "group must be a device count from 2 to 8"),
    ("collective-unknown-algorithm", _collective("all_gather", 1024, _NODE, algorithm="nvls"), MappingError,
     "unknown algorithm 'nvls' (valid: ring, or None"),
    ("collective-nvls-across-nodes", _collective("all_reduce", 1024, accel.cluster("hgx-h100x8", nodes=2),
                                                 algorithm="nvls"), MappingError,
     "algorithm='nvls' with protocol=None cannot run on this group of 16 devices"),
    ("collective-nvls-without-switch-reduction",
     _collective("all_reduce", 1024, dataclasses.replace(_NODE, switch=None), algorithm="nvls"), MappingError,
     "cannot run on this group of 8 devices (valid here: ring/LL"),
    ("collective-nvls-protocol", _collective("all_reduce", 1024, _NODE, algorithm="nvls", protocol="LL"),
     MappingError, "algorithm='nvls' with protocol='LL' cannot run"),
    ("collective-unknown-protocol", _collective("all_reduce", 1024, _NODE, protocol="ll"), MappingError,
     "unknown protocol 'll' (valid: LL, LL128, Simple"),
    ("collective-zero-chunks", _collective("all_reduce", 1024, _NODE, chunks=0), MappingError,
     "chunks=0 is out of range (expected 1 to 64)"),
    ("collective-too-many-ops", _collective("all_reduce", 1 << 30, accel.preset("gb200-nvl72"), algorithm="ring",
                                            chunks=64), MappingError, "use fewer chunks"),
    ("cluster-bad-nodes", lambda: accel.cluster("hgx-h100x8", nodes=-1), ArchError,
     "nodes: expected an integer from 1 to"),
    ("cluster-bad-fabric", lambda: accel.cluster("hgx-h100x8", nodes=2, fabric="nvlink"), ArchError,
     "fabric: unknown 'nvlink' (valid: infiniband, roce, multi-plane)"),
    ("cluster-bad-nic-rate", lambda: accel.cluster("hgx-h100x8", nodes=2, nic_bytes_per_s=0), ArchError,
     "nic.bytes_per_s: 0 is out of range"),
    ("cluster-too-many-nodes", lambda: accel.cluster("hgx-b200x8", nodes=300), ArchError,
     "300 nodes exceed the infiniband fabric's 256"),
    ("cluster-unknown-node", lambda: accel.cluster("dgx-h100"), ArchError, "unknown cluster preset 'dgx-h100'"),
    ("cluster-comm-sms", lambda: accel.cluster("hgx-h100x8", comm_sms=0), ArchError, "cluster.comm_sms: 0"),
    ("cluster-link-latency", lambda: accel.Link("nvlink", 450e9, -1.0), ArchError, "link.latency_s: -1.0 is out of range"),
    ("cluster-link-efficiency-zero", lambda: accel.Link("nvlink", 450e9, 1e-6, 0.0), ArchError,
     "link.efficiency: 0.0 is out of range (expected above 0 and at most 1)"),
    ("cluster-nic-efficiency-above-one", lambda: accel.Nic("ib", 50e9, 2.8e-6, 3.7e-6, efficiency=1.2), ArchError,
     "nic.efficiency: 1.2 is out of range (expected above 0 and at most 1)"),
    ("cluster-link-efficiency-override", lambda: accel.cluster("hgx-h100x8", link_efficiency=-1), ArchError,
     "accel.cluster: link_efficiency: link.efficiency: -1 is out of range"),
    ("cluster-nic-efficiency-text", lambda: accel.cluster("hgx-h100x8", nodes=2, nic_efficiency="0.8"), ArchError,
     "accel.cluster: nic_efficiency: nic.efficiency: expected a number, got str '0.8'"),
    ("cluster-dict-efficiency", lambda: accel.cluster_from_dict({"node": "hgx-h800x8", "nic_efficiency": None,
                                                                 "link_efficiency": 2}), ArchError,
     "link_efficiency: link.efficiency: 2 is out of range"),
]
