"""sim.sweep: explore over workload × architecture grids, architecture variants, area, Pareto fronts, executors."""
import pytest

import accel
import sim
import workloads
from sim.bounds.area import SRAM_UM2_PER_BYTE, area_mm2
from sim.search.exploration import TextBar
from sim.search.sweeps import front

from test_explore import TOY  # noqa: F401  (registers the toy dataflow)


def grid():
    ws = {f"mha{s}": workloads.attention("mha", batch=1, heads=2, seq=s, head_dim=64) for s in (1024, 4096)}
    archs = sim.arch_variants(accel.preset("fusemax"), array=[128, 256], buffer_bytes=[1 << 20, 16 << 20])
    return ws, archs


def test_arch_variants_build_valid_named_archs():
    """Aliases and field paths change the spec; names say what changed; bad axes raise naming the axis."""
    base = accel.preset("fusemax")
    a, b = sim.arch_variants(base, {"GlobalBuffer.capacity_bytes": [1 << 20]}, array=[(128, 64), 512])
    assert a.name == "fusemax/GlobalBuffer.capacity_bytes=1048576/array=128x64"
    assert accel.unit(a, "2d").pes == (128, 64) and accel.unit(a, "1d").pes == (64,)
    assert accel.unit(b, "2d").pes == (512, 512) and accel.level(b, "GlobalBuffer").capacity_bytes == 1 << 20
    (d,) = sim.arch_variants(base, dram_bytes_per_s=[1e12])
    assert accel.level(d, "DRAM").bandwidth_bytes_per_s == 1e12
    h100 = accel.preset("h100")
    (h,) = sim.arch_variants(h100, sms=[66])
    assert accel.instances(h, "SMEM") == 66
    assert accel.level(h, "SMEM").bandwidth_bytes_per_s == pytest.approx(accel.level(h100, "SMEM")
                                                                          .bandwidth_bytes_per_s / 2)
    assert h.measured["tensor.bf16_flops_per_s"] == pytest.approx(h100.measured["tensor.bf16_flops_per_s"] / 2)
    assert h.measured["HBM.bytes_per_s"] == h100.measured["HBM.bytes_per_s"]
    with pytest.raises(accel.ArchError, match="unknown sweep axis 'nope'"):
        sim.arch_variants(base, {"nope": [1]})
    with pytest.raises(accel.ArchError):
        sim.arch_variants(base, array=[0])


def test_area_model():
    """Area = PEs × area per PE + on-chip capacity × SRAM_UM2_PER_BYTE; doubling the array quadruples PE area."""
    base = accel.preset("fusemax")
    pe = sum(accel.pe_count(base, u) * u.area_um2_per_pe for u in base.units)
    assert area_mm2(base) == pytest.approx((pe + (16 << 20) * SRAM_UM2_PER_BYTE) * 1e-6)
    small, big = sim.arch_variants(base, array=[128, 256], buffer_bytes=[1 << 20])
    assert area_mm2(big) > area_mm2(small)


def test_sweep_table_and_pareto_fronts():
    """One row per cell in grid order with the best mapping, metrics and area; per-workload Pareto fronts over
    latency × energy × area hold only non-dominated rows."""
    ws, archs = grid()
    s = sim.sweep(ws, archs, dataflows=[TOY], executor=None)
    rows = s.table.records()
    assert [(r["workload"], r["arch"]) for r in rows] == [(w, a.name) for w in ws for a in archs]
    assert all(r["status"] == "ok" and r["dataflow"] == TOY and r["area_mm2"] > 0 for r in rows)
    keys = ("latency_s", "energy_j", "area_mm2")

    def weakly(o, r):
        return all(o[k] <= r[k] for k in keys)

    for w, fr in s.pareto.items():
        mine = [r for r in rows if r["workload"] == w]
        assert fr and all(not any(weakly(o, r) and o != r and any(o[k] < r[k] for k in keys) for o in mine)
                          for r in fr)
        assert all(any(weakly(f, r) for f in fr) for r in mine)
    assert "Pareto front" in str(s)


