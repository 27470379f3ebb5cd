"""Calibration: which named constants of the GPU model (`sim.gpu`) are fitted on which measured subset, and the fit.

FIT_GROUPS states, per group, the constants, the dataflow they are fitted through and the subset of points they are
fitted on. Every other simulated point is "held-out" and its error is always reported separately. The same subsets
contain the points the shipped constants were fitted on (docs/gpu-model.md: FA2_MMA_EFFICIENCY on the FlashAttention-2
H100 D=128 non-causal S=16K point, STREAM_EFFICIENCY on the "Standard" D=128 non-causal S=8K point); the whole row is
treated as calibration (as docs/gpu-model.md counts its 30 held-out FA2 points), so a run without `--fit` also keeps
calibration and held-out points apart.

The fit minimises the mean squared log time error over the subset, one constant at a time (golden-section search
within the stated bounds, two sweeps). Constants are module attributes of `sim.gpu`, set only inside
`gpu_constants(...)` and restored on exit.
"""
from __future__ import annotations

import contextlib
import importlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

from validation.compare_match import PUBLIC_SUITE

if TYPE_CHECKING:
    from validation.compare import Compared, Simulator

GPU_MODULE = "sim.dataflows.gpu.kernels"
GOLDEN_ITERATIONS = 16   # brackets shrink by 0.618 each: 16 leave 5e-4 of the bound range
SWEEPS = 2               # coordinate-descent sweeps for groups of several constants


@dataclass(frozen=True)
class Constant:
    name: str      # attribute of sim.gpu
    lo: float
    hi: float


@dataclass(frozen=True)
class FitGroup:
    constants: tuple[Constant, ...]
    dataflow: str
    subset: str                                    # stated in the report
    select: Callable[["Compared"], bool]


@dataclass(frozen=True)
class Fitted:
    group: FitGroup
    shipped: Mapping[str, float]
    fitted: Mapping[str, float]
    points: int
    rms_log_before: float | None
    rms_log_after: float | None
    note: str = ""


def _flash2_d128(c: "Compared") -> bool:
    p = c.point
    return (c.dataflow == "flash2" and p.backend in ("flash2", "sdpa_flash") and p.suite in (PUBLIC_SUITE, "attention")
            and p.head_dim == 128 and not p.causal)


def _math_d128(c: "Compared") -> bool:
    p = c.point
    return (c.dataflow == "gpu-unfused" and p.backend in ("standard", "sdpa_math")
            and p.suite in (PUBLIC_SUITE, "attention") and p.head_dim == 128 and not p.causal)


FIT_GROUPS: tuple[FitGroup, ...] = (
    FitGroup((Constant("FA2_MMA_EFFICIENCY", 0.3, 1.0),), "flash2",
             "FlashAttention-2 forward, D=128, non-causal, every sequence length (public flash2 rows; harness "
             "attention-suite sdpa_flash rows)", _flash2_d128),
    FitGroup((Constant("STREAM_EFFICIENCY", 0.2, 1.0),), "gpu-unfused",
             "unfused (\"Standard\" / SDPA math) forward, D=128, non-causal, every sequence length", _math_d128),
)


def role(c: "Compared", groups: Sequence[FitGroup] = FIT_GROUPS) -> str:
    """"calibration" when the point is in a fit subset, else "held-out"."""
    return "calibration" if any(g.select(c) for g in groups) else "held-out"


def shipped_values(names: Sequence[str]) -> dict[str, float]:
    """Current values of the named sim.gpu constants (missing names are left out)."""
    mod = importlib.import_module(GPU_MODULE)
    return {n: float(getattr(mod, n)) for n in names if hasattr(mod, n)}


@contextlib.contextmanager
def gpu_constants(values: Mapping[str, float]) -> Iterator[None]:
    """Set sim.gpu's named constants for the duration of the block, then restore them."""
    if not values:
        yield
        return
    mod = importlib.import_module(GPU_MODULE)
    missing = [n for n in values if not hasattr(mod, n)]
    if missing:
        raise AttributeError(f"{GPU_MODULE} has no constant(s) {missing}")
    saved = {n: getattr(mod, n) for n in values}
    try:
        for n, v in values.items():
            setattr(mod, n, type(saved[n])(v) if isinstance(saved[n], int) else v)
        yield
    finally:
        for n, v in saved.items():
            setattr(mod, n, v)


def _golden(f: Callable[[float], float], lo: float, hi: float, iterations: int = GOLDEN_ITERATIONS) -> float:
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


def fit_group(group: FitGroup, compared: Sequence["Compared"], simulator: "Simulator", others: Mapping[str, float],
              log: Callable[[str], None] = print) -> Fitted:
    """Fit one group's constants on its subset (other groups' fitted values held fixed)."""
    from validation.compare import compare_point

    shipped = shipped_values([c.name for c in group.constants])
    present = [c for c in group.constants if c.name in shipped]
    missing = [c.name for c in group.constants if c.name not in shipped]
    note = f"{GPU_MODULE} has no {', '.join(missing)}: not fitted" if missing else ""
    subset = [c for c in compared if c.status == "ok" and group.select(c)]
    if not present or not subset:
        return Fitted(group, shipped, dict(shipped), len(subset), None, None,
                      note or "no simulated points in the subset: not fitted")

    def loss(values: Mapping[str, float]) -> float:
        total = 0.0
        for c in subset:
            ms = compare_point(c.point, simulator, c.preset, {**others, **values}).sim_ms
            if not ms:
                return math.inf
            total += math.log(ms / c.point.measured_ms) ** 2
        return total / len(subset)

    values = dict(shipped)
    before = loss(values)
    for _ in range(SWEEPS if len(present) > 1 else 1):
        for const in present:
            values[const.name] = _golden(lambda x, n=const.name: loss({**values, n: x}), const.lo, const.hi)
    after = loss(values)
    if after > before:   # the search is local; never report a worse set than the shipped one
        values, after = dict(shipped), before
    log(f"fit {', '.join(f'{c.name} {shipped[c.name]:.4g} -> {values[c.name]:.4g}' for c in present)} on "
        f"{len(subset)} points (rms log error {math.sqrt(before):.3f} -> {math.sqrt(after):.3f})")
    return Fitted(group, shipped, values, len(subset), math.sqrt(before), math.sqrt(after), note)


def fit_constants(compared: Sequence["Compared"], simulator: "Simulator", groups: Sequence[FitGroup] = FIT_GROUPS,
                  log: Callable[[str], None] = print) -> list[Fitted]:
    """Fit every group in order; later groups see earlier groups' fitted values."""
    fits: list[Fitted] = []
    fixed: dict[str, float] = {}
    for g in groups:
        f = fit_group(g, compared, simulator, fixed, log)
        fits.append(f)
        fixed.update(f.fitted)
    return fits
