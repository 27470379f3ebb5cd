"""The FuseMax end-to-end grid through the layer path: every quick-grid point (BERT and XLM at 1K and 4K, the five
ablation steps) gives the cycles, energy and DRAM bytes of the reproduction's own end-to-end rows."""
import pytest

import accel
from sim.models.endtoend import fusemax_layer
from validation.reproductions import fusemax as fm


@pytest.fixture(scope="module")
def grid():
    models, seqs = fm.QUICK
    att = fm.attention_grid(models, seqs)
    points = {(m, s, df): fm.attention_point(m, s, df) for m in models for s in seqs for df in fm.DATAFLOWS}
    return points, {(r["model"], r["seq"], r["dataflow"]): r for r in fm.end_to_end_grid(att)}


def test_the_quick_grid_reproduces_through_the_layer_path(grid):
    points, e2e = grid
    for (model, seq, df), point in points.items():
        softmax, preset = fm.DATAFLOWS[df]
        r = fusemax_layer(model.lower(), accel.preset(preset), seq=seq, batch=fm.BATCH, softmax=softmax,
                          attention=point.mapping)
        row = e2e[(model, seq, df)]
        assert r.cycles == pytest.approx(row["cycles"], rel=1e-12)
        assert r.energy_j == pytest.approx(row["energy_j"], rel=1e-12)
        assert r.dram_bytes == pytest.approx(row["dram_bytes"], rel=1e-12)
        assert r.share("attention") == pytest.approx(row["attention_share"], rel=1e-12)
