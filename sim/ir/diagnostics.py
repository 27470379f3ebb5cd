"""The readable checks behind `validate`: they name the first problem of an invalid program.

Order: the header, then each segment in order (repeat, dtypes, shapes, index ranges, signs, CSR structure,
same-iteration dependencies, acquire sizes), then buffer accounting over all iterations, then the tick range.
`sim.ir.checks` decides fast whether there is a problem; this module says which one.
"""

from __future__ import annotations

import numpy as np

from sim.ir.checks import MAX_BUFFER_BYTES, MAX_REPEAT, MAX_TICKS, SEGMENT_DTYPES, ProgramError

__all__ = ["check_header", "explain"]


def check_header(p) -> None:
    """Raise ProgramError unless the program's names, flags, capacities, tick rate and segment tuple are valid."""
    for what in ("units", "buffers", "levels", "tags"):
        names = getattr(p, what)
        if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
            raise ProgramError(f"program.{what} must be a tuple of str")
        if len(set(names)) != len(names):
            raise ProgramError(f"program.{what} has duplicate names: {_short(names)}")
    if not isinstance(p.unit_is_memory, (tuple, list)):
        raise ProgramError(f"program.unit_is_memory must be a tuple of bool (one per unit), got "
                           f"{type(p.unit_is_memory).__name__}")
    if len(p.unit_is_memory) != len(p.units):
        raise ProgramError(f"program.unit_is_memory has {len(p.unit_is_memory)} entries for {len(p.units)} units")
    cap = p.buffer_capacity
    if not isinstance(cap, np.ndarray) or cap.dtype != np.int64 or cap.shape != (len(p.buffers),):
        raise ProgramError(f"program.buffer_capacity must be int64[{len(p.buffers)}]")
    if np.any(cap < 0) or np.any(cap > MAX_BUFFER_BYTES):
        bad = _first((cap < 0) | (cap > MAX_BUFFER_BYTES))
        raise ProgramError(f"program.buffer_capacity: capacity {cap[bad]} of buffer {p.buffers[bad]!r} is outside "
                           f"[0, 2^61] bytes")
    if (isinstance(p.ticks_per_cycle, bool) or not isinstance(p.ticks_per_cycle, (int, np.integer))
            or not 1 <= p.ticks_per_cycle <= MAX_TICKS):
        raise ProgramError(f"program.ticks_per_cycle must be an int >= 1 (at most 2^62), got "
                           f"{_short(p.ticks_per_cycle)}")
    if not isinstance(p.segments, tuple):
        raise ProgramError("program.segments must be a tuple of Segment")


def explain(p) -> None:
    """Raise ProgramError naming the first problem of `p` (whose header and segment types are valid); return
    quietly if there is none."""
    seen: set[str] = set()
    for s, seg in enumerate(p.segments):
        if seg.name in seen:
            raise ProgramError(f"segment {s}: duplicate segment name {seg.name!r}")
        seen.add(seg.name)
        _check_segment(p, seg)
    _check_buffer_accounting(p)
    _check_ticks(p)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _where(seg, op: int | None, name: str) -> str:
    at = f"segment {seg.name!r}" + ("" if op is None else f" op {op}")
    return f"{at} field {name}"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_segment(p, seg) -> None:
    if isinstance(seg.repeat, bool) or not isinstance(seg.repeat, (int, np.integer)) or seg.repeat < 1:
        raise ProgramError(f"{_where(seg, None, 'repeat')}: must be an int >= 1, got {_short(seg.repeat)}")
    if seg.repeat > MAX_REPEAT:
        raise ProgramError(f"{_where(seg, None, 'repeat')}: {seg.repeat} is beyond the engine's limit of 2^62")
    for name, dtype in SEGMENT_DTYPES.items():
        arr = getattr(seg, name)
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype:
            got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise ProgramError(f"{_where(seg, None, name)}: expected a {np.dtype(dtype)} array, got {got}")
    n = int(seg.unit.shape[0]) if seg.unit.ndim == 1 else 0
    if n == 0:
        raise ProgramError(f"segment {seg.name!r}: body has no ops")
    for name in ("unit", "duration", "latency", "tag"):
        if getattr(seg, name).shape != (n,):
            raise ProgramError(f"{_where(seg, None, name)}: shape {getattr(seg, name).shape}, expected ({n},)")
    if seg.level_bytes.shape != (n, len(p.levels)):
        raise ProgramError(f"{_where(seg, None, 'level_bytes')}: shape {seg.level_bytes.shape}, "
                           f"expected ({n}, {len(p.levels)})")
    _check_range(seg, "unit", seg.unit, 0, len(p.units))
    _check_range(seg, "tag", seg.tag, -1, len(p.tags))
    for name in ("duration", "latency"):
        if getattr(seg, name).min() < 0:
            i = _first(getattr(seg, name) < 0)
            raise ProgramError(f"{_where(seg, i, name)}: negative value {getattr(seg, name)[i]}")
    if seg.level_bytes.size and not (np.isfinite(seg.level_bytes).all() and seg.level_bytes.min() >= 0):
        bad = ~np.isfinite(seg.level_bytes).all(axis=1) | (seg.level_bytes < 0).any(axis=1)
        raise ProgramError(f"{_where(seg, _first(bad), 'level_bytes')}: negative or non-finite byte count")
    _check_edges(p, seg)


