"""`python -m sim`: the command line. With no subcommand it runs the built-in default job (the roofline of BERT-base
attention at 4K tokens on H100 and FuseMax). Subcommands:

  list       presets, attention variants, dataflows and each dataflow's verdict for a workload on each arch
  evaluate   simulate a workload on an arch with one or more dataflows
  roofline   per-Einsum compute and traffic bounds on one or more archs
  explore    search dataflows × mapping parameters for the best mapping (sim.explore)
  sweep      a workload × architecture grid (sim.sweep)
  report     regenerate the figure gallery (docs/gallery)

Human tables by default; `--json` or `--csv` for machines; `--plot DIR` writes figures. Bad arguments exit with
status 2 and say which argument is wrong; a subcommand whose engine part is missing exits with status 1 naming it.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import inspect
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import accel
import workloads

DEFAULT_ARCHS = ("h100", "fusemax")
DEFAULT_SHAPE = {"batch": 1, "heads": 12, "seq": 4096, "head_dim": 64}


class CLIError(Exception):
    """A bad argument (exit status 2) or a missing engine part (`status=1`)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


# ---- argument types ---------------------------------------------------------------------------------------------

def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def int_list(text: str) -> list[int]:
    """'512,1024,4096' -> [512, 1024, 4096]."""
    return [positive_int(t) for t in text.split(",")]


def _value(text: str) -> Any:
    """A --param value: int, float, bool, a tuple ('64x64' or '(64, 64)'), else the string."""
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if "x" in t and all(p.strip().isdigit() for p in t.split("x")):
        return tuple(int(p) for p in t.split("x"))
    if t.startswith("(") and t.endswith(")"):
        return tuple(_value(p) for p in t[1:-1].split(",") if p.strip())
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. window=16x16), got {text!r}")
    return key.strip().replace("-", "_"), _value(value)


# ---- building inputs --------------------------------------------------------------------------------------------

def load_arch(name: str) -> accel.Arch:
    """A preset name, or a .json/.yaml file through the strict `accel.from_dict`."""
    path = Path(name)
    if path.suffix in (".json", ".yaml", ".yml"):
        if not path.exists():
            raise CLIError(f"--arch: no such file {name!r}")
        text = path.read_text()
        import yaml
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as e:
            raise CLIError(f"--arch: {name} is not valid {path.suffix[1:].upper()}: "
                           f"{' '.join(str(e).split())}") from None
        try:
            return accel.from_dict(data, path=f"arch file {name}")
        except accel.ArchError as e:
            raise CLIError(f"--arch: {e}") from None
    try:
        return accel.preset(name)
    except accel.ArchError as e:
        raise CLIError(f"--arch: {e}") from None


SHAPE_FLAGS = {"batch": "--batch", "heads": "--heads", "kv_heads": "--kv-heads", "seq": "--seq",
               "seq_kv": "--seq-kv", "head_dim": "--head-dim", "head_dim_v": "--head-dim-v", "key_tile": "--key-tile"}


def build_workload(args: argparse.Namespace, seq: int | None = None) -> workloads.Cascade:
    """The cascade the workload flags describe: `--model NAME` (via `workloads.model`) or `--variant` + shape."""
    shape = {k: getattr(args, k) for k in SHAPE_FLAGS if getattr(args, k) is not None}
    if seq is not None:
        shape["seq"] = seq
    extra = dict(args.param or [])
    if args.causal:
        extra["causal"] = True
    if args.softmax:
        extra["softmax"] = args.softmax
    if args.dtype:
        extra["dtype"] = args.dtype
    try:
        if args.model:
            model = getattr(workloads, "model", None)
            if model is None:
                raise CLIError("--model needs workloads.model, which is not available in this checkout "
                               "(describe the workload with --variant and its shape instead)", status=1)
            fixed = [SHAPE_FLAGS[k] for k in shape if k not in ("batch", "seq", "seq_kv")]
            if fixed:
                raise CLIError(f"{fixed[0]} cannot be combined with --model (the model fixes it; "
                               "--batch, --seq and --seq-kv may be given)")
            m = model(args.model)
            build = m.layer if args.layer else m.attention
            return build(**shape, **extra)
        variant = args.variant or "mha"
        if variant not in workloads.VARIANTS:
            raise CLIError(f"--variant: unknown attention variant {variant!r} "
                           f"(valid: {', '.join(sorted(workloads.VARIANTS))})")
        required = [n for n, p in inspect.signature(workloads.VARIANTS[variant]).parameters.items()
                     if p.default is inspect.Parameter.empty]
        for key, default in DEFAULT_SHAPE.items():     # BERT-base attention, where the builder needs the value
            if key in required:
                shape.setdefault(key, default)
        return workloads.attention(variant, **shape, **extra)
    except TypeError as e:            # a builder that does not take, or needs, one of the arguments
        name = next((k for k in {**SHAPE_FLAGS, **extra} if f"'{k}'" in str(e)), None)
        flag = SHAPE_FLAGS.get(name, f"--param {name}=...")
        if name is None:
            what = f"{e} (give builder arguments as --param KEY=VALUE)"
        elif "missing" in str(e):
            what = f"this workload needs {flag}"
        else:
            what = f"{flag} is not an argument of this workload"
        raise CLIError(f"malformed workload shape: {what}" + (f" ({e})" if name else "")) from None
    except workloads.CascadeError as e:
        raise CLIError(f"malformed workload: {e}") from None
    except ValueError as e:
        raise CLIError(f"malformed workload: {e}") from None


