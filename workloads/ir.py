"""The cascade IR: plain frozen data, and `refs`, the one walk over an expression.

A `Cascade` is a list of extended Einsums over named ranks, the notation of FuseMax (Nayak et al., MICRO 2024, §II)
after EDGE (Odemuyiwa et al.). Rank names are upper case (`P`, `P1`); the index variables that iterate over them are
the same names in lower case (`p`, `p1`). Records are immutable and hashable (their mappings are `FrozenDict`s), so
equal cascades hash equal and serve as memo keys. Everything that computes on a cascade (counts, bytes, passes,
execution) is a pure function elsewhere in this package.
"""
from __future__ import annotations

import numbers
import weakref
from dataclasses import dataclass, fields
from typing import Mapping, Union

from workloads.errors import CascadeError
from workloads.frozen import FrozenDict

# How an index addresses a rank: every point (`p1`), the next point of an iterative rank (`p1+1`),
# the first point (`0`, initial values) or the final point (`P1`, after the last iteration).
EACH, NEXT, FIRST, LAST = "each", "next", "first", "last"

# Largest size of one rank: beyond any workload; counts stay exact in int64 per rank and finite as floats.
MAX_RANK_SIZE = 1 << 48


def plain(value):
    """NumPy integers and booleans as Python ones (records hold plain values), tuples all the way down."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if type(value).__name__ == "ndarray":
        return plain(value.tolist())
    if isinstance(value, (tuple, list)):
        return tuple(plain(v) for v in value)
    return value


class _CachedHash:
    """Mixin: the dataclass hash, computed once (a routing table or a whole layer is hashed often as a memo key;
    subclasses assign `__hash__` in their body). The cached value never travels in a pickle: string hashes differ
    between processes."""

    def __hash__(self) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_hash", "_interned")}


class _Plain:
    """Mixin: on construction, every field is converted by `plain` (so `Window(left=np.int64(3))` holds an int)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, plain(getattr(self, f.name)))


@dataclass(frozen=True)
class Index:
    """One index of a reference: which rank, and how it addresses it (`EACH`, `NEXT`, `FIRST` or `LAST`)."""
    rank: str
    step: str = EACH


@dataclass(frozen=True)
class Ref:
    """A tensor read or written at some indices, e.g. `RM[b,h,m,p1+1]`."""
    tensor: str
    indices: tuple[Index, ...]


@dataclass(frozen=True)
class Const:
    """A numeric constant in an expression (`0`, `-inf`, a norm's `1/D`)."""
    value: float


@dataclass(frozen=True)
class Call:
    """A map operation (`add`, `exp`, `sub_exp`, ...) applied point-wise to its arguments."""
    op: str
    args: tuple["Expr", ...]


Expr = Union[Ref, Const, Call]


@dataclass(frozen=True)
class Einsum:
    """`output = reduce(reduce_ranks: expr)`; `reduce` is None for a pure map. `text` is the statement it came from."""
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
class Causal(_Plain):
    """Query m sees keys p ≤ m + (P − M): bottom-right aligned, as FlashAttention-2 and PyTorch SDPA decode do
    (so one query token, M = 1, sees every key)."""
    query: str
    key: str


@dataclass(frozen=True)
class Window(_Plain):
    """FlashAttention's sliding window: query m sees keys in [m' − left, m' + right], m' = m + P − M.

    `left`/`right` may instead be tuples with one span per group of query rows (MoA's per-head windows, Fu et al.,
    "Mixture of Sparse Attention", 2024): the query rank is G equal groups of R = M/G rows (e.g. a (head, query)
    rank split into h, m), and row g·R + r sees keys [r' − left[g], r' + right[g]], r' = r + P − R."""
    query: str
    key: str
    left: int
    right: int


@dataclass(frozen=True)
class Neighborhood(_Plain):
    """NATTEN's generalized neighborhood attention predicate (Hassani et al., GNA, arXiv 2504.16922) over a
    row-major token layout `spatial`: one entry per layout dimension for window, stride, dilation and causal."""
    query: str
    key: str
    spatial: tuple[int, ...]
    window: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    causal: tuple[bool, ...]


@dataclass(frozen=True)
class Blocks(_CachedHash, _Plain):
    """An explicit block mask: `keep[i][j]` says whether query block i attends key block j."""
    query: str
    key: str
    q_block: int
    kv_block: int
    keep: tuple[tuple[bool, ...], ...]

    __hash__ = _CachedHash.__hash__   # in the class body, so that the dataclass keeps it

    def __post_init__(self) -> None:
        super().__post_init__()
        flags = isinstance(self.keep, tuple) and all(
            isinstance(row, tuple) and all(isinstance(x, int) and x in (0, 1) for x in row) for row in self.keep)
        if flags:   # 0/1 entries become booleans; anything else is left for the builder to refuse
            object.__setattr__(self, "keep", tuple(tuple(bool(x) for x in row) for row in self.keep))


Mask = Union[Causal, Window, Neighborhood, Blocks]


@dataclass(frozen=True)
class Tensor:
    """A tensor's storage ranks, outermost first. An iterative tensor stores one extra point on `iterative`."""
    name: str
    ranks: tuple[str, ...]
    iterative: str | None = None


@dataclass(frozen=True)
class Cascade(_CachedHash):
    """A validated cascade of extended Einsums (build one with `workloads.cascade` or a variant builder).

    `sizes` maps every rank (split parts included) to its size; `tensors` holds every input and intermediate;
    `einsums` are in statement order; `masks` filter the points of every Einsum that iterates both of a mask's
    ranks; `dtype` is the element type of every tensor. Both mappings are frozen on construction.
    """
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

    __hash__ = _CachedHash.__hash__   # in the class body, so that the dataclass keeps it

    def __post_init__(self) -> None:
        for name in ("sizes", "tensors"):
            value = getattr(self, name)
            if not isinstance(value, FrozenDict):
                object.__setattr__(self, name, FrozenDict(value))
        for name in ("inputs", "einsums", "splits", "masks", "inits"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))


_INTERNED: dict[int, list] = {}   # hash -> weak references to the canonical cascades of that hash


def interned(c: Cascade) -> Cascade:
    """The first-met live object among the cascades equal to `c`. Memos key on it, so a lookup compares by
    identity: an equal copy (e.g. unpickled in a worker) is compared in full once, not on every lookup (~60 µs for
    attention). Held weakly: a canonical cascade nobody uses any more is forgotten."""
    hit = c.__dict__.get("_interned")
    if hit is not None:
        return hit
    key = hash(c)
    bucket = _INTERNED.setdefault(key, [])
    hit = next((other for other in (ref() for ref in bucket) if other is not None and other == c), None)
    if hit is None:
        bucket.append(weakref.ref(c, lambda ref, key=key: _forget(key, ref)))
        hit = c
    object.__setattr__(c, "_interned", hit)
    return hit


def _forget(key: int, ref: weakref.ref) -> None:
    bucket = _INTERNED.get(key, [])
    if ref in bucket:
        bucket.remove(ref)
    if not bucket:
        _INTERNED.pop(key, None)


def refs(expr: Expr) -> list[Ref]:
    """Every tensor reference in an expression, left to right."""
    out, stack = [], [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            out.append(node)
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
    return out


def require_cascade(value, where: str) -> Cascade:
    """`value` itself when it is a Cascade; otherwise CascadeError naming the function and what was passed."""
    if not isinstance(value, Cascade):
        raise CascadeError(f"{where}: expected a Cascade (build one with workloads.cascade or workloads.attention), "
                           f"got {type(value).__name__}")
    return value
