"""Bad requests to the spatial-array dataflows (FuseMax ablation steps, FLAT, systolic GEMMs): each raises a
`MappingError` naming what is wrong — the pin and the valid ones, what does not fit and how much, the structure
that differs from the template — and what would work."""
from __future__ import annotations

import accel
import sim
import workloads
from sim.ir.mapping import MappingError
from sim.ir.options import Options

SHAPE = dict(batch=1, heads=2, seq=4096, head_dim=64)


def mha(softmax="1pass", **kw):
    return workloads.attention("mha", softmax=softmax, **{**SHAPE, **kw})


def run(df, cascade=None, hw=None, constraints=None, options=None):
    def call():
        c = cascade() if callable(cascade) else cascade
        if c is None:
            c = mha("3pass" if df in ("flat", "unfused") else "1pass")
        arch = hw() if callable(hw) else accel.preset(hw or ("flat" if df in ("flat", "unfused", "fusemax-cascade")
                                                              else "fusemax"))
        return sim.evaluate(c, arch, df, constraints=constraints, options=options)
    return call


def with_buffer(preset, capacity):
    def make():
        d = accel.to_dict(accel.preset(preset))
        d["name"], d["levels"][1]["capacity_bytes"] = f"{preset}_small", capacity
        return accel.from_dict(d)
    return make


def biased():
    text = workloads.to_text(mha()).replace(
        "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]", "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], BIAS[h,m,p1,p0]"
    ).replace("SLN[b,h,m,p1,p0] = exp(BQK[b,h,m,p1,p0] - RM[b,h,m,p1+1])",
              "SLN[b,h,m,p1,p0] = exp(BQK[b,h,m,p1,p0] + BIAS[h,m,p1,p0] - RM[b,h,m,p1+1])")
    sizes = {k: v for k, v in mha().sizes.items() if k != "P1"}
    return workloads.cascade(text, sizes, name="alibi_like")