def require(module: str, attr: str, command: str) -> Callable:
    """The engine function a subcommand needs, or a clear error naming what is missing."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        exported = getattr(sys.modules.get("sim"), attr, None)     # e.g. `sim.sweep` defined in another module
        if callable(exported) and sys.modules.get(module, True) is not None:
            return exported
        raise CLIError(f"`python -m sim {command}` needs {module}.{attr}, which is not available in this checkout "
                       f"({type(e).__name__}: {e})", status=1) from None


# ---- output -----------------------------------------------------------------------------------------------------

def table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> str:
    """A plain aligned text table (first column left-aligned)."""
    cells = [[str(h) for h in head]] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(head))]
    numeric = [all(_numeric(r[k]) for r in cells[1:]) for k in range(len(head))]
    lines = []
    for i, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if numeric[k] and k else c.ljust(w)
                               for k, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return text == "-"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_csv(records: Sequence[dict], stream) -> None:
    cols = list(dict.fromkeys(k for r in records for k in r))
    w = csv.DictWriter(stream, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for k, v in r.items()})


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


def emit(args: argparse.Namespace, records: Any, human: Callable[[], str], flat: list[dict] | None = None) -> None:
    """Print `--json` records, `--csv` rows (`flat`, else records) or the human text."""
    if args.json:
        print(json.dumps(records, indent=2, default=_json_default))
    elif args.csv:
        buf = io.StringIO()
        write_csv(flat if flat is not None else records, buf)
        print(buf.getvalue(), end="")
    else:
        print(human())


def result_record(r) -> dict:
    """Every number of a `Result`, as plain data (what `--json` prints)."""
    return {"workload": r.workload, "arch": r.arch, "dataflow": r.dataflow, "cycles": r.cycles,
            "latency_s": r.latency_s, "energy_j": r.energy_j, "dram_bytes": r.dram_bytes, "tflops": r.tflops,
            "utilization": dict(r.utilization), "bytes_per_level": dict(r.bytes_per_level),
            "energy_breakdown": dict(r.energy_breakdown),
            "per_einsum": {e: dict(v) for e, v in r.per_einsum.items()},
            "stalls": {k: dict(v) for k, v in r.stalls.items()}, "params": dict(r.mapping.params),
            "notes": list(r.notes)}


def result_row(r) -> dict:
    """One flat CSV row of a `Result`."""
    row = {k: v for k, v in result_record(r).items() if not isinstance(v, (dict, list))}
    row.update({f"util.{k}": v for k, v in r.utilization.items()})
    row.update({f"bytes.{k}": v for k, v in r.bytes_per_level.items()})
    return row


def roofline_record(roof) -> dict:
    return {"cascade": roof.cascade, "arch": roof.arch, "lower_bound_s": roof.lower_bound_s, "binding": roof.binding,
            "flops": roof.flops, "ops": roof.ops, "compulsory_bytes": roof.compulsory_bytes,
            "unit_s": dict(roof.unit_s), "level_s": dict(roof.level_s),
            "rows": [{"einsum": r.einsum, "ops": dict(r.ops), "flops": r.flops, "compute_s": dict(r.compute_s),
                      "traffic_bytes": r.traffic_bytes, "traffic_s": dict(r.traffic_s),
                      "unfused_bytes": r.unfused_bytes, "bound_s": r.bound_s, "binding": r.binding}
                     for r in roof.rows]}


class Progress:
    """A progress bar on stderr for runs of several steps (silent with --quiet, --json or --csv)."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled, self.done, self.start = total, label, enabled, 0, time.perf_counter()

    def step(self, what: str = "") -> None:
        self.done += 1
        if self.enabled:
            filled = int(24 * self.done / max(self.total, 1))
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (24 - filled)}] {self.done}/{self.total} "
                             f"{time.perf_counter() - self.start:.1f}s {what[:40]:<40}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _progress(args, total: int, label: str) -> Progress:
    return Progress(total, label, enabled=not (args.quiet or args.json or args.csv) and total > 1)


