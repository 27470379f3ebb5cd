"""NATTEN's neighborhood predicate, the one home of it (Hassani et al., "Neighborhood Attention Transformer",
CVPR 2023; "Generalized Neighborhood Attention", arXiv 2504.16922; NATTEN's reference mask), and exact counts over it.

Per layout dimension a query's keys form an arithmetic progression (its dilation group, a window of `window` group
positions); over a row-major multi-dimensional layout the key set is the product of the per-dimension sets. Pair
counts factorise over dimensions; tile counts enumerate runs of consecutive keys, within stated limits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workloads.errors import CascadeError
from workloads.ir import Neighborhood

MAX_LAYOUT_DIM = 1 << 20   # tokens along one layout dimension a count may enumerate (int64 arrays of 8 MiB)
MAX_RUNS = 1 << 23         # runs of consecutive keys a tile count may enumerate (64 MiB per int64 array)


@dataclass(frozen=True)
class Runs:
    """Key sets of query-row groups: group g has `weight[g]` rows; its keys are the runs [start, end) of group g."""
    weight: np.ndarray
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray


def gna_bounds(n: int, window: int, stride: int, dilation: int, causal: bool,
               at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """NATTEN's window [start, end) for each query i in one dimension (or each query index in `at`), in
    dilation-group coordinates i // d.

    Keys j attend iff j % d == i % d and start ≤ j // d < end. Non-causal windows are shifted, not truncated, at
    the borders (every query sees `window` keys); strided queries share the window of their group leader. Within a
    dilation group both bounds never decrease with the query's position.
    """
    _check_length(n)
    i = np.arange(n) if at is None else np.asarray(at, np.int64)
    grp, ig = i % dilation, i // dilation
    ng = -(-(n - grp) // dilation)  # group length ⌈(n − grp)/d⌉
    if causal:
        leader = np.minimum((ig // stride) * stride + stride - 1, ng - 1)
        start = np.maximum(leader - window + 1, 0)
        end = np.minimum(ig + 1, ng)
        return start, end
    w_left = window // 2
    w_right = window // 2 + (window % 2) - 1
    leader = np.minimum((ig // stride) * stride + stride // 2, ng - 1)
    start = np.maximum(leader - w_left, 0) + (leader + w_right >= ng) * (ng - w_right - leader - 1)
    return start, start + window


def _check_length(n: int) -> None:
    if n > MAX_LAYOUT_DIM:
        raise CascadeError(f"neighborhood mask: a layout dimension of {n} tokens; counts enumerate at most "
                           f"2^20 = {MAX_LAYOUT_DIM} per dimension")


def dense(mask: Neighborhood) -> np.ndarray:
    """The predicate as a boolean [N, N] matrix over the flattened layout (the caller bounds N·N)."""
    result = np.ones((1, 1), dtype=bool)
    for n, w, s, dil, causal in zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal):
        start, end = gna_bounds(n, w, s, dil, causal)
        j = np.arange(n)[None, :]
        same_group = (j % dil) == (np.arange(n)[:, None] % dil)
        jg = j // dil
        one = same_group & (jg >= start[:, None]) & (jg < end[:, None])
        result = np.kron(result, one).astype(bool)  # row-major flattening: later dimensions vary fastest
    return result


def pair_count(mask: Neighborhood) -> int:
    """Exact attended pairs: the product over dimensions of the keys each query of that dimension sees."""
    return math.prod(_keys_per_dimension(d) for d in
                     zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal))


def tile_count(mask: Neighborhood, kv_tile: int) -> int | None:
    """Exact (query, key tile) pairs with an attended key, per dimension when the tiles line up with the layout's
    rows (kv_tile divides the last dimension, or is a multiple of it); None when they do not (count by runs)."""
    dims = list(zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal))
    return _aligned_tiles(dims, kv_tile)


def _aligned_tiles(dims: list[tuple], k: int) -> int | None:
    """Σ over queries of the key tiles they touch, over row-major dims: a tile inside one row counts the row's
    tiles times the keys of the outer dimensions; a tile of whole rows is a tile of the outer layout."""
    *outer, (n, w, s, dil, causal) = dims
    if not outer or n % k == 0:
        start, end = gna_bounds(n, w, s, dil, causal)
        first, count = start * dil + np.arange(n) % dil, np.maximum(end - start, 0)
        last = first + (count - 1) * dil
        # Keys step by `dil`: a step below the tile width leaves no tile skipped between the first and last key.
        tiles = np.where(count == 0, 0, np.where(dil >= k, count, last // k - first // k + 1))
        keys = math.prod(_keys_per_dimension(d) for d in outer)
        return keys * int(tiles.sum())
    if k % n == 0:
        inner = _aligned_tiles(outer, k // n)
        return None if inner is None else n * inner   # every query of this dimension touches the same tiles
    return None


def _keys_per_dimension(dim: tuple) -> int:
    """Σ over a dimension's queries of the keys each sees in that dimension."""
    n, w, s, dil, causal = dim
    if not causal:
        return n * w   # a non-causal window is shifted inside the layout, never cut
    start, end = gna_bounds(n, w, s, dil, causal)
    return int(np.maximum(end - start, 0).sum())


