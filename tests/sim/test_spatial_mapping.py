"""Spatial attention dataflows: plans that only plan, mapping choices apart from hardware facts and simulation
options, the key tile as a mapping choice, utilization as useful work over capacity, and pins refused by name."""
from __future__ import annotations

import pytest

import accel
import sim
import workloads
from sim.ir.mapping import MappingError
from sim.ir.options import Options

ATTENTION = {"unfused": ("3pass", "flat"), "flat": ("3pass", "flat"), "fusemax-cascade": ("1pass", "flat"),
             "fusemax-arch": ("1pass", "fusemax"), "fusemax": ("1pass", "fusemax")}
CHOICES = {"unfused": {"rows"}, "flat": {"rows"}, "fusemax-cascade": {"P0", "M1", "lookahead", "exp_of_difference"},
           "fusemax-arch": {"P0", "M1"}, "fusemax": {"P0", "M1", "lookahead"}}


def case(df, seq=4096, **shape):
    softmax, hw = ATTENTION[df]
    params = dict(batch=1, heads=2, seq=seq, head_dim=64, softmax=softmax)
    params.update(shape)
    return workloads.attention("mha", **params), accel.preset(hw)


def variant(preset, *, rows=None, cols=None, buffer=None, fill_drain=None, name=None):
    """A copy of a spatial preset with another 2D array, buffer or fill/drain."""
    d = accel.to_dict(accel.preset(preset))
    d["name"] = name or f"{preset}_variant"
    two, one = d["units"][0], d["units"][1]
    if rows or cols:
        two["pes"] = [rows or two["pes"][0], cols or two["pes"][1]]
        one["pes"] = [cols or one["pes"][0]]
    if buffer is not None:
        d["levels"][1]["capacity_bytes"] = buffer
    if fill_drain is not None:
        two["fill_drain_cycles"] = fill_drain
    return accel.from_dict(d)


@pytest.mark.parametrize("df", ATTENTION)
def test_params_are_mapping_choices_only(df):
    """A plan's params are exactly the dataflow's mapping choices, the same keys its search space names; the
    derived numbers (P1, M2, spill, granularity) are in the loop nests or the result's notes."""
    c, a = case(df)
    m = sim.dataflow(df).plan(c, a, {})
    assert set(m.params) == CHOICES[df]
    assert set(sim.dataflow(df).space(c, a)) == CHOICES[df]
    loops = {loop.rank for g in m.groups for nest in g.nests for loop in nest.loops}
    assert {"M2", "P1"} <= loops


@pytest.mark.parametrize("df", ATTENTION)
def test_plan_never_simulates(df, monkeypatch):
    """Planning (and asking for the space) runs no simulation: the engine is not called."""
    import sim.engine.scheduler as scheduler

    def refuse(*args, **kwargs):
        raise AssertionError("plan simulated")

    entry_points = [n for n in dir(scheduler)
                    if ("simulat" in n or "schedule" in n) and callable(getattr(scheduler, n))]
    assert "simulate" in entry_points
    for name in entry_points:
        monkeypatch.setattr(scheduler, name, refuse)
    c, a = case(df, seq=2 ** 16)
    sim.dataflow(df).plan(c, a, {})
    sim.dataflow(df).space(c, a)


@pytest.mark.parametrize("df", ATTENTION)
def test_result_mapping_is_what_was_simulated(df):
    """Evaluating the result's own mapping gives the same run; DRAM utilization is its bytes over bandwidth × time."""
    c, a = case(df)
    r = sim.evaluate(c, a, dataflow=df)
    again = sim.evaluate(c, a, mapping=r.mapping)
    assert again.cycles == r.cycles and again.mapping == r.mapping
    dram = a.levels[0]
    assert r.utilization["dram"] == pytest.approx(r.dram_bytes / (dram.bandwidth_bytes_per_s * r.latency_s))


