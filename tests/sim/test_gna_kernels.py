"""The gna dataflow as NATTEN runs it: which problems permute (and how many bytes), which tiles pay the element
mask, NATTEN's tile shapes and tile model, and what each mechanism adds on the reference problems."""
import math

import pytest

import accel
import sim
import workloads
from sim.bounds import gna_tiles
from sim.dataflows.gpu import gna
from sim.dataflows.gpu.machine import sm_rates
from sim.engine import simulate
from sim.evaluation import kernel_seconds

H100, A100 = accel.preset("h100"), accel.preset("a100")
FLUX = dict(spatial=(256, 256), window=(80, 80))
HUNYUAN = dict(spatial=(30, 48, 80), window=(18, 24, 24))


def case(stride=1, heads=4, head_dim=128, **layout):
    layout = layout or FLUX
    return workloads.attention("gna", batch=1, heads=heads, head_dim=head_dim, stride=stride, **layout)


def fmha_seconds(c, arch=H100, **how):
    mp = gna.plan(c, arch, {})
    low = gna.lower_with(c, arch, mp, **how)
    return kernel_seconds(low, simulate(low.program), "gna", arch.clock_hz)


@pytest.mark.parametrize("stride", [1, 256, 2048])
def test_one_d_layouts_run_no_permute(stride):
    """A 1-D layout without dilation is already tile-contiguous: the fmha kernel is the whole time."""
    c = workloads.attention("gna", batch=1, heads=4, spatial=(32768,), window=(2048,), stride=stride, head_dim=128)
    r = sim.evaluate(c, H100, dataflow="gna")
    assert list(r.kernels) == ["fmha"] and r.latency_s == pytest.approx(r.kernels["fmha"])


def test_multi_dimensional_and_dilated_layouts_permute_and_older_gpus_do_not():
    """2-D, 3-D and dilated 1-D layouts permute on Hopper; NATTEN's pre-Hopper FNA kernels never do."""
    for c in (case(), case(**HUNYUAN),
              workloads.attention("gna", batch=1, heads=2, spatial=(4096,), window=(64,), dilation=4, head_dim=64)):
        assert list(sim.evaluate(c, H100, dataflow="gna").kernels) == ["permute", "fmha", "unpermute"]
    assert list(sim.evaluate(case(), A100, dataflow="gna").kernels) == ["fmha"]


def test_permute_bytes_include_the_padding():
    """HunyuanVideo's 30 rows pad to 32 for (4, 4, 8) tiles: the permutes write the padded layout, the unpermutes
    read it (O and its fp32 log-sum-exp), each tensor its own launch."""
    c = case(**HUNYUAN, heads=2)
    mp = gna.plan(c, H100, {})
    n, padded = 115200, 32 * 48 * 80
    assert gna.padded_tokens(c.masks[0], mp.params["q_tile_shape"]) == padded
    low = gna.lower_with(c, H100, mp, masking="none")
    run = simulate(low.program)
    seconds = kernel_seconds(low, run, "gna", H100.clock_hz)
    sm = sm_rates(H100)
    eff = sim.dataflows.gpu.constants.CALIBRATED["STREAM_EFFICIENCY"]
    moved = 2 * 128 * 2 * 3 * (n + padded)                    # Q, K, V read once and written padded
    launch = H100.launch_overhead_s
    assert seconds["permute"] == pytest.approx(3 * launch + moved / (sm.hbm_total * H100.clock_hz * eff), rel=0.01)
    assert seconds["unpermute"] > 2 * launch


def test_only_problems_that_are_not_fully_block_sparse_mask_every_tile():
    """Stride-1 NA masks every visited tile (NATTEN's fast path is all or nothing), so its kernel costs more than
    with the generic mask on partial tiles only, which costs more than no mask; fully block-sparse GNA pays none."""
    na = [fmha_seconds(case(), masking=m)["fmha"] for m in ("none", "partial", "natten")]
    assert na[0] <= na[1] < na[2]
    gna16 = [fmha_seconds(case(stride=16), masking=m)["fmha"] for m in ("none", "partial", "natten")]
    assert gna16[0] == gna16[1] == gna16[2]


