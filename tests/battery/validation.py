"""Bad inputs to the validation layer: each raises `ValidationError` naming the file, row, flag or parameter and what
would work — never a raw exception. Files the cases need are made in a private temporary folder when a case runs."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from validation.compare import cli
from validation.compare.points import read_points
from validation.data.fa2_public import CSV_PATH as FA2_CSV
from validation.errors import ValidationError
from validation.figures import docs
from validation.harness import counts, timing
from validation.harness.cases import base_row
from validation.harness.gna import dense_gna_mask
from validation.harness.measure import COLUMNS
from validation.harness.suites.sdpa import sdpa_case, sdpa_context
from validation.reproductions import fusemax

_FOLDER: list[Path] = []


def _harness(path: Path, **cells) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerow({**{c: "" for c in COLUMNS}, "status": "ok", "time_ms": "1", **cells})


def folder() -> Path:
    """A temporary folder with a foreign CSV, harness CSVs with a bad cell, a binary file, a plain file, a folder."""
    if not _FOLDER:
        d = Path(tempfile.mkdtemp(prefix="validation_battery_"))
        (d / "foreign.csv").write_text("x,y\n1,2\n")
        _harness(d / "bad_batch.csv", batch="two")
        _harness(d / "inf_batch.csv", batch="inf")
        (d / "binary.csv").write_bytes(b"\xff\xfe\x00\x81" * 64)
        (d / "plain").write_text("a file, not a folder")
        (d / "dir.csv").mkdir()
        _FOLDER.append(d)
    return _FOLDER[0]


def compare(*argv: str):
    """`python -m validation.compare` with `argv` ({d} is the temporary folder)."""
    return lambda: cli.run([a.replace("{d}", str(folder())) for a in argv])


def _bad_case():
    case = sdpa_case("attention", "x", "bfloat16", "flash", 1, 2, 2, 8, 8, 16)
    return base_row(type(case)(**{**case.__dict__, "params": {"heads_": 2}}))


CASES = [
    ("validation-foreign-csv", lambda: read_points(folder() / "foreign.csv"), ValidationError, "not a harness CSV"),
    ("validation-row-does-not-parse", lambda: read_points(folder() / "bad_batch.csv"), ValidationError,
     "row 1 does not parse"),
    ("validation-row-infinite-int", lambda: read_points(folder() / "inf_batch.csv"), ValidationError,
     "row 1 does not parse (OverflowError"),
    ("validation-binary-file", lambda: read_points(folder() / "binary.csv"), ValidationError, "not a text CSV file"),
    ("validation-compare-directory", compare("{d}/dir.csv", "--out", "{d}/o"), ValidationError, "is a directory"),
    ("validation-compare-missing-file", compare("{d}/nope.csv", "--out", "{d}/o"), ValidationError,
     "cannot be read"),
    ("validation-compare-out-is-a-file", compare(str(FA2_CSV), "--out", "{d}/plain"), ValidationError,
     "--out"),
    ("validation-compare-device-kind", compare("{d}/foreign.csv", "--out", "{d}/o", "--device-kind", "tpu"),
     ValidationError, "invalid choice: 'tpu'"),
    ("validation-compare-no-files", compare("--out", "{d}/o"), ValidationError, "arguments are required: files"),
    ("validation-fusemax-out-file", lambda: fusemax.run(folder() / "plain", quick=True, plots=False),
     ValidationError, "--out"),
    ("validation-causal-not-square", lambda: sdpa_case("decode", "x", "bfloat16", "flash", 1, 8, 8, 4, 1024, 64,
                                                       causal=True), ValidationError, "causal SDPA needs seq_q == seq_kv"),
    ("validation-unknown-dtype", lambda: counts.dtype_bytes("int3"), ValidationError, "unknown dtype 'int3'"),
    ("validation-unknown-sdpa-backend", lambda: sdpa_context("turbo"), ValidationError, "unknown SDPA backend 'turbo'"),
    ("validation-gna-stride-over-window", lambda: dense_gna_mask((8,), (2,), (3,)), ValidationError,
     "stride 3 > window 2"),
    ("validation-gna-window-over-input", lambda: dense_gna_mask((8,), (5,), (1,), (2,)), ValidationError,
     "window 5 x dilation 2 > input 8"),
    ("validation-unknown-row-column", _bad_case, ValidationError, "unknown parameter columns ['heads_']"),
    ("validation-no-timing-samples", lambda: timing.summarize([], "perf_counter"), ValidationError,
     "no timing samples"),
    ("validation-docs-without-markers", lambda: docs.with_block("no markers", "fa2", "x"), ValidationError,
     "no generated block 'fa2'"),
]
