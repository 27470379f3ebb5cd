"""The attention-variant registry: `register_variant(name)` and `attention(name, **shape)`.

Every builder returns a `Cascade` whose inputs are Q [B,H,M,E], K [B,·,P,E], V [B,·,P,F] (or a variant's own
inputs, e.g. MLA's latent cache) and whose output (`cascade.output`) is [B,H,M,F]. Builders take keyword
arguments only; NumPy scalars and arrays are accepted wherever Python numbers and tuples are.
"""
from __future__ import annotations

import difflib
import functools
import inspect
from typing import Callable

import numpy as np

from workloads.errors import CascadeError, quote
from workloads.ir import Cascade

VARIANTS: dict[str, Callable[..., Cascade]] = {}


class ArgumentError(CascadeError, TypeError):
    """An unknown or missing builder argument: a CascadeError that is also the TypeError a bad call raises."""


def register_variant(name: str):
    """Decorator: register an attention-variant builder under `name` (duplicates raise). The registered builder
    reads NumPy integers, booleans and arrays as the Python values they stand for."""
    def add(builder: Callable[..., Cascade]) -> Callable[..., Cascade]:
        if name in VARIANTS:
            raise ValueError(f"attention variant {name!r} is already registered")

        @functools.wraps(builder)
        def build(**shape) -> Cascade:
            return builder(**{key: python_value(value) for key, value in shape.items()})

        VARIANTS[name] = build
        return build
    return add


def attention(name: str, **shape) -> Cascade:
    """Build an attention cascade, e.g. `attention("mha", batch=1, heads=12, seq=4096, head_dim=64)`."""
    builder = _builder(name)
    _bind(name, builder, shape)
    causal = python_value(shape.get("causal", False))
    flags = causal if isinstance(causal, (tuple, list)) else (causal,)
    if not all(isinstance(flag, (bool, np.bool_)) for flag in flags):
        raise CascadeError(f"attention {name!r}: causal must be True/False (one per layout dimension for local "
                           f"attention), got {quote(causal)}")
    try:
        return builder(**shape)
    except RecursionError:
        raise CascadeError(f"attention {name!r}: an argument nests too deeply") from None


def python_value(value):
    """NumPy scalars and arrays as the Python numbers, booleans and lists they hold; lists and tuples element-wise;
    anything else unchanged (so a message can echo what was passed)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [python_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(python_value(v) for v in value)
    return value


def _builder(name) -> Callable[..., Cascade]:
    if not isinstance(name, str) or name not in VARIANTS:
        near = difflib.get_close_matches(name, VARIANTS, n=1) if isinstance(name, str) and len(name) < 64 else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise CascadeError(f"unknown attention variant {quote(name)}{hint} (valid: {', '.join(sorted(VARIANTS))})")
    return VARIANTS[name]


def _bind(name: str, builder: Callable[..., Cascade], shape: dict) -> None:
    """Refuse unknown arguments (suggesting the nearest valid one) and missing ones, listing what is valid."""
    params = inspect.signature(builder).parameters
    valid = ", ".join(params)
    for key in shape:
        if key not in params:
            near = difflib.get_close_matches(key, params, n=1) if len(key) < 64 else []
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ArgumentError(f"attention {name!r}: got an unexpected keyword argument {quote(key)}{hint}; "
                                f"valid arguments: {valid}")
    missing = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in shape]
    if missing:
        raise ArgumentError(f"attention {name!r}: missing a required argument: {missing[0]!r} (required: "
                            f"{', '.join(k for k, p in params.items() if p.default is inspect.Parameter.empty)}; "
                            f"valid arguments: {valid})")
