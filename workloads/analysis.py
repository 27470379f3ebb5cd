"""Pure functions over a cascade: iteration spaces, op counts, FLOPs, bytes, footprint and passes."""
from __future__ import annotations

import functools
import math

from workloads import masks as mask_rules
from workloads.dtypes import dtype_bytes as _dtype_bytes
from workloads.errors import CascadeError, quote
from workloads.frozen import FrozenDict
from workloads.ir import LAST, Call, Cascade, Einsum, interned, refs, require_cascade
from workloads.ops import OPS, REDUCE_OPS
from workloads.order import execution_order, is_carried, iterative_rank, loop_ranks, producers

__all__ = ["compulsory_bytes", "compulsory_elements", "dtype_bytes", "elements", "first_touch", "flops", "footprint", "op_counts",
           "operand_bytes", "passes", "point_cost", "points", "total_ops"]


def _split_parts(c: Cascade) -> dict[str, tuple[str, str]]:
    return {s.rank: (s.outer, s.inner) for s in c.splits}


def points(c: Cascade) -> dict[str, int]:
    """Iteration-space size of each Einsum, with masked and padded points excluded exactly (never enumerated)."""
    require_cascade(c, "points")
    try:
        hash(c)
    except TypeError:   # a Cascade built by hand around unhashable parts: count it without the memo
        return {e.name: _points(c, e) for e in c.einsums}
    return dict(_points_of(interned(c)))


@functools.lru_cache(maxsize=64)   # cascades are hashable; a lowering, its roofline and its FLOPs count them alike
def _points_of(c: Cascade) -> FrozenDict:
    return FrozenDict({e.name: _points(c, e) for e in c.einsums})


def _points(c: Cascade, e: Einsum) -> int:
    ranks = set(loop_ranks(e))
    parts = _split_parts(c)
    counted: set[str] = set()
    total = 1
    for mask in c.masks:
        q_side = _side(mask.query, ranks, parts)
        k_side = _side(mask.key, ranks, parts)
        if not q_side or not k_side:
            continue
        counted.update(q_side[1])
        counted.update(k_side[1])
        total *= _mask_points(c, mask, q_side[0], k_side[0])
    for rank, (outer, inner) in parts.items():
        if outer in ranks and inner in ranks and outer not in counted:
            counted.update((outer, inner))
            total *= c.sizes[rank]
    for r in ranks - counted:
        total *= c.sizes[r]
    return int(total)


def _side(rank: str, ranks: set[str], parts: dict[str, tuple[str, str]]):
    """How an Einsum covers one side of a mask: ("full" | "outer", ranks involved), or None if it does not."""
    if rank in ranks:
        return "full", (rank,)
    if rank in parts:
        outer, inner = parts[rank]
        if outer in ranks and inner in ranks:
            return "full", (outer, inner)
        if outer in ranks:
            return "outer", (outer,)
    return None


def _mask_points(c: Cascade, mask, q_mode: str, k_mode: str) -> int:
    """Attended points of one mask as the Einsum sees its two ranks: whole, or by the tiles of a split."""
    m, p = c.sizes[mask.query], c.sizes[mask.key]
    parts = _split_parts(c)
    kv_tile = c.sizes[parts[mask.key][1]] if k_mode == "outer" else None
    if q_mode == "full":
        return mask_rules.pair_count(mask, m, p) if kv_tile is None else mask_rules.tile_count(mask, m, p, kv_tile)
    return mask_rules.group_count(mask, m, p, c.sizes[parts[mask.query][1]], kv_tile)


def point_cost(e: Einsum) -> dict[str, int]:
    """Ops per iteration-space point by type: the map ops, plus one add/max for a reduction
    (a sum-reduction of a product is one `mac`)."""
    cost: dict[str, int] = {}

    def walk(expr) -> None:
        if isinstance(expr, Call):
            for k, v in OPS[expr.op].cost.items():
                cost[k] = cost.get(k, 0) + v
            for a in expr.args:
                walk(a)

    walk(e.expr)
    if e.reduce == "sum" and isinstance(e.expr, Call) and e.expr.op == "mul":
        cost["mul"] -= 1
        if cost["mul"] == 0:
            del cost["mul"]
        cost["mac"] = cost.get("mac", 0) + 1
    elif e.reduce is not None:
        op = REDUCE_OPS[e.reduce][0]
        cost[op] = cost.get(op, 0) + 1
    return cost


