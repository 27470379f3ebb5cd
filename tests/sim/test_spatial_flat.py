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


@pytest.mark.parametrize("model,seq,searched", [("BERT", 4096, 1024), ("XLM", 1024, 512), ("XLM", 4096, 512)])
def test_closed_form_default(model, seq, searched):
    """The default is the largest block that fits. It equals the search's pick except at XLM 1K/4K (E = 128), where
    512-row blocks are 31 cycles faster (2·10^-6) and 1024-row blocks move a third less DRAM traffic."""
    c, arch = grid_point(model, seq), accel.preset("flat")
    default = sim.dataflow("flat").plan(c, arch, {}).params["rows"]
    assert default == max(r for r in row_blocks(c, arch) if block_fit(c, arch, r)[0] == 0.0)
    assert fastest_fitting(c, arch) == searched
    best, plain = (sim.evaluate(c, arch, "flat", constraints={"rows": r}) for r in (searched, default))
    assert plain.cycles == pytest.approx(best.cycles, rel=1e-5)
    if default != searched:
        assert plain.dram_bytes < best.dram_bytes


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
