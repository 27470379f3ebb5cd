"""Figures. matplotlib is imported lazily, inside each function, so `import sim` stays light."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import accel
from accel import Arch

from .roofline import Roofline, unit_rate


def _einsum_ops(row) -> int:
    return sum(row.ops.values()) + row.ops.get("mac", 0)  # a MAC counts as 2 operations


def roofline_axes(ax, roof: Roofline, arch: Arch, dtype: str = "fp16") -> None:
    """Draw one architecture's roofs and the cascade's points on a log-log axes."""
    xs = [1e-2, 1e5]
    colors = iter(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"])
    for u in arch.units:
        rates = {op: unit_rate(arch, u, op, dtype) for op in u.ops_per_cycle if "." not in op}
        if "mac" in rates:
            peak, label = 2 * rates["mac"], f"{u.name} (MAC, 2 op each)"
        else:
            op, peak = max(((op, r) for op, r in rates.items() if r != float("inf")), key=lambda kv: kv[1])
            label = f"{u.name} ({op})"
        ax.plot(xs, [peak, peak], color=next(colors), lw=1.5, label=f"roof: {label} {peak / 1e12:.3g} Top/s")
    for lv in arch.levels:
        if lv.bandwidth_bytes_per_s is None:
            continue
        bw = lv.bandwidth_bytes_per_s
        ax.plot(xs, [x * bw for x in xs], ls="--", lw=1.2, label=f"roof: {lv.name} {bw / 1e12:.3g} TB/s")
    for key, value in arch.measured.items():
        if key.endswith("bytes_per_s"):
            ax.plot(xs, [x * value for x in xs], ls=":", color="black", lw=1.2,
                    label=f"measured {key.split('.')[0]} {value / 1e12:.3g} TB/s")
        elif key.endswith("flops_per_s"):
            ax.plot(xs, [value, value], ls=":", color="gray", lw=1.2, label=f"measured {key} {value / 1e12:.3g} TF/s")
    # Each Einsum as if it ran alone: its unfused bytes through the outermost level, its ops on its units.
    outer = next(lv.bandwidth_bytes_per_s for lv in arch.levels if lv.bandwidth_bytes_per_s is not None)
    points: dict[tuple[float, float], list[str]] = {}
    for row in roof.rows:
        ops = _einsum_ops(row)
        compute = max(row.compute_s.values(), default=0.0)
        if ops == 0 or compute == 0:
            continue
        x = ops / max(row.unfused_bytes, 1)
        y = min(ops / compute, x * outer)
        points.setdefault((round(x, 12), round(y, 3)), []).append(row.einsum)
    for (x, y), names in points.items():
        ax.scatter([x], [y], s=18, color="black", zorder=3)
        ax.annotate(",".join(names), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    x, y = roof.ops / max(roof.compulsory_bytes, 1), roof.ops / roof.lower_bound_s
    ax.scatter([x], [y], s=60, marker="*", color="red", zorder=4, label="whole cascade, fused (compulsory bytes)")
    ax.scatter([], [], s=18, color="black", label="one Einsum run alone (unfused bytes)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (operations / byte)")
    ax.set_ylabel("attainable performance (operations / s)")
    ax.set_title(f"{roof.cascade} on {arch.name}\nlower bound {roof.lower_bound_s * 1e6:.4g} µs ({roof.binding})",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.25)
    ax.set_xlim(*xs)
    top = max(line.get_ydata()[0] for line in ax.get_lines())
    ax.set_ylim(top / 1e6, top * 5)
    ax.legend(fontsize=6, loc="lower right")


def plot_rooflines(pairs: Sequence[tuple[Roofline, Arch]], path: str | Path) -> Path:
    """One roofline panel per (roofline, arch) pair, saved as a PNG. Points: each Einsum run alone (unfused
    bytes) at its bound; the star is the fused cascade at its lower bound."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pairs), figsize=(6.5 * len(pairs), 5.2), squeeze=False)
    for ax, (roof, arch) in zip(axes[0], pairs):
        roofline_axes(ax, roof, arch)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
