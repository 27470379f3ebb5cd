"""sim.sweep: explore over workload × architecture grids, architecture variants, area, per-workload Pareto fronts,
executors (inline, process pool, Dask) giving the same table."""
import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest
from dask.base import tokenize

import accel
import sim
import workloads
from sim.bounds.area import SRAM_UM2_PER_BYTE, area_mm2
from sim.ir.tasks import cut

from toy_dataflow import TOY, registered


@pytest.fixture
def toy():
    with registered() as df:
        yield df


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
    assert sim.arch_variants(base) == [base]


@pytest.mark.parametrize("call,fragment", [
    (lambda b: sim.arch_variants(b, {"nope": [1]}), "unknown sweep axis 'nope'"),
    (lambda b: sim.arch_variants(b, array=[0]), "pes"),
    (lambda b: sim.arch_variants(b, array=["big"]), "sweep axis 'array' needs n or (rows, cols)"),
    (lambda b: sim.arch_variants(b, sms=[4]), "no level fans out to SMs"),
    (lambda b: sim.arch_variants("fusemax", array=[128]), "expected an accel.Arch, got str 'fusemax'"),
])
def test_arch_variants_refuse_bad_axes(call, fragment):
    """sim.arch_variants is accel.variants: its refusals come through unchanged."""
    with pytest.raises(accel.ArchError) as e:
        call(accel.preset("fusemax"))
    assert fragment in str(e.value) and len(str(e.value)) < 400


def test_area_model():
    """Area = PEs × area per PE + on-chip capacity × SRAM_UM2_PER_BYTE; doubling the array quadruples PE area."""
    base = accel.preset("fusemax")
    pe = sum(accel.pe_count(base, u) * u.area_um2_per_pe for u in base.units)
    assert area_mm2(base) == pytest.approx((pe + (16 << 20) * SRAM_UM2_PER_BYTE) * 1e-6)
    small, big = sim.arch_variants(base, array=[128, 256], buffer_bytes=[1 << 20])
    pe_small = sum(accel.pe_count(small, u) * u.area_um2_per_pe for u in small.units)
    pe_big = sum(accel.pe_count(big, u) * u.area_um2_per_pe for u in big.units)
    assert accel.pe_count(big, accel.unit(big, "2d")) == 4 * accel.pe_count(small, accel.unit(small, "2d"))
    assert area_mm2(big) - area_mm2(small) == pytest.approx((pe_big - pe_small) * 1e-6)


def test_sweep_table_and_per_workload_fronts(toy):
    """One row per cell in grid order with the best mapping, metrics and area; each workload's front over
    latency × energy × area holds exactly its non-dominated rows."""
    ws, archs = grid()
    s = sim.sweep(ws, archs, dataflows=[TOY], executor=None)
    rows = s.table.records()
    assert [(r["workload"], r["arch"]) for r in rows] == [(w, a.name) for w in ws for a in archs]
    assert all(r["status"] == "ok" and r["dataflow"] == TOY for r in rows)
    assert [r["area_mm2"] for r in rows] == [area_mm2(a) for _ in ws for a in archs]
    keys = ("latency_s", "energy_j", "area_mm2")

    def dominates(o, r):
        return all(o[k] <= r[k] for k in keys) and any(o[k] < r[k] for k in keys)

    assert set(s.pareto) == set(ws)
    for w, front in s.pareto.items():
        mine = [r for r in rows if r["workload"] == w]
        expected = [r for r in mine if not any(dominates(o, r) for o in mine)]
        assert sorted(r["arch"] for r in front) == sorted(r["arch"] for r in expected)
        assert all(r["workload"] == w for r in front)
    assert "Pareto front" in str(s)


def test_fronts_on_other_keys_and_unknown_columns(toy):
    ws, archs = grid()
    s = sim.sweep(ws, archs[:2], dataflows=[TOY], executor=None)
    two = s.fronts(("latency_s", "area_mm2"))
    rows = s.table.records()
    for w, front in two.items():
        mine = [(r["latency_s"], r["area_mm2"], r["arch"]) for r in rows if r["workload"] == w]
        expected = sorted(p for p in mine if not any(q[:2] != p[:2] and q[0] <= p[0] and q[1] <= p[1]
                                                     for q in mine))
        assert [(r["latency_s"], r["area_mm2"], r["arch"]) for r in front] == expected
    assert set(two) == set(ws)
    with pytest.raises(sim.MappingError, match="unknown column 'speed'"):
        s.fronts(("speed",))


