"""The NumPy reference executor: the executable specification of a cascade.

Masked points are not visited: a reduction skips them (a fully masked output point holds the reduction's
identity, 0 or −inf), a map leaves NaN there, and an iterative tensor carries its previous value forward —
which is how a kernel skips a fully masked key tile.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from workloads import masks as mask_rules
from workloads.errors import CascadeError, quote
from workloads.ir import EACH, FIRST, LAST, NEXT, Cascade, Const, Einsum, Ref, require_cascade
from workloads.ops import OPS, REDUCE_OPS
from workloads.order import execution_order, iterative_rank, loop_ranks, producers

MAX_POINTS = 1 << 27   # points of one Einsum (its iterative rank included), or elements of one tensor or mask
MAX_STEPS = 1 << 16    # iterations of the iterative rank, which the executor steps in Python


def execute(c: Cascade, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run every Einsum on NumPy arrays; returns all tensors (inputs included) by name.

    Iterative tensors are returned with their extra point (index 0 = initial value). Computes in the inputs'
    floating dtype (use float64 for checks); real integer and boolean inputs are read as float64. Sizes are
    checked against MAX_POINTS and MAX_STEPS before anything is allocated.
    """
    require_cascade(c, "execute")
    _check_limits(c)
    env = _check_inputs(c, inputs)
    dtype = np.result_type(*env.values(), np.float32)
    for init in c.inits:
        t = c.tensors[init.tensor]
        shape = tuple(c.sizes[r] + (1 if r == t.iterative else 0) for r in t.ranks)
        arr = np.full(shape, np.nan, dtype=dtype)
        arr[_at(t.ranks, t.iterative, 0)] = init.value
        env[init.tensor] = arr
    before, body, after = execution_order(c)
    made = producers(c)
    for n in before:
        _run(c, made[n], env, {}, dtype)
    loop = iterative_rank(c)
    if body:
        for i in range(c.sizes[loop]):
            for n in body:
                _run(c, made[n], env, {loop: i}, dtype)
    for n in after:
        _run(c, made[n], env, {}, dtype)
    return env


def _check_limits(c: Cascade) -> None:
    """Refuse, before allocating or looping, a cascade too large for the reference executor."""
    for e in c.einsums:
        n = math.prod(c.sizes[r] for r in loop_ranks(e))
        if n > MAX_POINTS:
            raise CascadeError(f"Einsum {e.name}: {n} points is too many for the reference executor (limit 2^27 = "
                               f"{MAX_POINTS}, the iterative rank included); use small shapes")
    for t in c.tensors.values():
        n = math.prod(c.sizes[r] + (r == t.iterative) for r in t.ranks)
        if n > MAX_POINTS:
            raise CascadeError(f"execute {c.name}: tensor {t.name} has {n} elements, too many for the reference "
                               f"executor (limit 2^27 = {MAX_POINTS}); use small shapes")
    for mask in c.masks:
        n = c.sizes[mask.query] * c.sizes[mask.key]
        if n > min(MAX_POINTS, mask_rules.MAX_DENSE):
            raise CascadeError(f"execute {c.name}: the {type(mask).__name__} mask over {mask.query}×{mask.key} has "
                               f"{n} entries, too many for the reference executor; use small shapes")
    loop = iterative_rank(c)
    if loop is not None and c.sizes[loop] > MAX_STEPS:
        raise CascadeError(f"execute {c.name}: the iterative rank {loop} has {c.sizes[loop]} steps; the reference "
                           f"executor steps it in Python, at most 2^16 = {MAX_STEPS} (use a larger tile)")


