"""The backward kernels next to the public forward+backward measurements, what each modelled mechanism of
FlashAttention-2's backward adds, and backward TFLOP/s beside forward.

    python -m validation.figures.backward        # recompute backward.json and rewrite its block in docs/training.md

Measurements: the FlashAttention-2 forward+backward rows of the public table (FlashAttention repository benchmark
figures, A100 SXM4 and H100 SXM5, D = 64/128, causal or not; `validation.data.fa2_public.FWD_BWD_FLASH2`). Each is
compared with the simulated flash2 forward plus the flash2-bwd backward of `workloads.backward` of the same
benchmark shape (B·S = 16K tokens, hidden 2048). Nothing is fitted on these rows: they are held out (the calibrated
constants were fitted on two H100 forward points). Time error = simulated / measured − 1; TFLOP/s of both sides in
FlashAttention's convention (forward 4·B·S²·H·D, halved causal; backward 2.5 × forward), in which the source
publishes — `workloads.flops` of the backward cascade counts the attended pairs (and D = rowsum(dO ∘ O)) instead.

Where the table also holds the forward alone (H100), the backward alone is implied as forward+backward − forward
time (two sources, held out both). Each FA2 mechanism (`sim.dataflows.gpu.backward_costs.Mechanisms`) is switched
off in turn and the held-out errors recomputed, so its contribution is stated on the measurements themselves.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import accel
import sim
import workloads
from sim.dataflows.gpu import backward_costs, backward_lowering
from sim.dataflows.gpu.backward import fa_convention_flops, recognise
from sim.dataflows.registry import dataflow as get_dataflow
from sim.engine import simulate
from sim.ir.options import DEFAULT_OPTIONS
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


def fa2_backward_s(fwd: workloads.Cascade, arch: accel.Arch, mech: backward_costs.Mechanisms) -> float:
    """Seconds of flash2-bwd on `workloads.backward(fwd)` with only the mechanisms `mech` modelled."""
    bc = workloads.backward(fwd)
    lowered = backward_lowering.lower(bc, arch, get_dataflow("flash2-bwd").plan(bc, arch, {}), DEFAULT_OPTIONS,
                                      False, mech)
    return simulate(lowered.program).ticks / lowered.program.ticks_per_cycle / arch.clock_hz


def measured_rows(pass_: str) -> list[dict]:
    """The table's rows of one pass that hold a time."""
    return [r for r in load(CSV_PATH) if r["pass"] == pass_ and r["time_ms"] is not None]


def fwd_bwd_points(mech: backward_costs.Mechanisms | None = None) -> list[dict]:
    """Every measured forward+backward row, simulated as flash2 + flash2-bwd (held out); `mech`: FA2's backward
    with only those mechanisms (default: the dataflow as registered)."""
    out = []
    for row in measured_rows("fwd_bwd"):
        preset = GPUS[row["gpu"]]
        arch, fwd = accel.preset(preset), bench(row["seq"], row["head_dim"], row["causal"])
        if mech is None:
            f, b = times(fwd, arch, PAIRS[preset][0])
        else:
            f, b = sim.evaluate(fwd, arch, dataflow="flash2").latency_s, fa2_backward_s(fwd, arch, mech)
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


def implied_backward(points: list[dict]) -> list[dict]:
    """The backward alone where the table holds both passes of a shape on one GPU: fwd+bwd − fwd measured time
    (different sources, so an estimate), against the simulated flash2-bwd."""
    fwd = {(GPUS[r["gpu"]], r["seq"], r["head_dim"], r["causal"]): r["time_ms"]
           for r in measured_rows("fwd") if r["kernel"] == "flash2"}
    out = []
    for p in points:
        key = (p["gpu"], p["seq"], p["head_dim"], p["causal"])
        if key in fwd and p["measured_ms"] > fwd[key]:
            measured = p["measured_ms"] - fwd[key]
            out.append({**{k: p[k] for k in ("gpu", "seq", "head_dim", "causal", "bwd_ms")},
                        "implied_ms": measured, "time_error": p["bwd_ms"] / measured - 1})
    return out


def mechanism_errors() -> dict:
    """Per FA2 mechanism: the held-out forward+backward errors with it switched off (and with none, the
    idealized loop: every step waiting only for its data, stores hidden, no GEMM fill)."""
    out = {}
    for name in backward_costs.FA2_MECHANISMS:
        out[name] = summary(fwd_bwd_points(dataclasses.replace(backward_costs.ALL, **{name: False})))
    out["none"] = summary(fwd_bwd_points(backward_costs.NONE))
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
    implied = implied_backward(points)
    return {"seqs": list(SEQS), "fwd_bwd": points, "summary": summary(points), "implied_backward": implied,
            "implied_summary": summary(implied), "without": mechanism_errors(), "tflops": tflops_table()}


def render(rec: dict) -> str:
    """The generated block of docs/training.md from a record."""
    lines = [BEGIN, "Generated from `validation/figures/backward.json` (`python -m validation.figures.backward`).", ""]
    for gpu, s in rec["summary"].items():
        at = s["max_at"]
        lines.append(f"- **{gpu}**, flash2 + flash2-bwd against the {s['points']} held-out FlashAttention-2 "
                     f"forward+backward points: median |time error| {s['median_abs']:.1%}, max {s['max_abs']:.1%} "
                     f"(D={at['head_dim']}{' causal' if at['causal'] else ''} S={at['seq']}), mean signed "
                     f"{s['mean_signed']:+.1%} (negative: the model is faster than measured).")
    for gpu, s in rec["implied_summary"].items():
        lines.append(f"- **{gpu}**, flash2-bwd alone against the {s['points']} backward times implied as forward+"
                     f"backward − forward (the table's two sources): median |time error| {s['median_abs']:.1%}, max "
                     f"{s['max_abs']:.1%}, mean signed {s['mean_signed']:+.1%}.")
    lines += ["", "What each modelled mechanism of FlashAttention-2's backward does to the held-out forward+backward "
              "errors (median / max |time error|, mean signed), switched off one at a time:", "",
              "| flash2-bwd | " + " | ".join(rec["summary"]) + " |", "|---|" + "---|" * len(rec["summary"])]
    rows = [("all mechanisms", rec["summary"])] + [(f"without {k}", rec["without"][k])
                                                    for k in backward_costs.FA2_MECHANISMS]
    for label, table in rows + [("none (the idealized loop)", rec["without"]["none"])]:
        lines.append(f"| {label} | " + " | ".join(f"{v['median_abs']:.1%} / {v['max_abs']:.1%}, "
                                                    f"{v['mean_signed']:+.1%}" for v in table.values()) + " |")
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
