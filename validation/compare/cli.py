"""`python -m validation.compare FILE.csv ... --out DIR [--fit] [--device-kind h100|h200|a100|b200]`.

FILEs are harness CSVs (`python -m validation.measure`) or the public FlashAttention-2 table
(validation/data/fa2_h100_public.csv). Every row becomes a point; DIR receives points.csv, ratios.csv, summary.json,
report.md and the figures. `--fit` refits the GPU model's calibrated constants on their stated subsets and reports
the held-out error separately. Bad arguments, unreadable files and unusable output folders exit 2 with a message
naming them (`run` raises them as ValidationError).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from validation.compare.files import write_report
from validation.compare.pipeline import compare_points
from validation.compare.points import Point, read_points
from validation.compare.simulate import GPU_PRESETS
from validation.errors import ValidationError

EXIT_USAGE = 2
PROG = "python -m validation.compare"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValidationError(f"{message} (usage: {self.format_usage().strip().removeprefix('usage: ')})"[:600])


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (its errors raise ValidationError)."""
    p = _Parser(prog=PROG, description="Simulated versus measured: every measured row next to the simulated kernel "
                                       "that models it.")
    p.add_argument("files", nargs="+", type=Path, help="harness CSVs and/or the public FA2 table")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--fit", action="store_true",
                   help="refit the GPU model's calibrated constants on their stated subsets")
    p.add_argument("--device-kind", choices=GPU_PRESETS, default=None,
                   help="simulate every row on this GPU preset (default: the preset named by each row's device)")
    return p


def read_files(files: Sequence[Path]) -> list[Point]:
    """Every file's points; a directory, a binary, missing or malformed file raises ValidationError naming it."""
    points: list[Point] = []
    for path in files:
        if path.is_dir():
            raise ValidationError(f"{path}: is a directory, not a CSV file")
        try:
            points += read_points(path)
        except OSError as exc:
            raise ValidationError(f"{path}: cannot be read ({str(exc)[:300]})") from None
    return points


def output_folder(out: Path) -> Path:
    """`out`, created; a path that is a file or cannot be created raises ValidationError naming --out."""
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    return out


def run(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; bad arguments, files or output folders raise ValidationError."""
    args = build_parser().parse_args(argv)
    points = read_files(args.files)
    out = output_folder(args.out)
    compared, fits = compare_points(points, args.device_kind, args.fit)
    paths = write_report(compared, fits, out, inputs=[str(p) for p in args.files], device_kind=args.device_kind)
    ok = sum(c.status == "ok" for c in compared)
    print(f"{len(compared)} rows, {ok} simulated, {len(compared) - ok} listed with a reason; "
          f"wrote {len(paths)} files to {out} (report: {out / 'report.md'})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command: 0 on success; 2, with the message on stderr, on bad arguments or files."""
    try:
        return run(argv)
    except ValidationError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
