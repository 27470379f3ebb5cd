"""The fixed-width tables `python -m validation.fusemax` prints: the summary, and per ablation step every point's
latency (simulated, and the FuseMax artifact's closed form on the same work), utilizations and energy with its
per-component breakdown (the model's accounting) beside the artifact's accounting; the iso-area check."""
from __future__ import annotations

from typing import Iterable

from validation.reproductions.fusemax_artifact import COMPONENTS, LABELS

STEPS = {"unfused": "unfused (3-pass, FLAT's hardware)", "flat": "FLAT (3-pass, fused)",
         "fusemax-cascade": "+Cascade (1-pass on FLAT's hardware)",
         "fusemax-arch": "+Architecture (FuseMax's hardware, one tile at a time)",
         "fusemax": "+Binding (FuseMax: both arrays interleaved)"}


def summary_table(summ: list[dict]) -> str:
    """Mean speedups, energy ratios (the model's and the artifact's accounting) and utilizations per grid."""
    lines = [f"{'grid':<11} {'dataflow':<16} {'vs FLAT':>8} {'energy/FLAT':>11} {'(artifact)':>10} "
             f"{'vs unfused':>10} {'energy/unf':>10} {'2D util':>8} {'1D util':>8}"]
    lines += [f"{s['grid']:<11} {s['dataflow']:<16} {s['speedup_vs_flat_mean']:>7.2f}× {s['energy_vs_flat_mean']:>11.3f} "
              f"{s['energy_artifact_vs_flat_mean']:>10.3f} {s['speedup_vs_unfused_mean']:>9.2f}× "
              f"{s['energy_vs_unfused_mean']:>10.3f} {s['util_2d_mean']:>8.1%} {s['util_1d_mean']:>8.1%}"
              for s in summ]
    return "\n".join(lines)


def _seq(s: int) -> str:
    return f"{s // 2 ** 20}M" if s >= 2 ** 20 else f"{s // 1024}K"


def step_table(rows: Iterable[dict], df: str) -> str:
    """One ablation step: per point latency (and closed form), utilizations, energy, components, artifact energy."""
    parts = " ".join(f"{LABELS[c]:>13}" for c in COMPONENTS)
    lines = [STEPS.get(df, df) + " — energies in mJ",
             f"{'model':<5} {'seq':>4} {'latency ms':>11} {'closed form':>11} {'2D util':>7} {'1D util':>7} "
             f"{'energy':>13} {parts} {'(artifact)':>13}"]
    for r in rows:
        if r["dataflow"] != df:
            continue
        comps = " ".join(f"{r[f'energy_{c}_j'] * 1e3:>13.5g}" for c in COMPONENTS)
        lines.append(f"{r['model']:<5} {_seq(r['seq']):>4} {r['latency_s'] * 1e3:>11.5g} "
                     f"{r['closed_form_s'] * 1e3:>11.5g} {r['util_2d']:>7.1%} {r['util_1d']:>7.1%} "
                     f"{r['energy_j'] * 1e3:>13.5g} {comps} {r['energy_artifact_j'] * 1e3:>13.5g}")
    return "\n".join(lines)


def iso_area_line(a: dict) -> str:
    """The iso-area check in one sentence."""
    return (f"iso-area: FuseMax {a['fusemax_mm2']:.1f} mm², FLAT {a['flat_mm2']:.1f} mm² at "
            f"{a['sram_um2_per_byte']:.2f} µm² per buffer byte (FuseMax {a['fusemax_vs_flat']:+.1%}); FuseMax is "
            f"smaller above {a['density_breakeven_um2_per_byte']:.1f} µm²/B and 6.4% smaller (the paper) at "
            f"{a['density_for_paper_um2_per_byte']:.1f} µm²/B")
