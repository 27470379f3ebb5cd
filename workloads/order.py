"""Execution order of a cascade: which Einsums feed which, and how they group around the loop of an iterative
rank (before the loop, the loop body, after the loop)."""
from __future__ import annotations

import functools

from workloads.errors import CascadeError, shorten
from workloads.ir import EACH, LAST, Cascade, Einsum, Ref, interned, refs


def producers(c: Cascade) -> dict[str, Einsum]:
    """Einsum by the name of the tensor it writes."""
    return {e.name: e for e in c.einsums}


def iterative_rank(c: Cascade) -> str | None:
    """The cascade's iterative rank (at most one), or None."""
    ranks = {t.iterative for t in c.tensors.values() if t.iterative}
    return ranks.pop() if ranks else None


def loop_ranks(e: Einsum) -> tuple[str, ...]:
    """The ranks an Einsum iterates over: its output ranks, then its reduced ranks."""
    return tuple(i.rank for i in e.output.indices) + tuple(e.reduce_ranks)


def is_carried(c: Cascade, ref: Ref) -> bool:
    """A read of the previous iteration's value of an iterative tensor (`RM[..., p1]`)."""
    tensor = c.tensors[ref.tensor]
    return tensor.iterative is not None and any(i.rank == tensor.iterative and i.step == EACH
                                                for i in ref.indices)


def dependencies(c: Cascade, e: Einsum) -> list[str]:
    """Einsums that must run before `e` within one iteration (loop-carried reads excluded)."""
    made = producers(c)
    return list(dict.fromkeys(r.tensor for r in refs(e.expr) if r.tensor in made and not is_carried(c, r)))


def topological(c: Cascade) -> list[str]:
    """Einsum names, each after the Einsums it depends on (statement order otherwise); CascadeError on a cycle."""
    deps = {e.name: dependencies(c, e) for e in c.einsums}
    order, state = [], {}
    for root in deps:
        stack = [(root, iter(deps[root]))] if root not in state else []
        state.setdefault(root, "active")
        while stack:
            name, pending = stack[-1]
            d = next(pending, None)
            if d is None:
                stack.pop()
                state[name] = "done"
                order.append(name)
            elif state.get(d) == "active":
                path = [n for n, _ in stack]
                cycle = path[path.index(d):] + [d]
                raise CascadeError(f"Einsum {d}: cycle between Einsums {' -> '.join(cycle)}")
            elif d not in state:
                state[d] = "active"
                stack.append((d, iter(deps[d])))
    return order


def execution_order(c: Cascade) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(before the loop, the loop body, after the loop) as Einsum names in dependency order.

    Without an iterative rank everything is in the first group. Raises CascadeError on a cycle, or when the loop
    body needs a value that is only known after the loop.
    """
    try:
        hash(c)
    except TypeError:   # a Cascade built by hand around unhashable parts: order it without the memo
        return _execution_order(c)
    return _ordered(interned(c))


@functools.lru_cache(maxsize=256)   # lowerings, rooflines and counts of one cascade all ask for its order
def _ordered(c: Cascade) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return _execution_order(c)


def _execution_order(c: Cascade) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    order = topological(c)
    loop = iterative_rank(c)
    if loop is None:
        return tuple(order), (), ()
    made = producers(c)
    body = {n for n in order if loop in loop_ranks(made[n])}
    after: set[str] = set()
    for n in order:
        e = made[n]
        reads_final = any(i.step == LAST for r in refs(e.expr) for i in r.indices)
        deps = dependencies(c, e)
        if n in body:
            if reads_final:
                raise CascadeError(f"Einsum {n} `{shorten(e.text)}`: reads a final value inside the "
                                   f"{loop.lower()} loop")
            bad = [d for d in deps if d in after]
            if bad:
                raise CascadeError(f"Einsum {n} `{shorten(e.text)}`: inside the {loop.lower()} loop it needs {bad[0]}, "
                                   f"which needs the loop's final values")
        elif reads_final or any(d in body or d in after for d in deps):
            after.add(n)
    return (tuple(n for n in order if n not in body and n not in after),
            tuple(n for n in order if n in body), tuple(n for n in order if n in after))
