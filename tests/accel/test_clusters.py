"""Cluster specs and presets: the public numbers of each node, multi-node clusters over a fabric, and the
refusals of bad specs."""
from __future__ import annotations

import dataclasses
import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accel
from accel import ArchError, Cluster, Link, Nic, Switch

GB = 1e9


@pytest.mark.parametrize("name,device,per_node,link_gb", [
    ("hgx-h100x8", "h100", 8, 450), ("hgx-h200x8", "h200", 8, 450), ("hgx-h800x8", "h100", 8, 200),
    ("hgx-b200x8", "b200", 8, 900), ("gb200-nvl72", "b200", 72, 900)])
def test_node_presets_carry_the_datasheet_numbers(name, device, per_node, link_gb):
    c = accel.preset(name)
    assert isinstance(c, Cluster) and c.name == name and c.nodes == 1
    assert c.device.name == device and c.devices_per_node == per_node and c.size == per_node
    assert c.link.bytes_per_s == link_gb * GB and c.link.latency_s == pytest.approx(3.33e-6)
    assert c.switch.reduction and c.nic is None and c.comm_sms == 20
    assert c.link.efficiency == 0.8 and c.link.achievable_bytes_per_s == pytest.approx(0.8 * link_gb * GB)


def test_device_presets_are_unchanged():
    assert isinstance(accel.preset("h100"), accel.Arch)
    assert "hgx-h100x8" not in accel.PRESETS and set(accel.CLUSTERS) >= {"hgx-h100x8", "gb200-nvl72"}


def test_multi_node_clusters_use_one_nic_per_gpu():
    c = accel.cluster("hgx-h100x8", nodes=4)
    assert c.size == 32 and c.nodes == 4 and c.nic.bytes_per_s == 50 * GB
    assert c.nic.latency_for(4) == pytest.approx(2.8e-6) and c.nic.latency_for(64) == pytest.approx(3.7e-6)
    roce = accel.cluster("hgx-h800x8", nodes=2, fabric="roce", nic_bytes_per_s=40 * GB)
    assert roce.nic.name == "roce" and roce.nic.latency_s == pytest.approx(3.6e-6) and roce.nic.bytes_per_s == 40e9
    planes = accel.cluster("hgx-h800x8", nodes=1024, fabric="multi-plane")
    assert planes.nic.planes == 8 and planes.size == 8192


def test_single_plane_fat_tree_is_bounded_and_multi_plane_reaches_further():
    with pytest.raises(ArchError, match="exceed the infiniband fabric's 256"):
        accel.cluster("hgx-h100x8", nodes=257)
    assert accel.cluster("hgx-h100x8", nodes=2048, fabric="multi-plane").size == 16384


def test_clusters_are_frozen_hashable_and_picklable():
    c = accel.cluster("hgx-h100x8", nodes=2)
    assert hash(c) == hash(accel.cluster("hgx-h100x8", nodes=2)) and c == accel.cluster("hgx-h100x8", nodes=2)
    assert pickle.loads(pickle.dumps(c)) == c
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.nodes = 3
    assert "16 × h100" in str(c) and "infiniband" in str(c)


def test_payload_shares_default_to_the_measured_ones_and_can_be_overridden():
    """NVLink ~160 of 200 GB/s and a NIC ~40 of 50 GB/s achievable (arXiv 2505.09343); 1.0 is the datasheet peak."""
    c = accel.cluster("hgx-h800x8", nodes=2)
    assert c.link.achievable_bytes_per_s == pytest.approx(160 * GB)
    assert c.nic.efficiency == 0.8 and c.nic.achievable_bytes_per_s == pytest.approx(40 * GB)
    assert "160 GB/s achievable" in str(c) and "40 GB/s achievable" in str(c)
    peak = accel.cluster("hgx-h800x8", nodes=2, link_efficiency=1.0, nic_efficiency=1)
    assert peak.link.achievable_bytes_per_s == 200 * GB and peak.nic.achievable_bytes_per_s == 50 * GB
    assert peak.name == "hgx-h800x8-x2-infiniband-link-eff1-nic-eff1" and peak != c
    assert accel.cluster("hgx-h800x8", nodes=2, nic_efficiency=0.8) == c
    assert accel.cluster("gb200-nvl72", link_efficiency=1.0).name == "gb200-nvl72-link-eff1"
    assert Link("nvlink", 1e9, 1e-6).efficiency == 1.0 and Nic("ib", 1e9, 1e-6, 2e-6).efficiency == 1.0
    spec = accel.cluster_from_dict({"node": "hgx-b200x8", "nodes": 2, "nic_efficiency": 0.9, "link_efficiency": 0.7})
    assert spec.nic.efficiency == 0.9 and spec.link.efficiency == 0.7


