"""Every plot function draws a PNG of a sensible size from small inputs; the pure helpers (roofs, ridges, steady
window, busy fraction) compute what they say."""
import math
import struct

import numpy as np
import pytest

import accel
import sim
import workloads
from sim.ir.options import Options
from sim.report import plots
from sim.report.plots import timeline


def png_size(path):
    """(width, height) from the PNG header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def assert_png(path, min_wh=(300, 200), max_wh=(2200, 1600), max_bytes=400_000):
    w, h = png_size(path)
    assert min_wh[0] <= w <= max_wh[0] and min_wh[1] <= h <= max_wh[1], (path.name, w, h)
    assert path.stat().st_size <= max_bytes, (path.name, path.stat().st_size)


FULL_TRACE = Options(trace=True, extrapolate=False)


@pytest.fixture(scope="module")
def tiny():
    return workloads.attention("mha", batch=1, heads=2, seq=1024, head_dim=64, softmax="1pass")


@pytest.fixture(scope="module")
def results(tiny):
    """The two illustrative example dataflows on FuseMax, the pipelined one traced in full."""
    arch = accel.preset("fusemax")
    return {"example-serial": sim.evaluate(tiny, arch, "example-serial"),
            "example-pipelined": sim.evaluate(tiny, arch, "example-pipelined", options=FULL_TRACE)}


def test_roofs_have_a_compute_roof_per_unit_and_a_memory_roof_per_level():
    """H100: tensor/fma/sfu compute roofs, HBM/L2/SMEM memory roofs, plus the measured tensor and HBM ceilings."""
    h100 = accel.preset("h100")
    rs = plots.roofs(h100)
    assert {r.name.split(" ")[0] for r in rs if r.kind == "compute" and not r.measured} == {"tensor", "fma", "sfu"}
    assert {r.name for r in rs if r.kind == "memory" and not r.measured} == {"HBM", "L2", "SMEM"}
    measured = {(r.kind, r.name.split(" ")[0]): r.value for r in rs if r.measured}
    assert measured == {("compute", "tensor"): 798e12, ("memory", "HBM"): 3.0e12}
    tensor = next(r for r in rs if r.name.startswith("tensor") and not r.measured)
    assert tensor.value == pytest.approx(2 * 2048 * 132 * 1.83e9)     # a MAC = 2 ops


def test_ridge_is_where_the_memory_roof_meets_the_top_compute_roof():
    fusemax = accel.preset("fusemax")
    (label, x, y), = plots.ridges(fusemax)
    peak = 2 * 256 * 256 * 940e6
    assert label == "DRAM" and y == pytest.approx(peak) and x == pytest.approx(peak / (400 * 2 ** 30))


def test_find_period_is_the_smallest_repeat_of_the_middle():
    assert timeline.find_period(np.array([9, 9] + [1, 2, 3] * 40 + [7]), periods=3) == 3
    assert timeline.find_period(np.arange(100), periods=3) is None
    assert timeline.find_period(np.array([4] * 50), periods=3) == 1


def test_steady_window_of_a_bandwidth_bound_pipeline_is_one_tile_load_per_period():
    """example-pipelined on FuseMax is DRAM-bound: within a query block the busiest unit repeats one K/V tile load,
    so a period is that load's duration (tile bytes over the DRAM bandwidth, in cycles); three in the window."""
    c = workloads.attention("mha", batch=1, heads=1, seq=8192, head_dim=64, softmax="1pass")
    arch = accel.preset("fusemax")
    r = sim.evaluate(c, arch, "example-pipelined", options=FULL_TRACE)
    kv_tile = 2 * 256 * 64 * 2                          # one K and one V tile of 256 keys × 64, fp16
    load = math.ceil(kv_tile * arch.clock_hz / arch.levels[0].bandwidth_bytes_per_s)
    w = plots.steady_window(r.run)
    assert r.busy["dram"] > r.busy["2d"]
    assert w.period == load and w.periods == 3 and w.end - w.start == 3 * load
    assert 0 < w.start < w.end <= r.run.ticks and "steady-state periods" in w.what


def test_steady_window_with_few_tiles_per_block_is_one_block_per_period(results):
    """With 4 key tiles per query block there is no repeat inside a block: a period is one block, the time between
    the starts of consecutive blocks' first ops."""
    run = results["example-pipelined"].run
    w = plots.steady_window(run)
    tr = run.trace
    first_ops = np.sort(tr.start[tr.op == 0])
    assert w.period == int(np.median(np.diff(first_ops))) and "one iteration each" in w.what


def test_steady_window_of_fusemax_lies_inside_one_block():
    """FuseMax (12 heads × 4K): the window is three repeats of the tile pipeline, far shorter than one query
    block, not a span of the whole run."""
    c = workloads.attention("mha", batch=1, heads=12, seq=4096, head_dim=64, softmax="1pass")
    r = sim.evaluate(c, accel.preset("fusemax"), "fusemax", options=FULL_TRACE)
    w = plots.steady_window(r.run)
    block = r.run.ticks / 12
    assert w.periods == 3 and 0 < w.period and w.end - w.start == 3 * w.period < block / 50
    assert "segment 'query block'" in w.what


