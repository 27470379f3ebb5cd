"""Comparison figures: speedup and energy relative to a baseline, simulated against measured times, and grouped
speedup bars (simulated beside measured)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from sim.report.plots.common import colors, labelled, plt, save


def bar_labels(ax, bars, values, fmt: str) -> None:
    """Write each bar's value above it (`n/a` for a missing or non-finite value)."""
    for b, v in zip(bars, values):
        text = "n/a" if v is None or not math.isfinite(v) else fmt.format(v)
        ax.annotate(text, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 2), textcoords="offset points")


def plot_speedup_energy(results, baseline: str, path: str | Path, *, title: str | None = None) -> Path:
    """Speedup (baseline latency / latency) and relative energy (energy / baseline energy) per result, against the
    result labelled `baseline`. `results`: Results (labelled by dataflow) or label → Result."""
    items = labelled(results)
    base = dict(items).get(baseline)
    if base is None:
        raise ValueError(f"baseline {baseline!r} is not among the results ({', '.join(l for l, _ in items)})")
    labels = [label for label, _ in items]
    speed = [base.latency_s / r.latency_s for _, r in items]
    energy = [r.energy_j / base.energy_j if base.energy_j else float("nan") for _, r in items]
    fig, (a1, a2) = plt().subplots(1, 2, figsize=(max(7.0, 1.1 * len(items) + 4), 3.8))
    fill = ["0.6" if l == baseline else "tab:blue" for l in labels]
    bar_labels(a1, a1.bar(labels, speed, color=fill, edgecolor="black", lw=0.4), speed, "{:.2f}×")
    a1.set_ylabel(f"speedup over {baseline} (×)")
    a1.set_title("speedup (higher is better)", fontsize=9)
    shown = [0 if math.isnan(e) else e for e in energy]
    fill = ["0.6" if l == baseline else "tab:orange" for l in labels]
    bar_labels(a2, a2.bar(labels, shown, color=fill, edgecolor="black", lw=0.4), energy, "{:.2f}×")
    a2.set_ylabel(f"energy relative to {baseline} (×)")
    a2.set_title("energy (lower is better)", fontsize=9)
    for ax, vals in ((a1, speed), (a2, shown)):
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_ylim(0, max(vals + [1.0]) * 1.18)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title or f"{items[0][1].workload} on {items[0][1].arch}, relative to {baseline}", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def plot_sim_vs_measured(measured: Sequence[float], simulated: Sequence[float], path: str | Path, *,
                         labels: Sequence[str] | None = None, groups: Sequence[str] | None = None, band: float = 0.10,
                         scale: float = 1e3, unit: str = "ms", quantity: str = "time",
                         title: str = "simulated versus measured") -> Path:
    """Scatter of simulated against measured values (plain arrays, e.g. seconds) on log-log axes with the y = x line
    and a ±`band` relative band; points coloured by `groups` (e.g. backend), optionally labelled. Values are
    multiplied by `scale` for display in `unit`."""
    m = np.asarray(measured, dtype=float) * scale
    s = np.asarray(simulated, dtype=float) * scale
    if m.shape != s.shape or m.ndim != 1 or len(m) == 0:
        raise ValueError(f"measured and simulated must be equal-length 1-D arrays, got {m.shape} and {s.shape}")
    groups = list(groups) if groups is not None else ["points"] * len(m)
    err = np.abs(s - m) / m
    fig, ax = plt().subplots(figsize=(5.8, 5.4))
    lo, hi = min(m.min(), s.min()) / 1.5, max(m.max(), s.max()) * 1.5
    xs = np.geomspace(lo, hi, 50)
    ax.fill_between(xs, xs * (1 - band), xs * (1 + band), color="tab:green", alpha=0.15, label=f"±{band:.0%}")
    ax.plot(xs, xs, color="black", lw=1, label="y = x")
    names = list(dict.fromkeys(groups))
    for g, color in zip(names, colors(len(names))):
        idx = [i for i, x in enumerate(groups) if x == g]
        med = float(np.median(err[idx]))
        ax.scatter(m[idx], s[idx], s=22, color=color, edgecolor="black", lw=0.4, zorder=3,
                   label=f"{g} (n={len(idx)}, median |err| {med:.1%})")
    if labels is not None:
        for x, y, t in zip(m, s, labels):
            ax.annotate(t, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"measured {quantity} ({unit})")
    ax.set_ylabel(f"simulated {quantity} ({unit})")
    ax.set_title(f"{title}: median |err| {np.median(err):.1%}, max {err.max():.1%}", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return save(fig, path)


def plot_speedup_bars(labels: Sequence[str], simulated: Sequence[float], measured: Sequence[float] | None,
                      path: str | Path, *, title: str = "speedup: simulated versus measured",
                      ylabel: str = "speedup (×)") -> Path:
    """Grouped bars of simulated and measured speedups (plain arrays; `measured` may be None or contain NaN)."""
    n = len(labels)
    sim_v = [float(v) for v in simulated]
    meas_v = [float(v) for v in measured] if measured is not None else None
    if len(sim_v) != n or (meas_v is not None and len(meas_v) != n):
        raise ValueError(f"labels, simulated and measured must have equal lengths ({n}, {len(sim_v)}, "
                         f"{None if meas_v is None else len(meas_v)})")
    fig, ax = plt().subplots(figsize=(max(6.0, 0.9 * n + 3), 3.8))
    x = np.arange(n)
    w = 0.38 if meas_v is not None else 0.6
    b1 = ax.bar(x - (w / 2 if meas_v is not None else 0), sim_v, w, color="tab:blue", edgecolor="black", lw=0.4,
                label="simulated")
    bar_labels(ax, b1, sim_v, "{:.2f}")
    tops = sim_v
    if meas_v is not None:
        shown = [0.0 if math.isnan(v) else v for v in meas_v]
        b2 = ax.bar(x + w / 2, shown, w, color="tab:gray", edgecolor="black", lw=0.4, label="measured")
        bar_labels(ax, b2, meas_v, "{:.2f}")
        tops = tops + shown
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(x, labels, rotation=20, fontsize=8, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(tops + [1.0]) * 1.18)
    ax.set_title(title, fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, path)
