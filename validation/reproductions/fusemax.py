"""The FuseMax evaluation, reproduced with the cycle simulator (fusemax-and-flat.md §5).

    python -m validation.fusemax --out DIR [--quick]

Attention grid: BERT, TrXL, T5, XLM at batch 64 and sequence lengths 1K…1M, for the ablation dataflows `unfused`,
`flat`, `fusemax-cascade` (on FLAT's hardware: 3-pass → 1-pass), `fusemax-arch` and `fusemax` (FuseMax hardware).
End-to-end grid: each attention point plus the linear layers (Q/K/V and output projections, FFN up and down, each a
GEMM with B·seq rows) on the same 2D array, each with the fastest of `systolic-ws/os/is`. Writes `attention.csv`,
`end_to_end.csv`, `summary.csv` and figures (utilization vs sequence length; speedup and energy vs unfused).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import accel
import sim
import workloads

# fusemax-and-flat.md §5: heads H, head dim E = F, model dim D, FFN dim S.
MODELS = {"BERT": (12, 64, 768, 3072), "TrXL": (16, 64, 1024, 4096), "T5": (8, 64, 512, 2048),
          "XLM": (16, 128, 2048, 8192)}
SEQS = tuple(2 ** k for k in range(10, 21, 2))          # 1K, 4K, 16K, 64K, 256K, 1M
BATCH = 64
# dataflow → (softmax cascade, hardware preset): the paper's ablation steps.
DATAFLOWS = {"unfused": ("3pass", "flat"), "flat": ("3pass", "flat"), "fusemax-cascade": ("1pass", "flat"),
             "fusemax-arch": ("1pass", "fusemax"), "fusemax": ("1pass", "fusemax")}
GEMMS = ("systolic-ws", "systolic-os", "systolic-is")
SHARE_EINSUMS = ("BQK", "LM", "SLN", "SLD", "SLNV", "QK", "AV")


def linear_layers(model: str, seq: int) -> dict[str, workloads.Cascade]:
    """The per-layer GEMMs of one encoder layer, B·seq token rows (layer norms ignored)."""
    h, e, d, s = MODELS[model]
    rows = BATCH * seq
    return {"qkv": workloads.gemm(rows, 3 * h * e, d), "out": workloads.gemm(rows, d, h * e),
            "ffn_up": workloads.gemm(rows, s, d), "ffn_down": workloads.gemm(rows, d, s)}


def best_gemm(g: workloads.Cascade, arch: accel.Arch) -> sim.Result:
    """The fastest systolic dataflow for a GEMM (a small mapper over ws/os/is)."""
    results = [sim.evaluate(g, arch, dataflow=df) for df in GEMMS if sim.dataflow(df).supports(g, arch) is None]
    return min(results, key=lambda r: r.cycles)


def attention_point(model: str, seq: int, df: str) -> sim.Result:
    h, e, _, _ = MODELS[model]
    softmax, hw = DATAFLOWS[df]
    c = workloads.attention("mha", batch=BATCH, heads=h, seq=seq, head_dim=e, softmax=softmax)
    return sim.evaluate(c, accel.preset(hw), dataflow=df)


def attention_grid(models=tuple(MODELS), seqs=SEQS, dataflows=tuple(DATAFLOWS)) -> list[dict]:
    rows = []
    for model in models:
        for seq in seqs:
            for df in dataflows:
                r = attention_point(model, seq, df)
                share = r.einsum_share("2d")
                rows.append({"model": model, "seq": seq, "dataflow": df, "arch": r.arch, "latency_s": r.latency_s,
                             "cycles": r.cycles, "energy_j": r.energy_j, "dram_bytes": r.dram_bytes,
                             "util_2d": r.utilization["2d"], "util_1d": r.utilization["1d"],
                             **{f"share_2d_{e}": share.get(e, 0.0) for e in SHARE_EINSUMS},
                             "mapping": " ".join(f"{k}={v}" for k, v in sorted(r.mapping.params.items()))})
    return rows


def end_to_end_grid(attention_rows: list[dict]) -> list[dict]:
    """Attention plus linear layers, per (model, seq, dataflow); the linear layers run on the same 2D array."""
    cache: dict[tuple, tuple[float, float, float, float, str]] = {}
    rows = []
    for a in attention_rows:
        key = (a["model"], a["seq"], a["arch"])
        if key not in cache:
            arch = accel.preset(a["arch"])
            results = {name: best_gemm(g, arch) for name, g in linear_layers(a["model"], a["seq"]).items()}
            cache[key] = (sum(r.cycles for r in results.values()), sum(r.energy_j for r in results.values()),
                          sum(r.dram_bytes for r in results.values()),
                          sum(r.utilization["2d"] * r.cycles for r in results.values()),
                          " ".join(f"{n}:{r.dataflow}" for n, r in results.items()))
        cyc, energy, dram, busy_2d, choice = cache[key]
        total = a["cycles"] + cyc
        clock = accel.preset(a["arch"]).clock_hz
        rows.append({"model": a["model"], "seq": a["seq"], "dataflow": a["dataflow"], "arch": a["arch"],
                     "latency_s": total / clock, "cycles": total, "energy_j": a["energy_j"] + energy,
                     "dram_bytes": a["dram_bytes"] + dram, "attention_share": a["cycles"] / total,
                     "util_2d": (a["util_2d"] * a["cycles"] + busy_2d) / total,
                     "util_1d": a["util_1d"] * a["cycles"] / total, "linear_dataflows": choice})
    return rows


def summary(att: list[dict], e2e: list[dict]) -> list[dict]:
    """Mean FuseMax/FLAT speedup and energy ratio (and vs unfused), mean utilizations, per grid."""
    out = []
    for grid, rows in (("attention", att), ("end_to_end", e2e)):
        by = {(r["model"], r["seq"], r["dataflow"]): r for r in rows}
        points = sorted({(r["model"], r["seq"]) for r in rows})
        for df in DATAFLOWS:
            have = [p for p in points if (*p, df) in by and (*p, "flat") in by and (*p, "unfused") in by]
            if not have:
                continue
            sp_flat = [by[(*p, "flat")]["latency_s"] / by[(*p, df)]["latency_s"] for p in have]
            sp_unf = [by[(*p, "unfused")]["latency_s"] / by[(*p, df)]["latency_s"] for p in have]
            en_flat = [by[(*p, df)]["energy_j"] / by[(*p, "flat")]["energy_j"] for p in have]
            en_unf = [by[(*p, df)]["energy_j"] / by[(*p, "unfused")]["energy_j"] for p in have]
            out.append({"grid": grid, "dataflow": df, "points": len(have),
                        "speedup_vs_flat_mean": statistics.fmean(sp_flat),
                        "speedup_vs_flat_geomean": statistics.geometric_mean(sp_flat),
                        "energy_vs_flat_mean": statistics.fmean(en_flat),
                        "speedup_vs_unfused_mean": statistics.fmean(sp_unf),
                        "energy_vs_unfused_mean": statistics.fmean(en_unf),
                        "util_2d_mean": statistics.fmean(by[(*p, df)]["util_2d"] for p in have),
                        "util_1d_mean": statistics.fmean(by[(*p, df)]["util_1d"] for p in have)})
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def figures(out: Path, att: list[dict], e2e: list[dict]) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    models = sorted({r["model"] for r in att}, key=list(MODELS).index)
    for grid, rows in (("attention", att), ("end_to_end", e2e)):
        fig, axes = plt.subplots(2, len(models), figsize=(4 * len(models), 6.5), squeeze=False, sharey=True)
        for j, model in enumerate(models):
            for i, unit in enumerate(("util_2d", "util_1d")):
                ax = axes[i][j]
                for df in DATAFLOWS:
                    pts = sorted((r["seq"], r[unit]) for r in rows if r["model"] == model and r["dataflow"] == df)
                    if pts:
                        ax.plot(*zip(*pts), marker="o", label=df)
                ax.set_xscale("log", base=2)
                ax.set_title(f"{model}: {unit.replace('util_', '').upper()} utilization ({grid})", fontsize=9)
                ax.set_ylim(0, 1.05)
                ax.set_xlabel("sequence length")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        p = out / f"utilization_{grid}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
        fig, axes = plt.subplots(2, len(models), figsize=(4 * len(models), 6.5), squeeze=False)
        by = {(r["model"], r["seq"], r["dataflow"]): r for r in rows}
        for j, model in enumerate(models):
            for i, (what, label) in enumerate((("latency_s", "speedup vs unfused"), ("energy_j", "energy / unfused"))):
                ax = axes[i][j]
                for df in DATAFLOWS:
                    pts = sorted((s, (by[(model, s, "unfused")][what] / r[what]) if what == "latency_s"
                                  else r[what] / by[(model, s, "unfused")][what])
                                 for (m, s, d), r in by.items() if m == model and d == df)
                    if pts:
                        ax.plot(*zip(*pts), marker="o", label=df)
                ax.set_xscale("log", base=2)
                ax.set_title(f"{model}: {label} ({grid})", fontsize=9)
                ax.set_xlabel("sequence length")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        p = out / f"speedup_energy_{grid}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def run(out: Path, quick: bool = False, plots: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    models, seqs = (("BERT", "XLM"), SEQS[:2]) if quick else (tuple(MODELS), SEQS)
    t0 = time.perf_counter()
    att = attention_grid(models, seqs)
    t1 = time.perf_counter()
    e2e = end_to_end_grid(att)
    t2 = time.perf_counter()
    summ = summary(att, e2e)
    write_csv(out / "attention.csv", att)
    write_csv(out / "end_to_end.csv", e2e)
    write_csv(out / "summary.csv", summ)
    paths = figures(out, att, e2e) if plots else []
    return {"attention": att, "end_to_end": e2e, "summary": summ, "figures": paths,
            "attention_s": t1 - t0, "end_to_end_s": t2 - t1}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="BERT and XLM at 1K and 4K only")
    args = ap.parse_args(argv)
    res = run(args.out, quick=args.quick)
    print(f"attention grid: {len(res['attention'])} points in {res['attention_s']:.2f} s; "
          f"end-to-end grid: {len(res['end_to_end'])} points in {res['end_to_end_s']:.2f} s")
    print(f"{'grid':<11} {'dataflow':<16} {'vs FLAT':>8} {'energy/FLAT':>11} {'vs unfused':>10} "
          f"{'energy/unf':>10} {'2D util':>8} {'1D util':>8}")
    for s in res["summary"]:
        print(f"{s['grid']:<11} {s['dataflow']:<16} {s['speedup_vs_flat_mean']:>7.2f}× "
              f"{s['energy_vs_flat_mean']:>11.3f} "
              f"{s['speedup_vs_unfused_mean']:>9.2f}× {s['energy_vs_unfused_mean']:>10.3f} {s['util_2d_mean']:>8.1%} "
              f"{s['util_1d_mean']:>8.1%}")
    print(f"wrote {args.out}/attention.csv, end_to_end.csv, summary.csv and {len(res['figures'])} figures")


if __name__ == "__main__":
    main()
