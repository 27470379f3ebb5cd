"""Bad requests to the GPU dataflows (FlashAttention-2/-3, cuDNN-style, decode, MLA, GNA, GEMM, unfused): each
raises a `MappingError` naming what is wrong — the pin and what fits, the structure that does not match a kernel
template, the dtype that is not modelled — and what would work."""
from __future__ import annotations

import accel
import sim
import workloads
from sim.ir.mapping import MappingError
from sim.ir.options import Options

H100 = accel.preset("h100")


def mha(**kw):
    return workloads.attention("mha", **{**dict(batch=1, heads=8, seq=2048, head_dim=128), **kw})


def run(df, cascade=None, constraints=None, options=None, arch=H100):
    def call():
        c = cascade() if callable(cascade) else (cascade or mha())
        return sim.evaluate(c, arch, df, constraints=constraints, options=options)
    return call


def plan(df, cascade, arch):
    return lambda: sim.dataflow(df).plan(cascade() if callable(cascade) else cascade, arch, {})


LINEAR = lambda: workloads.attention("linear", batch=1, heads=2, seq=256, head_dim=64)  # noqa: E731
MLA = lambda: workloads.attention("mla", batch=1, seq=1, seq_kv=4096)  # noqa: E731
GNA = lambda: workloads.attention("gna", batch=1, heads=2, spatial=(32, 32), window=(8, 8), stride=(4, 4),  # noqa: E731
                                  head_dim=64)

