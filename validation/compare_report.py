"""The comparison's outputs: error summaries per suite and backend, speedup-ratio pairs, the acceptance checks of
issue 7, and the files (points.csv, ratios.csv, report.md, scatter and speedup-bar PNGs).

Speedup of a pair = measured (or simulated) time of the baseline / time of the variant; its error = simulated
speedup / measured speedup − 1. The FLOP counts cancel, so the same error holds for throughput ratios.
"""
from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from validation.compare_match import DTYPES, PUBLIC_SUITE, Point

if TYPE_CHECKING:
    from validation.compare import Compared
    from validation.compare_fit import Fitted

BARS_PER_CHART = 36
LONG_TOKENS = 1024

# ---------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Summary:
    n: int
    median_abs: float | None
    max_abs: float | None
    median: float | None        # signed: > 0 means the simulator is slower than measured

    def cells(self) -> list[str]:
        return [str(self.n), pct(self.median_abs), pct(self.max_abs), pct(self.median, signed=True)]


def summarize(errors: Sequence[float | None]) -> Summary:
    e = [x for x in errors if x is not None and math.isfinite(x)]
    if not e:
        return Summary(0, None, None, None)
    a = [abs(x) for x in e]
    return Summary(len(e), statistics.median(a), max(a), statistics.median(e))


def pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def by_group(compared: Sequence["Compared"], key: Callable[["Compared"], tuple],
             error: Callable[["Compared"], float | None]) -> dict[tuple, Summary]:
    groups: dict[tuple, list] = {}
    for c in compared:
        if c.status == "ok":
            groups.setdefault(key(c), []).append(error(c))
    return {k: summarize(v) for k, v in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))}


def suite_backend(c: "Compared") -> tuple:
    return (c.point.suite, c.point.backend, c.dataflow)


# ---------------------------------------------------------------- speedup pairs
KEY_FIELDS = ("device", "suite", "backend", "form", "dtype", "pass_", "batch", "heads", "kv_heads", "seq_q", "seq_kv",
              "head_dim", "head_dim_v", "causal", "layout", "window", "stride", "dilation", "m", "n", "k")


@dataclass(frozen=True)
class PairRule:
    name: str
    base: Callable[[Point], bool]
    variant: Callable[[Point], bool]
    vary: tuple[str, ...]          # fields that may differ between baseline and variant


def _is(field: str, *values) -> Callable[[Point], bool]:
    return lambda p: getattr(p, field) in values


PAIR_RULES: tuple[PairRule, ...] = (
    PairRule("causal speedup (non-causal time / causal time)", lambda p: not p.causal and not p.window,
             lambda p: p.causal and not p.window, ("causal",)),
    PairRule("D=128 vs D=64 (time D64 / time D128, same hidden size)", _is("head_dim", 64), _is("head_dim", 128),
             ("head_dim", "head_dim_v", "heads", "kv_heads")),
    PairRule("D=256 vs D=128 (time D128 / time D256, same hidden size)", _is("head_dim", 128), _is("head_dim", 256),
             ("head_dim", "head_dim_v", "heads", "kv_heads")),
    PairRule("flash vs unfused (FA2 / Standard, SDPA flash / math)", _is("backend", "standard", "sdpa_math"),
             _is("backend", "flash2", "sdpa_flash"), ("backend",)),
    PairRule("cuDNN vs flash (time flash / time cuDNN)", _is("backend", "sdpa_flash"), _is("backend", "sdpa_cudnn"),
             ("backend",)),
    PairRule("GQA/MQA vs MHA (time MHA / time GQA)", lambda p: p.kv_heads is not None and p.kv_heads == p.heads,
             lambda p: p.kv_heads is not None and p.heads is not None and p.kv_heads < p.heads, ("kv_heads",)),
    PairRule("GNA vs dense (time dense flash / time local)",
             lambda p: p.form == "dense_sdpa" and p.backend == "sdpa_flash", _is("form", "gna_flex", "gna_natten"),
             ("form", "backend", "window", "stride", "dilation")),
    PairRule("split-KV vs SDPA flash at decode (time SDPA / time split-KV)",
             lambda p: p.suite == "decode" and p.backend == "sdpa_flash", _is("backend", "split_kv_torch"),
             ("backend", "form")),
    PairRule("decode: 4 query tokens vs 1 (time q1 / time q4)", lambda p: p.suite == "decode" and p.seq_q == 1,
             lambda p: p.suite == "decode" and p.seq_q == 4, ("seq_q",)),
    PairRule("MLA absorbed vs naive prefill SDPA (time naive / time absorbed)", _is("form", "mla_naive_sdpa"),
             _is("form", "mla_absorbed_sdpa"), ("form", "kv_heads", "head_dim", "head_dim_v")),
)