# ---- subcommands ------------------------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    import sim
    c = build_workload(args)
    archs = [load_arch(a) for a in (args.arch or list(accel.PRESETS))]
    verdicts = {a.name: sim.verdicts(c, a) for a in archs}
    names = sorted({n for v in verdicts.values() for n in v})
    presets = []
    for name in accel.PRESETS:
        a = accel.preset(name)
        presets.append({"name": name, "clock_hz": a.clock_hz, "units": [u.name for u in a.units],
                        "levels": [lv.name for lv in a.levels]})
    models = sorted(getattr(workloads, "MODELS", {}))
    record = {"workload": c.name, "presets": presets, "variants": sorted(workloads.VARIANTS), "models": models,
              "dataflows": {n: {a: verdicts[a].get(n) for a in verdicts} for n in names}}
    if args.csv:
        rows = [{"dataflow": n, "arch": a, "supported": why is None, "reason": why or ""}
                for n in names for a, why in record["dataflows"][n].items()]
        emit(args, record, lambda: "", rows)
        return 0

    def human() -> str:
        out = ["presets:", table([(p["name"], f"{p['clock_hz'] / 1e9:.3g}", " → ".join(p["levels"]),
                                   ", ".join(p["units"])) for p in presets],
                                 ["name", "clock GHz", "levels (outermost first)", "units"]), "",
               "variants: " + ", ".join(record["variants"]),
               "models: " + (", ".join(models) or "(workloads.model not available)"), "",
               f"dataflows (verdict for {c.name} {dict(c.sizes)}):"]
        if not names:
            out.append("  (none registered)")
        elif len(archs) == 1:
            a = archs[0].name
            out.append(table([(n, "yes" if (why := record["dataflows"][n][a]) is None else "no: " + why)
                              for n in names], ["dataflow", f"runs on {a}?"]))
        else:
            out.append(table([(n, *("yes" if record["dataflows"][n][a.name] is None else "no" for a in archs))
                              for n in names], ["dataflow", *(a.name for a in archs)]))
            out.append("(`--arch NAME` lists the reasons)")
        return "\n".join(out)
    emit(args, record, human)
    return 0


def _run(c, arch, name: str, trace: bool):
    import sim
    from sim.report import gallery
    if name in gallery.EXAMPLES:
        return gallery.example_result(c, arch, name == gallery.EXAMPLES[1], trace=trace)
    try:
        return sim.evaluate(c, arch, name, trace=trace)
    except sim.MappingError as e:
        raise CLIError(f"--dataflow: {e}") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    import sim
    arch = load_arch(args.arch)
    c = build_workload(args)
    verdicts = sim.verdicts(c, arch)
    names = args.dataflow or [n for n, why in verdicts.items() if why is None]
    if not names:
        raise CLIError(f"no registered dataflow supports {c.name} on {arch.name}; `python -m sim list --arch "
                       f"{arch.name}` shows each one's reason")
    trace = bool(args.plot)
    bar = _progress(args, len(names), "evaluate")
    results = []
    for n in names:
        results.append(_run(c, arch, n, trace))
        bar.step(n)
    emit(args, [result_record(r) for r in results], lambda: _evaluate_text(results), [result_row(r) for r in results])
    if args.plot:
        _evaluate_plots(args, c, arch, results)
    return 0


def _evaluate_text(results) -> str:
    text = "\n\n".join(str(r) for r in results)
    if len(results) > 1:
        base = results[0]
        rows = [(r.dataflow, r.latency_s * 1e3, r.energy_j * 1e3, r.dram_bytes / 1e6, base.latency_s / r.latency_s,
                 ", ".join(f"{k} {v:.0%}" for k, v in r.utilization.items())) for r in results]
        text += "\n\n" + table(rows, ["dataflow", "latency ms", "energy mJ", "DRAM MB",
                                       f"speedup vs {base.dataflow}", "utilization"])
    return text


