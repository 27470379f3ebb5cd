"""The attention a GPU kernel runs: a cascade matched to a template (`template.match`), with its sizes and mask.

Sizes come from the template's ranks: MHA `B, H, M, P, E, F`; grouped heads `B, G, R, M, P, E, F` (H = G·R query
heads over G key/value heads); MLA's absorbed form (DeepSeek-V2) is multi-query attention over the cached latent
row `[CKV | KR]`, so E = C + ER, and its values are the first C dims of that row. Masks: none, causal (bottom-right
aligned: query m sees keys ≤ m + P − M, so one query token sees every key) or one GNA neighborhood, all over
(M, P); others are refused with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import workloads
from workloads import Cascade, Causal, Neighborhood

from sim.dataflows.gpu.template import Match, match

HEAD_RANKS = frozenset({"H", "G", "R"})


@dataclass(frozen=True)
class Bias:
    """An input a score mod reads (an additive bias, ALiBi's table): its bytes and what its elements vary over."""
    name: str
    bytes: int               # the whole tensor
    rows: bool               # varies with the query row (M)
    heads: bool              # varies with the head
    keys: bool               # varies with the key (P)
    sharers: int             # (batch, head) pairs that read the same elements


@dataclass(frozen=True)
class Attention:
    """A cascade as a GPU attention kernel sees it."""
    batch: int
    heads: int               # query heads
    kv_heads: int
    m: int                   # queries
    p: int                   # keys
    e: int                   # key width (MLA: the latent row C + ER)
    f: int                   # value width (MLA: the latent C)
    causal: bool
    neighborhood: Neighborhood | None
    dtype: str
    elem: int                # bytes per element
    match: Match
    bias: tuple[Bias, ...]
    projections: tuple[tuple[int, int, int, int], ...] = ()   # MLA: (batch, M, N, K) of QN·W_UK and O·W_UV

    @property
    def group(self) -> int:
        """Query heads per key/value head."""
        return self.heads // self.kv_heads

    @property
    def sigmoid(self) -> bool:
        """Sigmoid attention (no row max, sum or rescale)."""
        return self.match.template.softmax == "sigmoid"

    @property
    def mla(self) -> bool:
        """MLA's absorbed form."""
        return self.match.template.heads == "mla"


def attention(c: Cascade) -> Attention | str:
    """The attention shape of `c`, or why no GPU attention kernel can run it exactly."""
    found = match(c)
    if isinstance(found, str):
        return found
    try:
        return _cached_shape(c, found)
    except TypeError:      # an unhashable cascade: computed uncached
        return _shape(c, found)


@lru_cache(maxsize=256)
def _cached_shape(c: Cascade, found: Match) -> Attention | str:
    return _shape(c, found)


def _shape(c: Cascade, found: Match) -> Attention | str:
    s = c.sizes
    why = _mask_reason(c)
    if why:
        return why
    heads = found.template.heads
    if heads == "mla":
        h, g, e, f = s["H"], 1, s["C"] + s["ER"], s["C"]
    elif heads == "grouped":
        h, g, e, f = s["G"] * s["R"], s["G"], s["E"], s["F"]
    else:
        h, g, e, f = s["H"], s["H"], s["E"], s["F"]
    elem = workloads.DTYPE_BYTES[c.dtype]
    nb = next((mk for mk in c.masks if isinstance(mk, Neighborhood)), None)
    causal = any(isinstance(mk, Causal) for mk in c.masks)
    bias = tuple(_bias(c, name, h, elem) for name in found.bias_inputs)
    rows = s["B"] * s["M"]
    projections = ((h, rows, s["C"], s["EN"]), (h, rows, s["F"], s["C"])) if heads == "mla" else ()
    return Attention(s["B"], h, g, s["M"], s["P"], e, f, causal, nb, c.dtype, elem, found, bias, projections)


def op_counts(c: Cascade) -> dict[str, dict[str, int]]:
    """`workloads.op_counts`, memoized per cascade (lowerings ask for it several times)."""
    try:
        return _cached_counts(c)
    except TypeError:      # an unhashable cascade
        return workloads.op_counts(c)


@lru_cache(maxsize=64)
def _cached_counts(c: Cascade) -> dict[str, dict[str, int]]:
    return workloads.op_counts(c)


def _mask_reason(c: Cascade) -> str | None:
    for mk in c.masks:
        if not isinstance(mk, (Causal, Neighborhood)):
            return f"mask {type(mk).__name__} is not modelled on GPUs (causal and neighborhood masks are)"
        if (mk.query, mk.key) != ("M", "P"):
            return f"mask over ({mk.query}, {mk.key}): GPU kernels mask queries M against keys P"
    if len(c.masks) > 1:
        return f"{len(c.masks)} masks: GPU kernels apply one (causal or one neighborhood)"
    return None


def _bias(c: Cascade, name: str, heads: int, elem: int) -> Bias:
    ranks = set(c.tensors[name].ranks)
    key_parts = {r for sp in c.splits if sp.rank == "P" for r in (sp.outer, sp.inner)}
    shared_heads = heads if not ranks & HEAD_RANKS else 1
    shared_batch = c.sizes["B"] if "B" not in ranks else 1
    return Bias(name, workloads.elements(c, name) * elem, "M" in ranks, bool(ranks & HEAD_RANKS),
                bool(ranks & ({"P"} | key_parts)), shared_batch * shared_heads)