def op_counts(c: Cascade) -> dict[str, dict[str, int]]:
    """Ops by type for each Einsum: iteration points × per-point cost."""
    sizes = points(c)
    try:
        hash(c)
    except TypeError:   # unhashable parts: count without the memo
        return {e.name: {op: n * sizes[e.name] for op, n in point_cost(e).items()} for e in c.einsums}
    return {name: dict(ops) for name, ops in _op_counts_of(interned(c)).items()}


@functools.lru_cache(maxsize=64)
def _op_counts_of(c: Cascade) -> dict[str, FrozenDict]:
    sizes = points(c)
    return {e.name: FrozenDict({op: n * sizes[e.name] for op, n in point_cost(e).items()}) for e in c.einsums}


def total_ops(c: Cascade) -> dict[str, int]:
    """Ops by type over the whole cascade."""
    total: dict[str, int] = {}
    for ops in op_counts(c).values():
        for op, n in ops.items():
            total[op] = total.get(op, 0) + n
    return total


def flops(c: Cascade) -> int:
    """The FLOP convention of this project: 2 × the multiply-accumulates of the cascade, counted over the points
    its masks actually attend (map ops — exp, max, division — are not FLOPs here).

    For attention this is FlashAttention-2's 2·B·H·pairs·(E+F) (Dao, ICLR 2024), with `pairs` the (query, key)
    pairs the real mask attends: M·P dense, P(P+1)/2 for causal prefill (M = P), and all P keys for causal decode
    with M = 1 (the bottom-right-aligned mask hides nothing there; there is no blanket ½ for "causal"). Padded
    points of a ragged split are not counted.
    """
    return 2 * total_ops(c).get("mac", 0)


def dtype_bytes(c, dtype: str | None = None) -> int:
    """Bytes per element of `dtype`, or of the cascade's own dtype (one table: `workloads.dtypes.DTYPE_BYTES`)."""
    return _dtype_bytes(dtype or c)


def elements(c: Cascade, tensor: str) -> int:
    """Stored elements of a tensor (an iterative tensor holds one extra point on its iterative rank)."""
    require_cascade(c, "elements")
    if tensor not in c.tensors:
        raise CascadeError(f"elements: {c.name} has no tensor {quote(tensor)}")
    t = c.tensors[tensor]
    return math.prod(c.sizes[r] + (1 if r == t.iterative else 0) for r in t.ranks)


def compulsory_elements(c: Cascade, tensor: str) -> int:
    """Elements of a tensor that some Einsum must read: all of them, except where every reader iterates a mask
    whose ranks the tensor indexes — then only the positions that take part in an attended pair (the keys a
    sliding window or a block table reaches, the experts an MoE batch routes to; with both ranks, the attended
    pairs). A lower bound on what any schedule reads, as the roofline needs."""
    total = elements(c, tensor)
    if c.tensors[tensor].iterative:
        return total
    ranks = set(c.tensors[tensor].ranks)
    readers = [e for e in c.einsums if any(r.tensor == tensor for r in refs(e.expr))]
    parts = _split_parts(c)
    for mask in c.masks:
        sides = [r for r in (mask.query, mask.key) if r in ranks]
        if not sides or not readers or not all(_covers(mask, e, parts) for e in readers):
            continue
        m, p = c.sizes[mask.query], c.sizes[mask.key]
        if len(sides) == 2:
            total = total * mask_rules.pair_count(mask, m, p) // (m * p)
        else:
            queries, keys = mask_rules.touched(mask, m, p)
            total = total * (queries if sides[0] == mask.query else keys) // c.sizes[sides[0]]
    return total


def _covers(mask, e: Einsum, parts: dict[str, tuple[str, str]]) -> bool:
    """Whether Einsum `e` iterates both ranks of `mask` point by point (so it visits attended pairs only)."""
    ranks = set(loop_ranks(e))
    return all((_side(r, ranks, parts) or ("", ()))[0] == "full" for r in (mask.query, mask.key))


def compulsory_bytes(c: Cascade, dtype: str | None = None) -> int:
    """DRAM bytes under perfect fusion: every input read once (only what the masks let any Einsum reach:
    `compulsory_elements`), the output written once."""
    require_cascade(c, "compulsory_bytes")
    return dtype_bytes(c, dtype) * (sum(compulsory_elements(c, t) for t in c.inputs) + elements(c, c.output))