def test_sweep_lists_cells_nothing_can_run():
    """A cell no dataflow supports is a row with status 'unsupported' and the reasons."""
    s = sim.sweep(workloads.attention("mha", batch=1, heads=1, seq=512, head_dim=64), accel.preset("h100"),
                  dataflows=[TOY])
    (row,) = s.table.records()
    assert row["status"] == "unsupported" and "2d and a 1d array" in row["reason"]


def test_sweep_on_a_process_pool_equals_inline():
    """The default local process pool gives the same table as running the cells in this process."""
    from concurrent.futures import ThreadPoolExecutor
    ws, archs = grid()
    pooled = sim.sweep(ws, archs[:2], dataflows=[TOY])
    with ThreadPoolExecutor(1) as inline:
        here = sim.sweep(ws, archs[:2], dataflows=[TOY], executor=inline)
    assert pooled.table.records() == here.table.records()


def test_front_keeps_equal_points_once():
    rows = [{"a": 1, "b": 2, "i": 0}, {"a": 1, "b": 2, "i": 1}, {"a": 2, "b": 1, "i": 2}, {"a": 2, "b": 2, "i": 3}]
    assert [r["i"] for r in front(rows, ("a", "b"))] == [0, 2]


def test_text_progress_bar(capsys):
    """The built-in bar writes a carriage-return line to its stream and ends with a newline."""
    import io
    out = io.StringIO()
    bar = TextBar(4, "sweep", stream=out)
    for _ in range(4):
        bar.update()
    bar.close()
    assert "4/4" in out.getvalue() and out.getvalue().endswith("\n")


def test_sweep_on_dask_equals_local():
    """A sweep on a Dask LocalCluster (Client(...).get_executor()) returns the same table as the local run."""
    import distributed
    ws, archs = grid()
    local = sim.sweep(ws, archs, dataflows=[TOY])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        remote = sim.sweep(ws, archs, dataflows=[TOY], executor=client.get_executor())
    assert remote.table.records() == local.table.records()


def test_dask_sweep_with_builtin_dataflows_equals_local():
    """Built-in dataflows travel by name: a Dask sweep of GPU decode cells equals the local one."""
    import distributed
    from test_explore import require
    require("flash-decoding", "flash3")
    ws = {f"decode{s}": workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=1, seq_kv=s, head_dim=128)
          for s in (8192, 32768)}
    archs = sim.arch_variants(accel.preset("h100"), sms=[66, 132])
    local = sim.sweep(ws, archs, dataflows=["flash-decoding", "flash3"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        remote = sim.sweep(ws, archs, dataflows=["flash-decoding", "flash3"], executor=client.get_executor())
    assert remote.table.records() == local.table.records()


@pytest.mark.slow
def test_fusemax_pe_array_and_buffer_sweep_at_256k():
    """FuseMax-style co-design sweep: PE array × buffer size on BERT at 256K tokens, with a latency/energy/area
    front; a bigger array is never slower. The array keeps 256 rows (the cascade's key tile P0) and widens."""
    from test_explore import require
    require("fusemax")
    w = workloads.attention("mha", batch=64, heads=12, seq=262144, head_dim=64)
    archs = sim.arch_variants(accel.preset("fusemax"), array=[(256, 128), (256, 256), (256, 512)],
                              buffer_bytes=[4 << 20, 16 << 20, 64 << 20])
    s = sim.sweep(w, archs, dataflows=["fusemax"])
    rows = s.table.records()
    assert all(r["status"] == "ok" for r in rows)
    by = {(r["pes"], r["onchip_capacity_bytes"]): r["latency_s"] for r in rows}
    for buf in (4 << 20, 16 << 20, 64 << 20):
        lat = [by[k] for k in sorted(by) if k[1] == buf]
        assert lat == sorted(lat, reverse=True)
    assert len(next(iter(s.pareto.values()))) >= 2
