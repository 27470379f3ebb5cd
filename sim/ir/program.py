"""Tile programs: the data both simulators schedule, their validation, and a builder for them.

A `Program` is a list of `Segment`s; a segment's body (the ops of ONE iteration, in program order) is executed
`repeat` times. The body is held as contiguous NumPy arrays (CSR for the ragged dependency / acquire / release lists),
so that the engine can concatenate bodies and run one compiled loop over them. A segment owns its arrays: they are
made read-only when it is built (views are copied first), so a program cannot change once it is validated, and
`validate` remembers the programs it accepted (with their flattened arrays and schedule-independent totals) instead
of checking them again.

Scheduling semantics (list scheduling in program order) are documented in `sim.engine`; `sim.engine.reference` is the
slow, readable SimPy model of the same schedule.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from sim.ir.checks import (MAX_BUFFER_BYTES, MAX_REPEAT, MAX_TICKS, SEGMENT_DTYPES, Flat, ProgramError,
                           check_contents, flatten, structure_ok)
from sim.ir.diagnostics import check_header, explain

__all__ = ["MAX_BUFFER_BYTES", "MAX_REPEAT", "MAX_TICKS", "Program", "ProgramBuilder", "ProgramError", "Segment",
           "SegmentBuilder", "Validated", "validate", "validated"]


@dataclass(frozen=True, eq=False)
class Segment:
    """One loop body of a program: N ops of one iteration, executed `repeat` times.

    Dependencies of op i are `dep_op[dep_ptr[i]:dep_ptr[i+1]]`; `dep_prev[e]` False means op `dep_op[e]` of the same
    iteration (must be < i), True means that op of the previous iteration (ignored in iteration 0). Buffer acquires
    (granted at the op's start) and releases (pending from the op's end) use the same CSR layout. A `barrier`
    segment's first iteration also waits for every earlier segment to finish.
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

    def __post_init__(self) -> None:
        for name in SEGMENT_DTYPES:
            object.__setattr__(self, name, _read_only(getattr(self, name)))

    def __setstate__(self, state: dict) -> None:  # unpickled or deep-copied arrays are read-only too
        for name, value in state.items():
            object.__setattr__(self, name, _read_only(value) if name in SEGMENT_DTYPES else value)

    def renamed(self, name: str, repeat: int, barrier: bool) -> "Segment":
        """This body under another name, repeat count and barrier, sharing its arrays (read-only already, so not
        checked again)."""
        seg = object.__new__(Segment)
        seg.__dict__.update(self.__dict__)
        for field_name, value in (("name", name), ("repeat", repeat), ("barrier", barrier)):
            object.__setattr__(seg, field_name, value)
        return seg

    @property
    def n_ops(self) -> int:
        """Ops in the body (one iteration)."""
        return int(np.shape(self.unit)[0]) if np.ndim(self.unit) else 0


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

    def __post_init__(self) -> None:
        if isinstance(self.unit_is_memory, list):
            object.__setattr__(self, "unit_is_memory", tuple(self.unit_is_memory))
        object.__setattr__(self, "buffer_capacity", _read_only(self.buffer_capacity))

    def __setstate__(self, state: dict) -> None:  # unpickled or deep-copied arrays are read-only too
        for name, value in state.items():
            object.__setattr__(self, name, _read_only(value) if name == "buffer_capacity" else value)

    @property
    def ops_total(self) -> int:
        """Ops the program describes: sum of body length x repeat."""
        return sum(s.n_ops * int(s.repeat) for s in self.segments)


def _read_only(value):
    """`value` made immutable: an array that owns its data is flagged read-only, a view is copied first."""
    if not isinstance(value, np.ndarray):
        return value
    if value.base is not None:
        value = value.copy()
    value.flags.writeable = False
    return value


# ---------------------------------------------------------------------------------------------------------------
# Validation


class Validated(NamedTuple):
    """A program that passed `validate`: its flattened arrays and the totals no schedule changes."""

    flat: Flat
    busy_ticks: np.ndarray  # int64[U]: sum of durations x repeats per unit
    level_bytes: np.ndarray  # float64[L]
    tag_busy_ticks: np.ndarray  # int64[T, U]


_VALIDATED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def validate(program: Program) -> None:
    """Raise ProgramError, naming segment, op and field, unless `program` is well formed and schedulable.

    Besides types, shapes, dtypes and ranges, this checks buffer accounting, which does not depend on timing (an
    acquire that no earlier release can satisfy deadlocks; a release beyond what was acquired over-releases), and
    that no schedule can overflow the engine's int64 ticks (at most 2^62 ticks of durations and latencies in all).
    """
    validated(program)