def footprint(c: Cascade, per: tuple[str, ...] = (), dtype: str | None = None) -> int:
    """Peak bytes of live intermediate tensors when Einsums run one at a time in execution order.

    Ranks in `per` are held at one point (e.g. per=("B", "H", "M") gives the footprint of one query row).
    Inside the loop of an iterative rank only the current iteration is live (two points of iterative state);
    no in-place reuse is assumed. Inputs are not counted.
    """
    require_cascade(c, "footprint")
    before, body, after = execution_order(c)
    loop = iterative_rank(c)
    steps = list(before) + list(body) + list(after)
    position = {n: k for k, n in enumerate(steps)}
    made = producers(c)
    last_use = {n: position[n] for n in steps}
    for n in steps:
        for r in refs(made[n].expr):
            if r.tensor in made:
                last_use[r.tensor] = max(last_use[r.tensor], position[n])
    last_use[c.output] = len(steps) - 1
    live_size = {}
    for n in steps:
        t = c.tensors[n]
        users = [u for u in steps if any(r.tensor == n for r in refs(made[u].expr))]
        in_loop_only = loop in t.ranks and all(u in body for u in users + [n])
        size = 1
        for r in t.ranks:
            if r in per:
                continue
            if r == loop and t.iterative:
                size *= 2       # running state: the current and the next point (the final one is read after)
            elif r == loop and in_loop_only:
                size *= 1
            else:
                size *= c.sizes[r] + (1 if r == t.iterative else 0)
        live_size[n] = size
    peak = 0
    for k in range(len(steps)):
        peak = max(peak, sum(live_size[n] for n in steps if position[n] <= k <= last_use[n]))
    return peak * dtype_bytes(c, dtype)


def passes(c: Cascade, rank: str) -> int:
    """How many passes the cascade must make over the elements of `rank` (FuseMax, Nayak et al., MICRO 2024, §III).

    An Einsum *traverses* the rank if it iterates the rank itself or the inner part of its split. A tensor is
    available either streaming, element by element during pass n, or whole after pass n. A traverser runs in
    the first pass in which all its inputs are available; one that needs a value only known after pass n
    (a full reduction, or a final point) must run in pass n + 1 — that forced re-read is a pass.
    """
    require_cascade(c, "passes")
    if rank not in c.sizes:
        raise CascadeError(f"passes: unknown rank {quote(rank)} (ranks: {', '.join(sorted(c.sizes))})")
    parts = _split_parts(c).get(rank, ())
    fine = {rank, parts[1]} if parts else {rank}
    coarse = {rank, *parts}
    avail: dict[str, int] = {t: 1 for t in c.inputs}  # 2n: streaming in pass n; 2n+1: whole after pass n
    before, body, after = execution_order(c)
    made = producers(c)
    most = 0
    for n in before + body + after:
        e = made[n]
        needed = 1
        for r in refs(e.expr):
            if r.tensor in made and is_carried(c, r):
                continue  # the previous iteration's state rides along in the same pass
            a = avail[r.tensor]
            if any(i.step == LAST for i in r.indices) and a % 2 == 0:
                a += 1
            needed = max(needed, a)
        keeps = any(i.rank in coarse for i in e.output.indices)
        if fine & set(loop_ranks(e)):
            run = max(1, -(-needed // 2))
            most = max(most, run)
            avail[n] = 2 * run if keeps else 2 * run + 1
        else:
            avail[n] = needed if needed % 2 or keeps else needed + 1
    return most


def operand_bytes(c: Cascade, dtype: str | None = None) -> dict[str, int]:
    """Bytes each Einsum moves if it runs alone (unfused): each tensor it reads once, its result written once."""
    require_cascade(c, "operand_bytes")
    size = dtype_bytes(c, dtype)
    return {e.name: size * (sum(elements(c, t) for t in dict.fromkeys(r.tensor for r in refs(e.expr)))
                            + elements(c, e.name)) for e in c.einsums}


def first_touch(c: Cascade) -> dict[str, list[str]]:
    """Compulsory traffic by Einsum: the cascade inputs it reads first (in execution order) and the output it writes."""
    require_cascade(c, "first_touch")
    before, body, after = execution_order(c)
    made = producers(c)
    seen: set[str] = set()
    result: dict[str, list[str]] = {}
    for n in before + body + after:
        result[n] = []
        for r in refs(made[n].expr):
            if r.tensor in c.inputs and r.tensor not in seen:
                seen.add(r.tensor)
                result[n].append(r.tensor)
        if n == c.output:
            result[n].append(n)
    return result
