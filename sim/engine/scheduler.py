"""The fast engine: list scheduling of a Program in program order, compiled with Numba.

Semantics (the definition; `sim.reference` is the readable SimPy model of the same thing). Ops are taken in program
order: segments in order, each segment's iterations in order, each body's ops in order. For op i:

1. `t_unit` = when its unit became free (units are in-order and run one op at a time).
2. `t_dep` = max `ready` (= start + duration + latency) of its deps; ops of the first iteration of a `barrier`
   segment also wait for the max `ready` of all earlier segments.
3. `t = max(t_unit, t_dep)`.
4. Acquires, granted FIFO per buffer in program order, all at the op's start: for each (b, a), `t >= last_grant[b]`,
   and pending releases of b are applied in time order (pushing t) until `a` fits. Only releases of earlier ops
   can be pending, as only they have been scheduled.
5. `start = t`, the unit is free at `end = t + duration`, results are ready at `end + latency`.
6. Releases become pending at `end`.

Stall attribution: the gap `start - t_unit` is charged to "buffer" if an acquire pushed t past `max(t_unit, t_dep)`,
else to "memory" if the latest-ready dep (first in dep order on ties; the barrier counts after the deps) ran on a
memory unit, else to "dependency".

Periodic extrapolation: after iteration k >= 1 of a segment, the state that the next iteration depends on is
normalized by the start of iteration k (free time of the body's units, ready of previous-iteration dep targets, and
per touched buffer: bytes used, last grant, pending releases merged by time). If it equals the state after
iteration k-1, every later iteration is iteration k shifted by the period, so the rest is added in closed form.

Busy time, bytes per level and busy time per tag do not depend on the schedule; they are summed with NumPy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.ir.program import Program, ProgramError, validate
from sim.ir.run import Run, Trace

__all__ = ["simulate"]

_OK, _DEADLOCK = 0, 1
_MAX_STATE_PENDING = 4096  # beyond this many pending releases, skip the periodicity check (cost, not correctness)


def simulate(program: Program, *, extrapolate: bool = True, trace: bool = False) -> Run:
    """Schedule `program` (see the module docstring); raise ProgramError if it is malformed or deadlocks."""
    validate(program)
    return _simulate_validated(program, extrapolate=extrapolate, trace=trace)


def _simulate_validated(program: Program, *, extrapolate: bool, trace: bool) -> Run:
    flat = _flatten(program)
    (status, err, ticks, stall, iters, period, ops_sim,
     tr_start, tr_op, tr_iter, n_trace, seg_end) = _schedule(*flat, extrapolate, trace)
    if status == _DEADLOCK:
        s, k, i, b = (int(x) for x in err[:4])
        raise ProgramError(f"deadlock: segment {program.segments[s].name!r} iteration {k} op {i} waits for space "
                           f"in buffer {program.buffers[b]!r} that no earlier op releases")
    busy, level_bytes, tag_busy = _workload_totals(program)
    run_trace = None
    if trace:
        seg_ptr, unit, duration, tag = flat[0], flat[3], flat[4], _concat([s.tag for s in program.segments], np.int32)
        g = tr_op[:n_trace]
        seg = (np.searchsorted(seg_ptr, g, side="right") - 1).astype(np.int32)
        start = tr_start[:n_trace].copy()
        run_trace = Trace(start=start, end=start + duration[g], unit=unit[g], tag=tag[g], segment=seg,
                          iteration=tr_iter[:n_trace].copy(), op=g - seg_ptr[seg])
    return Run(
        ticks=int(ticks), ticks_per_cycle=int(program.ticks_per_cycle), units=program.units, levels=program.levels,
        tags=program.tags, segments=tuple(s.name for s in program.segments), busy_ticks=busy, stall_ticks=stall,
        level_bytes=level_bytes, tag_busy_ticks=tag_busy, ops_total=program.ops_total, ops_simulated=int(ops_sim),
        iterations_simulated=iters, period_ticks=period, segment_end_ticks=seg_end, trace=run_trace,
    )


def _workload_totals(p: Program) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Busy ticks per unit, bytes per level, busy ticks per (tag, unit): schedule-independent sums."""
    busy = np.zeros(len(p.units), np.int64)
    level_bytes = np.zeros(len(p.levels), np.float64)
    tag_busy = np.zeros((len(p.tags), len(p.units)), np.int64)
    for s in p.segments:
        per_unit = np.zeros(len(p.units), np.int64)
        np.add.at(per_unit, s.unit, s.duration)
        busy += per_unit * s.repeat
        level_bytes += s.level_bytes.sum(axis=0) * s.repeat
        tagged = s.tag >= 0
        per_tag = np.zeros_like(tag_busy)
        np.add.at(per_tag, (s.tag[tagged], s.unit[tagged]), s.duration[tagged])
        tag_busy += per_tag * s.repeat
    return busy, level_bytes, tag_busy


