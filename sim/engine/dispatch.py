"""Greedy dispatch of work items to identical workers, compiled with Numba: each item, in order, goes to the
least-loaded worker (ties: the lowest index), as a hardware block scheduler hands CTAs to SMs.

One binary heap of (load, worker) pairs: O(n log workers) for n items, where a wave-at-a-time NumPy loop costs a few
array calls per wave and the waves of an uneven (causal) grid are short.
"""
from __future__ import annotations

import numpy as np
from numba import types

from sim.ir.jit import helper, kernel

_SIGNATURE = types.void(types.float64[::1], types.int64[::1], types.float64[::1], types.int64[::1])


@helper
def _before(load, worker, a, b):
    """Whether heap entry a orders before entry b: less load, or equal load and a lower worker index."""
    return load[a] < load[b] or (load[a] == load[b] and worker[a] < worker[b])


@kernel(_SIGNATURE)
def _dispatch(estimates, owner, load, worker):
    """Fill `owner` (one worker per item) and `load` (each worker's total); `worker` is the heap (scratch)."""
    sms = len(load)
    key = np.zeros(sms)          # key[h]: the load of the worker at heap position h
    for h in range(sms):
        worker[h] = h            # all loads 0: index order is a valid heap
    for i in range(len(estimates)):
        w = worker[0]
        owner[i] = w
        load[w] += estimates[i]
        key[0] = load[w]
        h = 0                    # sift the root down
        while True:
            c = 2 * h + 1
            if c >= sms:
                break
            if c + 1 < sms and _before(key, worker, c + 1, c):
                c += 1
            if not _before(key, worker, c, h):
                break
            key[h], key[c] = key[c], key[h]
            worker[h], worker[c] = worker[c], worker[h]
            h = c


def greedy_dispatch(estimates: np.ndarray, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(each item's worker, each worker's total load) of greedy dispatch in order (see the module docstring)."""
    est = np.ascontiguousarray(estimates, dtype=np.float64)
    owner = np.empty(len(est), np.int64)
    load = np.zeros(int(workers))
    _dispatch(est, owner, load, np.empty(int(workers), np.int64))
    return owner, load
