"""The backward kernels next to the public forward+backward measurements, and backward TFLOP/s beside forward.

    python -m validation.figures.backward        # recompute backward.json and rewrite its block in docs/training.md

Measurements: the FlashAttention-2 forward+backward rows of the public table (FlashAttention repository benchmark
figures, A100 SXM4 and H100 SXM5, D = 64/128, causal or not; `validation.data.fa2_public.FWD_BWD_FLASH2`). Each is
compared with the simulated flash2 forward plus the flash2-bwd backward of `workloads.backward` of the same
benchmark shape (B·S = 16K tokens, hidden 2048). Nothing is fitted on these rows: they are held out (the calibrated
constants were fitted on two H100 forward points). Time error = simulated / measured − 1; TFLOP/s of both sides in
FlashAttention's convention (forward 4·B·S²·H·D, halved causal; backward 2.5 × forward), in which the source
publishes — `workloads.flops` of the backward cascade counts the attended pairs (and D = rowsum(dO ∘ O)) instead.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import accel
import sim
import workloads
from sim.dataflows.gpu.backward import fa_convention_flops, recognise
from validation.data.fa2_public import CSV_PATH, HIDDEN, SEQS, TOKENS, load

JSON_PATH = Path(__file__).parent / "backward.json"
DOC_PATH = Path(__file__).parents[2] / "docs" / "training.md"
BEGIN, END = "<!-- generated: backward -->", "<!-- end generated: backward -->"
GPUS = {"A100 SXM4": "a100", "H100 SXM5": "h100"}
PAIRS = {"a100": (("flash2", "flash2-bwd"),), "h100": (("flash2", "flash2-bwd"), ("flash3", "flash3-bwd"))}
HEAD_DIMS = (64, 128, 256)


def bench(seq: int, d: int, causal: bool) -> workloads.Cascade:
    """FlashAttention's benchmark shape: B·S = 16K tokens, hidden 2048, H = 2048 / D."""
    return workloads.attention("mha", batch=TOKENS // seq, heads=HIDDEN // d, seq=seq, head_dim=d, causal=causal)


def times(fwd: workloads.Cascade, arch: accel.Arch, pair: tuple[str, str]) -> tuple[float, float]:
    """(forward, backward) seconds of one kernel pair."""
    return (sim.evaluate(fwd, arch, dataflow=pair[0]).latency_s,
            sim.evaluate(workloads.backward(fwd), arch, dataflow=pair[1]).latency_s)


def fwd_bwd_points() -> list[dict]:
    """Every measured forward+backward row, simulated as flash2 + flash2-bwd (held out)."""
    out = []
    for row in load(CSV_PATH):
        if row["pass"] != "fwd_bwd" or row["time_ms"] is None:
            continue
        preset = GPUS[row["gpu"]]
        f, b = times(bench(row["seq"], row["head_dim"], row["causal"]), accel.preset(preset), PAIRS[preset][0])
        sim_ms = (f + b) * 1e3
        out.append({"gpu": preset, "seq": row["seq"], "head_dim": row["head_dim"], "causal": row["causal"],
                    "measured_ms": row["time_ms"], "sim_ms": sim_ms, "measured_tflops": row["tflops"],
                    "sim_tflops": row["flops"] / (sim_ms * 1e-3) / 1e12, "time_error": sim_ms / row["time_ms"] - 1,
                    "fwd_ms": f * 1e3, "bwd_ms": b * 1e3})
    return out


def summary(points: list[dict]) -> dict:
    """Per GPU: points, median and max absolute time error, and where the max is."""
    out = {}
    for gpu in sorted({p["gpu"] for p in points}):
        sel = [p for p in points if p["gpu"] == gpu]
        worst = max(sel, key=lambda p: abs(p["time_error"]))
        out[gpu] = {"points": len(sel), "median_abs": statistics.median(abs(p["time_error"]) for p in sel),
                    "max_abs": abs(worst["time_error"]), "max_at": {k: worst[k] for k in ("seq", "head_dim",
                                                                                           "causal")},
                    "mean_signed": statistics.fmean(p["time_error"] for p in sel)}
    return out


def tflops_table() -> list[dict]:
    """Forward and backward TFLOP/s (FlashAttention's convention) on the FA2 table's shapes, per GPU and kernel."""
    rows = []
    for preset, pairs in PAIRS.items():
        arch = accel.preset(preset)
        for pair in pairs:
            for d in HEAD_DIMS:
                for causal in (False, True):
                    fwd_tf, bwd_tf = [], []
                    for s in SEQS:
                        f = bench(s, d, causal)
                        tf, tb = times(f, arch, pair)
                        flops_b = fa_convention_flops(recognise(workloads.backward(f)).a)
                        fwd_tf.append(flops_b / 2.5 / tf / 1e12)
                        bwd_tf.append(flops_b / tb / 1e12)
                    rows.append({"gpu": preset, "forward": pair[0], "backward": pair[1], "head_dim": d,
                                 "causal": causal, "fwd_tflops": fwd_tf, "bwd_tflops": bwd_tf})
    return rows


def record() -> dict:
    """Every figure as plain data."""
    points = fwd_bwd_points()
    return {"seqs": list(SEQS), "fwd_bwd": points, "summary": summary(points), "tflops": tflops_table()}


def render(rec: dict) -> str:
    """The generated block of docs/training.md from a record."""
    lines = [BEGIN, "Generated from `validation/figures/backward.json` (`python -m validation.figures.backward`).", ""]
    for gpu, s in rec["summary"].items():
        at = s["max_at"]
        lines.append(f"- **{gpu}**, flash2 + flash2-bwd against the {s['points']} held-out FlashAttention-2 "
                     f"forward+backward points: median |time error| {s['median_abs']:.1%}, max {s['max_abs']:.1%} "
                     f"(D={at['head_dim']}{' causal' if at['causal'] else ''} S={at['seq']}), mean signed "
                     f"{s['mean_signed']:+.1%} (negative: the model is faster than measured).")
    seqs = " | ".join(f"{s // 1024}K" if s >= 1024 else str(s) for s in rec["seqs"])
    lines += ["", "Forward / backward TFLOP/s (FlashAttention's convention) on the FA2 table's shapes:", "",
              f"| GPU | kernels | D | mask | {seqs} |", "|---|---|---|---|" + "---|" * len(rec["seqs"])]
    for t in rec["tflops"]:
        cells = " | ".join(f"{f:.0f} / {b:.0f}" for f, b in zip(t["fwd_tflops"], t["bwd_tflops"]))
        lines.append(f"| {t['gpu']} | {t['forward']} / {t['backward']} | {t['head_dim']} | "
                     f"{'causal' if t['causal'] else 'none'} | {cells} |")
    return "\n".join(lines + [END])


def write_doc(rec: dict, path: Path = DOC_PATH) -> bool:
    """Rewrite the generated block of docs/training.md; True if it changed."""
    text = path.read_text()
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render(rec) + text[stop:]
    if new != text:
        path.write_text(new)
    return new != text


def main() -> None:
    """Recompute backward.json and rewrite the docs block."""
    rec = record()
    JSON_PATH.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    write_doc(rec)
    print(render(rec))


if __name__ == "__main__":
    main()
