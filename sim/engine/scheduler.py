"""The fast engine: list scheduling of a Program in program order, compiled with Numba.

Semantics (the definition; `sim.engine.reference` is the readable SimPy model of the same thing). Ops are taken in
program order: segments in order, each segment's iterations in order, each body's ops in order. For op i:

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
(The schedule is deterministic, so equal states give equal futures. A body whose schedule settles into a pattern
that repeats only every c > 1 iterations — max-plus systems can have cyclicity c > 1; Baccelli, Cohen, Olsder and
Quadrat, "Synchronization and Linearity", Wiley 1992 — is simulated in full: exact, just not faster.)

Busy time, bytes per level and busy time per tag do not depend on the schedule: `validate` sums them once.
The kernel reads the validated, flattened program (`sim.ir.checks.Flat`) without copying it and is compiled once for
one signature (see `sim.ir.jit`). Its op loop is kept lean: ready times are held for two iterations of one body only
(the current and the previous one, by parity); heaps are widened before an iteration, never inside it; the trace is
written after each iteration from the ready times; the stall charge and the running maximum are branch-free.
"""

from __future__ import annotations

import numpy as np
from numba import types

from sim.ir.checks import BOOL, I32, I64, Flat
from sim.ir.jit import helper, kernel
from sim.ir.program import Program, ProgramError, Validated, validated
from sim.ir.run import Run, Trace

__all__ = ["simulate"]

_OK, _DEADLOCK = 0, 1
_MAX_STATE_PENDING = 4096  # beyond this many pending releases, skip the periodicity check (cost, not correctness)
_HEAP_START = 16  # initial pending-release slots per buffer (widened before an iteration that could need more)
_TRACE_START = 1024  # initial trace entries (at least doubled as needed)


