"""Timelines from the engine's trace: an overview strip of the whole run (busy fraction per unit over time; spans
the engine extrapolated, so did not trace, are hatched) above a Gantt chart of a labelled steady-state window of a
few repeating periods, coloured by Einsum or kernel phase."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from sim.report.plots.common import colors, plt, save

PERIOD_SCAN_OPS = 4096      # ops of the busiest unit searched for a repeating pattern (bounds the search)
MAX_BARS = 20_000           # ops drawn in the Gantt window at most (the window is cut short beyond)
OVERVIEW_BINS = 600         # time bins of the overview strip


@dataclass(frozen=True)
class Window:
    """A span of a traced run (ticks) and what it shows."""
    start: int
    end: int
    period: int = 0          # ticks of one repeating period (0: no repeating pattern found)
    periods: int = 0
    what: str = "the whole run"


def _segments_by_work(run) -> list[int]:
    """Segments in decreasing order of traced busy time (those with traced ops only)."""
    tr = run.trace
    work = np.bincount(tr.segment, weights=tr.end - tr.start, minlength=len(run.segments))
    return [int(s) for s in np.argsort(-work, kind="stable") if work[s] > 0]


def _bottleneck_ops(run, segment: int) -> np.ndarray:
    """Trace indices of the busiest unit's ops in `segment`, in program order."""
    tr = run.trace
    mine = tr.segment == segment
    unit = int(np.argmax(np.bincount(tr.unit[mine], weights=(tr.end - tr.start)[mine], minlength=len(run.units))))
    idx = np.flatnonzero(mine & (tr.unit == unit))
    return idx[np.lexsort((tr.op[idx], tr.iteration[idx]))]


