"""Attention cascades (attention-einsums.md §1): the 3-pass, 2-pass and 1-pass softmax cores, and MHA.

`attention(name, **shape)` dispatches to a registered variant builder; every builder returns a `Cascade`
whose inputs are Q [B,H,M,E], K [B,·,P,E], V [B,·,P,F] and whose output (`cascade.output`) is [B,H,M,F].
"""
from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from .build import cascade
from .errors import CascadeError
from .ir import Cascade

# The three softmax cores over one (b, h) pair, written once with `{q}`/`{kv}` standing for the query-side
# and key/value-side leading indices (e.g. "b,h" for MHA; "b,g,r" / "b,g" for grouped heads).
CORES = {
    "3pass": """
{scores}
GM[{q},m] = max(p: QK[{q},m,p])
SN[{q},m,p] = exp(QK[{q},m,p] - GM[{q},m])
SD[{q},m] = SN[{q},m,p]
A[{q},m,p] = SN[{q},m,p] / SD[{q},m]
{AV}[{q},m,{f}] = A[{q},m,p] * {V}[{kv},p,{f}]
""",
    "2pass": """
split p -> p1, p0
{scores}
LM[{q},m,p1] = max(p0: BQK[{q},m,p1,p0])
SLN[{q},m,p1,p0] = exp(BQK[{q},m,p1,p0] - LM[{q},m,p1])
SLD[{q},m,p1] = SLN[{q},m,p1,p0]
GM[{q},m] = max(p1: LM[{q},m,p1])
CF[{q},m,p1] = exp(LM[{q},m,p1] - GM[{q},m])
SD[{q},m] = SLD[{q},m,p1] * CF[{q},m,p1]
SN[{q},m,p1,p0] = SLN[{q},m,p1,p0] * CF[{q},m,p1]
A[{q},m,p1,p0] = SN[{q},m,p1,p0] / SD[{q},m]
{AV}[{q},m,{f}] = A[{q},m,p1,p0] * {V}[{kv},p1,p0,{f}]
""",
    "1pass": """
split p -> p1, p0
RM[{q},m,0] = -inf
RD[{q},m,0] = 0
RNV[{q},m,0,{f}] = 0
{scores}
LM[{q},m,p1] = max(p0: BQK[{q},m,p1,p0])
RM[{q},m,p1+1] = max(RM[{q},m,p1], LM[{q},m,p1])
SLN[{q},m,p1,p0] = exp(BQK[{q},m,p1,p0] - RM[{q},m,p1+1])
SLD[{q},m,p1] = SLN[{q},m,p1,p0]
SLNV[{q},m,p1,{f}] = SLN[{q},m,p1,p0] * {V}[{kv},p1,p0,{f}]
PRM[{q},m,p1] = exp(RM[{q},m,p1] - RM[{q},m,p1+1])
SPD[{q},m,p1] = PRM[{q},m,p1] * RD[{q},m,p1]
RD[{q},m,p1+1] = SPD[{q},m,p1] + SLD[{q},m,p1]
SPNV[{q},m,p1,{f}] = PRM[{q},m,p1] * RNV[{q},m,p1,{f}]
RNV[{q},m,p1+1,{f}] = SPNV[{q},m,p1,{f}] + SLNV[{q},m,p1,{f}]
{AV}[{q},m,{f}] = RNV[{q},m,P1,{f}] / RD[{q},m,P1]
""",
}

VARIANTS: dict[str, Callable[..., Cascade]] = {}


class ArgumentError(CascadeError, TypeError):
    """An unknown or missing builder argument: a CascadeError that is also the TypeError a bad call raises."""


def register_variant(name: str):
    """Decorator: register an attention-variant builder under `name` (duplicates raise)."""
    def add(builder: Callable[..., Cascade]) -> Callable[..., Cascade]:
        if name in VARIANTS:
            raise ValueError(f"attention variant {name!r} is already registered")
        VARIANTS[name] = builder
        return builder
    return add


def attention(name: str, **shape) -> Cascade:
    """Build an attention cascade, e.g. `attention("mha", batch=1, heads=12, seq=4096, head_dim=64)`."""
    if name not in VARIANTS:
        raise CascadeError(f"unknown attention variant {name!r} (valid: {', '.join(sorted(VARIANTS))})")
    try:
        inspect.signature(VARIANTS[name]).bind(**shape)
    except TypeError as err:
        raise ArgumentError(f"attention {name!r}: {err}") from None
    causal = shape.get("causal", False)
    flags = causal if isinstance(causal, (tuple, list)) else (causal,)
    if not all(isinstance(flag, (bool, np.bool_)) for flag in flags):
        raise CascadeError(f"attention {name!r}: causal must be True/False (one per layout dimension for local "
                           f"attention), got {causal!r}")
    return VARIANTS[name](**shape)


DEFAULT_SCORES = "{S}[{q},m,{p}] = Q[{q},m,e] * K[{kv},{p},e]"


def core(softmax: str, q: str, kv: str, *, scores: str = DEFAULT_SCORES, value: str = "V", f: str = "f",
         out: str = "AV") -> str:
    """The softmax core text with the given leading indices.

    `scores` are the statements that produce the score tensor `{S}` at key index `{p}` (QK[.., p] for the 3-pass
    core, BQK[.., p1, p0] for the tiled ones); `value` is read at [{kv}, key, f]; the result is `out`[{q}, m, f].
    """
    if not isinstance(softmax, str) or softmax not in CORES:
        raise CascadeError(f"unknown softmax {softmax!r} (valid: {', '.join(CORES)})")
    score, key = ("QK", "p") if softmax == "3pass" else ("BQK", "p1,p0")
    lines = scores.format(S=score, p=key, q=q, kv=kv)
    return CORES[softmax].format(q=q, kv=kv, scores=lines, V=value, f=f, AV=out)


def positive(**values) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CascadeError(f"{key} must be a positive integer, got {value!r}")


def key_tile_size(key_tile: int | None, seq_kv: int) -> int:
    """The P0 tile: 256 by default (FuseMax's array height), never larger than the key length."""
    if key_tile is None:
        return min(256, seq_kv)
    positive(key_tile=key_tile)
    if key_tile > seq_kv:
        raise CascadeError(f"key_tile={key_tile} is larger than the key length {seq_kv}")
    return key_tile


@register_variant("mha")
def mha(*, batch: int, heads: int, seq: int, head_dim: int, seq_kv: int | None = None,
        head_dim_v: int | None = None, causal: bool = False, softmax: str = "1pass", key_tile: int | None = None,
        dtype: str = "fp16") -> Cascade:
    """Multi-head attention: Q [B,H,M,E], K [B,H,P,E], V [B,H,P,F] → AV [B,H,M,F] (softmax scale folded into Q)."""
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, heads=heads, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v)
    sizes = {"B": batch, "H": heads, "M": seq, "P": seq_kv, "E": head_dim, "F": head_dim_v}
    text = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]\n"
    if causal:
        text += "mask m, p: causal\n"
    text += core(softmax, "b,h", "b,h")
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq_kv)
    return cascade(text, sizes, name=f"mha_{softmax}{'_causal' if causal else ''}", dtype=dtype)
