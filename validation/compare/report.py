"""The comparison's report.md: inputs and devices, calibration, held-out versus calibration errors, the accuracy
checks, errors per suite and backend, speedup ratios, every simulated point and every row without a counterpart.
Each section is a function of the compared points returning markdown lines."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from validation.compare.calibration import FIT_GROUPS
from validation.compare.fit import Fitted
from validation.compare.pairs import PAIR_RULES, Pair
from validation.compare.simulate import Compared
from validation.compare.summaries import CHECKS, RATIO_THRESHOLD, by_group, num, pct, suite_backend, summarize, verdict

ROLES = ("held-out", "calibration")


@dataclass(frozen=True)
class Run:
    """Everything one report is written from."""

    compared: Sequence[Compared]
    fits: Sequence[Fitted]
    pairs: Sequence[Pair]
    inputs: Sequence[str]
    device_kind: str | None = None

    @property
    def ok(self) -> list[Compared]:
        """The simulated points."""
        return [c for c in self.compared if c.status == "ok"]

    @property
    def fitted(self) -> bool:
        """Whether this run refitted the constants."""
        return bool(self.fits)

    @property
    def mismatches(self) -> list[str]:
        """The distinct device-kind mismatches."""
        return sorted({c.mismatch for c in self.compared if c.mismatch})


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table (cells' "|" escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows]
    return lines


def _header(run: Run) -> list[str]:
    c = run.compared
    lines = ["# Simulated versus measured", "",
             f"Inputs: {', '.join(f'`{i}`' for i in run.inputs)} — {len(c)} rows: {len(run.ok)} simulated, "
             f"{sum(x.status == 'no model' for x in c)} without a model, "
             f"{sum(x.status == 'not measured' for x in c)} not measured, "
             f"{sum(x.status == 'sim error' for x in c)} simulator errors (every row is listed below).", ""]
    devices = sorted({(x.point.device, x.preset) for x in run.ok})
    lines.append("Devices → presets: " + (", ".join(f"{d or '?'} → `{p}`" for d, p in devices) or "none simulated")
                 + (f" (`--device-kind {run.device_kind}`)" if run.device_kind else ""))
    if run.mismatches:
        lines += ["", "**Device kind differs** — these errors compare timings of one device with a model of another; "
                      "they prove the pipeline, not the model's accuracy:"]
        lines += [f"- {m}" for m in run.mismatches]
    return lines + ["", "Time error = simulated / measured − 1 (> 0: the model is slower); TFLOP/s error = measured "
                        "time / simulated time − 1: both TFLOP/s divide the row's own FLOP count by a time, so the row's "
                        "FLOPs serve only to convert between time and rate. Speedup of a pair = time of the baseline / "
                        "time of the variant; its error = simulated speedup / measured speedup − 1.", ""]


def _calibration(run: Run) -> list[str]:
    lines = ["## Calibration", ""]
    for g in FIT_GROUPS:
        n = sum(g.select(c) for c in run.ok)
        lines.append(f"- `{', '.join(k.name for k in g.constants)}` (the GPU model's calibrated constants, through "
                     f"`{g.dataflow}`): fitted on {g.subset} — {n} of these points here.")
    lines += ["", "Points in those subsets are marked *calibration*; all others are *held-out*. " +
              ("This run refitted the constants (`--fit`):" if run.fitted else
               "This run uses the constants as shipped (`sim.dataflows.gpu.constants.CALIBRATED`; no `--fit`).")]
    if run.fitted:
        rows = [[f"`{k.name}`", num(f.shipped.get(k.name), 4), num(f.fitted.get(k.name), 4), f"[{k.lo:g}, {k.hi:g}]",
                 str(f.points), "–" if f.rms_log_before is None else f"{f.rms_log_before:.3f} → {f.rms_log_after:.3f}",
                 f.note] for f in run.fits for k in f.group.constants]
        lines += [""] + table(["constant", "shipped", "fitted", "bounds", "fit points", "rms log error", "note"], rows)
    return lines + [""]


def _roles(run: Run) -> list[str]:
    rows = []
    for role in ROLES:
        sel = [c for c in run.ok if c.role == role]
        rows.append([role] + summarize([c.error for c in sel]).cells()
                    + (summarize([c.error_fit for c in sel]).cells()[1:3] if run.fitted else []))
    hdr = ["points", "n", "median abs", "max abs", "median signed"]
    return ["## Held-out versus calibration", ""] + table(
        hdr + (["median abs (refit)", "max abs (refit)"] if run.fitted else []), rows) + [""]


def check_rows(run: Run) -> list[list[str]]:
    """[check, points, n, value, threshold, verdict] for every accuracy check (all and held-out points)."""
    rows = []
    for chk in CHECKS:
        for role in ("all", "held-out"):
            sel = [c for c in run.ok if chk.select(c) and (role == "all" or c.role == role)]
            s = summarize([c.error for c in sel])
            rows.append([chk.name, role, str(s.n), pct(s.median_abs), f"≤ {chk.threshold:.0%}",
                         verdict(s.median_abs, chk.threshold)])
    rs = summarize([p.error for p in run.pairs])
    for what, value in (("max", rs.max_abs), ("median", rs.median_abs)):
        rows.append([f"speedup ratios: {what} |ratio error|", "all", str(rs.n), pct(value),
                     f"≤ {RATIO_THRESHOLD:.0%}", verdict(value, RATIO_THRESHOLD)])
    return rows


def _checks(run: Run) -> list[str]:
    lines = ["## Accuracy checks", ""] + table(["check", "points", "n", "value", "threshold", "verdict"],
                                               check_rows(run))
    if run.mismatches:
        lines += ["", "(Verdicts are meaningless here: the device kind differs.)"]
    return lines + [""]


def _per_suite(run: Run) -> list[str]:
    held = [c for c in run.compared if c.role == "held-out"]
    t = by_group(run.compared, suite_backend, lambda c: c.error)
    f = by_group(run.compared, suite_backend, lambda c: c.tflops_error)
    h = by_group(held, suite_backend, lambda c: c.error)
    rows = [[s, b, f"`{d}`"] + t[k].cells() + f[k].cells()[1:3] + (h[k].cells()[:3] if k in h else ["0", "–", "–"])
            for k in t for s, b, d in [k]]
    lines = ["## Error per suite and backend", ""] + table(
        ["suite", "backend", "dataflow", "n", "median abs time err", "max abs time err", "median signed",
         "median abs TFLOP/s err", "max abs TFLOP/s err", "held-out n", "held-out median abs", "held-out max abs"], rows)
    if run.fitted:
        tf = by_group(run.compared, suite_backend, lambda c: c.error_fit)
        hf = by_group(held, suite_backend, lambda c: c.error_fit)
        rows = [[s, b] + tf[k].cells() + (hf[k].cells()[:3] if k in hf else ["0", "–", "–"])
                for k in tf for s, b, _ in [k]]
        lines += ["", "With the refitted constants:", ""] + table(
            ["suite", "backend", "n", "median abs", "max abs", "median signed", "held-out n", "held-out median abs",
             "held-out max abs"], rows)
    return lines + [""]


def _ratios(run: Run) -> list[str]:
    rows, details = [], []
    for rule in PAIR_RULES:
        sel = [p for p in run.pairs if p.rule == rule.name]
        if not sel:
            continue
        s = summarize([p.error for p in sel])
        rows.append([rule.name, str(len(sel)), str(s.n), pct(s.median_abs), pct(s.max_abs),
                     str(sum(abs(p.error) <= RATIO_THRESHOLD for p in sel if p.error is not None))]
                    + ([pct(summarize([p.error_fit for p in sel]).median_abs)] if run.fitted else []))
        details += [f"### {rule.name}", ""] + table(
            ["pair", "measured", "simulated", "error"] + (["simulated (refit)", "error (refit)"] if run.fitted else []),
            [[p.label, f"{p.measured:.3f}", num(p.simulated, 4), pct(p.error, signed=True)]
             + ([num(p.simulated_fit, 4), pct(p.error_fit, signed=True)] if run.fitted else []) for p in sel]) + [""]
    hdr = ["pair", "measured pairs", "simulated", "median abs error", "max abs error", "within 10%"]
    head = table(hdr + (["median abs (refit)"] if run.fitted else []), rows) if rows else ["No pairs in these inputs."]
    return ["## Speedup ratios", ""] + head + [""] + details


def _points(run: Run) -> list[str]:
    rows = [[c.point.source, str(c.point.row), c.point.suite, c.point.backend, c.point.case, c.point.dtype,
             f"`{c.dataflow}`", c.preset, f"{c.point.measured_ms:.4g}", f"{c.sim_ms:.4g}",
             num(c.point.measured_tflops, 4), num(c.sim_tflops, 4), pct(c.error, signed=True), c.role]
            + ([pct(c.error_fit, signed=True)] if run.fitted else []) for c in run.ok]
    hdr = ["file", "row", "suite", "backend", "case", "dtype", "dataflow", "preset", "measured ms", "simulated ms",
           "measured TFLOP/s", "simulated TFLOP/s", "time error", "role"]
    return ["## Every simulated point", ""] + (
        table(hdr + (["time error (refit)"] if run.fitted else []), rows) if rows else ["None."]) + [""]


def _rest(run: Run) -> list[str]:
    rest = [c for c in run.compared if c.status != "ok"]
    lines = ["## Rows without a simulated counterpart", ""]
    if not rest:
        return lines + ["None: every row was simulated.", ""]
    counts: dict[str, int] = {}
    for c in rest:
        counts[c.reason] = counts.get(c.reason, 0) + 1
    lines += table(["reason", "rows"], [[r, str(n)] for r, n in sorted(counts.items(), key=lambda kv: -kv[1])])
    lines += ["", "Each row:", ""] + table(
        ["file", "row", "suite", "backend", "case", "dtype", "status", "reason"],
        [[c.point.source, str(c.point.row), c.point.suite, c.point.backend, c.point.case, c.point.dtype, c.status,
          c.reason] for c in rest])
    return lines + [""]


def markdown(run: Run, files: Sequence[Path]) -> str:
    """The whole report; `files` are the other outputs written beside it."""
    lines: list[str] = []
    for section in (_header, _calibration, _roles, _checks, _per_suite, _ratios, _points, _rest):
        lines += section(run)
    lines += ["## Files", ""] + [f"- `{p.name}`" for p in files] + ["- `points.csv`, `ratios.csv`, `summary.json`", ""]
    return "\n".join(lines)
