"""Markdown blocks rendered from the figure JSON files (pure functions of the JSON: no simulation here)."""
from __future__ import annotations

from typing import Callable

from validation.compare import summaries

HEAD_DIMS = (64, 128, 256)
KERNEL_TITLES = {"flash2": "FlashAttention-2 (`flash2` dataflow)",
                 "standard": "\"Standard\" PyTorch attention (`gpu-unfused`), the points with a number (OOM and "
                             "\"–\" entries are not measured)"}


def pct(x: float | None, signed: bool = False) -> str:
    """A fraction as a percentage ("–" for None), negative signs typeset as minus signs."""
    return summaries.pct(x, signed).replace("-", "−")


def _seq(s: int) -> str:
    if s >= 2**20 and s % 2**20 == 0:
        return f"{s // 2**20}M"
    return f"{s // 1024}K" if s >= 1024 and s % 1024 == 0 else str(s)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + [
        "| " + " | ".join(r) + " |" for r in rows]


def _config(d: int, causal: bool) -> str:
    return f"D={d} {'causal' if causal else 'non-causal'}"


def fa2_cells(gpu: dict, kernel: str) -> list[str]:
    """The table of one kernel: measured / simulated TFLOP/s (time error) per head dim, mask and length."""
    cells = gpu["fa2_table"][kernel]
    seqs = sorted({c["seq"] for c in cells if c["status"] == "ok"})
    rows = []
    for d in HEAD_DIMS:
        for causal in (False, True):
            row = {c["seq"]: c for c in cells if c["head_dim"] == d and c["causal"] == causal and c["status"] == "ok"}
            if not row:
                continue
            cal = any(c["role"] == "calibration" for c in row.values())
            rows.append([_config(d, causal) + (" (calibration)" if cal else "")] + [
                f"{row[s]['measured_tflops']:.0f} / {row[s]['sim_tflops']:.0f} ({pct(row[s]['time_error'], True)})"
                if s in row else "–" for s in seqs])
    return _table(["config"] + [f"S={_seq(s)}" for s in seqs], rows)


def worst(gpu: dict, kernel: str, role: str = "held-out") -> dict:
    """The point of `kernel` and `role` with the largest absolute time error."""
    cells = [c for c in gpu["fa2_table"][kernel] if c["status"] == "ok" and c["role"] == role]
    return max(cells, key=lambda c: abs(c["time_error"]))


def _where(c: dict) -> str:
    return f"{_config(c['head_dim'], c['causal'])} S={_seq(c['seq'])}"


def fa2_summary(gpu: dict) -> list[str]:
    """Median and max absolute time errors per kernel and subset."""
    s = gpu["fa2_summary"]
    w = worst(gpu, "flash2")
    rows = [["FA2, all", s["flash2"]["all"], f" ({_where(w)}; {pct(abs(w['tflops_error']))} in TFLOP/s)"],
            ["FA2, held-out (all but D=128 non-causal)", s["flash2"]["held_out"], ""],
            ["FA2, ≥ 1K tokens", s["flash2"]["long"], ""], ["FA2, ≥ 1K tokens, held-out", s["flash2"]["long_held_out"], ""],
            ["Standard, all", s["standard"]["all"], ""], ["Standard, held-out", s["standard"]["held_out"], ""],
            ["all held-out", s["all"]["held_out"], ""], ["all calibration", s["all"]["calibration"], ""]]
    return _table(["points", "n", "median", "max"],
                  [[name, str(x["n"]), pct(x["median_abs"]), pct(x["max_abs"]) + note] for name, x, note in rows])


def fa2_ratios(gpu: dict) -> str:
    """One sentence per speedup-pair rule: pairs, median and max ratio error."""
    parts = [f"{x['rule']}: {x['n']} pairs, median {pct(x['median_abs'])}, max {pct(x['max_abs'])}"
             for x in gpu["fa2_ratios"]]
    return "Speedup ratios on the table (all forward pairs simulated): " + "; ".join(parts) + "."


def validation_fa2(gpu: dict) -> str:
    """docs/validation.md: the model on the public FlashAttention-2 table."""
    consts = ", ".join(f"`{k}` = {v}" for k, v in gpu["calibrated"].items())
    lines = [f"Generated from `validation/figures/gpu_report.json` (`python benchmarks/gpu_report.py --json`), with "
             f"the shipped calibrated constants ({consts}). Cells: measured / simulated TFLOP/s (time error); both "
             "rates divide the row's FLOPs (FlashAttention's convention, as published) by a time. B·S = 16K tokens, "
             "hidden 2048.", ""]
    for kernel, title in KERNEL_TITLES.items():
        lines += [title + ":", ""] + fa2_cells(gpu, kernel) + [""]
    lines += ["Summary (absolute time errors):", ""] + fa2_summary(gpu) + ["", fa2_ratios(gpu)]
    return "\n".join(lines)


def validation_fit(fit: dict) -> str:
    """docs/validation.md: what `--fit` does to the constants and to the held-out errors."""
    consts = "; ".join(f"`{name}` {v['shipped']:.3f} → {v['fitted']:.3f} (rms log error on its {f['points']} points "
                       f"{f['rms_log_before']:.3f} → {f['rms_log_after']:.3f})"
                       for f in fit["fits"] for name, v in f["constants"].items())
    rows = [[name, str(before["n"]), pct(before["median_abs"]), pct(after["median_abs"]), pct(before["max_abs"]),
             pct(after["max_abs"])] for name, (before, after) in fit["subsets"].items()]
    return "\n".join([f"With `--fit` (generated from `validation/figures/fa2_fit.json`): {consts}.", ""] + _table(
        ["points", "n", "median (shipped)", "median (refit)", "max (shipped)", "max (refit)"], rows))


