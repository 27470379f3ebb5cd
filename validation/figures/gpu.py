"""The GPU model's figures: the model next to every public measurement this project holds, calibration points
marked, and predictions of the kernels that have none (printed by `python benchmarks/gpu_report.py`).

Measurements: the public FlashAttention-2 H100 table (Shah et al., "FlashAttention-3", 2024, Fig. 6 forward rows:
FlashAttention-2 and "Standard" PyTorch attention), compared through `validation.compare` exactly as `python -m
validation.compare` does: the same matching, the same calibration / held-out split, time error = simulated /
measured − 1, and TFLOP/s of both sides from the row's own FLOP count (FlashAttention's convention, in which the
table is published). Predictions (flash3 and cudnn TFLOP/s per head dim, an 8192³ bf16 GEMM, FLUX-scale GNA) are in
the simulator's FLOP convention (2 per MAC over the attended pairs).
"""
from __future__ import annotations

import accel
import sim
import workloads
from validation.compare.pairs import pairs
from validation.compare.pipeline import compare_points
from validation.compare.points import read_points
from validation.compare.summaries import LONG_TOKENS, summarize
from validation.data.fa2_public import CSV_PATH, HIDDEN, SEQS, TOKENS
from validation.figures import gpu_mechanisms

HEAD_DIMS = (64, 128, 256)
KERNELS = {"flash2": "FlashAttention-2 (flash2)", "standard": "Standard PyTorch attention (gpu-unfused)"}
PREDICTED = ("flash3", "cudnn")
FLUX = dict(batch=1, heads=24, spatial=(256, 256), window=(80, 80), stride=(16, 16), head_dim=128)
FLUX_TILES = dict(q_tile=(16, 8), kv_tile=(16, 8))   # NATTEN's Hopper 2-D forward tiles (GNA paper)


