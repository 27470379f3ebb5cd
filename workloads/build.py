"""Build and validate a `Cascade` from extended-Einsum text (see `parse.py` for the language)."""
from __future__ import annotations

import math
from typing import Mapping

from workloads import masks as mask_rules
from workloads.errors import CascadeError
from workloads.ir import EACH, FIRST, LAST, NEXT, Call, Cascade, Const, Einsum, Expr, Init, Ref, Split, Tensor
from workloads.parse import parse
from workloads.ops import REDUCE_OPS

DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


def cascade(text: str, sizes: Mapping[str, int], *, name: str = "cascade", output: str | None = None,
            dtype: str = "fp16") -> Cascade:
    """Parse statements into a validated `Cascade`. `sizes` maps upper-case rank names to sizes; the outer
    part of a split is derived (⌈P/P0⌉) when not given."""
    inputs, splits, masks, inits, einsums, outputs = [], [], [], [], [], []
    init_refs = {}
    for st in parse(text):
        if st.kind == "input":
            inputs.extend(st.payload)
        elif st.kind == "split":
            splits.append(st.payload)
        elif st.kind == "mask":
            masks.append(st.payload)
        elif st.kind == "output":
            outputs.append(st.payload)
        elif st.kind == "init":
            ref, init = st.payload
            if init.tensor in init_refs:
                raise CascadeError(f"Einsum {init.tensor} `{st.text}`: second initial value for {init.tensor}")
            init_refs[init.tensor] = (ref, st.text)
            inits.append(init)
        else:
            einsums.append(st.payload)
    if len(outputs) > 1:
        raise CascadeError(f"`output` given twice: {outputs}")
    if output is None:
        if outputs:
            output = outputs[0]
        elif einsums:
            output = einsums[-1].name
        else:
            raise CascadeError("cascade has no Einsums")
    elif outputs and outputs[0] != output:
        raise CascadeError(f"output={output!r} disagrees with the statement `output {outputs[0]}`")
    return build(name=name, sizes=sizes, inputs=inputs, splits=splits, masks=masks, inits=inits,
                 init_refs=init_refs, einsums=einsums, output=output, dtype=dtype)


def build(*, name, sizes, inputs, splits, masks, inits, init_refs, einsums, output, dtype) -> Cascade:
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise CascadeError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPE_BYTES)})")
    sizes = _sizes(sizes, splits)
    tensors: dict[str, Tensor] = {}
    for ref in inputs:
        if ref.tensor in tensors:
            raise CascadeError(f"input {ref.tensor} is declared twice")
        for index in ref.indices:
            if index.step != EACH:
                raise CascadeError(f"input {ref.tensor}: declare inputs with plain rank variables, not {index}")
        tensors[ref.tensor] = Tensor(ref.tensor, tuple(i.rank for i in ref.indices))
    for e in einsums:
        where = f"Einsum {e.name} `{e.text}`"
        if e.name in tensors:
            what = "an input" if e.name in {r.tensor for r in inputs} else "already produced by another Einsum"
            raise CascadeError(f"{where}: tensor {e.name} is {what}")
        iterative = [i.rank for i in e.output.indices if i.step == NEXT]
        if any(i.step == LAST for i in e.output.indices):
            raise CascadeError(f"{where}: the final point {_token(e.output)} cannot be written on the left")
        if len(iterative) > 1:
            raise CascadeError(f"{where}: at most one `+1` index on the left")
        tensors[e.name] = Tensor(e.name, tuple(i.rank for i in e.output.indices), iterative[0] if iterative else None)
    resolved = tuple(_resolve(e, tensors, sizes, splits) for e in einsums)
    _check_inits(inits, init_refs, tensors, sizes)
    result = Cascade(name=name, sizes=sizes, tensors=tensors, inputs=tuple(r.tensor for r in inputs),
                     output=output, einsums=resolved, splits=tuple(splits), masks=tuple(masks), inits=tuple(inits),
                     dtype=dtype)
    _check_masks(result)
    _check_used_sizes(result)
    if output not in tensors or output in result.inputs:
        raise CascadeError(f"output {output}: no Einsum produces it")
    from workloads.analysis import execution_order  # late import: analysis depends on the IR only
    execution_order(result)  # raises on cycles
    return result


def _token(ref: Ref) -> str:
    parts = []
    for i in ref.indices:
        parts.append({EACH: i.rank.lower(), NEXT: i.rank.lower() + "+1", FIRST: "0", LAST: i.rank}[i.step])
    return f"{ref.tensor}[{','.join(parts)}]"


