"""Cascade surgery for kernels: a sub-cascade of some Einsums (inputs = what they read from outside), and the
contraction structure of a projection Einsum (its activation and weight operands, and its GEMM dimensions)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from workloads.build import assemble, input_ref
from workloads.errors import CascadeError
from workloads.ir import Call, Cascade, Einsum, Ref, refs
from workloads.order import loop_ranks

__all__ = ["Contraction", "contraction", "gemm_shape", "projection", "subcascade"]


def _mask_ranks(c: Cascade, mask) -> tuple[set[str], set[str]]:
    """The ranks that stand for a mask's query and key sides (the rank itself, or its split parts)."""
    parts = {s.rank: {s.outer, s.inner} for s in c.splits}
    return ({mask.query} | parts.get(mask.query, set())), ({mask.key} | parts.get(mask.key, set()))


def subcascade(c: Cascade, names: Iterable[str], name: str) -> Cascade:
    """The Einsums `names` of `c` as a cascade of their own: inputs are the tensors they read and do not produce,
    the output is the one tensor among theirs that the rest of `c` reads (or `c`'s output, or, if nothing reads
    any, the one nothing reads: a cache write); masks, splits and initial values are those that apply to them."""
    chosen = set(names)
    einsums = [e for e in c.einsums if e.name in chosen]
    unknown = chosen - {e.name for e in einsums}
    if unknown:
        raise CascadeError(f"subcascade of {c.name}: no Einsum {sorted(unknown)[0]!r}")
    made = {e.name for e in einsums}
    read = list(dict.fromkeys(r.tensor for e in einsums for r in refs(e.expr)))
    inputs = [t for t in read if t not in made]
    outside = {r.tensor for e in c.einsums if e.name not in chosen for r in refs(e.expr)}
    outs = [t for t in made if t in outside or t == c.output]
    if not outs:   # a side output nothing else reads (a decode layer's new keys, written to the cache)
        inside = {r.tensor for e in einsums for r in refs(e.expr)}
        outs = [e.name for e in einsums if e.name not in inside]
    if len(outs) != 1:
        raise CascadeError(f"subcascade {name}: {len(outs)} of its tensors are read outside it ({outs[:8]}); a "
                           f"kernel writes exactly one")
    used = {r for t in inputs + sorted(made) for r in c.tensors[t].ranks}
    used |= {r for e in einsums for r in loop_ranks(e)}
    splits = [s for s in c.splits if s.outer in used or s.inner in used]
    used |= {r for s in splits for r in (s.rank, s.outer, s.inner)}
    loops = [set(loop_ranks(e)) for e in einsums]
    masks = [mk for mk in c.masks if any(all(side & ranks for side in _mask_ranks(c, mk)) for ranks in loops)]
    used |= {r for mk in masks for r in (mk.query, mk.key)}
    inits = [i for i in c.inits if i.tensor in made]
    return assemble(name=name, sizes={r: c.sizes[r] for r in c.sizes if r in used},
                    inputs=[input_ref(c.tensors[t]) for t in inputs], einsums=einsums, splits=splits, masks=masks,
                    inits=inits, output=outs[0], dtype=c.dtype)


@dataclass(frozen=True)
class Contraction:
    """A projection `Y = Σ A · W`: the activation and weight references, and the GEMM it is — `batch` ranks in
    both operands and the output, `rows` (activation only), `cols` (weight only), `reduced`."""
    einsum: str
    activation: Ref
    weight: Ref
    batch: tuple[str, ...]
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    reduced: tuple[str, ...]


def contraction(c: Cascade, e: Einsum) -> tuple[str, str] | None:
    """(activation, weight) tensor names if `e` is a sum over the product of two tensors one of which is an input
    of `c` without the batch rank B (a weight), else None."""
    found = projection(c, e)
    return (found.activation.tensor, found.weight.tensor) if found else None


def projection(c: Cascade, e: Einsum) -> Contraction | None:
    """The projection structure of `e` (see `Contraction`), or None if it is not one."""
    x = e.expr
    if e.reduce != "sum" or not (isinstance(x, Call) and x.op == "mul" and len(x.args) == 2
                                 and all(isinstance(a, Ref) for a in x.args)):
        return None
    weights = [a for a in x.args if a.tensor in c.inputs and "B" not in c.tensors[a.tensor].ranks]
    if len(weights) != 1:
        return None
    w = weights[0]
    act = x.args[0] if x.args[1] is w else x.args[1]
    a_ranks, w_ranks = {i.rank for i in act.indices}, {i.rank for i in w.indices}
    out = [i.rank for i in e.output.indices]
    return Contraction(e.name, act, w, tuple(r for r in out if r in a_ranks and r in w_ranks),
                       tuple(r for r in out if r in a_ranks and r not in w_ranks),
                       tuple(r for r in out if r in w_ranks and r not in a_ranks), tuple(e.reduce_ranks))


def gemm_shape(c: Cascade, names: Iterable[str]) -> tuple[str, int, int, int, int]:
    """(activation tensor, batch, M, N, K) of the fused GEMM computing the projections `names` of one activation:
    their columns side by side. CascadeError if one is not a projection or they do not share rows and reduction."""
    made = {e.name: e for e in c.einsums}
    shapes = []
    for n in names:
        found = projection(c, made[n])
        if found is None:
            raise CascadeError(f"Einsum {n} `{made[n].text}` is not a projection (a sum over an activation times a "
                               f"weight input)")
        size = lambda ranks: math.prod(c.sizes[r] for r in ranks)  # noqa: E731
        shapes.append((found.activation.tensor, size(found.batch), size(found.rows), size(found.cols),
                       size(found.reduced)))
    first = shapes[0]
    for n, s in zip(names, shapes):
        if (s[0], s[1], s[2], s[4]) != (first[0], first[1], first[2], first[4]):
            raise CascadeError(f"projections {list(names)} do not fuse: {n} is {s[0]} (batch {s[1]}, {s[2]} rows, "
                               f"K={s[4]}), the first {first[0]} (batch {first[1]}, {first[2]} rows, K={first[4]})")
    return first[0], first[1], first[2], sum(s[3] for s in shapes), first[4]
