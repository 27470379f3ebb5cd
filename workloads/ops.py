"""The map operations a cascade may use: arity, NumPy meaning, and per-point cost by op type.

`register_op` adds a user op (its name must be new). The cost of a point is the sum of its ops' costs; a
sum-reduction of a product counts one `mac` instead of `mul` + `add`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class Op:
    name: str
    arity: int
    fn: Callable[..., np.ndarray]
    cost: Mapping[str, int]


def _gelu(x):  # tanh form, as BERT/GPT implementations use
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


OPS: dict[str, Op] = {}
REDUCE_OPS = {"sum": ("add", np.sum, 0.0), "max": ("max", np.max, -np.inf)}


def register_op(name: str, arity: int, fn: Callable[..., np.ndarray], cost: Mapping[str, int]) -> Op:
    """Add a map op usable in cascade text, e.g. `register_op("sub_exp", 2, lambda a, b: np.exp(a - b), {"sub": 1, "exp": 1})`."""
    if name in OPS or name == "sum":
        raise ValueError(f"op {name!r} is already registered")
    if arity < 1:
        raise ValueError(f"op {name!r}: arity must be ≥ 1, got {arity}")
    op = Op(name, arity, fn, dict(cost))
    OPS[name] = op
    return op


for _name, _arity, _fn, _cost in [
    ("add", 2, np.add, {"add": 1}),
    ("sub", 2, np.subtract, {"sub": 1}),
    ("mul", 2, np.multiply, {"mul": 1}),
    ("div", 2, np.divide, {"div": 1}),
    ("max", 2, np.maximum, {"max": 1}),
    ("min", 2, np.minimum, {"min": 1}),
    ("neg", 1, np.negative, {"neg": 1}),
    ("exp", 1, np.exp, {"exp": 1}),
    ("sub_exp", 2, lambda a, b: np.exp(a - b), {"sub": 1, "exp": 1}),
    ("sqrt", 1, np.sqrt, {"sqrt": 1}),
    ("rsqrt", 1, lambda x: 1.0 / np.sqrt(x), {"rsqrt": 1}),
    ("tanh", 1, np.tanh, {"tanh": 1}),
    ("sigmoid", 1, lambda x: 1.0 / (1.0 + np.exp(-x)), {"sigmoid": 1}),
    ("silu", 1, lambda x: x / (1.0 + np.exp(-x)), {"silu": 1}),
    ("gelu", 1, _gelu, {"gelu": 1}),
    ("relu", 1, lambda x: np.maximum(x, 0.0), {"relu": 1}),
    ("elu", 1, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))), {"elu": 1}),
]:
    register_op(_name, _arity, _fn, _cost)
