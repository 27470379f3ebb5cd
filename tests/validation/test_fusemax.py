"""validation.fusemax: the quick grid writes its CSVs and figures, and its numbers are coherent."""
from __future__ import annotations

import csv

import pytest

from validation import fusemax


def test_quick_grid_writes_csvs_and_figures(tmp_path):
    """`--quick` runs BERT and XLM at 1K and 4K for the five dataflows: CSV rows, a summary, four figures."""
    fusemax.main(["--out", str(tmp_path), "--quick"])
    att = list(csv.DictReader(open(tmp_path / "attention.csv")))
    e2e = list(csv.DictReader(open(tmp_path / "end_to_end.csv")))
    assert len(att) == len(e2e) == 2 * 2 * len(fusemax.DATAFLOWS)
    for name in ("utilization_attention.png", "speedup_energy_attention.png", "utilization_end_to_end.png",
                 "speedup_energy_end_to_end.png"):
        assert (tmp_path / name).stat().st_size > 0
    for a, e in zip(att, e2e):
        assert float(e["latency_s"]) > float(a["latency_s"])        # linear layers add time
        assert 0 <= float(a["util_2d"]) <= 1 and 0 <= float(a["util_1d"]) <= 1
    summ = {(r["grid"], r["dataflow"]): r for r in csv.DictReader(open(tmp_path / "summary.csv"))}
    assert float(summ[("attention", "fusemax")]["speedup_vs_flat_mean"]) > 1.0


@pytest.mark.slow
def test_full_grid(tmp_path):
    """The paper's grid: 4 models × 6 lengths × 5 dataflows = 120 attention points."""
    res = fusemax.run(tmp_path, plots=False)
    assert len(res["attention"]) == len(res["end_to_end"]) == 120
