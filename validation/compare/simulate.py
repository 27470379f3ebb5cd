"""Simulated versus measured for one point: build the row's cascade, pick the dataflow that models its backend,
simulate it on the row's GPU preset (`sim.evaluate`), with calibrated constants passed as data
(`sim.ir.options.Options(calibration=...)`), never by changing the model's module state.

FLOPs: a point's TFLOP/s, measured and simulated, both divide the row's own FLOP count by a time, so the TFLOP/s error
is exactly the inverse of the time error whatever convention the row's source used (harness rows count the attended
pairs like `workloads.flops`; the public table uses FlashAttention's halved-causal convention). `sim_flops` records
the simulator's own count beside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from validation.compare.match import Target, target
from validation.compare.points import Point, preset_for

GPU_PRESETS = ("h100", "h200", "a100", "b200")
STATUSES = ("ok", "no model", "not measured", "sim error")


@dataclass(frozen=True)
class Compared:
    """A point and its simulated counterpart. `status`: one of STATUSES."""

    point: Point
    status: str
    reason: str = ""
    preset: str = ""
    dataflow: str = ""
    sim_ms: float | None = None
    note: str = ""
    mismatch: str = ""          # non-empty when the simulated device kind differs from the measured one
    role: str = ""              # "calibration" (in a fit subset) or "held-out", for ok points
    sim_ms_fit: float | None = None   # with --fit: simulated with the refitted constants
    sim_flops: float | None = None    # the simulator's FLOP count of the cascade (workloads.flops)

    @property
    def error(self) -> float | None:
        """Relative time error, simulated / measured − 1."""
        return _rel(self.sim_ms, self.point.measured_ms)

    @property
    def error_fit(self) -> float | None:
        """Relative time error with the refitted constants."""
        return _rel(self.sim_ms_fit, self.point.measured_ms)

    @property
    def tflops_error(self) -> float | None:
        """Relative TFLOP/s error, simulated / measured − 1 = measured time / simulated time − 1."""
        return _rel(self.point.measured_ms, self.sim_ms) if self.point.flops else None

    @property
    def sim_tflops(self) -> float | None:
        """The row's FLOPs over the simulated time."""
        if not self.sim_ms or not self.point.flops:
            return None
        return self.point.flops / (self.sim_ms * 1e-3) / 1e12


def _rel(a: float | None, b: float | None) -> float | None:
    return a / b - 1.0 if a and b else None


@dataclass(frozen=True)
class Simulated:
    """What one simulation gave: the dataflow, the time (None when refused) and the reason or note."""

    dataflow: str
    ms: float | None
    text: str
    flops: float | None = None


class Simulator:
    """Evaluates targets on presets, memoised per (target, preset, calibration values)."""

    def __init__(self) -> None:
        import sim

        self.dataflows = sim.DATAFLOWS
        self._archs: dict[str, Any] = {}
        self._memo: dict[tuple, Simulated] = {}

    def arch(self, name: str) -> Any:
        """The named GPU preset (built once)."""
        import accel

        if name not in self._archs:
            self._archs[name] = accel.preset(name)
        return self._archs[name]

    def choose(self, t: Target, cascade: Any, arch: Any) -> tuple[str | None, str]:
        """The first of the target's dataflows that is registered and supports the cascade, else (None, reasons)."""
        reasons = []
        for name in t.dataflows:
            if name not in self.dataflows:
                reasons.append(f"{name}: not registered")
                continue
            why = self.dataflows[name].supports(cascade, arch)
            if why is None:
                return name, ""
            reasons.append(f"{name}: {why}")
        return None, "; ".join(reasons)

    def run(self, t: Target, preset: str, calibration: Mapping[str, float] | None = None) -> Simulated:
        """Simulate `t` on `preset` with calibrated constants overridden by `calibration` (name → value)."""
        key = (t, preset, tuple(sorted((calibration or {}).items())))
        if key not in self._memo:
            self._memo[key] = self._run(t, preset, calibration or {})
        return self._memo[key]

    def _run(self, t: Target, preset: str, calibration: Mapping[str, float]) -> Simulated:
        import sim
        import workloads
        from sim.ir.options import Options

        try:
            cascade = t.build()
        except Exception as exc:  # noqa: BLE001 - a shape the workloads layer refuses is a reportable reason
            return Simulated("", None, f"no model: cascade {t.variant} refused the shape ({type(exc).__name__}: "
                                       f"{str(exc)[:300]})")
        arch = self.arch(preset)
        name, why = self.choose(t, cascade, arch)
        if name is None:
            return Simulated("", None, f"no model: {why[:600]}")
        try:
            result = sim.evaluate(cascade, arch, name, options=Options(calibration=dict(calibration)))
        except Exception as exc:  # noqa: BLE001 - listed as "sim error", never dropped
            return Simulated(name, None, f"sim error: {type(exc).__name__}: {str(exc)[:300]}")
        return Simulated(name, result.latency_s * 1e3, t.note, float(workloads.flops(cascade)))


def compare_point(p: Point, simulator: Simulator, device_kind: str | None,
                  calibration: Mapping[str, float] | None = None) -> Compared:
    """Simulate one point (or say why not) on `device_kind`, else on the preset its device names."""
    t = target(p)
    if isinstance(t, str):
        status = "not measured" if t.startswith("not measured") else "no model"
        return Compared(p, status, t)
    detected = preset_for(p.device, p.device_type)
    preset = device_kind or detected
    if preset is None:
        return Compared(p, "no model", f"no model: device {p.device!r} ({p.device_type}) has no GPU preset "
                                       f"(pass --device-kind {'|'.join(GPU_PRESETS)} to simulate against one)")
    mismatch = "" if detected == preset else \
        f"device kind differs: measured on {p.device or '?'} ({p.device_type}), simulated on {preset}"
    s = simulator.run(t, preset, calibration)
    if s.ms is None:
        status = "sim error" if s.text.startswith("sim error") else "no model"
        return Compared(p, status, s.text, preset=preset, dataflow=s.dataflow, mismatch=mismatch)
    return Compared(p, "ok", preset=preset, dataflow=s.dataflow, sim_ms=s.ms, note=s.text, mismatch=mismatch,
                    sim_flops=s.flops)