def _concat(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


def _flatten(p: Program) -> tuple:
    """Concatenate segment bodies into flat arrays with global op indices (the kernel's arguments, in order)."""
    segs = p.segments
    n = np.array([s.n_ops for s in segs], np.int64)
    seg_ptr = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)

    def ptrs(name: str) -> np.ndarray:
        parts, base = [np.zeros(1, np.int64)], 0
        for s in segs:
            ptr = getattr(s, name)
            parts.append(ptr[1:] + base)
            base += int(ptr[-1])
        return np.concatenate(parts)

    # Same-iteration deps point at global op indices; previous-iteration deps at a slot in `tgt`, the list of
    # previous-iteration dep targets (whose ready times form part of the periodic state).
    dep_op, tgt, tgt_ptr = [], [], [0]
    for s, seg in enumerate(segs):
        prev = seg.dep_op[seg.dep_prev]
        targets = np.unique(prev).astype(np.int64)
        op = seg.dep_op.astype(np.int64) + seg_ptr[s]
        op[seg.dep_prev] = np.searchsorted(targets, prev) + tgt_ptr[-1]
        dep_op.append(op)
        tgt.append(targets + seg_ptr[s])
        tgt_ptr.append(tgt_ptr[-1] + len(targets))
    # Units and buffers each body touches (bincount: these are small index ranges, and sorting is slow).
    seg_units = [np.flatnonzero(np.bincount(s.unit, minlength=len(p.units))) for s in segs]
    seg_bufs = [np.flatnonzero(np.bincount(s.acq_buf, minlength=len(p.buffers))
                               + np.bincount(s.rel_buf, minlength=len(p.buffers))) for s in segs]
    return (
        seg_ptr,
        np.array([s.repeat for s in segs], np.int64),
        np.array([s.barrier for s in segs], np.bool_),
        _concat([s.unit for s in segs], np.int32),
        _concat([s.duration for s in segs], np.int64),
        _concat([s.latency for s in segs], np.int64),
        ptrs("dep_ptr"), _concat(dep_op, np.int64), _concat([s.dep_prev for s in segs], np.bool_),
        ptrs("acq_ptr"), _concat([s.acq_buf for s in segs], np.int64), _concat([s.acq_amount for s in segs], np.int64),
        ptrs("rel_ptr"), _concat([s.rel_buf for s in segs], np.int64), _concat([s.rel_amount for s in segs], np.int64),
        np.array(p.unit_is_memory, np.bool_).reshape(len(p.units)),
        p.buffer_capacity,
        np.array(tgt_ptr, np.int64), _concat(tgt, np.int64),
        _csr(seg_units), _concat(seg_units, np.int64),
        _csr(seg_bufs), _concat(seg_bufs, np.int64),
    )


def _csr(lists: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)


# ---------------------------------------------------------------------------------------------------------------
# Kernel helpers: a binary min-heap of (time, amount) per buffer, rows of 2-D arrays that grow by doubling.


@njit(cache=True)
def _heap_push(ht, ha, hn, b, t, a):
    if hn[b] == ht.shape[1]:
        ht2 = np.empty((ht.shape[0], 2 * ht.shape[1]), np.int64)
        ha2 = np.empty_like(ht2)
        ht2[:, : ht.shape[1]] = ht
        ha2[:, : ha.shape[1]] = ha
        ht, ha = ht2, ha2
    j = hn[b]
    hn[b] += 1
    while j > 0:
        parent = (j - 1) // 2
        if ht[b, parent] <= t:
            break
        ht[b, j] = ht[b, parent]
        ha[b, j] = ha[b, parent]
        j = parent
    ht[b, j] = t
    ha[b, j] = a
    return ht, ha


@njit(cache=True)
def _heap_pop(ht, ha, hn, b):
    """Remove the earliest entry of row b; return (time, amount)."""
    t0, a0 = ht[b, 0], ha[b, 0]
    hn[b] -= 1
    n = hn[b]
    t, a = ht[b, n], ha[b, n]
    j = 0
    while True:
        c = 2 * j + 1
        if c >= n:
            break
        if c + 1 < n and ht[b, c + 1] < ht[b, c]:
            c += 1
        if ht[b, c] >= t:
            break
        ht[b, j] = ht[b, c]
        ha[b, j] = ha[b, c]
        j = c
    if n > 0:
        ht[b, j] = t
        ha[b, j] = a
    return t0, a0


