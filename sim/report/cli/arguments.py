"""The argument parser of `python -m sim`: the subcommands, their flags and the flag value types (each bad value is
an argparse error, exit status 2, naming the flag)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from sim.report.cli.commands import cmd_evaluate, cmd_list, cmd_roofline
from sim.report.cli.models import cmd_inference
from sim.report.cli.inputs import SHAPE_FLAGS
from sim.report.cli.parallel import add_cluster_flags
from sim.report.cli.searching import cmd_explore, cmd_report, cmd_sweep

MAX_INT = 2 ** 62           # a larger integer cannot be a size or count (and would overflow int64 downstream)
MAX_VALUE_CHARS = 200       # characters of one --param value
MAX_LIST = 64               # values of one list flag (--seqs, --array, ...)


def positive_int(text: str) -> int:
    """A positive integer flag value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:MAX_VALUE_CHARS]!r}") from None
    if not 1 <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"expected a positive integer (at most 2^62), got {text[:40]!r}")
    return value


def positive_float(text: str) -> float:
    """A positive finite number, exponent form allowed ('400e9')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text[:MAX_VALUE_CHARS]!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text[:40]!r}")
    return value


def _listed(text: str, item) -> list:
    parts = text.split(",")
    if len(parts) > MAX_LIST:
        raise argparse.ArgumentTypeError(f"at most {MAX_LIST} values, got {len(parts)}")
    return [item(t.strip()) for t in parts]


def int_list(text: str) -> list[int]:
    """'512,1024,4096' -> [512, 1024, 4096]."""
    return _listed(text, positive_int)


def float_list(text: str) -> list[float]:
    """'400e9,800e9' -> [4e11, 8e11]."""
    return _listed(text, positive_float)


def array_list(text: str) -> list[int | tuple[int, int]]:
    """PE-array sizes: '128,256' (square) or '128x64' (rows x cols)."""
    def size(t: str):
        rows, sep, cols = t.partition("x")
        return (positive_int(rows), positive_int(cols)) if sep else positive_int(t)
    return _listed(text, size)


def _scalar(t: str) -> Any:
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def value(text: str) -> Any:
    """A --param value: int, float, bool, a tuple of scalars ('64x64' or '(64, 64)'), else the string."""
    t = text.strip()
    if "x" in t and all(p.strip().isdigit() for p in t.split("x")):
        return tuple(int(p) for p in t.split("x"))
    if t.startswith("(") and t.endswith(")"):
        return tuple(_scalar(p.strip()) for p in t[1:-1].split(",") if p.strip())
    return _scalar(t)


def key_value(text: str) -> tuple[str, Any]:
    """A --param KEY=VALUE pair."""
    if len(text) > MAX_VALUE_CHARS:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE of at most {MAX_VALUE_CHARS} characters")
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not raw.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. window=16x16), got {text!r}")
    return key.strip().replace("-", "_"), value(raw)


def _workload_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("workload (defaults: MHA, batch 1, 12 heads, 4096 tokens, head dim 64)")
    g.add_argument("--model", help="a model from workloads.model (e.g. bert); shape flags override it")
    g.add_argument("--layer", action="store_true", help="with --model: the whole transformer layer")
    g.add_argument("--variant", help="attention variant (python -m sim list shows them); default mha")
    for key, flag in SHAPE_FLAGS.items():
        g.add_argument(flag, dest=key, type=positive_int, metavar="N")
    g.add_argument("--causal", action="store_true", help="causal mask")
    g.add_argument("--softmax", choices=("1pass", "2pass", "3pass"), help="softmax cascade (default: the variant's)")
    g.add_argument("--dtype", help="element type, e.g. fp16, bf16")
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


def _sweep_axes(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("architecture axes (each --arch is varied over every combination)")
    g.add_argument("--array", type=array_list, metavar="N,N|RxC", help="PE-array sizes, e.g. 128,256 or 128x64")
    g.add_argument("--buffer-bytes", dest="buffer_bytes", type=int_list, metavar="B,B",
                   help="capacity of the first on-chip level with one (FuseMax's global buffer, a GPU's L2)")
    g.add_argument("--dram-bw", dest="dram_bytes_per_s", type=float_list, metavar="B/S,B/S",
                   help="outermost-level bandwidth in bytes/s, e.g. 400e9,800e9")
    g.add_argument("--sms", type=int_list, metavar="N,N", help="GPU SM counts")
    g.add_argument("--clock", dest="clock_hz", type=float_list, metavar="HZ,HZ", help="clock frequencies in Hz")


def _inference_parser(sub) -> None:
    """`inference`: a model, an arch and the request (prompt, batch, output tokens, what to do when it does not fit)."""
    p = sub.add_parser("inference", help="a model serving a batch: TTFT, TPOT, tokens/s, J/token, memory")
    p.add_argument("--model", required=True, help="a model from workloads.model (python -m sim list shows them)")
    p.add_argument("--arch", help="preset name or arch file (or --cluster)")
    p.add_argument("--prompt", type=positive_int, required=True, metavar="N", help="prompt tokens per sequence")
    p.add_argument("--batch", type=positive_int, default=1, metavar="N", help="sequences (default 1)")
    p.add_argument("--output-tokens", dest="output_tokens", type=positive_int, default=1, metavar="N",
                   help="tokens generated per sequence (default 1)")
    p.add_argument("--memory", choices=("refuse", "flag"), default="refuse",
                   help="what does not fit the device: refuse (default) or simulate and flag it")
    add_cluster_flags(p)
    _output_args(p)
    p.set_defaults(fn=cmd_inference)


def _subcommands(sub) -> None:
    p = sub.add_parser("list", help="presets, variants, dataflows and their verdicts")
    _workload_args(p)
    p.add_argument("--arch", action="append", help="preset name or arch file (repeatable; default: every preset)")
    _output_args(p, plot=False)
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("evaluate", help="simulate a workload with one or more dataflows")
    _workload_args(p)
    p.add_argument("--arch", help="preset name or arch file (.json/.yaml); with --layer, or --cluster")
    p.add_argument("--dataflow", action="append",
                   help="dataflow name (repeatable; default: every searched one that supports the pair; with "
                        "--layer: the attention kernel's)")
    p.add_argument("--baseline", help="dataflow the speedups are relative to (default: the first)")
    add_cluster_flags(p)
    _output_args(p)
    p.set_defaults(fn=cmd_evaluate)

    _inference_parser(sub)

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

    p = sub.add_parser("sweep", help="designs (arch variants × their dataflows) × sequence lengths (sim.sweep)")
    _workload_args(p)
    p.add_argument("--arch", action="append", help="preset name or arch file (repeatable; default: h100, fusemax)")
    p.add_argument("--dataflow", action="append",
                   help="restrict the designs to these dataflows (repeatable; default: every searched one)")
    p.add_argument("--seqs", type=int_list, metavar="N,N,...", help="sequence lengths to sweep, e.g. 1024,4096")
    _sweep_axes(p)
    p.add_argument("--objective", choices=("latency", "energy", "edp"), default="latency")
    p.add_argument("--budget", type=positive_int, help="most candidates each cell's explore evaluates")
    _output_args(p)
    p.set_defaults(fn=cmd_sweep)

    p = sub.add_parser("report", help="regenerate the figure gallery")
    p.add_argument("--out", type=Path, default=Path("docs/gallery"), help="gallery folder (default docs/gallery)")
    _output_args(p, plot=False)
    p.set_defaults(fn=cmd_report)


def parser(description: str = "") -> argparse.ArgumentParser:
    """The `python -m sim` argument parser."""
    top = argparse.ArgumentParser(prog="python -m sim", description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--out", type=Path, default=Path("cascadesim_out"),
                     help="folder for the default job's figure (no subcommand)")
    _subcommands(top.add_subparsers(dest="command", metavar="COMMAND"))
    return top
