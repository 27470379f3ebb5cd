"""Point-wise derivatives of the extended-Einsum map ops, as expressions in the same IR, and the two ops a
derivative needs that a forward cascade does not: `heaviside` (the step of max, min and relu) and `broadcast`.

`pullback(expr, seed)` is reverse-mode accumulation over one expression tree: for every tensor reference it
returns seed · ∂expr/∂reference, built from the expression's own subexpressions (so `exp(x)` reuses `exp(x)`).
At the kinks of max, min and relu the derivative takes the midpoint subgradient (½ at a tie), as PyTorch's
`maximum` and `amax` do.
"""
from __future__ import annotations

import math

import numpy as np

from workloads.errors import CascadeError
from workloads.ir import Call, Const, Expr, Ref
from workloads.ops import OPS, register_op

__all__ = ["BROADCAST", "HEAVISIDE", "SUPPORTED", "map_refs", "pullback"]

HEAVISIDE = "heaviside"   # 1 above 0, ½ at 0, 0 below: the derivative of max(x, 0)
BROADCAST = "broadcast"   # its first argument, repeated over the ranks of the second (whose values it ignores)

if HEAVISIDE not in OPS:
    register_op(HEAVISIDE, 1, lambda x: np.heaviside(x, 0.5), {"cmp": 1})
if BROADCAST not in OPS:
    register_op(BROADCAST, 2, lambda a, b: np.broadcast_arrays(a, b)[0], {})

GELU_C = math.sqrt(2.0 / math.pi)   # the tanh form of GELU (Hendrycks & Gimpel, 2016), as workloads.ops writes it
GELU_K = 0.044715


def add(a: Expr, b: Expr) -> Expr:
    """a + b, folding zeros."""
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(b, Const) and b.value == 0:
        return a
    return Call("add", (a, b))


def mul(a: Expr, b: Expr) -> Expr:
    """a · b, folding ones and minus ones."""
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Const) and x.value == 1:
            return y
        if isinstance(x, Const) and x.value == -1:
            return neg(y)
    return Call("mul", (a, b))


def neg(a: Expr) -> Expr:
    """−a (a constant stays a constant)."""
    if isinstance(a, Const):
        return Const(-a.value)
    if isinstance(a, Call) and a.op == "neg":
        return a.args[0]
    return Call("neg", (a,))


def step(a: Expr) -> Expr:
    """heaviside(a)."""
    return Call(HEAVISIDE, (a,))


def sub(a: Expr, b: Expr) -> Expr:
    return Call("sub", (a, b))


def _one_minus(a: Expr) -> Expr:
    return sub(Const(1.0), a)


def _gelu_slope(x: Expr) -> Expr:
    """d/dx of ½x(1 + tanh(c(x + kx³))) = ½(1 + t) + ½x(1 − t²)·c(1 + 3kx²)."""
    cube = mul(x, mul(x, x))
    t = Call("tanh", (mul(Const(GELU_C), add(x, mul(Const(GELU_K), cube))),))
    inner = mul(Const(GELU_C), add(Const(1.0), mul(Const(3 * GELU_K), mul(x, x))))
    return add(mul(Const(0.5), add(Const(1.0), t)), mul(mul(Const(0.5), x), mul(_one_minus(mul(t, t)), inner)))


def _silu_slope(x: Expr) -> Expr:
    s = Call("sigmoid", (x,))
    return mul(s, add(Const(1.0), mul(x, _one_minus(s))))


def _v(call) -> Expr:
    """The value of a call: the tensor that holds it, when there is one."""
    return call.value if isinstance(call, _Valued) else call


# op -> function(seed, call) giving seed · ∂call/∂arg for each argument (None: no gradient flows there).
RULES = {
    "add": lambda g, c: (g, g),
    "sub": lambda g, c: (g, neg(g)),
    "mul": lambda g, c: (mul(g, c.args[1]), mul(g, c.args[0])),
    "div": lambda g, c: (Call("div", (g, c.args[1])),
                         neg(Call("div", (mul(g, c.args[0]), mul(c.args[1], c.args[1]))))),
    "max": lambda g, c: (mul(g, step(sub(*c.args))), mul(g, step(sub(c.args[1], c.args[0])))),
    "min": lambda g, c: (mul(g, step(sub(c.args[1], c.args[0]))), mul(g, step(sub(*c.args)))),
    "neg": lambda g, c: (neg(g),),
    "exp": lambda g, c: (mul(g, _v(c)),),
    "sub_exp": lambda g, c: (mul(g, _v(c)), neg(mul(g, _v(c)))),
    "sqrt": lambda g, c: (Call("div", (mul(Const(0.5), g), _v(c))),),
    "rsqrt": lambda g, c: (mul(mul(Const(-0.5), g), mul(_v(c), mul(_v(c), _v(c)))),),
    "tanh": lambda g, c: (mul(g, _one_minus(mul(_v(c), _v(c)))),),
    "sigmoid": lambda g, c: (mul(g, mul(_v(c), _one_minus(_v(c)))),),
    "silu": lambda g, c: (mul(g, _silu_slope(c.args[0])),),
    "gelu": lambda g, c: (mul(g, _gelu_slope(c.args[0])),),
    "relu": lambda g, c: (mul(g, step(c.args[0])),),
    "elu": lambda g, c: (mul(g, Call("min", (add(_v(c), Const(1.0)), Const(1.0)))),),
    HEAVISIDE: lambda g, c: (None,),
    BROADCAST: lambda g, c: (g, None),
}
SUPPORTED = tuple(sorted(RULES))


# Ops whose derivative reads their own value: a map Einsum `T = exp(…)` reuses T instead of recomputing exp.
VALUE_RULES = frozenset({"exp", "sub_exp", "sqrt", "rsqrt", "tanh", "sigmoid", "elu"})


def pullback(expr: Expr, seed: Expr, where: str, value: Ref | None = None) -> list[tuple[Ref, Expr]]:
    """(reference, seed · ∂expr/∂reference) for every tensor reference of `expr`, left to right. `value`, when
    given, is a tensor that holds `expr` itself (the output of a map Einsum)."""
    out: list[tuple[Ref, Expr]] = []
    stack = [(expr, seed)]
    while stack:
        node, g = stack.pop()
        if isinstance(node, Ref):
            out.append((node, g))
        elif isinstance(node, Call):
            rule = RULES.get(node.op)
            if rule is None:
                raise CascadeError(f"{where}: op {node.op!r} has no derivative here (differentiable ops: "
                                   f"{', '.join(SUPPORTED)}; reductions: sum, max)")
            reuse = value is not None and node is expr and node.op in VALUE_RULES
            parts = rule(g, _Valued(node, value) if reuse else node)
            stack.extend((a, d) for a, d in reversed(list(zip(node.args, parts))) if d is not None)
    return out


def map_refs(expr: Expr, change) -> Expr:
    """The expression with every reference replaced by `change(reference)`."""
    if isinstance(expr, Ref):
        return change(expr)
    if isinstance(expr, Call):
        return Call(expr.op, tuple(map_refs(a, change) for a in expr.args))
    return expr


class _Valued:
    """A call whose value is already a tensor: rules see its arguments, and the tensor where they use the value."""

    def __init__(self, call: Call, value: Ref):
        self.call, self.value, self.args, self.op = call, value, call.args, call.op
