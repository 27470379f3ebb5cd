"""The validation pipeline end to end on the CPU: measure (tiny shapes) → compare against a GPU preset → report.

It proves plumbing, not accuracy: CPU timings against an H100 model are meaningless, and the report says so."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("torch")

import sim  # noqa: E402
from validation.compare import cli as compare  # noqa: E402
from validation.harness import measure  # noqa: E402

OUTPUTS = ("points.csv", "ratios.csv", "summary.json", "report.md", "scatter_time.png")


def _measure(tmp_path: Path, suite: str) -> Path:
    out = tmp_path / f"{suite}.csv"
    assert measure.main(["--suite", suite, "--device", "cpu", "--quick", "--reps", "3", "--out", str(out)]) == 0
    return out


def _gpu_dataflows() -> None:
    assert "flash2" in sim.DATAFLOWS, "the GPU dataflows are not registered"


def test_cpu_measure_compare_report(tmp_path: Path) -> None:
    """measure --suite attention --device cpu --quick, then compare --device-kind h100: every output is written,
    every measured row is in points.csv (ok rows simulated with flash2/gpu-unfused, failed rows with their reason),
    and the report says the device kind differs."""
    _gpu_dataflows()
    measured = _measure(tmp_path, "attention")
    rows = list(csv.DictReader(measured.open()))
    out = tmp_path / "report"
    assert compare.main([str(measured), "--out", str(out), "--device-kind", "h100"]) == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert list(out.glob("speedup_*.png"))
    points = list(csv.DictReader((out / "points.csv").open()))
    assert len(points) == len(rows)
    for r, p in zip(rows, points):
        assert (p["case"], p["backend"], p["dtype"]) == (r["case"], r["backend_requested"], r["dtype"])
        if r["status"] == "ok" and r["backend_requested"] in ("sdpa_flash", "sdpa_math"):
            assert p["status"] == "ok" and p["sim_ms"] and p["time_error"], p
            assert p["dataflow"] == {"sdpa_flash": "flash2", "sdpa_math": "gpu-unfused"}[r["backend_requested"]]
            assert p["device_mismatch"].startswith("device kind differs")
        elif r["status"] != "ok":
            assert p["status"] == "not measured" and p["reason"], p
    report = (out / "report.md").read_text()
    assert "**Device kind differs**" in report and "simulated on h100" in report


def test_cpu_rows_without_device_kind(tmp_path: Path) -> None:
    """Without --device-kind, CPU rows have no preset: each is listed with that reason and every file is still
    written (the scatter says there is nothing to plot)."""
    measured = _measure(tmp_path, "ceilings")
    out = tmp_path / "report"
    assert compare.main([str(measured), "--out", str(out)]) == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    points = list(csv.DictReader((out / "points.csv").open()))
    assert points and all(p["status"] != "ok" for p in points)
    assert any("has no GPU preset" in p["reason"] for p in points)


@pytest.mark.slow
def test_cpu_campaign_every_suite(tmp_path: Path) -> None:
    """Every suite measured on the CPU, compared on h100: no row is dropped and nothing raises (opt-in: the local
    suite compiles FlexAttention kernels)."""
    _gpu_dataflows()
    files = [_measure(tmp_path, s) for s in measure.SUITES]
    total = sum(len(list(csv.DictReader(f.open()))) for f in files)
    out = tmp_path / "report"
    assert compare.main([*map(str, files), "--out", str(out), "--device-kind", "h100"]) == 0
    points = list(csv.DictReader((out / "points.csv").open()))
    assert len(points) == total
    assert {p["status"] for p in points} <= {"ok", "no model", "not measured"}
