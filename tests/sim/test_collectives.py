"""Collectives on the engine: nccl-tests' conventions, the physical bounds of each algorithm, the latency-bound
small-message regime, the closed form where the schedule is the same, the SimPy reference, and co-scheduling a
collective beside compute in one program."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accel
import sim
from accel import Link, Nic
from sim.dataflows.comm import (PROTOCOLS, bound_ticks, collective_ops, collective_program, comm_units,
                                plan_collective, tick_rate)
from sim.dataflows.comm.protocols import NVLS_BASE_LATENCY_S, SLOT_BYTES
from sim.engine import simulate, simulate_reference
from sim.ir.mapping import MappingError
from sim.ir.program import ProgramBuilder

GB, MB = 1e9, 2 ** 20
H100X8 = accel.preset("hgx-h100x8")
TWO_NODES = accel.cluster("hgx-h100x8", nodes=2)
NVLINK = 450 * GB * 0.8     # NVLink 4's achievable payload rate per direction (the preset's efficiency)
NIC = 50 * GB * 0.8


@pytest.mark.parametrize("kind,factor", [("all_reduce", 2 * 7 / 8), ("all_gather", 7 / 8), ("reduce_scatter", 7 / 8),
                                         ("all_to_all", 7 / 8), ("send_recv", 1.0)])
def test_bus_bandwidth_follows_nccl_tests(kind, factor):
    r = sim.collective(kind, 64 * MB, H100X8)
    assert r.algorithm_bandwidth_bytes_per_s == pytest.approx(64 * MB / r.latency_s)
    assert r.bus_bandwidth_bytes_per_s == pytest.approx(r.algorithm_bandwidth_bytes_per_s * factor)
    assert r.group == tuple(range(8)) and r.cluster == "hgx-h100x8" and r.sms == 20


@pytest.mark.parametrize("kind", ["all_gather", "reduce_scatter", "all_to_all", "send_recv"])
def test_large_messages_reach_the_link_bandwidth_and_never_exceed_it(kind):
    r = sim.collective(kind, 8 * 2 ** 30, H100X8)
    assert 0.99 * NVLINK < r.bus_bandwidth_bytes_per_s <= NVLINK < 450 * GB


def test_ring_all_reduce_is_bounded_by_the_link_and_nvls_beats_it():
    ring = sim.collective("all_reduce", 8 * 2 ** 30, H100X8, algorithm="ring")
    nvls = sim.collective("all_reduce", 8 * 2 ** 30, H100X8)
    assert ring.algorithm == "ring" and 0.99 * NVLINK < ring.bus_bandwidth_bytes_per_s <= NVLINK
    assert nvls.algorithm == "nvls" and nvls.protocol == "Simple"
    nvls_bound = NVLINK * 2 * 7 / 9   # each GPU sends n to the switch and n/G back out
    assert NVLINK < nvls.bus_bandwidth_bytes_per_s <= nvls_bound
    assert nvls.unit_bytes["d0.link"] == pytest.approx(8 * 2 ** 30 * 9 / 8)


def test_small_messages_are_latency_bound():
    tiny, small = sim.collective("all_reduce", 8, H100X8), sim.collective("all_reduce", 64 * 1024, H100X8)
    assert tiny.protocol == "LL" and tiny.algorithm == "ring"
    ll = PROTOCOLS["LL"]
    latency = ll.base_latency_s + 14 * 3.33e-6 * ll.nvlink_step_fraction
    assert tiny.latency_s == pytest.approx(latency, rel=1e-3)
    assert small.latency_s < 1.5 * tiny.latency_s and tiny.bus_bandwidth_bytes_per_s < 1e-3 * GB


@pytest.mark.parametrize("kind,steps", [("all_reduce", 14), ("all_gather", 7), ("reduce_scatter", 7)])
@pytest.mark.parametrize("nbytes", [8, 3 * MB, 40 * MB])
def test_one_chunk_ring_equals_its_closed_form(kind, steps, nbytes):
    plan = plan_collective(kind, nbytes, H100X8, tuple(range(8)), algorithm="ring", protocol="Simple", chunks=1)
    tps = tick_rate(plan)
    d = -(-nbytes / 8 / NVLINK * tps // 1)
    a = -(-3.33e-6 * tps // 1)
    base = -(-8.4e-6 * tps // 1)
    assert simulate(collective_program(plan)).ticks == bound_ticks(plan, tps) == base + steps * (d + a)


def test_without_latency_the_pipelined_ring_keeps_its_link_busy():
    fast = dataclasses.replace(H100X8, link=Link("nvlink", 450e9, 0.0))
    plan = plan_collective("all_reduce", 256 * MB, fast, tuple(range(8)), algorithm="ring", protocol="Simple",
                           chunks=16)
    tps = tick_rate(plan)
    d = -(-256 * MB / 8 / 16 / 450e9 * tps // 1)
    base = -(-8.4e-6 * tps // 1)
    assert simulate(collective_program(plan)).ticks == bound_ticks(plan, tps) == base + 14 * 16 * d


def test_chunks_follow_nccls_slot_granularity():
    assert sim.collective("all_gather", 8 * 8 * SLOT_BYTES * 20, H100X8).chunks == 8
    assert sim.collective("all_gather", 8 * MB, H100X8).chunks == 1
    assert sim.collective("all_gather", 2 ** 36, H100X8).chunks == 64


@pytest.mark.parametrize("kind,cluster,group,algorithm", [
    ("all_reduce", H100X8, 4, "ring"), ("all_reduce", H100X8, 4, "nvls"), ("all_reduce", H100X8, 4, "tree"),
    ("all_gather", TWO_NODES, 12, "ring"), ("all_reduce", TWO_NODES, 16, "tree"),
    ("all_to_all", TWO_NODES, 10, "direct"), ("send_recv", TWO_NODES, 9, "direct")])
@pytest.mark.parametrize("chunks", [1, 3])
def test_engine_agrees_with_the_simpy_reference(kind, cluster, group, algorithm, chunks):
    plan = plan_collective(kind, 5 * MB + 3, cluster, tuple(range(group)), algorithm=algorithm, chunks=chunks)
    program = collective_program(plan)
    assert simulate(program).ticks == simulate_reference(program).ticks >= bound_ticks(plan, tick_rate(plan))


def test_groups_spanning_nodes_use_the_nics():
    ring = sim.collective("all_reduce", 2 ** 30, TWO_NODES, algorithm="ring")
    assert {"n0.nic", "n1.nic"} <= set(ring.unit_bytes) and ring.bus_bandwidth_bytes_per_s <= 8 * NIC
    inside = sim.collective("all_reduce", 2 ** 30, TWO_NODES, group=8)
    assert not any("nic" in u for u in inside.unit_bytes)
    a2a = sim.collective("all_to_all", 2 ** 30, TWO_NODES)
    assert a2a.unit_bytes["d0.nic"] == pytest.approx(2 ** 30 / 16 * 8)
    assert a2a.bus_bandwidth_bytes_per_s <= NIC * 15 / 8
    small = sim.collective("all_reduce", 8, TWO_NODES)
    assert small.algorithm == "tree"     # fewer latency steps than a 16-rank ring


def test_a_listed_group_and_pins_are_honoured():
    r = sim.collective("all_reduce", 16 * MB, TWO_NODES, group=[6, 7, 8, 9], algorithm="ring", protocol="LL128",
                       chunks=2)
    assert (r.group, r.algorithm, r.protocol, r.chunks) == ((6, 7, 8, 9), "ring", "LL128", 2)
    assert "all_reduce of 16 MiB per rank over 4 devices" in str(r) and "ring/LL128" in str(r)


def _with_compute(compute_ticks: int, overlap: bool) -> int:
    plan = plan_collective("all_reduce", 64 * MB, H100X8, tuple(range(8)))
    units = ("sm0",) + comm_units(plan)
    b = ProgramBuilder(units, tags=("gemm", "comm"), ticks_per_cycle=4)
    seg = b.segment("step")
    gemm = seg.op("sm0", compute_ticks, tag="gemm")
    done = collective_ops(seg, plan, after=() if overlap else [gemm], tag="comm")
    assert set(done) == set(range(8))
    return simulate(b.build()).ticks


def test_a_collective_overlaps_compute_it_does_not_wait_for():
    alone = simulate(collective_program(plan_collective("all_reduce", 64 * MB, H100X8, tuple(range(8))))).ticks
    compute = alone // 2
    assert _with_compute(compute, overlap=True) == alone
    assert _with_compute(compute, overlap=False) == alone + compute


_ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                      st.text(max_size=12), st.lists(st.integers(-3, 20), max_size=6), st.just(H100X8),
                      st.just(np.int64(4)), st.just(object()))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.sampled_from(["all_reduce", "all_to_all", "send_recv"]), _ANYTHING),
       st.one_of(st.integers(1, 1 << 20), _ANYTHING), st.one_of(st.just(TWO_NODES), _ANYTHING),
       st.one_of(st.integers(2, 16), _ANYTHING), st.sampled_from([None, "ring", "tree", "direct", "x", 3]))
def test_arbitrary_arguments_give_a_result_or_a_mapping_error(kind, nbytes, cluster, group, algorithm):
    try:
        r = sim.collective(kind, nbytes, cluster, group=group, algorithm=algorithm)
    except MappingError as err:
        assert len(str(err)) < 400
    else:
        assert r.latency_s >= r.bound_s > 0 and r.bus_bandwidth_bytes_per_s > 0


def test_numpy_integers_are_accepted():
    r = sim.collective("all_gather", np.int64(1 << 20), H100X8, group=np.int32(4))
    assert r.nbytes == 1 << 20 and type(r.nbytes) is int and r.group == (0, 1, 2, 3)


def _at(cluster, link: float, nic: float | None = None):
    """`cluster` with its links' (and NICs') payload share set."""
    out = dataclasses.replace(cluster, link=dataclasses.replace(cluster.link, efficiency=link))
    return out if nic is None else dataclasses.replace(out, nic=dataclasses.replace(cluster.nic, efficiency=nic))


@pytest.mark.parametrize("kind,cluster,algorithm", [
    ("all_gather", H100X8, "ring"), ("all_reduce", H100X8, "nvls"), ("all_to_all", H100X8, "direct"),
    ("all_reduce", TWO_NODES, "ring"), ("all_to_all", TWO_NODES, "direct")])
@pytest.mark.parametrize("efficiency", [0.5, 0.8])
def test_efficiency_scales_large_message_time_as_its_inverse(kind, cluster, algorithm, efficiency):
    """Without latency terms a large collective's time beyond its fixed latency is payload time: 1 / efficiency."""
    quiet = dataclasses.replace(cluster, link=dataclasses.replace(cluster.link, latency_s=0.0))
    if cluster.nic is not None:
        quiet = dataclasses.replace(quiet, nic=Nic("ib", cluster.nic.bytes_per_s, 0.0, 0.0))
    peak, slow = (sim.collective(kind, 2 ** 31, _at(quiet, e, None if cluster.nic is None else e),
                                 algorithm=algorithm, protocol="Simple") for e in (1.0, efficiency))
    base = PROTOCOLS["Simple"].base_latency_s if algorithm != "nvls" else NVLS_BASE_LATENCY_S
    assert (slow.latency_s - base) == pytest.approx((peak.latency_s - base) / efficiency, rel=1e-4)


def test_efficiency_leaves_small_message_latency_alone():
    """An 8-byte collective is its latency terms, which the payload share leaves alone: a quarter of the payload
    rate moves it by under 0.1 % (its few bytes' transfer ticks), where a large one takes ~4× as long."""
    for kind in ("all_reduce", "all_gather", "send_recv"):
        for group in (8, 16):
            peak, slow = (sim.collective(kind, 8, _at(TWO_NODES, e, e), group=group).latency_s for e in (1.0, 0.25))
            assert peak <= slow <= peak * (1 + 1e-3)
    assert sim.collective("all_gather", 2 ** 31, _at(H100X8, 0.25)).latency_s > \
        3.9 * sim.collective("all_gather", 2 ** 31, _at(H100X8, 1.0)).latency_s


def test_presets_run_below_the_datasheet_rate():
    """The presets' payload share (0.8, arXiv 2505.09343) puts large-message busbw at 0.8 of the datasheet peak."""
    peak, real = (sim.collective("all_gather", 2 ** 32, c).bus_bandwidth_bytes_per_s
                  for c in (_at(H100X8, 1.0), H100X8))
    assert real == pytest.approx(0.8 * peak, rel=1e-3) and real <= NVLINK
