"""What makes a tile program valid, checked fast and explained readably.

`validate` (in `sim.ir.program`) runs the fast path here: O(1) structural predicates per segment in Python, the
segments concatenated into one `Flat` program (no copy for a single segment), and one compiled pass over it that
checks every element, the buffer accounting and the tick range, and sums the schedule-independent totals. Only when
that pass finds a problem does `explain` run: the readable NumPy checks that name the first problem — segment, op,
field and what would work — in a fixed order (header, then each segment, then buffer accounting, then ticks).
The two must agree; the tests fuzz them against each other.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from numba import types

from sim.ir.jit import helper, kernel

__all__ = ["Flat", "MAX_BUFFER_BYTES", "MAX_REPEAT", "MAX_TICKS", "ProgramError", "SEGMENT_DTYPES", "flatten",
           "structure_ok", "check_contents"]

MAX_TICKS = 2 ** 62  # the engine counts time in int64 ticks: a program that could run longer is refused, not wrapped
MAX_REPEAT = 2 ** 62  # a segment repeat is an int64 in the engine
MAX_BUFFER_BYTES = 2 ** 61  # buffer accounting adds two amounts of at most this size without overflowing int64


class ProgramError(ValueError):
    """A program that is malformed, or that cannot be scheduled (buffer deadlock, over-release, tick overflow)."""


SEGMENT_DTYPES = {
    "unit": np.int32, "duration": np.int64, "latency": np.int64,
    "dep_ptr": np.int64, "dep_op": np.int32, "dep_prev": np.bool_,
    "acq_ptr": np.int64, "acq_buf": np.int32, "acq_amount": np.int64,
    "rel_ptr": np.int64, "rel_buf": np.int32, "rel_amount": np.int64,
    "level_bytes": np.float64, "tag": np.int32,
}
_PER_OP = ("unit", "duration", "latency", "tag")
_CSR = (("dep_ptr", ("dep_op", "dep_prev")), ("acq_ptr", ("acq_buf", "acq_amount")),
        ("rel_ptr", ("rel_buf", "rel_amount")))


class Flat(NamedTuple):
    """A program's segments concatenated: the arrays the compiled checks and the engine read.

    Op arrays are in program order (segment s owns ops `seg_ptr[s]:seg_ptr[s+1]`); each CSR pointer array holds the
    segments' own pointer arrays one after the other (segment s's starts at `seg_ptr[s] + s`), relative to the
    segment's first member, which is at `dep_base[s]` (`acq_base`, `rel_base`) in the member arrays.
    """

    seg_ptr: np.ndarray  # int64[S+1]
    repeat: np.ndarray  # int64[S]
    barrier: np.ndarray  # bool[S]
    unit: np.ndarray  # int32[N]
    duration: np.ndarray  # int64[N]
    latency: np.ndarray  # int64[N]
    tag: np.ndarray  # int32[N]
    level_bytes: np.ndarray  # float64[N, L]
    dep_base: np.ndarray  # int64[S+1]
    dep_ptr: np.ndarray  # int64[N+S]
    dep_op: np.ndarray  # int32[D]
    dep_prev: np.ndarray  # bool[D]
    acq_base: np.ndarray  # int64[S+1]
    acq_ptr: np.ndarray  # int64[N+S]
    acq_buf: np.ndarray  # int32[A]
    acq_amount: np.ndarray  # int64[A]
    rel_base: np.ndarray  # int64[S+1]
    rel_ptr: np.ndarray  # int64[N+S]
    rel_buf: np.ndarray  # int32[R]
    rel_amount: np.ndarray  # int64[R]
    unit_is_memory: np.ndarray  # bool[U]
    capacity: np.ndarray  # int64[B]


_FIELDS = operator.attrgetter(*SEGMENT_DTYPES)


def structure_ok(seg, n_levels: int, seen: set | None = None) -> bool:
    """Cheap predicate: `repeat` in range, every field an array of its dtype, per-op lengths consistent. `seen`
    holds the array identities of bodies already found well formed in this pass (a body shared by several
    segments, e.g. one CTA's, is checked once: only its repeat count differs)."""
    if isinstance(seg.repeat, bool) or not isinstance(seg.repeat, (int, np.integer)):
        return False
    if not 1 <= seg.repeat <= MAX_REPEAT:
        return False
    body = tuple(map(id, _FIELDS(seg))) if seen is not None else None
    if body is not None and body in seen:
        return True
    if not _body_ok(seg, n_levels):
        return False
    if body is not None:
        seen.add(body)
    return True


def _body_ok(seg, n_levels: int) -> bool:
    """Every field an array of its dtype, per-op lengths consistent."""
    for name, dtype in SEGMENT_DTYPES.items():
        arr = getattr(seg, name)
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype:
            return False
    n = seg.unit.shape[0] if seg.unit.ndim == 1 else 0
    if n == 0 or seg.level_bytes.shape != (n, n_levels):
        return False
    if any(getattr(seg, name).shape != (n,) for name in _PER_OP):
        return False
    for ptr, members in _CSR:
        if getattr(seg, ptr).shape != (n + 1,):
            return False
        first = getattr(seg, members[0])
        if first.ndim != 1 or getattr(seg, members[1]).shape != first.shape:
            return False
    return True


def flatten(program) -> Flat:
    """Concatenate the (structurally valid) segments of `program` (a single segment's arrays are used as they are)."""
    segs = program.segments
    n = np.array([0] + [s.unit.shape[0] for s in segs], np.int64)

    def cat(name: str, dtype) -> np.ndarray:
        parts = [getattr(s, name) for s in segs]
        if len(parts) == 1:
            return np.ascontiguousarray(parts[0])
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    def base(name: str) -> np.ndarray:
        return np.cumsum([0] + [getattr(s, name).shape[0] for s in segs], dtype=np.int64)

    n_levels = len(program.levels)
    level_bytes = (np.ascontiguousarray(segs[0].level_bytes) if len(segs) == 1 else
                   np.concatenate([s.level_bytes for s in segs]) if segs else np.zeros((0, n_levels)))
    return Flat(
        seg_ptr=np.cumsum(n), repeat=np.array([s.repeat for s in segs], np.int64),
        barrier=np.array([bool(s.barrier) for s in segs], np.bool_),
        unit=cat("unit", np.int32), duration=cat("duration", np.int64), latency=cat("latency", np.int64),
        tag=cat("tag", np.int32), level_bytes=level_bytes,
        dep_base=base("dep_op"), dep_ptr=cat("dep_ptr", np.int64), dep_op=cat("dep_op", np.int32),
        dep_prev=cat("dep_prev", np.bool_),
        acq_base=base("acq_buf"), acq_ptr=cat("acq_ptr", np.int64), acq_buf=cat("acq_buf", np.int32),
        acq_amount=cat("acq_amount", np.int64),
        rel_base=base("rel_buf"), rel_ptr=cat("rel_ptr", np.int64), rel_buf=cat("rel_buf", np.int32),
        rel_amount=cat("rel_amount", np.int64),
        unit_is_memory=np.array(program.unit_is_memory, np.bool_).reshape(len(program.units)),
        capacity=np.ascontiguousarray(program.buffer_capacity),
    )


# ---------------------------------------------------------------------------------------------------------------
# The compiled pass


def _array(dtype, ndim: int = 1, readonly: bool = True) -> types.Array:
    return types.Array(dtype, ndim, "C", readonly=readonly)


I64, I32, BOOL, F64 = _array(types.int64), _array(types.int32), _array(types.boolean), _array(types.float64)
_CHECK_SIGNATURE = types.Tuple((types.boolean, _array(types.int64, readonly=False),
                                _array(types.float64, readonly=False), _array(types.int64, 2, readonly=False)))(
    I64, I64, I32, I64, I64, I32, _array(types.float64, 2), I64, I64, I32, BOOL, I64, I64, I32, I64,
    I64, I64, I32, I64, I64, types.int64, types.int64)
_FAR = 2 ** 62  # beyond any running byte count (those stay within +-MAX_BUFFER_BYTES)
_MAX_FLOAT = 1.7976931348623157e308


@helper
def _csr_ok(ptr, p0, n, members):
    """The segment's pointer array (at `ptr[p0:p0+n+1]`) starts at 0, never decreases and ends at `members`."""
    if ptr[p0] != 0 or ptr[p0 + n] != members:
        return False
    for i in range(n):
        if ptr[p0 + i + 1] < ptr[p0 + i]:
            return False
    return True


@helper
def _first_touch(b, touched, order, n_touched, after, high, low):
    """Start tracking buffer b for this segment; return the new count of tracked buffers."""
    if touched[b]:
        return n_touched
    touched[b], order[n_touched], after[b], high[b], low[b] = True, b, 0, -_FAR, _FAR
    return n_touched + 1


@helper
def _ops_ok(o0, n, p0, s, unit, duration, latency, tag, level_bytes, dep_base, dep_ptr, dep_op, dep_prev,
            acq_base, acq_ptr, acq_buf, acq_amount, rel_base, rel_ptr, rel_buf, rel_amount, capacity, n_units,
            n_tags, held, after, high, low, touched, order, body_busy, body_tag, body_bytes):
    """Check segment s's ops and sum its body (busy per unit and tag, bytes per level); return (the body's ticks
    of duration + latency, buffers touched), or (-1, 0) on the first invalid element."""
    n_bufs, n_levels = capacity.shape[0], level_bytes.shape[1]
    body, n_touched = np.int64(0), np.int64(0)  # not literals: one compiled signature per helper
    for i in range(n):
        g = o0 + i
        u, t, d, lat = unit[g], tag[g], duration[g], latency[g]
        if u < 0 or u >= n_units or t < -1 or t >= n_tags or d < 0 or lat < 0:
            return -1, 0
        if d > MAX_TICKS - body or lat > MAX_TICKS - body - d:
            return -1, 0
        body += d + lat
        body_busy[u] += d
        if t >= 0:
            body_tag[t, u] += d
        for c in range(n_levels):
            x = level_bytes[g, c]
            if not (x >= 0.0 and x <= _MAX_FLOAT):
                return -1, 0
            body_bytes[c] += x
        for e in range(dep_base[s] + dep_ptr[p0 + i], dep_base[s] + dep_ptr[p0 + i + 1]):
            if dep_op[e] < 0 or dep_op[e] >= (n if dep_prev[e] else i):
                return -1, 0
        for e in range(acq_base[s] + acq_ptr[p0 + i], acq_base[s] + acq_ptr[p0 + i + 1]):
            b, a = acq_buf[e], acq_amount[e]
            if b < 0 or b >= n_bufs or a < 0 or a > capacity[b]:
                return -1, 0
            n_touched = _first_touch(b, touched, order, n_touched, after, high, low)
            after[b] += a
            if held[b] + after[b] > capacity[b]:  # deadlock in iteration 0
                return -1, 0
            high[b] = max(high[b], after[b])
        for e in range(rel_base[s] + rel_ptr[p0 + i], rel_base[s] + rel_ptr[p0 + i + 1]):
            b, r = rel_buf[e], rel_amount[e]
            if b < 0 or b >= n_bufs or r < 0:
                return -1, 0
            n_touched = _first_touch(b, touched, order, n_touched, after, high, low)
            if r > held[b] + after[b]:  # over-release in iteration 0
                return -1, 0
            after[b] -= r
            low[b] = min(low[b], after[b])
    return body, n_touched


@helper
def _iterations_ok(k, n_touched, order, touched, held, after, high, low, capacity):
    """Whether the later iterations of a segment repeated k times stay within the buffers (they first fail in the
    last iteration, as bytes accumulate or drain by the same net amount per iteration); update `held`."""
    ok = True
    for j in range(n_touched):
        b = order[j]
        net = after[b]
        touched[b] = False
        if net > 0 and k - 1 > (capacity[b] - held[b] - high[b]) // net:
            ok = False
        if net < 0 and k - 1 > (held[b] + low[b]) // -net:
            ok = False
        held[b] += net * k
    return ok


@kernel(_CHECK_SIGNATURE)
def check_contents(seg_ptr, repeat, unit, duration, latency, tag, level_bytes, dep_base, dep_ptr, dep_op, dep_prev,
                   acq_base, acq_ptr, acq_buf, acq_amount, rel_base, rel_ptr, rel_buf, rel_amount, capacity,
                   n_units, n_tags):
    """(True, busy ticks per unit, bytes per level, busy ticks per (tag, unit)) if every element of the flat
    program is valid (the conditions `explain` checks), else (False, ...) with partial sums."""
    n_bufs, n_levels = capacity.shape[0], level_bytes.shape[1]
    busy, level_total = np.zeros(n_units, np.int64), np.zeros(n_levels)
    tag_busy = np.zeros((n_tags, n_units), np.int64)
    body_busy, body_tag = np.zeros(n_units, np.int64), np.zeros((n_tags, n_units), np.int64)
    body_bytes = np.zeros(n_levels)
    held, after = np.zeros(n_bufs, np.int64), np.zeros(n_bufs, np.int64)
    high, low = np.zeros(n_bufs, np.int64), np.zeros(n_bufs, np.int64)
    touched, order = np.zeros(n_bufs, np.bool_), np.zeros(n_bufs, np.int64)
    ok, total = True, 0
    for s in range(repeat.shape[0]):
        o0, n, k = seg_ptr[s], seg_ptr[s + 1] - seg_ptr[s], repeat[s]
        p0 = o0 + s
        ok = (_csr_ok(dep_ptr, p0, n, dep_base[s + 1] - dep_base[s])
              and _csr_ok(acq_ptr, p0, n, acq_base[s + 1] - acq_base[s])
              and _csr_ok(rel_ptr, p0, n, rel_base[s + 1] - rel_base[s]))
        if not ok:
            break
        for u in range(n_units):  # loops, not slice assignments: they compile much faster
            body_busy[u] = 0
            for t in range(n_tags):
                body_tag[t, u] = 0
        for c in range(n_levels):
            body_bytes[c] = 0.0
        body, n_touched = _ops_ok(o0, n, p0, s, unit, duration, latency, tag, level_bytes, dep_base, dep_ptr,
                                  dep_op, dep_prev, acq_base, acq_ptr, acq_buf, acq_amount, rel_base, rel_ptr,
                                  rel_buf, rel_amount, capacity, n_units, n_tags, held, after, high, low, touched,
                                  order, body_busy, body_tag, body_bytes)
        ok = body >= 0 and _iterations_ok(k, n_touched, order, touched, held, after, high, low, capacity)
        ok = ok and (body == 0 or k <= (MAX_TICKS - total) // body)
        if not ok:
            break
        total += body * k
        for u in range(n_units):
            busy[u] += body_busy[u] * k
            for t in range(n_tags):
                tag_busy[t, u] += body_tag[t, u] * k
        for c in range(n_levels):
            level_total[c] += body_bytes[c] * k
    return ok, busy, level_total, tag_busy
