"""GPU model report: the model next to every public measurement this project holds (the FlashAttention-2 H100
table: FlashAttention-2 and "Standard" attention), calibration points marked, predictions of the kernels that have
none (FlashAttention-3, cuDNN-style, Blackwell, FP8), what each modelled mechanism adds per head dim, and energy.
The figures are computed by `validation.figures.gpu` and `validation.figures.gpu_mechanisms`.

    python benchmarks/gpu_report.py [PRESET] [--json FILE]      # PRESET: h100 (default), h200, a100, b200

The comparison is H100-only; predictions run on PRESET. `--json` writes every figure (`python -m validation.figures`
renders them into docs/validation.md and docs/gpu-model.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validation.compare.summaries import pct  # noqa: E402
from validation.figures.gpu import HEAD_DIMS, KERNELS, report  # noqa: E402


def print_report(r: dict) -> None:
    """The report as text tables."""
    print(f"GPU model report — {r['arch']}; calibrated: "
          + ", ".join(f"{k}={v}" for k, v in r["calibrated"].items()))
    for kernel, title in KERNELS.items():
        if "fa2_table" not in r:
            break
        print(f"\n{title} vs the FA3 paper's H100 figure (measured / simulated TFLOP/s, time error; * calibration)")
        print(f"{'config':<18}" + "".join(f"{s:>22}" for s in r["seqs"]))
        for d in HEAD_DIMS:
            for causal in (False, True):
                row = [c for c in r["fa2_table"][kernel] if c["head_dim"] == d and c["causal"] == causal]
                if not any(c["status"] == "ok" for c in row):
                    continue
                cells = [f"{c['measured_tflops']:.0f}/{c['sim_tflops']:.0f} ({pct(c['time_error'], signed=True)})"
                         + ("*" if c["role"] == "calibration" else " ") if c["status"] == "ok" else c["status"]
                         for c in row]
                print(f"{f'D={d} ' + ('causal' if causal else 'non-causal'):<18}" + "".join(f"{x:>22}" for x in cells))
        s = r["fa2_summary"][kernel]
        print(f"held-out: {s['held_out']['n']} points, median |time error| {pct(s['held_out']['median_abs'])}"
              f", max {pct(s['held_out']['max_abs'])} (TFLOP/s: max {pct(s['tflops_held_out']['max_abs'])})")
    for df, rows in r["predictions"].items():
        print(f"\n{df} predictions on {r['arch']} (TFLOP/s, 2 FLOPs per MAC over attended pairs)")
        print(f"{'config':<18}" + "".join(f"{s:>8}" for s in r["seqs"]))
        for row in rows:
            label = f"D={row['head_dim']} " + ("causal" if row["causal"] else "non-causal")
            print(f"{label:<18}" + "".join(f"{x:>8.0f}" for x in row["tflops"]))
    print_structure(r)
    print(f"\n8192³ bf16 GEMM: {r['gemm_8192_tflops']:.0f} TFLOP/s")
    print(f"FLUX 256×256 GNA w=80 s=16: {r['flux_gna_ms']:.2f} ms ({r['flux_gna_tflops']:.0f} TFLOP/s); dense "
          f"({r['flux_dense_dataflow']}) {r['flux_dense_ms']:.2f} ms; speedup {r['flux_speedup']:.2f} "
          f"(tile bound {r['flux_tile_bound']:.2f})")


def print_structure(r: dict) -> None:
    """The newer kernels' predictions, what each modelled mechanism adds, and energy (h100 reports only)."""
    for label, rows in r.get("newer_kernels", {}).items():
        print(f"\n{label} predictions (TFLOP/s; no measurement held)")
        print(f"{'config':<18}" + "".join(f"{s:>8}" for s in r["seqs"]))
        for row in rows:
            name = f"D={row['head_dim']} " + ("causal" if row["causal"] else "non-causal")
            print(f"{name:<18}" + "".join(f"{x:>8.0f}" for x in row["tflops"]))
    if "mechanisms" in r:
        print("\nWhat each modelled mechanism adds (latency with it / without it − 1), and unit occupancy")
        for m in r["mechanisms"]:
            busy = " ".join(f"{k} {v * 100:.0f}%" for k, v in m["busy"].items())
            adds = ", ".join(f"{k} {v * 100:+.1f}%" for k, v in m["adds"].items()) or "no switchable mechanisms"
            print(f"  {m['dataflow']:<15} {m['arch']} D={m['head_dim']:<3} {m['seq'] // 1024:>2}K "
                  f"{'causal    ' if m['causal'] else 'non-causal'} {m['tflops']:6.0f} TFLOP/s | {busy} | {adds}")
    if "energy" in r:
        print("\nBoard power (dynamic + static)")
        for arch, c in r["energy"]["checks"].items():
            print(f"  {arch}: 8192³ GEMM {c['gemm_w']:.0f} W = {c['gemm_w'] / c['tdp_w']:.2f} × {c['tdp_w']:.0f} W; "
                  f"decode over 128K {c['stream_w']:.0f} W; static {c['static_w']:.0f} W")
        print("Attention energy")
        for v in r["energy"]["variants"]:
            print(f"  {v['variant']:<34} {v['arch']} {v['dataflow']:<16} {v['watts']:6.0f} W "
                  f"{v['j_per_token']:9.3g} J/token {v['pj_per_flop']:7.3g} pJ/FLOP")


def main(argv=None) -> None:
    """Compute, print and optionally write the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("preset", nargs="?", default="h100", choices=("h100", "h200", "a100", "b200"))
    ap.add_argument("--json", type=Path, default=None, help="also write every figure as JSON")
    args = ap.parse_args(argv)
    r = report(args.preset)
    print_report(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
