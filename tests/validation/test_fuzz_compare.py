"""Fuzzing the comparison's inputs: harness and public-table CSVs with arbitrary cells either read as points or are
refused with ValidationError naming the file; every point then gets a target or a reason, and every target either
builds its cascade or is refused by workloads with CascadeError (which the comparison reports as "no model") —
nothing else escapes."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from validation.compare.match import Target, target
from validation.compare.points import PUBLIC_KEYS, read_points
from validation.errors import ValidationError
from validation.harness.measure import COLUMNS
from workloads import CascadeError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
PUBLIC_COLUMNS = ["gpu", "kernel", "pass", "dtype", "batch", "seq", "heads", "head_dim", "causal", "tflops", "flops",
                  "time_ms", "reason", "source"]
TOKENS = ["", "0", "1", "-1", "2", "7", "64", "128", "4096", "1e300", "inf", "nan", "-0", "1.5", "two", "16x16",
          "8x8", "1x0", "4x", "x", "0x3", "ok", "error", "sdpa_flash", "sdpa_cudnn", "sdpa_math", "flex_compiled",
          "split_kv_torch", "matmul", "natten", "bfloat16", "float16", "float8_e4m3fn", "int4", "fwd", "fwd_bwd",
          "gna_flex", "mla_absorbed_sdpa_fold", "decode", "local", "attention", "NVIDIA H100 80GB HBM3", "cuda", "cpu",
          "causal_dims=1x0", "spatial=16x16", "True", "1" * 400, "é€\u202e", "a,b", '"q"', "\t"]
cell = st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))
HARNESS_BASE = {"suite": "attention", "case": "c", "form": "sdpa", "dtype": "bfloat16", "backend_requested": "sdpa_flash",
                "batch": "2", "heads": "8", "kv_heads": "8", "seq_q": "256", "seq_kv": "256", "head_dim": "64",
                "head_dim_v": "64", "causal": "0", "flops": "1e9", "time_ms": "1", "status": "ok",
                "device_type": "cuda", "device_name": "NVIDIA H100 80GB HBM3"}
PUBLIC_BASE = {"gpu": "H100 SXM5", "kernel": "flash2", "pass": "fwd", "dtype": "float16", "batch": "16", "seq": "1024",
               "heads": "16", "head_dim": "128", "causal": "0", "tflops": "350", "flops": "1e12", "time_ms": "3",
               "reason": "", "source": "x"}


def _write(columns: list[str], base: dict, edits: dict) -> Path:
    path = Path(tempfile.mkdtemp(prefix="fuzz_compare_")) / "rows.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerow({**{c: "" for c in columns}, **base, **edits})
    return path


def _check(path: Path) -> None:
    try:
        points = read_points(path)
    except ValidationError as exc:
        assert str(path) in str(exc) and len(str(exc)) < 1000
        return
    for p in points:
        t = target(p)
        if isinstance(t, str):
            assert t.startswith(("no model", "not measured")) and len(t) < 1000, t
            continue
        assert isinstance(t, Target)
        try:
            t.build()
        except CascadeError:
            pass


def _edits(columns: list[str]):
    return st.dictionaries(st.sampled_from(columns), cell, max_size=6)


@FAST
@given(_edits(COLUMNS))
def test_harness_rows_read_or_refuse(edits) -> None:
    """Harness rows with arbitrary cells: points with a target or a reason, or a ValidationError naming the file."""
    _check(_write(COLUMNS, HARNESS_BASE, edits))


@FAST
@given(_edits(PUBLIC_COLUMNS))
def test_public_rows_read_or_refuse(edits) -> None:
    """Rows of the public table's format with arbitrary cells: the same contract."""
    _check(_write(PUBLIC_COLUMNS, PUBLIC_BASE, edits))


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_read_or_refuse(data) -> None:
    """Any file content behind a harness header: points or a ValidationError, never a raw exception."""
    path = Path(tempfile.mkdtemp(prefix="fuzz_compare_")) / "rows.csv"
    path.write_bytes(",".join(COLUMNS).encode() + b"\n" + data)
    _check(path)


@pytest.mark.slow
@SLOW
@given(_edits(COLUMNS), _edits(PUBLIC_COLUMNS))
def test_rows_read_or_refuse_many(harness, public) -> None:
    """More examples of both formats."""
    _check(_write(COLUMNS, HARNESS_BASE, harness))
    _check(_write(PUBLIC_COLUMNS, PUBLIC_BASE, public))


def test_public_keys_are_columns() -> None:
    """The public format is recognised by columns the table has."""
    assert set(PUBLIC_KEYS) <= set(PUBLIC_COLUMNS)
