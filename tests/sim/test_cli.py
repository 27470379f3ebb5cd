"""`python -m sim`: every subcommand on small cases — tables parse, `--json` numbers equal the Python API's, `--plot`
writes figures, bad arguments exit 2 naming the argument, a missing engine part exits 1 naming it."""
import csv
import importlib
import io
import json
import sys

import pytest

import accel
import sim
import workloads
from sim.report import gallery
from sim.report.cli import main

TINY = ["--heads", "2", "--seq", "512", "--head-dim", "32"]


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def tiny():
    return workloads.attention("mha", batch=1, heads=2, seq=512, head_dim=32)


def test_no_subcommand_runs_the_default_job(tmp_path, capsys):
    status, out, _ = run(capsys, "--out", str(tmp_path))
    assert status == 0 and "on h100" in out and "on fusemax" in out
    assert (tmp_path / "roofline_bert_4k.png").read_bytes()[:4] == b"\x89PNG"


def test_list_shows_presets_variants_and_every_verdict(capsys):
    status, out, _ = run(capsys, "list", *TINY, "--arch", "fusemax")
    assert status == 0 and "presets:" in out and "variants:" in out and "h100" in out
    status, out, _ = run(capsys, "list", *TINY, "--arch", "h100", "--json")
    record = json.loads(out)
    assert set(record["variants"]) == set(workloads.VARIANTS)
    assert [p["name"] for p in record["presets"]] == list(accel.PRESETS)
    expected = sim.verdicts(tiny(), accel.preset("h100"))
    assert {n: v["h100"] for n, v in record["dataflows"].items()} == expected
    status, out, _ = run(capsys, "list", *TINY, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(expected) * len(accel.PRESETS)
    assert {r["arch"] for r in rows} == set(accel.PRESETS) if expected else rows == []


def test_evaluate_json_equals_the_python_api(tmp_path, capsys):
    """The example dataflow is always there; a registered one is checked too when one supports the pair."""
    arch = accel.preset("fusemax")
    status, out, err = run(capsys, "evaluate", *TINY, "--arch", "fusemax", "--dataflow", "example-pipelined",
                           "--json")
    assert status == 0
    (record,) = json.loads(out)
    expected = gallery.example_result(tiny(), arch)
    assert record["cycles"] == expected.cycles and record["energy_j"] == pytest.approx(expected.energy_j)
    assert record["utilization"] == pytest.approx(dict(expected.utilization))
    registered = [n for n, why in sim.verdicts(tiny(), arch).items() if why is None]
    if registered:
        status, out, _ = run(capsys, "evaluate", *TINY, "--arch", "fusemax", "--dataflow", registered[0], "--json")
        (record,) = json.loads(out)
        r = sim.evaluate(tiny(), arch, registered[0])
        assert record["latency_s"] == r.latency_s and record["dram_bytes"] == r.dram_bytes
        assert record["stalls"] == {k: dict(v) for k, v in r.stalls.items()}


def test_evaluate_table_csv_and_plots(tmp_path, capsys):
    argv = ["evaluate", *TINY, "--arch", "fusemax", "--dataflow", "example-serial", "--dataflow",
            "example-pipelined"]
    status, out, _ = run(capsys, *argv, "--quiet")
    assert status == 0 and "speedup vs example-serial" in out and "latency" in out
    status, out, _ = run(capsys, *argv, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["dataflow"] for r in rows] == ["example-serial", "example-pipelined"]
    assert float(rows[1]["cycles"]) < float(rows[0]["cycles"])
    status, out, _ = run(capsys, *argv, "--quiet", "--plot", str(tmp_path))
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert status == 0 and any(n.startswith("timeline_") for n in names)
    assert {"roofline", "stalls", "einsum", "speedup"} <= {n.split("_")[0] for n in names}


def test_roofline_json_equals_the_python_api(tmp_path, capsys):
    status, out, _ = run(capsys, "roofline", *TINY, "--arch", "h100", "--arch", "fusemax", "--json")
    records = json.loads(out)
    for record, name in zip(records, ["h100", "fusemax"]):
        roof = sim.roofline(tiny(), accel.preset(name))
        assert record["arch"] == name and record["lower_bound_s"] == roof.lower_bound_s
        assert [r["bound_s"] for r in record["rows"]] == [r.bound_s for r in roof.rows]
    status, out, _ = run(capsys, "roofline", *TINY, "--arch", "fusemax", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["einsum"] for r in rows] == [r.einsum for r in sim.roofline(tiny(), accel.preset("fusemax")).rows]
    status, out, _ = run(capsys, "roofline", *TINY, "--arch", "fusemax", "--plot", str(tmp_path))
    assert status == 0 and "lower bound" in out and (tmp_path / "roofline_mha_1pass_fusemax.png").exists()


def test_model_workloads(capsys):
    status, out, _ = run(capsys, "roofline", "--model", "bert", "--seq", "512", "--arch", "fusemax", "--json")
    (record,) = json.loads(out)
    assert record["lower_bound_s"] == sim.roofline(workloads.model("bert").attention(seq=512),
                                                   accel.preset("fusemax")).lower_bound_s


def test_explore(tmp_path, capsys):
    status, out, _ = run(capsys, "explore", *TINY, "--arch", "fusemax", "--budget", "4", "--json")
    assert status == 0
    records = json.loads(out)
    assert {r["status"] for r in records} <= {"ok", "pruned", "infeasible", "unsupported", "duplicate"}
    best = min((r for r in records if r["status"] == "ok"), key=lambda r: r["latency_s"], default=None)
    ex = importlib.import_module("sim.search.exploration").explore(tiny(), accel.preset("fusemax"), budget=4)
    assert best is None or best["latency_s"] == ex.best.latency_s
    status, out, _ = run(capsys, "explore", *TINY, "--arch", "fusemax", "--budget", "4", "--quiet", "--plot",
                         str(tmp_path))
    assert status == 0 and "best:" in out and list(tmp_path.glob("explore_*.png"))


def test_sweep(tmp_path, capsys):
    status, out, _ = run(capsys, "sweep", *TINY, "--arch", "fusemax", "--json", "--quiet")
    assert status == 0 and json.loads(out)


@pytest.mark.parametrize("command,module", [("explore", "sim.search.exploration"), ("sweep", "sim.search.sweeps")])
def test_missing_engine_part_is_named(monkeypatch, capsys, command, module):
    """With the engine module absent, the subcommand exits 1 naming what is missing."""
    monkeypatch.setitem(sys.modules, module, None)       # makes `import sim.explore` raise ImportError
    status, _, err = run(capsys, command, *TINY, "--arch", "fusemax")
    assert status == 1 and f"needs {module}." in err and "not available" in err


def test_report_writes_the_gallery(tmp_path, capsys):
    status, out, _ = run(capsys, "report", "--out", str(tmp_path), "--quiet")
    assert status == 0
    index = (tmp_path / "README.md").read_text()
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) >= 8 and all(f"]({p.name})" in index for p in pngs)
    assert sum(p.stat().st_size for p in pngs) < 2_000_000


