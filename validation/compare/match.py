"""The ordered table that says which simulated kernel models each measured row.

`target(point)` returns the workloads cascade to build and the dataflows that model the backend (tried in order; the
first whose `supports` accepts the cascade is used), or the reason no simulated kernel models the row.

Backend → dataflow (BACKEND_DATAFLOWS): PyTorch's flash backend and the `flash_attn` package are FlashAttention-2 →
`flash2`; the `flash_attn_interface` package is FlashAttention-3 → `flash3`; cuDNN's fused
attention (wgmma on Hopper) → `cudnn`, else `flash3`; math (unfused) → `gpu-unfused`; mem-efficient → the nearest,
`flash2` (a tiled online-softmax kernel on the mma.sync path); decode rows of the flash backend and the split-KV
implementation → `flash-decoding`; absorbed-MLA rows → `mla-decode`; FlexAttention / NATTEN local attention →
`gna`; matmul → `gemm`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from validation.compare.points import DTYPES, Point


@dataclass(frozen=True)
class Target:
    """What to simulate for a point: `workloads.attention(variant, **shape)` (or `workloads.gemm(**shape)` for
    variant "gemm") under the first of `dataflows` that supports it."""

    variant: str
    shape: tuple[tuple[str, Any], ...]
    dataflows: tuple[str, ...]
    note: str = ""

    def build(self) -> Any:
        """The workloads cascade of this target."""
        import workloads

        kw = dict(self.shape)
        return workloads.gemm(**kw) if self.variant == "gemm" else workloads.attention(self.variant, **kw)


BACKEND_DATAFLOWS: dict[str, tuple[tuple[str, ...], str]] = {
    "flash2": (("flash2",), ""),
    "standard": (("gpu-unfused",), ""),
    "sdpa_flash": (("flash2",), ""),
    "flash_attn": (("flash2",), ""),
    "flash_attn3": (("flash3",), ""),
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


def _refusal(p: Point) -> str | None:
    """Why no simulated kernel models `p`, before looking at its backend; None if one may."""
    if p.measured_ms is None:
        why = f": {p.reason}" if p.reason else ""
        return f"not measured ({p.status}{why})"
    if p.pass_ != "fwd":
        return "no model: backward pass (the GPU dataflows model forward kernels only)"
    if p.dtype not in DTYPES:
        return f"no model: dtype {p.dtype!r} (known: {', '.join(DTYPES)})"
    if p.form == "copy":
        return "no model: device-to-device copy is a ceiling measurement (it calibrates the preset's measured HBM " \
               "bandwidth), not a kernel dataflow"
    if p.form in COMPOSITE_FORMS:
        return f"no model: {COMPOSITE_FORMS[p.form]}"
    if p.backend not in BACKEND_DATAFLOWS:
        return f"no model: backend {p.backend!r} has no dataflow (known: {', '.join(BACKEND_DATAFLOWS)})"
    return None


def _gemm_target(p: Point, dtype: str, dataflows: tuple[str, ...], note: str) -> Target | str:
    if None in (p.m, p.n, p.k):
        return f"no model: batched matmul piece of {p.form} (operand shapes are not recorded in the row)"
    return Target("gemm", (("m", p.m), ("n", p.n), ("k", p.k), ("dtype", dtype)), dataflows, note)


def _gna_target(p: Point, dtype: str, dataflows: tuple[str, ...], note: str) -> Target | str:
    if not p.spatial or not p.window:
        return "no model: local-attention row without spatial/window"
    causal = _causal_dims(p)
    shape = dict(batch=p.batch, heads=p.heads, spatial=p.spatial, window=p.window, head_dim=p.head_dim,
                 stride=p.stride or 1, dilation=p.dilation or 1,
                 causal=causal if len(causal) == len(p.spatial) else p.causal, dtype=dtype)
    return Target("gna", tuple(shape.items()), dataflows, note)


def _dense_target(p: Point, dtype: str, dataflows: tuple[str, ...], note: str) -> Target:
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


def target(p: Point) -> Target | str:
    """The simulated kernel for `p`, or the reason there is none ("no model: ..." / "not measured: ...")."""
    refused = _refusal(p)
    if refused:
        return refused
    dtype = DTYPES[p.dtype]
    dataflows, note = BACKEND_DATAFLOWS[p.backend]
    if dataflows == ("gemm",):
        return _gemm_target(p, dtype, dataflows, note)
    if None in (p.batch, p.heads, p.seq_q, p.seq_kv, p.head_dim):
        return "no model: the row records no attention shape"
    if dataflows == ("gna",):
        return _gna_target(p, dtype, dataflows, note)
    return _dense_target(p, dtype, dataflows, note)