def bench(seq: int, d: int, causal: bool) -> workloads.Cascade:
    """FlashAttention's benchmark shape: B·S = 16K tokens, hidden 2048, H = 2048 / D."""
    return workloads.attention("mha", batch=TOKENS // seq, heads=HIDDEN // d, seq=seq, head_dim=d, causal=causal)


def fa2_points() -> list:
    """Every forward row of the public table compared with the model (roles assigned, no refit)."""
    compared, _ = compare_points(read_points(CSV_PATH), log=lambda s: None)
    return [c for c in compared if c.point.pass_ == "fwd"]


def cell(c) -> dict:
    """One table cell: measured and simulated TFLOP/s (the row's FLOPs), time and TFLOP/s errors, role."""
    return {"seq": c.point.seq_q, "head_dim": c.point.head_dim, "causal": c.point.causal, "status": c.status,
            "reason": c.reason, "measured_tflops": c.point.measured_tflops, "sim_tflops": c.sim_tflops,
            "time_error": c.error, "tflops_error": c.tflops_error, "role": c.role, "dataflow": c.dataflow}


def summaries(points: list) -> dict:
    """Median and max absolute time (and TFLOP/s) errors per kernel and role, the ≥ 1K subsets and all points."""
    ok = [c for c in points if c.status == "ok"]
    groups = {}
    for kernel in KERNELS:
        sel = [c for c in ok if c.point.backend == kernel]
        long = [c for c in sel if c.point.seq_q >= LONG_TOKENS]
        groups[kernel] = {
            "all": summarize([c.error for c in sel]).record(),
            "held_out": summarize([c.error for c in sel if c.role == "held-out"]).record(),
            "calibration": summarize([c.error for c in sel if c.role == "calibration"]).record(),
            "long": summarize([c.error for c in long]).record(),
            "long_held_out": summarize([c.error for c in long if c.role == "held-out"]).record(),
            "tflops_all": summarize([c.tflops_error for c in sel]).record(),
            "tflops_held_out": summarize([c.tflops_error for c in sel if c.role == "held-out"]).record()}
    groups["all"] = {role.replace("-", "_"): summarize([c.error for c in ok if c.role == role]).record()
                     for role in ("held-out", "calibration")}
    return groups


def ratio_summaries(points: list) -> list[dict]:
    """Speedup-ratio errors per pair rule on the table (causal vs non-causal, head dims, flash vs unfused), in the
    rules' order, then over all pairs."""
    prs = pairs(points)
    rules = list(dict.fromkeys(p.rule for p in prs))
    return [{"rule": rule, **summarize([p.error for p in prs if p.rule == rule]).record()} for rule in rules] + [
        {"rule": "all pairs", **summarize([p.error for p in prs]).record()}]


def predictions(arch: accel.Arch) -> dict:
    """TFLOP/s of the Hopper-class kernels on the benchmark shapes (simulator's FLOP convention), where supported."""
    out = {}
    for df in PREDICTED:
        if sim.dataflow(df).supports(bench(1024, 64, False), arch) is not None:
            continue
        out[df] = [{"head_dim": d, "causal": causal,
                    "tflops": [sim.evaluate(bench(s, d, causal), arch, dataflow=df).tflops for s in SEQS]}
                   for d in HEAD_DIMS for causal in (False, True)]
    return out


def extras(arch: accel.Arch) -> dict:
    """An 8192³ bf16 GEMM and FLUX-scale GNA (window 80×80, stride 16×16) against dense attention."""
    gemm = sim.evaluate(workloads.gemm(8192, 8192, 8192, dtype="bf16"), arch, dataflow="gemm")
    c = workloads.attention("gna", **FLUX)
    local = sim.evaluate(c, arch, dataflow="gna")
    mha = workloads.attention("mha", batch=1, heads=24, seq=65536, head_dim=128)
    dense_df = "flash3" if sim.dataflow("flash3").supports(mha, arch) is None else "flash2"
    dense = sim.evaluate(mha, arch, dataflow=dense_df)
    return {"gemm_8192_tflops": gemm.tflops, "flux_gna_ms": local.latency_s * 1e3, "flux_gna_tflops": local.tflops,
            "flux_dense_dataflow": dense_df, "flux_dense_ms": dense.latency_s * 1e3,
            "flux_speedup": dense.latency_s / local.latency_s,
            "flux_tile_bound": sim.gna_speedup_bound(c, **FLUX_TILES)}


def report(preset: str) -> dict:
    """Every figure of the report as plain data."""
    arch = accel.preset(preset)
    from sim.dataflows.gpu.constants import CALIBRATED

    out = {"preset": preset, "arch": arch.name, "calibrated": dict(CALIBRATED), "seqs": list(SEQS),
           "predictions": predictions(arch), **extras(arch)}
    if preset == "h100":
        out.update(gpu_mechanisms.figures())
        points = fa2_points()
        out["fa2_table"] = {k: [cell(c) for c in points if c.point.backend == k] for k in KERNELS}
        out["fa2_summary"] = summaries(points)
        out["fa2_ratios"] = ratio_summaries(points)
    return out


def fit_record() -> dict:
    """The refit of the calibrated constants on the public table: shipped → fitted values, and the errors of the
    held-out and calibration subsets before and after."""
    compared, fits = compare_points(read_points(CSV_PATH), fit=True, log=lambda s: None)
    ok = [c for c in compared if c.status == "ok" and c.point.pass_ == "fwd"]
    subsets = {"FA2 held-out": [c for c in ok if c.point.backend == "flash2" and c.role == "held-out"],
               "Standard held-out": [c for c in ok if c.point.backend == "standard" and c.role == "held-out"],
               "all held-out": [c for c in ok if c.role == "held-out"],
               "all calibration": [c for c in ok if c.role == "calibration"]}
    return {"fits": [{"constants": {k: {"shipped": f.shipped.get(k), "fitted": f.fitted.get(k)} for k in f.fitted},
                      "points": f.points, "rms_log_before": f.rms_log_before, "rms_log_after": f.rms_log_after}
                     for f in fits],
            "subsets": {name: [summarize([c.error for c in sel]).record(), summarize([c.error_fit for c in sel]).record()]
                        for name, sel in subsets.items()}}
