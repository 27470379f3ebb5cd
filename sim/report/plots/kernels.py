"""Whole-layer and whole-model figures: a stacked bar of per-kernel time (one bar per result, a segment per kernel,
coloured by kind) and a roofline with one point per kernel (its ops over its DRAM bytes, at its simulated time)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import workloads
from accel import Arch

from sim.report.plots.common import colors, plt, save
from sim.report.plots.roofline import kernel_point, roofline_axes

KINDS = ("attention", "linear", "experts", "norm", "rope", "residual", "activation", "router", "embedding")
LABELLED_SHARE = 0.04     # segments at least this share of the longest bar carry the kernel's name


def plot_kernel_bars(results: Mapping[str, object], path: str | Path, title: str | None = None) -> Path:
    """One horizontal bar per labelled `LayerResult` (a layer or a model's phase), stacked by kernel in program
    order; colours are kernel kinds, the time in ms."""
    fig, ax = plt().subplots(figsize=(9, 0.9 + 0.7 * len(results)))
    palette = dict(zip(KINDS, colors(len(KINDS))))
    used = set()
    widest = max((r.latency_s for r in results.values()), default=0.0)
    for row, (label, r) in enumerate(results.items()):
        left = 0.0
        for part in r.parts:
            ms = part.seconds * 1e3
            kind = part.kernel.kind
            ax.barh(row, ms, left=left, color=palette.get(kind, "grey"), edgecolor="white", lw=0.5,
                    label=kind if kind not in used else None)
            used.add(kind)
            if part.seconds >= LABELLED_SHARE * widest:
                ax.text(left + ms / 2, row, part.kernel.name.split(".")[-1], ha="center", va="center", fontsize=6.5)
            left += ms
        ax.text(left, row, f" {left:.4g} ms, attention {r.share('attention'):.0%}", va="center", fontsize=7)
    ax.set_yticks(range(len(results)), list(results), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time (ms), kernels in program order")
    ax.set_title(title or "time per kernel", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_xlim(0, widest * 1e3 * 1.35)
    return save(fig, path)


def plot_kernel_roofline(result, arch: Arch, path: str | Path, title: str | None = None) -> Path:
    """The arch's roofline with one point per kernel of a `LayerResult`: all its ops (a MAC = 2) over its DRAM bytes,
    at the performance its simulated time gives."""
    points = []
    for part in result.parts:
        ops = workloads.total_ops(part.kernel.cascade)
        total = (sum(ops.values()) + ops.get("mac", 0)) * part.launches
        if total and part.result.dram_bytes:
            points.append(kernel_point(part.result, total / part.launches,
                                       f"{part.kernel.name.split('.')[-1]} ({part.dataflow})"))
    fig, ax = plt().subplots(figsize=(8, 5.6))
    dtype = result.parts[0].kernel.cascade.dtype if result.parts else "fp16"
    roofline_axes(ax, arch, points, dtype=dtype, title=title or f"{result.workload} on {arch.name}: one point per kernel")
    return save(fig, path)
