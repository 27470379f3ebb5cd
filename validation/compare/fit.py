"""Refitting the GPU model's calibrated constants on their stated subsets (validation.compare.calibration).

The fit minimises the mean squared log time error over a group's subset, one constant at a time (golden-section
search within the stated bounds, two sweeps for groups of several constants). Candidate values reach the model only
as data — `Options(calibration={name: value})` for each simulation — so a fit never changes the shipped model; the
shipped values are `sim.dataflows.gpu.constants.CALIBRATED`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from validation.compare.calibration import FIT_GROUPS, FitGroup
from validation.compare.simulate import Compared, Simulator, compare_point

GOLDEN_ITERATIONS = 16   # brackets shrink by 0.618 each: 16 leave 5e-4 of the bound range
SWEEPS = 2               # coordinate-descent sweeps for groups of several constants


@dataclass(frozen=True)
class Fitted:
    """One group's fit: shipped and fitted values, the points it used and the rms log error before → after."""

    group: FitGroup
    shipped: Mapping[str, float]
    fitted: Mapping[str, float]
    points: int
    rms_log_before: float | None
    rms_log_after: float | None
    note: str = ""


def shipped_values(names: Sequence[str]) -> dict[str, float]:
    """Shipped values of the named calibrated constants of the GPU model (names it does not declare are left out)."""
    from sim.dataflows.gpu.constants import CALIBRATED

    return {n: float(CALIBRATED[n]) for n in names if n in CALIBRATED}


def golden_minimum(f: Callable[[float], float], lo: float, hi: float, iterations: int = GOLDEN_ITERATIONS) -> float:
    """The argmin of a unimodal `f` on [lo, hi] by golden-section search."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return c if fc <= fd else d


def _loss(subset: Sequence[Compared], simulator: Simulator, values: Mapping[str, float]) -> float:
    """Mean squared log time error of `subset` simulated with `values`."""
    total = 0.0
    for c in subset:
        ms = compare_point(c.point, simulator, c.preset, values).sim_ms
        if not ms:
            return math.inf
        total += math.log(ms / c.point.measured_ms) ** 2
    return total / len(subset)


def fit_group(group: FitGroup, compared: Sequence[Compared], simulator: Simulator, others: Mapping[str, float],
              log: Callable[[str], None] = print) -> Fitted:
    """Fit one group's constants on its subset (other groups' fitted values held fixed)."""
    shipped = shipped_values([c.name for c in group.constants])
    present = [c for c in group.constants if c.name in shipped]
    missing = [c.name for c in group.constants if c.name not in shipped]
    note = f"not calibrated constants of the GPU model: {', '.join(missing)} (not fitted)" if missing else ""
    subset = [c for c in compared if c.status == "ok" and group.select(c)]
    if not present or not subset:
        return Fitted(group, shipped, dict(shipped), len(subset), None, None,
                      note or "no simulated points in the subset: not fitted")
    values = dict(shipped)
    before = _loss(subset, simulator, {**others, **values})
    for _ in range(SWEEPS if len(present) > 1 else 1):
        for const in present:
            values[const.name] = golden_minimum(
                lambda x, n=const.name: _loss(subset, simulator, {**others, **values, n: x}), const.lo, const.hi)
    after = _loss(subset, simulator, {**others, **values})
    if after > before:   # the search is local; never report a worse set than the shipped one
        values, after = dict(shipped), before
    log(f"fit {', '.join(f'{c.name} {shipped[c.name]:.4g} -> {values[c.name]:.4g}' for c in present)} on "
        f"{len(subset)} points (rms log error {math.sqrt(before):.3f} -> {math.sqrt(after):.3f})")
    return Fitted(group, shipped, values, len(subset), math.sqrt(before), math.sqrt(after), note)


def fit_constants(compared: Sequence[Compared], simulator: Simulator, groups: Sequence[FitGroup] = FIT_GROUPS,
                  log: Callable[[str], None] = print) -> list[Fitted]:
    """Fit every group in order; later groups see earlier groups' fitted values."""
    fits: list[Fitted] = []
    fixed: dict[str, float] = {}
    for g in groups:
        f = fit_group(g, compared, simulator, fixed, log)
        fits.append(f)
        fixed.update(f.fitted)
    return fits
