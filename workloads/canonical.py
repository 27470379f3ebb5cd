"""`structure(c)`: a cascade's shape without its names, for matching cascades against templates.

Two cascades have equal structures when they differ only in tensor and rank names, sizes and the text of their
statements: same Einsums in the same statement order, same ops, reductions, splits, masks (with their
parameters), initial values, inputs and dtype. `Structure.sizes` keeps the sizes by canonical rank for callers
that want them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from workloads.ir import Call, Cascade, Const, Einsum, Ref, refs, require_cascade


@dataclass(frozen=True)
class Structure:
    """The canonical form: tensors are t0, t1, … and ranks r0, r1, … in order of first appearance. Equality and
    hash ignore `sizes`."""
    inputs: tuple          # (tensor, ranks) per input, in declaration order
    einsums: tuple         # (output ref, expression, reduce, reduced ranks) per Einsum, in statement order
    output: str
    splits: tuple          # (rank, outer, inner)
    masks: tuple           # (kind, query, key, parameters)
    inits: tuple           # (tensor, value)
    dtype: str
    sizes: tuple = field(default=(), compare=False)   # (rank, size), canonical ranks in order


class _Names:
    """Canonical names handed out in order of first appearance."""

    def __init__(self, prefix: str):
        self.prefix, self.names = prefix, {}

    def __call__(self, name: str) -> str:
        return self.names.setdefault(name, f"{self.prefix}{len(self.names)}")


def structure(c: Cascade) -> Structure:
    """The name-independent form of `c` (hashable; equal for cascades that differ only in names)."""
    require_cascade(c, "structure")
    tensor, rank = _Names("t"), _Names("r")
    inputs = tuple((tensor(t), tuple(rank(r) for r in c.tensors[t].ranks)) for t in c.inputs)
    einsums = tuple(_einsum(e, tensor, rank) for e in c.einsums)
    splits = tuple((rank(s.rank), rank(s.outer), rank(s.inner)) for s in c.splits)
    masks = tuple((type(m).__name__, rank(m.query), rank(m.key),
                   tuple(getattr(m, f) for f in m.__dataclass_fields__ if f not in ("query", "key")))
                  for m in c.masks)
    inits = tuple((tensor(i.tensor), i.value) for i in c.inits)
    sizes = tuple((canonical, c.sizes[name]) for name, canonical in rank.names.items() if name in c.sizes)
    return Structure(inputs, einsums, tensor(c.output), splits, masks, inits, c.dtype, sizes)


def _einsum(e: Einsum, tensor: _Names, rank: _Names) -> tuple:
    for ref in refs(e.expr):   # right-hand side first: names appear in reading order
        tensor(ref.tensor)
    return (_ref(e.output, tensor, rank), _expr(e.expr, tensor, rank), e.reduce,
            tuple(rank(r) for r in e.reduce_ranks))


def _ref(ref: Ref, tensor: _Names, rank: _Names) -> tuple:
    return (tensor(ref.tensor), tuple((rank(i.rank) if i.rank else "", i.step) for i in ref.indices))


def _expr(expr, tensor: _Names, rank: _Names):
    if isinstance(expr, Ref):
        return ("ref",) + _ref(expr, tensor, rank)
    if isinstance(expr, Const):
        return ("const", expr.value)
    assert isinstance(expr, Call)
    return ("call", expr.op, tuple(_expr(a, tensor, rank) for a in expr.args))
