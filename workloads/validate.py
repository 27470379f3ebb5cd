"""The checks behind the validating builder: sizes and splits, name resolution of every reference, reductions,
initial values, masks and unused sizes. Each raises CascadeError naming the statement and the token."""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Mapping

from workloads import masks as mask_rules
from workloads.errors import CascadeError, quote, shorten
from workloads.ir import (MAX_RANK_SIZE, EACH, FIRST, LAST, NEXT, Call, Cascade, Const, Einsum, Expr, Index, Init,
                          Ref, Split, Tensor, refs)
from workloads.ops import OPS, REDUCE_OPS

RANK_NAME = re.compile(r"[A-Z][A-Z0-9_]*", re.ASCII)


def index_text(index: Index) -> str:
    """An index as written in the Einsum language (`p1`, `p1+1`, `0`, `P1`)."""
    return {EACH: index.rank.lower(), NEXT: index.rank.lower() + "+1", FIRST: "0", LAST: index.rank}[index.step]


def token(ref: Ref) -> str:
    """A reference as written in the Einsum language (`RM[b,h,m,p1+1]`)."""
    return f"{ref.tensor}[{','.join(index_text(i) for i in ref.indices)}]"


def where_einsum(e: Einsum) -> str:
    """How messages name an Einsum: its name and (shortened) statement."""
    return f"Einsum {shorten(e.name, 40)} `{shorten(e.text)}`"


# --- sizes and splits ----------------------------------------------------------------------------------------

def check_sizes(given: Mapping[str, int], splits: tuple[Split, ...]) -> dict[str, int]:
    """Plain-int sizes of every rank, with the outer part of each split derived (⌈P/P0⌉) or checked."""
    if not isinstance(given, Mapping):
        raise CascadeError(f"sizes: expected a mapping of rank name to size, got {type(given).__name__}")
    sizes = {str(rank): _size(rank, size) for rank, size in given.items()}
    seen: set[str] = set()
    for s in splits:
        _check_split(s, sizes, seen)
    return sizes


def _size(rank, size) -> int:
    if not isinstance(rank, str) or not RANK_NAME.fullmatch(rank):
        raise CascadeError(f"sizes: rank names are upper case, got {quote(rank)} (ASCII: a letter, then letters, "
                           f"digits or _)")
    if isinstance(size, bool) or type(size).__name__ == "bool_" or not isinstance(size, numbers.Integral):
        raise CascadeError(f"sizes: rank {rank} has non-integer size {quote(size)}")
    if int(size) < 1:
        raise CascadeError(f"sizes: rank {rank} has size {size}; sizes must be ≥ 1")
    if int(size) > MAX_RANK_SIZE:
        raise CascadeError(f"sizes: rank {rank} has size {size}; at most 2^48 = {MAX_RANK_SIZE}")
    return int(size)