def validated(program: Program) -> Validated:
    """`validate` `program` (once per program object) and return its flattened arrays and totals."""
    if not isinstance(program, Program):
        raise ProgramError(f"expected a sim.ir.Program, got {type(program).__name__}")
    known = _VALIDATED.get(program)
    if known is not None:
        return known
    check_header(program)
    if not all(isinstance(s, Segment) for s in program.segments):
        raise ProgramError("program.segments must be a tuple of Segment")
    names = {s.name for s in program.segments}
    n_levels = len(program.levels)
    seen: set = set()    # the segments are alive throughout, so the ids of their arrays stay theirs
    if len(names) < len(program.segments) or not all(structure_ok(s, n_levels, seen) for s in program.segments):
        _explained(program)
    flat = flatten(program)
    ok, busy, level_bytes, tag_busy = check_contents(
        flat.seg_ptr, flat.repeat, flat.unit, flat.duration, flat.latency, flat.tag, flat.level_bytes,
        flat.dep_base, flat.dep_ptr, flat.dep_op, flat.dep_prev, flat.acq_base, flat.acq_ptr, flat.acq_buf,
        flat.acq_amount, flat.rel_base, flat.rel_ptr, flat.rel_buf, flat.rel_amount, flat.capacity,
        len(program.units), len(program.tags))
    if not ok:
        _explained(program)
    result = Validated(flat, busy, level_bytes, tag_busy)
    _VALIDATED[program] = result
    return result


def _explained(program: Program) -> None:
    """Raise the readable ProgramError for a program the fast checks rejected."""
    explain(program)
    raise ProgramError("internal error: the compiled program check rejected a program that the readable checks "
                       "accept; please report it with the program")


# ---------------------------------------------------------------------------------------------------------------
# Builder


def _int(value, where: str, lo: int = -(2 ** 63), hi: int = 2 ** 63 - 1) -> int:
    """`value` as an int in [lo, hi], refusing bools, non-integers and non-integral floats with a ProgramError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ProgramError(f"{where}: expected an integer, got {type(value).__name__}")
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise ProgramError(f"{where}: expected an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ProgramError(f"{where}: {int(value)} is outside [{lo}, {hi}]")
    return int(value)


def _bytes(value, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ProgramError(f"{where}: expected a number of bytes, got {type(value).__name__}")
    return float(value)


def _named(pairs, names: tuple[str, ...], where: str, what: str) -> list[tuple[int, int]]:
    if pairs is None:
        return []
    if not isinstance(pairs, Mapping):
        raise ProgramError(f"{where} {what}: expected a mapping of buffer name to bytes, got {type(pairs).__name__}")
    return [(_index(names, b, f"{where} {what}"), _int(a, f"{where} {what} {b!r}")) for b, a in pairs.items()]


def _indices(values, where: str) -> list[int]:
    """Op indices (int32, as stored); whether they name valid ops is checked by the caller or `validate`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ProgramError(f"{where}: expected op indices, got {type(values).__name__}")
    return [_int(v, where, -(2 ** 31), 2 ** 31 - 1) for v in values]


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
        bytes: Mapping[str, float] | None = None,  # noqa: A002 - a per-level byte count
        tag: str | None = None,
    ) -> int:
        """Append an op; names, integers and same-iteration deps are checked here, the rest at `build()`."""
        pb = self._program
        i = len(self._ops)
        where = f"segment {self.name!r} op {i}"
        u = _index(pb.units, unit, f"{where} unit")
        t = -1 if tag is None else _index(pb.tags, tag, f"{where} tag")
        acq = _named(acquire, pb.buffers, where, "acquire")
        rel = _named(release, pb.buffers, where, "release")
        lb = np.zeros(len(pb.levels))
        if bytes is not None and not isinstance(bytes, Mapping):
            raise ProgramError(f"{where} bytes: expected a mapping of level name to bytes, got {type(bytes).__name__}")
        for lvl, nbytes in (bytes or {}).items():
            lb[_index(pb.levels, lvl, f"{where} bytes")] += _bytes(nbytes, f"{where} bytes {lvl!r}")
        deps = _indices(deps, f"{where} field deps")
        prev = _indices(prev_deps, f"{where} field prev_deps")
        for d in deps:
            if not 0 <= d < i:
                raise ProgramError(f"{where} field deps: dependency on op {d}, which is not an earlier op")
        self._ops.append((u, _int(duration, f"{where} field duration"), _int(latency, f"{where} field latency"),
                          deps, prev, acq, rel, lb, t))
        return i

    def build(self) -> Segment:
        """The body as a Segment (not validated on its own: `ProgramBuilder.build` validates the program)."""
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
        self.units = _names(units, "units")
        memory = [False] * len(self.units) if unit_is_memory is None else unit_is_memory
        self.unit_is_memory = tuple(bool(m) for m in _names(memory, "unit_is_memory"))
        if buffers is not None and not isinstance(buffers, Mapping):
            raise ProgramError(f"buffers: expected a mapping of buffer name to capacity in bytes, got "
                               f"{type(buffers).__name__}")
        self.buffers = tuple((buffers or {}).keys())
        self.buffer_capacity = np.array([_int(c, f"buffer {b!r} capacity") for b, c in (buffers or {}).items()],
                                        dtype=np.int64)
        self.levels, self.tags = _names(levels, "levels"), _names(tags, "tags")
        self.ticks_per_cycle = ticks_per_cycle
        self._segments: list[SegmentBuilder] = []

    def segment(self, name: str, repeat: int = 1, barrier: bool = False) -> SegmentBuilder:
        """Start a segment whose body is executed `repeat` times (see `Segment`)."""
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


def _names(values, what: str) -> tuple:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ProgramError(f"{what}: expected a sequence of names, got {type(values).__name__}")
    return tuple(values)


def _index(names: tuple[str, ...], name: str, where: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        shown = list(names) if len(names) <= 20 else list(names[:20]) + ["..."]
        raise ProgramError(f"{where}: unknown name {str(name)[:80]!r}; valid names are {shown}") from None
