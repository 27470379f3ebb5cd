"""The one Pareto front of the project (explore's, sweep's and the plots').

Every coordinate is minimized. A point is **dominated** when another point is ≤ in every coordinate and < in at
least one. **Tie rule:** identical points are one point, kept once — the first in input order. The front is
returned in ascending lexicographic order of the points (for (latency, energy, ...) rows: fastest first), so the
result does not depend on the order of distinct input points.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

from sim.ir.mapping import MappingError

T = TypeVar("T")
MAX_DIMENSIONS = 16          # more objectives than this is a caller's mistake, not a front


def pareto_front(points: Iterable[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (see the module docstring for the tie rule), front order."""
    pts = _checked(points)
    order = sorted(range(len(pts)), key=lambda i: (pts[i], i))
    kept: list[int] = []
    front = np.empty((len(pts), len(pts[0]) if pts else 0))
    for i in order:
        p = pts[i]
        # Sorted lexicographically, every point that dominates p (or equals it) comes before p.
        if kept and np.all(front[:len(kept)] <= p, axis=1).any():
            continue
        front[len(kept)] = p
        kept.append(i)
    return kept


def pareto(items: Iterable[T], key: Callable[[T], Sequence[float]]) -> list[T]:
    """The items whose `key(item)` points are on the front, in front order (same tie rule)."""
    items = list(items)
    return [items[i] for i in pareto_front([key(x) for x in items])]


def _checked(points: Iterable[Sequence[float]]) -> list[tuple[float, ...]]:
    """Points as tuples of floats of one length; NaN, non-numbers and ragged points are refused by index."""
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise MappingError(f"pareto: points must be a sequence of points (sequences of numbers), "
                           f"got {type(points).__name__}")
    out: list[tuple[float, ...]] = []
    for i, p in enumerate(points):
        try:
            raw = tuple(p) if not isinstance(p, (str, bytes)) else None
            coords = tuple(float(v) for v in raw) if raw is not None else None
        except (TypeError, ValueError):
            raw = coords = None
        if coords is None or any(isinstance(v, (bool, np.bool_)) for v in raw):
            raise MappingError(f"pareto: point {i} must be a sequence of numbers, got {_short(p)}")
        if not coords or len(coords) > MAX_DIMENSIONS:
            raise MappingError(f"pareto: point {i} has {len(coords)} coordinates (1 to {MAX_DIMENSIONS} allowed)")
        if out and len(coords) != len(out[0]):
            raise MappingError(f"pareto: point {i} has {len(coords)} coordinates, point 0 has {len(out[0])}")
        if any(math.isnan(v) for v in coords):
            raise MappingError(f"pareto: point {i} has a NaN coordinate ({_short(p)}); NaN cannot be ranked")
        out.append(coords)
    return out


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
