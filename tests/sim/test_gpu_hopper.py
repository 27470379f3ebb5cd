"""FlashAttention-3's head-dim structure: its tiles and warpgroups per head dim, the register budget its producer
leaves, spills beyond it, intra-warpgroup pipelining, the longest-first scheduler, and what each mechanism adds
(sim.dataflows.gpu.breakdown)."""
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import breakdown, hopper, machine, programs
from sim.dataflows.gpu.costs import register_demand, spill_bytes, unit_shape
from sim.dataflows.gpu.shape import attention

H100 = accel.preset("h100")


def mha(d=128, seq=4096, causal=False, **kw):
    return workloads.attention("mha", batch=kw.pop("batch", 1), heads=kw.pop("heads", 2048 // d), seq=seq,
                               head_dim=d, causal=causal, **kw)


@pytest.mark.parametrize("d,causal,tiles,groups", [(64, False, (192, 128), 3), (128, False, (128, 176), 2),
                                                   (128, True, (128, 128), 2), (256, False, (128, 80), 2)])
def test_fa3_tiles_and_warpgroups_per_head_dim(d, causal, tiles, groups):
    """FA3's forward tiles (tile_size_fwd_sm90), one consumer warpgroup per 64 rows."""
    r = sim.evaluate(mha(d, causal=causal), H100, dataflow="flash3")
    assert (r.mapping.params["q_tile"], r.mapping.params["kv_tile"]) == tiles
    assert f"{groups} consumer warpgroups" in r.notes[0]


def test_the_producer_leaves_fa3s_register_budgets():
    """setmaxnreg: 240 registers per consumer thread with two consumer warpgroups, 160 with three."""
    sm = machine.sm_rates(H100)
    assert hopper.consumer_registers(sm, 2) == 240 and hopper.consumer_registers(sm, 3) == 160


@pytest.mark.parametrize("d", [64, 128, 256])
def test_default_tiles_fit_their_registers_and_bigger_ones_spill(d):
    """O, S and P of FA3's default tiles fit the budget (no local memory); a 128-key tile at head dim 256 does
    not, and its spills are stored and reloaded every iteration."""
    a = attention(mha(d))
    q, kv = hopper.default_tiles(a)
    kern = hopper.fa3_kernel(q, machine.sm_rates(H100))
    assert register_demand(a, kern, kv) <= kern.registers
    assert spill_bytes(a, kern, unit_shape(a, kern, q, kv)) == 0
    if d == 256:
        assert spill_bytes(a, kern, unit_shape(a, kern, 128, 128)) > 0


def test_q_tiles_are_whole_warpgroups():
    """A Q tile that does not split into 64-row warpgroups is refused."""
    with pytest.raises(sim.MappingError, match="multiple of 64"):
        sim.evaluate(mha(), H100, dataflow="flash3", constraints={"q_tile": 96})


def test_pipelining_and_tiles_speed_up_head_dim_64():
    """At head dim 64 the exp is as long as the GEMMs: intra-warpgroup pipelining and a third warpgroup hide more
    of it, so both mechanisms save time; the register budget costs nothing at FA3's own tiles."""
    r = breakdown.contributions(mha(64, seq=16384), H100, "flash3")
    assert r["adds"]["intra_warpgroup"] < 0 and r["adds"]["tiles"] < 0 and r["adds"]["registers"] == 0
    assert set(r["adds"]) == set(breakdown.FA3_MECHANISMS) and r["busy"]["sfu"] > 0.5


def test_longest_first_balances_causal_work():
    """Causal Q tiles differ in work: handing out the longest first does not lose time, and helps the lopsided
    grid of head dim 256 at 16K."""
    r = breakdown.contributions(mha(256, seq=16384, causal=True, heads=8), H100, "flash3")
    assert r["adds"]["scheduler"] < -0.05


def test_pipelined_layouts_agree(monkeypatch):
    """With intra-warpgroup pipelining a looped KV segment drops one dependency at its first iteration: listing
    CTAs as separate segments stays within 1% of the unrolled body."""
    c = mha(128, seq=2048, heads=8)
    default = sim.evaluate(c, H100, dataflow="flash3")
    monkeypatch.setattr(programs, "MAX_UNROLLED_OPS", 0)
    separate = sim.evaluate(c, H100, dataflow="flash3")
    assert len(separate.run.segments) > len(default.run.segments)
    assert separate.latency_s == pytest.approx(default.latency_s, rel=1e-2)


def test_breakdown_of_kernels_without_switches_reports_occupancy():
    """flash2 and cudnn have no switchable mechanisms: their occupancy is reported; unsupported requests raise."""
    r = breakdown.contributions(mha(128), H100, "cudnn")
    assert r["adds"] == {} and 0 < r["busy"]["tensor"] <= 1
    with pytest.raises(sim.MappingError, match="cannot run"):
        breakdown.contributions(mha(128), accel.preset("a100"), "flash3")


def test_exp_overlap_is_worth_most_at_head_dim_64():
    """The what-if with no exp overlap (each exp takes the tensor pipe's turn) is never faster, and what the hiding
    is worth shrinks with the head dim, as the exp's share of the work does (1/D)."""
    worth = [breakdown.contributions(mha(d, seq=8192), H100, "flash3")["adds"]["exp_overlap"] for d in (64, 128, 256)]
    assert all(w < 0 for w in worth) and worth[0] < worth[1] < worth[2]
