"""The 3-pass, 2-pass and 1-pass softmax cores (FuseMax, MICRO 2024, §III; FlashAttention-2's online softmax is
the 1-pass cascade), written once as extended-Einsum text with placeholders for the leading indices, plus the
argument checks every builder shares."""
from __future__ import annotations

from workloads.errors import CascadeError

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