def _check_edges(p, seg) -> None:
    n = seg.n_ops
    dep_of = _check_csr(seg, "dep_ptr", ("dep_op", "dep_prev"))
    _check_range(seg, "dep_op", seg.dep_op, 0, n, dep_of)
    same = ~seg.dep_prev & (seg.dep_op.astype(np.int64) >= dep_of)
    if same.any():
        e = _first(same)
        raise ProgramError(f"{_where(seg, int(dep_of[e]), 'dep_op')}: same-iteration dependency on op "
                           f"{seg.dep_op[e]}, which is not an earlier op")
    for kind in ("acq", "rel"):
        of = _check_csr(seg, f"{kind}_ptr", (f"{kind}_buf", f"{kind}_amount"))
        _check_range(seg, f"{kind}_buf", getattr(seg, f"{kind}_buf"), 0, len(p.buffers), of)
        amount = getattr(seg, f"{kind}_amount")
        if len(amount) and amount.min() < 0:
            e = _first(amount < 0)
            raise ProgramError(f"{_where(seg, int(of[e]), f'{kind}_amount')}: negative amount {amount[e]}")
    over = seg.acq_amount > p.buffer_capacity[seg.acq_buf]
    if over.any():
        e = _first(over)
        i = int(np.searchsorted(seg.acq_ptr, e, side="right") - 1)
        b = p.buffers[seg.acq_buf[e]]
        raise ProgramError(f"{_where(seg, i, 'acq_amount')}: acquire of {seg.acq_amount[e]} bytes exceeds the "
                           f"capacity of buffer {b!r} ({p.buffer_capacity[seg.acq_buf[e]]} bytes)")


def _check_range(seg, name: str, arr: np.ndarray, lo: int, hi: int, op_of: np.ndarray | None = None) -> None:
    if len(arr) == 0 or (arr.min() >= lo and arr.max() < hi):
        return
    e = _first((arr < lo) | (arr >= hi))
    op = e if op_of is None else int(op_of[e])
    raise ProgramError(f"{_where(seg, op, name)}: index {arr[e]} out of range [{lo}, {hi})")


def _check_csr(seg, ptr_name: str, member_names: tuple[str, ...]) -> np.ndarray:
    """Check a CSR pointer array and its members; return the owning op of every member."""
    ptr = getattr(seg, ptr_name)
    n = seg.n_ops
    if ptr.shape != (n + 1,) or ptr[0] != 0 or np.any(np.diff(ptr) < 0):
        raise ProgramError(f"{_where(seg, None, ptr_name)}: must be non-decreasing, of length {n + 1}, starting at 0")
    for name in member_names:
        if getattr(seg, name).shape != (int(ptr[-1]),):
            raise ProgramError(f"{_where(seg, None, name)}: length {getattr(seg, name).shape}, "
                               f"expected ({int(ptr[-1])},) from {ptr_name}[-1]")
    return np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))


def _check_buffer_accounting(p) -> None:
    """Find the first deadlocking acquire or over-release in program order.

    Buffer accounting does not depend on timing: an acquire can only ever be satisfied by releases of ops earlier in
    program order, so it deadlocks exactly when the bytes held after ALL earlier releases (plus the op's own earlier
    acquires) leave no room; and a release over-releases exactly when it exceeds what earlier ops and the op itself
    acquired minus what they released.
    """
    held = np.zeros(len(p.buffers), dtype=np.int64)  # bytes held after all releases of earlier segments
    for seg in p.segments:
        if len(seg.acq_buf) + len(seg.rel_buf):
            held += _segment_accounting(p, seg, held)