def _sizes(given: Mapping[str, int], splits: list[Split]) -> dict[str, int]:
    sizes = {}
    try:
        given = dict(given)
    except (TypeError, ValueError):
        raise CascadeError(f"sizes: expected a mapping of rank name to size, got {type(given).__name__}") from None
    for rank, size in given.items():
        if not isinstance(rank, str) or not rank or rank.upper() != rank:
            raise CascadeError(f"sizes: rank names are upper case, got {rank!r}")
        if isinstance(size, bool) or not isinstance(size, (int,)) and not (hasattr(size, "__index__")):
            raise CascadeError(f"sizes: rank {rank} has non-integer size {size!r}")
        if int(size) < 1:
            raise CascadeError(f"sizes: rank {rank} has size {size}; sizes must be ≥ 1")
        sizes[rank] = int(size)
    seen = set()
    for s in splits:
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
        outer = -(-sizes[s.rank] // sizes[s.inner])
        if sizes[s.inner] > sizes[s.rank]:
            raise CascadeError(f"{where}: tile {s.inner}={sizes[s.inner]} does not fit in {s.rank}={sizes[s.rank]}")
        if s.outer in sizes and sizes[s.outer] != outer:
            raise CascadeError(f"{where}: {s.outer}·{s.inner} = {sizes[s.outer]}·{sizes[s.inner]} does not fit "
                               f"{s.rank}={sizes[s.rank]} (needs {s.outer}={outer})")
        sizes[s.outer] = outer
    return sizes


def _resolve(e: Einsum, tensors: dict[str, Tensor], sizes: dict[str, int], splits: list[Split]) -> Einsum:
    where = f"Einsum {e.name} `{e.text}`"
    split_of = {s.rank: s for s in splits}
    inner_of = {s.inner: s for s in splits}
    outer_of = {s.outer: s for s in splits}
    rhs_ranks: list[str] = []

    def need_size(rank: str, token: str) -> int:
        if rank not in sizes:
            raise CascadeError(f"{where}: rank {rank} (token {token!r}) has no size")
        return sizes[rank]

    def check_ref(ref: Ref) -> None:
        if ref.tensor not in tensors:
            raise CascadeError(f"{where}: undefined tensor {ref.tensor!r} (not an input and no Einsum produces it)")
        tensor = tensors[ref.tensor]
        stored, pos = tensor.ranks, 0
        indices = list(ref.indices)
        k = 0
        while k < len(indices):
            index = indices[k]
            if pos >= len(stored):
                raise CascadeError(f"{where}: {_token(ref)} has more indices than {ref.tensor}'s ranks "
                                   f"{list(stored)}")
            rank = stored[pos]
            token = _token(Ref(ref.tensor, (index,)))[len(ref.tensor) + 1:-1]
            if index.step in (FIRST, LAST, NEXT):
                if tensor.iterative != rank:
                    raise CascadeError(f"{where}: index {token!r} in {_token(ref)}: only the iterative rank of an "
                                       f"iterative tensor takes `+1`, `0` or its final point")
                if index.step in (NEXT, LAST) and index.rank != rank:
                    raise CascadeError(f"{where}: index {token!r} in {_token(ref)} addresses rank {rank}")
                if index.step == NEXT:
                    rhs_ranks.append(rank)
                k, pos = k + 1, pos + 1
                continue
            split = split_of.get(rank)
            if split is not None and index.rank == split.outer:
                nxt = indices[k + 1] if k + 1 < len(indices) else None
                if nxt is None or nxt.rank != split.inner or nxt.step != EACH:
                    raise CascadeError(f"{where}: {_token(ref)}: split rank {rank} is read as "
                                       f"{split.outer.lower()}, {split.inner.lower()} (both, in that order)")
                rhs_ranks.extend([split.outer, split.inner])
                k, pos = k + 2, pos + 1
                continue
            merged = outer_of.get(rank)
            if (merged is not None and index.rank == merged.rank and pos + 1 < len(stored)
                    and stored[pos + 1] == merged.inner):
                rhs_ranks.append(index.rank)   # a tensor stored split (p1, p0) read whole (p): padding dropped
                k, pos = k + 1, pos + 2
                continue
            if need_size(index.rank, token) != need_size(rank, token):
                raise CascadeError(f"{where}: rank used with two sizes: index {token!r} ({index.rank}="
                                   f"{sizes[index.rank]}) at {ref.tensor}'s rank {rank}={sizes[rank]}")
            rhs_ranks.append(index.rank)
            k, pos = k + 1, pos + 1
        if pos != len(stored):
            raise CascadeError(f"{where}: {_token(ref)} has fewer indices than {ref.tensor}'s ranks {list(stored)}")

    for ref in _refs(e.expr, where):
        check_ref(ref)
    rhs = set(rhs_ranks)
    lhs_ranks = []
    for index in e.output.indices:
        token = index.rank.lower() + ("+1" if index.step == NEXT else "")
        need_size(index.rank, token)
        if index.rank not in rhs:
            raise CascadeError(f"{where}: rank {index.rank} on the left (token {token!r}) is not bound on the right")
        if index.rank in lhs_ranks:
            raise CascadeError(f"{where}: index {token!r} repeated on the left")
        lhs_ranks.append(index.rank)
    reduced = tuple(dict.fromkeys(r for r in rhs_ranks if r not in lhs_ranks))
    for r in rhs_ranks:
        if r in inner_of and inner_of[r].outer not in rhs:
            raise CascadeError(f"{where}: uses the inner rank {r.lower()} of a split without its outer rank "
                               f"{inner_of[r].outer.lower()}")
    reduce = e.reduce
    if reduce is None:
        reduce = "sum" if reduced else None
    else:
        if reduce not in REDUCE_OPS:
            raise CascadeError(f"{where}: unknown reduce op {reduce!r}")
        if set(e.reduce_ranks) != set(reduced):
            raise CascadeError(f"{where}: {reduce}({', '.join(r.lower() for r in e.reduce_ranks)}: ...) names the "
                               f"wrong ranks: the ranks only on the right are "
                               f"({', '.join(r.lower() for r in reduced) or 'none'})")
    return Einsum(e.name, e.output, e.expr, reduce, reduced if reduce else (), e.text)


def _refs(expr: Expr, where: str) -> list[Ref]:
    if isinstance(expr, Ref):
        return [expr]
    if isinstance(expr, Const):
        return []
    if isinstance(expr, Call):
        return [r for arg in expr.args for r in _refs(arg, where)]
    raise CascadeError(f"{where}: malformed expression {expr!r}")


def refs(expr: Expr) -> list[Ref]:
    """Every tensor reference in an expression, left to right."""
    return _refs(expr, "expression")


def _check_inits(inits: list[Init], init_refs: dict, tensors: dict[str, Tensor], sizes: dict[str, int]) -> None:
    for init in inits:
        ref, text = init_refs[init.tensor]
        where = f"Einsum {init.tensor} `{text}`"
        tensor = tensors.get(init.tensor)
        if tensor is None or tensor.iterative is None:
            raise CascadeError(f"{where}: {init.tensor} is not an iterative tensor (no Einsum writes it at `+1`)")
        ranks = tuple(tensor.iterative if i.step == FIRST else i.rank for i in ref.indices)
        firsts = [k for k, i in enumerate(ref.indices) if i.step == FIRST]
        if ranks != tensor.ranks or len(firsts) != 1 or tensor.ranks[firsts[0]] != tensor.iterative:
            raise CascadeError(f"{where}: the initial value must index {init.tensor}'s ranks {list(tensor.ranks)} "
                               f"with 0 at the iterative rank {tensor.iterative}")
    missing = [t.name for t in tensors.values() if t.iterative and t.name not in {i.tensor for i in inits}]
    if missing:
        raise CascadeError(f"iterative tensor {missing[0]} has no initial value (add `{missing[0]}[...,0] = value`)")
    iterative = {t.iterative for t in tensors.values() if t.iterative}
    if len(iterative) > 1:
        raise CascadeError(f"at most one iterative rank is supported, got {sorted(iterative)}")


def _check_masks(c: Cascade) -> None:
    used = {}
    split_parts = {s.rank: (s.outer, s.inner) for s in c.splits}
    for mask in c.masks:
        where = f"mask `{mask.query.lower()}, {mask.key.lower()}: {type(mask).__name__.lower()}`"
        for r in (mask.query, mask.key):
            if r not in c.sizes:
                raise CascadeError(f"{where}: rank {r} has no size")
            if r in used:
                raise CascadeError(f"{where}: rank {r} already belongs to another mask")
            used[r] = mask
            if any(r == part for parts in split_parts.values() for part in parts):
                raise CascadeError(f"{where}: masks attach to whole ranks, not split parts ({r})")
        if mask.query == mask.key:
            raise CascadeError(f"{where}: query and key ranks must differ")
        mask_rules.check(mask, c.sizes[mask.query], c.sizes[mask.key], where)


def _check_used_sizes(c: Cascade) -> None:
    used = set()
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


def gemm(m: int, n: int, k: int, dtype: str = "fp16") -> Cascade:
    """The plain GEMM `Z[m,n] = A[m,k] * B[k,n]`."""
    return cascade("input A[m,k], B[k,n]\nZ[m,n] = A[m,k] * B[k,n]", {"M": m, "N": n, "K": k},
                   name=f"gemm_{m}x{n}x{k}", dtype=dtype)
