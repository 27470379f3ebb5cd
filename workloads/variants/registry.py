"""The attention-variant registry: `register_variant(name)` and `attention(name, **shape)`.

Every builder returns a `Cascade` whose inputs are Q [B,H,M,E], K [B,·,P,E], V [B,·,P,F] (or a variant's own
inputs, e.g. MLA's latent cache) and whose output (`cascade.output`) is [B,H,M,F].
"""
from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from workloads.errors import CascadeError
from workloads.ir import Cascade

VARIANTS: dict[str, Callable[..., Cascade]] = {}


class ArgumentError(CascadeError, TypeError):
    """An unknown or missing builder argument: a CascadeError that is also the TypeError a bad call raises."""


def register_variant(name: str):
    """Decorator: register an attention-variant builder under `name` (duplicates raise)."""
    def add(builder: Callable[..., Cascade]) -> Callable[..., Cascade]:
        if name in VARIANTS:
            raise ValueError(f"attention variant {name!r} is already registered")
        VARIANTS[name] = builder
        return builder
    return add


def attention(name: str, **shape) -> Cascade:
    """Build an attention cascade, e.g. `attention("mha", batch=1, heads=12, seq=4096, head_dim=64)`."""
    if name not in VARIANTS:
        raise CascadeError(f"unknown attention variant {name!r} (valid: {', '.join(sorted(VARIANTS))})")
    try:
        inspect.signature(VARIANTS[name]).bind(**shape)
    except TypeError as err:
        raise ArgumentError(f"attention {name!r}: {err}") from None
    causal = shape.get("causal", False)
    flags = causal if isinstance(causal, (tuple, list)) else (causal,)
    if not all(isinstance(flag, (bool, np.bool_)) for flag in flags):
        raise CascadeError(f"attention {name!r}: causal must be True/False (one per layout dimension for local "
                           f"attention), got {causal!r}")
    return VARIANTS[name](**shape)