@njit(cache=True)
def _write_state(st, row, su0, su1, seg_units, free, tp0, tp1, tgt, ready, sb0, sb1, seg_bufs, used, last_grant,
                 ht, ha, hn, ref):
    """Write the normalized periodic state into st[row]; return its length, or -1 when too large to track."""
    size = (su1 - su0) + (tp1 - tp0)
    for j in range(sb0, sb1):
        if hn[seg_bufs[j]] > _MAX_STATE_PENDING:
            return -1, st
        size += 3 + 2 * hn[seg_bufs[j]]
    if size > st.shape[1]:
        st2 = np.empty((2, 2 * size), np.int64)
        st2[:, : st.shape[1]] = st
        st = st2
    w = 0
    for j in range(su0, su1):
        st[row, w] = free[seg_units[j]] - ref
        w += 1
    for j in range(tp0, tp1):
        st[row, w] = ready[tgt[j]] - ref
        w += 1
    for j in range(sb0, sb1):
        b = seg_bufs[j]
        n = hn[b]
        st[row, w] = used[b]
        st[row, w + 1] = last_grant[b] - ref
        w += 3
        order = np.argsort(ht[b, :n])  # pending releases, merged by time: a canonical form of the multiset
        m = 0
        for q in range(n):
            t = ht[b, order[q]] - ref
            if m > 0 and st[row, w + 2 * (m - 1)] == t:
                st[row, w + 2 * (m - 1) + 1] += ha[b, order[q]]
            else:
                st[row, w + 2 * m] = t
                st[row, w + 2 * m + 1] = ha[b, order[q]]
                m += 1
        st[row, w - 1] = m
        w += 2 * m
    return w, st


