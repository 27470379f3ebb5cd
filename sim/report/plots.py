"""Figures. matplotlib is imported lazily, inside each function, so `import sim` stays light.

Every `plot_*` function takes plain records (a `Roofline`, `Result`s, `Run`s, or arrays and dicts for data that comes
from elsewhere, e.g. measurements and sweep tables), writes one PNG and returns its path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

import accel
from accel import Arch

from sim.bounds.rooflines import Roofline, unit_rate

DPI = 110
STALL_COLORS = {"dependency": "tab:orange", "memory": "tab:red", "buffer": "tab:purple"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    return path


def _colors(n: int) -> list:
    cmap = _plt().get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _si(value: float, unit: str) -> str:
    """3 significant digits with an SI prefix: 1.2e12, 'op/s' -> '1.2 Top/s'."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    k = min(max(int(math.floor(math.log10(abs(value)) / 3)), -4), 5)
    return f"{value / 10 ** (3 * k):.3g} {'pnµm kMGTP'[k + 4].strip()}{unit}"


# ---- roofline --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Roof:
    """One ceiling: a compute roof (ops/s) or a memory roof (bytes/s), from the datasheet or measured."""
    name: str
    kind: str           # "compute" | "memory"
    value: float        # op/s or byte/s
    measured: bool


@dataclass(frozen=True)
class Point:
    """One thing placed on a roofline: intensity (op/byte) and attained or bounded performance (op/s)."""
    label: str
    intensity: float
    perf: float
    kind: str           # "einsum" | "kernel" | "variant" | "cascade"


def roofs(arch: Arch, dtype: str = "fp16") -> list[Roof]:
    """Compute roofs per unit (a MAC counts as 2 ops; otherwise the unit's fastest finite op) and memory roofs per
    level with a bandwidth, then the measured ceilings in `arch.measured` (`<unit>.*flops_per_s`, `<level>.bytes_per_s`)."""
    out = []
    for u in arch.units:
        rates = {op: r for op in u.ops_per_cycle if "." not in op
                 if (r := unit_rate(arch, u, op, dtype)) is not None and math.isfinite(r)}
        if "mac" in rates:
            out.append(Roof(f"{u.name} (MAC = 2 op)", "compute", 2 * rates["mac"], False))
        elif rates:
            op, peak = max(rates.items(), key=lambda kv: kv[1])
            out.append(Roof(f"{u.name} ({op})", "compute", peak, False))
    out += [Roof(lv.name, "memory", lv.bandwidth_bytes_per_s, False) for lv in arch.levels
            if lv.bandwidth_bytes_per_s is not None]
    for key, value in arch.measured.items():
        head, _, what = key.partition(".")
        if what.endswith("bytes_per_s"):
            out.append(Roof(head, "memory", value, True))
        elif what.endswith("flops_per_s"):
            out.append(Roof(f"{head} ({what.removesuffix('_flops_per_s') or 'flops'})", "compute", value, True))
    return out


def ridges(arch: Arch, dtype: str = "fp16") -> list[tuple[str, float, float]]:
    """(label, intensity, perf) where each memory roof meets the highest compute roof of the same provenance
    (datasheet with datasheet, measured with measured; a measured memory roof falls back to the datasheet peak)."""
    rs = roofs(arch, dtype)
    top = {m: max((r.value for r in rs if r.kind == "compute" and r.measured == m), default=None) for m in (0, 1)}
    out = []
    for r in rs:
        if r.kind != "memory":
            continue
        peak = top[r.measured] or top[False]
        if peak:
            out.append((f"{'measured ' if r.measured else ''}{r.name}", peak / r.value, peak))
    return out


def einsum_points(roof: Roofline, arch: Arch) -> list[Point]:
    """Each Einsum as if it ran alone: its unfused bytes through the outermost level, its ops on its units.
    Einsums that land on the same spot share one labelled point."""
    outer = next((lv.bandwidth_bytes_per_s for lv in arch.levels if lv.bandwidth_bytes_per_s is not None), None)
    spots: dict[tuple[float, float], list[str]] = {}
    for row in roof.rows:
        ops = sum(row.ops.values()) + row.ops.get("mac", 0)       # a MAC counts as 2 operations
        compute = max(row.compute_s.values(), default=0.0)
        if ops == 0 or compute == 0:
            continue
        x = ops / max(row.unfused_bytes, 1)
        y = ops / compute if outer is None else min(ops / compute, x * outer)
        near = next((k for k in spots if abs(math.log(k[0] / x)) < 0.1 and abs(math.log(k[1] / y)) < 0.1), (x, y))
        spots.setdefault(near, []).append(row.einsum)
    return [Point(",".join(names), x, y, "einsum") for (x, y), names in spots.items()]


