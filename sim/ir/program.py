"""Tile programs: the data both simulators schedule, a builder for them, and their validation.

A `Program` is a list of `Segment`s; a segment's body (the ops of ONE iteration, in program order) is executed
`repeat` times. The body is held as contiguous NumPy arrays (CSR for the ragged dependency / acquire / release lists),
so that the engine can concatenate bodies and run one compiled loop over them.

Scheduling semantics (list scheduling in program order) are documented in `sim.engine`; `sim.reference` is the slow,
readable SimPy model of the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Program", "ProgramBuilder", "ProgramError", "Segment", "SegmentBuilder", "validate"]


class ProgramError(ValueError):
    """A program that is malformed, or that cannot be scheduled (buffer deadlock, over-release)."""


@dataclass(frozen=True, eq=False)
class Segment:
    """One loop body of a program: N ops of one iteration, executed `repeat` times.

    Dependencies of op i are `dep_op[dep_ptr[i]:dep_ptr[i+1]]`; `dep_prev[e]` False means op `dep_op[e]` of the same
    iteration (must be < i), True means that op of the previous iteration (ignored in iteration 0). Buffer acquires
    (granted at the op's start) and releases (pending from the op's end) use the same CSR layout.
    """

    name: str
    repeat: int
    barrier: bool
    unit: np.ndarray  # int32[N]
    duration: np.ndarray  # int64[N], ticks the unit is occupied
    latency: np.ndarray  # int64[N], ticks after occupancy until the result is visible
    dep_ptr: np.ndarray  # int64[N+1]
    dep_op: np.ndarray  # int32[D]
    dep_prev: np.ndarray  # bool[D]
    acq_ptr: np.ndarray  # int64[N+1]
    acq_buf: np.ndarray  # int32[A]
    acq_amount: np.ndarray  # int64[A], bytes
    rel_ptr: np.ndarray  # int64[N+1]
    rel_buf: np.ndarray  # int32[R]
    rel_amount: np.ndarray  # int64[R], bytes
    level_bytes: np.ndarray  # float64[N, L]
    tag: np.ndarray  # int32[N], -1 for none

    @property
    def n_ops(self) -> int:
        return int(np.shape(self.unit)[0])


@dataclass(frozen=True, eq=False)
class Program:
    """Units, buffers, accounting labels and the segments to schedule on them, in program order."""

    units: tuple[str, ...]
    unit_is_memory: tuple[bool, ...]  # DRAM/HBM/DMA channels: waits on them are charged as "memory" stalls
    buffers: tuple[str, ...]
    buffer_capacity: np.ndarray  # int64[B], bytes
    levels: tuple[str, ...]  # columns of Segment.level_bytes
    tags: tuple[str, ...]  # labels (e.g. Einsum names) for per-tag busy time
    ticks_per_cycle: int
    segments: tuple[Segment, ...]

    @property
    def ops_total(self) -> int:
        """Ops the program describes: sum of body length x repeat."""
        return sum(s.n_ops * s.repeat for s in self.segments)


# ---------------------------------------------------------------------------------------------------------------
# Validation


_SEGMENT_DTYPES = {
    "unit": np.int32, "duration": np.int64, "latency": np.int64,
    "dep_ptr": np.int64, "dep_op": np.int32, "dep_prev": np.bool_,
    "acq_ptr": np.int64, "acq_buf": np.int32, "acq_amount": np.int64,
    "rel_ptr": np.int64, "rel_buf": np.int32, "rel_amount": np.int64,
    "level_bytes": np.float64, "tag": np.int32,
}


def validate(program: Program) -> None:
    """Raise ProgramError, naming segment, op and field, unless `program` is well formed and schedulable.

    Besides shapes, dtypes and ranges, this checks buffer accounting, which does not depend on timing: an acquire
    can only ever be satisfied by releases of ops earlier in program order, so it deadlocks exactly when the bytes
    held after ALL earlier releases (plus the op's own earlier acquires) leave no room; and a release over-releases
    exactly when it exceeds what earlier ops and the op itself acquired minus what they released.
    """
    _check_header(program)
    names = [s.name for s in program.segments]
    for s, seg in enumerate(program.segments):
        if names.index(seg.name) != s:
            raise ProgramError(f"segment {s}: duplicate segment name {seg.name!r}")
        _check_segment(program, seg)
    _check_buffer_accounting(program)


def _check_header(p: Program) -> None:
    for what in ("units", "buffers", "levels", "tags"):
        names = getattr(p, what)
        if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
            raise ProgramError(f"program.{what} must be a tuple of str")
        if len(set(names)) != len(names):
            raise ProgramError(f"program.{what} has duplicate names: {names}")
    if len(p.unit_is_memory) != len(p.units):
        raise ProgramError(f"program.unit_is_memory has {len(p.unit_is_memory)} entries for {len(p.units)} units")
    cap = p.buffer_capacity
    if not isinstance(cap, np.ndarray) or cap.dtype != np.int64 or cap.shape != (len(p.buffers),):
        raise ProgramError(f"program.buffer_capacity must be int64[{len(p.buffers)}]")
    if np.any(cap < 0):
        bad = p.buffers[_first(cap < 0)]
        raise ProgramError(f"program.buffer_capacity: negative capacity for buffer {bad!r}")
    if not isinstance(p.ticks_per_cycle, (int, np.integer)) or p.ticks_per_cycle < 1:
        raise ProgramError(f"program.ticks_per_cycle must be an int >= 1, got {p.ticks_per_cycle!r}")
    if not isinstance(p.segments, tuple) or not all(isinstance(s, Segment) for s in p.segments):
        raise ProgramError("program.segments must be a tuple of Segment")


def _where(seg: Segment, op: int | None, name: str) -> str:
    at = f"segment {seg.name!r}" + ("" if op is None else f" op {op}")
    return f"{at} field {name}"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_segment(p: Program, seg: Segment) -> None:
    if not isinstance(seg.repeat, (int, np.integer)) or seg.repeat < 1:
        raise ProgramError(f"{_where(seg, None, 'repeat')}: must be an int >= 1, got {seg.repeat!r}")
    for name, dtype in _SEGMENT_DTYPES.items():
        arr = getattr(seg, name)
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype:
            got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise ProgramError(f"{_where(seg, None, name)}: expected a {np.dtype(dtype)} array, got {got}")
    n = seg.n_ops
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


def _check_range(seg: Segment, name: str, arr: np.ndarray, lo: int, hi: int, op_of: np.ndarray | None = None) -> None:
    if len(arr) == 0 or (arr.min() >= lo and arr.max() < hi):
        return
    bad = (arr < lo) | (arr >= hi)
    if bad.any():
        e = _first(bad)
        op = e if op_of is None else int(op_of[e])
        raise ProgramError(f"{_where(seg, op, name)}: index {arr[e]} out of range [{lo}, {hi})")


def _check_csr(seg: Segment, ptr_name: str, member_names: tuple[str, ...]) -> np.ndarray:
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


def _check_buffer_accounting(p: Program) -> None:
    """Find the first deadlocking acquire or over-release in program order (see `validate`)."""
    held = np.zeros(len(p.buffers), dtype=np.int64)  # bytes held after all releases of earlier segments
    for seg in p.segments:
        if len(seg.acq_buf) + len(seg.rel_buf) == 0:
            continue
        n_acq, n_rel = len(seg.acq_buf), len(seg.rel_buf)
        # Events in program order: op i's acquires (in order), then op i's releases.
        op = np.concatenate([np.repeat(np.arange(seg.n_ops), np.diff(seg.acq_ptr)),
                             np.repeat(np.arange(seg.n_ops), np.diff(seg.rel_ptr))])
        is_rel = np.concatenate([np.zeros(n_acq, bool), np.ones(n_rel, bool)])
        buf = np.concatenate([seg.acq_buf, seg.rel_buf]).astype(np.int64)
        delta = np.concatenate([seg.acq_amount, -seg.rel_amount])
        # Acquires come before releases in the concatenation and each part is in op order, so a stable sort on
        # (op, is_rel) gives program order; small-integer keys let NumPy use radix sort for the buffer grouping.
        order = np.argsort(op * 2 + is_rel, kind="stable")
        buf_key = buf.astype(np.int16 if len(p.buffers) < 2**15 else np.int64)
        by_buf = order[np.argsort(buf_key[order], kind="stable")]
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
            e = cand[np.lexsort((_rank(order)[cand], first_k[cand]))[0]]
            k, i, b = int(first_k[e]), int(op[e]), p.buffers[buf[e]]
            if is_rel[e]:
                raise ProgramError(f"over-release: segment {seg.name!r} iteration {k} op {i} field rel_amount "
                                   f"releases {-delta[e]} bytes of buffer {b!r}, more than earlier ops and this op "
                                   f"acquired and did not release")
            raise ProgramError(f"deadlock: segment {seg.name!r} iteration {k} op {i} waits for space in buffer "
                               f"{b!r} that no earlier op releases ({delta[e]} bytes wanted, "
                               f"{base[e] + k * step[e] + after[e] - delta[e]} of {p.buffer_capacity[buf[e]]} held)")
        held += net * seg.repeat


def _rank(order: np.ndarray) -> np.ndarray:
    """Inverse permutation: rank[e] = position of event e in program order."""
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank


# ---------------------------------------------------------------------------------------------------------------
# Builder


@dataclass
class SegmentBuilder:
    """Collects the ops of one segment body; `op()` returns the new op's index in the body."""

    _program: "ProgramBuilder"
    name: str
    repeat: int
    barrier: bool
    _ops: list[tuple] = field(default_factory=list)

    def op(
        self,
        unit: str,
        duration: int,
        latency: int = 0,
        *,
        deps: Iterable[int] = (),
        prev_deps: Iterable[int] = (),
        acquire: Mapping[str, int] | None = None,
        release: Mapping[str, int] | None = None,
        bytes: Mapping[str, float] | None = None,  # noqa: A002 - the brief's name; a per-level byte count
        tag: str | None = None,
    ) -> int:
        """Append an op; names (unit, buffers, levels, tag) are checked here, indices at `build()`."""
        pb = self._program
        i = len(self._ops)
        where = f"segment {self.name!r} op {i}"
        u = _index(pb.units, unit, f"{where} unit")
        t = -1 if tag is None else _index(pb.tags, tag, f"{where} tag")
        acq = [(_index(pb.buffers, b, f"{where} acquire"), int(a)) for b, a in (acquire or {}).items()]
        rel = [(_index(pb.buffers, b, f"{where} release"), int(a)) for b, a in (release or {}).items()]
        lb = np.zeros(len(pb.levels))
        for lvl, nbytes in (bytes or {}).items():
            lb[_index(pb.levels, lvl, f"{where} bytes")] += float(nbytes)
        deps, prev_deps = [int(d) for d in deps], [int(d) for d in prev_deps]
        for d in deps:
            if not 0 <= d < i:
                raise ProgramError(f"{where} field deps: dependency on op {d}, which is not an earlier op")
        self._ops.append((u, int(duration), int(latency), deps, prev_deps, acq, rel, lb, t))
        return i

    def build(self) -> Segment:
        ops = self._ops
        n = len(ops)

        def csr(lists: list[list]) -> np.ndarray:
            return np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)

        deps = [[(d, False) for d in o[3]] + [(d, True) for d in o[4]] for o in ops]
        acq, rel = [o[5] for o in ops], [o[6] for o in ops]
        flat = lambda lists, j, dtype: np.array([x[j] for xs in lists for x in xs], dtype=dtype)  # noqa: E731
        return Segment(
            name=self.name, repeat=self.repeat, barrier=self.barrier,
            unit=np.array([o[0] for o in ops], np.int32),
            duration=np.array([o[1] for o in ops], np.int64),
            latency=np.array([o[2] for o in ops], np.int64),
            dep_ptr=csr(deps), dep_op=flat(deps, 0, np.int32), dep_prev=flat(deps, 1, np.bool_),
            acq_ptr=csr(acq), acq_buf=flat(acq, 0, np.int32), acq_amount=flat(acq, 1, np.int64),
            rel_ptr=csr(rel), rel_buf=flat(rel, 0, np.int32), rel_amount=flat(rel, 1, np.int64),
            level_bytes=np.array([o[7] for o in ops], np.float64).reshape(n, len(self._program.levels)),
            tag=np.array([o[8] for o in ops], np.int32),
        )


