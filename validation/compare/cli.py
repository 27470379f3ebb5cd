"""`python -m validation.compare FILE.csv ... --out DIR [--fit] [--device-kind h100|h200|a100|b200]`.

FILEs are harness CSVs (`python -m validation.measure`) or the public FlashAttention-2 table
(validation/data/fa2_h100_public.csv). Every row becomes a point; DIR receives points.csv, ratios.csv, summary.json,
report.md and the figures. `--fit` refits the GPU model's calibrated constants on their stated subsets and reports
the held-out error separately. Bad arguments and unreadable files exit 2 with a message naming them.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Sequence

from validation.compare.files import write_report
from validation.compare.pipeline import compare_points
from validation.compare.points import Point, read_points
from validation.compare.simulate import GPU_PRESETS

EXIT_USAGE = 2
PROG = "python -m validation.compare"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    p = _Parser(prog=PROG, description="Simulated versus measured: every measured row next to the simulated kernel "
                                       "that models it.")
    p.add_argument("files", nargs="+", type=Path, help="harness CSVs and/or the public FA2 table")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--fit", action="store_true",
                   help="refit the GPU model's calibrated constants on their stated subsets")
    p.add_argument("--device-kind", choices=GPU_PRESETS, default=None,
                   help="simulate every row on this GPU preset (default: the preset named by each row's device)")
    return p


def _usage_error(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return EXIT_USAGE


def _read(files: Sequence[Path]) -> list[Point] | str:
    """Every file's points, or the first problem (naming the file)."""
    points: list[Point] = []
    for path in files:
        if path.is_dir():
            return f"{path}: is a directory, not a CSV file"
        try:
            points += read_points(path)
        except UnicodeDecodeError:
            return f"{path}: not a text CSV file"
        except (OSError, ValueError, csv.Error) as exc:
            return f"{exc}"[:500]
    return points


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 0 on success, 2 on bad arguments or files."""
    args = build_parser().parse_args(argv)
    points = _read(args.files)
    if isinstance(points, str):
        return _usage_error(points)
    if args.out.exists() and not args.out.is_dir():
        return _usage_error(f"--out {args.out}: exists and is not a directory")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _usage_error(f"--out {args.out}: cannot create it ({exc.strerror or exc})")
    compared, fits = compare_points(points, args.device_kind, args.fit)
    paths = write_report(compared, fits, args.out, inputs=[str(p) for p in args.files], device_kind=args.device_kind)
    ok = sum(c.status == "ok" for c in compared)
    print(f"{len(compared)} rows, {ok} simulated, {len(compared) - ok} listed with a reason; "
          f"wrote {len(paths)} files to {args.out} (report: {args.out / 'report.md'})")
    return 0
