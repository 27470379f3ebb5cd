"""FLAT is a search over its row blocks (Kao et al., ASPLOS 2023): the search happens once, in `sim.explore`, over
the space FLAT's registration carries; the plan's default is closed-form and never simulates."""
from __future__ import annotations

import pytest

import accel
import sim
import workloads
from sim.dataflows.spatial.flat import block_fit, row_blocks

# (heads, head dim) of the FuseMax grid's models (FuseMax, MICRO 2024, §VI).
MODELS = {"BERT": (12, 64), "XLM": (16, 128)}


def grid_point(model, seq):
    heads, dim = MODELS[model]
    return workloads.attention("mha", batch=64, heads=heads, seq=seq, head_dim=dim, softmax="3pass")


def fastest_fitting(c, arch):
    """The search FLAT's plan used to run itself: simulate every row block that fits, fastest wins, ties to the
    larger block; the finest block when none fits."""
    fits = [r for r in row_blocks(c, arch) if block_fit(c, arch, r)[0] == 0.0]
    if not fits:
        return row_blocks(c, arch)[0]
    timed = [(sim.evaluate(c, arch, "flat", constraints={"rows": r}).cycles, -r) for r in fits]
    return -min(timed)[1]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("seq", [1024, 4096, 16384, 65536])
def test_explore_is_flats_search(model, seq):
    """On the FuseMax grid the explored best row block is the one the old in-plan search picked."""
    c, arch = grid_point(model, seq), accel.preset("flat")
    x = sim.explore(c, arch, dataflows=["flat"])
    assert x.best.mapping.params["rows"] == fastest_fitting(c, arch)


@pytest.mark.parametrize("model,seq", [("BERT", 4096), ("XLM", 1024), ("XLM", 4096)])
def test_closed_form_default(model, seq):
    """The default is the largest block that fits. Q, K and V bypass the buffer (streamed per key tile and per
    256-row sub-block), so every fitting block moves the same DRAM bytes and runs within 10^-4 of the search's pick
    (which differs only by pipeline edges: a few hundred cycles in 10^7)."""
    c, arch = grid_point(model, seq), accel.preset("flat")
    default = sim.dataflow("flat").plan(c, arch, {}).params["rows"]
    assert default == max(r for r in row_blocks(c, arch) if block_fit(c, arch, r)[0] == 0.0)
    best, plain = (sim.evaluate(c, arch, "flat", constraints={"rows": r}) for r in (fastest_fitting(c, arch), default))
    assert plain.cycles == pytest.approx(best.cycles, rel=1e-4)
    assert plain.dram_bytes == best.dram_bytes


def test_qkv_bypass_the_buffer_and_scores_touch_it_seven_times():
    """FLAT as the FuseMax artifact maps it: per score the buffer is written three times (QK, SN, A) and read four
    (the max, SN, the divide, AV); Q is streamed from DRAM once per key tile and K and V once per 256-row sub-block,
    bypassing the buffer; the output leaves from the array."""
    s, e = 1024, 64
    c = workloads.attention("mha", batch=1, heads=2, seq=s, head_dim=e, softmax="3pass")
    r = sim.evaluate(c, accel.preset("flat"), "flat")
    scores = 2 * s * s * 2   # bytes of one score matrix per (b, h) pair, two heads
    assert r.bytes_per_level["GlobalBuffer.write"] == 3 * scores
    assert r.bytes_per_level["GlobalBuffer.read"] == 4 * scores
    streamed = 2 * 3 * s * e * 2 * (s // 256)   # Q, K, V of two heads, each re-streamed s/256 times
    assert r.bytes_per_level["DRAM.read"] == streamed
    assert r.bytes_per_level["DRAM.write"] == 2 * s * e * 2


def test_space_is_the_blocks_that_fit():
    """FLAT's legal tilings are the fused blocks that fit; when none does, the finest block (it spills least)."""
    arch = accel.preset("flat")
    short, long = grid_point("BERT", 4096), grid_point("BERT", 2 ** 18)
    assert sim.dataflow("flat").space(short, arch) == {"rows": (256, 512, 1024)}
    assert sim.dataflow("flat").space(long, arch) == {"rows": (256,)}
    assert sim.dataflow("unfused").space(short, arch)["rows"] == row_blocks(short, arch)


def test_granularity_is_derived():
    """Head granularity (rows = M) at 1K, row granularity at 16K; said in the notes, not a param."""
    arch = accel.preset("flat")
    assert sim.evaluate(grid_point("BERT", 1024), arch, "flat").notes[0].startswith("head granularity")
    assert sim.evaluate(grid_point("BERT", 16384), arch, "flat").notes[0].startswith("row granularity")