def _evaluate_plots(args, c, arch, results) -> None:
    import sim
    from sim.report import plots
    out = Path(args.plot)
    stem = f"{c.name}_{arch.name}"
    written = [plots.plot_roofline(arch, out / f"roofline_{stem}.png", roof=sim.roofline(c, arch),
                                   results=[(r, sim.roofline(c, arch).ops) for r in results])]
    for r in results:
        if r.run is not None and r.run.trace is not None and len(r.run.trace.start):
            written.append(plots.plot_timeline(r, out / f"timeline_{stem}_{r.dataflow}.png",
                                               title=f"{r.dataflow} on {arch.name}: steady-state window"))
    written.append(plots.plot_stalls(results, out / f"stalls_{stem}.png"))
    try:
        written.append(plots.plot_einsum_share(results, out / f"einsum_share_{stem}.png"))
    except ValueError:
        pass   # no per-Einsum busy cycles to show
    if len(results) > 1:
        base = args.baseline or results[0].dataflow
        written.append(plots.plot_speedup_energy(results, base, out / f"speedup_energy_{stem}.png"))
    _say(args, written)


def _say(args, paths) -> None:
    stream = sys.stderr if (args.json or args.csv) else sys.stdout
    for p in paths:
        print(f"wrote {p}", file=stream)


def cmd_roofline(args: argparse.Namespace) -> int:
    import sim
    from sim.report import plots
    c = build_workload(args)
    archs = [load_arch(a) for a in (args.arch or DEFAULT_ARCHS)]
    roofs = [sim.roofline(c, a) for a in archs]
    flat = [{"arch": r.arch, "einsum": row.einsum, "flops": row.flops, "bound_s": row.bound_s,
             "binding": row.binding, "traffic_bytes": row.traffic_bytes, "unfused_bytes": row.unfused_bytes}
            for r in roofs for row in r.rows]
    emit(args, [roofline_record(r) for r in roofs], lambda: "\n\n".join(map(str, roofs)), flat)
    if args.plot:
        _say(args, [plots.plot_roofline(a, Path(args.plot) / f"roofline_{c.name}_{a.name}.png", roof=r)
                    for a, r in zip(archs, roofs)])
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    explore = require("sim.search.exploration", "explore", "explore")
    arch = load_arch(args.arch)
    c = build_workload(args)
    progress = not (args.quiet or args.json or args.csv)
    try:
        ex = explore(c, arch, objective=args.objective, dataflows=args.dataflow, budget=args.budget, seed=args.seed,
                     progress=progress)
    except ValueError as e:
        raise CLIError(str(e)) from None
    records = ex.table.records()
    flat = [{**{k: v for k, v in r.items() if k != "params"},
             **{f"param.{k}": v for k, v in (r.get("params") or {}).items()}} for r in records]
    emit(args, records, lambda: str(ex), flat)
    if args.plot:
        from sim.report import plots
        ok = [r for r in records if r.get("status") == "ok" and r.get("latency_s")]
        energy = all(r.get("energy_j") for r in ok)      # GPU presets carry no energy table
        onchip = all(r.get("onchip_bytes") for r in ok)
        if ok and (energy or onchip):
            what = " × ".join(w for w, have in (("energy", energy), ("on-chip bytes", onchip)) if have)
            _say(args, [plots.plot_pareto(ok, Path(args.plot) / f"explore_{c.name}_{arch.name}.png",
                                          energy="energy_j" if energy else "onchip_bytes",
                                          area="onchip_bytes" if energy and onchip else None,
                                          title=f"explore {c.name} on {arch.name}: latency × {what}")])
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    sweep = require("sim.search.sweeps", "sweep", "sweep")
    archs = [load_arch(a) for a in (args.arch or DEFAULT_ARCHS)]
    cascades = [build_workload(args, s) for s in (args.seqs or [None])]
    if args.seqs:   # one builder name for every length: say which length each cell is
        cascades = [dataclasses.replace(c, name=f"{c.name}_seq{s}") for c, s in zip(cascades, args.seqs)]
    progress = not (args.quiet or args.json or args.csv)
    result = sweep(cascades, archs, objective=args.objective, progress=progress)
    tbl = getattr(result, "table", result)
    records = tbl.records() if hasattr(tbl, "records") else [dict(r) for r in tbl]
    emit(args, records, lambda: str(result))
    if args.plot:
        from sim.report import plots
        ok = [r for r in records if r.get("latency_s") and r.get("energy_j")]
        if ok:
            area = next((k for k in ("area_mm2", "area_um2", "onchip_bytes") if all(r.get(k) for r in ok)), None)
            _say(args, [plots.plot_pareto(ok, Path(args.plot) / "sweep_pareto.png", area=area,
                                          label="arch" if "arch" in ok[0] else None)])
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sim.report import gallery
    started = time.perf_counter()
    bar = _progress(args, 10, "report")
    figures = gallery.build(args.out, progress=bar.step)
    if bar.done < bar.total and bar.enabled:
        sys.stderr.write("\n")
    records = [{"file": str(Path(args.out) / f), "caption": cap} for f, cap in figures]
    emit(args, records, lambda: "\n".join([f"wrote {len(figures)} figures and {Path(args.out) / 'README.md'} in "
                                           f"{time.perf_counter() - started:.1f} s"]
                                          + [f"  {r['file']}" for r in records]))
    return 0