@pytest.mark.parametrize("df", ATTENTION)
@pytest.mark.parametrize("pins,fragment", [
    ({"q_tlie": 64}, "unknown mapping parameter 'q_tlie'"),
    ({"fill_drain": 0}, "hardware fact"),
    ({"group": 4}, "Options(tile_group"),
    ({"spill": 0.0}, "derived"),
])
def test_unknown_pins_are_refused_by_name(df, pins, fragment):
    """A pin that is not a mapping choice is refused, naming it and the valid ones (and where a former one went)."""
    c, a = case(df)
    with pytest.raises(MappingError, match="valid: ") as err:
        sim.evaluate(c, a, dataflow=df, constraints=pins)
    assert fragment in str(err.value)


@pytest.mark.parametrize("df,pins,fragment", [
    ("fusemax", {"M1": 0}, "M1=0 must be ≥ 1"),
    ("fusemax", {"M1": 3}, "must divide M/M0 = 16"),
    ("fusemax", {"P0": 0}, "P0=0 must be ≥ 1"),
    ("fusemax", {"P0": 100}, "P0=100 must divide P=4096"),
    ("fusemax", {"P0": 512}, "do not fit down the 2D array's 256 rows"),
    ("fusemax", {"lookahead": True}, "must be an integer"),
    ("fusemax-arch", {"lookahead": 2}, "valid: P0, M1"),
    ("flat", {"rows": 0}, "rows=0 must be ≥ 1"),
    ("flat", {"rows": 300}, "not a legal row block"),
    ("unfused", {"rows": 4.0}, "must be an integer"),
])
def test_invalid_pins_are_refused(df, pins, fragment):
    c, a = case(df)
    with pytest.raises(MappingError) as err:
        sim.evaluate(c, a, dataflow=df, constraints=pins)
    assert fragment in str(err.value)


def test_numpy_integer_pins_are_accepted():
    import numpy as np

    c, a = case("fusemax")
    assert sim.evaluate(c, a, "fusemax", constraints={"M1": np.int64(8)}).mapping.params["M1"] == 8


def test_a_64_key_tile_uses_a_quarter_of_a_256_row_array():
    """13.4: a 64-key tile on FuseMax's 256×256 array keeps at most 64 of 256 rows busy, so 2D utilization (useful
    work ÷ PEs × cycles) is ≤ 25% — the old occupancy said 99.1% — and the 256-key tile is about 4× faster."""
    c = workloads.attention("mha", batch=1, heads=12, seq=4096, head_dim=64, key_tile=64)
    arch = accel.preset("fusemax")
    small = sim.evaluate(c, arch, "fusemax", constraints={"P0": 64})
    assert small.mapping.params["P0"] == 64
    assert small.utilization["2d"] <= 0.25
    full = sim.evaluate(c, arch, "fusemax")
    assert full.mapping.params["P0"] == 256 and full.utilization["2d"] > 0.9
    assert small.latency_s > 3.5 * full.latency_s


def test_key_tile_defaults_to_the_array_and_the_result_says_which_was_simulated():
    """The cascade's own key tile is a tiling, not the workload: the plan re-splits it to the array height and
    the notes say so; the actions are the re-split cascade's (the per-tile Einsums count one point per key tile)."""
    c64 = workloads.attention("mha", batch=1, heads=2, seq=4096, head_dim=64, key_tile=64)
    arch = accel.preset("fusemax")
    r = sim.evaluate(c64, arch, "fusemax")
    assert r.mapping.params["P0"] == 256
    assert "key tile P0=256 (the cascade's P0=64 re-split)" in r.notes[0]
    c256 = workloads.retile(c64, "P0", 256)
    lowered = sim.dataflow("fusemax").lower(c64, arch, r.mapping)
    assert lowered.actions["1d.max"] == workloads.op_counts(c256)["RM"]["max"]
    assert workloads.op_counts(c256)["RM"]["max"] * 4 == workloads.op_counts(c64)["RM"]["max"]
    assert r.cycles == sim.evaluate(c256, arch, "fusemax").cycles