@dataclass(frozen=True)
class Pair:
    rule: str
    base: "Compared"
    variant: "Compared"

    @property
    def label(self) -> str:
        b, v = self.base.point, self.variant.point
        if b.case == v.case:
            text = f"{b.case}: {b.backend} → {v.backend}"
        elif b.backend == v.backend:
            text = f"{b.backend}: {b.case} → {v.case}"
        else:
            text = f"{b.backend}/{b.case} → {v.backend}/{v.case}"
        return f"{text} [{b.dtype}]" if b.suite != PUBLIC_SUITE else text

    @property
    def short(self) -> str:
        """The baseline alone (the rule names the variant): for bar-chart ticks."""
        b = self.base.point
        if b.suite == PUBLIC_SUITE:
            return b.case
        return f"{b.case} {b.backend.removeprefix('sdpa_')} {DTYPES.get(b.dtype, b.dtype)}"

    @property
    def short_variant(self) -> str:
        v = self.variant.point
        return v.case if v.suite == PUBLIC_SUITE else \
            f"{v.case} {v.backend.removeprefix('sdpa_')} {DTYPES.get(v.dtype, v.dtype)}"

    @property
    def measured(self) -> float:
        return self.base.point.measured_ms / self.variant.point.measured_ms

    def _sim(self, attr: str) -> float | None:
        b, v = getattr(self.base, attr), getattr(self.variant, attr)
        return b / v if b and v else None

    @property
    def simulated(self) -> float | None:
        return self._sim("sim_ms")

    @property
    def simulated_fit(self) -> float | None:
        return self._sim("sim_ms_fit")

    @property
    def error(self) -> float | None:
        s = self.simulated
        return s / self.measured - 1.0 if s else None

    @property
    def error_fit(self) -> float | None:
        s = self.simulated_fit
        return s / self.measured - 1.0 if s else None


def pairs(compared: Sequence["Compared"], rules: Sequence[PairRule] = PAIR_RULES) -> list[Pair]:
    """Every (baseline, variant) pair of measured points that the rules allow."""
    measured = [c for c in compared if c.point.measured_ms]
    out: list[Pair] = []
    for rule in rules:
        keep = tuple(f for f in KEY_FIELDS if f not in rule.vary)
        buckets: dict[tuple, list] = {}
        for c in measured:
            buckets.setdefault(tuple(getattr(c.point, f) for f in keep), []).append(c)
        for bucket in buckets.values():
            for b in bucket:
                if rule.base(b.point):
                    out += [Pair(rule.name, b, v) for v in bucket if v is not b and rule.variant(v.point)]
    return out


# ---------------------------------------------------------------- acceptance (issue 7)
@dataclass(frozen=True)
class Check:
    name: str
    threshold: float
    select: Callable[["Compared"], bool]


def _tokens(c: "Compared") -> int:
    return c.point.seq_q or 0


CHECKS = (
    Check("flash attention (flash2), ≥ 1K tokens: median |time error|", 0.10,
          lambda c: c.dataflow == "flash2" and c.point.suite in (PUBLIC_SUITE, "attention")
          and _tokens(c) >= LONG_TOKENS),
    Check("cuDNN attention, ≥ 1K tokens: median |time error|", 0.10,
          lambda c: c.point.backend == "sdpa_cudnn" and c.point.suite == "attention" and _tokens(c) >= LONG_TOKENS),
    Check("decode (flash-decoding, mla-decode): median |time error|", 0.15,
          lambda c: c.point.suite == "decode" and c.dataflow in ("flash-decoding", "mla-decode")),
    Check("local attention (gna): median |time error|", 0.15,
          lambda c: c.point.suite == "local" and c.dataflow == "gna"),
)


def verdict(value: float | None, threshold: float) -> str:
    if value is None:
        return "no data"
    return "pass" if value <= threshold else "fail"


# ---------------------------------------------------------------- files
POINT_COLUMNS = ["source", "row", "suite", "case", "form", "backend", "dtype", "device", "batch", "heads", "kv_heads",
                 "seq_q", "seq_kv", "head_dim", "head_dim_v", "causal", "spatial", "window", "stride", "dilation",
                 "splits", "m", "n", "k", "flops", "measured_ms", "measured_tflops", "status", "reason", "preset",
                 "dataflow", "sim_ms", "sim_tflops", "time_error", "tflops_error", "role", "sim_ms_fit",
                 "time_error_fit", "note", "device_mismatch"]