def gpu_accuracy(gpu: dict) -> str:
    """docs/gpu-model.md: the held-out accuracy on the public table and the headline predictions."""
    s = gpu["fa2_summary"]
    w, ws = worst(gpu, "flash2"), worst(gpu, "standard")
    cal = s["flash2"]["calibration"]
    return (f"Generated from `validation/figures/gpu_report.json` (`python benchmarks/gpu_report.py --json`): on the "
            f"{s['flash2']['held_out']['n']} held-out FlashAttention-2 H100 points the median absolute time error is "
            f"{pct(s['flash2']['held_out']['median_abs'])} and the maximum {pct(s['flash2']['held_out']['max_abs'])} "
            f"({_where(w)}; {pct(abs(w['tflops_error']))} in TFLOP/s); the calibration row's {cal['n']} points are "
            f"within {pct(cal['max_abs'])}. The Standard column's {s['standard']['held_out']['n']} held-out points: "
            f"median {pct(s['standard']['held_out']['median_abs'])}, max {pct(s['standard']['held_out']['max_abs'])} "
            f"({_where(ws)}). Predictions on `{gpu['preset']}`: 8192³ bf16 GEMM {gpu['gemm_8192_tflops']:.0f} "
            f"TFLOP/s; FLUX 256×256 GNA (window 80×80, stride 16×16) {gpu['flux_gna_ms']:.2f} ms against "
            f"{gpu['flux_dense_ms']:.2f} ms dense ({gpu['flux_dense_dataflow']}): {gpu['flux_speedup']:.2f}× (tile "
            f"bound {gpu['flux_tile_bound']:.2f}×).")


def _range(per_length: dict, key: str, fmt: Callable[[float], str]) -> str:
    seqs = sorted(per_length, key=int)
    return f"{fmt(per_length[seqs[0]][key])} at {_seq(int(seqs[0]))} … {fmt(per_length[seqs[-1]][key])} at " \
           f"{_seq(int(seqs[-1]))}"


def fusemax_headline(fm: dict) -> str:
    """docs/fusemax.md: FuseMax vs FLAT (mean / geomean, per length), energy (the model's accounting and the
    artifact's), utilizations, the ablation."""
    by = {(s["grid"], s["dataflow"]): s for s in fm["summary"]}
    rows = []
    for grid, label in (("attention", "attention"), ("end_to_end", "end to end")):
        f, x, pl = by[(grid, "flat")], by[(grid, "fusemax")], fm["per_length"][grid]
        rows.append([label, f"{x['speedup_vs_flat_mean']:.2f}× / {x['speedup_vs_flat_geomean']:.2f}× (per length: "
                            f"{_range(pl, 'speedup', lambda v: f'{v:.1f}×')})",
                     f"{x['energy_vs_flat_mean']:.3f} ({_range(pl, 'energy', lambda v: f'{v:.2f}')})",
                     f"{x['energy_artifact_vs_flat_mean']:.3f} ({_range(pl, 'energy_artifact', lambda v: f'{v:.2f}')})",
                     f"{pct(f['util_2d_mean'])} → {pct(x['util_2d_mean'])}",
                     f"{pct(f['util_1d_mean'])} → {pct(x['util_1d_mean'])}"])
    ablation = ", ".join(f"{s['dataflow']} {s['speedup_vs_unfused_mean']:.2f}×" for s in fm["summary"]
                         if s["grid"] == "attention" and s["dataflow"] != "unfused")
    n = by[("attention", "fusemax")]["points"]
    return "\n".join([
        f"Generated from `validation/figures/fusemax.json` (`python -m validation.fusemax`, the {fm['grid']} grid). "
        f"Means over the {n} (model, length) points; speedup = FLAT latency ÷ FuseMax latency; energy ratio = "
        "FuseMax ÷ FLAT, in the model's accounting (every register access charged) and in the artifact's (registers "
        "counted per PE instance); utilization = useful work ÷ capacity (each array's useful op slots ÷ (PEs × "
        "cycles); end to end weighted by each part's cycles). FLAT's points are `sim.explore`'s best over FLAT's "
        "space. The paper: 6.7× at 79% of FLAT's energy (attention), 5.3× at 83% (end to end).", ""]
        + _table(["grid", "FuseMax vs FLAT speedup (mean / geomean)", "energy FuseMax/FLAT (model)",
                  "(artifact's accounting)", "2D util FLAT → FuseMax", "1D util FLAT → FuseMax"], rows)
        + ["", f"Ablation (attention, mean speedup vs unfused): {ablation}."])


def fusemax_timing(timing: dict) -> str:
    """docs/fusemax.md: the benchmark's wall times and the machine they were taken on."""
    m, w, c = timing["machine"], timing["warm"], timing["cold"]
    cold = (f", {c['attention_s']:.1f} s cold (fresh process, empty Numba cache; {c['process_s']:.1f} s with "
            f"imports)") if c else ""
    return (f"Wall time (generated from `validation/figures/fusemax_timing.json`, `python benchmarks/fusemax_grid.py "
            f"--json`, medians): attention grid ({timing['points']} points) {w['attention_s']:.2f} s warm{cold}; "
            f"end-to-end grid {w['end_to_end_s']:.2f} s warm. Taken on {m['cpu']} ({m['cores']} cores, 1-minute "
            f"load {m['load_1min_at_start']:.1f} at the start; Python {m['python']}, Numba {m['numba']}) on "
            f"{m['date']}. The engine simulated {timing['ops_simulated']:,} tile ops for the attention grid "
            f"({timing['ops_total']:.3g} described).")
