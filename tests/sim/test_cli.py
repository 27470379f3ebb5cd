"""`python -m sim`: every subcommand on small cases — `--json`/`--csv` numbers equal the Python API's, tables show
them, `--plot` writes exactly the figures it names; bad arguments exit 2 naming the flag."""
import csv
import io
import json
import math

import pytest

import accel
import sim
import workloads
from sim.dataflows.registry import DATAFLOWS
from sim.report.cli import main
from sim.search.pareto import pareto

TINY = ["--heads", "2", "--seq", "512", "--head-dim", "32"]
FUSEMAX, H100 = accel.preset("fusemax"), accel.preset("h100")


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def tiny(**kw):
    return workloads.attention("mha", **{**dict(batch=1, heads=2, seq=512, head_dim=32), **kw})


def same_result(record, r):
    """Every number of a --json record equals the Result's."""
    assert record["dataflow"] == r.dataflow and record["workload"] == r.workload and record["arch"] == r.arch
    for key in ("cycles", "latency_s", "energy_j", "dram_bytes", "tflops"):
        assert record[key] == getattr(r, key), key
    for key in ("utilization", "busy", "bytes_per_level", "energy_breakdown", "kernels"):
        assert record[key] == dict(getattr(r, key)), key
    for key in ("per_einsum", "phases", "stalls"):
        assert record[key] == {k: dict(v) for k, v in getattr(r, key).items()}, key
    assert record["params"] == json.loads(json.dumps(dict(r.mapping.params)))


def test_no_subcommand_runs_the_default_job(tmp_path, capsys):
    """The default job prints both rooflines (exactly `sim.roofline`'s tables) and writes the two-panel figure."""
    status, out, _ = run(capsys, "--out", str(tmp_path))
    bert = workloads.attention("mha", batch=64, heads=12, seq=4096, head_dim=64, softmax="1pass")
    assert status == 0
    for name in ("h100", "fusemax"):
        assert str(sim.roofline(bert, accel.preset(name))) in out
    assert (tmp_path / "roofline_bert_4k.png").read_bytes()[:4] == b"\x89PNG"


