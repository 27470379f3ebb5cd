"""Mask predicates: parameter checks, dense boolean matrices for the executor, and exact counts for cost models.

Every mask relates a query rank (size M) and a key rank (size P). A query may attend no key (a generic cascade
sums over nothing); the attention builders refuse that, since a softmax over no keys is undefined. Counts never
enumerate the M·P pairs: causal and sliding-window masks are counted in closed form (`workloads.intervals`), block
tables by their blocks, neighborhoods per layout dimension (`workloads.neighborhoods`), within stated limits.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from workloads import neighborhoods
from workloads.errors import CascadeError, quote
from workloads.intervals import interval_count
from workloads.ir import MAX_RANK_SIZE, Blocks, Causal, Mask, Neighborhood, Window
from workloads.neighborhoods import Runs, gna_bounds

__all__ = ["MASK_TYPES", "MAX_DENSE", "check", "check_layout", "dense", "gna_bounds", "group_count", "pair_count",
           "tile_count", "window_groups"]

MASK_TYPES = (Causal, Window, Neighborhood, Blocks)
MAX_DENSE = 1 << 26   # M·P booleans a dense matrix (executor, query-tile counts of tables) may hold: 64 MiB
MAX_GROUPS = 1 << 16  # query-row groups of a per-group sliding window (heads of one layer, with room to spare)


# --- checks --------------------------------------------------------------------------------------------------

def check(mask: Mask, m: int, p: int, where: str) -> None:
    """Validate a mask's parameters against the sizes of its ranks (every query must attend some key)."""
    if isinstance(mask, (Causal, Window)):
        _check_interval(mask, m, p, where)
    elif isinstance(mask, Blocks):
        _check_blocks(mask, m, p, where)
    elif isinstance(mask, Neighborhood):
        _check_neighborhood(mask, m, p, where)
    else:
        raise CascadeError(f"{where}: {quote(mask)} is not a mask (Causal, Window, Neighborhood or Blocks)")


def _integer(value, name: str, where: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise CascadeError(f"{where}: {name} must be an integer ≥ {low}, got {quote(value)}")


def _check_interval(mask: Causal | Window, m: int, p: int, where: str) -> None:
    if not isinstance(mask, Window):
        return
    grouped = isinstance(mask.left, tuple) or isinstance(mask.right, tuple)
    lefts, rights = (mask.left, mask.right) if grouped else ((mask.left,), (mask.right,))
    if not (isinstance(lefts, tuple) and isinstance(rights, tuple)) or len(lefts) != len(rights) or not lefts:
        raise CascadeError(f"{where}: per-group window spans need left and right tuples of equal, non-zero "
                           f"length, got left={quote(mask.left)}, right={quote(mask.right)}")
    if len(lefts) > MAX_GROUPS:
        raise CascadeError(f"{where}: {len(lefts)} window groups; at most {MAX_GROUPS}")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in lefts + rights):
        raise CascadeError(f"{where}: window sizes must be ≥ 0 integers, got left={quote(mask.left)}, "
                           f"right={quote(mask.right)}")
    if m % len(lefts):
        raise CascadeError(f"{where}: {len(lefts)} window groups do not split the {m} query rows evenly (the "
                           f"query rank is groups × rows per group, e.g. heads × queries)")


