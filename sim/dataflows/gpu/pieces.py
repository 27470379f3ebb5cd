"""Segment bodies assembled from small op patterns with NumPy, instead of one Python call per op.

A *piece* is the ops of one part of a CTA — its prologue, one KV tile of a kind, its epilogue — listed once. An op
depends on earlier ops of its own piece (`deps`, by index) or on labelled ops of the piece just before it (`back`,
by label: e.g. a tile's QKᵀ on the previous tile's softmax of the same warpgroup). `compose` lays pieces out
back to back, each repeated some number of times, into one segment body: every index is computed with array
arithmetic, so a body of thousands of KV tiles costs a few NumPy calls. A back dependency on a label the previous
piece does not have (the prologue has no softmax) is no dependency. In a looped segment (`loop=True`, one piece
repeated by the engine) back dependencies become the engine's previous-iteration dependencies, which the engine
drops in the loop's first iteration: a loop that follows another segment does not wait for that segment's labelled
ops (an optimistic boundary, used only where unrolling would list too many ops).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from sim.ir.mapping import MappingError
from sim.ir.program import Segment


@dataclass(frozen=True)
class Names:
    """The index of every unit, buffer, level column and tag of the program the pieces belong to."""
    units: Mapping[str, int]
    buffers: Mapping[str, int]
    levels: Mapping[str, int]
    tags: Mapping[str, int]

    @classmethod
    def of(cls, units: Sequence[str], buffers: Sequence[str], levels: Sequence[str], tags: Sequence[str]) -> "Names":
        """The lookup tables of a program's names."""
        index = lambda names: {n: i for i, n in enumerate(names)}  # noqa: E731
        return cls(index(units), index(buffers), index(levels), index(tags))


class Piece:
    """The ops of one piece, appended with `op`; `labels` name ops that the next piece may depend on."""

    def __init__(self, names: Names):
        self.names = names
        self.ops: list[tuple[int, int, int, int]] = []          # (unit, duration, latency, tag)
        self.level_bytes: list[tuple[int, int, float]] = []     # (op, level, bytes)
        self.deps: list[tuple[int, int]] = []                   # (op, earlier op of this piece)
        self.back: list[tuple[int, str]] = []                   # (op, label in the previous piece)
        self.acquire: list[tuple[int, int, int]] = []           # (op, buffer, bytes)
        self.release: list[tuple[int, int, int]] = []
        self.labels: dict[str, int] = {}
        self._arrays: dict | None = None

    def op(self, unit: str, duration: int, latency: int = 0, *, deps=(), back=(), acquire=None, release=None,
           bytes=None, tag: str | None = None, label: str | None = None) -> int:  # noqa: A002 - per-level bytes
        """Append an op and return its index in the piece (`None` entries in `deps` are skipped)."""
        names, i = self.names, len(self.ops)
        self.ops.append((names.units[unit], int(duration), int(latency), -1 if tag is None else names.tags[tag]))
        if bytes:
            self.level_bytes.extend((i, names.levels[lv], float(n)) for lv, n in bytes.items())
        self.deps.extend((i, d) for d in deps if d is not None)
        self.back.extend((i, name) for name in back)
        if acquire:
            self.acquire.extend((i, names.buffers[b], int(a)) for b, a in acquire.items())
        if release:
            self.release.extend((i, names.buffers[b], int(a)) for b, a in release.items())
        if label is not None:
            self.labels[label] = i
        self._arrays = None
        return i

    def back_within(self) -> tuple[np.ndarray, np.ndarray]:
        """(ops, their targets in the previous instance of this piece) of the back dependencies it resolves."""
        return self.back_from(self)

    def back_from(self, before: "Piece") -> tuple[np.ndarray, np.ndarray]:
        """(ops, their targets in `before`) of the back dependencies on labels `before` has, in `back`'s order
        (computed once per pair of pieces)."""
        key = id(before)
        cache = self.arrays().setdefault("back", {})
        if key not in cache:
            pairs = [(i, before.labels[label]) for i, label in self.back if label in before.labels]
            table = np.array(pairs, np.int64).reshape(-1, 2)
            cache[key] = (table[:, 0], table[:, 1], before)    # `before` held: its id stays its own
        return cache[key][:2]

    @property
    def size(self) -> int:
        """Ops in the piece."""
        return len(self.ops)

    def arrays(self) -> dict:
        """The piece as arrays (computed once after the last `op`)."""
        if self._arrays is None:
            ops = np.array(self.ops, np.int64).reshape(-1, 4)
            rows = np.zeros((self.size, len(self.names.levels)))
            for i, lv, n in self.level_bytes:
                rows[i, lv] += n
            table = lambda entries, cols: np.array(entries, np.int64).reshape(-1, cols).T  # noqa: E731
            self._arrays = {"unit": ops[:, 0].astype(np.int32), "duration": ops[:, 1], "latency": ops[:, 2],
                            "tag": ops[:, 3].astype(np.int32), "level_bytes": rows, "deps": table(self.deps, 2),
                            "acquire": table(self.acquire, 3), "release": table(self.release, 3)}
        return self._arrays


def _repeat(x: np.ndarray, n: int) -> np.ndarray:
    """`x` stacked `n` times along its first axis."""
    return x if n == 1 else np.broadcast_to(x, (n,) + x.shape).reshape((n * x.shape[0],) + x.shape[1:])


