"""What a streaming (elementwise) kernel of a cascade moves and whether one can run it in a single pass.

A streaming kernel reads each input once and writes its output once, computing point by point with small
on-chip state: a norm holds one row, RoPE one pair, a gain vector or rotation table stays in a cache. Under a
block mask (MoE routing) it visits only the kept points, and the tensors indexed by both masked ranks are stored
at those points only (per (token, expert) buffers). It cannot stand in for a contraction whose operands are
re-read many times (a GEMM): `streaming_problem` says when an operand would be.
"""
from __future__ import annotations

import math

from workloads.analysis import elements
from workloads.dtypes import dtype_bytes
from workloads.ir import Blocks, Cascade, refs
from workloads.masks import pair_count
from workloads.order import loop_ranks

__all__ = ["MAX_REGISTER_REUSE", "TOKEN_RANKS", "kept_fraction", "row_bytes", "stream_bytes", "streaming_problem",
           "token_ranks"]

MAX_REGISTER_REUSE = 16   # reads of one loaded element a thread serves from registers (RoPE's pair: 2)
TOKEN_RANKS = frozenset({"B", "M", "P", "T"})   # ranks that index tokens (batch, queries, keys, the MoE stream)


def token_ranks(c: Cascade) -> set[str]:
    """The cascade's token ranks and their split parts."""
    ranks = set(TOKEN_RANKS)
    for s in c.splits:
        if s.rank in TOKEN_RANKS:
            ranks |= {s.outer, s.inner}
    return ranks


def _sides(c: Cascade, rank: str) -> set[str]:
    parts = {s.rank: {s.outer, s.inner} for s in c.splits}
    return {rank} | parts.get(rank, set())


def kept_fraction(c: Cascade, tensor: str) -> float:
    """The fraction of a tensor's elements a masked kernel touches: the kept (query, key) pairs of every block mask
    over two of its ranks (1 for a tensor no such mask covers)."""
    ranks = set(c.tensors[tensor].ranks)
    fraction = 1.0
    for mask in c.masks:
        if isinstance(mask, Blocks) and _sides(c, mask.query) & ranks and _sides(c, mask.key) & ranks:
            m, p = c.sizes[mask.query], c.sizes[mask.key]
            fraction *= pair_count(mask, m, p) / (m * p)
    return fraction


def stream_bytes(c: Cascade) -> tuple[float, float]:
    """(bytes read, bytes written): every input once and the output once, at the points the masks keep."""
    size = dtype_bytes(c)
    read = sum(elements(c, t) * kept_fraction(c, t) for t in c.inputs) * size
    return read, elements(c, c.output) * kept_fraction(c, c.output) * size


def _reuse(c: Cascade, e, ref) -> int:
    """How many times one element of `ref` is used by Einsum `e` (its loop ranks that `ref` does not index)."""
    indexed = {i.rank for i in ref.indices}
    return math.prod(c.sizes[r] for r in loop_ranks(e) if r not in indexed)


def streaming_problem(c: Cascade, cache_bytes: float, slice_bytes: float) -> str | None:
    """Why a single streaming pass would not run `c` as written (None if it would): a contraction (a reduction over
    more than `MAX_REGISTER_REUSE` points with an operand re-read more often than that: a GEMM or GEMV, for a GEMM
    dataflow), or an input re-read more than `MAX_REGISTER_REUSE` times that neither fits in `cache_bytes` nor has a
    per-token slice (what one block of the kernel, working token by token, re-reads: RoPE's rotations of one
    position for all heads) within `slice_bytes`."""
    size = dtype_bytes(c)
    tokens = token_ranks(c)
    for e in c.einsums:
        extent = math.prod(c.sizes[r] for r in e.reduce_ranks)
        if extent > MAX_REGISTER_REUSE and any(_reuse(c, e, ref) > MAX_REGISTER_REUSE for ref in refs(e.expr)):
            return (f"Einsum {e.name} is a contraction over {extent} points whose operands are re-read: a GEMM "
                    f"dataflow's work, not a stream")
        for ref in refs(e.expr):
            if ref.tensor not in c.inputs:
                continue
            reuse = _reuse(c, e, ref)
            nbytes = elements(c, ref.tensor) * kept_fraction(c, ref.tensor) * size
            per_token = nbytes / math.prod(c.sizes[r] for r in c.tensors[ref.tensor].ranks if r in tokens)
            if reuse > MAX_REGISTER_REUSE and nbytes > cache_bytes and per_token > slice_bytes:
                return (f"Einsum {e.name} re-reads input {ref.tensor} ({nbytes:.4g} B, {per_token:.4g} B per token) "
                        f"{reuse} times: it fits neither {cache_bytes:.4g} B of cache nor, per token, "
                        f"{slice_bytes:.4g} B on chip")
    return None


def row_bytes(c: Cascade) -> int:
    """Bytes of the largest reduction row a streaming kernel holds on chip (a norm's row of D elements)."""
    size = dtype_bytes(c)
    return max((math.prod(c.sizes[r] for r in e.reduce_ranks) * size for e in c.einsums if e.reduce_ranks),
               default=0)
