"""`python -m sim`: the command line (`sim.report.cli`; `python -m sim --help`). With no subcommand it runs the
default job (`sim.report.default_job`)."""
from __future__ import annotations

import sys

from sim.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
