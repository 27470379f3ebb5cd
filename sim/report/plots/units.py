"""Per-unit figures: utilization (useful work ÷ capacity) versus sequence length, each Einsum's share of a unit's
busy cycles, and stall cycles by cause."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from sim.ir import STALL_CAUSES
from sim.report.plots.common import colors, labelled, plt, save

STALL_PALETTE = ("tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:olive")
UTILIZATION = "utilization (useful work / capacity)"
BUSY = "busy (fraction of time occupied)"


def stall_colors() -> dict[str, str]:
    """A fixed colour per stall cause of `sim.ir.STALL_CAUSES`."""
    return {c: STALL_PALETTE[k % len(STALL_PALETTE)] for k, c in enumerate(STALL_CAUSES)}


def _utilization(r) -> Mapping[str, float]:
    return r.utilization if hasattr(r, "utilization") else r


def plot_utilization_vs_seq(series: Mapping[str, Sequence[tuple[int, Any]]], path: str | Path, *,
                            units: Sequence[str] | None = None, title: str = "utilization versus sequence length"
                            ) -> Path:
    """Utilization (useful work ÷ capacity, `Result.utilization`) per unit key versus sequence length, one line per
    dataflow, one panel per unit key. `series`: dataflow → [(seq, Result or {unit key: utilization})]."""
    keys = list(units or dict.fromkeys(k for pts in series.values() for _, r in pts for k in _utilization(r)))
    fig, axes = plt().subplots(1, len(keys), figsize=(3.6 * len(keys) + 1.2, 3.6), squeeze=False, sharey=True)
    palette = dict(zip(series, colors(len(series))))
    for ax, key in zip(axes[0], keys):
        for name, pts in series.items():
            pts = sorted((s, _utilization(r)[key]) for s, r in pts if key in _utilization(r))
            if pts:
                ax.plot([s for s, _ in pts], [100 * v for _, v in pts], marker="o", ms=4, color=palette[name],
                        label=name)
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 105)
        ax.set_title(f"unit {key}", fontsize=9)
        ax.set_xlabel("sequence length (tokens)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(f"{UTILIZATION} (%)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="dataflow", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def first_busy_key(items: Sequence[tuple[str, Any]]) -> str | None:
    """The first unit key on which any result has per-Einsum busy cycles."""
    return next((k for _, r in items for k in r.utilization if any(v.get(k, 0.0) for v in r.per_einsum.values())),
                None)


def plot_einsum_share(results, path: str | Path, *, key: str | None = None, title: str | None = None) -> Path:
    """Each Einsum's share of a unit kind's busy cycles (`Result.einsum_share(key)`), one stacked bar per result.
    `results`: Results (labelled by dataflow) or label → Result. `key` defaults to the first unit kind any result
    has busy cycles on."""
    items = labelled(results)
    key = key or first_busy_key(items)
    if key is None:
        raise ValueError("no result has per-Einsum busy cycles")
    einsums = list(dict.fromkeys(e for _, r in items for e in r.per_einsum))
    palette = dict(zip(einsums, colors(len(einsums))))
    fig, ax = plt().subplots(figsize=(8, 0.5 * len(items) + 1.9))
    for i, (label, r) in enumerate(items):
        share, left = r.einsum_share(key), 0.0
        for e in einsums:
            w = 100 * share.get(e, 0.0)
            if w:
                ax.barh(i, w, left=left, color=palette[e], edgecolor="black", lw=0.3,
                        label=e if e not in ax.get_legend_handles_labels()[1] else None)
                if w >= 6:
                    ax.text(left + w / 2, i, e, ha="center", va="center", fontsize=6.5)
                left += w
        busy = sum(v.get(key, 0.0) for v in r.per_einsum.values())
        ax.text(101, i, f"{busy:,.0f} busy cyc", va="center", fontsize=7)
    ax.set_yticks(range(len(items)), [label for label, _ in items], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"share of unit {key!r} busy cycles (%)")
    ax.set_title(title or f"per-Einsum share of {key} busy cycles", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.2, 1), title="Einsum", title_fontsize=7)
    return save(fig, path)


def plot_stalls(results, path: str | Path, *, title: str = "stall breakdown per unit kind") -> Path:
    """Stall cycles per cause (`Result.stalls`: idle time of a unit kind's units before their ops, summed over
    the kind's units) as stacked bars, one per result and unit kind, annotated with the kind's utilization (useful
    work ÷ capacity) and busy fraction."""
    items = labelled(results)
    rows = [(f"{label} · {key}", r.stalls.get(key, {}), r.utilization.get(key), r.busy.get(key), r.cycles)
            for label, r in items for key in dict.fromkeys([*r.utilization, *r.busy, *r.stalls])]
    palette = stall_colors()
    fig, ax = plt().subplots(figsize=(8, 0.36 * len(rows) + 1.9))
    right = max([sum(st.values()) for _, st, *_ in rows] + [1.0])
    for i, (label, st, util, busy, cycles) in enumerate(rows):
        left = 0.0
        for c in STALL_CAUSES:
            w = st.get(c, 0.0)
            ax.barh(i, w, left=left, color=palette[c], edgecolor="black", lw=0.3, label=c if i == 0 else None)
            left += w
        ax.text(left + right * 0.01, i, _util_busy(util, busy) + f" of {cycles:,.0f} cyc", va="center", fontsize=6.5)
    ax.set_yticks(range(len(rows)), [row[0] for row in rows], fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlim(0, right * 1.45)
    ax.set_xlabel("stall cycles (summed over the kind's units)")
    ax.set_title(f"{title}; util = useful work / capacity, busy = time occupied", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="waiting on", title_fontsize=7)
    return save(fig, path)


def _util_busy(util: float | None, busy: float | None) -> str:
    parts = [f"util {util:.0%}" if util is not None else None, f"busy {busy:.0%}" if busy is not None else None]
    return ", ".join(p for p in parts if p) or "-"