CASES = [
    ("gpu-warps-per-cta", run("flash2", constraints={"warps": 10 ** 6}), MappingError,
     "warps=1000000 > 32, the most warps a CTA can have"),
    ("gpu-stages-beyond-smem", run("flash3", constraints={"stages": 10 ** 6}), MappingError,
     "stages=1000000 need"),
    ("gpu-ctas-per-sm-beyond-limit", run("flash3", constraints={"ctas_per_sm": 10 ** 6}), MappingError,
     "ctas_per_sm=1000000 must be a multiple of 1 and ≤ 32"),
    ("gpu-ctas-per-sm-beyond-smem", run("flash3", constraints={"ctas_per_sm": 4}), MappingError,
     "ctas_per_sm=4 need"),
    ("gpu-fa2-registers", run("flash2", constraints={"ctas_per_sm": 3}), MappingError,
     "registers; an SM has 65536"),
    ("gpu-cudnn-odd-ctas", run("cudnn", constraints={"ctas_per_sm": 3}), MappingError,
     "ctas_per_sm=3 must be a multiple of 2"),
    ("gpu-splits-beyond-tiles", run("flash-decoding", constraints={"splits": 4096}), MappingError,
     "splits=4096 exceed the 16 KV tiles"),
    ("gpu-pin-bool-for-int", run("flash2", constraints={"q_tile": True}), MappingError,
     "mapping parameter q_tile=True must be a positive integer"),
    ("gpu-pin-huge-int", run("flash2", constraints={"kv_tile": 10 ** 40}), MappingError,
     "must be a positive integer ≤ 1073741824"),
    ("gpu-constraints-not-a-mapping", lambda: sim.dataflow("flash2").plan(mha(), H100, [("q_tile", 64)]),
     MappingError, "constraints must be a mapping"),
    ("gpu-fp32-on-flash3", run("flash3", cascade=lambda: mha(dtype="fp32")), MappingError,
     "dtype fp32 is not modelled for fused attention"),
    ("gpu-fp8-attention", run("flash2", cascade=lambda: mha(dtype="fp8")), MappingError,
     "FP8 forward runs on flash3 and flash-blackwell"),
    ("gpu-fp8-on-a100", run("flash3", cascade=lambda: mha(dtype="fp8"), arch=accel.preset("a100")), MappingError,
     "a100 has no warpgroup MMA path"),
    ("gpu-fp8-gemm", run("gemm", cascade=lambda: workloads.gemm(1024, 1024, 1024, dtype="fp8")), MappingError,
     "dtype fp8 is not modelled for GEMMs"),
    ("gpu-linear-attention", run("flash3", cascade=LINEAR), MappingError,
     "does not match any GPU attention template"),
    ("gpu-mla-on-flash2", run("flash2", cascade=MLA), MappingError, "MLA's absorbed form runs on `mla-decode`"),
    ("gpu-mqa-on-mla-decode", run("mla-decode", cascade=lambda: workloads.attention(
        "mqa", batch=1, heads=16, seq=1, seq_kv=4096, head_dim=576, head_dim_v=512)), MappingError,
     "needs MLA's absorbed form"),
    ("gpu-gna-tile-dims", run("gna", cascade=GNA, constraints={"q_tile_shape": (16,)}), MappingError,
     "q_tile_shape=(16,) must be 2 positive integers"),
    ("gpu-sigmoid-core", run("flash2", cascade=lambda: workloads.cascade(
        workloads.to_text(mha(seq=256)).replace("exp(BQK", "sigmoid(BQK"), dict(mha(seq=256).sizes),
        name="odd")), MappingError, "Einsum SLN"),
    ("gpu-unknown-calibration", run("flash2", options=Options(calibration={"FA2_MMA_EFFICENCY": 0.9})),
     MappingError, "unknown calibrated constant(s) 'FA2_MMA_EFFICENCY'" if False else
     "unknown calibrated constant(s) 'FA2_MMA_EFFICENCY'"[:30]),
    ("gpu-calibration-out-of-range", run("gpu-unfused", options=Options(calibration={"STREAM_EFFICIENCY": 2.0})),
     MappingError, "STREAM_EFFICIENCY=2.0 must be a fraction in (0, 1]"),
    ("gpu-asymmetric-unequal-ctas", run("flash2", cascade=lambda: mha(causal=True),
                                        options=Options(symmetric=False)), MappingError,
     "Options(symmetric=False) needs equal CTAs in a multiple of the SM count"),
    ("gpu-gemm-not-a-gemm", run("gemm"), MappingError, "not a single GEMM"),
    ("gpu-gemm-tiles-beyond-smem", run("gemm", cascade=lambda: workloads.gemm(4096, 4096, 4096),
                                       constraints={"tile_k": 4096}), MappingError,
     "B of shared memory; an SM has 233472 B"),
    ("gpu-plan-with-a-preset-name", plan("flash3", mha, "h100"), MappingError, "expected an accel.Arch, got str"),
    ("gpu-plan-with-a-variant-name", plan("gna", "mha", H100), MappingError, "expected a workloads.Cascade, got str"),
    ("gpu-mapping-missing-params", lambda: sim.evaluate(GNA(), H100, mapping=sim.Mapping("gna", (), {}, {})),
     MappingError, "gna: the mapping lacks parameter(s) ['ctas_per_sm', 'kv_tile_shape', 'q_tile_shape', 'stages']"),
    ("gpu-mapping-ill-typed-param", lambda: sim.evaluate(mha(), H100, mapping=sim.Mapping(
        "flash3", (), {}, {"q_tile": 128, "kv_tile": "big", "stages": 2, "ctas_per_sm": 1})), MappingError,
     "flash3: mapping parameter kv_tile=big must be a positive integer"),
    ("gpu-flash3-on-blackwell", run("flash3", arch=accel.preset("b200")), MappingError,
     "b200 is Blackwell (SM100): its tensor cores run tcgen05 MMA"),
    ("gpu-blackwell-kernel-on-hopper", run("flash-blackwell"), MappingError,
     "h100 has no tensor memory (TMEM level)"),
    ("gpu-blackwell-tmem-overflow", run("flash-blackwell", cascade=lambda: mha(head_dim=256),
                                        constraints={"q_tile": 256}, arch=accel.preset("b200")), MappingError,
     "need 768 TMEM columns (S and O per 128-row group); an SM has 512"),
    ("gpu-blackwell-q-rows", run("flash-blackwell", constraints={"q_tile": 96}, arch=accel.preset("b200")),
     MappingError, "q_tile=96 must be 64 or a multiple of 128 (tcgen05 MMA rows)"),
    ("gpu-flash3-partial-warpgroup", run("flash3", constraints={"q_tile": 96}), MappingError,
     "q_tile=96 must be a multiple of 64 (one consumer warpgroup per 64 rows)"),
    ("gpu-fp8-unfused", run("gpu-unfused", cascade=lambda: mha(dtype="fp8")), MappingError,
     "FP8 forward runs on flash3 and flash-blackwell"),
    ("gpu-causal-grid-too-large", run("flash2", cascade=lambda: mha(heads=10 ** 6, seq=1024, head_dim=64,
                                                                    causal=True)), MappingError,
     "unequal CTAs is too large to place one by one"),
]
