"""Fuzzing `python -m sim`'s argument handling: random subcommands, flags and values (numbers, odd strings, paths to
folders, binary and missing files) either run or exit 2 with a bounded message naming a flag — never a traceback,
never another status. Shapes are kept small where a run would simulate, so the fuzz stays quick."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sim.report.cli import main

FAST, SLOW = 60, 1500
fast = settings(max_examples=FAST, deadline=None, suppress_health_check=list(HealthCheck))
slow = settings(max_examples=SLOW, deadline=None, suppress_health_check=list(HealthCheck))
MAX_ERROR_CHARS = 2500      # the CLI bounds a message to 2000 characters, plus its prefix

_DIR = Path(tempfile.mkdtemp(prefix="cli_fuzz_"))
(_DIR / "dir.yaml").mkdir()
(_DIR / "bin.yaml").write_bytes(b"\x00\xff\x00")
(_DIR / "text.json").write_text("{\"name\": 3")
(_DIR / "file").write_text("x")
PATHS = [str(_DIR / n) for n in ("dir.yaml", "bin.yaml", "text.json", "file", "missing.yaml", "file/below")]

ODD = ["", "-1", "0", "1e3", "0x10", "4k", "٣", "nan", "inf", "2" * 30, " 7", "a,b", "128x", "x128", "(((", "é"]
small = st.integers(-2, 64).map(str)
value = st.one_of(small, st.sampled_from(ODD), st.text(max_size=12))
archs = st.sampled_from(["fusemax", "flat", "h100", "tpu9", *PATHS])
outputs = st.sampled_from([*PATHS, "/proc/nope/x"])     # no writable folder: test_cli draws the figures
SHAPE = ["--batch", "--heads", "--kv-heads", "--seq", "--seq-kv", "--head-dim", "--head-dim-v", "--key-tile"]


@st.composite
def workload_flags(draw) -> list[str]:
    out: list[str] = []
    for flag in draw(st.lists(st.sampled_from(SHAPE), max_size=3, unique=True)):
        out += [flag, draw(value)]
    if draw(st.booleans()):
        out += ["--variant", draw(st.sampled_from(["mha", "gqa", "mqa", "mla", "gna", "nope", "MHA"]))]
    if draw(st.booleans()):
        out += ["--model", draw(st.sampled_from(["bert", "llama3-8b", "gpt9"]))]
    for flag in draw(st.lists(st.sampled_from(["--causal", "--layer", "--json", "--csv", "--quiet"]), max_size=2)):
        out.append(flag)
    if draw(st.booleans()):
        out += ["--param", draw(st.sampled_from(["window=4x4", "foo=1", "=3", "window", "softmax=2pass",
                                                 "form=absorbed", "dtype=fp8"]))]
    return out


@st.composite
def argv(draw) -> list[str]:
    command = draw(st.sampled_from(["list", "roofline", "evaluate", "report", "", "frob"]))
    out = [command] if command else []
    if command in ("list", "roofline", "evaluate"):
        out += workload_flags_small(draw)
        out += ["--arch", draw(archs)]
    if command in ("roofline", "evaluate") and draw(st.booleans()):
        out += ["--plot", draw(outputs)]
    if command == "evaluate":
        out += draw(st.sampled_from([[], ["--dataflow", "example-serial"], ["--dataflow", "warp9"],
                                     ["--baseline", "nope"], ["--dataflow", "flash2"]]))
    if command in ("report", ""):
        out += ["--out", draw(st.sampled_from(PATHS[3:]))]   # a file or below one: no gallery run in the fuzz
    return out


def workload_flags_small(draw) -> list[str]:
    """Workload flags whose sizes stay tiny (a run that gets through simulates quickly)."""
    flags = draw(workload_flags())
    return ["--seq", "64", "--heads", "2", "--head-dim", "16", *flags] if "--model" not in flags else flags


def run_cli(args: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(args)
        except SystemExit as e:            # argparse's own errors
            status = e.code
    return status, err.getvalue()


def check(args: list[str]) -> None:
    status, err = run_cli(args)
    assert status in (0, 2), (args, status, err[-500:])
    assert "Traceback" not in err, (args, err[-800:])
    if status == 2:
        assert len(err) <= MAX_ERROR_CHARS and "error:" in err, (args, err[-300:])


@fast
@given(argv())
def test_cli_arguments_run_or_exit_2_naming_the_problem(args):
    check(args)


@pytest.mark.slow
@slow
@given(argv())
def test_cli_arguments_fuzz_slow(args):
    check(args)