def window_groups(mask: Window, m: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(rows per group, left spans, right spans) of a sliding window: one group of m rows for scalar spans."""
    if isinstance(mask.left, tuple):
        return m // len(mask.left), mask.left, mask.right
    return m, (mask.left,), (mask.right,)


def _check_blocks(mask: Blocks, m: int, p: int, where: str) -> None:
    _integer(mask.q_block, "q_block", where, 1)
    _integer(mask.kv_block, "kv_block", where, 1)
    shape = (-(-m // mask.q_block), -(-p // mask.kv_block))
    rows = mask.keep if isinstance(mask.keep, tuple) else ()
    if len(rows) != shape[0] or any(not isinstance(r, tuple) or len(r) != shape[1] for r in rows):
        raise CascadeError(f"{where}: block table must be {shape[0]}×{shape[1]} for {m} queries in blocks of "
                           f"{mask.q_block} and {p} keys in blocks of {mask.kv_block}")
    for i, row in enumerate(rows):
        if not all(isinstance(x, bool) for x in row):
            raise CascadeError(f"{where}: block table row {i} must hold 0/1 or True/False, got {quote(row)}")


def _check_neighborhood(mask: Neighborhood, m: int, p: int, where: str) -> None:
    check_layout(mask, where)
    if math.prod(mask.spatial) != m or m != p:
        raise CascadeError(f"{where}: token layout {quote(mask.spatial)} has {math.prod(mask.spatial)} tokens but "
                           f"the query and key ranks have {m} and {p}")


def check_layout(mask: Neighborhood, where: str) -> None:
    """Validate a neighborhood mask's layout on its own (without the ranks it masks): one integer entry per
    dimension of each field, causal flags, stride ≤ window, window·dilation ≤ the dimension, and dimensions its
    exact counts can enumerate."""
    if not isinstance(mask, Neighborhood):
        raise CascadeError(f"{where}: expected a Neighborhood mask, got {quote(mask)}")
    fields = ("spatial", "window", "stride", "dilation", "causal")
    bad = next((f for f in fields if not isinstance(getattr(mask, f), tuple)), None)
    if bad is not None:
        raise CascadeError(f"{where}: {bad}={quote(getattr(mask, bad))} needs a tuple, one entry per layout dimension")
    dims = len(mask.spatial)
    for field in fields[1:]:
        if len(getattr(mask, field)) != dims:
            raise CascadeError(f"{where}: {field}={quote(getattr(mask, field))} needs one entry per layout "
                               f"dimension (spatial={quote(mask.spatial)})")
    for field in fields[:-1]:
        for v in getattr(mask, field):
            _integer(v, field, where, 1)
    if not all(isinstance(v, (bool, int)) and v in (0, 1) for v in mask.causal):
        raise CascadeError(f"{where}: causal={quote(mask.causal)} needs True/False (or 0/1) per layout dimension")
    for d, (n, w, s, dil) in enumerate(zip(mask.spatial, mask.window, mask.stride, mask.dilation)):
        if n > neighborhoods.MAX_LAYOUT_DIM:    # its exact pair and tile counts enumerate the dimension
            raise CascadeError(f"{where}: dimension {d} has {n} tokens; neighborhood masks are counted exactly, "
                               f"which enumerates at most 2^20 = {neighborhoods.MAX_LAYOUT_DIM} per dimension")
        if s > w:
            raise CascadeError(f"{where}: dimension {d}: stride {s} > window {w}")
        if w * dil > n:
            raise CascadeError(f"{where}: dimension {d}: window·dilation = {w}·{dil} > input {n}")


# --- dense matrices ------------------------------------------------------------------------------------------

def dense(mask: Mask, m: int, p: int) -> np.ndarray:
    """The mask as a boolean [m, p] matrix (True = attend), for the executor and small checks (m·p ≤ MAX_DENSE)."""
    if m * p > MAX_DENSE:
        raise CascadeError(f"mask {type(mask).__name__}: a dense {m}×{p} matrix exceeds the limit of "
                           f"2^26 = {MAX_DENSE} entries")
    q = np.arange(m)[:, None]
    k = np.arange(p)[None, :]
    if isinstance(mask, Causal):
        return k <= q + (p - m)
    if isinstance(mask, Window):
        rows, lefts, rights = window_groups(mask, m)
        group, centre = q // rows, q % rows + (p - rows)
        left, right = np.asarray(lefts)[group], np.asarray(rights)[group]
        return (k >= centre - left) & (k <= centre + right)
    if isinstance(mask, Blocks):
        keep = np.asarray(mask.keep, dtype=bool)
        return keep[np.ix_(np.arange(m) // mask.q_block, np.arange(p) // mask.kv_block)]
    return neighborhoods.dense(mask)


# --- counts --------------------------------------------------------------------------------------------------

def _intervals(mask: Window, m: int, p: int) -> list[tuple[int, int, int, int]]:
    """Per distinct span of a window's row groups: (a, b, rows, groups), row i of such a group attending keys
    [clamp(i + a), clamp(i + b)), bottom-right aligned (i' = i + P − rows)."""
    rows, lefts, rights = window_groups(mask, m)
    spans: dict[tuple[int, int], int] = {}
    for left, right in zip(lefts, rights):
        spans[(left, right)] = spans.get((left, right), 0) + 1
    return [(p - rows - left, p - rows + right + 1, rows, n) for (left, right), n in spans.items()]


def _interval_sum(mask: Causal | Window, m: int, p: int, q_tile: int = 1, kv_tile: int | None = None) -> int:
    """Σ over groups of `interval_count` (query tiles never straddle groups: the callers check)."""
    if isinstance(mask, Causal):
        return interval_count(-m, p - m + 1, m, p, q_tile=q_tile, kv_tile=kv_tile)
    return sum(n * interval_count(a, b, rows, p, q_tile=q_tile, kv_tile=kv_tile)
               for a, b, rows, n in _intervals(mask, m, p))


def pair_count(mask: Mask, m: int, p: int) -> int:
    """Exact number of attended (query, key) pairs."""
    if isinstance(mask, (Causal, Window)):
        return _interval_sum(mask, m, p)
    if isinstance(mask, Neighborhood):
        return neighborhoods.pair_count(mask)
    rows, cols = _block_extents(mask, m, p)
    per_row = np.asarray(mask.keep, dtype=bool).astype(cols.dtype) @ cols   # keys each block row attends
    return _exact_dot(rows, per_row, m * p)


def tile_count(mask: Mask, m: int, p: int, kv_tile: int) -> int:
    """Exact number of (query, key tile) pairs with at least one attended key; key tiles are
    [t·kv_tile, (t+1)·kv_tile)."""
    if isinstance(mask, (Causal, Window)):
        return _interval_sum(mask, m, p, kv_tile=kv_tile)
    if isinstance(mask, Neighborhood):
        aligned = neighborhoods.tile_count(mask, kv_tile)
        if aligned is not None:
            return aligned
    r = neighborhoods.runs(mask) if isinstance(mask, Neighborhood) else _block_runs(mask, m, p)
    return _runs_tiles(r, kv_tile, m * p)


def group_count(mask: Mask, m: int, p: int, q_tile: int, kv_tile: int | None = None) -> int:
    """Exact number of (query tile, key) pairs — or (query tile, key tile) pairs with `kv_tile` — with at least
    one attended pair; query tiles are [t·q_tile, (t+1)·q_tile)."""
    if isinstance(mask, Causal) or (isinstance(mask, Window) and window_groups(mask, m)[0] % q_tile == 0):
        return _interval_sum(mask, m, p, q_tile=q_tile, kv_tile=kv_tile)
    if m * p > MAX_DENSE:
        raise CascadeError(f"mask {type(mask).__name__}: counting it by query tiles enumerates the {m}×{p} pairs; "
                           f"at most 2^26 = {MAX_DENSE} (iterate the whole query rank, or use a smaller one)")
    d = dense(mask, m, p)   # a block table or neighborhood seen by query tiles
    d = np.pad(d, ((0, -m % q_tile), (0, 0))).reshape(-1, q_tile, p).any(axis=1)
    if kv_tile is not None:
        d = np.pad(d, ((0, 0), (0, -p % kv_tile))).reshape(d.shape[0], -1, kv_tile).any(axis=2)
    return int(d.sum())


def _block_extents(mask: Blocks, m: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries in each block row and keys in each block column (the last ones ragged); int64, as m, p ≤ 2^48."""
    if max(m, p) > MAX_RANK_SIZE:
        raise CascadeError(f"mask Blocks: ranks of {m} and {p}; at most 2^48 = {MAX_RANK_SIZE} each")
    rows = len(mask.keep)
    cols = len(mask.keep[0]) if rows else 0
    extent = lambda blocks, block, size: (np.minimum(np.arange(1, blocks + 1, dtype=np.int64) * block, size)
                                          - np.arange(blocks, dtype=np.int64) * block)
    return extent(rows, mask.q_block, m), extent(cols, mask.kv_block, p)


def _block_runs(mask: Blocks, m: int, p: int) -> Runs:
    rows, _ = _block_extents(mask, m, p)
    group, block = np.nonzero(np.asarray(mask.keep, dtype=bool))
    return Runs(rows, group, block * mask.kv_block, np.minimum((block + 1) * mask.kv_block, p))


def _runs_tiles(r: Runs, kv_tile: int, bound: int) -> int:
    """Key tiles touched per group (consecutive runs of a group share at most one tile), weighted by its rows."""
    nonempty = r.end > r.start
    group, first, last = r.group[nonempty], r.start[nonempty] // kv_tile, (r.end[nonempty] - 1) // kv_tile
    shared = np.zeros(len(group), dtype=np.int64)
    shared[1:] = (group[1:] == group[:-1]) & (first[1:] == last[:-1])
    tiles = (last - first + 1 - shared).astype(np.int64)   # < P / kv_tile + 1 per run: fits int64
    per_group = np.zeros(len(r.weight), dtype=np.int64)
    np.add.at(per_group, group, tiles)
    return _exact_dot(r.weight, per_group, bound)


def _exact_dot(a, b, bound: int) -> int:
    """Σ a·b exactly: in int64 when every partial sum stays below `bound` < 2^62, else in Python integers."""
    if bound < 1 << 62:
        return int(np.dot(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)))
    return sum(int(x) * int(y) for x, y in zip(a, b))


def touched(mask: Mask, m: int, p: int) -> tuple[int, int]:
    """(queries, keys) that take part in at least one attended pair — what a kernel must read of a tensor indexed by
    only one side of the mask (a sliding window's decode reads only its window of the KV cache; an MoE batch only
    the experts its tokens route to). Exact, except for per-group windows, where the keys are the fewest any one
    group touches (a lower bound, as compulsory traffic must be)."""
    if isinstance(mask, Causal):
        return min(m, p), p if m else 0
    if isinstance(mask, Window):
        rows, lefts, rights = window_groups(mask, m)
        spans = [_touched_interval(p - rows - left, p - rows + right + 1, rows, p) for left, right in zip(lefts, rights)]
        return sum(q for q, _ in spans), min(k for _, k in spans)
    if isinstance(mask, Blocks):
        rows, cols = _block_extents(mask, m, p)
        keep = np.asarray(mask.keep, dtype=bool)
        return int(rows[keep.any(axis=1)].sum()), int(cols[keep.any(axis=0)].sum())
    r = neighborhoods.runs(mask)
    live = r.end > r.start
    queries = int(np.asarray(r.weight)[np.unique(r.group[live])].sum())
    return queries, _union_length(r.start[live], r.end[live])


def _touched_interval(a: int, b: int, rows: int, p: int) -> tuple[int, int]:
    """Rows i < rows attend [clamp(i + a), clamp(i + b)): the rows with a non-empty interval, and the length of the
    union of the intervals (contiguous: consecutive intervals overlap or touch)."""
    first, last = max(0, -b + 1), min(rows - 1, p - a - 1)      # non-empty: i + b > 0 and i + a < p
    if first > last:
        return 0, 0
    return last - first + 1, min(p, last + b) - max(0, first + a)


def _union_length(start: np.ndarray, end: np.ndarray) -> int:
    """Length of the union of the intervals [start, end)."""
    if len(start) == 0:
        return 0
    order = np.argsort(start, kind="stable")
    start, end = start[order], np.maximum.accumulate(end[order])
    gaps = np.maximum(start[1:] - end[:-1], 0)
    return int(end[-1] - start[0] - gaps.sum())