def _segment_accounting(p, seg, held: np.ndarray) -> np.ndarray:
    """Raise at the segment's first failing event (iteration, then program order); return its change of `held`."""
    n_acq, n_rel = len(seg.acq_buf), len(seg.rel_buf)
    # Events in program order: op i's acquires (in order), then op i's releases.
    op = np.concatenate([np.repeat(np.arange(seg.n_ops), np.diff(seg.acq_ptr)),
                         np.repeat(np.arange(seg.n_ops), np.diff(seg.rel_ptr))])
    is_rel = np.concatenate([np.zeros(n_acq, bool), np.ones(n_rel, bool)])
    buf = np.concatenate([seg.acq_buf, seg.rel_buf]).astype(np.int64)
    delta = np.concatenate([seg.acq_amount, -seg.rel_amount])
    order = np.argsort(op * 2 + is_rel, kind="stable")
    by_buf = order[np.argsort(buf[order], kind="stable")]
    csum = np.cumsum(delta[by_buf])
    starts = np.searchsorted(buf[by_buf], np.arange(len(p.buffers)))
    group_base = np.concatenate([[0], csum])[starts]
    after = np.empty(len(op), dtype=np.int64)
    after[by_buf] = csum - group_base[buf[by_buf]]
    net = np.zeros(len(p.buffers), dtype=np.int64)
    np.add.at(net, buf, delta)
    base, step = held[buf], net[buf]
    # Smallest iteration k at which each event fails: held + k*net + after > cap (acquire) or < 0 (release).
    limit = np.where(is_rel, 0, p.buffer_capacity[buf])
    slack = np.where(is_rel, base + after, limit - base - after)  # fails when slack (+/-) k*net crosses 0
    rate = np.where(is_rel, step, -step)  # slack changes by `rate` per iteration
    first_k = np.full(len(op), seg.repeat, dtype=np.int64)
    first_k[slack < 0] = 0
    growing_bad = (slack >= 0) & (rate < 0)
    first_k[growing_bad] = slack[growing_bad] // -rate[growing_bad] + 1
    bad = first_k < seg.repeat
    if bad.any():
        cand = np.flatnonzero(bad)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))  # position of each event in program order
        e = cand[np.lexsort((rank[cand], first_k[cand]))[0]]
        k, i, b = int(first_k[e]), int(op[e]), p.buffers[buf[e]]
        if is_rel[e]:
            raise ProgramError(f"over-release: segment {seg.name!r} iteration {k} op {i} field rel_amount "
                               f"releases {-delta[e]} bytes of buffer {b!r}, more than earlier ops and this op "
                               f"acquired and did not release")
        raise ProgramError(f"deadlock: segment {seg.name!r} iteration {k} op {i} waits for space in buffer "
                           f"{b!r} that no earlier op releases ({delta[e]} bytes wanted, "
                           f"{base[e] + k * step[e] + after[e] - delta[e]} of {p.buffer_capacity[buf[e]]} held)")
    return net * seg.repeat


def _check_ticks(p) -> None:
    """Refuse a program whose ops, run one after another, could take more than 2^62 ticks: beyond that the
    engine's int64 times could wrap. No list schedule is longer than the sum of all durations and latencies (every
    op starts when an earlier op ends or is ready; Graham, "Bounds on multiprocessing timing anomalies", SIAM J.
    Appl. Math. 17(2), 1969), so this bound is safe for any schedule."""
    total = 0
    for seg in p.segments:
        total += (_exact_sum(seg.duration) + _exact_sum(seg.latency)) * int(seg.repeat)
        if total > MAX_TICKS:
            raise ProgramError(f"segment {seg.name!r}: the program's durations and latencies add up to more than "
                               f"2^62 ticks (the engine's int64 time range); use fewer ticks per cycle or repeats")


def _exact_sum(values: np.ndarray) -> int:
    """Sum of non-negative int64 values as a Python int, without int64 overflow (31-bit halves sum exactly)."""
    return (int(np.sum(values >> 31)) << 31) + int(np.sum(values & (2 ** 31 - 1)))
