"""`python -m sim`: the command line. With no subcommand it runs the default job (BERT-base attention at 4K
tokens on H100 and FuseMax: its roofline, and the best mapping found, simulated). Subcommands:

  list       presets, attention variants, models, dataflows and each dataflow's verdict for a workload on each arch
  evaluate   simulate a workload on an arch with one or more dataflows (a whole layer with --model NAME --layer)
  inference  a model serving a batch on one device or a cluster (--cluster, --plan): TTFT, TPOT, tokens/s, memory
  roofline   per-Einsum compute and traffic bounds on one or more archs
  explore    search dataflows × mapping parameters for the best mapping (sim.explore)
  sweep      designs (arch variants × their own dataflows and cascades) × sequence lengths (sim.sweep)
  report     regenerate the figure gallery (docs/gallery)

Human tables by default; `--json` or `--csv` for machines; `--plot DIR` writes figures. Utilization is useful work
÷ capacity; busy is the fraction of time a unit is occupied. A bad argument exits with status 2 and names the flag.

Modules: `arguments` (the parser), `inputs` (arch files, workloads, output folders), `commands` (list, evaluate,
roofline), `models` (evaluate --layer, inference), `searching` (explore, sweep, report), `output` (tables, JSON/CSV
records), `app` (dispatch).
"""
from sim.report.cli import app as _app
from sim.report.cli.arguments import parser as _parser
from sim.report.cli.inputs import CLIError, build_workload, load_arch
from sim.report.cli.output import result_record, roofline_record


def main(argv=None) -> int:
    """Run `python -m sim` with `argv` (default: the process's arguments); returns the exit status."""
    return _app.main(argv, __doc__)


def parser():
    """The argument parser of `python -m sim`."""
    return _parser(__doc__)


__all__ = ["CLIError", "build_workload", "load_arch", "main", "parser", "result_record", "roofline_record"]
