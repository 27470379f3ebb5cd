"""The FuseMax evaluation reproduced with the cycle simulator.

    python -m validation.fusemax --out DIR [--quick]

Source of the grid: Nayak et al., "FuseMax: Leveraging Extended Einsums to Optimize Attention Accelerator Design"
(MICRO 2024), §6: BERT, TrXL, T5 and XLM at batch 64 and sequence lengths 1K…1M, for the ablation steps `unfused`,
`flat`, `fusemax-cascade` (on FLAT's hardware: 3-pass → 1-pass), `fusemax-arch` and `fusemax` (FuseMax hardware).
FLAT (Kao et al., "FLAT: An Optimized Dataflow for Mitigating Attention Bottlenecks", ASPLOS 2023) is defined by a
search over its fusion granularity, so FLAT's point is `sim.explore(c, arch, dataflows=["flat"]).best` (its `rows`
space); every other dataflow runs its default plan, which its paper fixes. End-to-end grid: each attention point plus
the linear layers (Q/K/V and output projections, FFN up and down, each a GEMM with B·seq rows) on the same 2D array,
each with the fastest of `systolic-ws/os/is`, as the whole-layer path (`sim.models.evaluate_layer`) simulates them. Writes `attention.csv`, `end_to_end.csv`, `summary.csv`,
`summary.json` (the summary and every point, machine-readable) and figures (validation.reproductions.fusemax_figures).

Utilization is useful work ÷ capacity (`sim.Result.utilization`); end to end, each part is weighted by its cycles.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import accel
import sim
import workloads
from sim.models import evaluate_layer
from validation.errors import ValidationError
from validation.reproductions import fusemax_artifact as artifact
from validation.reproductions.fusemax_figures import figures
from validation.reproductions.fusemax_gaps import gaps
from validation.reproductions.fusemax_tables import iso_area_line, step_table, summary_table

# FuseMax §6: heads H, head dim E = F, model dim D, FFN dim S.
MODELS = {"BERT": (12, 64, 768, 3072), "TrXL": (16, 64, 1024, 4096), "T5": (8, 64, 512, 2048),
          "XLM": (16, 128, 2048, 8192)}
SEQS = tuple(2 ** k for k in range(10, 21, 2))          # 1K, 4K, 16K, 64K, 256K, 1M
BATCH = 64
QUICK = (("BERT", "XLM"), SEQS[:2])                     # --quick: two models at 1K and 4K
# dataflow → (softmax cascade, hardware preset): the paper's ablation steps.
DATAFLOWS = {"unfused": ("3pass", "flat"), "flat": ("3pass", "flat"), "fusemax-cascade": ("1pass", "flat"),
             "fusemax-arch": ("1pass", "fusemax"), "fusemax": ("1pass", "fusemax")}
SEARCHED = ("flat",)                                    # dataflows whose point is the best of `sim.explore`
SHARE_EINSUMS = ("BQK", "LM", "SLN", "SLD", "SLNV", "QK", "AV")


def linear_layers(model: str, seq: int, arch: accel.Arch) -> dict[str, sim.Result]:
    """The linear layers of one encoder layer (Q/K/V, output, FFN up and down; layer norms outside the scope) as the
    whole-layer path simulates them: each GEMM on its fastest systolic dataflow (`sim.models.evaluate_layer`)."""
    layer = workloads.model(model.lower()).layer(seq=seq, batch=BATCH, softmax="1pass")
    runs = evaluate_layer(layer, arch, kinds=("linear",)).parts
    if any(run.launches != 1 for run in runs):
        raise ValidationError(f"{model}: a linear kernel ran more than once; the end-to-end rows count each once")
    return {run.kernel.name: run.result for run in runs}


def attention_cascade(model: str, seq: int, df: str) -> workloads.Cascade:
    """Multi-head attention of `model` at `seq` tokens with the softmax cascade `df` runs."""
    h, e, _, _ = MODELS[model]
    return workloads.attention("mha", batch=BATCH, heads=h, seq=seq, head_dim=e, softmax=DATAFLOWS[df][0])


def attention_sizes(model: str, seq: int) -> dict[str, int]:
    """The attention ranks of `model` at `seq` tokens (B, H, M, P, E, F), without building the cascade."""
    h, e, _, _ = MODELS[model]
    return {"B": BATCH, "H": h, "M": seq, "P": seq, "E": e, "F": e}


def attention_point(model: str, seq: int, df: str) -> sim.Result:
    """One attention point: the explored best for a searched dataflow, else the default plan."""
    c = attention_cascade(model, seq, df)
    arch = accel.preset(DATAFLOWS[df][1])
    if df not in SEARCHED:
        return sim.evaluate(c, arch, dataflow=df)
    best = sim.explore(c, arch, dataflows=[df]).best
    if best is None:
        raise sim.MappingError(f"{df}: no mapping of {model} at {seq} tokens runs on {arch.name}")
    return best


def energy_columns(r: sim.Result, arch: accel.Arch) -> dict[str, float]:
    """A point's energy columns: per component (the model's accounting), the artifact's accounting (registers per
    PE instance, +Cascade's exp zero) and the register energy per access that per-instance counting leaves out."""
    model = artifact.components(r, arch)
    art = artifact.components(r, arch, "artifact")
    return {**{f"energy_{k}_j": v for k, v in model.items()}, "energy_artifact_j": sum(art.values()),
            "register_energy_j": artifact.register_energy_real(r)}


