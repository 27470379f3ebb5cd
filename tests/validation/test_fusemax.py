"""validation.reproductions.fusemax: the quick grid writes its files, its numbers are coherent, and FLAT's point is
the best of FLAT's own search space."""
from __future__ import annotations

import csv
import json

import pytest

import accel
import sim
from validation.reproductions import fusemax, fusemax_artifact as artifact


def test_quick_grid_writes_csvs_json_and_figures(tmp_path, capsys):
    """`--quick` runs BERT and XLM at 1K and 4K for the five dataflows: CSV rows, a summary (also as JSON, with every
    point, the per-component breakdown, the closed-form comparison and the iso-area check), four figures; it prints
    each ablation step's points with latency, utilizations, energy and its components."""
    fusemax.main(["--out", str(tmp_path), "--quick"])
    printed = capsys.readouterr().out
    for step in ("+Cascade", "+Architecture", "+Binding", "FLAT (3-pass"):
        assert step in printed
    assert "global buffer" in printed and "(artifact)" in printed and "iso-area: FuseMax" in printed
    att = list(csv.DictReader(open(tmp_path / "attention.csv")))
    e2e = list(csv.DictReader(open(tmp_path / "end_to_end.csv")))
    assert len(att) == len(e2e) == 2 * 2 * len(fusemax.DATAFLOWS)
    for name in ("utilization_attention.png", "speedup_energy_attention.png", "utilization_end_to_end.png",
                 "speedup_energy_end_to_end.png"):
        assert (tmp_path / name).stat().st_size > 0
    for a, e in zip(att, e2e):
        assert float(e["latency_s"]) > float(a["latency_s"])        # linear layers add time
        for row in (a, e):
            parts = sum(float(row[f"energy_{c}_j"]) for c in artifact.COMPONENTS)
            assert parts == pytest.approx(float(row["energy_j"]), rel=1e-9)
            assert float(row["energy_artifact_j"]) < float(row["energy_j"])   # registers per instance
        assert float(a["latency_s"]) >= float(a["closed_form_s"]) * (1 - 1e-9)
        assert 0 <= float(a["util_2d"]) <= 1 and 0 <= float(a["util_1d"]) <= 1
        assert float(e["util_2d"]) <= 1 and 0 < float(e["attention_share"]) < 1
    summ = {(r["grid"], r["dataflow"]): r for r in csv.DictReader(open(tmp_path / "summary.csv"))}
    assert float(summ[("attention", "fusemax")]["speedup_vs_flat_mean"]) > 1.0
    record = json.loads((tmp_path / "summary.json").read_text())
    assert record["grid"] == "quick" and record["searched"] == ["flat"] and len(record["attention"]) == len(att)
    for s in record["summary"]:
        assert s["speedup_vs_flat_mean"] == pytest.approx(float(summ[(s["grid"], s["dataflow"])]["speedup_vs_flat_mean"]))
    assert set(record["per_length"]["attention"]) == {"1024", "4096"}
    assert {(r["model"], r["seq"]) for r in record["breakdown"]["attention"]} == {("BERT", 1024)}
    assert set(record["closed_forms"]) == set(fusemax.DATAFLOWS) and record["iso_area"]["fusemax_mm2"] > 0


def test_flat_point_is_the_best_of_its_space():
    """FLAT is defined by its search over row blocks: its point is no slower than any row block FLAT's space offers,
    and the mapping it reports is one of them."""
    c = fusemax.attention_cascade("BERT", 4096, "flat")
    arch = accel.preset("flat")
    best = fusemax.attention_point("BERT", 4096, "flat")
    rows = sim.dataflow("flat").space(c, arch)["rows"]
    assert best.mapping.params["rows"] in rows
    latencies = [sim.evaluate(c, arch, dataflow="flat", constraints={"rows": r}).latency_s for r in rows]
    assert best.latency_s == pytest.approx(min(latencies), rel=1e-12)


def test_other_dataflows_run_their_default_plans():
    """Every dataflow but FLAT is its default plan (the paper fixes their mappings)."""
    for df in fusemax.DATAFLOWS:
        if df in fusemax.SEARCHED:
            continue
        r = fusemax.attention_point("T5", 1024, df)
        c = fusemax.attention_cascade("T5", 1024, df)
        assert r.mapping == sim.dataflow(df).plan(c, accel.preset(fusemax.DATAFLOWS[df][1]), {})


@pytest.mark.slow
def test_full_grid(tmp_path):
    """The paper's grid: 4 models × 6 lengths × 5 dataflows = 120 attention points."""
    res = fusemax.run(tmp_path, plots=False)
    assert len(res["attention"]) == len(res["end_to_end"]) == 120