def compose(name: str, pieces: Sequence[Piece], counts: Sequence[int], repeat: int = 1, barrier: bool = False,
            loop: bool = False) -> Segment:
    """One segment whose body is `pieces[k]` repeated `counts[k]` times, in order (see the module docstring)."""
    used = [(p, int(n)) for p, n in zip(pieces, counts) if n > 0 and p.size]
    if not used:
        raise MappingError(f"{name}: an empty segment body")
    if loop and (len(used) != 1 or used[0][1] != 1):
        raise MappingError(f"{name}: a looped segment is one piece")
    arrays = [p.arrays() for p, _ in used]
    sizes = np.array([p.size for p, _ in used], np.int64)
    reps = np.array([n for _, n in used], np.int64)
    block = np.concatenate([[0], np.cumsum(sizes * reps)])            # first op of each block
    total = int(block[-1])
    per_op = {key: np.concatenate([_repeat(a[key], n) for a, (_, n) in zip(arrays, used)])
              for key in ("unit", "duration", "latency", "tag", "level_bytes")}
    bases = [block[k] + np.arange(n, dtype=np.int64) * p.size for k, (p, n) in enumerate(used)]
    src, dst, prev = [], [], []
    for k, ((p, n), a, base) in enumerate(zip(used, arrays, bases)):
        if a["deps"].size:
            i, j = a["deps"]
            src.append((base[:, None] + i).ravel())
            dst.append((base[:, None] + j).ravel())
            prev.append(np.zeros(n * len(i), bool))
        before = used[k - 1][0] if k > 0 else None
        for s_, t_, pr in _back(p, n, base, loop, before, block[k]):
            src.append(s_)
            dst.append(t_)
            prev.append(np.full(len(s_), pr))
    dep_ptr, dep_op, dep_prev = _csr(total, src, [dst, prev], (np.int32, np.bool_))
    members = {key: _members(arrays, used, bases, key) for key in ("acquire", "release")}
    acq_ptr, acq_buf, acq_amount = _csr(total, members["acquire"][0], members["acquire"][1:], (np.int32, np.int64))
    rel_ptr, rel_buf, rel_amount = _csr(total, members["release"][0], members["release"][1:], (np.int32, np.int64))
    return Segment(name=name, repeat=int(repeat), barrier=bool(barrier), unit=per_op["unit"],
                   duration=per_op["duration"], latency=per_op["latency"], dep_ptr=dep_ptr, dep_op=dep_op,
                   dep_prev=dep_prev, acq_ptr=acq_ptr, acq_buf=acq_buf, acq_amount=acq_amount, rel_ptr=rel_ptr,
                   rel_buf=rel_buf, rel_amount=rel_amount, level_bytes=per_op["level_bytes"], tag=per_op["tag"])


def _back(p: Piece, n: int, base: np.ndarray, loop: bool, before: Piece | None, start: int):
    """(sources, targets, previous-iteration flag) of the back dependencies of a block of `n` instances of `p`
    starting at op `start`, whose previous piece is `before`: on the previous instance of `p` within the block, on
    `before` for the first instance. Per source op they keep `p.back`'s order."""
    ops, targets = p.back_within()
    if loop:
        return [(ops, targets, True)] if len(ops) else []
    out = []
    if len(ops) and n > 1:
        out.append(((base[1:, None] + ops).ravel(), (base[1:, None] - p.size + targets).ravel(), False))
    if before is not None:
        ops, targets = p.back_from(before)
        if len(ops):
            out.append((base[0] + ops, start - before.size + targets, False))
    return out


def _members(arrays, used, bases, key: str) -> tuple[list, list, list]:
    """(op, buffer, bytes) of every instance's acquires or releases, as lists of arrays."""
    ops, bufs, amounts = [], [], []
    for a, (_, n), base in zip(arrays, used, bases):
        if a[key].size:
            i, b, amount = a[key]
            ops.append((base[:, None] + i).ravel())
            bufs.append(_repeat(b, n))
            amounts.append(_repeat(amount, n))
    return ops, bufs, amounts


def _csr(total: int, src: list, members: list, dtypes: tuple) -> tuple[np.ndarray, ...]:
    """CSR pointer and member arrays (members grouped by source op, in the order listed within an op)."""
    if not src:
        return (np.zeros(total + 1, np.int64),) + tuple(np.zeros(0, d) for d in dtypes)
    s = np.concatenate(src)
    order = np.argsort(s, kind="stable")
    ptr = np.zeros(total + 1, np.int64)
    np.cumsum(np.bincount(s, minlength=total), out=ptr[1:])
    return (ptr,) + tuple(np.concatenate(m)[order].astype(d) for m, d in zip(members, dtypes))


def clone(seg: Segment, name: str, repeat: int, barrier: bool) -> Segment:
    """The same body under another name, repeat count and barrier (the arrays are shared: they are read-only)."""
    return Segment(name=name, repeat=int(repeat), barrier=bool(barrier), unit=seg.unit, duration=seg.duration,
                   latency=seg.latency, dep_ptr=seg.dep_ptr, dep_op=seg.dep_op, dep_prev=seg.dep_prev,
                   acq_ptr=seg.acq_ptr, acq_buf=seg.acq_buf, acq_amount=seg.acq_amount, rel_ptr=seg.rel_ptr,
                   rel_buf=seg.rel_buf, rel_amount=seg.rel_amount, level_bytes=seg.level_bytes, tag=seg.tag)


def ops_of(pieces: Sequence[Piece], counts: Sequence[int]) -> int:
    """Ops of a body composed of these pieces."""
    return sum(p.size * int(n) for p, n in zip(pieces, counts) if n > 0)