class ProgramBuilder:
    """Build a Program op by op, by name.

    >>> b = ProgramBuilder(units=["dma", "pe"], unit_is_memory=[True, False], buffers={"gb": 8192})
    >>> s = b.segment("body", repeat=4)
    >>> load = s.op("dma", 10, acquire={"gb": 4096})
    >>> s.op("pe", 20, deps=[load], release={"gb": 4096})
    1
    >>> b.build().ops_total
    8
    """

    def __init__(
        self,
        units: Sequence[str],
        unit_is_memory: Sequence[bool] | None = None,
        buffers: Mapping[str, int] | None = None,
        levels: Sequence[str] = (),
        tags: Sequence[str] = (),
        ticks_per_cycle: int = 1,
    ) -> None:
        self.units = tuple(units)
        self.unit_is_memory = tuple(bool(m) for m in (unit_is_memory or [False] * len(self.units)))
        self.buffers = tuple((buffers or {}).keys())
        self.buffer_capacity = np.array([int(c) for c in (buffers or {}).values()], dtype=np.int64)
        self.levels, self.tags, self.ticks_per_cycle = tuple(levels), tuple(tags), ticks_per_cycle
        self._segments: list[SegmentBuilder] = []

    def segment(self, name: str, repeat: int = 1, barrier: bool = False) -> SegmentBuilder:
        seg = SegmentBuilder(self, name, repeat, barrier)
        self._segments.append(seg)
        return seg

    def build(self) -> Program:
        """Return the validated Program (raises ProgramError)."""
        program = Program(
            units=self.units, unit_is_memory=self.unit_is_memory, buffers=self.buffers,
            buffer_capacity=self.buffer_capacity.reshape(len(self.buffers)), levels=self.levels, tags=self.tags,
            ticks_per_cycle=self.ticks_per_cycle, segments=tuple(s.build() for s in self._segments),
        )
        validate(program)
        return program


def _index(names: tuple[str, ...], name: str, where: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        raise ProgramError(f"{where}: unknown name {name!r}; valid names are {list(names)}") from None
