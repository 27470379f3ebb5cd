"""Greedy dispatch of work items to identical workers, compiled with Numba: each item, in order, goes to the
least-loaded worker (ties: the lowest index), as a hardware block scheduler hands CTAs to SMs.

A tournament tree over the workers (each node holds the least-loaded worker of its subtree, the left one on ties):
the root is the next item's worker, and after its load grows one leaf-to-root path is replayed, O(n log workers) for
n items with one comparison per level (a wave-at-a-time NumPy loop costs a few array calls per wave, and the waves
of an uneven, causal grid are short).
"""
from __future__ import annotations

import numpy as np
from numba import types

from sim.ir.jit import kernel

_SIGNATURE = types.void(types.float64[::1], types.int64[::1], types.float64[::1])


@kernel(_SIGNATURE)
def _dispatch(estimates, owner, load):
    """Fill `owner` (one worker per item) and `load` (each worker's total)."""
    workers = len(load)
    leaves = 1
    while leaves < workers:
        leaves *= 2
    key = np.empty(leaves, np.float64)
    for i in range(leaves):
        key[i] = 0.0 if i < workers else np.inf     # padding leaves never win against a worker
    tree = np.empty(2 * leaves, np.int64)
    for i in range(leaves):
        tree[leaves + i] = i
    for node in range(leaves - 1, 0, -1):
        a, b = tree[2 * node], tree[2 * node + 1]
        tree[node] = a if key[a] <= key[b] else b
    for i in range(len(estimates)):
        w = tree[1]
        owner[i] = w
        key[w] += estimates[i]
        node = (leaves + w) >> 1
        while node >= 1:
            a, b = tree[2 * node], tree[2 * node + 1]
            tree[node] = a if key[a] <= key[b] else b    # a's subtree holds the lower indices: ties go left
            node >>= 1
    for i in range(workers):
        load[i] = key[i]


def greedy_dispatch(estimates: np.ndarray, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(each item's worker, each worker's total load) of greedy dispatch in order (see the module docstring)."""
    if int(workers) < 1:
        raise ValueError(f"greedy_dispatch needs at least one worker, got {workers}")
    est = np.ascontiguousarray(estimates, dtype=np.float64)
    owner = np.empty(len(est), np.int64)
    load = np.zeros(int(workers))
    _dispatch(est, owner, load)
    return owner, load