def cascade_point(roof: Roofline, label: str | None = None, kind: str = "cascade") -> Point:
    """The whole cascade fused: all ops over compulsory bytes, at its lower bound."""
    return Point(label or roof.cascade, roof.ops / max(roof.compulsory_bytes, 1), roof.ops / roof.lower_bound_s, kind)


def kernel_point(result, ops: float, label: str | None = None) -> Point:
    """A simulated kernel (a `Result`): `ops` (MAC = 2, e.g. `Roofline.ops`) over its outermost-level bytes, at its
    simulated latency."""
    return Point(label or result.dataflow, ops / max(result.dram_bytes, 1.0), ops / result.latency_s, "kernel")


def roofline_axes(ax, arch: Arch, points: Sequence[Point] = (), *, dtype: str = "fp16", title: str | None = None,
                  xlim: tuple[float, float] | None = None) -> None:
    """Draw one architecture's roofs (solid/dashed: datasheet; dotted: measured), ridge points (diamonds) and the
    points on a log-log axes."""
    rs = roofs(arch, dtype)
    compute = [r for r in rs if r.kind == "compute"]
    memory = [r for r in rs if r.kind == "memory"]
    ridge_list = ridges(arch, dtype)
    xs = [p.intensity for p in points] + [x for _, x, _ in ridge_list]
    lo, hi = xlim or (10 ** math.floor(math.log10(min(xs + [1.0]) / 3)), 10 ** math.ceil(math.log10(max(xs) * 3)))
    top = max(r.value for r in compute)
    fastest = max((r.value for r in memory), default=None)
    colors = iter(_colors(len(compute) + len(memory) + 1))
    by_name: dict[str, Any] = {}
    for r in compute + memory:      # datasheet first: measured roofs reuse their colour
        base = r.name.split(" ")[0]
        color = by_name.setdefault(base, next(colors))
        if r.kind == "compute":
            x0 = r.value / fastest if fastest else lo
            ax.plot([max(x0, lo), hi], [r.value, r.value], color=color, lw=2.2 if not r.measured else 1.4,
                    ls=":" if r.measured else "-",
                    label=f"{'measured' if r.measured else 'peak'} {r.name}: {_si(r.value, 'op/s')}")
        else:
            x1 = min(top / r.value, hi)
            ax.plot([lo, x1], [lo * r.value, x1 * r.value], color=color, lw=2.0 if not r.measured else 1.4,
                    ls=":" if r.measured else "--",
                    label=f"{'measured' if r.measured else 'peak'} {r.name}: {_si(r.value, 'B/s')}")
    if ridge_list:
        ax.scatter([x for _, x, _ in ridge_list], [y for _, _, y in ridge_list], marker="D", s=28, facecolor="white",
                   edgecolor="black", zorder=4, label="ridge (op/B): " + ", ".join(f"{n} {x:.3g}"
                                                                                  for n, x, _ in ridge_list))
    markers = {"einsum": ("o", 20, "black"), "kernel": ("s", 46, None), "variant": ("^", 52, None),
               "cascade": ("*", 120, "red")}
    seen = set()
    families = list(dict.fromkeys(p.label.split(" ")[0] for p in points if p.kind in ("kernel", "variant")))
    family_color = dict(zip(families, (_colors(10)[1:] * 5)))
    for p in points:
        marker, size, color = markers[p.kind]
        color = color or family_color[p.label.split(" ")[0]]
        if p.kind == "variant" and "decode" in p.label:
            marker = "v"
        legend = None
        if p.kind in ("kernel", "variant"):
            legend = f"{p.kind}: {p.label} ({_si(p.perf, 'op/s')})"
        elif p.kind not in seen:
            legend = {"einsum": "Einsum alone (unfused bytes)", "cascade": "cascade fused (compulsory bytes)"}[p.kind]
        seen.add(p.kind)
        ax.scatter([p.intensity], [p.perf], marker=marker, s=size, color=color, edgecolor="black", lw=0.4, zorder=5,
                   label=legend)
        if p.kind == "einsum":
            ax.annotate(p.label, (p.intensity, p.perf), fontsize=6.5, xytext=(3, -8), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    bottom = min([lo * min((r.value for r in memory), default=top)] + [p.perf for p in points])
    ax.set_ylim(max(bottom / 2, top / 1e7), top * 3)
    ax.set_xlabel("operational intensity (op / byte)")
    ax.set_ylabel("performance (op / s; a MAC = 2 op)")
    ax.set_title(title or arch.name, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    if len(ax.get_legend_handles_labels()[1]) > 14:
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.legend(fontsize=6.3, loc="lower right", framealpha=0.9)


def plot_roofline(arch: Arch, path: str | Path, *, roof: Roofline | None = None, results: Sequence = (),
                  variants: Mapping[str, Roofline] | None = None, dtype: str = "fp16",
                  title: str | None = None) -> Path:
    """One architecture's roofline with points per Einsum and the fused cascade (`roof`), per kernel (`results`:
    `(Result, ops)` pairs, ops as in `Roofline.ops`) and per variant (`variants`: label → Roofline, at its bound)."""
    points: list[Point] = []
    if roof is not None:
        points += einsum_points(roof, arch) + [cascade_point(roof)]
    points += [kernel_point(r, ops) for r, ops in results]
    points += [cascade_point(v, label, "variant") for label, v in (variants or {}).items()]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5.6))
    if title is None and roof is not None:
        title = (f"{roof.cascade} on {arch.name}: lower bound {roof.lower_bound_s * 1e6:.4g} µs "
                 f"({roof.binding})")
    roofline_axes(ax, arch, points, dtype=dtype, title=title)
    return _save(fig, path)


