"""What the command line prints: aligned text tables for people, `--json` records and `--csv` rows for machines,
and the records of a `Result` and a `Roofline` (every number, as plain data)."""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any, Callable, Iterable, Sequence

from sim.search.progress import progress_bar

UTILIZATION = "utilization (useful/capacity)"
BUSY = "busy (time occupied)"


def table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> str:
    """A plain aligned text table (numeric columns right-aligned, the first column left-aligned)."""
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


def percentages(values: dict[str, float]) -> str:
    """`{"2d": 0.95, "1d": 0.1}` -> '2d 95%, 1d 10%'."""
    return ", ".join(f"{k} {v:.0%}" for k, v in values.items()) or "-"


def write_csv(records: Sequence[dict], stream) -> None:
    """Records as CSV (the union of their keys as columns; nested values as JSON)."""
    cols = list(dict.fromkeys(k for r in records for k in r))
    w = csv.DictWriter(stream, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: json.dumps(v, default=_json_default) if isinstance(v, (dict, list, tuple)) else v
                    for k, v in r.items()})


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    if hasattr(v, "items"):
        return dict(v.items())
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


def say(args: argparse.Namespace, paths: Iterable) -> None:
    """'wrote PATH' for each file (on stderr when stdout carries JSON or CSV)."""
    stream = sys.stderr if (args.json or args.csv) else sys.stdout
    for p in paths:
        print(f"wrote {p}", file=stream)


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: not with --quiet, --json or --csv."""
    return not (args.quiet or args.json or args.csv)


def bar(args: argparse.Namespace, total: int, label: str):
    """`sim.search.progress`'s bar for a run of `total` steps (silent for one step or when `show_progress` is off)."""
    return progress_bar(show_progress(args) and total > 1, total, label)


def result_record(r) -> dict:
    """Every number of a `Result`, as plain data (what `--json` prints)."""
    return {"workload": r.workload, "arch": r.arch, "dataflow": r.dataflow, "cycles": r.cycles,
            "latency_s": r.latency_s, "energy_j": r.energy_j, "dram_bytes": r.dram_bytes, "tflops": r.tflops,
            "utilization": dict(r.utilization), "busy": dict(r.busy), "bytes_per_level": dict(r.bytes_per_level),
            "energy_breakdown": dict(r.energy_breakdown), "kernels": dict(r.kernels),
            "per_einsum": {e: dict(v) for e, v in r.per_einsum.items()},
            "phases": {p: dict(v) for p, v in r.phases.items()},
            "stalls": {k: dict(v) for k, v in r.stalls.items()}, "params": dict(r.mapping.params),
            "notes": list(r.notes)}


def result_row(r) -> dict:
    """One flat CSV row of a `Result`."""
    row = {k: v for k, v in result_record(r).items() if not isinstance(v, (dict, list))}
    row.update({f"util.{k}": v for k, v in r.utilization.items()})
    row.update({f"busy.{k}": v for k, v in r.busy.items()})
    row.update({f"bytes.{k}": v for k, v in r.bytes_per_level.items()})
    return row


def roofline_record(roof) -> dict:
    """Every number of a `Roofline`, as plain data."""
    return {"cascade": roof.cascade, "arch": roof.arch, "lower_bound_s": roof.lower_bound_s, "binding": roof.binding,
            "flops": roof.flops, "ops": roof.ops, "compulsory_bytes": roof.compulsory_bytes,
            "unit_s": dict(roof.unit_s), "level_s": dict(roof.level_s),
            "rows": [{"einsum": r.einsum, "ops": dict(r.ops), "flops": r.flops, "compute_s": dict(r.compute_s),
                      "traffic_bytes": r.traffic_bytes, "traffic_s": dict(r.traffic_s),
                      "unfused_bytes": r.unfused_bytes, "bound_s": r.bound_s, "binding": r.binding}
                     for r in roof.rows]}