def find_period(signature: np.ndarray, periods: int) -> int | None:
    """The smallest p such that the middle half of `signature` (at most `PERIOD_SCAN_OPS` entries) repeats every p
    entries at least `periods` + 1 times (None: no such p)."""
    n = len(signature)
    width = min(n // 2, PERIOD_SCAN_OPS)
    scan = signature[(n - width) // 2: (n - width) // 2 + width]
    for p in range(1, len(scan) // (periods + 1) + 1):
        if np.array_equal(scan[:-p], scan[p:]):
            return p
    return None


def _window_in(run, ops: np.ndarray, p: int, periods: int, what: str) -> Window | None:
    """`periods` periods of p ops starting mid-way through `ops` (trace indices in program order); a period lasts
    the median time from an op to the op p later."""
    tr = run.trace
    first = max(0, len(ops) // 2 - p * periods // 2)
    later = ops[first + p: first + p + PERIOD_SCAN_OPS]
    if not len(later):
        return None
    period = int(np.median(tr.start[later] - tr.start[ops[first: first + len(later)]]))
    if period <= 0:
        return None
    t0 = int(tr.start[ops[first]])
    cycles = period / run.ticks_per_cycle
    return Window(t0, min(t0 + periods * period, int(run.ticks)), period, periods,
                  f"{periods} steady-state periods of {cycles:,.0f} cycles ({what})")


def steady_window(run, periods: int = 3) -> Window:
    """A window of `periods` steady-state periods of a traced run. In a segment (the one with the most traced work
    that has one), the busiest unit's op sequence (tag, duration) within the middle iteration repeats every p ops:
    one period is the median time between an op and the op p later, and the window starts mid-iteration. If an
    iteration has no repeating pattern, a period is one iteration. Without a trace, or without any repeat, the whole
    traced span."""
    tr = run.trace
    if tr is None or len(tr.start) == 0:
        return Window(0, int(run.ticks))
    for s in _segments_by_work(run):
        window = _segment_window(run, s, periods)
        if window is not None:
            return window
    return Window(int(tr.start.min()), int(tr.end.max()), what="the whole traced run (no repeating pattern)")


def _segment_window(run, s: int, periods: int) -> Window | None:
    tr = run.trace
    idx = _bottleneck_ops(run, s)
    iterations = np.unique(tr.iteration[idx])
    k = int(iterations[len(iterations) // 2])
    inner = idx[tr.iteration[idx] == k]
    signature = tr.tag[inner].astype(np.int64) * (1 << 40) + (tr.end - tr.start)[inner]
    p = find_period(signature, periods)
    where = f"segment {run.segments[s]!r}, iteration {k + 1}"
    window = _window_in(run, inner, p, periods, where) if p else None
    if window is None and len(iterations) > periods:
        window = _window_in(run, idx, len(inner), periods, f"one iteration each, segment {run.segments[s]!r}")
    return window


def busy_fraction(run, bins: int = OVERVIEW_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(bin edges in ticks, busy fraction per unit × bin) from the trace; a unit runs one op at a time."""
    tr = run.trace
    edges = np.linspace(0, max(int(run.ticks), 1), bins + 1)
    out = np.zeros((len(run.units), bins))
    for u in range(len(run.units)):
        mine = np.flatnonzero(tr.unit == u)
        if not len(mine):
            continue
        order = mine[np.argsort(tr.start[mine], kind="stable")]
        start, end = tr.start[order].astype(float), tr.end[order].astype(float)
        done = np.concatenate([[0.0], np.cumsum(end - start)])
        j = np.searchsorted(end, edges, side="right")          # ops finished by each edge
        inside = np.minimum(j, len(start) - 1)
        partial = np.where((j < len(start)) & (start[inside] < edges), edges - start[inside], 0.0)
        busy = done[j] + partial
        out[u] = np.diff(busy) / np.diff(edges)
    return edges, np.clip(out, 0.0, 1.0)


def _extrapolated(run) -> list[tuple[float, float, str]]:
    """(start, end, segment) tick spans the engine extrapolated instead of simulating (not in the trace)."""
    tr, spans = run.trace, []
    for s, name in enumerate(run.segments):
        if run.period_ticks[s] and (tr.segment == s).any():
            spans.append((float(tr.end[tr.segment == s].max()), float(run.segment_end_ticks[s]), name))
    return [sp for sp in spans if sp[1] > sp[0]]


def _kernel_ends(result, run) -> list[tuple[str, float]]:
    """(kernel, end tick) of a Result with several kernels, from `Result.kernels`."""
    kernels = getattr(result, "kernels", None) or {}
    if len(kernels) < 2 or not result.latency_s:
        return []
    ticks_per_s = run.ticks / result.latency_s
    return [(name, t * ticks_per_s) for name, t in zip(kernels, np.cumsum(list(kernels.values())))]


def _overview(ax, run, window: Window, result) -> None:
    """The whole run: busy fraction per unit and time bin, extrapolated spans hatched, the window boxed."""
    tpc = run.ticks_per_cycle
    _, busy = busy_fraction(run)
    total = run.ticks / tpc
    ax.imshow(busy, aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="nearest",
                      extent=(0, total, len(run.units) - 0.5, -0.5))
    for k, (a, b, name) in enumerate(_extrapolated(run)):
        ax.axvspan(a / tpc, b / tpc, facecolor="none", edgecolor="0.45", hatch="///", lw=0,
                   label="extrapolated (periodic, not traced)" if k == 0 else None)
    ax.axvspan(window.start / tpc, window.end / tpc, facecolor="none", edgecolor="red", lw=1.4,
               label="window below")
    for name, end in _kernel_ends(result, run):
        ax.axvline(end / tpc, color="black", lw=0.8, ls="--")
        ax.text(end / tpc, -0.6, f" end of {name}", fontsize=6, va="bottom", ha="right")
    ax.set_yticks(range(len(run.units)), list(run.units), fontsize=7)
    ax.set_xlim(0, total)
    ax.xaxis.set_major_formatter(_cycles_format())
    ax.set_title(f"whole run: {total:,.0f} cycles (shade = busy fraction per unit)", fontsize=8)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.15))


def _cycles_format():
    """Tick labels as plain cycle counts with thousands separators (no offset or exponent)."""
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda x, _: f"{x:,.0f}")


def _gantt(ax, run, window: Window, unit_labels: Mapping[str, str] | None) -> None:
    """Every traced op overlapping the window, one row per unit, coloured by tag."""
    tr, tpc = run.trace, run.ticks_per_cycle
    sel = np.flatnonzero((tr.end > window.start) & (tr.start < window.end))[:MAX_BARS]
    tags = list(run.tags) + ["(untagged)"]
    palette = dict(zip(tags, colors(len(tags))))
    used = set()
    for u, name in enumerate(run.units):
        mine = sel[tr.unit[sel] == u]
        for tag in np.unique(tr.tag[mine]):
            ops = mine[tr.tag[mine] == tag]
            label = tags[tag]
            ax.broken_barh(list(zip(tr.start[ops] / tpc, (tr.end[ops] - tr.start[ops]) / tpc)), (u - 0.38, 0.76),
                           facecolors=palette[label], edgecolor="black", lw=0.3, label=None if label in used else label)
            used.add(label)
    busy = run.busy_ticks / max(run.ticks, 1)
    ax.set_yticks(range(len(run.units)), [f"{(unit_labels or {}).get(n, n)} (busy {b:.0%})"
                                          for n, b in zip(run.units, busy)], fontsize=8)
    ax.set_ylim(len(run.units) - 0.5, -0.5)
    ax.set_xlim(window.start / tpc, window.end / tpc)
    ax.xaxis.set_major_formatter(_cycles_format())
    ax.set_xlabel("time (cycles)")
    ax.grid(True, axis="x", alpha=0.3)
    if used:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="Einsum or phase", title_fontsize=7)


def plot_timeline(run, path: str | Path, *, window: Window | tuple[int, int] | None = None, periods: int = 3,
                  title: str | None = None, unit_labels: Mapping[str, str] | None = None) -> Path:
    """Overview strip of the whole run above a per-unit Gantt chart of `window` (ticks; default `steady_window`),
    from a traced `Run` or a `Result` whose `.run` has a trace (kernel boundaries are marked from
    `Result.kernels`). Trace with `sim.Options(trace=True, extrapolate=False)` to see every iteration."""
    result = run if hasattr(run, "run") else None
    run = run.run if result is not None else run
    if run is None or run.trace is None:
        raise ValueError("the run has no trace: simulate with trace=True (sim.evaluate(..., trace=True))")
    if window is None:
        window = steady_window(run, periods)
    elif not isinstance(window, Window):
        window = Window(int(window[0]), int(window[1]), what="the requested window")
    fig, (top, bottom) = plt().subplots(2, 1, figsize=(9.5, 0.75 * len(run.units) + 3.4),
                                        gridspec_kw={"height_ratios": [1, 2.2]})
    _overview(top, run, window, result)
    _gantt(bottom, run, window, unit_labels)
    tpc = run.ticks_per_cycle
    span = f"cycles {window.start / tpc:,.0f}–{window.end / tpc:,.0f}"
    bottom.set_title(f"{title + ': ' if title else ''}{window.what}, {span}", fontsize=9)
    fig.tight_layout()
    return save(fig, path)
