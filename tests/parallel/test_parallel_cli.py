"""The command line on many devices: --cluster, --nodes and --plan on evaluate --layer and inference; a bad --plan
exits with status 2 naming the flag; --plot draws every device's units."""
from __future__ import annotations

import json

import pytest

from sim.report.cli.app import main


def test_layer_plan_json(capsys):
    assert main(["evaluate", "--model", "llama3-8b", "--seq", "1", "--seq-kv", "512", "--batch", "8", "--layer",
                 "--cluster", "hgx-h100x8", "--plan", "tp=4", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["plan"].startswith("tp=4") and len(record["devices"]) == 4
    assert [c["kind"] for c in record["collectives"]] == ["all_reduce", "all_reduce"]


def test_inference_plan_text_and_plot(capsys, tmp_path):
    assert main(["inference", "--model", "llama3-8b", "--cluster", "hgx-h100x8", "--nodes", "2", "--plan",
                 "tp=8", "--prompt", "64", "--batch", "2", "--output-tokens", "2", "--plot", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "TPOT" in out and "prefill per device" in out
    assert list(tmp_path.glob("devices_*.png"))


@pytest.mark.parametrize("plan,fragment", [("tp=0", "tp must be an integer"), ("tq=2", "unknown key 'tq'")])
def test_bad_plan_exits_2(capsys, plan, fragment):
    with pytest.raises(SystemExit) as e:
        main(["inference", "--model", "llama3-8b", "--cluster", "hgx-h100x8", "--plan", plan, "--prompt", "8"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--plan" in err and fragment in err