def test_cluster_from_dict():
    c = accel.cluster_from_dict({"node": "hgx-b200x8", "nodes": 2, "fabric": "roce"})
    assert c.size == 16 and c.nic.name == "roce"
    with pytest.raises(ArchError, match="cluster.'nodez': unknown key"):
        accel.cluster_from_dict({"node": "hgx-b200x8", "nodez": 2})
    with pytest.raises(ArchError, match="cluster.node: required"):
        accel.cluster_from_dict({"nodes": 2})


@pytest.mark.parametrize("make,fragment", [
    (lambda: Link("nvlink", 0, 1e-6), "link.bytes_per_s: 0 is out of range"),
    (lambda: Link("nvlink", float("nan"), 1e-6), "link.bytes_per_s"),
    (lambda: Link("nvlink", "fast", 1e-6), "link.bytes_per_s: expected a number, got str"),
    (lambda: Link("", 1e9, 1e-6), "link.name"),
    (lambda: Link("nvlink", 1e9, 1e-6, 0.0), "link.efficiency: 0.0 is out of range (expected above 0 and at most 1)"),
    (lambda: Link("nvlink", 1e9, 1e-6, 1.25), "link.efficiency: 1.25 is out of range"),
    (lambda: Nic("ib", 1e9, 1e-6, 2e-6, efficiency=-0.5), "nic.efficiency: -0.5 is out of range"),
    (lambda: Nic("ib", 1e9, 1e-6, 2e-6, efficiency="80%"), "nic.efficiency: expected a number, got str"),
    (lambda: accel.cluster("hgx-h100x8", link_efficiency=0), "accel.cluster: link_efficiency: link.efficiency: 0"),
    (lambda: accel.cluster("hgx-h100x8", nodes=2, nic_efficiency=float("nan")),
     "accel.cluster: nic_efficiency: nic.efficiency: nan is out of range"),
    (lambda: accel.cluster("hgx-h100x8", nodes=2, nic_efficiency=True), "nic.efficiency: expected a number, got bool"),
    (lambda: accel.cluster_from_dict({"node": "hgx-h100x8", "link_efficiency": 80}),
     "accel.cluster: link_efficiency: link.efficiency: 80 is out of range"),
    (lambda: Switch("nvswitch", 1e9, reduction="yes"), "switch.reduction"),
    (lambda: Nic("ib", 1e9, 3e-6, 2e-6), "nic.cross_leaf_latency_s"),
    (lambda: Nic("ib", 1e9, 1e-6, 2e-6, planes=0), "nic.planes"),
    (lambda: dataclasses.replace(accel.preset("hgx-h100x8"), nodes=2), "cluster.nic: 2 nodes need a NIC"),
    (lambda: dataclasses.replace(accel.preset("hgx-h100x8"), comm_sms=500), "cluster.comm_sms: 500"),
    (lambda: dataclasses.replace(accel.preset("hgx-h100x8"), device="h100"), "cluster.device: expected an accel.Arch"),
    (lambda: dataclasses.replace(accel.preset("hgx-h100x8"), devices_per_node=True), "cluster.devices_per_node"),
    (lambda: accel.cluster("hgx-h100x8", nodes=0), "nodes: expected an integer"),
    (lambda: accel.cluster("hgx-h100x8", fabric="ethernet"), "fabric: unknown 'ethernet'"),
    (lambda: accel.cluster("hgx-h100x9"), "did you mean 'hgx-h100x8'"),
    (lambda: accel.cluster(accel.cluster("hgx-h100x8", nodes=2), nodes=2), "already 2 nodes"),
    (lambda: accel.cluster(42), "node must be a preset name"),
])
def test_bad_specs_are_refused_naming_the_path(make, fragment):
    with pytest.raises(ArchError, match=re.escape(fragment)):
        make()


_VALUES = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                    st.text(max_size=6), st.lists(st.floats(0, 1), max_size=2), st.just(object()))


@settings(max_examples=200, deadline=None)
@given(_VALUES, _VALUES, st.sampled_from([1, 2]))
def test_arbitrary_efficiencies_give_a_cluster_or_an_arch_error(link, nic, nodes):
    try:
        c = accel.cluster("hgx-h100x8", nodes=nodes, link_efficiency=link, nic_efficiency=nic)
    except ArchError as err:
        assert len(str(err)) < 300 and ("link_efficiency" in str(err) or "nic_efficiency" in str(err))
    else:
        assert 0 < c.link.efficiency <= 1 and 0 < c.nic.efficiency <= 1
        assert c.link.achievable_bytes_per_s <= c.link.bytes_per_s and c.nic.achievable_bytes_per_s <= 50 * GB