def attention_row(model: str, seq: int, df: str, r: sim.Result) -> dict:
    """The attention.csv row of one point: the simulated latency beside the artifact's closed form on the same
    per-Einsum work, utilizations, energy (and its components, and the artifact's accounting)."""
    share = r.einsum_share("2d")
    arch = accel.preset(DATAFLOWS[df][1])
    s = attention_sizes(model, seq)
    closed = artifact.closed_form_cycles(r, s, arch) / arch.clock_hz
    return {"model": model, "seq": seq, "dataflow": df, "arch": r.arch, "latency_s": r.latency_s, "cycles": r.cycles,
            "closed_form_s": closed, "compute_s": artifact.busiest_unit_cycles(r) / arch.clock_hz,
            "scores": s["B"] * s["H"] * s["M"] * s["P"], "energy_j": r.energy_j, **energy_columns(r, arch),
            "dram_bytes": r.dram_bytes, "flat_q_restream_bytes": artifact.flat_q_restream_bytes(r, s),
            "util_2d": r.utilization["2d"], "util_1d": r.utilization["1d"],
            **{f"share_2d_{e}": share.get(e, 0.0) for e in SHARE_EINSUMS},
            "mapping": " ".join(f"{k}={v}" for k, v in sorted(r.mapping.params.items()))}


def attention_grid(models=tuple(MODELS), seqs=SEQS, dataflows=tuple(DATAFLOWS)) -> list[dict]:
    """Every attention point of the grid, as rows."""
    return [attention_row(m, s, df, attention_point(m, s, df)) for m in models for s in seqs for df in dataflows]


@dataclass(frozen=True)
class Linear:
    """The linear layers of one (model, seq) on one arch: summed cycles, energy, DRAM bytes, useful 2D cycles."""

    cycles: float
    energy_j: float
    dram_bytes: float
    useful_2d: float          # Σ utilization × cycles: 2D-array-cycles of useful work
    choice: str               # which systolic dataflow each GEMM took
    energy: dict              # the energy columns (`energy_columns`) summed over the GEMMs


def linear_totals(model: str, seq: int, arch_name: str) -> Linear:
    """The linear layers of one encoder layer, each GEMM on its fastest systolic dataflow."""
    arch = accel.preset(arch_name)
    results = linear_layers(model, seq, arch)
    rs = results.values()
    columns = [energy_columns(r, arch) for r in rs]
    return Linear(sum(r.cycles for r in rs), sum(r.energy_j for r in rs), sum(r.dram_bytes for r in rs),
                  sum(r.utilization["2d"] * r.cycles for r in rs),
                  " ".join(f"{n}:{r.dataflow}" for n, r in results.items()),
                  {k: sum(c[k] for c in columns) for k in columns[0]})


