"""A vectorized builder of segment bodies for the spatial lowerings, and their program order.

A spatial lowering describes one loop iteration (a query block, a row block, a GEMM row chunk) as *kinds* of ops,
each over an index array (tile, chunk, fold), instead of op by op: a body of 10^5 ops is built with a few NumPy
calls. Program order — the order in which the in-order units of `sim.engine` take the ops — is given by a sort key:
the op's *slot* (an integer, e.g. its tile) plus its *step* inside the slot (an `Order`). Slots at or past the
body's `span` wrap into the next iteration: that is how a software pipeline is written (an op of tile c placed
`stage` slots later runs beside the next block's first tiles, and its dependencies on unwrapped ops become
dependencies on the previous iteration).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sim.ir.mapping import MappingError
from sim.ir.program import Program, Segment, validate

__all__ = ["Body", "Order", "UNITS", "UNIT_KEYS", "program"]

UNITS = ("2d", "1d", "dram")          # program units: the two PE arrays and the DRAM channel (a memory unit)
UNIT_KEYS = {"2d": "2d", "1d": "1d", "dram": "dram"}
# Level-byte columns, relative to the arch: its outermost level (DRAM) and its global buffer.
COLUMNS = ("dram_read", "dram_write", "gb_read", "gb_write")


class Order:
    """The steps of one slot, in program order: `order(slot, step)` is the sort key of an op at that step.

    Every op of slot s sorts after every op of slot s − 1 and before every op of slot s + 1; inside a slot, ops
    at an earlier step come first (ops of one kind at the same key keep their index order)."""

    def __init__(self, *steps: str) -> None:
        if len(set(steps)) != len(steps):
            raise ValueError(f"Order: repeated step in {steps}")
        self.steps = steps

    def __call__(self, slot, step: str) -> np.ndarray:
        return np.asarray(slot, np.float64) + self.steps.index(step) / len(self.steps)


@dataclass
class Body:
    """One segment body, built kind by kind; see the module docstring.

    `add` returns a kind id; `dep(kind, on, i, j)` makes op i of `kind` depend on op j of `on` (same iteration). A
    dependency from a wrapped op on an unwrapped one becomes a previous-iteration dependency; `prev=True` forces one
    (an op of this iteration on the previous iteration's op). `levels` names the four level-byte columns for this
    arch (its outermost level and its global buffer, `.read` / `.write`).
    """
    span: float
    levels: tuple[str, ...]
    tags: list[str] = field(default_factory=list)
    _kinds: list[dict] = field(default_factory=list)
    _deps: list[tuple] = field(default_factory=list)

    def add(self, unit: str, key, duration, *, latency=0, tag: str | None = None, acquire=0, release=0,
            dram_read=0, dram_write=0, gb_read=0, gb_write=0) -> int:
        """Add ops of one kind: one per entry of `key`; the other arguments broadcast over them (bytes per op)."""
        key = np.atleast_1d(np.asarray(key, np.float64))
        n = len(key)

        def full(value, dtype):
            out = np.empty(n, dtype)
            out[:] = value
            return out

        if tag is not None and tag not in self.tags:
            self.tags.append(tag)
        level_bytes = np.empty((n, len(COLUMNS)))
        for column, value in enumerate((dram_read, dram_write, gb_read, gb_write)):
            level_bytes[:, column] = value
        self._kinds.append(dict(unit=UNITS.index(unit), key=key, duration=full(duration, np.int64),
                                latency=full(latency, np.int64), tag=-1 if tag is None else self.tags.index(tag),
                                acq=full(acquire, np.int64), rel=full(release, np.int64), lb=level_bytes, n=n))
        return len(self._kinds) - 1

    def dep(self, kind: int, on: int, i=None, j=None, *, prev: bool = False) -> None:
        """Op i of `kind` waits for op j of `on` (default: op for op); out-of-range j are dropped."""
        n = self._kinds[kind]["n"]
        i = np.arange(n) if i is None else np.asarray(i, np.int64)
        j = np.broadcast_to(np.arange(n) if j is None else np.asarray(j, np.int64), i.shape)
        ok = (j >= 0) & (j < self._kinds[on]["n"])
        self._deps.append((kind, on, i[ok], j[ok], prev))

    def segment(self, name: str, repeat: int, *, barrier: bool = False) -> Segment:
        """The body as an engine segment executed `repeat` times, ops sorted into program order."""
        ks = self._kinds
        base = np.cumsum([0] + [k["n"] for k in ks])
        key = np.concatenate([k["key"] for k in ks])
        wrap = key >= self.span
        order = np.argsort(np.where(wrap, key - self.span, key), kind="stable")
        pos = np.empty(len(order), np.int64)
        pos[order] = np.arange(len(order))
        src, dst, prv = self._edges(base, wrap, pos)
        edges = np.lexsort((dst, src))
        n = len(order)

        def cat(name):
            return np.concatenate([k[name] for k in ks])

        def ptr(counts):
            return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

        acq, rel = cat("acq")[order], cat("rel")[order]
        has_a, has_r = acq > 0, rel > 0
        per_kind = [k["n"] for k in ks]
        return Segment(
            name=name, repeat=int(repeat), barrier=barrier,
            unit=np.repeat([k["unit"] for k in ks], per_kind).astype(np.int32)[order],
            duration=cat("duration")[order], latency=cat("latency")[order],
            dep_ptr=ptr(np.bincount(src, minlength=n)), dep_op=dst[edges].astype(np.int32), dep_prev=prv[edges],
            acq_ptr=ptr(has_a), acq_buf=np.zeros(int(has_a.sum()), np.int32), acq_amount=acq[has_a],
            rel_ptr=ptr(has_r), rel_buf=np.zeros(int(has_r.sum()), np.int32), rel_amount=rel[has_r],
            level_bytes=cat("lb")[order],
            tag=np.repeat([k["tag"] for k in ks], per_kind).astype(np.int32)[order])

    def _edges(self, base: np.ndarray, wrap: np.ndarray, pos: np.ndarray):
        """Dependency edges (op position, dep position, previous-iteration flag); refuses a dep on a later op."""
        src, dst, prv = [], [], []
        for kind, on, i, j, prev in self._deps:
            x, y = base[kind] + i, base[on] + j
            p = np.full(len(x), prev) | (wrap[x] & ~wrap[y])
            if (~wrap[x] & wrap[y] & ~p).any() or ((pos[y] >= pos[x]) & ~p).any():
                raise MappingError(f"lowering: op kind {kind} depends on a later op of kind {on}")
            src.append(pos[x]), dst.append(pos[y]), prv.append(p)
        if not src:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
        return np.concatenate(src), np.concatenate(dst), np.concatenate(prv)


def program(segments: Sequence[Segment], tags: Sequence[str], levels: Sequence[str], buffer_bytes: int) -> Program:
    """The validated program over the spatial units, with one buffer (`gb`) of `buffer_bytes`."""
    p = Program(units=UNITS, unit_is_memory=(False, False, True), buffers=("gb",),
                buffer_capacity=np.array([int(buffer_bytes)], np.int64), levels=tuple(levels), tags=tuple(tags),
                ticks_per_cycle=1, segments=tuple(segments))
    validate(p)
    return p