def test_steady_window_without_a_trace_is_the_whole_run(results):
    r = results["example-serial"]
    assert plots.steady_window(r.run) == plots.Window(0, r.run.ticks)


def test_busy_fraction_integrates_to_each_units_busy_ticks(results):
    """The overview strip conserves busy time: Σ fraction × bin width = the engine's busy ticks per unit."""
    run = results["example-pipelined"].run
    edges, busy = plots.busy_fraction(run, bins=97)
    assert busy.shape == (len(run.units), 97) and busy.min() >= 0 and busy.max() <= 1
    np.testing.assert_allclose((busy * np.diff(edges)).sum(axis=1), run.busy_ticks, rtol=1e-9)


def test_extrapolated_spans_are_marked_only_when_the_engine_extrapolated(tiny):
    arch = accel.preset("fusemax")
    c = workloads.attention("mha", batch=1, heads=12, seq=4096, head_dim=64, softmax="1pass")
    partial = sim.evaluate(c, arch, "fusemax", trace=True).run
    spans = timeline._extrapolated(partial)
    assert len(spans) == 1 and spans[0][1] == partial.segment_end_ticks[0] and spans[0][0] < spans[0][1]
    assert timeline._extrapolated(sim.evaluate(c, arch, "fusemax", options=FULL_TRACE).run) == []


def test_roofline_plots(tmp_path, tiny, results):
    """Per-Einsum, per-kernel and per-variant points; the default job's two-panel figure still works."""
    arch = accel.preset("fusemax")
    roof = sim.roofline(tiny, arch)
    assert_png(plots.plot_roofline(arch, tmp_path / "a.png", roof=roof,
                                   results=[(r, roof.ops) for r in results.values()]))
    h100 = accel.preset("h100")
    variants = {"MHA prefill": sim.roofline(tiny, h100),
                "MHA decode": sim.roofline(workloads.attention("mha", batch=1, heads=2, seq=1, seq_kv=1024,
                                                               head_dim=64), h100)}
    assert_png(plots.plot_roofline(h100, tmp_path / "b.png", variants=variants))
    assert_png(plots.plot_rooflines([(roof, arch), (sim.roofline(tiny, h100), h100)], tmp_path / "c.png"),
               max_wh=(2200, 1000))


def test_kernel_point_is_ops_over_dram_bytes_at_the_simulated_rate(results):
    r = results["example-pipelined"]
    p = plots.kernel_point(r, 1000.0)
    assert p.intensity == pytest.approx(1000.0 / r.dram_bytes) and p.perf == pytest.approx(1000.0 / r.latency_s)


def test_utilization_plots(tmp_path, results):
    r = results["example-pipelined"]
    assert_png(plots.plot_timeline(r, tmp_path / "timeline.png"))
    assert_png(plots.plot_timeline(r.run, tmp_path / "timeline_window.png", window=(0, 500)))
    with pytest.raises(ValueError, match="trace=True"):
        plots.plot_timeline(results["example-serial"], tmp_path / "no.png")
    series = {"example-pipelined": [(512, r), (1024, {"2d": 0.5, "1d": 0.1, "dram": 0.9})],
              "example-serial": [(1024, results["example-serial"])]}
    assert_png(plots.plot_utilization_vs_seq(series, tmp_path / "util.png"))
    assert_png(plots.plot_einsum_share(results, tmp_path / "share.png"))
    assert_png(plots.plot_einsum_share(list(results.values()), tmp_path / "share1d.png", key="2d"))
    assert_png(plots.plot_stalls(results, tmp_path / "stalls.png"))


def test_stall_colours_follow_the_engines_causes():
    assert list(plots.stall_colors()) == list(sim.ir.STALL_CAUSES)


def test_comparison_plots(tmp_path, results):
    assert_png(plots.plot_speedup_energy(results, "example-serial", tmp_path / "speedup.png"))
    with pytest.raises(ValueError, match="baseline 'nope'"):
        plots.plot_speedup_energy(results, "nope", tmp_path / "x.png")
    measured = np.array([1.0, 2.0, 4.0, 8.0]) * 1e-3
    simulated = measured * np.array([1.05, 0.9, 1.2, 1.0])
    assert_png(plots.plot_sim_vs_measured(measured, simulated, tmp_path / "scatter.png",
                                          groups=["flash", "flash", "math", "math"], labels=list("abcd")))
    with pytest.raises(ValueError, match="equal-length"):
        plots.plot_sim_vs_measured([1.0], [1.0, 2.0], tmp_path / "x.png")
    assert_png(plots.plot_speedup_bars(["GQA/MHA", "causal"], [1.5, 1.9], [1.4, float("nan")],
                                       tmp_path / "bars.png"))
    assert_png(plots.plot_speedup_bars(["a"], [2.0], None, tmp_path / "bars_sim_only.png"))
    rows = [{"dataflow": f"d{i}", "latency_s": 1e-3 * (1 + i), "energy_j": 1e-3 * (5 - i) ** 2,
             "area_mm2": 10.0 + i % 3} for i in range(5)]
    assert_png(plots.plot_pareto(rows, tmp_path / "pareto.png"))
    assert_png(plots.plot_pareto(rows, tmp_path / "pareto2d.png", area=None))
