"""The templates the spatial dataflows lower: a cascade is accepted only if it *is* multi-head attention with
the given softmax core — the cascade `workloads.attention("mha", ...)` builds for its sizes — or a plain GEMM, up
to the names of its inputs. Names of Einsums and intermediates must match (bindings are keyed by them); every
expression, reduction, index, tensor shape, split and initial value must match. Anything else (an extra bias input
on the scores, another nonlinearity, a dropped Einsum, an extra rank) is refused with the first difference, so a
lowering never simulates plain attention in place of a cascade that computes something else.
"""
from __future__ import annotations

import functools
from typing import Any

import workloads
from workloads import Cascade, CascadeError
from workloads.ir import Call, Const, Ref

__all__ = ["gemm_mismatch", "mismatch"]

RANKS = {"3pass": ("B", "H", "M", "P", "E", "F"), "1pass": ("B", "H", "M", "P", "E", "F", "P0")}
TEXT_LIMIT = 160   # characters of an Einsum quoted in a reason
TEMPLATE_CACHE = 256   # templates kept (one per shape): building one parses its text


def mismatch(cascade: Cascade, softmax: str) -> str | None:
    """Why `cascade` is not MHA with the `softmax` core (None if it is), naming the first difference."""
    sizes = cascade.sizes
    missing = [r for r in RANKS[softmax] if r not in sizes]
    if missing:
        return (f"needs multi-head attention with the {softmax} softmax (ranks {', '.join(RANKS[softmax])}); "
                f"this cascade has no rank {missing[0]}")
    try:
        template = _mha(softmax, tuple(sizes[r] for r in RANKS["1pass"][:6]), sizes.get("P0"), cascade.dtype)
    except CascadeError as err:
        return f"its sizes do not form multi-head attention ({str(err)[:TEXT_LIMIT]})"
    return _compare(cascade, template, f"multi-head attention with the {softmax} softmax")


@functools.lru_cache(maxsize=TEMPLATE_CACHE)
def _mha(softmax: str, shape: tuple[int, ...], key_tile: int | None, dtype: str) -> Cascade:
    b, h, m, p, e, f = shape
    return workloads.attention("mha", batch=b, heads=h, seq=m, seq_kv=p, head_dim=e, head_dim_v=f, softmax=softmax,
                               key_tile=key_tile, dtype=dtype)


@functools.lru_cache(maxsize=TEMPLATE_CACHE)
def _gemm(m: int, n: int, k: int, dtype: str) -> Cascade:
    return workloads.gemm(m, n, k, dtype=dtype)


def gemm_mismatch(cascade: Cascade) -> str | None:
    """Why `cascade` is not a plain GEMM Z[M,N] = A[M,K]·B[K,N] (`workloads.gemm`) up to input names."""
    sizes = cascade.sizes
    if set(sizes) != {"M", "N", "K"}:
        return f"needs a plain GEMM (workloads.gemm: ranks M, N, K; this cascade has {', '.join(sizes)})"
    template = _gemm(sizes["M"], sizes["N"], sizes["K"], cascade.dtype)
    return _compare(cascade, template, "a plain GEMM (workloads.gemm)")


def _compare(c: Cascade, t: Cascade, what: str) -> str | None:
    extra = sorted(set(c.sizes) - set(t.sizes))
    if extra:
        return f"is not {what}: extra rank {extra[0]}"
    wrong = [r for r, n in t.sizes.items() if c.sizes[r] != n]
    if wrong:
        return f"is not {what}: rank {wrong[0]} has size {c.sizes[wrong[0]]}, the template's {t.sizes[wrong[0]]}"
    names, expected = [e.name for e in c.einsums], [e.name for e in t.einsums]
    if sorted(names) != sorted(expected):
        gone = sorted(set(expected) - set(names))
        new = sorted(set(names) - set(expected))
        diff = f"missing Einsum {gone[0]}" if gone else f"extra Einsum {new[0]}" if new else "a repeated Einsum"
        return f"is not {what}: {diff} (needs {', '.join(expected)})"
    rename: dict[str, str] = {}
    mine = {e.name: e for e in c.einsums}
    for e in t.einsums:
        got = mine[e.name]
        same = (got.reduce == e.reduce and got.reduce_ranks == e.reduce_ranks
                and _same(got.output, e.output, c, t, rename) and _same(got.expr, e.expr, c, t, rename))
        if not same:
            return f"Einsum {e.name} is not the template's: got `{_text(got.text)}`, expected `{_text(e.text)}`"
    if len(c.inputs) != len(t.inputs):
        return f"is not {what}: {len(c.inputs)} inputs ({', '.join(c.inputs)}), the template has {len(t.inputs)}"
    if c.output != t.output:
        return f"is not {what}: its output is {c.output}, the template's is {t.output}"
    for name, tensor in t.tensors.items():
        other = c.tensors.get(next((k for k, v in rename.items() if v == name), name))
        if other is None or (other.ranks, other.iterative) != (tensor.ranks, tensor.iterative):
            return f"is not {what}: tensor {name} is not stored as [{', '.join(tensor.ranks)}]"
    if (c.splits, c.inits) != (t.splits, t.inits):
        return f"is not {what}: its splits or initial values differ"
    return None


def _same(a: Any, b: Any, c: Cascade, t: Cascade, rename: dict[str, str]) -> bool:
    """Structural equality of two expressions; inputs of `c` may stand for inputs of `t` under one renaming."""
    if isinstance(a, Ref) and isinstance(b, Ref):
        if a.indices != b.indices:
            return False
        if (a.tensor in c.inputs) != (b.tensor in t.inputs):
            return False
        if a.tensor not in c.inputs:
            return a.tensor == b.tensor
        if rename.setdefault(a.tensor, b.tensor) != b.tensor:
            return False
        return list(rename.values()).count(b.tensor) == 1
    if isinstance(a, Call) and isinstance(b, Call):
        return a.op == b.op and len(a.args) == len(b.args) and all(
            _same(x, y, c, t, rename) for x, y in zip(a.args, b.args))
    if isinstance(a, Const) and isinstance(b, Const):
        return a.value == b.value
    return False


def _text(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 3] + "..."
