"""The subcommands that look at one workload: `list` (presets, variants, dataflows and their verdicts), `evaluate`
(simulate with one or more dataflows) and `roofline` (per-Einsum bounds)."""
from __future__ import annotations

import argparse

import accel
import workloads

from sim.bounds.rooflines import roofline
from sim.dataflows.registry import DATAFLOWS, verdicts
from sim.evaluation import evaluate
from sim.ir.mapping import MappingError
from sim.report import plots
from sim.report.cli.inputs import CLIError, build_workload, load_arch, output_folder, shown
from sim.report.cli.models import cmd_layer
from sim.report.cli.parallel import many_devices
from sim.report.cli.output import (BUSY, UTILIZATION, bar, emit, percentages, result_record, result_row,
                                   roofline_record, say, table)
from sim.report.traced import traced

DEFAULT_ARCHS = ("h100", "fusemax")


def cmd_list(args: argparse.Namespace) -> int:
    """Presets, variants, models and every dataflow's verdict for the workload on each arch."""
    c = build_workload(args)
    archs = [load_arch(a) for a in (args.arch or list(accel.PRESETS))]
    verdict = {a.name: verdicts(c, a) for a in archs}
    names = sorted({n for v in verdict.values() for n in v})
    presets = [{"name": name, "clock_hz": a.clock_hz, "units": [u.name for u in a.units],
                "levels": [lv.name for lv in a.levels]} for name in accel.PRESETS for a in [accel.preset(name)]]
    record = {"workload": c.name, "presets": presets, "variants": sorted(workloads.VARIANTS),
              "models": sorted(workloads.MODELS),
              "dataflows": {n: {a: verdict[a].get(n) for a in verdict} for n in names}}
    if args.csv:
        rows = [{"dataflow": n, "arch": a, "supported": why is None, "reason": why or ""}
                for n in names for a, why in record["dataflows"][n].items()]
        emit(args, record, lambda: "", rows)
        return 0
    emit(args, record, lambda: _list_text(c, record, archs))
    return 0


def _list_text(c: workloads.Cascade, record: dict, archs: list) -> str:
    presets, names = record["presets"], list(record["dataflows"])
    out = ["presets:", table([(p["name"], f"{p['clock_hz'] / 1e9:.3g}", " → ".join(p["levels"]),
                               ", ".join(p["units"])) for p in presets],
                             ["name", "clock GHz", "levels (outermost first)", "units"]), "",
           "variants: " + ", ".join(record["variants"]), "models: " + ", ".join(record["models"]), "",
           f"dataflows (verdict for {c.name} {dict(c.sizes)}):"]
    if len(archs) == 1:
        a = archs[0].name
        out.append(table([(n, "yes" if (why := record["dataflows"][n][a]) is None else "no: " + why)
                          for n in names], ["dataflow", f"runs on {a}?"]))
    else:
        out.append(table([(n, *("yes" if record["dataflows"][n][a.name] is None else "no" for a in archs))
                          for n in names], ["dataflow", *(a.name for a in archs)]))
        out.append("(`--arch NAME` lists the reasons)")
    return "\n".join(out)


def no_dataflow(args: argparse.Namespace, c: workloads.Cascade, arch: accel.Arch) -> CLIError:
    """The refusal when no registered dataflow supports the pair."""
    return CLIError(f"no registered dataflow supports {c.name} on {arch.name}; `python -m sim list --arch "
                    f"{arch.name}` shows each one's reason")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Simulate the workload with each named dataflow (default: every one that supports the pair); a whole layer
    (`--layer`) kernel by kernel."""
    many_devices(args, layer=args.layer)
    if args.layer:
        return cmd_layer(args)
    arch = load_arch(args.arch)
    c = build_workload(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    names = args.dataflow or [n for n, why in verdicts(c, arch).items() if why is None and DATAFLOWS[n].searched]
    if not names:
        raise no_dataflow(args, c, arch)
    if args.baseline is not None and args.baseline not in names:
        raise CLIError(f"--baseline: {shown(args.baseline)} is not among the evaluated dataflows "
                       f"({', '.join(names)}); name one of them, or add it with --dataflow")
    progress = bar(args, len(names), "evaluate")
    results = []
    for n in names:
        try:
            results.append(evaluate(c, arch, n))
        except ValueError as e:          # MappingError, or an infeasible program (ProgramError)
            raise CLIError(f"--dataflow {n}: {e}") from None
        progress.update(1, n)
    progress.close()
    base = args.baseline or names[0]
    emit(args, [result_record(r) for r in results], lambda: _evaluate_text(results, base),
         [result_row(r) for r in results])
    if folder is not None:
        say(args, _evaluate_plots(folder, c, arch, results, base))
    return 0


def _evaluate_text(results: list, base: str) -> str:
    text = "\n\n".join(str(r) for r in results)
    if len(results) > 1:
        ref = next(r for r in results if r.dataflow == base)
        # energy 0 means the arch states no energies (a user spec without them): shown as '-', not as free work
        rows = [(r.dataflow, r.latency_s * 1e3, r.energy_j * 1e3 or None, r.dram_bytes / 1e6, ref.latency_s / r.latency_s,
                 percentages(r.utilization), percentages(r.busy)) for r in results]
        text += "\n\n" + table(rows, ["dataflow", "latency ms", "energy mJ", "DRAM MB", f"speedup vs {base}",
                                      UTILIZATION, BUSY])
    return text


def _evaluate_plots(folder, c, arch, results: list, base: str) -> list:
    roof = _roofline(c, arch)
    stem = f"{c.name}_{arch.name}"
    written = [plots.plot_roofline(arch, folder / f"roofline_{stem}.png", roof=roof,
                                   results=[(r, roof.ops) for r in results])]
    for r in results:
        written.append(plots.plot_timeline(traced(c, arch, r), folder / f"timeline_{stem}_{r.dataflow}.png",
                                           title=f"{r.dataflow} on {arch.name}"))
    written.append(plots.plot_stalls(results, folder / f"stalls_{stem}.png"))
    if any(r.per_einsum for r in results):
        written.append(plots.plot_einsum_share(results, folder / f"einsum_share_{stem}.png"))
    if len(results) > 1:
        written.append(plots.plot_speedup_energy(results, base, folder / f"speedup_energy_{stem}.png"))
    return written


def _roofline(c: workloads.Cascade, arch: accel.Arch):
    try:
        return roofline(c, arch)
    except MappingError as e:         # e.g. an op no unit of the arch can run
        raise CLIError(f"--arch {arch.name}: {e}") from None


def cmd_roofline(args: argparse.Namespace) -> int:
    """Per-Einsum compute and traffic bounds of the workload on each arch."""
    c = build_workload(args)
    archs = [load_arch(a) for a in (args.arch or DEFAULT_ARCHS)]
    folder = output_folder(args.plot, "--plot") if args.plot else None
    roofs = [_roofline(c, a) for a in archs]
    flat = [{"arch": r.arch, "einsum": row.einsum, "flops": row.flops, "bound_s": row.bound_s,
             "binding": row.binding, "traffic_bytes": row.traffic_bytes, "unfused_bytes": row.unfused_bytes}
            for r in roofs for row in r.rows]
    emit(args, [roofline_record(r) for r in roofs], lambda: "\n\n".join(map(str, roofs)), flat)
    if folder is not None:
        say(args, [plots.plot_roofline(a, folder / f"roofline_{c.name}_{a.name}.png", roof=r)
                   for a, r in zip(archs, roofs)])
    return 0
