"""Measured rows as comparison points: the harness CSV (`validation.measure`, one row per case) and the public
FlashAttention-2 table (`validation.data.fa2_public`) both become `Point`s; `preset_for` names the GPU preset that
models a recorded device."""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from validation.errors import ValidationError

HARNESS_KEY = "backend_requested"
PUBLIC_KEYS = ("kernel", "pass", "seq", "tflops")
# torch dtype names (the harness's) → workloads dtype names; test_flop_convention checks their byte sizes agree.
DTYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32", "float8_e4m3fn": "fp8"}
# Device-name patterns → GPU preset (accel.preset); checked in order.
DEVICE_PRESETS = (("H200", "h200"), ("H100", "h100"), ("A100", "a100"), ("B200", "b200"))
PUBLIC_SUITE = "fa2_public"
MAX_ROWS = 1_000_000  # rows read from one CSV; a larger file is refused rather than read into memory


@dataclass(frozen=True)
class Point:
    """One measured row, normalised. `measured_ms` is None when the row has no time (failed, OOM, not reported);
    `flops` is the row's own count, used only to convert between its time and its TFLOP/s."""

    source: str
    row: int                   # 1-based data row in `source`
    suite: str
    case: str
    form: str
    backend: str               # requested backend (harness) or kernel (public table)
    dtype: str
    device: str                # device name as recorded
    device_type: str           # "cuda", "cpu" ("cuda" for the public table)
    status: str                # the measurement's status (ok, unsupported, oom, error, skipped, not reported)
    reason: str
    flops: float | None
    measured_ms: float | None
    pass_: str = "fwd"
    batch: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    seq_q: int | None = None
    seq_kv: int | None = None
    head_dim: int | None = None
    head_dim_v: int | None = None
    causal: bool = False
    spatial: tuple[int, ...] = ()
    window: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    splits: int | None = None
    m: int | None = None
    n: int | None = None
    k: int | None = None
    extra: str = ""

    @property
    def layout(self) -> tuple[int, ...]:
        """The token layout: `spatial`, or for a dense baseline of a local shape the `spatial=` in `extra`."""
        if self.spatial:
            return self.spatial
        m = re.search(r"(?:^|;)spatial=([0-9x]+)", self.extra)
        return _dims(m.group(1)) if m else ()

    @property
    def label(self) -> str:
        """suite/backend/case/dtype, for messages."""
        return f"{self.suite}/{self.backend}/{self.case}/{self.dtype}"

    @property
    def measured_tflops(self) -> float | None:
        """The row's FLOPs over its measured time (None without either)."""
        if not self.flops or not self.measured_ms:
            return None
        return self.flops / (self.measured_ms * 1e-3) / 1e12


def _int(text: str) -> int | None:
    return int(float(text)) if text not in ("", None) else None


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("x")) if text else ()


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _measured(r: dict) -> tuple[str, str, float | None]:
    """(status, reason, time): an ok row whose time is not a positive finite number becomes an error row."""
    status, reason = r["status"], r.get("reason", "")
    if status != "ok":
        return status, reason, None
    ms = _float(r["time_ms"])
    if ms is None:
        return "error", f"time_ms {str(r['time_ms'])[:40]!r} is not a positive finite number", None
    return status, reason, ms


def _harness_point(source: str, i: int, r: dict) -> Point:
    status, reason, ms = _measured(r)
    return Point(source=source, row=i, suite=r["suite"], case=r["case"], form=r["form"], backend=r["backend_requested"],
                 dtype=r["dtype"], device=r.get("device_name", ""), device_type=r.get("device_type", ""),
                 status=status, reason=reason, flops=_float(r.get("flops", "")), measured_ms=ms, batch=_int(r["batch"]), heads=_int(r["heads"]),
                 kv_heads=_int(r["kv_heads"]), seq_q=_int(r["seq_q"]), seq_kv=_int(r["seq_kv"]),
                 head_dim=_int(r["head_dim"]), head_dim_v=_int(r["head_dim_v"]), causal=r["causal"] in ("1", "True"),
                 spatial=_dims(r["spatial"]), window=_dims(r["window"]), stride=_dims(r["stride"]),
                 dilation=_dims(r["dilation"]), splits=_int(r["splits"]), m=_int(r["m"]), n=_int(r["n"]),
                 k=_int(r["k"]), extra=r.get("extra", ""))


def _public_point(source: str, i: int, r: dict) -> Point:
    causal = r["causal"] in ("1", "True")
    seq, d = int(r["seq"]), int(r["head_dim"])
    measured = _float(r["time_ms"])
    status = "ok" if measured else ("oom" if "OOM" in r["reason"] else "not reported")
    return Point(source=source, row=i, suite=PUBLIC_SUITE,
                 case=f"{r['kernel']}_d{d}{'_causal' if causal else ''}_s{seq}_{r['pass']}", form=r["pass"],
                 backend=r["kernel"], dtype=r["dtype"], device=r["gpu"], device_type="cuda", status=status,
                 reason=r["reason"], flops=_float(r["flops"]), measured_ms=measured, pass_=r["pass"],
                 batch=int(r["batch"]), heads=int(r["heads"]), kv_heads=int(r["heads"]), seq_q=seq, seq_kv=seq,
                 head_dim=d, head_dim_v=d, causal=causal)


def read_points(path: Path) -> list[Point]:
    """Every data row of a harness CSV or of the public FA2 table as a Point (none dropped). A file in neither format,
    not UTF-8 text, not valid CSV, or with a row that does not parse raises ValidationError naming the file and row
    (OSError for a file that cannot be opened)."""
    path = Path(path)
    with path.open(newline="") as fh:
        try:
            return _read(path, csv.DictReader(fh, restval=""))  # a short row reads as empty cells, not None
        except UnicodeDecodeError:
            raise ValidationError(f"{path}: not a text CSV file (it does not decode as UTF-8)") from None


def _read(path: Path, reader: csv.DictReader) -> list[Point]:
    try:
        cols = reader.fieldnames or []
    except csv.Error as exc:
        raise ValidationError(f"{path}: the header is not valid CSV ({str(exc)[:120]})") from None
    if HARNESS_KEY in cols:
        return _rows(path, reader, _harness_point)
    if all(c in cols for c in PUBLIC_KEYS):
        return _rows(path, reader, _public_point)
    raise ValidationError(f"{path}: not a harness CSV (no {HARNESS_KEY!r} column) nor the public FA2 table "
                          f"(columns {', '.join(PUBLIC_KEYS)}); header: {', '.join(map(str, cols[:8]))[:200]}...")


def _rows(path: Path, reader: csv.DictReader, make) -> list[Point]:
    points = []
    i = 0
    try:
        for i, r in enumerate(reader, start=1):
            if i > MAX_ROWS:
                raise ValidationError(f"{path}: more than {MAX_ROWS} rows; split the file")
            points.append(make(path.name, i, r))
    except csv.Error as exc:
        raise ValidationError(f"{path}: row {i + 1} is not valid CSV ({str(exc)[:120]})") from None
    except ValidationError:
        raise
    except UnicodeDecodeError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"{path}: row {i} does not parse ({type(exc).__name__}: {str(exc)[:120]})") from None
    return points


def preset_for(device: str, device_type: str) -> str | None:
    """The GPU preset that models a recorded device name, or None (CPU, unknown GPU)."""
    if device_type == "cpu":
        return None
    for pattern, name in DEVICE_PRESETS:
        if pattern in device.upper():
            return name
    return None
