"""Bad requests to the backward dataflows (`flash2-bwd`, `flash3-bwd`) and to `sim.training_step`: each raises a
`MappingError` naming what is wrong (the cascade that is not a FlashAttention-form backward, the arch, dtype or head
dim the kernel lacks, the memory limit a step exceeds) and what would work."""
from __future__ import annotations

import accel
import sim
import workloads
from sim.ir.mapping import MappingError
from sim.ir.options import Options

H100, A100, B200 = accel.preset("h100"), accel.preset("a100"), accel.preset("b200")


def mha(**kw):
    return workloads.attention("mha", **{**dict(batch=1, heads=4, seq=1024, head_dim=128), **kw})


def bwd(**kw):
    return lambda: workloads.backward(mha(**kw))


def run(df, cascade, arch=H100, constraints=None, options=None):
    return lambda: sim.evaluate(cascade(), arch, df, constraints=constraints, options=options)


def step(workload, arch=H100, **kw):
    return lambda: sim.training_step(workload() if callable(workload) else workload, arch,
                                     **{**dict(seq=512, batch=2), **kw})


def fp8_backward():
    bc = workloads.backward(mha())
    return workloads.cascade(workloads.serialize.to_text(bc), bc.sizes, name=bc.name, dtype="fp8")


GQA = lambda: workloads.backward(workloads.attention("gqa", batch=1, heads=8, kv_heads=2, seq=512,  # noqa: E731
                                                     head_dim=64))

CASES = [
    ("bwd-forward-cascade", run("flash2-bwd", mha), MappingError, "is not a FlashAttention-form backward"),
    ("bwd-fp8", run("flash3-bwd", fp8_backward), MappingError, "FP8 path is forward-only"),
    ("bwd-blackwell", run("flash2-bwd", bwd(dtype="bf16"), B200), MappingError, "is Blackwell (SM100)"),
    ("bwd-flash3-on-ampere", run("flash3-bwd", bwd(), A100), MappingError, "no warpgroup MMA path"),
    ("bwd-head-dim", run("flash2-bwd", bwd(head_dim=320)), MappingError, "head dim 320 > 256"),
    ("bwd-value-head-dim", run("flash2-bwd", bwd(head_dim_v=64)), MappingError, "one head dim for Q, K and V"),
    ("bwd-flash3-grouped", run("flash3-bwd", GQA), MappingError, "grouped heads"),
    ("bwd-unknown-pin", run("flash2-bwd", bwd(), constraints={"q_tiles": 64}), MappingError,
     "unknown mapping parameter"),
    ("bwd-pin-beyond-smem", run("flash3-bwd", bwd(), constraints={"kv_tile": 1024}), MappingError,
     "B of shared memory"),
    ("bwd-warp-layout", run("flash2-bwd", bwd(), constraints={"layout_dq": 3}), MappingError, "must divide warps"),
    ("bwd-asymmetric", run("flash2-bwd", bwd(), options=Options(symmetric=False)), MappingError,
     "symmetric=False) is not modelled for the backward"),
    ("bwd-fusemax-masked", run("fusemax-bwd", bwd(causal=True), accel.preset("fusemax")), MappingError,
     "masked attention is not modelled on spatial arrays"),
    ("bwd-fusemax-kv-block", run("fusemax-bwd", bwd(head_dim=64), accel.preset("fusemax"),
                                 constraints={"kv_block": 100}), MappingError, "must be a multiple of the key tile"),
    ("training-arch-type", step("bert", "h100"), MappingError, "arch must be an accel.Arch"),
    ("training-workload-type", step(42), MappingError, "expected a model name"),
    ("training-unknown-model", step("gpt-9"), MappingError, "unknown model"),
    ("training-seq", step("bert", seq=0), MappingError, "seq must be an integer"),
    ("training-recompute-type", step("bert", recompute="yes"), MappingError, "recompute must be True or False"),
    ("training-layer-sizes", step(lambda: workloads.model("bert").layer(seq=256, batch=1)), MappingError,
     "is built for batch 1 × seq 256"),
    ("training-layout-tokens", step("flux", seq=512), MappingError, "seq=512 must equal that"),
    ("training-does-not-fit", step("llama3-8b"), MappingError, "the states alone exceed it"),
    ("training-attention-on-blackwell", step(lambda: workloads.model("bert").layer(seq=512, batch=2), B200),
     MappingError, "is Blackwell (SM100)"),
]
