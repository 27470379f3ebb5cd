"""A dataflow's search space for `sim.explore`: param → the values to try, starting from the default plan.

A dataflow that registers a `space(cascade, arch)` gives its own axes (the listed values plus the default plan's
value). One without a space gets axes derived from its default mapping's params: an int v gets the powers of two
from v/16 to 16·v, the divisors of the cascade's sizes in that range when v divides the size, and 1…8 when v ≤ 8;
a bool both values; any other value stays as planned. Params pinned by the caller's constraints are not searched.
"""
from __future__ import annotations

import math
from typing import Any, Mapping as MappingType, Sequence

import numpy as np

from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Dataflow
from sim.ir.mapping import MappingError

MAX_AXES = 32               # more searched params than this is a malformed space
MAX_AXIS_VALUES = 1024      # values of one axis
DERIVED_RANGE = 16          # a derived int axis spans v / 16 … 16 · v
SMALL_KNOB = 8              # an int default up to this also tries every value 1 … 8


def search_axes(df: Dataflow, workload: Cascade, arch: Arch, default: MappingType[str, Any],
                constraints: MappingType[str, Any]) -> tuple[dict[str, list[Any]], list[str]]:
    """(param → sorted values including the default's, notes about axes that cannot be searched)."""
    if df.space is None:
        axes = {k: derived_values(v, workload) for k, v in default.items()}
    else:
        axes = _declared(df, df.space(workload, arch))
    notes = [f"{df.name}: space axis {k!r} is not a param of the default mapping "
             f"({', '.join(sorted(default)) or 'none'}); not searched" for k in sorted(axes) if k not in default]
    out = {}
    for k in sorted(axes):
        if k in default and k not in constraints:
            values = sorted(set(axes[k]) | {default[k]}, key=value_order)
            if len(values) > 1:
                out[k] = values
    return out, notes


def _declared(df: Dataflow, space: Any) -> dict[str, list[Any]]:
    """A registered space, checked: a mapping of param name to a non-empty sequence of hashable values."""
    if not isinstance(space, MappingType):
        raise MappingError(f"dataflow {df.name!r}: space must return a mapping of param → candidate values, "
                           f"got {type(space).__name__}")
    if len(space) > MAX_AXES:
        raise MappingError(f"dataflow {df.name!r}: space has {len(space)} axes (at most {MAX_AXES})")
    out = {}
    for k, values in space.items():
        if not isinstance(k, str) or isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise MappingError(f"dataflow {df.name!r}: space axis {k!r} must map a param name to a sequence of "
                               f"values, got {type(values).__name__}")
        if not 1 <= len(values) <= MAX_AXIS_VALUES:
            raise MappingError(f"dataflow {df.name!r}: space axis {k!r} has {len(values)} values "
                               f"(1 to {MAX_AXIS_VALUES} allowed)")
        try:
            out[k] = list(dict.fromkeys(values))
        except TypeError:
            raise MappingError(f"dataflow {df.name!r}: space axis {k!r} has an unhashable value") from None
    return out


def derived_values(value: Any, workload: Cascade) -> list[Any]:
    """The values tried for one param of a dataflow without a space (see the module docstring)."""
    if isinstance(value, (bool, np.bool_)):
        return [bool(value), not value]
    if not isinstance(value, (int, np.integer)) or value <= 0:
        return [value]
    v = int(value)
    lo, hi = max(1, v // DERIVED_RANGE), v * DERIVED_RANGE
    vals = {v} | {1 << i for i in range(hi.bit_length()) if lo <= 1 << i <= hi}
    if v <= SMALL_KNOB:
        vals.update(range(1, SMALL_KNOB + 1))
    for size in set(workload.sizes.values()):
        if size % v == 0:
            vals.update(d for d in divisors(size, lo, hi))
    return sorted(vals)


def divisors(n: int, lo: int = 1, hi: int | None = None) -> list[int]:
    """The divisors of n in [lo, hi], ascending."""
    hi = n if hi is None else hi
    # Every divisor above √n is n // d for a divisor d below it, so the loop stops at min(√n, hi).
    small = [d for d in range(1, min(math.isqrt(n), hi) + 1) if n % d == 0]
    large = [n // d for d in small if n // d <= hi]
    return sorted(d for d in set(small + large) if lo <= d <= hi)


def value_order(v: Any) -> tuple:
    """A total order on param values: numbers by value, then everything else by its repr."""
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        return (0, float(v), "")
    return (1, 0.0, repr(v))


def space_size(axes: MappingType[str, Sequence[Any]]) -> int:
    """The number of combinations of the axes."""
    return math.prod(len(v) for v in axes.values())
