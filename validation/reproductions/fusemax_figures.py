"""Figures of the FuseMax reproduction: utilization vs sequence length, and speedup and energy vs unfused, for each
model and grid (the FuseMax paper's Figs. 7-9 layout: one panel per model)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _utilization(out: Path, grid: str, rows: list[dict], models: list[str], dataflows: Sequence[str]) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(2, len(models), figsize=(4 * len(models), 6.5), squeeze=False, sharey=True)
    for j, model in enumerate(models):
        for i, unit in enumerate(("util_2d", "util_1d")):
            ax = axes[i][j]
            for df in dataflows:
                pts = sorted((r["seq"], r[unit]) for r in rows if r["model"] == model and r["dataflow"] == df)
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=df)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{model}: {unit.replace('util_', '').upper()} utilization ({grid})", fontsize=9)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("sequence length")
    axes[0][0].set_ylabel("useful work / capacity")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = out / f"utilization_{grid}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _speedup_energy(out: Path, grid: str, rows: list[dict], models: list[str], dataflows: Sequence[str]) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(2, len(models), figsize=(4 * len(models), 6.5), squeeze=False)
    by = {(r["model"], r["seq"], r["dataflow"]): r for r in rows}
    for j, model in enumerate(models):
        for i, (what, label) in enumerate((("latency_s", "speedup vs unfused"), ("energy_j", "energy / unfused"))):
            ax = axes[i][j]
            for df in dataflows:
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
    path = out / f"speedup_energy_{grid}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figures(out: Path, att: list[dict], e2e: list[dict], models: Sequence[str], dataflows: Sequence[str]) -> list[Path]:
    """Four PNGs in `out`: utilization and speedup/energy, for the attention and the end-to-end grid (panels in the
    order of `models`, one line per dataflow; "unfused" must be among them, it is the speedup baseline)."""
    shown = [m for m in models if any(r["model"] == m for r in att)]
    paths = []
    for grid, rows in (("attention", att), ("end_to_end", e2e)):
        paths += [_utilization(out, grid, rows, shown, dataflows), _speedup_energy(out, grid, rows, shown, dataflows)]
    return paths