RATIO_COLUMNS = ["rule", "pair", "base_row", "variant_row", "measured_speedup", "simulated_speedup", "error",
                 "simulated_speedup_fit", "error_fit"]


def _g(x: float | None, digits: int = 6) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def _dims(t: tuple) -> str:
    return "x".join(map(str, t))


def point_row(c: "Compared") -> dict:
    p = c.point
    return dict(source=p.source, row=p.row, suite=p.suite, case=p.case, form=p.form, backend=p.backend, dtype=p.dtype,
                device=p.device, batch=p.batch or "", heads=p.heads or "", kv_heads=p.kv_heads or "",
                seq_q=p.seq_q or "", seq_kv=p.seq_kv or "", head_dim=p.head_dim or "",
                head_dim_v=p.head_dim_v or "", causal=int(p.causal), spatial=_dims(p.spatial),
                window=_dims(p.window), stride=_dims(p.stride), dilation=_dims(p.dilation), splits=p.splits or "",
                m=p.m or "", n=p.n or "", k=p.k or "", flops=_g(p.flops), measured_ms=_g(p.measured_ms),
                measured_tflops=_g(p.measured_tflops, 4), status=c.status, reason=c.reason, preset=c.preset,
                dataflow=c.dataflow, sim_ms=_g(c.sim_ms), sim_tflops=_g(c.sim_tflops, 4), time_error=_g(c.error, 4),
                tflops_error=_g(c.tflops_error, 4), role=c.role, sim_ms_fit=_g(c.sim_ms_fit),
                time_error_fit=_g(c.error_fit, 4), note=c.note, device_mismatch=c.mismatch)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def _placeholder(path: Path, text: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in text.split("(")[0].strip().lower())
    return "_".join(part for part in out.split("_") if part)


def write_plots(compared: Sequence["Compared"], prs: Sequence[Pair], out: Path) -> list[Path]:
    from sim.report.plots import plot_sim_vs_measured, plot_speedup_bars

    paths = []
    ok = [c for c in compared if c.status == "ok"]
    for suffix, attr in (("", "sim_ms"), ("_fit", "sim_ms_fit")):
        pts = [c for c in ok if getattr(c, attr)]
        path = out / f"scatter_time{suffix}.png"
        if suffix and not pts:
            continue
        if not pts:
            paths.append(_placeholder(path, "no simulated points (see report.md for each row's reason)"))
            continue
        title = "simulated vs measured" + (" (refitted constants)" if suffix else "")
        if any(c.mismatch for c in pts):
            title += " — device kind differs"
        paths.append(plot_sim_vs_measured([c.point.measured_ms * 1e-3 for c in pts],
                                          [getattr(c, attr) * 1e-3 for c in pts], path,
                                          groups=[f"{c.point.suite}/{c.point.backend}" for c in pts], title=title))
    for rule in PAIR_RULES:
        sel = [p for p in prs if p.rule == rule.name and p.simulated]
        # tick labels name the baseline, or the variant where one baseline has several variants (GNA vs dense)
        unique = len({p.short for p in sel}) == len(sel)
        for page in range(0, len(sel), BARS_PER_CHART):
            chunk = sel[page:page + BARS_PER_CHART]
            n = page // BARS_PER_CHART + 1
            name = f"speedup_{_slug(rule.name)}{'' if len(sel) <= BARS_PER_CHART else f'_{n}'}.png"
            ticks = [p.short if unique else p.short_variant for p in chunk]
            paths.append(plot_speedup_bars(ticks, [p.simulated for p in chunk], [p.measured for p in chunk],
                                           out / name, title=rule.name))
    return paths


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |" for r in rows]
    return lines


