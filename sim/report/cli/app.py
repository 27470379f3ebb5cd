"""Running the command line: parse, dispatch to the subcommand, turn a bad argument into exit status 2."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from sim.report.cli.arguments import parser
from sim.report.cli.inputs import CLIError, output_folder
from sim.report.default_job import default_job


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command (the default job without one); a bad argument raises `CLIError`."""
    if args.command is None:
        default_job(output_folder(args.out, "--out"))
        return 0
    return args.fn(args)


def run(argv: Sequence[str] | None = None, description: str = "") -> int:
    """Parse `argv` and run it; a bad argument raises `CLIError` (argparse's own errors exit with 2 themselves)."""
    return dispatch(parser(description).parse_args(argv))


def main(argv: Sequence[str] | None = None, description: str = "") -> int:
    """Run the command line and return its exit status: 0, or 2 for a bad argument (the message on stderr names
    the flag)."""
    args = parser(description).parse_args(argv)
    try:
        return dispatch(args)
    except CLIError as e:
        print(f"python -m sim{' ' + args.command if args.command else ''}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:           # output piped into `head` and closed early
        sys.stdout = open(os.devnull, "w")
        return 0
