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

    def dep_template(self, before: "Piece | None", loop: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ops, targets, previous-iteration flags) of one instance's dependencies, grouped by op in the order
        listed (its own deps first, then `back`'s): targets relative to the instance's first op, back ones in the
        instance of `before` just ahead (`before` None: none; `loop`: the engine's previous iteration of this
        piece). Computed once per pair of pieces."""
        key = ("loop" if loop else id(before))
        cache = self.arrays().setdefault("templates", {})
        if key not in cache:
            rows = [(i, j, False) for i, j in self.deps]
            if before is not None or loop:
                source = self if loop else before
                shift = 0 if loop else -before.size
                rows += [(i, source.labels[label] + shift, loop) for i, label in self.back if label in source.labels]
            rows.sort(key=lambda r: r[0])      # stable: per op, own deps before back ones, each in listed order
            table = np.array([r[:2] for r in rows], np.int64).reshape(-1, 2)
            cache[key] = (table[:, 0], table[:, 1], np.array([r[2] for r in rows], bool), before)  # `before` held
        return cache[key][:3]

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
            self._arrays = {"fields": ops, "level_bytes": rows,
                            "acquire": table(self.acquire, 3), "release": table(self.release, 3)}
        return self._arrays


def _repeat(x: np.ndarray, n: int) -> np.ndarray:
    """`x` stacked `n` times along its first axis."""
    return x if n == 1 else np.tile(x, (n,) + (1,) * (x.ndim - 1))


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
              for key in ("fields", "level_bytes")}
    fields = per_op["fields"]           # (unit, duration, latency, tag) per op
    bases = [block[k] + np.arange(n, dtype=np.int64) * p.size for k, (p, n) in enumerate(used)]
    src, dst, prev = [], [], []
    for k, ((p, n), base) in enumerate(zip(used, bases)):
        blocks = [(p.dep_template(None, loop=True), base)] if loop else \
            [(p.dep_template(used[k - 1][0] if k > 0 else None), base[:1])] + \
            ([(p.dep_template(p), base[1:])] if n > 1 else [])
        for (ops, targets, flags), starts in blocks:
            if len(ops):
                src.append((starts[:, None] + ops).ravel())
                dst.append((starts[:, None] + targets).ravel())
                prev.append(_repeat(flags, len(starts)))
    dep_ptr, dep_op, dep_prev = _csr(total, src, [dst, prev], (np.int32, np.bool_))
    members = {key: _members(arrays, used, bases, key) for key in ("acquire", "release")}
    acq_ptr, acq_buf, acq_amount = _csr(total, members["acquire"][0], members["acquire"][1:], (np.int32, np.int64))
    rel_ptr, rel_buf, rel_amount = _csr(total, members["release"][0], members["release"][1:], (np.int32, np.int64))
    return Segment(name=name, repeat=int(repeat), barrier=bool(barrier), unit=fields[:, 0].astype(np.int32),
                   duration=fields[:, 1].copy(), latency=fields[:, 2].copy(), dep_ptr=dep_ptr, dep_op=dep_op,
                   dep_prev=dep_prev, acq_ptr=acq_ptr, acq_buf=acq_buf, acq_amount=acq_amount, rel_ptr=rel_ptr,
                   rel_buf=rel_buf, rel_amount=rel_amount, level_bytes=per_op["level_bytes"],
                   tag=fields[:, 3].astype(np.int32))


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
    """CSR pointer and member arrays; `src` lists the source op of each member, already in op order (pieces list
    their entries op by op and blocks follow each other)."""
    if not src:
        return (np.zeros(total + 1, np.int64),) + tuple(np.zeros(0, d) for d in dtypes)
    ptr = np.zeros(total + 1, np.int64)
    np.cumsum(np.bincount(np.concatenate(src), minlength=total), out=ptr[1:])
    return (ptr,) + tuple(np.concatenate(m).astype(d, copy=False) for m, d in zip(members, dtypes))


def ops_of(pieces: Sequence[Piece], counts: Sequence[int]) -> int:
    """Ops of a body composed of these pieces."""
    return sum(p.size * int(n) for p, n in zip(pieces, counts) if n > 0)