def plot_rooflines(pairs: Sequence[tuple[Roofline, Arch]], path: str | Path) -> Path:
    """One roofline panel per (roofline, arch) pair, saved as a PNG. Points: each Einsum run alone (unfused
    bytes) at its bound; the star is the fused cascade at its lower bound."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.5 * len(pairs), 5.4), squeeze=False)
    for ax, (roof, arch) in zip(axes[0], pairs):
        roofline_axes(ax, arch, einsum_points(roof, arch) + [cascade_point(roof)],
                      title=f"{roof.cascade} on {arch.name}\nlower bound {roof.lower_bound_s * 1e6:.4g} µs "
                            f"({roof.binding})")
    fig.tight_layout()
    return _save(fig, path)


# ---- utilization -----------------------------------------------------------------------------------------------

def steady_window(run, iterations: int = 3) -> tuple[int, int]:
    """A steady-state window (ticks) of a traced run: up to `iterations` iterations of the main loop, skipping its
    first (the pipeline fill). The main loop is a segment the engine found periodic (its last simulated iterations
    are steady), else the segment with the most traced ops; the whole run if it has under 3 traced iterations."""
    tr = run.trace
    if tr is None or len(tr.start) == 0:
        return 0, int(run.ticks)
    ops = np.bincount(tr.segment, minlength=len(run.segments))
    s = max(range(len(run.segments)), key=lambda k: (bool(run.period_ticks[k]), ops[k]))
    n = int(tr.iteration[tr.segment == s].max(initial=-1)) + 1
    if n < 3:
        return 0, int(run.ticks)
    first = max(1, n - iterations) if run.period_ticks[s] else max(1, n // 2 - iterations // 2)
    sel = (tr.segment == s) & (tr.iteration >= first) & (tr.iteration < first + iterations)
    return int(tr.start[sel].min()), int(tr.end[sel].max())


def plot_timeline(run, path: str | Path, *, window: tuple[int, int] | None = None, iterations: int = 3,
                  title: str | None = None, unit_labels: Mapping[str, str] | None = None) -> Path:
    """A Gantt chart per unit from a traced `Run` (or a `Result` whose `.run` has a trace), coloured by tag
    (Einsum), zoomed to `window` (ticks) or to a steady-state window (`steady_window`)."""
    run = getattr(run, "run", None) or run
    if run.trace is None:
        raise ValueError("the run has no trace: simulate with trace=True (sim.evaluate(..., trace=True))")
    tr = run.trace
    t0, t1 = window or steady_window(run, iterations)
    tpc = run.ticks_per_cycle
    sel = (tr.end > t0) & (tr.start < t1)
    tags = list(run.tags) + ["(untagged)"]
    colors = dict(zip(tags, _colors(len(tags))))
    plt = _plt()
    units = list(run.units)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(units) + 1.8))
    used = set()
    for u, name in enumerate(units):
        m = sel & (tr.unit == u)
        for tag in np.unique(tr.tag[m]):
            mm = m & (tr.tag == tag)
            label = tags[tag]
            spans = [(s / tpc, (e - s) / tpc) for s, e in zip(tr.start[mm], tr.end[mm])]
            ax.broken_barh(spans, (u - 0.38, 0.76), facecolors=colors[label], edgecolor="black", lw=0.3,
                           label=None if label in used else label)
            used.add(label)
    ax.set_yticks(range(len(units)), [(unit_labels or {}).get(n, n) for n in units], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(t0 / tpc, t1 / tpc)
    ax.set_xlabel("time (cycles)")
    total = run.ticks / tpc
    ax.set_title(title or f"per-unit timeline, cycles {t0 / tpc:,.0f}–{t1 / tpc:,.0f} of {total:,.0f}", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    if used:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="tag (Einsum)", title_fontsize=7)
    return _save(fig, path)


def _labelled(results) -> list[tuple[str, Any]]:
    if isinstance(results, Mapping):
        return list(results.items())
    return [(r.dataflow, r) for r in results]


def plot_utilization_vs_seq(series: Mapping[str, Sequence[tuple[int, Any]]], path: str | Path, *,
                            units: Sequence[str] | None = None, title: str = "utilization versus sequence length"
                            ) -> Path:
    """Utilization per unit key versus sequence length, one line per dataflow, one panel per unit key.
    `series`: dataflow → [(seq, Result or {unit key: utilization})]."""
    def util(r) -> Mapping[str, float]:
        return r.utilization if hasattr(r, "utilization") else r
    keys = list(units or dict.fromkeys(k for pts in series.values() for _, r in pts for k in util(r)))
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys) + 1.2, 3.6), squeeze=False, sharey=True)
    colors = dict(zip(series, _colors(len(series))))
    for ax, key in zip(axes[0], keys):
        for name, pts in series.items():
            pts = sorted((s, util(r)[key]) for s, r in pts if key in util(r))
            if pts:
                ax.plot([s for s, _ in pts], [100 * v for _, v in pts], marker="o", ms=4, color=colors[name],
                        label=name)
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 105)
        ax.set_title(f"unit {key}", fontsize=9)
        ax.set_xlabel("sequence length (tokens)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("utilization (% of cycles busy)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="dataflow", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_einsum_share(results, path: str | Path, *, key: str | None = None, title: str | None = None) -> Path:
    """Each Einsum's share of a unit kind's busy cycles (`Result.einsum_share(key)`), one stacked bar per result.
    `results`: Results (labelled by dataflow) or label → Result. `key` defaults to the first unit kind any result
    has busy cycles on."""
    items = _labelled(results)
    if key is None:
        key = next((k for _, r in items for k in r.utilization
                    if any(v.get(k, 0.0) for v in r.per_einsum.values())), None)
        if key is None:
            raise ValueError("no result has per-Einsum busy cycles")
    einsums = list(dict.fromkeys(e for _, r in items for e in r.per_einsum))
    colors = dict(zip(einsums, _colors(len(einsums))))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(items) + 1.9))
    for i, (label, r) in enumerate(items):
        share, left = r.einsum_share(key), 0.0
        busy = sum(v.get(key, 0.0) for v in r.per_einsum.values())
        for e in einsums:
            w = 100 * share.get(e, 0.0)
            if w:
                ax.barh(i, w, left=left, color=colors[e], edgecolor="black", lw=0.3,
                        label=e if e not in ax.get_legend_handles_labels()[1] else None)
                if w >= 6:
                    ax.text(left + w / 2, i, e, ha="center", va="center", fontsize=6.5)
                left += w
        ax.text(101, i, f"{busy:,.0f} cyc", va="center", fontsize=7)
    ax.set_yticks(range(len(items)), [label for label, _ in items], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"share of unit {key!r} busy cycles (%)")
    ax.set_title(title or f"per-Einsum share of {key} cycles", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.12, 1), title="Einsum", title_fontsize=7)
    return _save(fig, path)


def plot_stalls(results, path: str | Path, *, title: str = "stall breakdown per unit kind") -> Path:
    """Stall cycles per cause (`Result.stalls`: idle time of a unit kind's units before their ops, summed over
    the kind's units) as stacked bars, one per result and unit kind, annotated with the kind's utilization."""
    items = _labelled(results)
    rows = [(f"{label} · {key}", r.stalls.get(key, {}), util, r.cycles)
            for label, r in items for key, util in r.utilization.items()]
    causes = list(dict.fromkeys(c for _, st, _, _ in rows for c in st))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(rows) + 1.9))
    right = max([sum(st.values()) for _, st, _, _ in rows] + [1.0])
    for i, (label, st, util, cycles) in enumerate(rows):
        left = 0.0
        for c in causes:
            w = st.get(c, 0.0)
            ax.barh(i, w, left=left, color=STALL_COLORS.get(c, "gray"), edgecolor="black", lw=0.3,
                    label=c if i == 0 else None)
            left += w
        ax.text(left + right * 0.01, i, f"busy {util:.0%} of {cycles:,.0f} cyc", va="center", fontsize=6.5)
    ax.set_yticks(range(len(rows)), [label for label, *_ in rows], fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlim(0, right * 1.35)
    ax.set_xlabel("stall cycles (summed over the kind's units)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="waiting on", title_fontsize=7)
    return _save(fig, path)


# ---- comparisons -----------------------------------------------------------------------------------------------

def _bar_labels(ax, bars, values, fmt):
    for b, v in zip(bars, values):
        text = "n/a" if v is None or not math.isfinite(v) else fmt.format(v)
        ax.annotate(text, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 2), textcoords="offset points")


def plot_speedup_energy(results, baseline: str, path: str | Path, *, title: str | None = None) -> Path:
    """Speedup (baseline latency / latency) and relative energy (energy / baseline energy) per result, against the
    result labelled `baseline`. `results`: Results (labelled by dataflow) or label → Result."""
    items = _labelled(results)
    base = dict(items).get(baseline)
    if base is None:
        raise ValueError(f"baseline {baseline!r} is not among the results ({', '.join(l for l, _ in items)})")
    labels = [label for label, _ in items]
    speed = [base.latency_s / r.latency_s for _, r in items]
    energy = [r.energy_j / base.energy_j if base.energy_j else float("nan") for _, r in items]
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(7.0, 1.1 * len(items) + 4), 3.8))
    colors = ["0.6" if l == baseline else "tab:blue" for l in labels]
    _bar_labels(a1, a1.bar(labels, speed, color=colors, edgecolor="black", lw=0.4), speed, "{:.2f}×")
    a1.set_ylabel(f"speedup over {baseline} (×)")
    a1.set_title("speedup (higher is better)", fontsize=9)
    shown = [0 if math.isnan(e) else e for e in energy]
    colors = ["0.6" if l == baseline else "tab:orange" for l in labels]
    _bar_labels(a2, a2.bar(labels, shown, color=colors, edgecolor="black", lw=0.4), energy, "{:.2f}×")
    a2.set_ylabel(f"energy relative to {baseline} (×)")
    a2.set_title("energy (lower is better)", fontsize=9)
    for ax, vals in ((a1, speed), (a2, shown)):
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_ylim(0, max(vals + [1.0]) * 1.18)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title or f"{items[0][1].workload} on {items[0][1].arch}, relative to {baseline}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


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
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.8, 5.4))
    lo, hi = min(m.min(), s.min()) / 1.5, max(m.max(), s.max()) * 1.5
    xs = np.geomspace(lo, hi, 50)
    ax.fill_between(xs, xs * (1 - band), xs * (1 + band), color="tab:green", alpha=0.15, label=f"±{band:.0%}")
    ax.plot(xs, xs, color="black", lw=1, label="y = x")
    names = list(dict.fromkeys(groups))
    for g, color in zip(names, _colors(len(names))):
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
    return _save(fig, path)


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
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n + 3), 3.8))
    x = np.arange(n)
    w = 0.38 if meas_v is not None else 0.6
    b1 = ax.bar(x - (w / 2 if meas_v is not None else 0), sim_v, w, color="tab:blue", edgecolor="black", lw=0.4,
                label="simulated")
    _bar_labels(ax, b1, sim_v, "{:.2f}")
    tops = sim_v
    if meas_v is not None:
        shown = [0.0 if math.isnan(v) else v for v in meas_v]
        b2 = ax.bar(x + w / 2, shown, w, color="tab:gray", edgecolor="black", lw=0.4, label="measured")
        _bar_labels(ax, b2, meas_v, "{:.2f}")
        tops = tops + shown
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(x, labels, rotation=20, fontsize=8, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(tops + [1.0]) * 1.18)
    ax.set_title(title, fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (all coordinates ≤ and one <; minimization)."""
    p = np.asarray(points, dtype=float)
    keep = []
    for i in range(len(p)):
        dominated = np.all(p <= p[i], axis=1) & np.any(p < p[i], axis=1)
        if not dominated.any():
            keep.append(i)
    return keep


def _field(row, name: str):
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


METRIC_UNITS = {"_s": ("ms", 1e3), "_j": ("mJ", 1e3), "_mm2": ("mm²", 1.0), "_um2": ("mm²", 1e-6),
                "_bytes": ("MB", 1e-6)}


def _metric(column: str) -> tuple[str, float]:
    """Axis label and display scale of a table column named with its unit (`energy_j` -> 'energy (mJ)', 1e3)."""
    for suffix, (unit, scale) in METRIC_UNITS.items():
        if column.endswith(suffix):
            return f"{column[: -len(suffix)].replace('_', ' ').replace('onchip', 'on-chip')} ({unit})", scale
    return column.replace("_", " "), 1.0


def plot_pareto(rows: Iterable, path: str | Path, *, latency: str = "latency_s", energy: str = "energy_j",
                area: str | None = "area_mm2", label: str | None = "dataflow",
                title: str = "design space: latency × energy × area") -> Path:
    """Pareto plots from a sweep table (records: dicts or objects): latency–energy and latency–area panels, colour =
    the third metric, the 3-D Pareto-optimal designs ringed in black and the 2-D front of each panel as a step line.
    Without an `area` column, one latency–energy panel."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to plot")
    lat = np.array([_field(r, latency) for r in rows], float) * 1e3
    en_label, en_scale = _metric(energy)
    en = np.array([_field(r, energy) for r in rows], float) * en_scale
    ar_label, ar_scale = _metric(area) if area else (None, 1.0)
    ar = np.array([_field(r, area) for r in rows], float) * ar_scale if area else None
    front = set(pareto_front(np.column_stack([lat, en] + ([ar] if ar is not None else []))))
    plt = _plt()
    panels = [(en, en_label, ar, ar_label)]
    if ar is not None:
        panels.append((ar, ar_label, en, en_label))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels) + 0.6, 4.4), squeeze=False)
    for ax, (y, ylabel, c, clabel) in zip(axes[0], panels):
        sc = ax.scatter(lat, y, s=26, zorder=3, **({"c": c, "cmap": "viridis"} if c is not None else {}))
        if c is not None:
            fig.colorbar(sc, ax=ax, label=clabel)
        ring = sorted(front)
        ax.scatter(lat[ring], y[ring], s=70, facecolor="none", edgecolor="black", lw=1.1, zorder=4,
                   label="Pareto-optimal (3-D)" if ar is not None else "Pareto-optimal")
        f2 = sorted(pareto_front(np.column_stack([lat, y])), key=lambda i: lat[i])
        ax.step(lat[f2], y[f2], where="post", color="tab:red", lw=1.2, label="2-D front")
        for values, scale in ((lat, ax.set_xscale), (y, ax.set_yscale)):
            if values.min() > 0 and values.max() / values.min() > 20:     # log only where it spans decades
                scale("log")
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear":
                axis.set_major_locator(_plt().MaxNLocator(5))
        if label:
            for k, i in enumerate(sorted(ring, key=lambda i: lat[i])):
                right = lat[i] > (lat.min() + lat.max()) / 2 if not ax.get_xscale() == "log" else False
                ax.annotate(str(_field(rows[i], label)), (lat[i], y[i]), fontsize=6, textcoords="offset points",
                            xytext=(-5, 16) if right else (5, 6 - 14 * (k % 2)), ha="right" if right else "left")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel(ylabel)
        ax.margins(0.12)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