# ---- the parser -------------------------------------------------------------------------------------------------

def _workload_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("workload (defaults: MHA, batch 1, 12 heads, 4096 tokens, head dim 64)")
    g.add_argument("--model", help="a model from workloads.model (e.g. bert); shape flags override it")
    g.add_argument("--layer", action="store_true", help="with --model: the whole transformer layer")
    g.add_argument("--variant", help="attention variant (python -m sim list shows them); default mha")
    for key, flag in SHAPE_FLAGS.items():
        g.add_argument(flag, dest=key, type=positive_int, metavar="N")
    g.add_argument("--causal", action="store_true", help="causal mask")
    g.add_argument("--softmax", choices=("1pass", "2pass", "3pass"), help="softmax cascade (default: the variant's)")
    g.add_argument("--dtype", help="element type, e.g. fp16, bf16, fp8")
    g.add_argument("--param", action="append", type=key_value, metavar="KEY=VALUE",
                   help="any other builder argument, e.g. --param window=16x16 --param spatial=64x64")


def _output_args(p: argparse.ArgumentParser, plot: bool = True) -> None:
    g = p.add_argument_group("output")
    fmt = g.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON records on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV rows on stdout")
    if plot:
        g.add_argument("--plot", metavar="DIR", help="write figures (PNG) into DIR")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m sim", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--out", type=Path, default=Path("cascadesim_out"),
                     help="folder for the default job's figure (no subcommand)")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="presets, variants, dataflows and their verdicts")
    _workload_args(p)
    p.add_argument("--arch", action="append", help="preset name or arch file (repeatable; default: every preset)")
    _output_args(p, plot=False)
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("evaluate", help="simulate a workload with one or more dataflows")
    _workload_args(p)
    p.add_argument("--arch", required=True, help="preset name or arch file (.json/.yaml)")
    p.add_argument("--dataflow", action="append",
                   help="dataflow name (repeatable; default: every one that supports the pair)")
    p.add_argument("--baseline", help="dataflow the speedup/energy figure is relative to (default: the first)")
    _output_args(p)
    p.set_defaults(fn=cmd_evaluate)

    p = sub.add_parser("roofline", help="per-Einsum compute and traffic bounds")
    _workload_args(p)
    p.add_argument("--arch", action="append", help="preset name or arch file (repeatable; default: h100, fusemax)")
    _output_args(p)
    p.set_defaults(fn=cmd_roofline)

    p = sub.add_parser("explore", help="search for the best dataflow and mapping (sim.explore)")
    _workload_args(p)
    p.add_argument("--arch", required=True, help="preset name or arch file")
    p.add_argument("--objective", choices=("latency", "energy", "edp"), default="latency")
    p.add_argument("--dataflow", action="append", help="restrict to these dataflows (repeatable)")
    p.add_argument("--budget", type=positive_int, help="most candidates to evaluate")
    p.add_argument("--seed", type=int, default=0)
    _output_args(p)
    p.set_defaults(fn=cmd_explore)

    p = sub.add_parser("sweep", help="a workload × architecture grid (sim.sweep)")
    _workload_args(p)
    p.add_argument("--arch", action="append", help="preset name or arch file (repeatable; default: h100, fusemax)")
    p.add_argument("--seqs", type=int_list, metavar="N,N,...", help="sequence lengths to sweep, e.g. 1024,4096")
    p.add_argument("--objective", choices=("latency", "energy", "edp"), default="latency")
    _output_args(p)
    p.set_defaults(fn=cmd_sweep)

    p = sub.add_parser("report", help="regenerate the figure gallery")
    p.add_argument("--out", type=Path, default=Path("docs/gallery"), help="gallery folder (default docs/gallery)")
    _output_args(p, plot=False)
    p.set_defaults(fn=cmd_report)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse errors exit with 2 themselves)."""
    ap = parser()
    args = ap.parse_args(argv)
    if args.command is None:
        from sim.__main__ import default_job
        default_job(args.out)
        return 0
    try:
        return args.fn(args)
    except CLIError as e:
        print(f"python -m sim {args.command}: error: {e}", file=sys.stderr)
        return e.status
    except BrokenPipeError:           # output piped into `head` and closed early
        sys.stdout = open(os.devnull, "w")
        return 0


__all__ = ["CLIError", "build_workload", "load_arch", "main", "parser", "result_record", "roofline_record"]
