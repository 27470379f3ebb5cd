"""The command line for whole layers and models: `evaluate --model NAME --layer` and `inference` print the same
figures as the Python API, write the per-kernel bar and kernel roofline with --plot, and exit 2 naming the flag."""
import json

import accel
import sim
import workloads
from sim.report.cli.app import main

H100 = accel.preset("h100")


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_layer_evaluate_prints_the_kernel_table_and_plots(capsys, tmp_path):
    status, out, _ = run(capsys, "evaluate", "--model", "bert", "--seq", "256", "--layer", "--arch", "h100",
                         "--plot", str(tmp_path))
    r = sim.evaluate(workloads.model("bert").layer(seq=256), H100)
    assert status == 0 and f"latency {r.latency_s * 1e3:.4g} ms" in out and "attn_out_norm" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kernel_roofline_bert_mha_1pass_h100.png",
                                                          "kernels_bert_mha_1pass_h100.png"]
    status, out, _ = run(capsys, "evaluate", "--model", "bert", "--seq", "256", "--layer", "--arch", "h100",
                         "--dataflow", "flash2", "--csv")
    assert status == 0 and "attention,attention,sub-cascade,flash2" in out


def test_inference_prints_the_api_figures(capsys, tmp_path):
    status, out, _ = run(capsys, "inference", "--model", "llama3-8b", "--arch", "h100", "--prompt", "512",
                         "--output-tokens", "3", "--json")
    record = json.loads(out)
    api = sim.inference("llama3-8b", H100, prompt=512, output_tokens=3)
    assert status == 0 and record["ttft_s"] == api.ttft_s and record["tpot_s"] == api.tpot_s
    assert record["decode_kv"] == [513, 514] and record["fits"] is True
    status, out, _ = run(capsys, "inference", "--model", "llama3-8b", "--arch", "h100", "--prompt", "512",
                         "--plot", str(tmp_path))
    assert status == 0 and "TTFT" in out and (tmp_path / "inference_llama3-8b_h100.png").exists()
    status, _, err = run(capsys, "inference", "--model", "deepseek-v3", "--arch", "h100", "--prompt", "512")
    assert status == 2 and "--memory flag" in err
