"""The 3-pass, 2-pass and 1-pass softmax cores, written once as extended-Einsum text with placeholders for the
leading indices, plus the argument checks every builder shares.

The cores are FuseMax's (Nayak et al., MICRO 2024): the 3-pass cascade (its Cascade 4), the 2-pass one (the
TileFlow / Choi et al. family of FuseMax's Table I; local max and denominator per key tile, corrected with the
global max) and the 1-pass cascade (its Cascade 5), which is FlashAttention-2's online softmax (Dao, ICLR 2024).
`core(...)` is the extension point for a new softmax core or score function: a variant builder calls it with its
own leading indices and score statements (see `workloads.variants.mla` for a two-part score).
"""
from __future__ import annotations

import numbers

import numpy as np

from workloads.errors import CascadeError, quote

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

DEFAULT_SCORES = "{S}[{q},m,{p}] = Q[{q},m,e] * K[{kv},{p},e]"
DEFAULT_KEY_TILE = 256   # FuseMax's default P0: the height of its 256×256 PE array (Nayak et al., MICRO 2024, §VI)


def core(softmax: str, q: str, kv: str, *, scores: str = DEFAULT_SCORES, value: str = "V", f: str = "f",
         out: str = "AV") -> str:
    """The softmax core text with the given leading indices (the extension point for new variants).

    `scores` are the statements that produce the score tensor `{S}` at key index `{p}` (QK[.., p] for the 3-pass
    core, BQK[.., p1, p0] for the tiled ones); `value` is read at [{kv}, key, f]; the result is `out`[{q}, m, f].
    """
    if not isinstance(softmax, str) or softmax not in CORES:
        raise CascadeError(f"unknown softmax {quote(softmax)} (valid: {', '.join(CORES)})")
    score, key = ("QK", "p") if softmax == "3pass" else ("BQK", "p1,p0")
    lines = scores.format(S=score, p=key, q=q, kv=kv)
    return CORES[softmax].format(q=q, kv=kv, scores=lines, V=value, f=f, AV=out)


def positive(**values) -> None:
    """Each value is a positive integer (Python or NumPy; booleans are not integers here)."""
    for key, value in values.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
            raise CascadeError(f"{key} must be a positive integer, got {quote(value)}")


def causal_mask(causal: bool, seq: int, seq_kv: int, who: str) -> str:
    """The `mask m, p: causal` statement (or nothing). Causal is bottom-right aligned (query i sees keys ≤
    i + P − M), so with fewer keys than queries the first M − P queries would see no key: their softmax is
    undefined (the 1-pass core gives 0/0, the 3-pass one an empty sum), so that shape is refused."""
    if not causal:
        return ""
    if seq_kv < seq:
        raise CascadeError(f"{who}: causal with seq_kv={seq_kv} < seq={seq} leaves the first {seq - seq_kv} queries "
                           f"with no keys (the mask is bottom-right aligned); give seq_kv ≥ seq")
    return "mask m, p: causal\n"


def key_tile_size(key_tile: int | None, seq_kv: int) -> int:
    """The P0 tile: DEFAULT_KEY_TILE unless given, never larger than the key length."""
    if key_tile is None:
        return min(DEFAULT_KEY_TILE, seq_kv)
    positive(key_tile=key_tile)
    if key_tile > seq_kv:
        raise CascadeError(f"key_tile={key_tile} is larger than the key length {seq_kv}")
    return key_tile
