"""Bad parallel plans and plan targets: each raises `MappingError` naming the key, the degree or the limit, and
what would work."""
from __future__ import annotations

import accel
import sim
import workloads
from sim.ir.mapping import MappingError
from sim.parallel import Plan, core_attention, plan
from sim.report.cli import CLIError
from sim.report.cli.app import run

NODE = "hgx-h100x8"


def layer_call(model: str, plan_value, **kw):
    """sim.evaluate of a small layer of `model` on the 8-GPU node under `plan_value`."""
    def call():
        m = workloads.model(model)
        shape = dict(seq=1, seq_kv=256, batch=8) if m.causal else dict(seq=64, batch=8)
        shape.update(kw)
        return sim.evaluate(m.layer(**shape), accel.preset(NODE), plan=plan_value)
    return call


CASES = [
    ("plan-unknown-key", lambda: plan({"tp": 2, "dpp": 2}), MappingError, "unknown key 'dpp'"),
    ("plan-near-key", lambda: plan("tpp=2"), MappingError, "did you mean 'tp'?"),
    ("plan-zero-degree", lambda: plan({"tp": 0}), MappingError, "tp must be an integer in [1, 65536], got 0"),
    ("plan-float-degree", lambda: plan({"cp": 2.5}), MappingError, "cp must be an integer in [1, 65536], got 2.5"),
    ("plan-bool-degree", lambda: plan({"ep": True}), MappingError, "ep must be an integer"),
    ("plan-string-degree", lambda: plan("tp=two"), MappingError, "tp must be a positive integer, got 'two'"),
    ("plan-not-key-value", lambda: plan("tp2"), MappingError, "is not key=value"),
    ("plan-repeated-key", lambda: plan("tp=2,tp=4"), MappingError, "'tp' is given twice"),
    ("plan-long-string", lambda: plan("tp=1," * 1000), MappingError, "a plan string has at most 256"),
    ("plan-type", lambda: plan(3), MappingError, "expected a dict such as {'tp': 2}"),
    ("plan-cp-kind", lambda: plan({"cp": 2, "cp_kind": "spiral"}), MappingError,
     "cp_kind must be one of ring, striped, zigzag, ulysses"),
    ("plan-tpla-tp1", lambda: Plan(attention="tpla"), MappingError, "needs tp ≥ 2"),
    ("plan-ep-tp-divide", lambda: plan("tp=3,ep=4"), MappingError, "must divide one another"),
    ("plan-too-many-devices", layer_call("llama3-8b", "tp=16"), MappingError,
     "needs 16 devices (tp×cp=16 × pp=1) but hgx-h100x8 has 8"),
    ("plan-heads-divide", layer_call("bert", "tp=5"), MappingError, "tp=5 does not divide bert's heads (12)"),
    ("plan-kv-heads-divide", lambda: sim.evaluate(workloads.model("llama3-70b").layer(seq=1, seq_kv=64),
                                                  accel.cluster(accel.preset(NODE), nodes=2), plan="tp=16"),
     MappingError, "tp=16 does not divide llama3-70b's KV heads (8)"),
    ("plan-tpla-gqa", layer_call("llama3-8b", "tp=2,attention=tpla"), MappingError,
     "attention='tpla' slices MLA's latent; llama3-8b has GQA attention"),
    ("plan-ep-dense", layer_call("llama3-8b", "ep=2"), MappingError, "ep=2 spreads routed experts; llama3-8b has none"),
    ("plan-ep-top-k", lambda: sim.evaluate(workloads.model("deepseek-v3").layer(seq=1, seq_kv=64, batch=64,
                                                                               form="absorbed"),
                                           accel.cluster(accel.preset(NODE), nodes=8), plan="ep=64"),
     MappingError, "leaves 4 experts per device, fewer than top_k=8"),
    ("plan-pp-layer", layer_call("llama3-8b", "pp=2"), MappingError, "a layer is one pipeline stage"),
    ("plan-pp-layers-divide", lambda: sim.inference("llama3-8b", accel.preset(NODE), prompt=8, plan="pp=3"),
     MappingError, "pp=3 must divide llama3-8b's 32 layers"),
    ("plan-pp-two-kinds", lambda: sim.inference("deepseek-v3", accel.cluster(NODE, nodes=8), prompt=8, plan="pp=61"),
     MappingError, "into equal stages of one layer kind"),
    ("plan-cp-decode", layer_call("llama3-8b", "cp=2"), MappingError,
     "context parallelism splits a prefill (self-attention) layer"),
    ("plan-cp-seq-divide", layer_call("bert", "cp=8,cp_kind=zigzag", seq=24), MappingError,
     "2×cp (zig-zag chunks)=16 does not divide bert's sequence (24)"),
    ("plan-on-device", lambda: sim.evaluate(workloads.model("llama3-8b").layer(seq=8), accel.preset("h100"),
                                            plan="tp=2"), MappingError, "give a cluster"),
    ("plan-target-type", lambda: sim.evaluate(workloads.model("llama3-8b").layer(seq=8), "h100", plan="tp=2"),
     MappingError, "arch must be an accel.Arch or an accel.Cluster"),
    ("plan-not-a-layer", lambda: sim.evaluate(workloads.attention("mha", batch=1, heads=8, seq=64, head_dim=64),
                                              accel.preset(NODE), plan="tp=2"), MappingError,
     "applies to a whole zoo layer"),
    ("plan-memory", lambda: sim.inference("deepseek-v3", accel.preset(NODE), prompt=64, batch=8, plan="ep=8"),
     MappingError, "has 80 GB of HBM"),
    ("plan-core-attention-layer", layer_call("llama3-8b", "disaggregation=core-attention"), MappingError,
     "use sim.parallel.core_attention(model, cluster, documents)"),
    ("plan-micro-batches", layer_call("llama3-8b", "tp=2,micro_batches=3"), MappingError,
     "do not split into 3 micro-batches"),
    ("plan-too-many-micro-batches", lambda: plan("micro_batches=64"), MappingError, "micro_batches must be at most 8"),
    ("core-attention-devices", lambda: core_attention(workloads.model("llama3-8b"), accel.preset(NODE), [64] * 8,
                                                      devices=9), MappingError, "(modelled inside one node)"),
    ("core-attention-model", lambda: core_attention(workloads.model("bert"), accel.preset(NODE), [64]),
     MappingError, "is not a causal GQA/MHA decoder"),
    ("cli-cluster-unknown", lambda: run(["inference", "--model", "llama3-8b", "--cluster", "hgx-z9", "--prompt", "8"]),
     CLIError, "--cluster: unknown preset 'hgx-z9'"),
    ("cli-cluster-and-arch", lambda: run(["inference", "--model", "llama3-8b", "--cluster", NODE, "--arch", "h100",
                                          "--prompt", "8"]), CLIError, "not both"),
    ("cli-cluster-single-device", lambda: run(["inference", "--model", "llama3-8b", "--cluster", "h100",
                                               "--prompt", "8"]), CLIError, "is a single device"),
    ("cli-plan-without-cluster", lambda: run(["inference", "--model", "llama3-8b", "--arch", "h100", "--plan", "tp=2",
                                              "--prompt", "8"]), CLIError, "give --cluster NAME"),
    ("cli-cluster-not-layer", lambda: run(["evaluate", "--variant", "mha", "--cluster", NODE]), CLIError,
     "evaluate takes a cluster for a whole layer"),
    ("cli-no-target", lambda: run(["inference", "--model", "llama3-8b", "--prompt", "8"]), CLIError,
     "--arch: name a device"),
    ("cli-plan-refused", lambda: run(["evaluate", "--model", "bert", "--seq", "64", "--layer", "--cluster", NODE,
                                      "--plan", "tp=5"]), CLIError, "--plan: plan: tp=5 does not divide"),
    ("plan-disaggregation-layer", layer_call("llama3-8b", "tp=2,disaggregation=prefill-decode"), MappingError,
     "applies to sim.inference"),
]
