"""Measured rows as comparison points, and the ordered table that says which simulated kernel models each one.

Two input formats: the harness CSV (`validation.measure`, one row per case) and the public FlashAttention-2 table
(`validation/data/fa2_h100_public.csv`, `validation.fa2_public`). Both become `Point`s. `target(point)` returns the
workloads cascade to build and the dataflows that model the backend (tried in order; the first whose `supports`
accepts the cascade is used), or the reason no simulated kernel models the row.

Backend → dataflow (BACKEND_DATAFLOWS): PyTorch's flash backend is FlashAttention-2 → `flash2`; cuDNN's fused
attention (wgmma on Hopper) → `cudnn`, else `flash3`; math (unfused) → `gpu-unfused`; mem-efficient → the nearest,
`flash2` (a tiled online-softmax kernel on the mma.sync path); decode rows of the flash backend and the split-KV
implementation → `flash-decoding`; absorbed-MLA rows → `mla-decode`; FlexAttention / NATTEN local attention →
`gna`; matmul → `gemm`.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS_KEY = "backend_requested"
PUBLIC_KEYS = ("kernel", "pass", "seq", "tflops")
DTYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32", "float8_e4m3fn": "fp8"}
# Device-name patterns → GPU preset (accel.preset); checked in order.
DEVICE_PRESETS = (("H200", "h200"), ("H100", "h100"), ("A100", "a100"), ("B200", "b200"))
PUBLIC_SUITE = "fa2_public"


@dataclass(frozen=True)
class Point:
    """One measured row, normalised. `measured_ms` is None when the row has no time (failed, OOM, not reported)."""

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
        return f"{self.suite}/{self.backend}/{self.case}/{self.dtype}"

    @property
    def measured_tflops(self) -> float | None:
        if not self.flops or not self.measured_ms:
            return None
        return self.flops / (self.measured_ms * 1e-3) / 1e12


@dataclass(frozen=True)
class Target:
    """What to simulate for a point: `workloads.attention(variant, **shape)` (or `workloads.gemm(**shape)` for
    variant "gemm") under the first of `dataflows` that supports it."""

    variant: str
    shape: tuple[tuple[str, Any], ...]
    dataflows: tuple[str, ...]
    note: str = ""

    def build(self) -> Any:
        import workloads

        kw = dict(self.shape)
        return workloads.gemm(**kw) if self.variant == "gemm" else workloads.attention(self.variant, **kw)


# ---------------------------------------------------------------- reading
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


def _harness_point(source: str, i: int, r: dict) -> Point:
    ok = r["status"] == "ok"
    return Point(source=source, row=i, suite=r["suite"], case=r["case"], form=r["form"], backend=r["backend_requested"],
                 dtype=r["dtype"], device=r.get("device_name", ""), device_type=r.get("device_type", ""),
                 status=r["status"], reason=r.get("reason", ""), flops=_float(r.get("flops", "")),
                 measured_ms=_float(r["time_ms"]) if ok else None, batch=_int(r["batch"]), heads=_int(r["heads"]),
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
    """Every data row of a harness CSV or of the public FA2 table as a Point (none dropped)."""
    with Path(path).open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if HARNESS_KEY in cols:
            make = _harness_point
        elif all(c in cols for c in PUBLIC_KEYS):
            make = _public_point
        else:
            raise ValueError(f"{path}: not a harness CSV (no {HARNESS_KEY!r} column) nor the public FA2 table "
                             f"(columns {', '.join(PUBLIC_KEYS)}); header: {', '.join(cols[:8])}...")
        return [make(Path(path).name, i, r) for i, r in enumerate(reader, start=1)]


# ---------------------------------------------------------------- devices
def preset_for(device: str, device_type: str) -> str | None:
    """The GPU preset that models a recorded device name, or None (CPU, unknown GPU)."""
    if device_type == "cpu":
        return None
    for pattern, name in DEVICE_PRESETS:
        if pattern in device.upper():
            return name
    return None


# ---------------------------------------------------------------- matching table
BACKEND_DATAFLOWS: dict[str, tuple[tuple[str, ...], str]] = {
    "flash2": (("flash2",), ""),
    "standard": (("gpu-unfused",), ""),
    "sdpa_flash": (("flash2",), ""),
    "sdpa_cudnn": (("cudnn", "flash3"), ""),
    "sdpa_math": (("gpu-unfused",), ""),
    "sdpa_efficient": (("flash2",), "mem-efficient modelled by the nearest dataflow, flash2"),
    "split_kv_torch": (("flash-decoding",), ""),
    "flex_compiled": (("gna",), ""),
    "natten": (("gna",), ""),
    "matmul": (("gemm",), ""),
    "scaled_mm": (("gemm",), ""),
}
# Forms that time several kernels (or extra tensor work) as one call: no single simulated kernel models them.
COMPOSITE_FORMS = {
    "gqa_kv_repeat": "K/V repeat_interleave copies + SDPA (two kernels, no composite dataflow)",
    "moh_dense_masked": "MoH: SDPA then a gating multiply (two kernels)",
    "moh_gathered": "MoH: gathers, two SDPA calls and a scatter (several kernels)",
    "mla_naive_full": "MLA naive path: up-projection matmul, concat and SDPA (several kernels)",
    "mla_absorbed_full": "MLA absorbed path: two projections around SDPA (several kernels)",
}
MLA_ABSORBED_FORMS = ("mla_absorbed_sdpa", "mla_absorbed_sdpa_fold", "mla_absorbed_split_kv")
DECODE_MAX_QUERY = 16  # query rows of a decode-suite row (1 or 4 measured)


def _causal_dims(p: Point) -> tuple[bool, ...]:
    m = re.search(r"causal_dims=([0-9x]+)", p.extra)
    if m:
        return tuple(c == "1" for c in m.group(1).split("x"))
    return ((p.causal,) + (False,) * (len(p.spatial) - 1)) if p.spatial else (p.causal,)


def _attention_shape(p: Point, dtype: str) -> tuple[str, dict]:
    shape = dict(batch=p.batch, heads=p.heads, seq=p.seq_q, seq_kv=p.seq_kv, head_dim=p.head_dim,
                 head_dim_v=p.head_dim_v or p.head_dim, causal=p.causal, dtype=dtype)
    if p.kv_heads and p.heads and p.kv_heads != p.heads:
        return "gqa", dict(shape, kv_heads=p.kv_heads)
    return "mha", shape


def target(p: Point) -> Target | str:
    """The simulated kernel for `p`, or the reason there is none ("no model: ..." / "not measured: ...")."""
    if p.measured_ms is None:
        why = f": {p.reason}" if p.reason else ""
        return f"not measured ({p.status}{why})"
    if p.pass_ != "fwd":
        return "no model: backward pass (the GPU dataflows model forward kernels only)"
    dtype = DTYPES.get(p.dtype)
    if dtype is None:
        return f"no model: dtype {p.dtype!r} (known: {', '.join(DTYPES)})"
    if p.form == "copy":
        return "no model: device-to-device copy is a ceiling measurement (it calibrates the preset's measured HBM " \
               "bandwidth), not a kernel dataflow"
    if p.form in COMPOSITE_FORMS:
        return f"no model: {COMPOSITE_FORMS[p.form]}"
    if p.backend not in BACKEND_DATAFLOWS:
        return f"no model: backend {p.backend!r} has no dataflow (known: {', '.join(BACKEND_DATAFLOWS)})"
    dataflows, note = BACKEND_DATAFLOWS[p.backend]
    if dataflows == ("gemm",):
        if None in (p.m, p.n, p.k):
            return f"no model: batched matmul piece of {p.form} (operand shapes are not recorded in the row)"
        return Target("gemm", (("m", p.m), ("n", p.n), ("k", p.k), ("dtype", dtype)), dataflows, note)
    if None in (p.batch, p.heads, p.seq_q, p.seq_kv, p.head_dim):
        return "no model: the row records no attention shape"
    if dataflows == ("gna",):
        if not p.spatial or not p.window:
            return "no model: local-attention row without spatial/window"
        causal = _causal_dims(p)
        shape = dict(batch=p.batch, heads=p.heads, spatial=p.spatial, window=p.window, head_dim=p.head_dim,
                     stride=p.stride or 1, dilation=p.dilation or 1,
                     causal=causal if len(causal) == len(p.spatial) else p.causal, dtype=dtype)
        return Target("gna", tuple(shape.items()), dataflows, note)
    variant, shape = _attention_shape(p, dtype)
    if p.form in MLA_ABSORBED_FORMS:
        # MQA over the cached latent row (values = its first F dims): what `mla-decode` models.
        variant, shape = "gqa", dict(shape, kv_heads=1)
        dataflows = ("mla-decode",) if p.backend == "split_kv_torch" else dataflows + ("mla-decode",)
        note = "absorbed MLA as MQA over the 576-d latent" + (f"; {note}" if note else "")
    elif p.suite == "decode" and p.backend == "sdpa_flash" and p.seq_q <= DECODE_MAX_QUERY:
        dataflows = ("flash-decoding", "flash2")
        note = "decode shape: flash backend modelled as flash-decoding"
    if p.splits and "flash-decoding" in dataflows and p.backend == "split_kv_torch":
        note = (note + "; " if note else "") + f"measured with {p.splits} KV splits (the dataflow plans its own)"
    return Target(variant, tuple(shape.items()), dataflows, note)
