"""Roofline figures: compute roofs per unit, memory roofs per level (datasheet and measured), ridge points, and
points per Einsum, per fused cascade, per simulated kernel and per attention variant."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from accel import Arch

from sim.bounds.rooflines import Roofline, unit_rate
from sim.report.plots.common import colors, plt, save, si

MARKERS = {"einsum": ("o", 20, "black"), "kernel": ("s", 46, None), "variant": ("^", 52, None),
           "cascade": ("*", 120, "red")}
LEGEND_INSIDE = 14      # legends with more entries move outside the axes


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
    level with a bandwidth, then the measured ceilings in `arch.measured` (`<unit>.*flops_per_s`,
    `<level>.bytes_per_s`)."""
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
    ridge_list = ridges(arch, dtype)
    xs = [p.intensity for p in points] + [x for _, x, _ in ridge_list]
    lo, hi = xlim or (10 ** math.floor(math.log10(min(xs + [1.0]) / 3)), 10 ** math.ceil(math.log10(max(xs) * 3)))
    _draw_roofs(ax, rs, lo, hi)
    if ridge_list:
        ax.scatter([x for _, x, _ in ridge_list], [y for _, _, y in ridge_list], marker="D", s=28, facecolor="white",
                   edgecolor="black", zorder=4,
                   label="ridge (op/B): " + ", ".join(f"{n} {x:.3g}" for n, x, _ in ridge_list))
    _draw_points(ax, points)
    top = max(r.value for r in rs if r.kind == "compute")
    slowest = min((r.value for r in rs if r.kind == "memory"), default=top)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(max(min([lo * slowest] + [p.perf for p in points]) / 2, top / 1e7), top * 3)
    ax.set_xlabel("operational intensity (op / byte)")
    ax.set_ylabel("performance (op / s; a MAC = 2 op)")
    ax.set_title(title or arch.name, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    if len(ax.get_legend_handles_labels()[1]) > LEGEND_INSIDE:
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.legend(fontsize=6.3, loc="lower right", framealpha=0.9)


def _draw_roofs(ax, rs: Sequence[Roof], lo: float, hi: float) -> None:
    compute = [r for r in rs if r.kind == "compute"]
    memory = [r for r in rs if r.kind == "memory"]
    top = max(r.value for r in compute)
    fastest = max((r.value for r in memory), default=None)
    palette = iter(colors(len(compute) + len(memory) + 1))
    by_name: dict[str, Any] = {}
    for r in compute + memory:      # datasheet first: measured roofs reuse their colour
        color = by_name.setdefault(r.name.split(" ")[0], next(palette))
        what = "measured" if r.measured else "peak"
        if r.kind == "compute":
            x0 = r.value / fastest if fastest else lo
            ax.plot([max(x0, lo), hi], [r.value, r.value], color=color, lw=1.4 if r.measured else 2.2,
                    ls=":" if r.measured else "-", label=f"{what} {r.name}: {si(r.value, 'op/s')}")
        else:
            x1 = min(top / r.value, hi)
            ax.plot([lo, x1], [lo * r.value, x1 * r.value], color=color, lw=1.4 if r.measured else 2.0,
                    ls=":" if r.measured else "--", label=f"{what} {r.name}: {si(r.value, 'B/s')}")


def _draw_points(ax, points: Sequence[Point]) -> None:
    seen = set()
    families = list(dict.fromkeys(p.label.split(" ")[0] for p in points if p.kind in ("kernel", "variant")))
    family_color = dict(zip(families, (colors(10)[1:] * (len(families) // 9 + 1))))
    for p in points:
        marker, size, color = MARKERS[p.kind]
        color = color or family_color[p.label.split(" ")[0]]
        if p.kind == "variant" and "decode" in p.label:
            marker = "v"
        legend = None
        if p.kind in ("kernel", "variant"):
            legend = f"{p.kind}: {p.label} ({si(p.perf, 'op/s')})"
        elif p.kind not in seen:
            legend = {"einsum": "Einsum alone (unfused bytes)", "cascade": "cascade fused (compulsory bytes)"}[p.kind]
        seen.add(p.kind)
        ax.scatter([p.intensity], [p.perf], marker=marker, s=size, color=color, edgecolor="black", lw=0.4, zorder=5,
                   label=legend)
        if p.kind == "einsum":
            ax.annotate(p.label, (p.intensity, p.perf), fontsize=6.5, xytext=(3, -8), textcoords="offset points")


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
    fig, ax = plt().subplots(figsize=(7.5, 5.6))
    if title is None and roof is not None:
        title = f"{roof.cascade} on {arch.name}: lower bound {roof.lower_bound_s * 1e6:.4g} µs ({roof.binding})"
    roofline_axes(ax, arch, points, dtype=dtype, title=title)
    return save(fig, path)


def plot_rooflines(pairs: Sequence[tuple[Roofline, Arch]], path: str | Path, results: Sequence = ()) -> Path:
    """One roofline panel per (roofline, arch) pair, saved as a PNG. Points: each Einsum run alone (unfused
    bytes) at its bound; the star is the fused cascade at its lower bound; `results` (one simulated `Result` per
    pair, or none) add the simulated kernel at its latency."""
    fig, axes = plt().subplots(1, len(pairs), figsize=(6.5 * len(pairs), 5.4), squeeze=False)
    for k, (ax, (roof, arch)) in enumerate(zip(axes[0], pairs)):
        points = einsum_points(roof, arch) + [cascade_point(roof)]
        if k < len(results):
            points.append(kernel_point(results[k], roof.ops, f"{results[k].dataflow} (simulated)"))
        roofline_axes(ax, arch, points,
                      title=f"{roof.cascade} on {arch.name}\nlower bound {roof.lower_bound_s * 1e6:.4g} µs "
                            f"({roof.binding})")
    fig.tight_layout()
    return save(fig, path)