def end_to_end_grid(attention_rows: list[dict]) -> list[dict]:
    """Attention plus linear layers, per (model, seq, dataflow); the linear layers run on the same 2D array."""
    cache: dict[tuple, Linear] = {}
    rows = []
    for a in attention_rows:
        key = (a["model"], a["seq"], a["arch"])
        if key not in cache:
            cache[key] = linear_totals(*key)
        lin = cache[key]
        total = a["cycles"] + lin.cycles
        rows.append({"model": a["model"], "seq": a["seq"], "dataflow": a["dataflow"], "arch": a["arch"],
                     "latency_s": total / accel.preset(a["arch"]).clock_hz, "cycles": total, "scores": a["scores"],
                     "energy_j": a["energy_j"] + lin.energy_j, **{k: a[k] + v for k, v in lin.energy.items()},
                     "dram_bytes": a["dram_bytes"] + lin.dram_bytes,
                     "attention_share": a["cycles"] / total,
                     "util_2d": (a["util_2d"] * a["cycles"] + lin.useful_2d) / total,
                     "util_1d": a["util_1d"] * a["cycles"] / total, "linear_dataflows": lin.choice})
    return rows


def _ratios(by: dict, points: list, df: str, base: str, energy_key: str = "energy_j"):
    """Speedups (base latency / df latency) and energy ratios (df / base, in `energy_key`) over `points`."""
    speed = [by[(*p, base)]["latency_s"] / by[(*p, df)]["latency_s"] for p in points]
    energy = [by[(*p, df)][energy_key] / by[(*p, base)][energy_key] for p in points]
    return speed, energy


def summary(att: list[dict], e2e: list[dict]) -> list[dict]:
    """Mean speedup and energy ratio of every dataflow vs FLAT and vs unfused, and mean utilizations, per grid."""
    out = []
    for grid, rows in (("attention", att), ("end_to_end", e2e)):
        by = {(r["model"], r["seq"], r["dataflow"]): r for r in rows}
        points = sorted({(r["model"], r["seq"]) for r in rows})
        for df in DATAFLOWS:
            have = [p for p in points if (*p, df) in by and (*p, "flat") in by and (*p, "unfused") in by]
            if not have:
                continue
            sp_flat, en_flat = _ratios(by, have, df, "flat")
            sp_unf, en_unf = _ratios(by, have, df, "unfused")
            _, en_art = _ratios(by, have, df, "flat", "energy_artifact_j")
            out.append({"grid": grid, "dataflow": df, "points": len(have),
                        "speedup_vs_flat_mean": statistics.fmean(sp_flat),
                        "speedup_vs_flat_geomean": statistics.geometric_mean(sp_flat),
                        "energy_vs_flat_mean": statistics.fmean(en_flat),
                        "energy_artifact_vs_flat_mean": statistics.fmean(en_art),
                        "speedup_vs_unfused_mean": statistics.fmean(sp_unf),
                        "energy_vs_unfused_mean": statistics.fmean(en_unf),
                        "util_2d_mean": statistics.fmean(by[(*p, df)]["util_2d"] for p in have),
                        "util_1d_mean": statistics.fmean(by[(*p, df)]["util_1d"] for p in have)})
    return out


def per_length(rows: list[dict], df: str = "fusemax", base: str = "flat") -> dict[int, dict[str, float]]:
    """Per sequence length, the mean (over models) speedup of `df` over `base` and its energy ratio."""
    by = {(r["model"], r["seq"], r["dataflow"]): r for r in rows}
    out = {}
    for seq in sorted({r["seq"] for r in rows}):
        have = [(m, s) for m, s, d in by if s == seq and d == df and (m, s, base) in by]
        speed, energy = _ratios(by, have, df, base)
        _, energy_artifact = _ratios(by, have, df, base, "energy_artifact_j")
        out[seq] = {"speedup": statistics.fmean(speed), "energy": statistics.fmean(energy),
                    "energy_artifact": statistics.fmean(energy_artifact)}
    return out


BREAKDOWN_POINTS = (("BERT", SEQS[0]), ("BERT", SEQS[-1]))   # the per-component breakdown the docs show


