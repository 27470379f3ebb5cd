"""Local attention: sliding window (FlashAttention's window semantics), neighborhood attention (NA; Hassani et al.,
CVPR 2023), generalized NA (GNA; Hassani et al., arXiv 2504.16922) and blocked (window self-) attention.

Each is a grouped-head core (variants.grouped) with a filter on (m, p). Multi-dimensional token layouts
`spatial=(…)` are flattened row-major, so the inputs keep Q [B,H,N,E], K/V [B,G,N,·] with N = prod(spatial);
the predicate is NATTEN's, enforced per dimension by `workloads.masks.gna_bounds`.
"""
from __future__ import annotations

import math

from workloads.variants.cores import positive
from workloads.variants.registry import register_variant
from workloads.errors import CascadeError, quote
from workloads.ir import Cascade
from workloads.variants.grouped import grouped


def per_dim(name: str, value, dims: int, kind=int) -> tuple:
    """An int (or bool) for every layout dimension, or a tuple with one entry per dimension."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims:
        raise CascadeError(f"{name}={quote(value)} needs one entry per layout dimension ({dims})")
    if kind is int and any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise CascadeError(f"{name}={quote(value)}: entries must be positive integers")
    return tuple(kind(v) for v in values)


def gna_spec(spatial, window, stride=1, dilation=1, causal=False) -> str:
    """The `gna(...)` mask text, after checking NATTEN's constraints per dimension."""
    spatial = per_dim("spatial", spatial, len(spatial) if isinstance(spatial, (tuple, list)) else 1)
    dims = len(spatial)
    window, stride, dilation = (per_dim(n, v, dims) for n, v in
                                (("window", window), ("stride", stride), ("dilation", dilation)))
    causal = per_dim("causal", causal, dims, kind=bool)
    for d in range(dims):
        if stride[d] > window[d]:
            raise CascadeError(f"gna: dimension {d}: stride {stride[d]} > window {window[d]}")
        if window[d] * dilation[d] > spatial[d]:
            raise CascadeError(f"gna: dimension {d}: window·dilation = {window[d]}·{dilation[d]} > input "
                               f"{spatial[d]}")
    return (f"gna(spatial={spatial}, window={window}, stride={stride}, dilation={dilation}, "
            f"causal={tuple(causal)})")


@register_variant("gna")
def gna(*, batch: int, heads: int, spatial, window, head_dim: int, stride=1, dilation=1, causal=False,
        kv_heads: int | None = None, head_dim_v: int | None = None, softmax: str = "1pass",
        key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """Generalized neighborhood attention over a 1-, 2- or 3-D token layout (window, stride, dilation, causal)."""
    spec = gna_spec(spatial, window, stride, dilation, causal)
    n = math.prod(spatial) if isinstance(spatial, (tuple, list)) else spatial
    return grouped(name=f"gna{len(spatial) if isinstance(spatial, (tuple, list)) else 1}d", batch=batch,
                   heads=heads, kv_heads=heads if kv_heads is None else kv_heads, seq=n, head_dim=head_dim,
                   seq_kv=n, head_dim_v=head_dim_v, mask=spec, softmax=softmax, key_tile=key_tile, dtype=dtype)


@register_variant("na")
def na(*, batch: int, heads: int, spatial, window, head_dim: int, dilation=1, causal=False,
       kv_heads: int | None = None, head_dim_v: int | None = None, softmax: str = "1pass",
       key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """Neighborhood attention: GNA with stride 1 (the window is clamped, not truncated, at the borders)."""
    return gna(batch=batch, heads=heads, spatial=spatial, window=window, head_dim=head_dim, stride=1,
               dilation=dilation, causal=causal, kv_heads=kv_heads, head_dim_v=head_dim_v, softmax=softmax,
               key_tile=key_tile, dtype=dtype)


@register_variant("blocked")
def blocked(*, batch: int, heads: int, spatial, block, head_dim: int, causal=False, kv_heads: int | None = None,
            head_dim_v: int | None = None, keep=None, softmax: str = "1pass", key_tile: int | None = None,
            dtype: str = "fp16") -> Cascade:
    """Blocked (window self-) attention: GNA with stride = window = block, NATTEN's semantics at a ragged end.

    With `keep` (1-D only) it is instead an explicit block-sparse pattern: query block i attends key block j
    iff keep[i][j], blocks of `block` tokens.
    """
    if keep is None:
        return gna(batch=batch, heads=heads, spatial=spatial, window=block, head_dim=head_dim, stride=block,
                   causal=causal, kv_heads=kv_heads, head_dim_v=head_dim_v, softmax=softmax, key_tile=key_tile,
                   dtype=dtype)
    n = spatial[0] if isinstance(spatial, (tuple, list)) and len(spatial) == 1 else spatial
    if not isinstance(n, int) or isinstance(block, (tuple, list)) or causal:
        raise CascadeError("blocked: an explicit keep table needs a 1-D layout, an int block and causal=False")
    positive(block=block)
    if not isinstance(keep, (tuple, list)) or not all(isinstance(row, (tuple, list)) for row in keep):
        raise CascadeError(f"blocked: keep must be a table of 0/1 rows, e.g. ((1, 0), (1, 1)), got {quote(keep)}")
    table = tuple(tuple(int(bool(x)) for x in row) for row in keep)
    empty = [i for i, row in enumerate(table) if not any(row)]
    if empty:
        raise CascadeError(f"blocked: query block {empty[0]} attends no key block (a softmax over no keys is "
                           f"undefined); keep at least one block per row")
    return grouped(name="blocked_sparse", batch=batch, heads=heads, kv_heads=heads if kv_heads is None else kv_heads,
                   seq=n, head_dim=head_dim, seq_kv=n, head_dim_v=head_dim_v,
                   mask=f"blocks(q_block={block}, kv_block={block}, keep={table})", softmax=softmax,
                   key_tile=key_tile, dtype=dtype)


@register_variant("sliding")
def sliding(*, batch: int, heads: int, seq: int, head_dim: int, left: int, right: int = 0,
            kv_heads: int | None = None, seq_kv: int | None = None, head_dim_v: int | None = None,
            softmax: str = "1pass", key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """1-D sliding window, FlashAttention semantics: query i sees keys [i' − left, i' + right], i' = i + P − M.

    right = 0 is causal sliding-window attention; decode is M = 1 with P = the cache length.
    """
    for key, value in (("left", left), ("right", right)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CascadeError(f"sliding: {key} must be a non-negative integer, got {quote(value)}")
    seq_kv = seq if seq_kv is None else seq_kv
    positive(seq=seq, seq_kv=seq_kv)
    if seq_kv < seq:
        raise CascadeError(f"sliding: seq_kv={seq_kv} < seq={seq} leaves queries with no keys")
    return grouped(name=f"sliding_{left}_{right}", batch=batch, heads=heads,
                   kv_heads=heads if kv_heads is None else kv_heads, seq=seq, head_dim=head_dim, seq_kv=seq_kv,
                   head_dim_v=head_dim_v, mask=f"window(left={left}, right={right})", softmax=softmax,
                   key_tile=key_tile, dtype=dtype)
