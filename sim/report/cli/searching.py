"""The subcommands that search: `explore` (the best mapping of one workload on one arch), `sweep` (a grid of
designs × sequence lengths, with one Pareto front per length) and `report` (the figure gallery)."""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import accel

import sim
from sim.dataflows.registry import DATAFLOWS
from sim.report import gallery, plots
from sim.report.cli.commands import DEFAULT_ARCHS, no_dataflow
from sim.report.cli.inputs import CLIError, build_workload, load_arch, output_folder, shown
from sim.report.cli.output import bar, emit, say, show_progress, table
from sim.search.pareto import pareto

FORMS = ("1pass", "3pass", "2pass")     # softmax forms a sweep tries, after the builder's default, per dataflow
SWEEP_AXES = {"array": "--array", "buffer_bytes": "--buffer-bytes", "dram_bytes_per_s": "--dram-bw",
              "sms": "--sms", "clock_hz": "--clock"}
FRONT_KEYS = ("latency_s", "energy_j", "area_mm2")
MAX_LEFT_SHOWN = 12                     # archs listed with the dataflows that do not run there


def cmd_explore(args: argparse.Namespace) -> int:
    """Search dataflows × mapping parameters for the best mapping of the workload on the arch."""
    arch = load_arch(args.arch)
    c = build_workload(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    _known_dataflows(args.dataflow or [])
    if args.layer and not any(why is None for why in sim.verdicts(c, arch).values()):
        raise no_dataflow(args, c, arch)
    try:
        ex = sim.explore(c, arch, objective=args.objective, dataflows=args.dataflow, budget=args.budget,
                         seed=args.seed, progress=show_progress(args))
    except ValueError as e:
        raise CLIError(f"explore: {e}") from None
    records = ex.table.records()
    flat = [{**{k: v for k, v in r.items() if k != "params"},
             **{f"param.{k}": v for k, v in (r.get("params") or {}).items()}} for r in records]
    emit(args, records, lambda: str(ex), flat)
    if folder is not None:
        ok = [r for r in records if r.get("status") == "ok" and r.get("latency_s")]
        energy = all(r.get("energy_j") for r in ok)      # an arch without energies reads 0
        onchip = all(r.get("onchip_bytes") for r in ok)
        if ok and (energy or onchip):
            what = " × ".join(w for w, have in (("energy", energy), ("on-chip bytes", onchip)) if have)
            say(args, [plots.plot_pareto(ok, folder / f"explore_{c.name}_{arch.name}.png",
                                         energy="energy_j" if energy else "onchip_bytes",
                                         area="onchip_bytes" if energy and onchip else None,
                                         title=f"explore {c.name} on {arch.name}: latency × {what}")])
    return 0


# ---- sweep --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Design:
    """One design of a sweep: an architecture (variant) with one dataflow, run on the cascade form it supports."""
    arch: accel.Arch
    dataflow: str
    softmax: str | None           # None: the workload builder's default form

    @property
    def label(self) -> str:
        """The design's name in tables and figures: arch variant · dataflow."""
        return f"{self.arch.name} · {self.dataflow}"


def sweep_archs(args: argparse.Namespace) -> list[accel.Arch]:
    """Each --arch, expanded over the architecture axes given (--array, --buffer-bytes, ...)."""
    axes = {name: getattr(args, name) for name in SWEEP_AXES if getattr(args, name)}
    out = []
    for name in args.arch or DEFAULT_ARCHS:
        base = load_arch(name)
        try:
            out += sim.arch_variants(base, axes)
        except ValueError as e:
            flags = ", ".join(SWEEP_AXES[a] for a in axes)
            raise CLIError(f"{flags}: cannot vary {base.name}: {e}") from None
    return out


def designs(args: argparse.Namespace, archs: list[accel.Arch], seq: int | None
            ) -> tuple[list[Design], dict[str, list[str]]]:
    """Every (arch, dataflow) pair that runs the workload in some softmax form, with the first form it supports
    (after the builder's default: 1-pass, 3-pass, 2-pass); `--softmax` fixes the form. Also, per arch, the
    dataflows left out."""
    names = _known_dataflows(args.dataflow or sorted(n for n, df in DATAFLOWS.items() if df.searched))
    forms = [args.softmax] if args.softmax else [None, *FORMS]
    cascades = {}
    for form in forms:
        try:
            cascades[form] = build_workload(args, seq, form)
        except CLIError:
            if form is None or form == args.softmax:
                raise
    out, left = [], {}
    for arch in archs:
        for n in names:
            form = next((f for f, c in cascades.items() if DATAFLOWS[n].supports(c, arch) is None), "none")
            if form == "none":
                left.setdefault(arch.name, []).append(n)
            else:
                out.append(Design(arch, n, form))
    return out, left


def _known_dataflows(names: list[str]) -> list[str]:
    """`names`, each a registered dataflow (else a CLIError naming --dataflow and the valid ones)."""
    unknown = [n for n in names if n not in DATAFLOWS]
    if unknown:
        raise CLIError(f"--dataflow: unknown dataflow {shown(unknown[0])} (valid: {', '.join(sorted(DATAFLOWS))})")
    return names


class _Forward:
    """Passes a sweep's progress on to one bar for the whole command (sim.sweep closes its bar per call)."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def update(self, n: int = 1) -> None:
        """Advance the command's bar by `n` cells."""
        self.bar.update(n)

    def close(self) -> None:
        """Leave the command's bar open (the command closes it)."""


def run_designs(args: argparse.Namespace, found: list[Design], seqs: list[int | None]) -> list[dict]:
    """Explore every design × sequence length (each design with its own dataflow and cascade form), one table row
    each, in design order; rows carry `design`, `seq` and whether they are on their length's front (`pareto`)."""
    groups: dict[tuple[str, str | None], list[Design]] = {}
    for d in found:
        groups.setdefault((d.dataflow, d.softmax), []).append(d)
    cells = len(found) * len(seqs)
    progress = bar(args, cells, "sweep")
    pool = ProcessPoolExecutor(max_workers=min(cells, os.cpu_count() or 1)) if cells > 1 else None
    rows: dict[tuple[str, int], dict] = {}
    try:
        for (name, form), group in groups.items():
            cascades = {}
            for s in seqs:
                c = build_workload(args, s, form)
                cascades[f"{c.name}_seq{s or c.sizes.get('M')}"] = (s or c.sizes.get("M"), c)
            result = sim.sweep({k: c for k, (_, c) in cascades.items()}, [d.arch for d in group],
                               objective=args.objective, dataflows=[name], budget=args.budget, executor=pool, progress=_Forward(progress))
            seq_of = {k: s for k, (s, _) in cascades.items()}
            for d, r in zip([d for _ in cascades for d in group], result.table.records()):
                rows[(d.label, seq_of[r["workload"]])] = {"design": d.label, "seq": seq_of[r["workload"]], **r}
    finally:
        if pool is not None:
            pool.shutdown()
        progress.close()
    ordered = [rows[(d.label, s)] for s in sorted({s for _, s in rows}) for d in found if (d.label, s) in rows]
    return _mark_fronts(ordered)


def front_keys(rows: list[dict]) -> tuple[str, ...]:
    """The metrics a front ranks: latency, energy and area, less any that some row does not have (an arch that
    states no energies reads 0 J: ranking it would make every such design energy-optimal)."""
    return tuple(k for k in FRONT_KEYS if all(r[k] for r in rows))


def _mark_fronts(rows: list[dict]) -> list[dict]:
    """Mark each row on its sequence length's Pareto front (`pareto`) and say which metrics it ranks (`front_of`)."""
    marks = {}
    for s in dict.fromkeys(r["seq"] for r in rows):
        ok = [r for r in rows if r["seq"] == s and r["status"] == "ok"]
        keys = front_keys(ok)
        on = {id(r) for r in pareto(ok, key=lambda r: tuple(r[k] for k in keys))}
        marks.update({id(r): (id(r) in on, ",".join(keys)) for r in rows if r["seq"] == s})
    return [{**r, "pareto": marks[id(r)][0], "front_of": marks[id(r)][1]} for r in rows]


def cmd_sweep(args: argparse.Namespace) -> int:
    """A grid of designs (arch variants × their dataflows) × sequence lengths, one Pareto front per length."""
    archs = sweep_archs(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    seqs = list(args.seqs or [None])
    found, left = designs(args, archs, seqs[0])
    if not found:
        if args.layer:
            raise no_dataflow(args, build_workload(args, seqs[0]), archs[0])
        raise CLIError(f"--arch: no dataflow runs this workload on {', '.join(a.name for a in archs[:6])}; "
                       "`python -m sim list --arch NAME` shows each one's reason")
    rows = run_designs(args, found, seqs)
    flat = [{k: (v if not isinstance(v, dict) else dict(v)) for k, v in r.items()} for r in rows]
    emit(args, rows, lambda: _sweep_text(rows, left), flat)
    if folder is not None:
        say(args, _sweep_plots(folder, rows))
    return 0


def _sweep_text(rows: list[dict], left: dict[str, list[str]]) -> str:
    cells = [(r["seq"], r["design"], r["workload"], r["status"], _ms(r["latency_s"]), _ms(r["energy_j"] or None),
              r["area_mm2"], "*" if r["pareto"] else "") for r in rows]
    text = [f"sweep of {len(rows)} cells (design = arch variant · dataflow, each on its own cascade; * = on its "
            "length's Pareto front; energy '-' = not modelled for that arch)",
            table(cells, ["seq", "design", "cascade", "status", "latency ms", "energy mJ", "area mm²", "front"])]
    fronts = dict.fromkeys((r["seq"], r["front_of"]) for r in rows)
    text += [f"front at {s} tokens ranks: {keys.replace(',', ', ') or '(no complete metric)'}" for s, keys in fronts]
    if left:
        text.append("dataflows that do not run the workload there (`python -m sim list --arch NAME` says why):")
        text += [f"  {arch}: {', '.join(names)}" for arch, names in list(left.items())[:MAX_LEFT_SHOWN]]
        if len(left) > MAX_LEFT_SHOWN:
            text.append(f"  ... and {len(left) - MAX_LEFT_SHOWN} more archs")
    return "\n".join(text)


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1e3


def _sweep_plots(folder: Path, rows: list[dict]) -> list[Path]:
    """One Pareto figure per sequence length, points labelled by design."""
    written = []
    for s in dict.fromkeys(r["seq"] for r in rows):
        ok = [r for r in rows if r["seq"] == s and r["status"] == "ok" and r["latency_s"]]
        keys = front_keys(ok)
        energy = "energy_j" if "energy_j" in keys else "onchip_bytes"
        if not ok or not all(r[energy] for r in ok):
            continue                  # nothing to plot against latency (no energy table, no on-chip bytes)
        area = "area_mm2" if "area_mm2" in keys else None
        written.append(plots.plot_pareto(ok, folder / f"sweep_pareto_seq{s}.png", energy=energy, area=area,
                                         label="design", title=f"sweep at {s} tokens: latency × "
                                         f"{'energy' if energy == 'energy_j' else 'on-chip bytes'}"
                                         f"{' × area' if area else ''} (one front per sequence length)"))
    return written


def cmd_report(args: argparse.Namespace) -> int:
    """Regenerate the figure gallery and its index."""
    folder = output_folder(args.out, "--out")
    started = time.perf_counter()
    progress = bar(args, len(gallery.FIGURES), "report")
    figures = gallery.build(folder, progress=lambda note: progress.update(1, note))
    progress.close()
    records = [{"file": str(folder / f), "caption": cap} for f, cap in figures]
    emit(args, records, lambda: "\n".join([f"wrote {len(figures)} figures and {folder / 'README.md'} in "
                                           f"{time.perf_counter() - started:.1f} s"]
                                          + [f"  {r['file']}" for r in records]))
    return 0


__all__ = ["Design", "cmd_explore", "cmd_report", "cmd_sweep", "designs", "run_designs", "sweep_archs"]