def _check_split(s: Split, sizes: dict[str, int], seen: set[str]) -> None:
    where = f"split `{s.rank.lower()} -> {s.outer.lower()}, {s.inner.lower()}`"
    if len({s.rank, s.outer, s.inner}) != 3:
        raise CascadeError(f"{where}: the three ranks must differ")
    for r in (s.rank, s.outer, s.inner):
        if r in seen:
            raise CascadeError(f"{where}: rank {r} already takes part in another split")
        seen.add(r)
    for r in (s.rank, s.inner):
        if r not in sizes:
            raise CascadeError(f"{where}: no size given for rank {r}")
    if sizes[s.inner] > sizes[s.rank]:
        raise CascadeError(f"{where}: tile {s.inner}={sizes[s.inner]} does not fit in {s.rank}={sizes[s.rank]}")
    outer = -(-sizes[s.rank] // sizes[s.inner])
    if s.outer in sizes and sizes[s.outer] != outer:
        raise CascadeError(f"{where}: {s.outer}·{s.inner} = {sizes[s.outer]}·{sizes[s.inner]} does not fit "
                           f"{s.rank}={sizes[s.rank]} (needs {s.outer}={outer})")
    sizes[s.outer] = outer


# --- tensors and references ----------------------------------------------------------------------------------

def tensor_table(inputs: tuple[Ref, ...], einsums: tuple[Einsum, ...]) -> dict[str, Tensor]:
    """Every tensor by name: the declared inputs, then one per Einsum (iterative when written at `+1`)."""
    tensors: dict[str, Tensor] = {}
    for ref in inputs:
        if ref.tensor in tensors:
            raise CascadeError(f"input {ref.tensor} is declared twice")
        for index in ref.indices:
            if index.step != EACH:
                raise CascadeError(f"input {ref.tensor}: declare inputs with plain rank variables, not {index}")
        tensors[ref.tensor] = Tensor(ref.tensor, tuple(i.rank for i in ref.indices))
    input_names = {r.tensor for r in inputs}
    for e in einsums:
        where = where_einsum(e)
        if e.name in tensors:
            what = "an input" if e.name in input_names else "already produced by another Einsum"
            raise CascadeError(f"{where}: tensor {e.name} is {what}")
        iterative = [i.rank for i in e.output.indices if i.step == NEXT]
        if any(i.step == LAST for i in e.output.indices):
            raise CascadeError(f"{where}: the final point {token(e.output)} cannot be written on the left")
        if any(i.step == FIRST for i in e.output.indices):
            raise CascadeError(f"{where}: index 0 on the left writes an initial value (an Init), not an Einsum")
        if len(iterative) > 1:
            raise CascadeError(f"{where}: at most one `+1` index on the left")
        tensors[e.name] = Tensor(e.name, tuple(i.rank for i in e.output.indices), iterative[0] if iterative else None)
    return tensors


@dataclass(frozen=True)
class _Scope:
    """What the references of one Einsum resolve against."""
    where: str
    tensors: Mapping[str, Tensor]
    sizes: Mapping[str, int]
    split_of: Mapping[str, Split]     # by the split rank
    stored_split: Mapping[str, Split]  # by the outer rank: a tensor stored (p1, p0)

    def size(self, rank: str, index: Index) -> int:
        """A rank's size; CascadeError naming the index token when it has none."""
        if rank not in self.sizes:
            raise CascadeError(f"{self.where}: rank {rank} (token {index_text(index)!r}) has no size")
        return self.sizes[rank]


def resolve(e: Einsum, tensors: Mapping[str, Tensor], sizes: Mapping[str, int], splits: tuple[Split, ...]) -> Einsum:
    """The Einsum with its reduction made explicit, after checking every reference against the tensor table."""
    scope = _Scope(where_einsum(e), tensors, sizes, {s.rank: s for s in splits}, {s.outer: s for s in splits})
    check_expr(e.expr, scope.where)
    rhs: list[str] = []
    for ref in refs(e.expr):
        rhs += _ref_ranks(ref, scope)
    lhs = _lhs_ranks(e, set(rhs), scope)
    inner_of = {s.inner: s for s in splits}
    for r in rhs:
        if r in inner_of and inner_of[r].outer not in rhs:
            raise CascadeError(f"{scope.where}: uses the inner rank {r.lower()} of a split without its outer rank "
                               f"{inner_of[r].outer.lower()}")
    reduced = tuple(dict.fromkeys(r for r in rhs if r not in lhs))
    reduce = _reduce(e, reduced, scope.where)
    return Einsum(e.name, e.output, e.expr, reduce, reduced if reduce else (), e.text)


def check_expr(expr: Expr, where: str) -> None:
    """An expression is a tree of references, real constants and calls of registered ops with their arity."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Call):
            if node.op not in OPS:
                raise CascadeError(f"{where}: unknown op {quote(node.op)}")
            if len(node.args) != OPS[node.op].arity:
                raise CascadeError(f"{where}: op {node.op!r} takes {OPS[node.op].arity} argument(s), "
                                   f"got {len(node.args)}")
            stack.extend(node.args)
        elif isinstance(node, Const):
            if not isinstance(node.value, numbers.Real) or math.isnan(node.value):
                raise CascadeError(f"{where}: constant {quote(node.value)} is not a real number")
        elif not isinstance(node, Ref):
            raise CascadeError(f"{where}: malformed expression node {quote(node)}")


def _ref_ranks(ref: Ref, scope: _Scope) -> list[str]:
    """The loop ranks a reference binds, walking its indices against the tensor's stored ranks."""
    if ref.tensor not in scope.tensors:
        raise CascadeError(f"{scope.where}: undefined tensor {ref.tensor!r} (not an input and no Einsum produces it)")
    stored = scope.tensors[ref.tensor].ranks
    bound: list[str] = []
    k = pos = 0
    while k < len(ref.indices):
        if pos >= len(stored):
            raise CascadeError(f"{scope.where}: {token(ref)} has more indices than {ref.tensor}'s ranks "
                               f"{list(stored)}")
        ranks, dk, dpos = _match(ref, k, pos, scope)
        bound += ranks
        k, pos = k + dk, pos + dpos
    if pos != len(stored):
        raise CascadeError(f"{scope.where}: {token(ref)} has fewer indices than {ref.tensor}'s ranks {list(stored)}")
    return bound


def _match(ref: Ref, k: int, pos: int, scope: _Scope) -> tuple[list[str], int, int]:
    """Index k of `ref` against stored rank `pos`: (ranks it binds, indices used, stored ranks used)."""
    tensor = scope.tensors[ref.tensor]
    stored, index = tensor.ranks, ref.indices[k]
    rank = stored[pos]
    if index.step in (FIRST, LAST, NEXT):
        text = index_text(index)
        if tensor.iterative != rank:
            raise CascadeError(f"{scope.where}: index {text!r} in {token(ref)}: only the iterative rank of an "
                               f"iterative tensor takes `+1`, `0` or its final point")
        if index.step in (NEXT, LAST) and index.rank != rank:
            raise CascadeError(f"{scope.where}: index {text!r} in {token(ref)} addresses rank {rank}")
        return ([rank] if index.step == NEXT else []), 1, 1
    split = scope.split_of.get(rank)
    if split is not None and index.rank == split.outer:
        nxt = ref.indices[k + 1] if k + 1 < len(ref.indices) else None
        if nxt is None or nxt.rank != split.inner or nxt.step != EACH:
            raise CascadeError(f"{scope.where}: {token(ref)}: split rank {rank} is read as "
                               f"{split.outer.lower()}, {split.inner.lower()} (both, in that order)")
        return [split.outer, split.inner], 2, 1
    merged = scope.stored_split.get(rank)
    if merged is not None and index.rank == merged.rank and pos + 1 < len(stored) and stored[pos + 1] == merged.inner:
        return [index.rank], 1, 2   # a tensor stored split (p1, p0) read whole (p): padding dropped
    if scope.size(index.rank, index) != scope.size(rank, index):
        raise CascadeError(f"{scope.where}: rank used with two sizes: index {index_text(index)!r} ({index.rank}="
                           f"{scope.sizes[index.rank]}) at {ref.tensor}'s rank {rank}={scope.sizes[rank]}")
    return [index.rank], 1, 1


def _lhs_ranks(e: Einsum, rhs: set[str], scope: _Scope) -> list[str]:
    lhs: list[str] = []
    for index in e.output.indices:
        text = index_text(index)
        scope.size(index.rank, index)
        if index.rank not in rhs:
            raise CascadeError(f"{scope.where}: rank {index.rank} on the left (token {text!r}) is not bound on the "
                               f"right")
        if index.rank in lhs:
            raise CascadeError(f"{scope.where}: index {text!r} repeated on the left")
        lhs.append(index.rank)
    return lhs


def _reduce(e: Einsum, reduced: tuple[str, ...], where: str) -> str | None:
    if e.reduce is None:
        return "sum" if reduced else None
    if e.reduce not in REDUCE_OPS:
        raise CascadeError(f"{where}: unknown reduce op {quote(e.reduce)}")
    if set(e.reduce_ranks) != set(reduced):
        raise CascadeError(f"{where}: {e.reduce}({', '.join(r.lower() for r in e.reduce_ranks)}: ...) names the "
                           f"wrong ranks: the ranks only on the right are "
                           f"({', '.join(r.lower() for r in reduced) or 'none'})")
    return e.reduce


# --- initial values, masks, unused sizes --------------------------------------------------------------------

def check_inits(inits: tuple[Init, ...], init_refs: Mapping[str, tuple[Ref, str]],
                tensors: Mapping[str, Tensor]) -> None:
    """Every iterative tensor has exactly one initial value, written at 0 of its iterative rank; one loop rank."""
    given: set[str] = set()
    for init in inits:
        ref, text = init_refs.get(init.tensor, (None, f"{init.tensor}[...] = {init.value}"))
        where = f"Einsum {init.tensor} `{shorten(text)}`"
        if init.tensor in given:
            raise CascadeError(f"{where}: second initial value for {init.tensor}")
        given.add(init.tensor)
        tensor = tensors.get(init.tensor)
        if tensor is None or tensor.iterative is None:
            raise CascadeError(f"{where}: {init.tensor} is not an iterative tensor (no Einsum writes it at `+1`)")
        if not isinstance(init.value, numbers.Real) or math.isnan(init.value):
            raise CascadeError(f"{where}: the initial value must be a real number, got {quote(init.value)}")
        if ref is not None:
            _check_init_ref(ref, tensor, where)
    missing = [t.name for t in tensors.values() if t.iterative and t.name not in given]
    if missing:
        raise CascadeError(f"iterative tensor {missing[0]} has no initial value (add `{missing[0]}[...,0] = value`)")
    iterative = {t.iterative for t in tensors.values() if t.iterative}
    if len(iterative) > 1:
        raise CascadeError(f"at most one iterative rank is supported, got {sorted(iterative)}")


def _check_init_ref(ref: Ref, tensor: Tensor, where: str) -> None:
    ranks = tuple(tensor.iterative if i.step == FIRST else i.rank for i in ref.indices)
    firsts = [k for k, i in enumerate(ref.indices) if i.step == FIRST]
    if ranks != tensor.ranks or len(firsts) != 1 or tensor.ranks[firsts[0]] != tensor.iterative:
        raise CascadeError(f"{where}: the initial value must index {tensor.name}'s ranks {list(tensor.ranks)} "
                           f"with 0 at the iterative rank {tensor.iterative}")


def check_masks(c: Cascade) -> None:
    """Each mask relates two different whole ranks, each rank at most one mask, with parameters that fit."""
    used: set[str] = set()
    parts = {r for s in c.splits for r in (s.outer, s.inner)}
    for mask in c.masks:
        if not isinstance(mask, mask_rules.MASK_TYPES):
            raise CascadeError(f"masks: {quote(mask)} is not a mask (Causal, Window, Neighborhood or Blocks)")
        where = f"mask `{mask.query.lower()}, {mask.key.lower()}: {type(mask).__name__.lower()}`"
        for r in (mask.query, mask.key):
            if r not in c.sizes:
                raise CascadeError(f"{where}: rank {r} has no size")
            if r in used:
                raise CascadeError(f"{where}: rank {r} already belongs to another mask")
            used.add(r)
            if r in parts:
                raise CascadeError(f"{where}: masks attach to whole ranks, not split parts ({r})")
        if mask.query == mask.key:
            raise CascadeError(f"{where}: query and key ranks must differ")
        mask_rules.check(mask, c.sizes[mask.query], c.sizes[mask.key], where)


def check_used_sizes(c: Cascade) -> None:
    """Every size names a rank that some tensor, reference or split uses."""
    used: set[str] = set()
    for t in c.tensors.values():
        used.update(t.ranks)
    for e in c.einsums:
        for ref in refs(e.expr):
            used.update(i.rank for i in ref.indices if i.rank)
    for s in c.splits:
        if s.outer in used or s.inner in used:
            used.update((s.rank, s.outer, s.inner))
    unused = sorted(set(c.sizes) - used)
    if unused:
        raise CascadeError(f"sizes: rank {unused[0]} is given a size but no statement uses it")
