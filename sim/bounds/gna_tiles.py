"""Tile tools for NATTEN-style block-sparse generalized neighborhood attention (Hassani et al., "Generalized
Neighborhood Attention", 2025, and the NATTEN kernels).

Fused GNA kernels permute tokens so that each multi-dimensional tile (e.g. 2-D `(16, 8)`) is contiguous, pad every
dimension up to the tile shape, and then, per Q tile, visit the bounding box of KV tiles covering the union of its
queries' windows. A visited KV tile is *full* when every query of the Q tile attends every key of it (no element
mask) and *partial* otherwise. Everything here is a pure function of the layout and the tile shapes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workloads import Cascade, Neighborhood
from workloads.masks import check_layout, gna_bounds

from sim.ir.mapping import MappingError

MAX_TILE_SLOTS = 1 << 26     # (dilation group, Q tile, row) slots one layout dimension may span
MAX_Q_TILES = 1 << 24        # Q tiles of a whole layout (the product over its dimensions)


@dataclass(frozen=True)
class TileVisits:
    """Per Q tile (row-major over the tile grid): KV tiles visited, and how many of them need an element mask."""
    q_tiles: int                 # dense Q tiles (padded grid)
    kv_tiles: int                # dense KV tiles (padded grid)
    visited: np.ndarray          # int64[q_tiles]: bounding-box KV tiles per Q tile
    partial: np.ndarray          # int64[q_tiles]: of those, partially masked ones

    @property
    def full(self) -> np.ndarray:
        """Of the visited KV tiles, those needing no element mask."""
        return self.visited - self.partial


def neighborhood(workload: Cascade) -> Neighborhood:
    """The cascade's single `Neighborhood` mask (the GNA layout), or MappingError naming what is there."""
    found = [m for m in workload.masks if isinstance(m, Neighborhood)]
    if len(found) != 1:
        raise MappingError(f"{workload.name}: expected one neighborhood (GNA) mask, got {workload.masks}")
    return found[0]


def _tiles(value, dims: int, what: str) -> tuple[int, ...]:
    t = (value,) if isinstance(value, int) else tuple(value)
    if len(t) != dims or any(not isinstance(x, int) or x < 1 for x in t):
        raise MappingError(f"{what}={value!r}: need {dims} positive tile sizes, one per layout dimension")
    return t


