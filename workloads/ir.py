"""The cascade IR: plain frozen data, no behaviour.

A `Cascade` is a list of extended Einsums over named ranks. Rank names are upper case (`P`, `P1`); the index
variables that iterate over them are the same names in lower case (`p`, `p1`). Everything that computes on a
cascade (counts, bytes, passes, execution) is a pure function elsewhere in this package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

# How an index addresses a rank: every point (`p1`), the next point of an iterative rank (`p1+1`),
# the first point (`0`, initial values) or the final point (`P1`, after the last iteration).
EACH, NEXT, FIRST, LAST = "each", "next", "first", "last"


@dataclass(frozen=True)
class Index:
    rank: str
    step: str = EACH


@dataclass(frozen=True)
class Ref:
    """A tensor read or written at some indices, e.g. `RM[b,h,m,p1+1]`."""
    tensor: str
    indices: tuple[Index, ...]


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Call:
    """A map operation (`add`, `exp`, `sub_exp`, ...) applied point-wise to its arguments."""
    op: str
    args: tuple["Expr", ...]


Expr = Union[Ref, Const, Call]


@dataclass(frozen=True)
class Einsum:
    """`output = reduce(reduce_ranks: expr)`; `reduce` is None for a pure map."""
    name: str
    output: Ref
    expr: Expr
    reduce: str | None
    reduce_ranks: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Split:
    """Rank `rank` is viewed as `outer × inner` (p = p1·P0 + p0), padded up to a whole number of tiles."""
    rank: str
    outer: str
    inner: str


@dataclass(frozen=True)
class Init:
    """The initial value of an iterative tensor (its position 0 along the iterative rank)."""
    tensor: str
    value: float


@dataclass(frozen=True)
class Causal:
    """Query m sees keys p ≤ m + (P − M): bottom-right aligned, as FlashAttention and SDPA decode."""
    query: str
    key: str


@dataclass(frozen=True)
class Window:
    """FlashAttention's sliding window: query m sees keys in [m' − left, m' + right], m' = m + P − M."""
    query: str
    key: str
    left: int
    right: int


@dataclass(frozen=True)
class Neighborhood:
    """NATTEN's generalized neighborhood attention predicate over a row-major token layout `spatial`.

    One entry per layout dimension for window, stride, dilation and causal.
    """
    query: str
    key: str
    spatial: tuple[int, ...]
    window: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    causal: tuple[bool, ...]


@dataclass(frozen=True)
class Blocks:
    """An explicit block mask: `keep[i][j]` says whether query block i attends key block j."""
    query: str
    key: str
    q_block: int
    kv_block: int
    keep: tuple[tuple[bool, ...], ...]


Mask = Union[Causal, Window, Neighborhood, Blocks]


@dataclass(frozen=True)
class Tensor:
    """A tensor's storage ranks, outermost first. An iterative tensor stores one extra point on `iterative`."""
    name: str
    ranks: tuple[str, ...]
    iterative: str | None = None


@dataclass(frozen=True)
class Cascade:
    name: str
    sizes: Mapping[str, int]
    tensors: Mapping[str, Tensor]
    inputs: tuple[str, ...]
    output: str
    einsums: tuple[Einsum, ...]
    splits: tuple[Split, ...] = ()
    masks: tuple[Mask, ...] = ()
    inits: tuple[Init, ...] = ()
    dtype: str = "fp16"