def _check_inputs(c: Cascade, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(inputs, Mapping):
        raise CascadeError(f"execute {c.name}: inputs must be a mapping of tensor name to array, got "
                           f"{type(inputs).__name__}")
    missing = [t for t in c.inputs if t not in inputs]
    extra = [quote(t, 20) for t in inputs if t not in c.inputs][:8]
    if missing or extra:
        raise CascadeError(f"execute {c.name}: missing inputs {quote(missing, 200)}, unexpected inputs "
                           f"{quote(extra, 200)} (inputs are {quote(list(c.inputs), 200)})")
    return {name: _input_array(c, name, inputs[name]) for name in c.inputs}


def _input_array(c: Cascade, name: str, value) -> np.ndarray:
    """One input as a real array of its ranks' shape (integers and booleans read as float64)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise CascadeError(f"execute {c.name}: input {name} is not an array ({quote(str(err))})") from None
    if arr.dtype.kind not in "biuf":
        raise CascadeError(f"execute {c.name}: input {name} has dtype {arr.dtype}; the executor takes real "
                           f"floating, integer or boolean arrays (complex, object and string arrays are refused)")
    shape = tuple(c.sizes[r] for r in c.tensors[name].ranks)
    if arr.shape != shape:
        raise CascadeError(f"execute {c.name}: input {name} has shape {arr.shape} but its ranks "
                           f"{list(c.tensors[name].ranks)} have sizes {shape}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _at(ranks, rank, position):
    return tuple(position if r == rank else slice(None) for r in ranks)


def _run(c: Cascade, e: Einsum, env: dict, fixed: dict[str, int], dtype) -> None:
    loops = [r for r in loop_ranks(e) if r not in fixed]
    shape = tuple(c.sizes[r] for r in loops)
    value = _eval(c, e.expr, env, loops, fixed)
    mask = _mask(c, loops, fixed)
    n_out = len([i for i in e.output.indices if i.rank not in fixed])
    if e.reduce is not None:
        _, reducer, identity = REDUCE_OPS[e.reduce]
        value = np.broadcast_to(value, shape)
        if mask is not None:
            value = np.where(mask, value, identity)
        out = reducer(value, axis=tuple(range(n_out, len(loops))))
    else:
        out = np.broadcast_to(value, shape)
        if mask is not None:
            out = np.where(mask, out, np.nan)
    tensor = c.tensors[e.name]
    if e.name not in env:
        env[e.name] = np.full(tuple(c.sizes[r] + (1 if r == tensor.iterative else 0) for r in tensor.ranks),
                              np.nan, dtype=dtype)
    target = env[e.name]
    where = tuple(fixed[i.rank] + (1 if i.step == NEXT else 0) if i.rank in fixed else slice(None)
                  for i in e.output.indices)
    if tensor.iterative is not None and tensor.iterative in fixed and e.reduce is None and mask is not None:
        previous = target[tuple(fixed[i.rank] if i.rank in fixed else slice(None) for i in e.output.indices)]
        out = np.where(np.broadcast_to(mask, shape), out, previous)
    target[where] = out


def _eval(c: Cascade, expr, env, loops, fixed):
    if isinstance(expr, Const):
        return np.asarray(expr.value)
    if isinstance(expr, Ref):
        return _view(c, expr, env, loops, fixed)
    args = [_eval(c, a, env, loops, fixed) for a in expr.args]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return OPS[expr.op].fn(*args)


def _view(c: Cascade, ref: Ref, env, loops, fixed):
    """The tensor's values laid out on the Einsum's loop axes (broadcastable)."""
    arr = env[ref.tensor]
    tensor = c.tensors[ref.tensor]
    parts = {s.rank: s for s in c.splits}
    # First expand split views (p → p1, p0, padding with NaN), then index each axis.
    outers = {s.outer: s for s in c.splits}
    k, axis, indexer, labels = 0, 0, [], []
    indices = list(ref.indices)
    ranks = list(tensor.ranks)
    pos = 0
    while pos < len(ranks):
        rank = ranks[pos]
        index = indices[k]
        split = parts.get(rank)
        merged = outers.get(rank)
        if merged is not None and index.rank == merged.rank and pos + 1 < len(ranks) and ranks[pos + 1] == merged.inner:
            # Stored split (p1, p0), read whole (p): merge the two axes and drop the padding.
            arr = arr.reshape(arr.shape[:axis] + (-1,) + arr.shape[axis + 2:])
            arr = arr[(slice(None),) * axis + (slice(0, c.sizes[merged.rank]),)]
            indexer.append(slice(None))
            labels.append(index.rank)
            k, axis, pos = k + 1, axis + 1, pos + 2
            continue
        if split is not None and index.rank == split.outer and index.step == EACH:
            outer, inner = c.sizes[split.outer], c.sizes[split.inner]
            pad = outer * inner - arr.shape[axis]
            if pad:
                widths = [(0, 0)] * arr.ndim
                widths[axis] = (0, pad)
                arr = np.pad(arr.astype(np.result_type(arr, np.float32)), widths, constant_values=np.nan)
            arr = arr.reshape(arr.shape[:axis] + (outer, inner) + arr.shape[axis + 1:])
            for r in (split.outer, split.inner):
                indexer.append(fixed[r] if r in fixed else slice(None))
                if r not in fixed:
                    labels.append(r)
            k, axis, pos = k + 2, axis + 2, pos + 1
            continue
        if index.step == FIRST:
            indexer.append(0)
        elif index.step == LAST:
            indexer.append(arr.shape[axis] - 1)
        elif index.rank in fixed:
            indexer.append(fixed[index.rank] + (1 if index.step == NEXT else 0))
        else:
            indexer.append(slice(None))
            labels.append(index.rank)
        k, axis, pos = k + 1, axis + 1, pos + 1
    arr = arr[tuple(indexer)]
    order = sorted(range(len(labels)), key=lambda a: loops.index(labels[a]))
    arr = np.transpose(arr, order)
    placed = [labels[a] for a in order]
    shape = [arr.shape[placed.index(r)] if r in placed else 1 for r in loops]
    return arr.reshape(shape)


def _mask(c: Cascade, loops: list[str], fixed: dict[str, int]):
    """Boolean array broadcastable over the loop axes (None when nothing is filtered)."""
    present = set(loops) | set(fixed)
    parts = {s.rank: s for s in c.splits}
    result = None

    def side(rank: str, matrix: np.ndarray, axis: int):
        """Project the mask matrix along one side onto the Einsum's coordinates; returns (matrix, labels)."""
        if rank in present:
            return matrix, [rank]
        split = parts.get(rank)
        if split is None or split.outer not in present:
            return None, None
        outer, inner = c.sizes[split.outer], c.sizes[split.inner]
        widths = [(0, 0)] * matrix.ndim
        widths[axis] = (0, outer * inner - matrix.shape[axis])
        matrix = np.pad(matrix, widths, constant_values=False)
        shape = list(matrix.shape)
        shape[axis:axis + 1] = [outer, inner]
        matrix = matrix.reshape(shape)
        labels = [split.outer, split.inner]
        if split.inner not in present:
            matrix = matrix.any(axis=axis + 1)
            labels = [split.outer]
        return matrix, labels

    def place(matrix: np.ndarray, labels: list[str]):
        nonlocal result
        index = tuple(fixed[r] if r in fixed else slice(None) for r in labels)
        matrix = matrix[index]
        labels = [r for r in labels if r not in fixed]
        order = sorted(range(len(labels)), key=lambda a: loops.index(labels[a]))
        matrix = np.transpose(matrix, order)
        placed = [labels[a] for a in order]
        matrix = matrix.reshape([matrix.shape[placed.index(r)] if r in placed else 1 for r in loops])
        result = matrix if result is None else result & matrix

    masked_ranks = set()
    for mask in c.masks:
        m, p = c.sizes[mask.query], c.sizes[mask.key]
        q_matrix, q_labels = side(mask.query, np.ones((m, 1), dtype=bool), 0)
        k_matrix, k_labels = side(mask.key, np.ones((1, p), dtype=bool), 1)
        if q_labels is None or k_labels is None:
            continue
        masked_ranks.update((mask.query, mask.key))
        dense = mask_rules.dense(mask, m, p)
        matrix, q_labels = side(mask.query, dense, 0)
        matrix, k_labels = side(mask.key, matrix, matrix.ndim - 1)
        place(matrix, q_labels + k_labels)
    for rank, split in parts.items():
        if rank in masked_ranks or split.outer not in present or split.inner not in present:
            continue
        outer, inner = c.sizes[split.outer], c.sizes[split.inner]
        valid = (np.arange(outer)[:, None] * inner + np.arange(inner)[None, :]) < c.sizes[rank]
        if not valid.all():
            place(valid, [split.outer, split.inner])
    return result
