"""The comparison's files: points.csv (every row), ratios.csv (speedup pairs), summary.json (the figures docs quote,
machine-readable), the scatter and speedup-bar PNGs (through `sim.report.plots`) and report.md."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

from validation.compare.fit import Fitted
from validation.compare.pairs import PAIR_RULES, Pair, pairs
from validation.compare.report import ROLES, Run, check_rows, markdown
from validation.compare.simulate import Compared
from validation.compare.summaries import by_group, num, suite_backend, summarize

BARS_PER_CHART = 36

POINT_COLUMNS = ["source", "row", "suite", "case", "form", "backend", "dtype", "device", "batch", "heads", "kv_heads",
                 "seq_q", "seq_kv", "head_dim", "head_dim_v", "causal", "spatial", "window", "stride", "dilation",
                 "splits", "m", "n", "k", "flops", "measured_ms", "measured_tflops", "status", "reason", "preset",
                 "dataflow", "sim_ms", "sim_tflops", "time_error", "tflops_error", "role", "sim_ms_fit",
                 "time_error_fit", "note", "device_mismatch", "sim_flops"]
RATIO_COLUMNS = ["rule", "pair", "base_row", "variant_row", "measured_speedup", "simulated_speedup", "error",
                 "simulated_speedup_fit", "error_fit"]


def _dims(t: tuple) -> str:
    return "x".join(map(str, t))


def point_row(c: Compared) -> dict:
    """One points.csv row."""
    p = c.point
    return dict(source=p.source, row=p.row, suite=p.suite, case=p.case, form=p.form, backend=p.backend, dtype=p.dtype,
                device=p.device, batch=p.batch or "", heads=p.heads or "", kv_heads=p.kv_heads or "",
                seq_q=p.seq_q or "", seq_kv=p.seq_kv or "", head_dim=p.head_dim or "",
                head_dim_v=p.head_dim_v or "", causal=int(p.causal), spatial=_dims(p.spatial),
                window=_dims(p.window), stride=_dims(p.stride), dilation=_dims(p.dilation), splits=p.splits or "",
                m=p.m or "", n=p.n or "", k=p.k or "", flops=num(p.flops), measured_ms=num(p.measured_ms),
                measured_tflops=num(p.measured_tflops, 4), status=c.status, reason=c.reason, preset=c.preset,
                dataflow=c.dataflow, sim_ms=num(c.sim_ms), sim_tflops=num(c.sim_tflops, 4), time_error=num(c.error, 4),
                tflops_error=num(c.tflops_error, 4), role=c.role, sim_ms_fit=num(c.sim_ms_fit),
                time_error_fit=num(c.error_fit, 4), note=c.note, device_mismatch=c.mismatch,
                sim_flops=num(c.sim_flops))


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def _placeholder(path: Path, text: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in text.split("(")[0].strip().lower())
    return "_".join(part for part in out.split("_") if part)


def write_plots(compared: Sequence[Compared], prs: Sequence[Pair], out: Path) -> list[Path]:
    """The simulated-vs-measured scatter (and its refitted twin) and one bar chart per pair rule (paged)."""
    from sim.report.plots import plot_sim_vs_measured, plot_speedup_bars

    paths = []
    ok = [c for c in compared if c.status == "ok"]
    for suffix, attr in (("", "sim_ms"), ("_fit", "sim_ms_fit")):
        pts = [c for c in ok if getattr(c, attr)]
        path = out / f"scatter_time{suffix}.png"
        if suffix and not pts:
            continue
        if not pts:
            paths.append(_placeholder(path, "no simulated points (see report.md for each row's reason)"))
            continue
        title = "simulated vs measured" + (" (refitted constants)" if suffix else "")
        if any(c.mismatch for c in pts):
            title += " — device kind differs"
        paths.append(plot_sim_vs_measured([c.point.measured_ms * 1e-3 for c in pts],
                                          [getattr(c, attr) * 1e-3 for c in pts], path,
                                          groups=[f"{c.point.suite}/{c.point.backend}" for c in pts], title=title))
    for rule in PAIR_RULES:
        sel = [p for p in prs if p.rule == rule.name and p.simulated]
        # tick labels name the baseline, or the variant where one baseline has several variants (GNA vs dense)
        unique = len({p.short for p in sel}) == len(sel)
        for page in range(0, len(sel), BARS_PER_CHART):
            chunk = sel[page:page + BARS_PER_CHART]
            n = page // BARS_PER_CHART + 1
            name = f"speedup_{_slug(rule.name)}{'' if len(sel) <= BARS_PER_CHART else f'_{n}'}.png"
            ticks = [p.short if unique else p.short_variant for p in chunk]
            paths.append(plot_speedup_bars(ticks, [p.simulated for p in chunk], [p.measured for p in chunk],
                                           out / name, title=rule.name))
    return paths


def summary_record(run: Run) -> dict:
    """The report's figures as plain data: counts, held-out/calibration errors, per (suite, backend, dataflow),
    per pair rule, the checks and the fits."""
    ok = run.ok
    groups = by_group(run.compared, suite_backend, lambda c: c.error)
    held = by_group([c for c in ok if c.role == "held-out"], suite_backend, lambda c: c.error)
    return {
        "inputs": list(run.inputs), "device_kind": run.device_kind, "rows": len(run.compared), "simulated": len(ok),
        "device_mismatch": run.mismatches,
        "roles": {r: summarize([c.error for c in ok if c.role == r]).record() for r in ROLES},
        "groups": [{"suite": s, "backend": b, "dataflow": d, "all": groups[(s, b, d)].record(),
                    "held_out": held[(s, b, d)].record() if (s, b, d) in held else None} for s, b, d in groups],
        "pairs": {rule.name: summarize([p.error for p in run.pairs if p.rule == rule.name]).record()
                  for rule in PAIR_RULES if any(p.rule == rule.name for p in run.pairs)},
        "checks": [dict(zip(("check", "points", "n", "value", "threshold", "verdict"), r)) for r in check_rows(run)],
        "fits": [{"constants": {k: {"shipped": f.shipped.get(k), "fitted": f.fitted.get(k)} for k in f.fitted},
                  "points": f.points, "rms_log_before": f.rms_log_before, "rms_log_after": f.rms_log_after,
                  "note": f.note} for f in run.fits],
    }


def write_report(compared: Sequence[Compared], fits: Sequence[Fitted], out: Path, *, inputs: Sequence[str],
                 device_kind: str | None = None) -> list[Path]:
    """Write points.csv, ratios.csv, summary.json, the PNGs and report.md into `out`; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(compared, fits, pairs(compared), inputs, device_kind)
    paths = [_write_csv(out / "points.csv", POINT_COLUMNS, [point_row(c) for c in compared])]
    paths.append(_write_csv(out / "ratios.csv", RATIO_COLUMNS, [
        dict(rule=p.rule, pair=p.label, base_row=f"{p.base.point.source}:{p.base.point.row}",
             variant_row=f"{p.variant.point.source}:{p.variant.point.row}", measured_speedup=num(p.measured, 5),
             simulated_speedup=num(p.simulated, 5), error=num(p.error, 4), simulated_speedup_fit=num(p.simulated_fit, 5),
             error_fit=num(p.error_fit, 4)) for p in run.pairs]))
    summary = out / "summary.json"
    summary.write_text(json.dumps(summary_record(run), indent=1, sort_keys=True) + "\n")
    plots = write_plots(compared, run.pairs, out)
    report = out / "report.md"
    report.write_text(markdown(run, plots))
    return paths + [summary] + plots + [report]
