"""Properties of the simulated collectives: more bandwidth (or a larger payload share of it) never slows one down,
more data never speeds one up, bus bandwidth stays under each algorithm's bound at the links' achievable rate (so
under the datasheet's too), and the engine never beats the closed form of its own schedule (and meets it where the
schedule has nothing to overlap)."""
from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

import accel
import sim
from sim.dataflows.comm import KINDS, bound_ticks, collective_program, plan_collective, tick_rate
from sim.engine import simulate, simulate_reference
from tests.properties.prop_strategies import FAST

NODES = {"one": accel.preset("hgx-h100x8"), "two": accel.cluster("hgx-h100x8", nodes=2),
         "h800": accel.preset("hgx-h800x8")}


@st.composite
def case(draw):
    """(kind, nbytes, cluster, group)."""
    name = draw(st.sampled_from(sorted(NODES)))
    cluster = NODES[name]
    return (draw(st.sampled_from(KINDS)), draw(st.integers(1, 1 << 29)), cluster,
            draw(st.integers(2, min(cluster.size, 12))))


def faster(cluster, link: float, nic: float):
    """`cluster` with its links × `link` and its NICs × `nic` (the switch keeps up with the links)."""
    out = dataclasses.replace(cluster, link=dataclasses.replace(cluster.link, bytes_per_s=cluster.link.bytes_per_s
                                                               * link))
    out = dataclasses.replace(out, switch=dataclasses.replace(cluster.switch, bytes_per_s=out.link.bytes_per_s))
    if cluster.nic is not None:
        out = dataclasses.replace(out, nic=dataclasses.replace(cluster.nic, bytes_per_s=cluster.nic.bytes_per_s * nic))
    return out


@settings(max_examples=FAST, deadline=None)
@given(case(), st.floats(1.0, 4.0), st.floats(1.0, 4.0))
def test_more_link_bandwidth_never_makes_a_collective_slower(c, link, nic):
    kind, nbytes, cluster, group = c
    before = sim.collective(kind, nbytes, cluster, group=group)
    after = sim.collective(kind, nbytes, faster(cluster, link, nic), group=group)
    assert after.latency_s <= before.latency_s


def shared(cluster, link: float, nic: float):
    """`cluster` with its links' payload share `link` and its NICs' `nic`."""
    out = dataclasses.replace(cluster, link=dataclasses.replace(cluster.link, efficiency=link))
    return out if cluster.nic is None else dataclasses.replace(out, nic=dataclasses.replace(cluster.nic,
                                                                                            efficiency=nic))


@settings(max_examples=FAST, deadline=None)
@given(case(), st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.floats(0.0, 1.0))
def test_a_larger_payload_share_never_makes_a_collective_slower(c, link, nic, more):
    kind, nbytes, cluster, group = c
    before = sim.collective(kind, nbytes, shared(cluster, link, nic), group=group)
    after = sim.collective(kind, nbytes, shared(cluster, link + more * (1 - link), nic + more * (1 - nic)),
                           group=group)
    assert after.latency_s <= before.latency_s


@settings(max_examples=FAST, deadline=None)
@given(case(), st.integers(0, 1 << 28))
def test_latency_is_monotone_in_nbytes(c, extra):
    kind, nbytes, cluster, group = c
    assert sim.collective(kind, nbytes, cluster, group=group).latency_s <= \
        sim.collective(kind, nbytes + extra, cluster, group=group).latency_s


def _one_node_bound(r, cluster, link: float) -> float:
    """The busbw an algorithm cannot exceed inside one node over links of `link` bytes/s per direction: the link
    for a ring or direct sends; a tree's chain has middle devices that send every byte up and down (G ≥ 3),
    (G−1)/G of it; NVLS sends n to the switch and n/G back out, 2(G−1)/(G+1) of it."""
    g = len(r.group)
    tree = link * (g - 1) / g if g >= 3 else link
    return {"nvls": link * 2 * (g - 1) / (g + 1), "tree": tree}.get(r.algorithm, link)


def _unit_rate(unit: str, r, cluster) -> float:
    """The achievable payload rate of an engine unit: a GPU's link or NIC, or a node's NICs in the group
    together."""
    if unit.endswith(".link"):
        return cluster.link.achievable_bytes_per_s
    if unit.startswith("d"):
        return cluster.nic.achievable_bytes_per_s
    node = int(unit[1:].split(".")[0])
    return cluster.nic.achievable_bytes_per_s * sum(1 for d in r.group if d // cluster.devices_per_node == node)


@settings(max_examples=FAST, deadline=None)
@given(case(), st.sampled_from([None, "ring", "tree", "nvls"]))
def test_bus_bandwidth_never_exceeds_the_algorithms_bound(c, algorithm):
    kind, nbytes, cluster, group = c
    if kind != "all_reduce" or (algorithm == "nvls" and group > cluster.devices_per_node):
        algorithm = None
    r = sim.collective(kind, nbytes, cluster, group=group, algorithm=algorithm)
    if group <= cluster.devices_per_node:
        achievable = _one_node_bound(r, cluster, cluster.link.achievable_bytes_per_s)
        assert r.bus_bandwidth_bytes_per_s <= achievable * (1 + 1e-9)
        assert achievable <= _one_node_bound(r, cluster, cluster.link.bytes_per_s)
    physical = max(b / _unit_rate(u, r, cluster) for u, b in r.unit_bytes.items())
    assert r.latency_s >= physical * (1 - 1e-9)


@settings(max_examples=FAST, deadline=None)
@given(case(), st.sampled_from(["LL", "LL128", "Simple"]), st.integers(1, 4))
def test_engine_meets_the_closed_form_where_the_schedule_is_the_same(c, protocol, chunks):
    kind, nbytes, cluster, group = c
    algorithm = "ring" if kind in ("all_reduce", "all_gather", "reduce_scatter") else "direct"
    plan = plan_collective(kind, nbytes % (1 << 22) + 1, cluster, tuple(range(group)), algorithm=algorithm,
                           protocol=protocol, chunks=chunks)
    program = collective_program(plan)
    ticks = simulate(program).ticks
    closed = bound_ticks(plan, tick_rate(plan))
    assert ticks >= closed
    if plan.chunks == 1:
        assert ticks == closed
    if program.ops_total <= 2000:
        assert simulate_reference(program).ticks == ticks
