"""Exact counts for masks whose rows are key intervals that slide with the query (causal, sliding window), in
closed form: O(log) arithmetic on Python integers, whatever the number of queries (2^40 costs what 8 does).

Query i attends keys [clamp(i + a, 0, P), clamp(i + b, 0, P)) with a < b. A tile of g consecutive queries attends
the union of their intervals, which is again an interval (consecutive rows overlap or touch because b − a ≥ 1):
[clamp(g·t + a, 0, P), clamp(g·t + g − 1 + b, 0, P)) for tile t. Every count below is a sum over such a family.
"""
from __future__ import annotations


def interval_count(a: int, b: int, m: int, p: int, q_tile: int = 1, kv_tile: int | None = None) -> int:
    """Attended (query tile, key) pairs — or (query tile, key tile) pairs when `kv_tile` is given — of the family
    i ↦ [clamp(i + a), clamp(i + b)) over m queries and p keys; query tiles of `q_tile` (the last one ragged)."""
    full, rest = divmod(m, q_tile)
    families = [(full, q_tile, a, b + q_tile - 1)]
    if rest:
        families.append((1, 1, full * q_tile + a, m - 1 + b))
    if kv_tile is None:
        return sum(_pairs(t, g, lo, hi, p) for t, g, lo, hi in families)
    return sum(_tiles(t, g, lo, hi, p, kv_tile) for t, g, lo, hi in families)


def _pairs(rows: int, g: int, a: int, b: int, p: int) -> int:
    """Σ_t (clamp(g·t + b) − clamp(g·t + a)) over t < rows."""
    return _clamp_sum(rows, g, b, p) - _clamp_sum(rows, g, a, p)


def _tiles(rows: int, g: int, a: int, b: int, p: int, k: int) -> int:
    """Σ over non-empty rows t of the key tiles [start, end) touches: (end − 1)//k − start//k + 1."""
    first = max(0, (-b) // g + 1)           # smallest t with g·t + b > 0 (the row ends after key 0)
    stop = min(rows, _ceil_div(p - a, g))   # smallest t with g·t + a ≥ p (the row starts after the last key)
    if stop <= first:
        return 0
    ends = _floor_clamp_sum(first, stop, g, b - 1, 0, p - 1, k)
    starts = _floor_clamp_sum(first, stop, g, a, 0, p - 1, k)
    return ends - starts + (stop - first)


def _clamp_sum(rows: int, g: int, c: int, p: int) -> int:
    """Σ_{t < rows} clamp(g·t + c, 0, p)."""
    low = min(rows, max(0, _ceil_div(-c, g)))       # t below this: g·t + c < 0, value 0
    high = min(rows, max(low, (p - c) // g + 1))    # t from here: g·t + c > p, value p
    n = high - low
    middle = g * (low + high - 1) * n // 2 + c * n
    return middle + p * (rows - high)


def _floor_clamp_sum(t0: int, t1: int, g: int, c: int, lo: int, hi: int, k: int) -> int:
    """Σ_{t0 ≤ t < t1} ⌊clamp(g·t + c, lo, hi) / k⌋ with 0 ≤ lo ≤ hi."""
    below = min(t1, max(t0, _ceil_div(lo - c, g)))  # t below this: g·t + c < lo
    above = min(t1, max(below, (hi - c) // g + 1))  # t from here: g·t + c > hi
    middle = floor_sum(above - below, k, g, g * below + c)
    return (below - t0) * (lo // k) + middle + (t1 - above) * (hi // k)


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """Σ_{i < n} ⌊(a·i + b) / m⌋ for n ≥ 0, m ≥ 1, a ≥ 0, b ≥ 0 (Euclid-like reduction, as in AtCoder's ACL)."""
    total = 0
    while n > 0:
        if a >= m:
            total += n * (n - 1) // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y = a * n + b
        if y < m:
            break
        n, b = divmod(y, m)
        m, a = a, m
    return total


def _ceil_div(x: int, d: int) -> int:
    return -((-x) // d)
