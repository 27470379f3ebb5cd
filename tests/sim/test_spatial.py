"""Spatial attention dataflows: every one respects the roofline bound, reports busy ≤ total, lowers exactly the
cascade's work, agrees with the SimPy reference, and extrapolates exactly; FuseMax's query-block rule; FLAT's block
fit."""
from __future__ import annotations

import math

import pytest

import accel
import sim
import workloads
from sim.engine.scheduler import simulate
from sim.engine.reference import simulate_reference
from sim.dataflows.spatial.flat import block_fit

# dataflow → (softmax cascade, hardware preset) as in the FuseMax ablation.
SPATIAL = {"unfused": ("3pass", "flat"), "flat": ("3pass", "flat"), "fusemax-cascade": ("1pass", "flat"),
           "fusemax-arch": ("1pass", "fusemax"), "fusemax": ("1pass", "fusemax")}


def case(df: str, batch: int = 1, heads: int = 2, seq: int = 512, head_dim: int = 64):
    softmax, hw = SPATIAL[df]
    return workloads.attention("mha", batch=batch, heads=heads, seq=seq, head_dim=head_dim, softmax=softmax), \
        accel.preset(hw)


def test_every_spatial_dataflow_is_registered():
    """The five attention dataflows of the FuseMax evaluation are in the registry."""
    for name in SPATIAL:
        assert sim.dataflow(name).name == name


@pytest.mark.parametrize("df", SPATIAL)
@pytest.mark.parametrize("seq,head_dim", [(512, 64), (2048, 64), (1024, 128)])
def test_bound_and_busy(df, seq, head_dim):
    """Engine latency ≥ the roofline lower bound for the mapping's binding; busy ≤ total per unit."""
    c, a = case(df, seq=seq, head_dim=head_dim)
    r = sim.evaluate(c, a, dataflow=df)
    bound = sim.roofline(c, a, binding=r.mapping.binding)
    assert r.latency_s >= bound.lower_bound_s * (1 - 1e-12)
    assert all(0.0 <= u <= 1.0 for u in r.utilization.values())
    assert (r.run.busy_ticks <= r.run.ticks).all()


def _slots(u, op: str, n: float, fused: bool) -> float:
    """Op slots of n ops on unit u; without the exp unit's pipelined subtract a free `sub` costs an add."""
    rate = accel.op_rate(u, op)
    if op == "sub" and math.isinf(rate) and not fused:
        rate = accel.op_rate(u, "add")
    return 0.0 if math.isinf(rate) else n / rate


@pytest.mark.parametrize("df,pins", [(df, {}) for df in SPATIAL] + [("fusemax-cascade", {"exp_of_difference": True})])
def test_lowered_work_equals_cascade(df, pins):
    """Busy cycles per Einsum on its unit equal the cascade's exact op counts over the unit's PEs and rates
    (all tiles are full here) — on FLAT's 1D array +Cascade's SLN and PRM also issue their subtraction, unless the
    exp unit's pipeline takes it — and the energy actions are the cascade's op counts."""
    c, a = case(df, batch=2, seq=1024)
    r = sim.evaluate(c, a, dataflow=df, constraints=pins)
    fused = r.mapping.params.get("exp_of_difference", True)
    counts = workloads.op_counts(c)
    for e, ops in counts.items():
        u = accel.unit(a, r.mapping.binding[e])
        work = sum(_slots(u, op, n, fused) for op, n in ops.items())
        assert r.per_einsum[e][u.name] == pytest.approx(work / accel.pe_count(a, u), rel=1e-12), e
    lowered = sim.dataflow(df).lower(c, a, r.mapping)
    for e, ops in counts.items():
        for op, n in ops.items():
            assert lowered.actions[f"{r.mapping.binding[e]}.{op}"] >= n
    total = {k: v for k, v in lowered.actions.items() if "register" not in k}
    assert sum(total.values()) == sum(n for ops in counts.values() for n in ops.values())


@pytest.mark.parametrize("df", SPATIAL)
def test_reference_equals_engine(df):
    """The SimPy reference and the Numba engine give the same cycles and busy time on a small attention."""
    c, a = case(df, seq=512)
    df_ = sim.dataflow(df)
    prog = df_.lower(c, a, df_.plan(c, a, {})).program
    fast, slow = simulate(prog, extrapolate=False), simulate_reference(prog)
    assert fast.ticks == slow.ticks
    assert fast.busy_ticks.tolist() == slow.busy_ticks.tolist()


@pytest.mark.parametrize("df", SPATIAL)
def test_extrapolation_is_exact(df):
    """Periodic extrapolation over query blocks equals the full simulation on a mid-sized case."""
    c, a = case(df, batch=2, heads=4, seq=4096)
    df_ = sim.dataflow(df)
    prog = df_.lower(c, a, df_.plan(c, a, {})).program
    fast, full = simulate(prog), simulate(prog, extrapolate=False)
    assert fast.ticks == full.ticks
    assert fast.ops_simulated < full.ops_simulated or len(prog.segments) > 1


def test_query_block_rule():
    """FuseMax's M1: avail = 16 MiB − 256·(E+F)·2, 260 bytes per query row, 256 rows per subtile → 251,
    rounded down to a factor of M/256 (4096 at 1M tokens) → 128."""
    c = workloads.attention("mha", batch=1, heads=1, seq=2 ** 20, head_dim=64)
    assert sim.dataflows.spatial.attention.query_block(c, accel.preset("fusemax"), 256, 256) == 128


def test_fusemax_balances_the_arrays():
    """Full interleaving keeps both arrays nearly always busy at long sequences; one-tile-at-a-time does not."""
    c, a = case("fusemax", batch=1, heads=2, seq=16384)
    full = sim.evaluate(c, a, dataflow="fusemax")
    arch = sim.evaluate(c, a, dataflow="fusemax-arch")
    assert full.utilization["2d"] > 0.9 and full.utilization["1d"] > 0.9
    assert arch.cycles > 2 * full.cycles


def test_flat_spills_only_when_a_block_does_not_fit():
    """FLAT's default fuses without spilling at 4K (the largest block that fits); at 256K no 256-row block of scores
    fits in 32 MiB, so the finest block is chosen and most of its scores spill (said in the notes)."""
    short_c, arch = case("flat", seq=4096)
    long_c, _ = case("flat", seq=2 ** 18)
    short, long = sim.dataflow("flat").plan(short_c, arch, {}), sim.dataflow("flat").plan(long_c, arch, {})
    assert short.params["rows"] == 1024 and block_fit(short_c, arch, 1024)[0] == 0.0
    assert block_fit(short_c, arch, 2048)[0] > 0.0
    assert long.params["rows"] == 256 and block_fit(long_c, arch, 256)[0] > 0.5
    assert "spilled fraction 0.876" in sim.evaluate(long_c, arch, mapping=long).notes[0]
