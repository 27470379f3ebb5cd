"""Einsums built from IR objects, with the statement text the parser reads back to the same objects (so a
backward cascade round-trips through `workloads.to_text` and `workloads.save`)."""
from __future__ import annotations

import math

from workloads.ir import EACH, Call, Const, Einsum, Expr, Index, Ref
from workloads.validate import token

__all__ = ["einsum", "plain_ref", "render"]

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def plain_ref(tensor: str, ranks) -> Ref:
    """`tensor[r…]` with every rank at each point."""
    return Ref(tensor, tuple(Index(r, EACH) for r in ranks))


def render(expr: Expr, top: bool = True) -> str:
    """An expression in the Einsum language: binary ops infix (parenthesised below the top), others as calls."""
    if isinstance(expr, Ref):
        return token(expr)
    if isinstance(expr, Const):
        v = expr.value
        return ("-inf" if v < 0 else "inf") if math.isinf(v) else repr(float(v))
    if expr.op in _INFIX:
        text = f"{render(expr.args[0], False)} {_INFIX[expr.op]} {render(expr.args[1], False)}"
        return text if top else f"({text})"
    return f"{expr.op}({', '.join(render(a) for a in expr.args)})"


def einsum(output: Ref, expr: Expr, reduce: str | None = None, reduce_ranks: tuple[str, ...] = ()) -> Einsum:
    """An Einsum of `expr` into `output`; a sum over the ranks only on the right is implicit (reduce None), a max
    names its ranks."""
    body = render(expr)
    if reduce == "max":
        body = f"max({', '.join(r.lower() for r in reduce_ranks)}: {body})"
    text = f"{token(output)} = {body}"
    return Einsum(output.tensor, output, expr, reduce, tuple(reduce_ranks) if reduce else (), text)
