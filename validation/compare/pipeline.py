"""Every point compared, roles assigned (calibration / held-out) and, with `fit`, the constants refitted and every
point re-simulated with them."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from validation.compare.calibration import FIT_GROUPS, role
from validation.compare.fit import Fitted, fit_constants
from validation.compare.points import Point
from validation.compare.simulate import Compared, Simulator, compare_point


def compare_points(points: Iterable[Point], device_kind: str | None = None, fit: bool = False,
                   simulator: Simulator | None = None,
                   log: Callable[[str], None] = print) -> tuple[list[Compared], list[Fitted]]:
    """(compared points, fits); fits are empty without `fit`."""
    simulator = simulator or Simulator()
    out = [compare_point(p, simulator, device_kind) for p in points]
    out = [replace(c, role=role(c)) if c.status == "ok" else c for c in out]
    if not fit:
        return out, []
    fits = fit_constants(out, simulator, FIT_GROUPS, log=log)
    values = {name: value for f in fits for name, value in f.fitted.items()}
    out = [replace(c, sim_ms_fit=compare_point(c.point, simulator, device_kind, values).sim_ms)
           if c.status == "ok" else c for c in out]
    return out, fits