def breakdown(rows: list[dict]) -> list[dict]:
    """Per dataflow at BERT 1K and 1M (those in `rows`): energy per component, the artifact's total and the real
    register energy, in joules."""
    keep = ("model", "seq", "dataflow", "scores", "energy_j", "energy_artifact_j", "register_energy_j")
    return [{k: r[k] for k in keep} | {c: r[f"energy_{c}_j"] for c in artifact.COMPONENTS}
            for r in rows if (r["model"], r["seq"]) in BREAKDOWN_POINTS]


def closed_forms(att: list[dict]) -> dict[str, dict[str, float]]:
    """Per dataflow, the simulated latency ÷ the artifact's closed form on the same work: mean, min, max, and the
    mean at the longest length."""
    out = {}
    longest = max(r["seq"] for r in att)
    for df in DATAFLOWS:
        ratios = [r["latency_s"] / r["closed_form_s"] for r in att if r["dataflow"] == df]
        long = [r["latency_s"] / r["closed_form_s"] for r in att if r["dataflow"] == df and r["seq"] == longest]
        if ratios:
            out[df] = {"mean": statistics.fmean(ratios), "min": min(ratios), "max": max(ratios),
                       "mean_longest": statistics.fmean(long)}
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows as CSV, columns in the first row's order."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def record(att: list[dict], e2e: list[dict], summ: list[dict], quick: bool) -> dict:
    """The machine-readable result (summary.json): the grid, the summary, per-length ratios and every point."""
    models = sorted({r["model"] for r in att}, key=list(MODELS).index)
    return {"grid": "quick" if quick else "full", "models": models, "seqs": sorted({r["seq"] for r in att}),
            "batch": BATCH, "searched": list(SEARCHED), "summary": summ,
            "per_length": {grid: {str(k): v for k, v in per_length(rows).items()}
                           for grid, rows in (("attention", att), ("end_to_end", e2e))},
            "breakdown": {"attention": breakdown(att), "end_to_end": breakdown(e2e)},
            "closed_forms": closed_forms(att), "iso_area": artifact.iso_area(), "gaps": gaps(att, e2e),
            "attention": att, "end_to_end": e2e}


def output_folder(out: Path) -> Path:
    """`out`, created; a path that is a file or cannot be created raises ValidationError."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    return out


def run(out: Path, quick: bool = False, plots: bool = True) -> dict:
    """Both grids (quick: QUICK's models and lengths), their files in `out`, and the wall times."""
    out = output_folder(out)
    models, seqs = QUICK if quick else (tuple(MODELS), SEQS)
    t0 = time.perf_counter()
    att = attention_grid(models, seqs)
    t1 = time.perf_counter()
    e2e = end_to_end_grid(att)
    t2 = time.perf_counter()
    summ = summary(att, e2e)
    write_csv(out / "attention.csv", att)
    write_csv(out / "end_to_end.csv", e2e)
    write_csv(out / "summary.csv", summ)
    (out / "summary.json").write_text(json.dumps(record(att, e2e, summ, quick), indent=1) + "\n")
    paths = figures(out, att, e2e, tuple(MODELS), tuple(DATAFLOWS)) if plots else []
    return {"attention": att, "end_to_end": e2e, "summary": summ, "figures": paths,
            "attention_s": t1 - t0, "end_to_end_s": t2 - t1}


def main(argv=None) -> None:
    """The command line: run the grid and print the summary."""
    ap = argparse.ArgumentParser(prog="python -m validation.fusemax", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (created)")
    ap.add_argument("--quick", action="store_true", help="BERT and XLM at 1K and 4K only")
    args = ap.parse_args(argv)
    try:
        res = run(args.out, quick=args.quick)
    except ValidationError as exc:
        ap.error(str(exc))
    print(f"attention grid: {len(res['attention'])} points in {res['attention_s']:.2f} s; "
          f"end-to-end grid: {len(res['end_to_end'])} points in {res['end_to_end_s']:.2f} s")
    for df in DATAFLOWS:
        print("\n" + step_table(res["attention"], df))
    print("\n" + summary_table(res["summary"]))
    print(iso_area_line(artifact.iso_area()))
    print(f"wrote {args.out}/attention.csv, end_to_end.csv, summary.csv, summary.json and {len(res['figures'])} "
          f"figures")