CASES = [
    ("spatial-unknown-pin", run("fusemax", constraints={"q_tlie": 64}), MappingError,
     "fusemax: unknown mapping parameter 'q_tlie' (valid: P0, M1, lookahead)"),
    ("spatial-pin-moved-to-arch", run("fusemax-arch", constraints={"fill_drain": 0}), MappingError,
     "fill_drain is a hardware fact: set the 2d unit's fill_drain_cycles in the arch"),
    ("spatial-pin-moved-to-options", run("flat", constraints={"group": 4}), MappingError,
     "group is a simulation option: sim.evaluate(..., options=sim.Options(tile_group=...))"),
    ("spatial-constraints-not-mapping", lambda: sim.dataflow("unfused").plan(mha("3pass"), accel.preset("flat"),
                                                                             [("rows", 256)]), MappingError,
     "unfused: constraints must be a mapping of mapping parameter to value, got list"),
    ("spatial-zero-query-block", run("fusemax", constraints={"M1": 0}), MappingError,
     "fusemax: mapping parameter M1=0 must be ≥ 1"),
    ("spatial-query-block-not-factor", run("fusemax", constraints={"M1": 3}), MappingError,
     "fusemax: M1=3 must divide M/M0 = 16 (factors: 1, 2, 4, 8, 16)"),
    ("spatial-key-tile-taller-than-array", run("fusemax", constraints={"P0": 512}), MappingError,
     "fusemax: P0=512 keys do not fit down the 2D array's 256 rows"),
    ("spatial-key-tile-not-divisor", run("fusemax-cascade", constraints={"P0": 100}), MappingError,
     "P0=100 must divide P=4096 (e.g. 256)"),
    ("spatial-row-block-not-legal", run("flat", constraints={"rows": 300}), MappingError,
     "flat: rows=300 is not a legal row block for M=4096 (valid: 256, 512, 1024, 2048, 4096)"),
    ("spatial-lookahead-on-serial-dataflow", run("fusemax-arch", constraints={"lookahead": 2}), MappingError,
     "fusemax-arch: unknown mapping parameter 'lookahead' (valid: P0, M1)"),
    ("spatial-query-block-too-large", run("fusemax", cascade=lambda: mha(seq=2 ** 20, heads=1),
                                          constraints={"M1": 256}), MappingError,
     "the largest M1 that fits is 128"),
    ("spatial-subtract-pin-not-a-bool", run("fusemax-cascade", constraints={"exp_of_difference": 1}), MappingError,
     "fusemax-cascade: mapping parameter exp_of_difference must be True or False, got 1"),
    ("spatial-subtract-pin-on-fusemax", run("fusemax", constraints={"exp_of_difference": True}), MappingError,
     "fusemax: unknown mapping parameter 'exp_of_difference' (valid: P0, M1, lookahead)"),
    ("spatial-buffer-without-room-for-score-rows", run("fusemax-cascade", hw=with_buffer("flat", 2 ** 18)), MappingError,
     "(328704 bytes of Q and running state)"),
    ("spatial-1kib-buffer-1pass", run("fusemax", hw=with_buffer("fusemax", 1024)), MappingError,
     "need more than the 1024-byte GlobalBuffer holds (a buffer of ≥ 590848 bytes would run M1=1)"),
    ("spatial-1kib-buffer-3pass", run("flat", hw=with_buffer("flat", 1024)), MappingError,
     "the GlobalBuffer has 1024 bytes, so a buffer of ≥ 458752 bytes would run it"),
    ("spatial-2^30-tokens-pinned-block", run("fusemax", cascade=lambda: mha(seq=2 ** 30, heads=1),
                                             constraints={"M1": 128}), MappingError,
     "the K/V chunks it holds at once do not fit in the 8257536 bytes beside its query state; M1=64 would"),
    ("spatial-2^31-tokens", run("fusemax", cascade=lambda: mha(seq=2 ** 31, heads=1)), MappingError,
     "a buffer of ≥ 25296896 bytes or a shorter key sequence would"),
    ("spatial-prime-key-length", run("fusemax", cascade=lambda: mha(seq=1_000_003, heads=1)), MappingError,
     "P=1000003 has no divisor near the array's 256; its largest ≤ 256 is 1"),
    ("spatial-bad-tile-group", run("fusemax", options=Options(tile_group=3)), MappingError,
     "fusemax: Options.tile_group=3 must divide M1=16"),
    ("spatial-bias-on-scores", run("fusemax", cascade=biased), MappingError,
     "Einsum SLN is not the template's: got `SLN[b,h,m,p1,p0] = exp(BQK[b,h,m,p1,p0] + BIAS[h,m,p1,p0]"),
    ("spatial-grouped-heads", run("fusemax", cascade=lambda: workloads.attention(
        "gqa", batch=1, heads=4, kv_heads=2, seq=512, head_dim=64)), MappingError,
     "is not multi-head attention with the 1pass softmax: extra rank G"),
    ("spatial-wrong-softmax", run("flat", cascade=lambda: mha("1pass")), MappingError,
     "is not multi-head attention with the 3pass softmax: extra rank P0"),
    ("spatial-fp8", run("fusemax", cascade=lambda: mha(dtype="fp8")), MappingError,
     "spatial arrays are modelled in fp16 (FuseMax/FLAT datapaths, rates and energies); dtype fp8 is not modelled"),
    ("spatial-on-a-gpu", run("fusemax", hw="h100"), MappingError,
     "needs two memory levels, DRAM then GlobalBuffer (this arch has HBM, L2, SMEM, RF)"),
    ("systolic-not-a-gemm", run("systolic-os", cascade=lambda: mha()), MappingError,
     "needs a plain GEMM (workloads.gemm: ranks M, N, K"),
    ("systolic-1kib-buffer", run("systolic-is", cascade=workloads.gemm(512, 512, 512),
                                 hw=lambda: accel.systolic(128, 128, buffer_bytes=1024)), MappingError,
     "GEMM on a 128×128 array needs 458752 bytes on chip, the GlobalBuffer has 1024 for it (of 1024); a buffer of "
     "≥ 458752 bytes would"),
    ("systolic-chunk-too-large", run("systolic-ws", cascade=workloads.gemm(65536, 512, 512),
                                     hw=lambda: accel.systolic(128, 128, buffer_bytes=2 ** 20),
                                     constraints={"Mt": 65536}), MappingError,
     "at Mt=65536 needs"),
    ("systolic-unknown-pin", run("systolic-os", cascade=workloads.gemm(256, 256, 256),
                                 hw=lambda: accel.systolic(64, 64), constraints={"Mt": 64}), MappingError,
     "systolic-os: unknown mapping parameter 'Mt' (valid: weights_resident)"),
]