def test_masking_rule():
    """Which tiles NATTEN masks: all with the neighborhood mask unless fully block-sparse; a fully block-sparse
    layout with padded KV tiles masks only its padding; the 3-D mask costs more per score than the 2-D one."""
    sm = sm_rates(H100)
    tiles = {"q_tile_shape": (16, 8), "kv_tile_shape": (16, 8)}
    which, two_d = gna.masking_ops(case().masks[0], tiles, sm)
    assert which == "all" and gna.masking_ops(case(stride=16).masks[0], tiles, sm) == ("none", 0.0)
    padded = case(stride=(1, 16), spatial=(20, 256), window=(20, 80)).masks[0]   # 20 rows pad to 32
    assert gna.masking_ops(padded, tiles, sm) == ("all", gna.PADDED_MASK_OPS)
    _, three_d = gna.masking_ops(case(**HUNYUAN).masks[0], {"q_tile_shape": (4, 4, 8), "kv_tile_shape": (4, 4, 8)},
                                 sm)
    assert three_d > two_d > 2


@pytest.mark.parametrize("layout,head_dim,want", [
    ((256, 256), 64, ((8, 8), (16, 8))), ((256, 256), 128, ((16, 8), (16, 8))), ((256, 256), 256, ((16, 8), (8, 8))),
    ((32, 48, 80), 128, ((4, 4, 8), (4, 4, 8))), ((32, 48, 80), 64, ((4, 4, 4), (4, 4, 8))),
    ((32768,), 64, ((64,), (128,)))])
def test_default_tiles_follow_natten_per_head_dim(layout, head_dim, want):
    c = workloads.attention("gna", batch=1, heads=1, spatial=layout, window=tuple(8 for _ in layout),
                            head_dim=head_dim)
    p = sim.dataflow("gna").plan(c, H100, {}).params
    assert (p["q_tile_shape"], p["kv_tile_shape"]) == want
    assert sim.dataflow("gna").plan(c, A100, {}).params["q_tile_shape"] == gna.AMPERE_TILES[len(layout)][0]


def test_natten_tile_model_against_ours():
    """NATTEN's bound uses the unpadded dense sequence: equal to ours when the tiles divide the layout, lower when
    padding adds tiles; the window-aligned what-if visits no more tiles than the fixed grid."""
    flux, hy = case(), case(**HUNYUAN)
    assert gna_tiles.natten_speedup_bound(flux, (16, 8), (16, 8)) == pytest.approx(
        gna_tiles.gna_speedup_bound(flux, (16, 8), (16, 8)))
    ours = gna_tiles.gna_speedup_bound(hy, (4, 4, 8), (4, 4, 8))
    theirs = gna_tiles.natten_speedup_bound(hy, (4, 4, 8), (4, 4, 8))
    assert theirs == pytest.approx(ours * (115200 / 122880) ** 2)
    m = gna_tiles.neighborhood(hy)
    assert gna_tiles.tile_visits(m, (4, 4, 8), (4, 4, 8), aligned=False).visited.sum() <= \
        gna_tiles.tile_visits(m, (4, 4, 8), (4, 4, 8)).visited.sum()


def test_bad_mechanism_switch_is_refused():
    c = case()
    with pytest.raises(sim.MappingError, match="masking='some'"):
        gna.lower_with(c, H100, gna.plan(c, H100, {}), masking="some")


def test_results_stay_above_the_roofline():
    for c in (case(), case(stride=16), case(**HUNYUAN, heads=2)):
        r = sim.evaluate(c, H100, dataflow="gna")
        assert r.latency_s >= sim.roofline(c, H100).lower_bound_s
        assert math.isclose(sum(r.kernels.values()), r.latency_s, rel_tol=1e-6)