def _per_dimension(mask: Neighborhood) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per dimension: the distinct (first key, count, step) progressions and how many queries have each."""
    out = []
    for n, w, s, dil, causal in zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal):
        start, end = gna_bounds(n, w, s, dil, causal)
        grp = np.arange(n) % dil
        triples = np.stack([start * dil + grp, np.maximum(end - start, 0), np.full(n, dil)], axis=1)
        out.append(np.unique(triples, axis=0, return_counts=True))
    return out


def runs(mask: Neighborhood) -> Runs:
    """Query rows grouped by key set, each key set as sorted runs of consecutive flattened keys."""
    per_dim = _per_dimension(mask)
    dims = len(mask.spatial)
    inner_contiguous = per_dim[-1][0][0, 2] == 1   # unit step in the last dimension: its keys are one run
    expand = dims - 1 if inner_contiguous else dims
    _check_runs(per_dim, expand)
    strides = np.cumprod((1,) + mask.spatial[::-1])[:-1][::-1]
    grids = np.meshgrid(*[np.arange(len(u)) for u, _ in per_dim], indexing="ij")
    choice = [g.ravel() for g in grids]
    weight = np.ones(len(choice[0]), dtype=np.int64)
    first, count, step = [], [], []
    for d, (unique, counts) in enumerate(per_dim):
        weight *= counts[choice[d]]
        first.append(unique[choice[d], 0])
        count.append(unique[choice[d], 1])
        step.append(unique[choice[d], 2])
    group = np.arange(len(weight))
    base = np.zeros(len(weight), dtype=np.int64)
    for d in range(expand):
        reps = count[d][group]
        offsets = np.cumsum(reps) - reps
        group_new = np.repeat(group, reps)
        k = np.arange(len(group_new)) - np.repeat(offsets, reps)
        base = np.repeat(base, reps) + (first[d][group_new] + k * step[d][group_new]) * strides[d]
        group = group_new
    if inner_contiguous:
        start = base + first[-1][group] * strides[-1]
        return Runs(weight, group, start, start + count[-1][group])
    return Runs(weight, group, base, base + 1)


def _check_runs(per_dim: list[tuple[np.ndarray, np.ndarray]], expand: int) -> None:
    """Refuse, before allocating, a layout whose tile count would enumerate more than MAX_RUNS runs."""
    groups = math.prod(len(unique) for unique, _ in per_dim)
    runs_ = math.prod(int(unique[:, 1].sum()) for unique, _ in per_dim[:expand]) * \
        math.prod(len(unique) for unique, _ in per_dim[expand:])
    if max(groups, runs_) > MAX_RUNS:
        raise CascadeError(f"neighborhood mask: counting key tiles would enumerate {max(groups, runs_)} runs of "
                           f"keys; at most 2^23 = {MAX_RUNS} (a smaller layout or window)")
