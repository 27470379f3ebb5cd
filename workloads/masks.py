"""Mask predicates: dense boolean matrices for the executor, exact pair and tile counts for cost models.

Every mask relates a query rank (size M) and a key rank (size P). For counting at scale, a mask is described
by the key sets of its query rows as runs of consecutive keys: rows with identical key sets are grouped and
weighted, so counts never enumerate M·P pairs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workloads.errors import CascadeError
from workloads.ir import Blocks, Causal, Mask, Neighborhood, Window


@dataclass(frozen=True)
class Runs:
    """Key sets of query-row groups: group g has `weight[g]` rows; its keys are the runs [start, end) of group g."""
    weight: np.ndarray
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray


def gna_bounds(n: int, window: int, stride: int, dilation: int, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """NATTEN's window [start, end) for each query i in one dimension, in dilation-group coordinates i // d.

    Keys j attend iff j % d == i % d and start ≤ j // d < end (gpus-and-local-attention.md §5).
    """
    i = np.arange(n)
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


def check(mask: Mask, m: int, p: int, where: str) -> None:
    """Validate a mask's parameters against the sizes of its ranks."""
    if isinstance(mask, Window) and (mask.left < 0 or mask.right < 0):
        raise CascadeError(f"{where}: window sizes must be ≥ 0, got left={mask.left}, right={mask.right}")
    if isinstance(mask, Blocks):
        if mask.q_block < 1 or mask.kv_block < 1:
            raise CascadeError(f"{where}: block sizes must be ≥ 1, got q_block={mask.q_block}, kv_block={mask.kv_block}")
        shape = (-(-m // mask.q_block), -(-p // mask.kv_block))
        rows = len(mask.keep)
        if rows != shape[0] or any(len(r) != shape[1] for r in mask.keep):
            raise CascadeError(f"{where}: block table must be {shape[0]}×{shape[1]} for {m} queries in blocks of "
                               f"{mask.q_block} and {p} keys in blocks of {mask.kv_block}")
    if isinstance(mask, Neighborhood):
        dims = len(mask.spatial)
        for field in ("window", "stride", "dilation", "causal"):
            if len(getattr(mask, field)) != dims:
                raise CascadeError(f"{where}: {field}={getattr(mask, field)} needs one entry per layout dimension "
                                   f"(spatial={mask.spatial})")
        if math.prod(mask.spatial) != m or m != p:
            raise CascadeError(f"{where}: token layout {mask.spatial} has {math.prod(mask.spatial)} tokens but the "
                               f"query and key ranks have {m} and {p}")
        for d, (n, w, s, dil) in enumerate(zip(mask.spatial, mask.window, mask.stride, mask.dilation)):
            if min(n, w, s, dil) < 1:
                raise CascadeError(f"{where}: dimension {d}: sizes must be ≥ 1 (input {n}, window {w}, stride {s}, "
                                   f"dilation {dil})")
            if s > w:
                raise CascadeError(f"{where}: dimension {d}: stride {s} > window {w}")
            if w * dil > n:
                raise CascadeError(f"{where}: dimension {d}: window·dilation = {w}·{dil} > input {n}")


def dense(mask: Mask, m: int, p: int) -> np.ndarray:
    """The mask as a boolean [m, p] matrix (True = attend). For the executor and small checks."""
    q = np.arange(m)[:, None]
    k = np.arange(p)[None, :]
    if isinstance(mask, Causal):
        return k <= q + (p - m)
    if isinstance(mask, Window):
        centre = q + (p - m)
        return (k >= centre - mask.left) & (k <= centre + mask.right)
    if isinstance(mask, Blocks):
        keep = np.asarray(mask.keep, dtype=bool)
        return np.kron(keep, np.ones((mask.q_block, mask.kv_block), dtype=bool))[:m, :p].astype(bool)
    result = np.ones((1, 1), dtype=bool)
    for n, w, s, dil, causal in zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal):
        start, end = gna_bounds(n, w, s, dil, causal)
        j = np.arange(n)[None, :]
        same_group = (j % dil) == (np.arange(n)[:, None] % dil)
        jg = j // dil
        one = same_group & (jg >= start[:, None]) & (jg < end[:, None])
        result = np.kron(result, one).astype(bool)  # row-major flattening: later dimensions vary fastest
    return result


def runs(mask: Mask, m: int, p: int) -> Runs:
    """Group query rows by key set and describe each key set as sorted disjoint runs."""
    if isinstance(mask, (Causal, Window)):
        centre = np.arange(m) + (p - m)
        if isinstance(mask, Causal):
            start, end = np.zeros(m, dtype=np.int64), np.minimum(centre + 1, p)
        else:
            start, end = np.maximum(centre - mask.left, 0), np.minimum(centre + mask.right + 1, p)
        end = np.maximum(end, start)
        return Runs(np.ones(m, dtype=np.int64), np.arange(m), start.astype(np.int64), end.astype(np.int64))
    if isinstance(mask, Blocks):
        keep = np.asarray(mask.keep, dtype=bool)
        rows = np.minimum(np.arange(1, keep.shape[0] + 1) * mask.q_block, m) - np.arange(keep.shape[0]) * mask.q_block
        group, block = np.nonzero(keep)
        return Runs(rows.astype(np.int64), group, (block * mask.kv_block).astype(np.int64),
                    np.minimum((block + 1) * mask.kv_block, p).astype(np.int64))
    return _neighborhood_runs(mask)


def _neighborhood_runs(mask: Neighborhood) -> Runs:
    # Per dimension, each query's keys are an arithmetic progression first + k·step, k < count.
    per_dim = []
    for n, w, s, dil, causal in zip(mask.spatial, mask.window, mask.stride, mask.dilation, mask.causal):
        start, end = gna_bounds(n, w, s, dil, causal)
        grp = np.arange(n) % dil
        triples = np.stack([start * dil + grp, np.maximum(end - start, 0), np.full(n, dil)], axis=1)
        unique, counts = np.unique(triples, axis=0, return_counts=True)
        per_dim.append((unique, counts))
    strides = np.cumprod((1,) + mask.spatial[::-1])[:-1][::-1]
    # All combinations of per-dimension key sets (outer product), with multiplicities.
    grids = np.meshgrid(*[np.arange(len(u)) for u, _ in per_dim], indexing="ij")
    choice = [g.ravel() for g in grids]
    weight = np.ones(len(choice[0]), dtype=np.int64)
    first, count, step = [], [], []
    for d, (unique, counts) in enumerate(per_dim):
        weight *= counts[choice[d]]
        first.append(unique[choice[d], 0])
        count.append(unique[choice[d], 1])
        step.append(unique[choice[d], 2])
    dims = len(mask.spatial)
    inner_contiguous = step[-1][0] == 1  # same dilation for every query of a dimension
    expand = dims - 1 if inner_contiguous else dims
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
        end = start + count[-1][group]
    else:
        start, end = base, base + 1
    return Runs(weight, group, start, end)


def pair_count(mask: Mask, m: int, p: int) -> int:
    """Exact number of attended (query, key) pairs."""
    r = runs(mask, m, p)
    per_group = np.bincount(r.group, weights=(r.end - r.start), minlength=len(r.weight))
    return int(np.dot(per_group.astype(np.int64), r.weight))


def tile_count(mask: Mask, m: int, p: int, kv_tile: int) -> int:
    """Exact number of (query, key tile) pairs with at least one attended key; key tiles are [t·kv_tile, (t+1)·kv_tile)."""
    r = runs(mask, m, p)
    nonempty = r.end > r.start
    group, first, last = r.group[nonempty], r.start[nonempty] // kv_tile, (r.end[nonempty] - 1) // kv_tile
    tiles = last - first + 1
    # Runs are sorted within a group, so consecutive runs can share at most one tile.
    shared = np.zeros(len(group), dtype=np.int64)
    shared[1:] = (group[1:] == group[:-1]) & (first[1:] == last[:-1])
    per_group = np.bincount(group, weights=tiles - shared, minlength=len(r.weight))
    return int(np.dot(per_group.astype(np.int64), r.weight))
