"""The illustrative example dataflows are real schedules of the exact cascade: the cascade's op counts as actions,
Einsum names as tags, every byte they move counted, never below the roofline; they refuse what they cannot run and
stay out of explore's default set."""
import math

import numpy as np
import pytest

import accel
import sim
import workloads
from sim.dataflows import examples
from sim.ir.mapping import MappingError

FUSEMAX = accel.preset("fusemax")
NAMES = examples.EXAMPLES


def mha(**kw):
    shape = dict(batch=1, heads=2, seq=2048, head_dim=64, softmax="1pass")
    shape.update(kw)
    return workloads.attention("mha", **shape)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arch_name", ["fusemax", "flat"])
@pytest.mark.parametrize("variant,shape", [("mha", {}), ("gqa", {"heads": 4, "kv_heads": 2}),
                                           ("mha", {"seq": 1000, "head_dim": 32})])
def test_exact_actions_tags_bytes_and_never_below_the_roofline(name, arch_name, variant, shape):
    arch = accel.preset(arch_name)
    c = workloads.attention(variant, **{**dict(batch=1, heads=2, seq=2048, head_dim=64, softmax="1pass"), **shape})
    r = sim.evaluate(c, arch, name)
    counts = workloads.total_ops(c)
    by_op: dict[str, float] = {}
    for key, n in sim.dataflow(name).lower(c, arch, r.mapping).actions.items():
        by_op[key.split(".")[1]] = by_op.get(key.split(".")[1], 0) + n
    assert by_op == counts
    assert set(r.per_einsum) == {e.name for e in c.einsums} and set(r.phases) == {"load", "store"}
    roof = sim.roofline(c, arch)
    assert r.latency_s >= roof.lower_bound_s and r.dram_bytes >= workloads.compulsory_bytes(c)
    assert 0 < max(r.utilization.values()) <= 1


def test_dram_bytes_are_q_and_output_once_and_k_v_per_query_block():
    """Per head, each of the M / q_block query blocks reads the whole K and V once; Q and the output move once."""
    c = mha()
    r = sim.evaluate(c, FUSEMAX, "example-pipelined", constraints={"q_block": 512})
    q = o = 2 * 2048 * 64 * 2
    kv_per_block = 2 * 2048 * 64 * 2                     # K and V of one head
    assert r.dram_bytes == pytest.approx(q + o + 2 * (2048 // 512) * kv_per_block)
    assert r.mapping.params == {"q_block": 512}


def test_pipelined_overlaps_what_serial_serializes():
    c = mha()
    serial, pipelined = (sim.evaluate(c, FUSEMAX, n) for n in NAMES)
    assert pipelined.latency_s < serial.latency_s
    assert serial.energy_j == pytest.approx(pipelined.energy_j)      # the same work and bytes
    # Serial: no two units ever overlap, so the makespan is at least the sum of their busy time.
    busy = sum(serial.run.busy_ticks) / serial.run.ticks_per_cycle
    assert serial.cycles >= busy


def test_refusals_name_the_reason():
    reasons = {n: sim.dataflow(n).supports for n in NAMES}
    for supports in reasons.values():
        assert "1-pass" in supports(mha(softmax="3pass"), FUSEMAX)
        assert "mask" in supports(mha(causal=True), FUSEMAX)
        assert "L2 of h100" in supports(mha(), accel.preset("h100"))
        assert "key tiles" in supports(mha(seq=2 ** 26, key_tile=64), FUSEMAX)
        assert "can run op 'max'" in supports(mha(), accel.systolic(16, 16, dram_bytes_per_s=1e11))  # GEMM only


def test_plan_refuses_unknown_and_bad_pins_and_buffers_too_small():
    df = sim.dataflow("example-pipelined")
    with pytest.raises(MappingError, match=r"unknown mapping parameter\(s\) \['q_tlie'\] \(valid: \['q_block'\]\)"):
        df.plan(mha(), FUSEMAX, {"q_tlie": 64})
    for bad in (0, -3, 2.5, True, "64"):
        with pytest.raises(MappingError, match="q_block must be a positive integer"):
            df.plan(mha(), FUSEMAX, {"q_block": bad})
    assert df.plan(mha(), FUSEMAX, {"q_block": np.int64(128)}).params == {"q_block": 128}
    small = accel.from_dict({**accel.to_dict(FUSEMAX), "levels": [
        accel.to_dict(FUSEMAX)["levels"][0], {**accel.to_dict(FUSEMAX)["levels"][1], "capacity_bytes": 150_000}]})
    with pytest.raises(MappingError, match=r"q_block=256 needs .* bytes of GlobalBuffer .* q_block ≤ \d+ fits"):
        df.plan(mha(), small, {})
    fits = df.plan(mha(), small, {"q_block": 64})
    assert fits.params == {"q_block": 64}


def test_explore_leaves_them_out_unless_named():
    c = mha(seq=1024)
    default = sim.explore(c, FUSEMAX, budget=8)
    assert not {x.dataflow for x in default.candidates} & set(NAMES)
    named = sim.explore(c, FUSEMAX, dataflows=["example-pipelined"], budget=8)
    tried = {x.params.get("q_block") for x in named.candidates if x.status == "ok"}
    assert named.best.dataflow == "example-pipelined" and len(tried) > 1
