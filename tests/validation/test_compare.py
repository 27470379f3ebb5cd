"""Tests of validation.compare: reading rows, the backend → dataflow table, errors, speedup pairs, the fit and the
report files. Stub dataflows with a known rate make the error arithmetic exact; one test runs the real GPU model on
the public FlashAttention-2 table."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

import sim
import workloads
from sim.dataflows.gpu.constants import CALIBRATED
from sim.dataflows.registry import Dataflow, Lowered
from sim.ir.mapping import FusionGroup, Mapping
from sim.ir.options import DEFAULT_OPTIONS
from sim.ir.program import ProgramBuilder
from validation.compare import calibration, fit
from validation.compare.cli import main
from validation.compare.files import write_report
from validation.compare.match import BACKEND_DATAFLOWS, target
from validation.compare.pairs import PAIR_RULES, pairs
from validation.compare.pipeline import compare_points
from validation.compare.points import Point, preset_for, read_points
from validation.compare.simulate import Compared, Simulator
from validation.compare.summaries import summarize
from validation.data.fa2_public import CSV_PATH as FA2_CSV
from validation.harness.measure import COLUMNS

STUB_FLOPS_PER_S = 400e12


def _stub(name: str, efficiency: str | None = None) -> Dataflow:
    """A dataflow that takes exactly workloads.flops / (STUB_FLOPS_PER_S · efficiency) on one unit, where the
    efficiency is the calibrated constant `efficiency` read from the options (1.0 when not overridden)."""

    def supports(c, arch):
        return None if {"Q", "K", "V"} <= set(c.inputs) else "stub: attention only"

    def plan(c, arch, constraints):
        return Mapping(name, (FusionGroup(tuple(e.name for e in c.einsums)),), {e.name: "tensor" for e in c.einsums})

    def lower(c, arch, mp, options=DEFAULT_OPTIONS):
        eff = options.constant(efficiency, 1.0) if efficiency else 1.0
        flops = workloads.flops(c)
        b = ProgramBuilder(["tensor"], [False])
        b.segment("all").op("tensor", max(1, round(flops / (STUB_FLOPS_PER_S * eff) * arch.clock_hz)))
        return Lowered(program=b.build(), unit_keys={"tensor": "tensor"}, flops=flops)

    return Dataflow(name, supports, plan, lower, "test stub")


@pytest.fixture
def stubs(monkeypatch):
    """flash2 and gpu-unfused replaced by stubs (flash2 scaled by the FA2_MMA_EFFICIENCY calibration override)."""
    monkeypatch.setitem(sim.DATAFLOWS, "flash2", _stub("flash2", "FA2_MMA_EFFICIENCY"))
    monkeypatch.setitem(sim.DATAFLOWS, "gpu-unfused", _stub("gpu-unfused"))


def _exact(c: Compared) -> float:
    """The stub's time error for a point: its FLOPs (workloads' count) at 400 TFLOP/s over the measured time."""
    return c.sim_flops / STUB_FLOPS_PER_S * 1e3 / c.point.measured_ms - 1


def _point(**kw) -> Point:
    base = dict(source="t.csv", row=1, suite="attention", case="c", form="sdpa", backend="sdpa_flash",
                dtype="bfloat16", device="NVIDIA H100 80GB HBM3", device_type="cuda", status="ok", reason="",
                flops=1e12, measured_ms=1.0, batch=2, heads=8, kv_heads=8, seq_q=1024, seq_kv=1024, head_dim=128,
                head_dim_v=128)
    base.update(kw)
    return Point(**base)


# ---------------------------------------------------------------- reading
def test_reads_the_public_table_and_harness_csvs(tmp_path: Path) -> None:
    """The public FA2 table gives 120 points (36 forward flash2 with times); a harness CSV gives one point per row;
    any other CSV is refused with a message naming both formats."""
    pts = read_points(FA2_CSV)
    assert len(pts) == 120
    fwd = [p for p in pts if p.backend == "flash2" and p.pass_ == "fwd"]
    assert len(fwd) == 36 and all(p.measured_ms and p.device == "H100 SXM5" for p in fwd)
    assert {p.status for p in pts if p.measured_ms is None} == {"oom", "not reported"}

    harness = tmp_path / "h.csv"
    with harness.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        row = {c: "" for c in COLUMNS}
        row.update(suite="local", case="x", form="gna_flex", dtype="bfloat16", backend_requested="flex_compiled",
                   batch="1", heads="2", kv_heads="2", seq_q="256", seq_kv="256", head_dim="32", head_dim_v="32",
                   causal="0", spatial="16x16", window="8x8", stride="4x4", dilation="1x1", flops="1e9",
                   time_ms="0.5", status="ok", device_type="cuda", device_name="NVIDIA H200")
        w.writerow(row)
        w.writerow(dict(row, status="oom", time_ms="", reason="out of memory"))
    a, b = read_points(harness)
    assert a.spatial == (16, 16) and a.window == (8, 8) and a.measured_ms == 0.5 and a.row == 1
    assert b.measured_ms is None and b.status == "oom"

    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="not a harness CSV"):
        read_points(bad)


def test_device_names_map_to_presets() -> None:
    """H100/H200/A100/B200 names pick their preset; the CPU and unknown GPUs have none."""
    assert preset_for("NVIDIA H100 80GB HBM3", "cuda") == "h100"
    assert preset_for("H100 SXM5", "cuda") == "h100"
    assert preset_for("NVIDIA H200", "cuda") == "h200"
    assert preset_for("NVIDIA A100-SXM4-80GB", "cuda") == "a100"
    assert preset_for("x86_64", "cpu") is None
    assert preset_for("NVIDIA L4", "cuda") is None


# ---------------------------------------------------------------- matching table
@pytest.mark.parametrize("point, variant, dataflows", [
    (_point(), "mha", ("flash2",)),
    (_point(backend="sdpa_cudnn"), "mha", ("cudnn", "flash3")),
    (_point(backend="flash_attn", form="flash_package", dtype="float16"), "mha", ("flash2",)),
    (_point(backend="flash_attn3", form="flash_package", dtype="float16"), "mha", ("flash3",)),
    (_point(backend="sdpa_math"), "mha", ("gpu-unfused",)),
    (_point(backend="sdpa_efficient"), "mha", ("flash2",)),
    (_point(kv_heads=2), "gqa", ("flash2",)),
    (_point(suite="decode", form="gqa_sdpa", seq_q=1, kv_heads=2), "gqa", ("flash-decoding", "flash2")),
    (_point(suite="decode", form="gqa_split_kv", backend="split_kv_torch", seq_q=1, kv_heads=2, splits=4), "gqa",
     ("flash-decoding",)),
    (_point(suite="decode", form="mla_absorbed_split_kv", backend="split_kv_torch", seq_q=1, kv_heads=1,
            head_dim=576, head_dim_v=512), "gqa", ("mla-decode",)),
    (_point(suite="decode", form="mla_absorbed_sdpa_fold", backend="sdpa_math", seq_q=1, kv_heads=1,
            head_dim=576, head_dim_v=512), "gqa", ("gpu-unfused", "mla-decode")),
    (_point(suite="local", form="gna_flex", backend="flex_compiled", spatial=(16, 16), window=(8, 8), stride=(4, 4),
            dilation=(1, 1), seq_q=256, seq_kv=256), "gna", ("gna",)),
    (_point(suite="gemm", form="gemm", backend="matmul", m=64, n=64, k=64), "gemm", ("gemm",)),
    (_point(suite="fa2_public", backend="flash2", dtype="float16", device="H100 SXM5"), "mha", ("flash2",)),
    (_point(suite="fa2_public", backend="standard", dtype="float16", device="H100 SXM5"), "mha", ("gpu-unfused",)),
])
def test_backends_map_to_dataflows(point: Point, variant: str, dataflows: tuple) -> None:
    """Each backend gets the cascade variant and the ordered dataflows that model it; the cascade builds."""
    t = target(point)
    assert not isinstance(t, str), t
    assert (t.variant, t.dataflows) == (variant, dataflows)
    assert t.build() is not None
    if point.backend == "sdpa_efficient":
        assert "nearest" in t.note


@pytest.mark.parametrize("point, reason", [
    (_point(status="unsupported", measured_ms=None, reason="no kernel"), "not measured (unsupported: no kernel)"),
    (_point(pass_="fwd_bwd"), "no model: backward pass"),
    (_point(form="copy", backend="copy_", dtype="float32"), "no model: device-to-device copy"),
    (_point(form="gqa_kv_repeat"), "no model: K/V repeat_interleave"),
    (_point(form="moh_gathered"), "no model: MoH"),
    (_point(form="mla_naive_kvproj", backend="matmul"), "no model: batched matmul piece"),
    (_point(backend="mystery"), "no model: backend 'mystery'"),
    (_point(dtype="int4"), "no model: dtype 'int4'"),
])
def test_rows_without_a_model_say_why(point: Point, reason: str) -> None:
    """Failed measurements, backward passes, ceilings and multi-kernel forms get a reason, not a target."""
    t = target(point)
    assert isinstance(t, str) and t.startswith(reason), t


def test_every_backend_dataflow_is_registered() -> None:
    """Every dataflow named in the backend table exists in the registry (catches renames in the GPU model)."""
    assert "flash2" in sim.DATAFLOWS, "the GPU dataflows are not registered"
    named = {d for flows, _ in BACKEND_DATAFLOWS.values() for d in flows} | {"mla-decode", "flash-decoding"}
    assert named <= set(sim.DATAFLOWS), sorted(named - set(sim.DATAFLOWS))


# ---------------------------------------------------------------- errors, pairs, fit, report (stub dataflows)
def test_errors_are_exact_against_a_stub(stubs) -> None:
    """With flash2 and gpu-unfused stubbed at 400 TFLOP/s of the simulator's FLOPs, each forward point's time error is
    exact; its TFLOP/s error is the inverse of the time error (both rates use the row's FLOPs, FlashAttention's
    convention for the public table, which counts S²/2 causal pairs where the simulator counts S(S+1)/2); backward
    rows have no model and OOM/missing rows are 'not measured'."""
    compared, fits = compare_points(read_points(FA2_CSV), log=lambda s: None)
    assert fits == [] and len(compared) == 120
    ok = [c for c in compared if c.status == "ok"]
    assert len(ok) == 36 + 20
    for c in ok:
        tf = c.point.measured_tflops
        causal_pairs = c.point.seq_q * (c.point.seq_q + 1) / 2 / (c.point.seq_q ** 2 / 2)  # exact / FA convention
        assert c.sim_flops == pytest.approx(c.point.flops * (causal_pairs if c.point.causal else 1), rel=1e-9)
        assert c.error == pytest.approx(_exact(c), rel=1e-5, abs=1e-5)
        assert c.tflops_error == pytest.approx(1 / (1 + c.error) - 1, rel=1e-9)
        assert c.sim_tflops == pytest.approx(tf / (1 + c.error), rel=1e-9)   # the row's FLOPs over the sim time
        assert c.preset == "h100" and not c.mismatch
    assert {c.status for c in compared if c.point.pass_ == "fwd_bwd" and c.point.measured_ms} == {"no model"}
    assert sum(c.status == "not measured" for c in compared) == 16 + 2   # Standard OOM/'-', A100 D=128 '-' 
    assert sum(c.role == "calibration" for c in ok) == 6 + 5


def test_speedup_pairs(stubs) -> None:
    """Causal pairs: the stub's time is proportional to the simulator's FLOPs, so its causal speedup is the exact pair
    ratio S²/(S(S+1)/2); measured speedup = 2·tflops_c/tflops_nc (the published rates' convention)."""
    compared, _ = compare_points(read_points(FA2_CSV), log=lambda s: None)
    prs = [p for p in pairs(compared) if p.rule == PAIR_RULES[0].name and p.base.point.case == "flash2_d64_s512_fwd"]
    assert len(prs) == 1
    p = prs[0]
    assert p.measured == pytest.approx(2 * 180 / 282, rel=1e-4)
    assert p.simulated == pytest.approx(512 ** 2 / (512 * 513 / 2), rel=1e-6)
    assert p.error == pytest.approx(p.simulated / p.measured - 1, rel=1e-6)
    flash_vs_std = [p for p in pairs(compared) if p.rule.startswith("flash vs unfused")]
    assert len(flash_vs_std) == 20 and all(p.simulated == pytest.approx(1.0) for p in flash_vs_std)


def test_fit_finds_the_stub_efficiency_as_data(stubs, monkeypatch) -> None:
    """The fit of FA2_MMA_EFFICIENCY on the D=128 non-causal row lands on the least-squares log optimum (geometric
    mean of the stub's error factors), every candidate reaches the dataflow only as `Options(calibration=...)`, and
    the shipped constants are untouched."""
    seen = []
    stub = sim.DATAFLOWS["flash2"]

    def spying_lower(c, arch, mp, options=DEFAULT_OPTIONS):
        seen.append(dict(options.calibration))
        return stub.lower(c, arch, mp, options)

    monkeypatch.setitem(sim.DATAFLOWS, "flash2", Dataflow("flash2", stub.supports, stub.plan, spying_lower, "spy"))
    shipped = dict(CALIBRATED)
    groups = calibration.FIT_GROUPS[:1]
    compared, _ = compare_points(read_points(FA2_CSV), log=lambda s: None)
    (fitted,) = fit.fit_constants(compared, Simulator(), groups, log=lambda s: None)
    row = [1 + _exact(c) for c in compared if c.status == "ok" and groups[0].select(c)]
    assert len(row) == 6
    expected = math.exp(sum(map(math.log, row)) / len(row))
    assert fitted.fitted["FA2_MMA_EFFICIENCY"] == pytest.approx(expected, abs=2e-3)
    assert fitted.shipped == {"FA2_MMA_EFFICIENCY": shipped["FA2_MMA_EFFICIENCY"]}
    assert fitted.rms_log_after < fitted.rms_log_before
    assert dict(CALIBRATED) == shipped
    assert {} in seen and any(set(s) == {"FA2_MMA_EFFICIENCY"} for s in seen)


def test_fit_never_patches_module_globals() -> None:
    """No module of validation.compare assigns attributes of another module (calibration is data)."""
    import ast

    root = Path(fit.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setattr":
                pytest.fail(f"{path.name}:{node.lineno} calls setattr")


def test_report_lists_every_row(stubs, tmp_path: Path) -> None:
    """report.md, points.csv, ratios.csv, the scatter and the bar charts are written; every input row is in
    points.csv, every row without a model is in the report with its reason, and held-out errors have their own table."""
    compared, _ = compare_points(read_points(FA2_CSV), log=lambda s: None)
    paths = write_report(compared, [], tmp_path, inputs=[str(FA2_CSV)])
    names = {p.name for p in paths}
    assert {"points.csv", "ratios.csv", "summary.json", "report.md", "scatter_time.png"} <= names
    assert any(n.startswith("speedup_causal") for n in names)
    assert all(p.stat().st_size > 0 for p in paths)
    rows = list(csv.DictReader((tmp_path / "points.csv").open()))
    assert [(r["source"], int(r["row"])) for r in rows] == [("fa2_h100_public.csv", i) for i in range(1, 121)]
    report = (tmp_path / "report.md").read_text()
    assert "## Held-out versus calibration" in report and "| held-out | 45 |" in report
    for c in compared:
        if c.status != "ok":
            assert f"| {c.point.source} | {c.point.row} |" in report
    assert "no model: backward pass" in report
    summary = json.loads((tmp_path / "summary.json").read_text())
    held = [c.error for c in compared if c.role == "held-out"]
    assert summary["roles"]["held-out"] == summarize(held).record() and summary["roles"]["held-out"]["n"] == 45
    assert summary["rows"] == 120 and summary["simulated"] == 56
    assert {(g["suite"], g["backend"]) for g in summary["groups"]} == {("fa2_public", "flash2"),
                                                                      ("fa2_public", "standard")}


def test_summaries() -> None:
    """Median and max of absolute errors; None and NaN are skipped."""
    s = summarize([0.1, -0.3, None, float("nan"), 0.05])
    assert (s.n, s.median_abs, s.max_abs) == (3, pytest.approx(0.1), pytest.approx(0.3))
    assert summarize([]).n == 0


def test_cpu_rows_need_a_device_kind(stubs) -> None:
    """A CPU row has no preset unless --device-kind names one; then it is simulated and flagged."""
    p = _point(device="x86_64", device_type="cpu")
    (c,), _ = compare_points([p], log=lambda s: None)
    assert c.status == "no model" and "--device-kind" in c.reason
    (c,), _ = compare_points([p], device_kind="h100", log=lambda s: None)
    assert c.status == "ok" and c.mismatch.startswith("device kind differs")


def test_cli_refuses_unknown_files(tmp_path: Path, capsys) -> None:
    """A file in neither format exits 2 with a message; no report is written."""
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n")
    assert main([str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "not a harness CSV" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _harness_csv(path: Path, **cells) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerow({**{c: "" for c in COLUMNS}, "status": "ok", "time_ms": "1", **cells})
    return path


@pytest.mark.parametrize("make, fragment", [
    (lambda d: d, "is a directory"),
    (lambda d: (d / "b.csv", (d / "b.csv").write_bytes(b"\xff\xfe\x00\x81" * 64))[0], "not a text CSV"),
    (lambda d: d / "missing.csv", "No such file"),
    (lambda d: _harness_csv(d / "h.csv", batch="two"), "row 1 does not parse"),
])
def test_cli_names_bad_files(tmp_path: Path, capsys, make, fragment) -> None:
    """A directory, a binary file, a missing file or a row that does not parse exits 2 naming the file."""
    path = make(tmp_path)
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and str(path) in err and "Traceback" not in err


def test_cli_refuses_an_out_that_is_a_file(tmp_path: Path, capsys) -> None:
    """--out naming an existing file exits 2 naming the flag."""
    out = tmp_path / "out"
    out.write_text("x")
    assert main([str(FA2_CSV), "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err


# ---------------------------------------------------------------- the real GPU model on the public table
def test_public_fa2_table_with_the_gpu_model(tmp_path: Path) -> None:
    """All 36 forward FlashAttention-2 points are simulated with flash2 on the h100 preset and get a finite error in
    points.csv and the report; the Standard points use gpu-unfused; every other row is listed with its reason."""
    assert {"flash2", "gpu-unfused"} <= set(sim.DATAFLOWS), "the GPU dataflows are not registered"
    assert main([str(FA2_CSV), "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "points.csv").open()))
    assert len(rows) == 120
    fa2 = [r for r in rows if r["backend"] == "flash2" and r["form"] == "fwd"]
    assert len(fa2) == 36
    report = (tmp_path / "report.md").read_text()
    for r in fa2:
        assert r["status"] == "ok" and r["dataflow"] == "flash2" and r["preset"] == "h100", r
        assert math.isfinite(float(r["time_error"])) and abs(float(r["time_error"])) < 0.25
        assert f"| {r['case']} |" in report
    std = [r for r in rows if r["backend"] == "standard" and r["status"] == "ok"]
    assert len(std) == 20 and {r["dataflow"] for r in std} == {"gpu-unfused"}
    assert all(r["reason"] for r in rows if r["status"] != "ok")
    assert (tmp_path / "scatter_time.png").stat().st_size > 0


def test_compared_errors_need_both_times() -> None:
    """No simulated time → no error (never a zero)."""
    c = Compared(_point(), "no model", "x")
    assert c.error is None and c.tflops_error is None and c.sim_tflops is None
    assert replace(c, sim_ms=2.0).error == pytest.approx(1.0)


def test_gna_pairs_keep_to_their_layout() -> None:
    """A dense baseline pairs only with local rows of its own token layout (`spatial=` in its extra), even when
    several layouts have the same token count."""
    def local(case, form, backend, spatial, extra="", window=()):
        p = _point(suite="local", case=case, form=form, backend=backend, seq_q=256, seq_kv=256, spatial=spatial,
                   window=window, extra=extra)
        return Compared(p, "ok", sim_ms=1.0)
    rows = [local("1d_dense", "dense_sdpa", "sdpa_flash", (), "spatial=256"),
            local("2d_dense", "dense_sdpa", "sdpa_flash", (), "spatial=16x16"),
            local("1d_na", "gna_flex", "flex_compiled", (256,), window=(32,)),
            local("2d_na", "gna_flex", "flex_compiled", (16, 16), window=(8, 8))]
    got = sorted((p.base.point.case, p.variant.point.case) for p in pairs(rows) if p.rule.startswith("GNA"))
    assert got == [("1d_dense", "1d_na"), ("2d_dense", "2d_na")]