def markdown(compared: Sequence["Compared"], fits: Sequence["Fitted"], prs: Sequence[Pair], inputs: Sequence[str],
             device_kind: str | None, plots: Sequence[Path]) -> str:
    from validation.compare_fit import FIT_GROUPS

    ok = [c for c in compared if c.status == "ok"]
    fitted = bool(fits)
    L = ["# Simulated versus measured", ""]
    L.append(f"Inputs: {', '.join(f'`{i}`' for i in inputs)} — {len(compared)} rows: {len(ok)} simulated, "
             f"{sum(c.status == 'no model' for c in compared)} without a model, "
             f"{sum(c.status == 'not measured' for c in compared)} not measured, "
             f"{sum(c.status == 'sim error' for c in compared)} simulator errors (every row is listed below).")
    devices = sorted({(c.point.device, c.preset) for c in ok})
    L.append("")
    L.append("Devices → presets: " + (", ".join(f"{d or '?'} → `{p}`" for d, p in devices) or "none simulated")
             + (f" (`--device-kind {device_kind}`)" if device_kind else ""))
    mism = sorted({c.mismatch for c in compared if c.mismatch})
    if mism:
        L += ["", "**Device kind differs** — these errors compare timings of one device with a model of another; "
                  "they prove the pipeline, not the model's accuracy:"]
        L += [f"- {m}" for m in mism]
    L += ["", "Time error = simulated / measured − 1 (> 0: the model is slower); TFLOP/s error = measured time / "
              "simulated time − 1. Speedup of a pair = time of the baseline / time of the variant; its error = "
              "simulated speedup / measured speedup − 1.", ""]

    L += ["## Calibration", ""]
    for g in FIT_GROUPS:
        n = sum(g.select(c) for c in ok)
        L.append(f"- `{', '.join(k.name for k in g.constants)}` (sim.gpu, through `{g.dataflow}`): fitted on "
                 f"{g.subset} — {n} of these points here.")
    L.append("")
    L.append("Points in those subsets are marked *calibration*; all others are *held-out*. " +
             ("This run refitted the constants (`--fit`):" if fitted else
              "This run uses the constants as shipped in sim/gpu.py (no `--fit`)."))
    if fitted:
        rows = []
        for f in fits:
            for k in f.group.constants:
                rows.append([f"`{k.name}`", _g(f.shipped.get(k.name), 4), _g(f.fitted.get(k.name), 4),
                             f"[{k.lo:g}, {k.hi:g}]", str(f.points),
                             "–" if f.rms_log_before is None else f"{f.rms_log_before:.3f} → {f.rms_log_after:.3f}",
                             f.note])
        L += [""] + _table(["constant", "shipped", "fitted", "bounds", "fit points", "rms log error", "note"], rows)
    L.append("")

    L += ["## Held-out versus calibration", ""]
    rows = []
    for role in ("held-out", "calibration"):
        sel = [c for c in ok if c.role == role]
        rows.append([role] + summarize([c.error for c in sel]).cells()
                    + (summarize([c.error_fit for c in sel]).cells()[1:3] if fitted else []))
    hdr = ["points", "n", "median abs", "max abs", "median signed"]
    L += _table(hdr + (["median abs (refit)", "max abs (refit)"] if fitted else []), rows) + [""]

    L += ["## Acceptance checks (issue 7)", ""]
    rows = []
    for chk in CHECKS:
        for role in ("all", "held-out"):
            sel = [c for c in ok if chk.select(c) and (role == "all" or c.role == role)]
            s = summarize([c.error for c in sel])
            rows.append([chk.name, role, str(s.n), pct(s.median_abs), f"≤ {chk.threshold:.0%}",
                         verdict(s.median_abs, chk.threshold)])
    rs = summarize([p.error for p in prs])
    rows.append(["speedup ratios: max |ratio error|", "all", str(rs.n), pct(rs.max_abs), "≤ 10%",
                 verdict(rs.max_abs, 0.10)])
    rows.append(["speedup ratios: median |ratio error|", "all", str(rs.n), pct(rs.median_abs), "≤ 10%",
                 verdict(rs.median_abs, 0.10)])
    L += _table(["check", "points", "n", "value", "threshold", "verdict"], rows)
    if mism:
        L += ["", "(Verdicts are meaningless here: the device kind differs.)"]
    L.append("")

    L += ["## Error per suite and backend", ""]
    t = by_group(compared, suite_backend, lambda c: c.error)
    f = by_group(compared, suite_backend, lambda c: c.tflops_error)
    h = by_group([c for c in compared if c.role == "held-out"], suite_backend, lambda c: c.error)
    rows = [[s, b, f"`{d}`"] + t[k].cells() + f[k].cells()[1:3] + (h[k].cells()[:3] if k in h else ["0", "–", "–"])
            for k in t for s, b, d in [k]]
    L += _table(["suite", "backend", "dataflow", "n", "median abs time err", "max abs time err", "median signed",
                 "median abs TFLOP/s err", "max abs TFLOP/s err", "held-out n", "held-out median abs",
                 "held-out max abs"], rows)
    if fitted:
        tf = by_group(compared, suite_backend, lambda c: c.error_fit)
        hf = by_group([c for c in compared if c.role == "held-out"], suite_backend, lambda c: c.error_fit)
        rows = [[s, b] + tf[k].cells() + (hf[k].cells()[:3] if k in hf else ["0", "–", "–"])
                for k in tf for s, b, _ in [k]]
        L += ["", "With the refitted constants:", ""]
        L += _table(["suite", "backend", "n", "median abs", "max abs", "median signed", "held-out n",
                     "held-out median abs", "held-out max abs"], rows)
    L.append("")

    L += ["## Speedup ratios", ""]
    rows = []
    for rule in PAIR_RULES:
        sel = [p for p in prs if p.rule == rule.name]
        if not sel:
            continue
        s = summarize([p.error for p in sel])
        rows.append([rule.name, str(len(sel)), str(s.n), pct(s.median_abs), pct(s.max_abs),
                     str(sum(abs(p.error) <= 0.10 for p in sel if p.error is not None))]
                    + ([pct(summarize([p.error_fit for p in sel]).median_abs)] if fitted else []))
    L += _table(["pair", "measured pairs", "simulated", "median abs error", "max abs error", "within 10%"]
                + (["median abs (refit)"] if fitted else []), rows) if rows else ["No pairs in these inputs."]
    L.append("")
    for rule in PAIR_RULES:
        sel = [p for p in prs if p.rule == rule.name]
        if not sel:
            continue
        L += [f"### {rule.name}", ""]
        L += _table(["pair", "measured", "simulated", "error"]
                    + (["simulated (refit)", "error (refit)"] if fitted else []),
                    [[p.label, f"{p.measured:.3f}", _g(p.simulated, 4), pct(p.error, signed=True)]
                     + ([_g(p.simulated_fit, 4), pct(p.error_fit, signed=True)] if fitted else []) for p in sel])
        L.append("")

    L += ["## Every simulated point", ""]
    rows = [[c.point.source, str(c.point.row), c.point.suite, c.point.backend, c.point.case, c.point.dtype,
             f"`{c.dataflow}`", c.preset, f"{c.point.measured_ms:.4g}", f"{c.sim_ms:.4g}",
             _g(c.point.measured_tflops, 4), _g(c.sim_tflops, 4), pct(c.error, signed=True), c.role]
            + ([pct(c.error_fit, signed=True)] if fitted else []) for c in ok]
    L += _table(["file", "row", "suite", "backend", "case", "dtype", "dataflow", "preset", "measured ms",
                 "simulated ms", "measured TFLOP/s", "simulated TFLOP/s", "time error", "role"]
                + (["time error (refit)"] if fitted else []),
                rows) if rows else ["None."]
    L.append("")

    rest = [c for c in compared if c.status != "ok"]
    L += ["## Rows without a simulated counterpart", ""]
    if rest:
        counts: dict[str, int] = {}
        for c in rest:
            counts[c.reason] = counts.get(c.reason, 0) + 1
        L += _table(["reason", "rows"], [[r, str(n)] for r, n in sorted(counts.items(), key=lambda kv: -kv[1])])
        L += ["", "Each row:", ""]
        L += _table(["file", "row", "suite", "backend", "case", "dtype", "status", "reason"],
                    [[c.point.source, str(c.point.row), c.point.suite, c.point.backend, c.point.case, c.point.dtype,
                      c.status, c.reason] for c in rest])
    else:
        L.append("None: every row was simulated.")
    L += ["", "## Files", ""] + [f"- `{p.name}`" for p in plots] + ["- `points.csv`, `ratios.csv`", ""]
    return "\n".join(L)


def write_report(compared: Sequence["Compared"], fits: Sequence["Fitted"], out: Path, *, inputs: Sequence[str],
                 device_kind: str | None = None) -> list[Path]:
    """Write points.csv, ratios.csv, the PNGs and report.md into `out`; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prs = pairs(compared)
    paths = [_write_csv(out / "points.csv", POINT_COLUMNS, [point_row(c) for c in compared])]
    paths.append(_write_csv(out / "ratios.csv", RATIO_COLUMNS, [
        dict(rule=p.rule, pair=p.label, base_row=f"{p.base.point.source}:{p.base.point.row}",
             variant_row=f"{p.variant.point.source}:{p.variant.point.row}", measured_speedup=_g(p.measured, 5),
             simulated_speedup=_g(p.simulated, 5), error=_g(p.error, 4), simulated_speedup_fit=_g(p.simulated_fit, 5),
             error_fit=_g(p.error_fit, 4)) for p in prs]))
    plots = write_plots(compared, prs, out)
    report = out / "report.md"
    report.write_text(markdown(compared, fits, prs, inputs, device_kind, plots))
    return paths + plots + [report]
