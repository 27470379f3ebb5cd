"""Bad command-line arguments: each raises `CLIError` (the command exits with status 2) naming the flag and what
would work — never a traceback. Files the cases need are made in a private temporary folder when a case runs."""
from __future__ import annotations

import tempfile
from pathlib import Path

from sim.report.cli import CLIError
from sim.report.cli.app import run

TINY = ["--heads", "2", "--seq", "256", "--head-dim", "32"]
_FOLDER: list[Path] = []


def folder() -> Path:
    """A temporary folder with a directory named like an arch file, a binary file, a non-UTF-8 file, a plain file."""
    if not _FOLDER:
        d = Path(tempfile.mkdtemp(prefix="cli_battery_"))
        (d / "folder.yaml").mkdir()
        (d / "binary.yaml").write_bytes(b"\x00\x01\x02name: x")
        (d / "latin1.json").write_bytes(b"\xff\xfe{}")
        (d / "plain").write_text("not an arch")
        _FOLDER.append(d)
    return _FOLDER[0]


def cli(*argv: str):
    """A call running `python -m sim` with `argv` ({d} is the temporary folder)."""
    return lambda: run([a.replace("{d}", str(folder())) for a in argv])


CASES = [
    ("cli-arch-directory", cli("evaluate", "--arch", "{d}/folder.yaml"), CLIError, "is a directory"),
    ("cli-arch-bare-directory", cli("evaluate", "--arch", "{d}"), CLIError, "is a directory; give an arch file"),
    ("cli-arch-binary", cli("evaluate", "--arch", "{d}/binary.yaml"), CLIError, "binary"),
    ("cli-arch-not-utf8", cli("evaluate", "--arch", "{d}/latin1.json"), CLIError, "--arch: "),
    ("cli-arch-no-suffix-file", cli("roofline", "--arch", "{d}/plain"), CLIError, "is neither a preset name"),
    ("cli-arch-missing-file", cli("roofline", "--arch", "{d}/nope.yaml"), CLIError, "no such file"),
    ("cli-arch-unknown-preset", cli("roofline", "--arch", "tpu9"), CLIError, "unknown preset 'tpu9'"),
    ("cli-arch-name-too-long", cli("roofline", "--arch", "x" * 5000), CLIError, "unknown preset"),
    ("cli-plot-is-a-file", cli("roofline", *TINY, "--plot", "{d}/plain"), CLIError, "--plot: "),
    ("cli-plot-under-a-file", cli("evaluate", *TINY, "--arch", "fusemax", "--plot", "{d}/plain/figs"), CLIError,
     "--plot: cannot create the folder"),
    ("cli-out-is-a-file", cli("report", "--out", "{d}/plain"), CLIError, "--out: "),
    ("cli-default-job-out-is-a-file", cli("--out", "{d}/plain"), CLIError, "--out: "),
    ("cli-unknown-baseline", cli("evaluate", *TINY, "--arch", "fusemax", "--baseline", "warp9"), CLIError,
     "--baseline: 'warp9' is not among the evaluated dataflows"),
    ("cli-unknown-dataflow", cli("evaluate", *TINY, "--arch", "fusemax", "--dataflow", "warp9"), CLIError,
     "unknown dataflow 'warp9'"),
    ("cli-dataflow-refuses", cli("evaluate", *TINY, "--arch", "fusemax", "--dataflow", "flash2"), CLIError,
     "--dataflow flash2: "),
    ("cli-layer-without-model", cli("roofline", "--layer"), CLIError, "--layer needs --model"),
    ("cli-model-without-seq", cli("roofline", "--model", "bert"), CLIError, "--model bert needs --seq N"),
    ("cli-model-fixes-heads", cli("roofline", "--model", "bert", "--seq", "64", "--heads", "4"), CLIError,
     "--heads cannot be combined with --model"),
    ("cli-unknown-variant", cli("roofline", "--variant", "mhx"), CLIError, "--variant: unknown attention variant"),
    ("cli-param-not-an-argument", cli("roofline", "--param", "foo=3"), CLIError,
     "--param foo=... is not an argument of this workload"),
    ("cli-sweep-unknown-dataflow", cli("sweep", *TINY, "--arch", "fusemax", "--dataflow", "warp9"), CLIError,
     "--dataflow: unknown dataflow 'warp9'"),
    ("cli-explore-unknown-dataflow", cli("explore", *TINY, "--arch", "fusemax", "--dataflow", "warp9"), CLIError,
     "--dataflow: unknown dataflow 'warp9'"),
    ("cli-sweep-axis-on-wrong-arch", cli("sweep", *TINY, "--arch", "fusemax", "--sms", "64"), CLIError,
     "--sms: cannot vary fusemax"),
]