def _dim_visits(n: int, w: int, s: int, dil: int, causal: bool, qt: int, kt: int,
                aligned: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One dimension: (visited, full) KV tiles per Q tile, dilation group by group (NATTEN tiles each group
    separately), vectorized over the tiles. `aligned=False` starts each Q tile's KV tiles at its first window
    start instead of the fixed tile grid (a what-if for explaining the grid's cost)."""
    if w * dil > n:     # the cascade builder refuses it too; the bounds below rely on it
        raise MappingError(f"a layout dimension of {n} tokens: window·dilation = {w}·{dil} exceeds it")
    longest = -(-n // dil)
    tiles = -(-longest // qt)
    if dil * tiles * qt > MAX_TILE_SLOTS:
        raise MappingError(f"a layout dimension of {n} tokens with dilation {dil} and Q tile {qt} spans "
                           f"{dil * tiles * qt} tile slots, beyond the limit {MAX_TILE_SLOTS}")
    lengths = (n - np.arange(dil) + dil - 1) // dil          # queries in each group
    head = np.arange(tiles)[None, :] * qt                   # each (group, tile)'s first and last query position
    real = head < lengths[:, None]
    tail = np.minimum(head + qt, lengths[:, None]) - 1
    group = np.arange(dil)[:, None]
    # Each query's window bounds never decrease along its group (`gna_bounds`), so a tile's extremes are those of
    # its first and last query: the bounds of 2 queries per tile instead of every query's.
    queries = [np.where(real, x * dil + group, 0).ravel() for x in (head, tail)]
    (s_min, e_min), (s_max, e_max) = (gna_bounds(n, w, s, dil, causal, at=q) for q in queries)
    s_min, s_max, e_min, e_max = (np.where(real, x.reshape(dil, tiles), 0).astype(np.int64)
                                  for x in (s_min, s_max, e_min, e_max))
    kv_lo = s_min // kt * kt if aligned else s_min
    visited = (-(-e_max // kt) * kt - kv_lo) // kt
    # A full tile holds real keys only and lies inside every query's window: first ≥ the latest window start,
    # first + kt ≤ the earliest window end (and ≤ the group's length).
    first = np.maximum(kv_lo, -(-s_max // kt) * kt)
    last_first = np.minimum(e_min, lengths[:, None]) - kt
    full = np.where(last_first >= first, (last_first - first) // kt + 1, 0)
    return visited[real].astype(np.int64), full[real].astype(np.int64)


def tile_visits(mask: Neighborhood, q_tile, kv_tile, aligned: bool = True) -> TileVisits:
    """Visited and partially masked KV tiles per Q tile of a 1-/2-/3-D layout (NATTEN's bounding-box rule, the
    trip count of its kernels' `get_trip_count`); `aligned=False` is the window-aligned what-if (see
    `_dim_visits`; its partial counts are not meaningful)."""
    check_layout(mask, "tile_visits")     # a mask built by hand is checked as the cascade builder checks it
    dims = len(mask.spatial)
    qt, kt = _tiles(q_tile, dims, "q_tile"), _tiles(kv_tile, dims, "kv_tile")
    per_dim = [_dim_visits(n, w, s, d, c, q, k, aligned) for n, w, s, d, c, q, k
               in zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal, qt, kt)]
    if math.prod(len(v) for v, _ in per_dim) > MAX_Q_TILES:
        raise MappingError(f"a layout {mask.spatial} in Q tiles {qt} has {math.prod(len(v) for v, _ in per_dim)} "
                           f"tiles, beyond the limit {MAX_Q_TILES}: use larger tiles")
    visited = np.ones(1, dtype=np.int64)
    full = np.ones(1, dtype=np.int64)
    for v, f in per_dim:                                    # row-major outer product over dimensions
        visited = np.outer(visited, v).ravel()
        full = np.outer(full, f).ravel()
    kv_tiles = math.prod(-(-n // k) for n, k in zip(mask.spatial, kt))
    return TileVisits(q_tiles=len(visited), kv_tiles=kv_tiles, visited=visited, partial=visited - full)


def fully_block_sparse(spatial, window, stride, q_tile, kv_tile, dilation=None) -> bool:
    """NATTEN's fully block-sparse rule: no Q/KV tile pair anywhere needs an element mask (non-causal)."""
    dims = len(spatial)
    dilation = (1,) * dims if dilation is None else tuple(dilation)
    for n, w, s, qt, kt, d in zip(spatial, window, stride, _tiles(q_tile, dims, "q_tile"),
                                  _tiles(kv_tile, dims, "kv_tile"), dilation):
        if d != 1:
            n = n // d if n % d == 0 else None
            if n is None:
                return False
        if n == w:
            continue
        w_left = w // 2
        if not (s % qt == 0 and w % kt == 0 and (w_left - s // 2) % kt == 0):
            return False
        if n % s != 0:
            start, _ = gna_bounds(n, w, s, 1, False)
            if start[-1] % kt != 0:                    # the last stride group's window start
                return False
    return True


def gna_speedup_bound(workload: Cascade, q_tile, kv_tile) -> float:
    """Upper bound on the speedup of block-sparse GNA over dense self-attention with the same tiles:
    (dense Q tiles × dense KV tiles) / visited tile pairs. Exact when the case is fully block-sparse."""
    v = tile_visits(neighborhood(workload), q_tile, kv_tile)
    return v.q_tiles * v.kv_tiles / float(v.visited.sum())


def natten_speedup_bound(workload: Cascade, q_tile, kv_tile) -> float:
    """NATTEN's tile model: the tile pairs of its dense FMHA kernel on the unpadded sequence (N/q · N/kv: the dense
    kernel predicates its ragged last tile) over the tile pairs the GNA kernel visits on the padded, permuted
    layout. Equals `gna_speedup_bound` when the tiles divide the layout; lower when padding adds tiles."""
    m = neighborhood(workload)
    v = tile_visits(m, q_tile, kv_tile)
    n = math.prod(m.spatial)
    return n * n / (math.prod(_tiles(q_tile, len(m.spatial), "q_tile"))
                    * math.prod(_tiles(kv_tile, len(m.spatial), "kv_tile")) * float(v.visited.sum()))


def flop_bound(workload: Cascade) -> float:
    """The FLOP bound on the speedup over self-attention, N / prod(window)."""
    m = neighborhood(workload)
    return math.prod(m.spatial) / math.prod(m.window)