def test_list_shows_presets_variants_and_every_verdict(capsys):
    status, out, _ = run(capsys, "list", *TINY, "--arch", "fusemax")
    expected = sim.verdicts(tiny(), FUSEMAX)
    assert status == 0 and "presets:" in out and "variants:" in out
    for name, why in expected.items():
        assert f"{name}  " in out and ("yes" if why is None else f"no: {why}") in out
    status, out, _ = run(capsys, "list", *TINY, "--json")
    record = json.loads(out)
    assert set(record["variants"]) == set(workloads.VARIANTS) and record["models"] == sorted(workloads.MODELS)
    assert [p["name"] for p in record["presets"]] == list(accel.PRESETS)
    for arch in accel.PRESETS:
        assert {n: v[arch] for n, v in record["dataflows"].items()} == sim.verdicts(tiny(), accel.preset(arch))
    status, out, _ = run(capsys, "list", *TINY, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(DATAFLOWS) * len(accel.PRESETS)
    assert all((r["supported"] == "True") == (record["dataflows"][r["dataflow"]][r["arch"]] is None) for r in rows)


def test_evaluate_json_equals_the_python_api(capsys):
    for arch, name in (("fusemax", "fusemax"), ("fusemax", "example-pipelined"), ("h100", "flash2")):
        status, out, _ = run(capsys, "evaluate", *TINY, "--arch", arch, "--dataflow", name, "--json")
        assert status == 0
        (record,) = json.loads(out)
        same_result(record, sim.evaluate(tiny(), accel.preset(arch), name))


def test_evaluate_defaults_to_every_searched_dataflow_that_supports_the_pair(capsys):
    status, out, _ = run(capsys, "evaluate", *TINY, "--arch", "fusemax", "--json")
    expected = [n for n, why in sim.verdicts(tiny(), FUSEMAX).items() if why is None and DATAFLOWS[n].searched]
    assert status == 0 and [r["dataflow"] for r in json.loads(out)] == expected
    assert "example-serial" not in expected and "fusemax" in expected


def test_evaluate_table_csv_baseline_and_plots(tmp_path, capsys):
    argv = ["evaluate", *TINY, "--arch", "fusemax", "--dataflow", "example-serial", "--dataflow",
            "example-pipelined", "--baseline", "example-pipelined"]
    serial, pipelined = (sim.evaluate(tiny(), FUSEMAX, n) for n in ("example-serial", "example-pipelined"))
    status, out, _ = run(capsys, *argv, "--quiet")
    assert status == 0 and "speedup vs example-pipelined" in out
    assert "utilization (useful/capacity)" in out and "busy (time occupied)" in out
    row = next(line for line in out.splitlines() if line.startswith("example-serial "))
    assert f"{pipelined.latency_s / serial.latency_s:.4g}" in row.split()
    status, out, _ = run(capsys, *argv, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["dataflow"] for r in rows] == ["example-serial", "example-pipelined"]
    assert [float(r["cycles"]) for r in rows] == [serial.cycles, pipelined.cycles]
    assert [float(r["util.2d"]) for r in rows] == [serial.utilization["2d"], pipelined.utilization["2d"]]
    status, out, _ = run(capsys, *argv, "--quiet", "--plot", str(tmp_path))
    stem = "mha_1pass_fusemax"
    expected = {f"roofline_{stem}.png", f"stalls_{stem}.png", f"einsum_share_{stem}.png",
                f"speedup_energy_{stem}.png", f"timeline_{stem}_example-serial.png",
                f"timeline_{stem}_example-pipelined.png"}
    assert status == 0 and {p.name for p in tmp_path.glob("*.png")} == expected
    assert sorted(line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote ")) == \
        sorted(str(tmp_path / n) for n in expected)


def test_roofline_json_csv_and_plot_equal_the_python_api(tmp_path, capsys):
    status, out, _ = run(capsys, "roofline", *TINY, "--arch", "h100", "--arch", "fusemax", "--json")
    records = json.loads(out)
    assert status == 0 and [r["arch"] for r in records] == ["h100", "fusemax"]
    for record in records:
        roof = sim.roofline(tiny(), accel.preset(record["arch"]))
        assert record["lower_bound_s"] == roof.lower_bound_s and record["binding"] == roof.binding
        assert [r["bound_s"] for r in record["rows"]] == [r.bound_s for r in roof.rows]
        assert record["compulsory_bytes"] == workloads.compulsory_bytes(tiny())
    status, out, _ = run(capsys, "roofline", *TINY, "--arch", "fusemax", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    roof = sim.roofline(tiny(), FUSEMAX)
    assert [(r["einsum"], float(r["bound_s"])) for r in rows] == [(r.einsum, r.bound_s) for r in roof.rows]
    status, out, _ = run(capsys, "roofline", *TINY, "--arch", "fusemax", "--plot", str(tmp_path))
    assert status == 0 and str(roof) in out and (tmp_path / "roofline_mha_1pass_fusemax.png").exists()


def test_model_workloads_and_whole_layers(capsys):
    status, out, _ = run(capsys, "roofline", "--model", "bert", "--seq", "512", "--arch", "fusemax", "--json")
    (record,) = json.loads(out)
    assert record["lower_bound_s"] == sim.roofline(workloads.model("bert").attention(seq=512), FUSEMAX).lower_bound_s
    layer = workloads.model("llama3-8b").layer(seq=256)
    status, out, _ = run(capsys, "roofline", "--model", "llama3-8b", "--seq", "256", "--layer", "--arch", "h100",
                         "--json")
    assert status == 0 and json.loads(out)[0]["lower_bound_s"] == sim.roofline(layer, H100).lower_bound_s
    status, out, _ = run(capsys, "evaluate", "--model", "llama3-8b", "--seq", "256", "--layer", "--arch", "h100",
                         "--json")
    record = json.loads(out)
    assert status == 0 and record["latency_s"] == sim.evaluate(layer, H100).latency_s
    assert [k["kernel"] for k in record["per_kernel"]] == [p.kernel.name for p in sim.evaluate(layer, H100).parts]
    status, _, err = run(capsys, "evaluate", "--model", "bert", "--seq", "256", "--layer", "--arch", "fusemax")
    assert status == 2 and "--layer: " in err and "runs on no dataflow of fusemax" in err


def test_explore_prints_the_same_best_as_the_python_api(tmp_path, capsys):
    status, out, _ = run(capsys, "explore", *TINY, "--arch", "fusemax", "--budget", "4", "--json")
    records = json.loads(out)
    ex = sim.explore(tiny(), FUSEMAX, budget=4)
    assert status == 0 and len(records) == len(ex.candidates)
    best = min((r for r in records if r["status"] == "ok"), key=lambda r: r["latency_s"])
    assert best["latency_s"] == ex.best.latency_s and best["dataflow"] == ex.best.dataflow
    status, out, _ = run(capsys, "explore", *TINY, "--arch", "fusemax", "--budget", "4", "--quiet", "--plot",
                         str(tmp_path))
    assert status == 0 and f"best: {ex.best.dataflow}" in out
    assert [p.name for p in tmp_path.glob("*.png")] == ["explore_mha_1pass_fusemax.png"]


def test_sweep_runs_each_designs_own_dataflow_and_cascade(tmp_path, capsys):
    """flat runs FLAT's dataflow on the 3-pass cascade, FuseMax its own on the 1-pass one; --array multiplies the
    archs; one Pareto front (and figure) per sequence length; each cell equals `sim.explore` of that design."""
    argv = ["sweep", "--heads", "2", "--head-dim", "64", "--seqs", "512,1024", "--arch", "flat", "--arch",
            "fusemax", "--array", "128,256", "--dataflow", "flat", "--dataflow", "fusemax", "--budget", "4"]
    status, out, _ = run(capsys, *argv, "--json", "--quiet")
    rows = json.loads(out)
    assert status == 0
    designs = {(r["design"], r["workload"]) for r in rows}
    assert ("flat/array=256 · flat", "mha_3pass_seq512") in designs
    assert ("fusemax/array=256 · fusemax", "mha_1pass_seq1024") in designs
    assert not any(r["design"].startswith("flat/") and r["dataflow"] == "fusemax" for r in rows)
    for r in rows:
        arch = next(a for a in sim.arch_variants(accel.preset(r["design"].split("/")[0]), array=[128, 256])
                    if a.name == r["arch"])
        c = workloads.attention("mha", batch=1, heads=2, seq=r["seq"], head_dim=64,
                                softmax=r["workload"].split("_")[1])
        assert r["latency_s"] == sim.explore(c, arch, dataflows=[r["dataflow"]], budget=4).best.latency_s
    for seq in (512, 1024):
        ok = [r for r in rows if r["seq"] == seq and r["status"] == "ok"]
        front = pareto(ok, key=lambda r: (r["latency_s"], r["energy_j"], r["area_mm2"]))
        assert {r["design"] for r in ok if r["pareto"]} == {r["design"] for r in front}
        assert {r["front_of"] for r in ok} == {"latency_s,energy_j,area_mm2"}
    status, out, _ = run(capsys, *argv, "--quiet", "--plot", str(tmp_path))
    assert status == 0 and "flat/array=128 · flat" in out and "mha_3pass_seq512" in out
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sweep_pareto_seq1024.png", "sweep_pareto_seq512.png"]


def test_sweep_fronts_rank_the_metrics_every_design_has(capsys):
    """A front over h100 and FuseMax designs ranks latency, energy (GPU results carry board energy) and area; the
    designs marked are exactly the brute-force front."""
    argv = ["sweep", *TINY, "--arch", "h100", "--arch", "fusemax", "--dataflow", "flash2", "--dataflow", "fusemax",
            "--dataflow", "cudnn", "--budget", "2", "--quiet"]
    status, out, _ = run(capsys, *argv, "--json")
    rows = json.loads(out)
    assert status == 0 and {r["front_of"] for r in rows} == {"latency_s,energy_j,area_mm2"}
    front = pareto(rows, key=lambda r: (r["latency_s"], r["energy_j"], r["area_mm2"]))
    assert {r["design"] for r in rows if r["pareto"]} == {r["design"] for r in front}
    status, out, _ = run(capsys, *argv)
    assert "front at 512 tokens ranks: latency_s, energy_j, area_mm2" in out


def test_report_writes_the_gallery(tmp_path, capsys):
    from sim.report import gallery
    status, out, _ = run(capsys, "report", "--out", str(tmp_path), "--quiet")
    assert status == 0
    index = (tmp_path / "README.md").read_text()
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted(gallery.FIGURES) and all(f"]({name})" in index for name in pngs)
    assert "python -m validation.compare" in index and "](validation/report.md)" in index
    assert sum((tmp_path / p).stat().st_size for p in pngs) < 2_000_000


def arch_files(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "binary.yaml").write_bytes(b"\x00\x01\x02name: x")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{}")
    (tmp_path / "plain").write_text("not an arch")
    return tmp_path


@pytest.mark.parametrize("argv,fragment", [
    (["roofline", "--arch", "tpu9"], "--arch: unknown preset 'tpu9' (valid: fusemax, flat"),
    (["evaluate", "--arch", "nope.json"], "--arch: nope.json: no such file"),
    (["evaluate", "--arch", "{d}/folder.yaml"], "is a directory"),
    (["evaluate", "--arch", "{d}"], "--arch: '{d}' is a directory"),
    (["evaluate", "--arch", "{d}/binary.yaml"], "binary"),
    (["evaluate", "--arch", "{d}/latin1.json"], "--arch: "),
    (["evaluate", "--arch", "{d}/plain"], "is neither a preset name"),
    (["evaluate", *TINY, "--arch", "fusemax", "--plot", "{d}/plain"], "--plot: '{d}/plain' is a file"),
    (["evaluate", *TINY, "--arch", "fusemax", "--plot", "{d}/plain/sub"], "--plot: cannot create the folder"),
    (["roofline", *TINY, "--plot", "{d}/plain"], "--plot: '{d}/plain' is a file"),
    (["report", "--out", "{d}/plain"], "--out: '{d}/plain' is a file"),
    (["--out", "{d}/plain"], "--out: '{d}/plain' is a file"),
    (["evaluate", *TINY, "--arch", "fusemax", "--baseline", "warp9"],
     "--baseline: 'warp9' is not among the evaluated dataflows"),
    (["roofline", "--variant", "mhx"], "unknown attention variant 'mhx' (valid:"),
    (["roofline", "--variant", "gqa", "--heads", "12", "--kv-heads", "5"], "kv_heads=5 does not divide"),
    (["roofline", "--param", "foo=3"], "--param foo=... is not an argument"),
    (["roofline", "--model", "bert", "--heads", "4"], "--heads cannot be combined with --model"),
    (["roofline", "--model", "bert"], "--model bert needs --seq N"),
    (["roofline", "--layer"], "--layer needs --model"),
    (["evaluate", *TINY, "--arch", "fusemax", "--dataflow", "warp9"], "unknown dataflow 'warp9'"),
    (["evaluate", *TINY, "--arch", "fusemax", "--dataflow", "flash2"], "--dataflow flash2: "),
    (["sweep", *TINY, "--arch", "fusemax", "--dataflow", "warp9"], "--dataflow: unknown dataflow 'warp9'"),
])
def test_bad_arguments_exit_2_naming_them(tmp_path, capsys, argv, fragment):
    d = str(arch_files(tmp_path))
    status, out, err = run(capsys, *[a.replace("{d}", d) for a in argv])
    assert status == 2 and fragment.replace("{d}", d) in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize("argv,fragment", [
    (["roofline", "--seq", "4k"], "argument --seq: expected a positive integer, got '4k'"),
    (["roofline", "--heads", "0"], "argument --heads: expected a positive integer"),
    (["roofline", "--seq", str(2 ** 70)], "argument --seq: expected a positive integer (at most 2^62)"),
    (["roofline", "--param", "window"], "argument --param: expected KEY=VALUE"),
    (["roofline", "--param", "w=" + "(" * 5000], "argument --param: expected KEY=VALUE of at most"),
    (["sweep", "--seqs", "512,x"], "argument --seqs"),
    (["sweep", "--array", "128x"], "argument --array"),
    (["sweep", "--dram-bw", "inf"], "argument --dram-bw: expected a positive finite number"),
    (["sweep", "--seqs", ",".join(["8"] * 100)], "argument --seqs: at most 64 values"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_malformed_arguments_exit_2_from_the_parser(capsys, argv, fragment):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and fragment in capsys.readouterr().err


def test_error_messages_are_bounded(capsys):
    status, _, err = run(capsys, "roofline", "--arch", "x" * 100_000)
    assert status == 2 and len(err) < 2500 and math.isfinite(len(err))