def simulate(program: Program, *, extrapolate: bool = True, trace: bool = False) -> Run:
    """Schedule `program` (see the module docstring); raise ProgramError if it is malformed or deadlocks."""
    for name, flag in (("extrapolate", extrapolate), ("trace", trace)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ProgramError(f"simulate: {name} must be True or False, got {type(flag).__name__}")
    return run_validated(program, validated(program), bool(extrapolate), bool(trace))


def run_validated(program: Program, checked: Validated, extrapolate: bool, trace: bool) -> Run:
    """Schedule a program that `validated` accepted (`checked` is what it returned for `program`)."""
    f = checked.flat
    status, err, ticks, stall, iters, period, ops_sim, tr, n_trace, seg_end = _schedule(*_kernel_args(f), extrapolate,
                                                                                         trace)
    if status == _DEADLOCK:
        s, k, i, b = (int(x) for x in err[:4])
        raise ProgramError(f"deadlock: segment {program.segments[s].name!r} iteration {k} op {i} waits for space "
                           f"in buffer {program.buffers[b]!r} that no earlier op releases")
    return Run(
        ticks=int(ticks), ticks_per_cycle=int(program.ticks_per_cycle), units=program.units, levels=program.levels,
        tags=program.tags, segments=tuple(s.name for s in program.segments), busy_ticks=checked.busy_ticks.copy(),
        stall_ticks=stall, level_bytes=checked.level_bytes.copy(), tag_busy_ticks=checked.tag_busy_ticks.copy(),
        ops_total=program.ops_total, ops_simulated=int(ops_sim), iterations_simulated=iters, period_ticks=period,
        segment_end_ticks=seg_end,
        trace=_trace(f, tr[0, :n_trace], tr[1, :n_trace], tr[2, :n_trace]) if trace else None,
    )


def _kernel_args(f: Flat) -> tuple:
    return (f.seg_ptr, f.repeat, f.barrier, f.unit, f.duration, f.latency, f.dep_base, f.dep_ptr, f.dep_op,
            f.dep_prev, f.acq_base, f.acq_ptr, f.acq_buf, f.acq_amount, f.rel_base, f.rel_ptr, f.rel_buf,
            f.rel_amount, f.unit_is_memory, f.capacity)


def _trace(f: Flat, start: np.ndarray, op: np.ndarray, iteration: np.ndarray) -> Trace:
    seg = (np.searchsorted(f.seg_ptr, op, side="right") - 1).astype(np.int32)
    return Trace(start=start.copy(), end=start + f.duration[op], unit=f.unit[op], tag=f.tag[op], segment=seg,
                 iteration=iteration.copy(), op=op - f.seg_ptr[seg])


# ---------------------------------------------------------------------------------------------------------------
# Kernel helpers: a binary min-heap of (time, amount) per buffer row, and growing 2-D arrays. Plain loops throughout
# (no slicing, sorting or concatenation): they compile in a fraction of the time.


@helper
def _heap_push(ht, ha, hn, b, t, a):
    """Insert (t, a) into row b's heap; the caller made room."""
    j = hn[b]
    hn[b] = j + 1
    while j > 0:
        parent = (j - 1) >> 1
        if ht[b, parent] <= t:
            break
        ht[b, j] = ht[b, parent]
        ha[b, j] = ha[b, parent]
        j = parent
    ht[b, j] = t
    ha[b, j] = a


@helper
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


@helper
def _widened(h, live, columns):
    """A copy of 2-D `h` with `columns` columns, of which the first `live[r]` of each row r are copied."""
    out = np.empty((h.shape[0], columns), np.int64)
    for r in range(h.shape[0]):
        for j in range(live[r]):
            out[r, j] = h[r, j]
    return out


@helper
def _write_state(st, row, seg_units, n_su, free, tgt, n_tg, ready, cur, seg_bufs, n_sb, used, last_grant,
                 ht, ha, hn, sct, sca, sn, ref):
    """Write the normalized periodic state into st[row]; return (its length, or -1 when too large to track; st)."""
    size = n_su + n_tg
    for j in range(n_sb):
        if hn[seg_bufs[j]] > _MAX_STATE_PENDING:
            return -1, st
        size += 3 + 2 * hn[seg_bufs[j]]
    if size > st.shape[1]:
        st = _widened(st, np.full(2, st.shape[1], np.int64), 2 * size)
    w = 0
    for j in range(n_su):
        st[row, w] = free[seg_units[j]] - ref
        w += 1
    for j in range(n_tg):
        st[row, w] = ready[cur + tgt[j]] - ref
        w += 1
    for j in range(n_sb):
        b = seg_bufs[j]
        st[row, w] = used[b]
        st[row, w + 1] = last_grant[b] - ref
        w += 3
        for q in range(hn[b]):  # pending releases in time order (popped from a copy), merged by time
            sct[0, q] = ht[b, q]
            sca[0, q] = ha[b, q]
        sn[0] = hn[b]
        m = 0
        while sn[0] > 0:
            t, a = _heap_pop(sct, sca, sn, np.int64(0))
            if m > 0 and st[row, w + 2 * (m - 1)] == t - ref:
                st[row, w + 2 * (m - 1) + 1] += a
            else:
                st[row, w + 2 * m] = t - ref
                st[row, w + 2 * m + 1] = a
                m += 1
        st[row, w - 1] = m
        w += 2 * m
    return w, st


@helper
def _touched(o0, n, p0, unit, dep_base, dep_ptr, dep_op, dep_prev, acq_base, acq_ptr, acq_buf, rel_base,
             rel_ptr, rel_buf, s, seg_units, unit_mark, seg_bufs, buf_mark, tgt, tgt_mark):
    """Collect the units, buffers and previous-iteration dep targets of segment s's body; return their counts."""
    n_su, n_sb, n_tg = 0, 0, 0
    for i in range(n):
        u = unit[o0 + i]
        if not unit_mark[u]:
            unit_mark[u], seg_units[n_su] = True, u
            n_su += 1
        for e in range(acq_base[s] + acq_ptr[p0 + i], acq_base[s] + acq_ptr[p0 + i + 1]):
            if not buf_mark[acq_buf[e]]:
                buf_mark[acq_buf[e]], seg_bufs[n_sb] = True, acq_buf[e]
                n_sb += 1
        for e in range(rel_base[s] + rel_ptr[p0 + i], rel_base[s] + rel_ptr[p0 + i + 1]):
            if not buf_mark[rel_buf[e]]:
                buf_mark[rel_buf[e]], seg_bufs[n_sb] = True, rel_buf[e]
                n_sb += 1
        for e in range(dep_base[s] + dep_ptr[p0 + i], dep_base[s] + dep_ptr[p0 + i + 1]):
            if dep_prev[e] and not tgt_mark[dep_op[e]]:
                tgt_mark[dep_op[e]], tgt[n_tg] = True, dep_op[e]
                n_tg += 1
    for j in range(n_su):
        unit_mark[seg_units[j]] = False
    for j in range(n_sb):
        buf_mark[seg_bufs[j]] = False
    for j in range(n_tg):
        tgt_mark[tgt[j]] = False
    return n_su, n_sb, n_tg


_OUT = types.Array(types.int64, 1, "C")
_SIGNATURE = types.Tuple((types.int64, _OUT, types.int64, types.Array(types.int64, 2, "C"), _OUT, _OUT, types.int64,
                          types.Array(types.int64, 2, "C"), types.int64, _OUT))(
    I64, I64, BOOL, I32, I64, I64, I64, I64, I32, BOOL, I64, I64, I32, I64, I64, I64, I32, I64, BOOL, I64,
    types.boolean, types.boolean)


@kernel(_SIGNATURE, ahead=True)
def _schedule(seg_ptr, repeat, barrier, unit, duration, latency, dep_base, dep_ptr, dep_op, dep_prev,
              acq_base, acq_ptr, acq_buf, acq_amt, rel_base, rel_ptr, rel_buf, rel_amt, unit_is_mem, cap,
              extrapolate, trace):
    """Schedule all ops; see the module docstring. Returns (status, err[4], ticks, stall[U,3],
    iterations_simulated[S], period[S], ops_simulated, trace_start, trace_op, trace_iteration, trace_len,
    segment_end[S]) — segment_end[s] is the latest `ready` of segments 0..s."""
    n_seg, n_units, n_bufs = repeat.shape[0], unit_is_mem.shape[0], cap.shape[0]
    n_max, n_again, n_track = 1, 0, 1  # longest body; of those repeated; of those checked for periodicity
    for s in range(n_seg):
        n_max = max(n_max, seg_ptr[s + 1] - seg_ptr[s])
        if repeat[s] > 1:
            n_again = max(n_again, seg_ptr[s + 1] - seg_ptr[s])
        if extrapolate and repeat[s] >= 3:
            n_track = max(n_track, seg_ptr[s + 1] - seg_ptr[s])
    ready = np.empty(n_max + n_again, np.int64)  # ready times of one body: iteration k at (k % 2) * n_max
    free = np.zeros(n_units, np.int64)
    used, last_grant, hn = np.zeros(n_bufs, np.int64), np.zeros(n_bufs, np.int64), np.zeros(n_bufs, np.int64)
    releases = np.zeros(n_bufs, np.int64)
    ht, ha = np.zeros((n_bufs, _HEAP_START), np.int64), np.zeros((n_bufs, _HEAP_START), np.int64)
    sct, sca, sn = np.zeros((1, _HEAP_START), np.int64), np.zeros((1, _HEAP_START), np.int64), np.zeros(1, np.int64)
    stall, snap = np.zeros((n_units, 3), np.int64), np.zeros((n_units, 3), np.int64)
    iters, period, seg_end = np.zeros(n_seg, np.int64), np.zeros(n_seg, np.int64), np.zeros(n_seg, np.int64)
    err = np.zeros(4, np.int64)
    st, st_len = np.zeros((2, 64), np.int64), np.zeros(2, np.int64)
    seg_units, unit_mark = np.zeros(n_units, np.int64), np.zeros(n_units, np.bool_)
    seg_bufs, buf_mark = np.zeros(n_bufs, np.int64), np.zeros(n_bufs, np.bool_)
    tgt, tgt_mark = np.zeros(n_track, np.int64), np.zeros(n_track, np.bool_)
    tr = np.zeros((3, _TRACE_START if trace else 1), np.int64)  # per simulated op: start, op, iteration
    n_tr = 0
    gmax, gmax_unit = 0, -1  # max ready so far, and the unit of the first op attaining it
    ops_sim = 0

    for s in range(n_seg):
        o0, n, rep = seg_ptr[s], seg_ptr[s + 1] - seg_ptr[s], repeat[s]
        p0, db, ab, rb = o0 + s, dep_base[s], acq_base[s], rel_base[s]
        bar_t, bar_unit = 0, -1
        if barrier[s]:
            bar_t, bar_unit = gmax, gmax_unit
        track = extrapolate and rep >= 3
        n_su, n_sb, n_tg = 0, 0, 0
        if track:
            n_su, n_sb, n_tg = _touched(o0, n, p0, unit, dep_base, dep_ptr, dep_op, dep_prev, acq_base, acq_ptr,
                                        acq_buf, rel_base, rel_ptr, rel_buf, s, seg_units, unit_mark, seg_bufs,
                                        buf_mark, tgt, tgt_mark)
        for b in range(n_bufs):  # releases per buffer in one iteration: the most that can become pending in it
            releases[b] = 0
        for e in range(rb, rel_base[s + 1]):
            releases[rel_buf[e]] += 1
        st_len[0], st_len[1] = -1, -1
        ref_prev = 0
        k = 0
        while k < rep:
            cur = (k & 1) * n_max
            prv = n_max - cur
            room = 0
            for b in range(n_bufs):
                room = max(room, hn[b] + releases[b])
            if room > ht.shape[1]:
                columns = max(room, 2 * ht.shape[1])
                ht, ha = _widened(ht, hn, columns), _widened(ha, hn, columns)
                sct, sca = _widened(sct, sn, columns), _widened(sca, sn, columns)
            if track:
                for j in range(n_su):
                    for c in range(3):
                        snap[seg_units[j], c] = stall[seg_units[j], c]
            for i in range(n):
                g = o0 + i
                u = unit[g]
                t_unit = free[u]
                t_dep, dep = 0, 0  # latest ready of the deps, and the op (in this body) it is the ready of
                for e in range(db + dep_ptr[p0 + i], db + dep_ptr[p0 + i + 1]):
                    d = dep_op[e]
                    if dep_prev[e] and k == 0:
                        continue
                    r = ready[(prv if dep_prev[e] else cur) + d]
                    if r > t_dep:
                        t_dep, dep = r, d
                dep_unit = unit[o0 + dep]
                if k == 0 and bar_t > t_dep:
                    t_dep, dep_unit = bar_t, bar_unit
                t0 = max(t_unit, t_dep)
                t = t0
                for e in range(ab + acq_ptr[p0 + i], ab + acq_ptr[p0 + i + 1]):
                    b, a = np.int64(acq_buf[e]), acq_amt[e]
                    t = max(t, last_grant[b])
                    while hn[b] > 0 and ht[b, 0] <= t:
                        used[b] -= _heap_pop(ht, ha, hn, b)[1]
                    while used[b] + a > cap[b]:
                        if hn[b] == 0:
                            err[0], err[1], err[2], err[3] = s, k, i, b
                            return (_DEADLOCK, err, gmax, stall, iters, period, ops_sim,
                                    tr, n_tr, seg_end)
                        r, amt = _heap_pop(ht, ha, hn, b)
                        t = max(t, r)
                        used[b] -= amt
                    used[b] += a  # reserved now: space only grows until the grant at the final t
                for e in range(ab + acq_ptr[p0 + i], ab + acq_ptr[p0 + i + 1]):
                    b = np.int64(acq_buf[e])
                    last_grant[b] = t
                    while hn[b] > 0 and ht[b, 0] <= t:  # keep pending releases strictly after last_grant
                        used[b] -= _heap_pop(ht, ha, hn, b)[1]
                end = t + duration[g]
                free[u] = end
                rd = end + latency[g]
                ready[cur + i] = rd
                gmax_unit = u if rd > gmax else gmax_unit
                gmax = max(gmax, rd)
                stall[u, 2 if t > t0 else np.int64(unit_is_mem[dep_unit])] += t - t_unit
                for e in range(rb + rel_ptr[p0 + i], rb + rel_ptr[p0 + i + 1]):
                    b = np.int64(rel_buf[e])
                    if end <= last_grant[b]:  # every future grant of b is at >= last_grant: apply it now
                        used[b] -= rel_amt[e]
                    else:
                        _heap_push(ht, ha, hn, b, end, rel_amt[e])
            if trace:
                if n_tr + n > tr.shape[1]:
                    tr = _widened(tr, np.full(3, n_tr, np.int64), max(2 * tr.shape[1], n_tr + n))
                for i in range(n):
                    tr[0, n_tr] = ready[cur + i] - duration[o0 + i] - latency[o0 + i]
                    tr[1, n_tr], tr[2, n_tr] = o0 + i, k
                    n_tr += 1
            ops_sim += n
            k += 1
            if track and k < rep:
                ref = ready[cur] - duration[o0] - latency[o0]  # start of this iteration's first op
                row = k & 1
                n_st, st = _write_state(st, row, seg_units, n_su, free, tgt, n_tg, ready, cur, seg_bufs, n_sb,
                                        used, last_grant, ht, ha, hn, sct, sca, sn, ref)
                st_len[row] = n_st
                same = k >= 2 and n_st >= 0 and st_len[1 - row] == n_st
                j = 0
                while same and j < n_st:
                    same = st[0, j] == st[1, j]
                    j += 1
                if same:
                    rest, p = rep - k, ref - ref_prev
                    shift = rest * p
                    for j in range(n_su):
                        u = seg_units[j]
                        free[u] += shift
                        for c in range(3):
                            stall[u, c] += rest * (stall[u, c] - snap[u, c])
                    for j in range(n_sb):
                        b = seg_bufs[j]
                        last_grant[b] += shift
                        for q in range(hn[b]):
                            ht[b, q] += shift
                    it_max, it_unit = ready[cur], unit[o0]  # the first op of the max in the body
                    for i in range(1, n):
                        if ready[cur + i] > it_max:
                            it_max, it_unit = ready[cur + i], unit[o0 + i]
                    if it_max + shift > gmax:
                        gmax, gmax_unit = it_max + shift, it_unit
                    period[s] = p
                    break
                ref_prev = ref
        iters[s] = k
        seg_end[s] = gmax
    return _OK, err, gmax, stall, iters, period, ops_sim, tr, n_tr, seg_end