def test_larger_arrays_get_larger_key_tiles():
    """A sweep over array sizes is not starved by the cascade's 256-key tile: a 512×512 array defaults to P0 = 512
    and is faster than with the 256-key tile; the space offers P0 from the array height down."""
    c = workloads.attention("mha", batch=1, heads=2, seq=8192, head_dim=64)
    big = variant("fusemax", rows=512, cols=512, buffer=32 * 2 ** 20)
    r = sim.evaluate(c, big, "fusemax")
    assert r.mapping.params["P0"] == 512
    assert r.latency_s < sim.evaluate(c, big, "fusemax", constraints={"P0": 256}).latency_s
    assert sim.dataflow("fusemax").space(c, big)["P0"] == (64, 128, 256, 512)


def test_explore_searches_the_key_tile():
    """explore over fusemax's own space finds the array-height key tile on a 512-row array."""
    c = workloads.attention("mha", batch=1, heads=2, seq=8192, head_dim=64)
    big = variant("fusemax", rows=512, cols=512, buffer=32 * 2 ** 20)
    x = sim.explore(c, big, dataflows=["fusemax"])
    assert x.best.mapping.params["P0"] == 512


def test_fill_drain_is_the_arch_fact():
    """The 2D fill/drain comes from the arch (`Unit.fill_drain_cycles`): one-tile-at-a-time (+Architecture) exposes
    it per tile, so removing it speeds fusemax-arch up; the interleaved fusemax hides it, so it moves by < 1% (its
    default lookahead, sized to hide the fill, is shorter without one)."""
    c = workloads.attention("mha", batch=1, heads=2, seq=4096, head_dim=64)
    base, no_fill = accel.preset("fusemax"), variant("fusemax", fill_drain=0)
    arch_base, arch_free = (sim.evaluate(c, a, "fusemax-arch").cycles for a in (base, no_fill))
    assert arch_free < 0.7 * arch_base
    full_base, full_free = (sim.evaluate(c, a, "fusemax").cycles for a in (base, no_fill))
    assert full_free == pytest.approx(full_base, rel=0.01)


@pytest.mark.parametrize("df", ATTENTION)
def test_tile_group_is_a_simulation_option(df):
    """Options.tile_group changes only the simulation's grouping of tiles (the first fill of a block): simulating
    every tile alone agrees with the automatic grouping within 1%; an invalid group is refused by name."""
    c, a = case(df, seq=16384)
    auto = sim.evaluate(c, a, df)
    fine = sim.evaluate(c, a, df, options=Options(tile_group=1))
    assert fine.mapping == auto.mapping
    assert fine.cycles == pytest.approx(auto.cycles, rel=0.01)
    assert fine.energy_j == pytest.approx(auto.energy_j, rel=1e-9)
    with pytest.raises(MappingError, match="Options.tile_group=3"):
        sim.evaluate(c, a, df, options=Options(tile_group=3))


@pytest.mark.parametrize("df", ATTENTION)
def test_lengths_that_do_not_divide_the_array_take_divisor_tiles(df):
    """seq = 300 (once refused: 'must be multiples of the tile') runs with 150-row and 150-key tiles, the largest
    divisors of 300 that fit the 256-wide array, at or above its roofline and with the cascade's exact MACs."""
    c, a = case(df, seq=300)
    r = sim.evaluate(c, a, df)
    assert r.latency_s >= sim.roofline(c, a, binding=r.mapping.binding).lower_bound_s * (1 - 1e-12)
    if "P0" in r.mapping.params:
        assert r.mapping.params["P0"] == 150
    macs = sum(ops.get("mac", 0) for ops in workloads.op_counts(workloads.retile(c, "P0", 150) if "P0" in c.sizes
                                                                else c).values())
    assert sim.dataflow(df).lower(c, a, r.mapping).actions["2d.mac"] == macs
