"""What every figure shares: lazy matplotlib, saving, colours, SI labels and labelled result lists."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

DPI = 110
METRIC_UNITS = {"_s": ("ms", 1e3), "_j": ("mJ", 1e3), "_mm2": ("mm²", 1.0), "_um2": ("mm²", 1e-6),
                "_bytes": ("MB", 1e-6)}


def plt():
    """matplotlib.pyplot on the file-only Agg backend, imported on first use (so `import sim` stays light)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def save(fig, path: str | Path) -> Path:
    """Write `fig` as a PNG at `path` (parent folders created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt().close(fig)
    return path


def colors(n: int) -> list:
    """`n` distinguishable colours (tab10, or tab20 beyond ten)."""
    cmap = plt().get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def si(value: float, unit: str) -> str:
    """3 significant digits with an SI prefix: 1.2e12, 'op/s' -> '1.2 Top/s'."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    k = min(max(int(math.floor(math.log10(abs(value)) / 3)), -4), 5)
    return f"{value / 10 ** (3 * k):.3g} {'pnµm kMGTP'[k + 4].strip()}{unit}"


def labelled(results) -> list[tuple[str, Any]]:
    """(label, Result) pairs from a label → Result mapping, or from Results labelled by their dataflow."""
    if isinstance(results, Mapping):
        return list(results.items())
    return [(r.dataflow, r) for r in results]


def field(row, name: str):
    """A column of a table row given as a dict or as an object."""
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def metric(column: str) -> tuple[str, float]:
    """Axis label and display scale of a table column named with its unit (`energy_j` -> 'energy (mJ)', 1e3)."""
    for suffix, (unit, scale) in METRIC_UNITS.items():
        if column.endswith(suffix):
            return f"{column[: -len(suffix)].replace('_', ' ').replace('onchip', 'on-chip')} ({unit})", scale
    return column.replace("_", " "), 1.0
