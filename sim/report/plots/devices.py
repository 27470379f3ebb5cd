"""The timeline of a multi-device step: one row per engine unit of every device — its compute unit, the SMs its
collectives occupy (`comm`), its NVLink and NIC egress (and a node's NICs together) — with each op as a bar
coloured by the kernel or collective it belongs to, from the engine's trace of the step."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.report.plots.common import colors, plt, save

MAX_BARS = 20_000      # ops drawn at most (the earliest; a note says when the step has more)
MAX_LEGEND = 16        # kernels and collectives named in the legend (the busiest)
ROW_ORDER = ("compute", "comm", "link", "nic")


def _rows(units: tuple[str, ...], used: set[int]) -> list[int]:
    """Unit indices drawn, device by device (compute, comm, link, nic), then the nodes' shared NIC units."""
    def key(i: int):
        name = units[i]
        owner, _, kind = name.partition(".")
        return (owner[0] != "d", int(owner[1:]) if owner[1:].isdigit() else 0,
                ROW_ORDER.index(kind) if kind in ROW_ORDER else len(ROW_ORDER))
    return sorted(used, key=key)


def plot_device_timeline(result, path: str | Path, title: str | None = None) -> Path:
    """Draw `result.run` (a `ParallelResult`'s step) as a Gantt chart of every device's units; returns the path."""
    run = result.run
    if run is None or run.trace is None:
        raise ValueError("plot_device_timeline: the result holds no traced step (a ParallelResult's run)")
    tr = run.trace
    n = min(len(tr.start), MAX_BARS)
    rows = _rows(run.units, set(tr.unit[:n].tolist()))
    row_of = {u: k for k, u in enumerate(rows)}
    scale = 1e6 * result.step_s / run.ticks if run.ticks else 1.0     # ticks → µs
    busiest = _busiest_tags(tr, n)
    palette = dict(zip(busiest, colors(len(busiest))))
    fig, ax = plt().subplots(figsize=(11, 0.35 * len(rows) + 1.6))
    for i in range(n):
        tag = int(tr.tag[i])
        ax.barh(row_of[int(tr.unit[i])], (tr.end[i] - tr.start[i]) * scale, left=tr.start[i] * scale, height=0.7,
                color=palette.get(tag, "0.7"), linewidth=0)
    ax.set_yticks(range(len(rows)), [run.units[u] for u in rows])
    ax.invert_yaxis()
    ax.set_xlabel("time (µs)")
    handles = [plt().Rectangle((0, 0), 1, 1, color=palette[t]) for t in busiest]
    ax.legend(handles, [run.tags[t] for t in busiest], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    note = f" (first {MAX_BARS} of {len(tr.start)} ops)" if len(tr.start) > n else ""
    ax.set_title(title or f"{result.workload} on {result.cluster}, plan {result.plan}: one step of "
                          f"{result.step_s * 1e6:.4g} µs{note}", fontsize=9)
    return save(fig, path)


def _busiest_tags(tr, n: int) -> list[int]:
    tags = tr.tag[:n]
    work = np.bincount(tags[tags >= 0], weights=(tr.end[:n] - tr.start[:n])[tags >= 0])
    order = [int(t) for t in np.argsort(-work, kind="stable") if work[t] > 0]
    return order[:MAX_LEGEND]
