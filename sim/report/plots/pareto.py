"""Design-space figures from sweep or exploration tables: latency against energy and area, the Pareto-optimal
designs ringed, each panel's 2-D front drawn as a step line."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sim.report.plots.common import field, metric, plt, save
from sim.search.pareto import pareto_front

LOG_SPAN = 20       # an axis whose values span more than this ratio is drawn in log scale


def plot_pareto(rows: Iterable, path: str | Path, *, latency: str = "latency_s", energy: str = "energy_j",
                area: str | None = "area_mm2", label: str | None = "dataflow",
                title: str = "design space: latency × energy × area") -> Path:
    """Pareto plots from a sweep table (records: dicts or objects): latency–energy and latency–area panels, colour =
    the third metric, the 3-D Pareto-optimal designs ringed in black and the 2-D front of each panel as a step line.
    Without an `area` column, one latency–energy panel."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to plot")
    lat = np.array([field(r, latency) for r in rows], float) * 1e3
    en_label, en_scale = metric(energy)
    en = np.array([field(r, energy) for r in rows], float) * en_scale
    ar_label, ar_scale = metric(area) if area else (None, 1.0)
    ar = np.array([field(r, area) for r in rows], float) * ar_scale if area else None
    ring = sorted(pareto_front(np.column_stack([lat, en] + ([ar] if ar is not None else []))))
    panels = [(en, en_label, ar, ar_label)]
    if ar is not None:
        panels.append((ar, ar_label, en, en_label))
    fig, axes = plt().subplots(1, len(panels), figsize=(5.4 * len(panels) + 0.6, 4.4), squeeze=False)
    for ax, (y, ylabel, c, clabel) in zip(axes[0], panels):
        sc = ax.scatter(lat, y, s=26, zorder=3, **({"c": c, "cmap": "viridis"} if c is not None else {}))
        if c is not None:
            fig.colorbar(sc, ax=ax, label=clabel)
        ax.scatter(lat[ring], y[ring], s=70, facecolor="none", edgecolor="black", lw=1.1, zorder=4,
                   label="Pareto-optimal (3-D)" if ar is not None else "Pareto-optimal")
        f2 = sorted(pareto_front(np.column_stack([lat, y])), key=lambda i: lat[i])
        ax.step(lat[f2], y[f2], where="post", color="tab:red", lw=1.2, label="2-D front")
        _scales(ax, lat, y)
        ax.margins(0.12)
        if label:
            _annotate(ax, rows, ring, lat, y, label)
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def _scales(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Log scale only where the values span decades; few ticks on linear axes."""
    for values, scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if values.min() > 0 and values.max() / values.min() > LOG_SPAN:
            scale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "linear":
            axis.set_major_locator(plt().MaxNLocator(5))
        else:                 # 1-2-5 ticks in plain numbers; minor labels of a short log axis would overlap
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())


def _annotate(ax, rows: Sequence, ring: Sequence[int], lat: np.ndarray, y: np.ndarray, label: str) -> None:
    """Label the Pareto-optimal points, alternating above and below; right-aligned in the right 40% of the axes."""
    to_axes = ax.transData + ax.transAxes.inverted()
    for k, i in enumerate(sorted(ring, key=lambda i: lat[i])):
        right = to_axes.transform((lat[i], y[i]))[0] > 0.6
        ax.annotate(str(field(rows[i], label)), (lat[i], y[i]), fontsize=6, textcoords="offset points",
                    xytext=(-5, 16) if right else (5, 6 - 14 * (k % 2)), ha="right" if right else "left")