@njit(cache=True)
def _schedule(seg_ptr, seg_repeat, seg_barrier, unit, duration, latency, dep_ptr, dep_op, dep_prev,
              acq_ptr, acq_buf, acq_amt, rel_ptr, rel_buf, rel_amt, unit_is_mem, cap,
              tgt_ptr, tgt, su_ptr, seg_units, sb_ptr, seg_bufs, extrapolate, trace):
    """Schedule all ops; see the module docstring. Returns (status, err[4], ticks, stall[U,3],
    iterations_simulated[S], period[S], ops_simulated, trace_start, trace_op, trace_iteration, trace_len,
    segment_end[S]) — segment_end[s] is the latest `ready` of segments 0..s."""
    n_seg = seg_ptr.shape[0] - 1
    n_units, n_bufs = unit_is_mem.shape[0], cap.shape[0]
    free = np.zeros(n_units, np.int64)
    ready = np.zeros(unit.shape[0], np.int64)
    prev_ready = np.zeros(tgt.shape[0], np.int64)
    used = np.zeros(n_bufs, np.int64)
    last_grant = np.zeros(n_bufs, np.int64)
    ht = np.zeros((n_bufs, 16), np.int64)
    ha = np.zeros((n_bufs, 16), np.int64)
    hn = np.zeros(n_bufs, np.int64)
    stall = np.zeros((n_units, 3), np.int64)
    stall_it = np.zeros((n_units, 3), np.int64)
    iters = np.zeros(n_seg, np.int64)
    period = np.zeros(n_seg, np.int64)
    seg_end = np.zeros(n_seg, np.int64)
    err = np.zeros(4, np.int64)
    st = np.zeros((2, 64), np.int64)
    st_len = np.zeros(2, np.int64)
    tr_cap = 1024 if trace else 0
    tr_start = np.zeros(tr_cap, np.int64)
    tr_op = np.zeros(tr_cap, np.int64)
    tr_iter = np.zeros(tr_cap, np.int64)
    n_tr = 0
    gmax, gmax_unit = np.int64(0), np.int64(-1)  # max ready so far, and the unit of the first op attaining it
    ops_sim = np.int64(0)

    for s in range(n_seg):
        o0, o1 = seg_ptr[s], seg_ptr[s + 1]
        repeat = seg_repeat[s]
        bar_t, bar_unit = gmax, gmax_unit
        su0, su1, tp0, tp1, sb0, sb1 = su_ptr[s], su_ptr[s + 1], tgt_ptr[s], tgt_ptr[s + 1], sb_ptr[s], sb_ptr[s + 1]
        track = extrapolate and repeat >= 3
        st_len[:] = -1
        ref_prev = np.int64(0)
        k = 0
        while k < repeat:
            for j in range(tp0, tp1):
                prev_ready[j] = ready[tgt[j]]
            for j in range(su0, su1):
                stall_it[seg_units[j], :] = 0
            ref = np.int64(0)
            it_max, it_max_unit = np.int64(-1), np.int64(-1)
            for g in range(o0, o1):
                u = unit[g]
                t_unit = free[u]
                t_dep, dep_unit = np.int64(0), np.int64(-1)
                for e in range(dep_ptr[g], dep_ptr[g + 1]):
                    if dep_prev[e]:
                        if k == 0:
                            continue
                        r = prev_ready[dep_op[e]]
                        ru = unit[tgt[dep_op[e]]]
                    else:
                        r = ready[dep_op[e]]
                        ru = unit[dep_op[e]]
                    if r > t_dep:
                        t_dep, dep_unit = r, ru
                if k == 0 and seg_barrier[s] and bar_t > t_dep:
                    t_dep, dep_unit = bar_t, bar_unit
                t0 = max(t_unit, t_dep)
                t = t0
                for e in range(acq_ptr[g], acq_ptr[g + 1]):
                    b, a = acq_buf[e], acq_amt[e]
                    t = max(t, last_grant[b])
                    while hn[b] > 0 and ht[b, 0] <= t:
                        used[b] -= _heap_pop(ht, ha, hn, b)[1]
                    while used[b] + a > cap[b]:
                        if hn[b] == 0:
                            err[0], err[1], err[2], err[3] = s, k, g - o0, b
                            return (_DEADLOCK, err, gmax, stall, iters, period, ops_sim,
                                    tr_start, tr_op, tr_iter, n_tr, seg_end)
                        r, amt = _heap_pop(ht, ha, hn, b)
                        t = max(t, r)
                        used[b] -= amt
                    used[b] += a  # reserved now: space only grows until the grant at the final t
                for e in range(acq_ptr[g], acq_ptr[g + 1]):
                    b = acq_buf[e]
                    last_grant[b] = t
                    while hn[b] > 0 and ht[b, 0] <= t:  # keep pending releases strictly after last_grant
                        used[b] -= _heap_pop(ht, ha, hn, b)[1]
                end = t + duration[g]
                free[u] = end
                rd = end + latency[g]
                ready[g] = rd
                if rd > gmax:
                    gmax, gmax_unit = rd, u
                if rd > it_max:
                    it_max, it_max_unit = rd, u
                if g == o0:
                    ref = t
                gap = t - t_unit
                if gap > 0:
                    if t > t0:
                        stall_it[u, 2] += gap
                    elif unit_is_mem[dep_unit]:
                        stall_it[u, 1] += gap
                    else:
                        stall_it[u, 0] += gap
                for e in range(rel_ptr[g], rel_ptr[g + 1]):
                    b = rel_buf[e]
                    if end <= last_grant[b]:  # every future grant of b is at >= last_grant: apply it now
                        used[b] -= rel_amt[e]
                    else:
                        ht, ha = _heap_push(ht, ha, hn, b, end, rel_amt[e])
                if trace:
                    if n_tr == tr_start.shape[0]:
                        tr_start = np.concatenate((tr_start, np.zeros(n_tr, np.int64)))
                        tr_op = np.concatenate((tr_op, np.zeros(n_tr, np.int64)))
                        tr_iter = np.concatenate((tr_iter, np.zeros(n_tr, np.int64)))
                    tr_start[n_tr], tr_op[n_tr], tr_iter[n_tr] = t, g, k
                    n_tr += 1
            ops_sim += o1 - o0
            for j in range(su0, su1):
                stall[seg_units[j], :] += stall_it[seg_units[j], :]
            k += 1
            if track and k < repeat:
                row = k & 1
                n_st, st = _write_state(st, row, su0, su1, seg_units, free, tp0, tp1, tgt, ready, sb0, sb1,
                                        seg_bufs, used, last_grant, ht, ha, hn, ref)
                st_len[row] = n_st
                same = k >= 2 and n_st >= 0 and st_len[1 - row] == n_st
                j = 0
                while same and j < n_st:
                    same = st[0, j] == st[1, j]
                    j += 1
                if same:
                    rest, p = repeat - k, ref - ref_prev
                    shift = rest * p
                    for j in range(su0, su1):
                        free[seg_units[j]] += shift
                        stall[seg_units[j], :] += rest * stall_it[seg_units[j], :]
                    for j in range(sb0, sb1):
                        b = seg_bufs[j]
                        last_grant[b] += shift
                        for q in range(hn[b]):
                            ht[b, q] += shift
                    for g in range(o0, o1):  # not needed by later segments, but keeps `ready` consistent
                        ready[g] += shift
                    if it_max + shift > gmax:
                        gmax, gmax_unit = it_max + shift, it_max_unit
                    period[s] = p
                    break
            ref_prev = ref
        iters[s] = k
        seg_end[s] = gmax
    return _OK, err, gmax, stall, iters, period, ops_sim, tr_start, tr_op, tr_iter, n_tr, seg_end