@pytest.mark.parametrize("argv,fragment", [
    (["roofline", "--arch", "tpu9"], "unknown preset 'tpu9' (valid: fusemax, flat"),
    (["evaluate", "--arch", "nope.json"], "no such file"),
    (["roofline", "--variant", "mhx"], "unknown attention variant 'mhx' (valid:"),
    (["roofline", "--variant", "gqa", "--heads", "12", "--kv-heads", "5"], "kv_heads=5 does not divide"),
    (["roofline", "--param", "foo=3"], "--param foo=... is not an argument"),
    (["roofline", "--model", "bert", "--heads", "4"], "--heads cannot be combined with --model"),
    (["evaluate", *TINY, "--arch", "fusemax", "--dataflow", "warp9"], "unknown dataflow 'warp9'"),
])
def test_bad_arguments_exit_2_naming_them(capsys, argv, fragment):
    status, _, err = run(capsys, *argv)
    assert status == 2 and fragment in err


@pytest.mark.parametrize("argv,fragment", [
    (["roofline", "--seq", "4k"], "argument --seq: expected a positive integer, got '4k'"),
    (["roofline", "--heads", "0"], "argument --heads: expected a positive integer"),
    (["roofline", "--param", "window"], "argument --param: expected KEY=VALUE"),
    (["sweep", "--seqs", "512,x"], "argument --seqs"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_malformed_arguments_exit_2_from_the_parser(capsys, argv, fragment):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and fragment in capsys.readouterr().err
