"""Simulated versus measured: match every measured row to the simulated kernel that models it, and report the errors.

    python -m validation.compare FILE.csv ... --out DIR [--fit] [--device-kind h100|h200|a100|b200]

FILEs are harness CSVs (`validation.measure`) or the public FlashAttention-2 table
(validation/data/fa2_h100_public.csv).
Each row becomes a point (validation.compare_match): same shape built as a workloads cascade, the dataflow that models
its backend, the GPU preset named by its device (`--device-kind` overrides it, e.g. for CPU runs, which are then
flagged "device kind differs"), simulated with `sim.evaluate`. DIR receives `points.csv` (every row, with its
simulated time and error or the reason it has none), `ratios.csv` (speedup pairs), `report.md`, a simulated-versus-
measured scatter and speedup bar charts (validation.compare_report). `--fit` refits the GPU model's named calibration
constants on their stated subsets (validation.compare_fit) and reports the held-out error separately; without it the
shipped constants are used, and the points they were fitted on are still reported apart from the held-out ones.

Errors: time error = simulated / measured − 1; TFLOP/s error = measured / simulated − 1 (same FLOP count for both).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from validation.compare_match import Point, Target, preset_for, read_points, target

EXIT_USAGE = 2
GPU_PRESETS = ("h100", "h200", "a100", "b200")


@dataclass(frozen=True)
class Compared:
    """A point and its simulated counterpart. `status`: ok | no model | not measured | sim error."""

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

    @property
    def error(self) -> float | None:
        """Relative time error, simulated / measured − 1."""
        return _rel(self.sim_ms, self.point.measured_ms)

    @property
    def error_fit(self) -> float | None:
        return _rel(self.sim_ms_fit, self.point.measured_ms)

    @property
    def tflops_error(self) -> float | None:
        """Relative TFLOP/s error, simulated / measured − 1 = measured time / simulated time − 1."""
        return _rel(self.point.measured_ms, self.sim_ms) if self.point.flops else None

    @property
    def sim_tflops(self) -> float | None:
        if not self.sim_ms or not self.point.flops:
            return None
        return self.point.flops / (self.sim_ms * 1e-3) / 1e12


def _rel(a: float | None, b: float | None) -> float | None:
    return a / b - 1.0 if a and b else None


def _load_dataflows() -> Mapping:
    import importlib

    import sim
    return sim.DATAFLOWS


class Simulator:
    """Evaluates targets on presets, memoised per (target, preset, dataflow, constants)."""

    def __init__(self) -> None:
        self.dataflows = _load_dataflows()
        self._archs: dict[str, object] = {}
        self._memo: dict[tuple, tuple[str, float | None, str]] = {}

    def arch(self, name: str):
        import accel

        if name not in self._archs:
            self._archs[name] = accel.preset(name)
        return self._archs[name]

    def choose(self, t: Target, cascade, arch) -> tuple[str | None, str]:
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

    def run(self, t: Target, preset: str,
            constants: Mapping[str, float] | None = None) -> tuple[str, float | None, str]:
        """(dataflow or "", simulated ms or None, reason or note)."""
        key = (t, preset, tuple(sorted((constants or {}).items())))
        if key not in self._memo:
            self._memo[key] = self._run(t, preset, constants)
        return self._memo[key]

    def _run(self, t: Target, preset: str, constants: Mapping[str, float] | None):
        import sim
        from validation.compare_fit import gpu_constants

        try:
            cascade = t.build()
        except Exception as exc:  # noqa: BLE001 - a shape the workloads layer refuses is a reportable reason
            return "", None, f"no model: cascade {t.variant} refused the shape ({type(exc).__name__}: {exc})"
        arch = self.arch(preset)
        name, why = self.choose(t, cascade, arch)
        if name is None:
            return "", None, f"no model: {why}"
        try:
            with gpu_constants(constants or {}):
                result = sim.evaluate(cascade, arch, name)
        except Exception as exc:  # noqa: BLE001 - listed as "sim error", never dropped
            return name, None, f"sim error: {type(exc).__name__}: {exc}"
        return name, result.latency_s * 1e3, t.note


def compare_point(p: Point, simulator: Simulator, device_kind: str | None,
                  constants: Mapping[str, float] | None = None) -> Compared:
    """Simulate one point (or say why not)."""
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
    name, ms, text = simulator.run(t, preset, constants)
    if ms is None:
        status = "sim error" if text.startswith("sim error") else "no model"
        return Compared(p, status, text, preset=preset, dataflow=name, mismatch=mismatch)
    return Compared(p, "ok", preset=preset, dataflow=name, sim_ms=ms, note=text, mismatch=mismatch)


def compare_points(points: Iterable[Point], device_kind: str | None = None, fit: bool = False,
                   simulator: Simulator | None = None, log=print) -> tuple[list[Compared], list]:
    """Every point compared (roles assigned); with `fit`, also the refitted constants and the re-simulated times.

    Returns (compared, fits) where fits are `compare_fit.Fitted` records (empty without `fit`)."""
    from validation.compare_fit import FIT_GROUPS, fit_constants, role

    simulator = simulator or Simulator()
    out = [compare_point(p, simulator, device_kind) for p in points]
    out = [replace(c, role=role(c)) if c.status == "ok" else c for c in out]
    fits: list = []
    if fit:
        fits = fit_constants(out, simulator, FIT_GROUPS, log=log)
        values = {name: value for f in fits for name, value in f.fitted.items()}
        out = [replace(c, sim_ms_fit=compare_point(c.point, simulator, device_kind, values).sim_ms)
               if c.status == "ok" else c for c in out]
    return out, fits


# ---------------------------------------------------------------- CLI
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m validation.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="harness CSVs and/or the public FA2 table")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--fit", action="store_true",
                   help="refit the GPU model's named calibration constants on their stated subsets")
    p.add_argument("--device-kind", choices=GPU_PRESETS, default=None,
                   help="simulate every row on this GPU preset (default: the preset named by each row's device)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from validation.compare_report import write_report

    points: list[Point] = []
    for path in args.files:
        try:
            points += read_points(path)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"python -m validation.compare: error: {exc}\n")
            return EXIT_USAGE
    compared, fits = compare_points(points, args.device_kind, args.fit)
    paths = write_report(compared, fits, args.out, inputs=[str(p) for p in args.files], device_kind=args.device_kind)
    ok = sum(c.status == "ok" for c in compared)
    print(f"{len(compared)} rows, {ok} simulated, {len(compared) - ok} listed with a reason; "
          f"wrote {len(paths)} files to {args.out} (report: {args.out / 'report.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
