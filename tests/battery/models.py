"""Bad whole-layer and whole-model requests: each raises the documented error naming what is wrong and what would
work — a kernel no dataflow runs, a model that does not fit, a pin that names no kernel, a bad request field."""
from __future__ import annotations

import accel
import sim
import workloads
from sim.ir.mapping import MappingError
from sim.models import evaluate_layer
from sim.models.endtoend import fusemax_layer
from sim.report.cli import CLIError
from sim.report.cli.app import run
from workloads import CascadeError
from workloads.models.kernels import layer_kernels
from workloads.models.moe import MoE

H100 = accel.preset("h100")


def _layer(seq=128, **kw):
    return workloads.model("llama3-8b").layer(seq=seq, **kw)


def _infer(model="llama3-8b", arch=H100, **kw):
    return lambda: sim.inference(model, arch, **{"prompt": 128, **kw})


CASES = [
    ("inference-unknown-model", _infer("llama9"), MappingError, "unknown model 'llama9'"),
    ("inference-model-type", _infer(42), MappingError, "model must be a model name or a workloads.Model"),
    ("inference-arch-name", _infer(arch="h100"), MappingError, "arch must be an accel.Arch"),
    ("inference-zero-prompt", _infer(prompt=0), MappingError, "prompt must be an integer in [1,"),
    ("inference-bool-batch", _infer(batch=True), MappingError, "batch must be an integer"),
    ("inference-huge-output", _infer(output_tokens=1 << 20), MappingError, "output_tokens must be an integer in [1, 16384]"),
    ("inference-memory-policy", _infer(memory_policy="maybe"), MappingError, "memory must be 'refuse' or 'flag'"),
    ("inference-encoder-decode", _infer("bert", output_tokens=4), MappingError, "bert is not autoregressive"),
    ("inference-layout-prompt", _infer("hunyuanvideo", prompt=4096), MappingError, "(115200 tokens); prompt=4096"),
    ("inference-too-big", _infer("llama3-70b"), MappingError, "has 80 GB of HBM: the weights alone do not fit"),
    ("inference-kv-too-big", _infer(prompt=120000, batch=8), MappingError, "at most 4 sequences of 120000 tokens fit"),
    ("layer-on-spatial", lambda: sim.evaluate(workloads.model("bert").layer(seq=128), accel.preset("flat")),
     MappingError, "kernel attn_out_norm (norm"),
    ("layer-bf16-on-spatial", lambda: sim.evaluate(_layer(), accel.preset("fusemax")), MappingError,
     "dtype bf16 is not modelled"),
    ("layer-mla-naive-on-gpu", lambda: sim.evaluate(workloads.model("deepseek-v3").layer(seq=64), H100), MappingError,
     "its absorbed form runs on mla-decode"),
    ("layer-constraints-type", lambda: sim.evaluate(_layer(), H100, constraints=["attention"]), MappingError,
     "constraints of a layer must map a kernel name or kind"),
    ("layer-constraints-unknown", lambda: sim.evaluate(_layer(), H100, constraints={"atention": {}}), MappingError,
     "no kernel or kernel kind 'atention' in this layer"),
    ("layer-constraints-value", lambda: sim.evaluate(_layer(), H100, constraints={"attention": "flash2"}),
     MappingError, "constraints['attention'] must be a mapping"),
    ("layer-pins-without-dataflow", lambda: sim.evaluate(_layer(), H100, constraints={"attention": {"q_tile": 64}}),
     MappingError, "need a pinned dataflow"),
    ("layer-pin-unknown-dataflow", lambda: sim.evaluate(_layer(), H100, constraints={"qkv": {"dataflow": "gemmm"}}),
     MappingError, "unknown dataflow 'gemmm'"),
    ("layer-pin-refusing-dataflow", lambda: sim.evaluate(_layer(), H100, constraints={"act": {"dataflow": "gemm"}}),
     MappingError, "pinned dataflow gemm cannot run it"),
    ("layer-bad-pin-value", lambda: sim.evaluate(_layer(), H100, constraints={"attention": {"dataflow": "flash3",
                                                                                           "q_tile": -1}}),
     MappingError, "q_tile=-1 must be a positive integer"),
    ("layer-arch-name", lambda: evaluate_layer(_layer(), "h100"), MappingError, "arch must be an accel.Arch"),
    ("layer-unknown-kind", lambda: evaluate_layer(_layer(), H100, kinds=("lienar",)), MappingError,
     "no kernels of kind 'lienar'"),
    ("layer-kernels-of-plain-cascade", lambda: layer_kernels(workloads.gemm(8, 8, 8)), CascadeError,
     "is not a labelled layer"),
    ("layer-moe-routing-too-large", lambda: workloads.layer(
        workloads.attention("gqa", batch=64, heads=4, kv_heads=2, seq=8192, head_dim=8), model_dim=16,
        ffn_kind="moe", moe=MoE(experts=7, top_k=2, expert_dim=4, shared_dim=4)), CascadeError,
     "needs a 524288×7 table; at most 2097152 cells"),
    ("elementwise-refuses-gemm", lambda: sim.evaluate(workloads.gemm(64, 4096, 4096, "bf16"), H100, "gpu-elementwise"),
     MappingError, "is a contraction over 4096 points"),
    ("elementwise-refuses-attention", lambda: sim.evaluate(workloads.attention("mha", batch=1, heads=2, seq=64,
                                                                              head_dim=16), H100, "gpu-elementwise"),
     MappingError, "not one elementwise pass"),
    ("spatial-elementwise-op", lambda: sim.evaluate(workloads.cascade("input X[m,d]\nY[m,d] = gelu(X[m,d])",
                                                                     {"M": 8, "D": 8}), accel.preset("fusemax"),
                                                    "spatial-elementwise"),
     MappingError, "no array of fusemax runs 'gelu'"),
    ("fusemax-layer-not-encoder", lambda: fusemax_layer("llama3-8b", accel.preset("fusemax"), seq=64, batch=1,
                                                        softmax="1pass", attention={"dataflow": "fusemax"}),
     MappingError, "is not an encoder of the FuseMax evaluation"),
    ("fusemax-layer-no-pin", lambda: fusemax_layer("bert", accel.preset("fusemax"), seq=64, batch=1,
                                                   softmax="1pass", attention={}), MappingError,
     "attention must pin the attention dataflow"),
    ("cli-inference-model", lambda: run(["inference", "--model", "gpt9", "--arch", "h100", "--prompt", "8"]),
     CLIError, "--model: unknown model 'gpt9'"),
    ("cli-inference-memory", lambda: run(["inference", "--model", "llama3-70b", "--arch", "h100", "--prompt", "8"]),
     CLIError, "(--memory flag simulates it anyway)"),
    ("cli-layer-two-dataflows", lambda: run(["evaluate", "--model", "llama3-8b", "--seq", "64", "--layer", "--arch",
                                             "h100", "--dataflow", "flash2", "--dataflow", "flash3"]),
     CLIError, "with --layer, name one dataflow"),
]
