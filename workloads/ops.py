"""The map operations a cascade may use: arity, NumPy meaning, and per-point cost by op type.

`register_op` adds a user op (its name must be new). The cost of a point is the sum of its ops' costs; a
sum-reduction of a product counts one `mac` instead of `mul` + `add`.
"""
from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Callable, Mapping

import numpy as np

from workloads.frozen import FrozenDict


@dataclass(frozen=True)
class Op:
    """A map operation: its arity, its NumPy meaning, and its cost per point by op type (e.g. {"sub": 1, "exp": 1})."""
    name: str
    arity: int
    fn: Callable[..., np.ndarray]
    cost: Mapping[str, int]


def _gelu(x):  # tanh form, as BERT/GPT implementations use (Hendrycks & Gimpel, 2016)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


OPS: dict[str, Op] = {}
# Reductions: (the op each reduced point costs, the NumPy reducer, its identity — the value over no points).
REDUCE_OPS = FrozenDict({"sum": ("add", np.sum, 0.0), "max": ("max", np.max, -np.inf)})


def register_op(name: str, arity: int, fn: Callable[..., np.ndarray], cost: Mapping[str, int]) -> Op:
    """Add a map op usable in cascade text, e.g. `register_op("sub_exp", 2, lambda a, b: np.exp(a - b), {"sub": 1, "exp": 1})`."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", name, re.ASCII):
        raise ValueError(f"op name must be a lower-case ASCII identifier, got {name!r:.80}")
    if name in OPS or name == "sum":
        raise ValueError(f"op {name!r} is already registered")
    if isinstance(arity, bool) or not isinstance(arity, int) or arity < 1:
        raise ValueError(f"op {name!r}: arity must be an integer ≥ 1, got {arity!r:.80}")
    if not callable(fn):
        raise ValueError(f"op {name!r}: fn must be callable")
    if not isinstance(cost, Mapping) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                                and v >= 0 for k, v in cost.items()):
        raise ValueError(f"op {name!r}: cost must map op types to non-negative integers, got {cost!r:.80}")
    op = Op(name, arity, fn, FrozenDict(cost))
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
