"""What the command line reads: architectures (preset names or arch files), workloads (a variant and its shape, or a
model), and output folders — each checked before any work starts, failing with a `CLIError` that names the flag."""
from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path

import accel
import workloads

ARCH_SUFFIXES = (".json", ".yaml", ".yml")
DEFAULT_SHAPE = {"batch": 1, "heads": 12, "seq": 4096, "head_dim": 64}     # BERT-base attention
SHAPE_FLAGS = {"batch": "--batch", "heads": "--heads", "kv_heads": "--kv-heads", "seq": "--seq",
               "seq_kv": "--seq-kv", "head_dim": "--head-dim", "head_dim_v": "--head-dim-v", "key_tile": "--key-tile"}
MODEL_FLAGS = ("batch", "seq", "seq_kv")          # the shape flags a model leaves open
MAX_MESSAGE = 2000                                # characters of one error message
MAX_SHOWN = 200                                   # characters of a user's value quoted in a message


class CLIError(ValueError):
    """A bad command-line argument: the command exits with status 2 and prints this message, which names the
    flag. Messages are bounded in length."""

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split())
        super().__init__(text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…")


def shown(value: object) -> str:
    """A user's value for a message: its repr, cut to a bounded length."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"


def load_arch(name: str) -> accel.Arch:
    """A preset name, or a .json/.yaml/.yml arch file read by `accel.load` (defaults, exponent numbers, every
    problem of the file at once)."""
    path = Path(name)
    if path.suffix.lower() not in ARCH_SUFFIXES and name in accel.PRESETS:
        return accel.preset(name)
    kind = _kind(path)
    if path.suffix.lower() in ARCH_SUFFIXES or kind != "missing":
        if kind == "folder":
            raise CLIError(f"--arch: {shown(name)} is a directory; give an arch file ({', '.join(ARCH_SUFFIXES)}) "
                           f"or a preset name ({', '.join(accel.PRESETS)})")
        if path.suffix.lower() not in ARCH_SUFFIXES:
            raise CLIError(f"--arch: {shown(name)} is neither a preset name ({', '.join(accel.PRESETS)}) nor an "
                           f"arch file (suffix {', '.join(ARCH_SUFFIXES)})")
        try:
            return accel.load(path)
        except accel.ArchError as e:
            raise CLIError(f"--arch: {e}") from None
    try:
        return accel.preset(name)
    except accel.ArchError as e:
        raise CLIError(f"--arch: {e} (or name an arch file: {', '.join(ARCH_SUFFIXES)})") from None


def _kind(path: Path) -> str:
    """'folder', 'file' or 'missing' (also for a name the OS cannot look up: too long, a NUL byte)."""
    try:
        return "folder" if path.is_dir() else "file" if path.exists() else "missing"
    except (OSError, ValueError):
        return "missing"


def output_folder(path: str | os.PathLike, flag: str) -> Path:
    """The folder `flag` names, created if missing; a file, or a path that cannot be created or written, is a
    CLIError — checked before any simulation runs."""
    folder = Path(path)
    if _kind(folder) == "file":
        raise CLIError(f"{flag}: {shown(str(folder))} is a file; give a folder for the figures")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or e
        raise CLIError(f"{flag}: cannot create the folder {shown(str(folder))}: {why}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{flag}: the folder {shown(str(folder))} is not writable")
    return folder


def build_workload(args: argparse.Namespace, seq: int | None = None, softmax: str | None = None) -> workloads.Cascade:
    """The cascade the workload flags describe: `--model NAME` (via `workloads.model`) or `--variant` + shape;
    `seq` and `softmax` override the flags (the sweep builds one cascade per length and per dataflow's form)."""
    shape = {k: getattr(args, k) for k in SHAPE_FLAGS if getattr(args, k) is not None}
    if seq is not None:
        shape["seq"] = seq
    extra = dict(args.param or [])
    if args.causal:
        extra["causal"] = True
    if softmax or args.softmax:
        extra["softmax"] = softmax or args.softmax
    if args.dtype:
        extra["dtype"] = args.dtype
    try:
        return _model(args, shape, extra) if args.model else _variant(args, shape, extra)
    except CLIError:
        raise
    except TypeError as e:            # a builder that does not take, or needs, one of the arguments
        raise CLIError(f"malformed workload shape: {_argument_problem(e, extra)}") from None
    except ValueError as e:           # CascadeError and the builders' own checks
        raise CLIError(f"malformed workload: {e}") from None


def _model(args: argparse.Namespace, shape: dict, extra: dict) -> workloads.Cascade:
    fixed = [SHAPE_FLAGS[k] for k in shape if k not in MODEL_FLAGS]
    if fixed:
        raise CLIError(f"{fixed[0]} cannot be combined with --model (the model fixes it; "
                       f"{', '.join(SHAPE_FLAGS[k] for k in MODEL_FLAGS)} may be given)")
    if "seq" not in shape:
        raise CLIError(f"--model {args.model} needs --seq N (the query length; --seq-kv for the keys, e.g. decode "
                       "with --seq 1 --seq-kv 32768)")
    m = workloads.model(args.model)
    build = m.layer if args.layer else m.attention
    return build(**shape, **extra)


def _variant(args: argparse.Namespace, shape: dict, extra: dict) -> workloads.Cascade:
    if args.layer:
        raise CLIError("--layer needs --model (the layer of a model from workloads.model)")
    variant = args.variant or "mha"
    if variant not in workloads.VARIANTS:
        raise CLIError(f"--variant: unknown attention variant {shown(variant)} "
                       f"(valid: {', '.join(sorted(workloads.VARIANTS))})")
    required = [n for n, p in inspect.signature(workloads.VARIANTS[variant]).parameters.items()
                if p.default is inspect.Parameter.empty]
    for key, default in DEFAULT_SHAPE.items():     # BERT-base attention, where the builder needs the value
        if key in required:
            shape.setdefault(key, default)
    return workloads.attention(variant, **shape, **extra)


def _argument_problem(e: TypeError, extra: dict) -> str:
    """Which flag a builder's TypeError is about, and what to do."""
    name = next((k for k in {**SHAPE_FLAGS, **extra} if f"'{k}'" in str(e)), None)
    if name is None:
        return f"{e} (give builder arguments as --param KEY=VALUE)"
    flag = SHAPE_FLAGS.get(name, f"--param {name}=...")
    what = f"this workload needs {flag}" if "missing" in str(e) else f"{flag} is not an argument of this workload"
    return f"{what} ({e})"


def load_model(args) -> "workloads.Model":
    """The zoo model `--model` names; CLIError naming the flag otherwise."""
    try:
        return workloads.model(args.model)
    except workloads.CascadeError as e:
        raise CLIError(f"--model: {e}") from None