def test_sweep_lists_cells_nothing_can_run(toy):
    s = sim.sweep(workloads.attention("mha", batch=1, heads=1, seq=512, head_dim=64), accel.preset("h100"),
                  dataflows=[TOY])
    (row,) = s.table.records()
    assert row["status"] == "unsupported" and "2d and a 1d array" in row["reason"]
    assert s.pareto == {}


def test_sweep_on_a_process_pool_equals_inline(toy):
    """The default local process pool (cells sent in chunks) gives the same table as this process."""
    ws, archs = grid()
    pooled = sim.sweep(ws, archs, dataflows=[TOY])
    with ThreadPoolExecutor(1) as inline:
        here = sim.sweep(ws, archs, dataflows=[TOY], executor=inline)
    assert pooled.table.records() == here.table.records()


@pytest.mark.parametrize("call,fragment", [
    (lambda: sim.sweep("mha", accel.preset("fusemax")), "workloads must be a Cascade"),
    (lambda: sim.sweep([workloads.gemm(8, 8, 8), 3], accel.preset("fusemax")),
     "workloads[1] must be a workloads.Cascade, got int"),
    (lambda: sim.sweep(workloads.gemm(8, 8, 8), {"x": "fusemax"}), "archs['x'] must be an accel.Arch"),
])
def test_sweep_refuses_bad_grids(call, fragment):
    with pytest.raises(sim.MappingError) as e:
        call()
    assert fragment in str(e.value)


def test_sweep_on_dask_equals_local(toy):
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
    from test_explore_builtin import require
    require("flash-decoding", "flash3")
    ws = {f"decode{s}": workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=1, seq_kv=s, head_dim=128)
          for s in (8192, 32768)}
    archs = sim.arch_variants(accel.preset("h100"), sms=[66, 132])
    local = sim.sweep(ws, archs, dataflows=["flash-decoding", "flash3"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        remote = sim.sweep(ws, archs, dataflows=["flash-decoding", "flash3"], executor=client.get_executor())
    assert remote.table.records() == local.table.records()


def test_array_size_axis_a_bigger_array_is_never_slower():
    """An array-size sweep on one workload: more PEs of the same height never make FuseMax slower, and the
    smallest array is on the latency × area front (it has the least area)."""
    w = workloads.attention("mha", batch=1, heads=4, seq=4096, head_dim=64)
    archs = sim.arch_variants(accel.preset("fusemax"), array=[(256, 64), (256, 128), (256, 256)])
    s = sim.sweep(w, archs, dataflows=["fusemax"], executor=None)
    rows = s.table.records()
    lat = [r["latency_s"] for r in rows]
    assert lat == sorted(lat, reverse=True) and lat[0] > lat[-1]
    assert rows[0]["arch"] in {r["arch"] for r in s.fronts(("latency_s", "area_mm2"))[w.name]}


@pytest.mark.slow
def test_fusemax_pe_array_and_buffer_sweep_at_256k():
    """FuseMax-style co-design sweep: PE array × buffer size on BERT at 256K tokens, with a latency/energy/area
    front; a bigger array is never slower."""
    from test_explore_builtin import require
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


def test_a_chunk_is_tokenized_from_one_pickle(monkeypatch):
    """Dask names a task by a token of its arguments: a chunk's comes from one pickle of it (equal chunks, equal
    tokens; another cell, another token), not from a walk over every field of every cascade and arch."""
    w = workloads.attention("mha", batch=1, heads=2, seq=256, head_dim=64)
    archs = [accel.preset("fusemax"), accel.preset("h100")]
    a, b = cut([(w, x) for x in archs], ("latency",), 1)[0], cut([(w, x) for x in archs], ("latency",), 1)[0]
    other = cut([(w, archs[0])], ("latency",), 1)[0]
    assert tokenize(a) == tokenize(b) != tokenize(other)
    walked = []
    monkeypatch.setattr(dataclasses, "fields", lambda *x: walked.append(x) or ())
    tokenize(cut([(w, archs[1])], ("energy",), 1)[0])
    assert not walked
    assert [len(c) for c in cut(list(range(10)), None, 4)] == [3, 3, 3, 1]
