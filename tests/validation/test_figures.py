"""The docs' generated figures cannot drift: every generated block equals its rendering from the committed figure
files, and those files equal what the code computes now (a sample in the default run, everything under `slow`).

When a model change moves a figure, regenerate: `python -m validation.figures` (then commit the JSON and the docs)."""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest

from validation.figures import docs, render
from validation.figures.__main__ import fusemax_figures


def _same(a, b, where: str = "") -> None:
    """Recursive equality with floats compared to 1e-9 relative."""
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (where, a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b), (where, sorted(set(a) ^ set(b)))
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (where, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _plain(x):
    return json.loads(json.dumps(x))


def test_generated_blocks_are_current() -> None:
    """Every generated block of docs/validation.md, gpu-model.md and fusemax.md is the rendering of its JSON."""
    assert docs.stale() == [], "run: python -m validation.figures --docs-only"


def test_blocks_name_their_source_and_machine() -> None:
    """Each block says which file and command it comes from; the timing block names the machine and the date."""
    for doc, blocks in docs.BLOCKS.items():
        text = (docs.ROOT / doc).read_text()
        for name, stem, _ in blocks:
            assert f"validation/figures/{stem}.json" in docs.block(text, name), (doc, name)
    timing = docs.figure("fusemax_timing")
    line = render.fusemax_timing(timing)
    assert timing["machine"]["cpu"] in line and timing["machine"]["date"] in line


def test_block_markers_are_required() -> None:
    """Replacing a block whose markers are missing is an error naming the block, not a silent no-op."""
    with pytest.raises(ValueError, match="no generated block 'x'"):
        docs.with_block("no markers here", "x", "body")
    text = "a\n<!-- generated: x -->\nold\n<!-- end generated: x -->\nb"
    assert docs.with_block(text, "x", "new") == "a\n<!-- generated: x -->\nnew\n<!-- end generated: x -->\nb"


def test_gpu_figures_are_current() -> None:
    """The FA2-table comparison (cells, summaries, ratios) and the extras in gpu_report.json are what the GPU model
    gives now."""
    from validation.figures import gpu

    import accel

    saved = docs.figure("gpu_report")
    points = gpu.fa2_points()
    now = {"fa2_table": {k: [gpu.cell(c) for c in points if c.point.backend == k] for k in gpu.KERNELS},
           "fa2_summary": gpu.summaries(points), "fa2_ratios": gpu.ratio_summaries(points),
           **gpu.extras(accel.preset("h100"))}
    for key, value in _plain(now).items():
        _same(saved[key], value, key)


def test_fusemax_figures_are_current_on_a_sample() -> None:
    """The quick grid's attention points (BERT and XLM at 1K and 4K, every dataflow) are what fusemax.json holds."""
    from validation.reproductions import fusemax

    saved = {(r["model"], r["seq"], r["dataflow"]): r for r in docs.figure("fusemax")["attention"]}
    models, seqs = fusemax.QUICK
    for row in fusemax.attention_grid(models, seqs):
        ref = saved[(row["model"], row["seq"], row["dataflow"])]
        for k, v in ref.items():
            _same(v, _plain(row[k]), f"{row['model']}/{row['seq']}/{row['dataflow']}.{k}")


@pytest.mark.slow
def test_every_figure_file_is_current() -> None:
    """gpu_report.json, fa2_fit.json and fusemax.json equal a fresh computation."""
    from validation.figures import gpu
    from validation.reproductions import fusemax

    _same(docs.figure("gpu_report"), _plain(gpu.report("h100")), "gpu_report")
    _same(docs.figure("fa2_fit"), _plain(gpu.fit_record()), "fa2_fit")
    with tempfile.TemporaryDirectory() as out:
        fusemax.run(Path(out), plots=False)
        fresh = fusemax_figures(json.loads((Path(out) / "summary.json").read_text()))
    _same(docs.figure("fusemax"), _plain(fresh), "fusemax")


def test_gpu_report_prints_the_committed_figures(capsys) -> None:
    """benchmarks/gpu_report.py prints the tables from the figures (here the committed ones: no simulation)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_report", docs.ROOT / "benchmarks" / "gpu_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.print_report(docs.figure("gpu_report"))
    out = capsys.readouterr().out
    assert "FlashAttention-2 (flash2)" in out and "held-out: 30 points" in out and "8192³ bf16 GEMM" in out
