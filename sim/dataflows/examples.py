"""Two illustrative dataflows, `example-serial` and `example-pipelined`: the smallest complete dataflows (supports,
plan, lower, space), used by the gallery and the tutorials so every figure kind has data from the engine.

The schedule, for a dense 1-pass attention core on a spatial array whose only bandwidth-limited level is the
outermost: per query block (`q_block` rows of one batch·head), load its Q rows; per key tile (the cascade's
iterative rank), load the K and V tiles and run every loop-body Einsum once on the unit the roofline binds it to;
after the last tile, run the Einsums after the loop and write the output block. An Einsum's op on one tile lasts its
whole-workload compute time divided evenly over the tiles, rounded up to a cycle, so the schedule never beats the
roofline and the action counts are the cascade's exact op counts. Intermediates stay in the units (no buffer
traffic is modelled for them). `example-pipelined` double-buffers the loads (the next tile's load overlaps this
tile's compute); `example-serial` starts a load only after the previous tile's compute.

They are illustrations, not models of a real machine's dataflow; registered with `searched=False`, so
`sim.explore` tries them only when named.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping as MappingType

import numpy as np

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.bounds.rooflines import assign, roofline
from sim.dataflows.registry import Lowered, register_dataflow
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.ir.program import ProgramBuilder

__all__ = ["EXAMPLES", "MAX_BODY_OPS", "Shape", "shape"]

EXAMPLES = ("example-serial", "example-pipelined")
MAX_BODY_OPS = 100_000        # ops of one query block's body (the key loop is unrolled), bounding the engine's work
PINS = ("q_block",)
NOTE = "illustrative example dataflow: per-tile op durations are the roofline's compute times divided evenly"


@dataclass(frozen=True)
class Shape:
    """What the schedule needs to know about a supported cascade."""
    query: str                       # the query rank (the output's second-to-last rank)
    key: str                         # the key rank, split into `tiles` (iterative, outer) × `tile` (inner)
    tiles: str
    tile: str
    block_ranks: tuple[str, ...]     # the output ranks before the query rank (batch, heads)
    body: tuple[str, ...]            # loop-body Einsums, in execution order
    after: tuple[str, ...]           # Einsums after the loop
    binding: MappingType[str, str]   # every Einsum → the one unit the roofline runs it on
    streamed: tuple[str, ...]        # inputs with the key rank: loaded per key tile
    per_block: tuple[str, ...]       # inputs with the query rank: loaded per query block


def shape(c: Cascade, arch: Arch) -> Shape | str:
    """The cascade's schedule shape, or the reason the examples cannot run it."""
    why = _arch_reason(arch)
    if why:
        return why
    if c.masks:
        return "the examples run every tile of a dense cascade; this one has a mask"
    iterative = {t.iterative for t in c.tensors.values() if t.iterative}
    split = [s for s in c.splits if s.outer in iterative]
    if len(iterative) != 1 or len(split) != 1:
        return "the examples need a 1-pass cascade (one iterative key rank, split into tiles)"
    before, body, after = workloads.execution_order(c)
    out = c.tensors[c.output].ranks
    if before or not body or not after or len(out) < 2:
        return "the examples need Einsums only in the key loop and after it, and an output [..., query, feature]"
    s = split[0]
    keyish = {s.rank, s.outer, s.inner}
    query, block_ranks = out[-2], tuple(out[:-2])
    streamed = tuple(t for t in c.inputs if keyish & set(c.tensors[t].ranks))
    per_block = tuple(t for t in c.inputs if t not in streamed and query in c.tensors[t].ranks)
    odd = [t for t in c.inputs if t not in streamed + per_block]
    odd += [t for t in streamed if not set(_before_key(c, t, keyish)) <= set(block_ranks)]
    if odd:
        return f"input {odd[0]} is neither a per-query-block nor a per-key-tile operand of the examples"
    try:
        assignment = assign(c, arch)
    except MappingError as e:       # an op no unit of the arch can run
        return str(e)
    binding = {}
    for name, units in assignment.items():
        if len(units) != 1:
            return f"Einsum {name} needs several units of {arch.name} ({', '.join(units)}); the examples bind one"
        binding[name] = next(iter(units))
    return Shape(query, s.rank, s.outer, s.inner, block_ranks, body, after, binding, streamed, per_block)


def _arch_reason(arch: Arch) -> str | None:
    if arch.levels[0].bandwidth_bytes_per_s is None:
        return f"the examples need a bandwidth on the outermost level ({arch.levels[0].name} of {arch.name} has none)"
    inner = [lv.name for lv in arch.levels[1:] if lv.bandwidth_bytes_per_s is not None]
    if inner:
        return (f"the examples model only the outermost level's bandwidth; {inner[0]} of {arch.name} has one too "
                "(a GPU-like hierarchy: use its own dataflows)")
    if _buffer_level(arch) is None:
        return f"the examples need an on-chip level with a capacity under {arch.levels[0].name}"
    return None


def _buffer_level(arch: Arch) -> accel.Level | None:
    return next((lv for lv in arch.levels[1:] if lv.capacity_bytes), None)


def _before_key(c: Cascade, tensor: str, keyish: set[str]) -> tuple[str, ...]:
    ranks = c.tensors[tensor].ranks
    first = next(k for k, r in enumerate(ranks) if r in keyish)
    return ranks[:first]


# ---- sizes of one query block and one key tile ----------------------------------------------------------------

@dataclass(frozen=True)
class Blocks:
    """The derived numbers of a mapping: how many blocks and tiles, and the bytes each one moves."""
    q_block: int
    blocks: int          # query blocks over all batch·head rows
    tiles: int           # key tiles per query block
    q_bytes: float       # per-block inputs read per block
    kv_bytes: float      # streamed inputs read per key tile
    out_bytes: float     # output written per block
    pipelined: bool

    @property
    def buffer_bytes(self) -> int:
        """The on-chip bytes the schedule holds: one (serial) or two (pipelined) Q blocks and K/V tiles."""
        return (2 if self.pipelined else 1) * math.ceil(self.q_bytes + self.kv_bytes)


def blocks(c: Cascade, sh: Shape, q_block: int, pipelined: bool) -> Blocks:
    """Blocks, tiles and bytes for query blocks of `q_block` rows (averaged over blocks: totals are exact)."""
    size = workloads.DTYPE_BYTES[c.dtype]
    n = math.prod(c.sizes[r] for r in sh.block_ranks) * math.ceil(c.sizes[sh.query] / q_block)
    tiles = c.sizes[sh.tiles]
    keyish = {sh.key, sh.tiles, sh.tile}
    kv = sum(workloads.elements(c, t) / math.prod(c.sizes[r] for r in _before_key(c, t, keyish))
             for t in sh.streamed) / tiles
    q = sum(workloads.elements(c, t) for t in sh.per_block) / n
    return Blocks(q_block, n, tiles, q * size, kv * size, workloads.elements(c, c.output) * size / n, pipelined)


# ---- supports / plan / space / lower ----------------------------------------------------------------------------

def _supports(c: Cascade, arch: Arch) -> str | None:
    sh = shape(c, arch)
    if isinstance(sh, str):
        return sh
    ops = 2 + c.sizes[sh.tiles] * (1 + len(sh.body)) + len(sh.after)
    if ops > MAX_BODY_OPS:
        return (f"{c.sizes[sh.tiles]} key tiles make a query-block body of {ops} ops (limit {MAX_BODY_OPS}); "
                "use a larger key tile (workloads.retile)")
    return None


def _default_q_block(c: Cascade, arch: Arch, sh: Shape) -> int:
    rows = max((u.pes[0] for u in arch.units), default=1)
    return max(1, min(c.sizes[sh.query], rows))


def _plan(name: str, pipelined: bool):
    def plan(c: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        sh = _shape_or_refuse(c, arch, name)
        unknown = sorted(set(constraints) - set(PINS))
        if unknown:
            raise MappingError(f"{name}: unknown mapping parameter(s) {unknown} (valid: {list(PINS)})")
        q_block = constraints.get("q_block", _default_q_block(c, arch, sh))
        if isinstance(q_block, bool) or not isinstance(q_block, (int, np.integer)) or q_block < 1:
            raise MappingError(f"{name}: q_block must be a positive integer, got {q_block!r}")
        q_block = min(int(q_block), c.sizes[sh.query])
        _check_buffer(name, c, arch, sh, blocks(c, sh, q_block, pipelined))
        return _mapping(name, c, arch, sh, q_block)
    return plan


def _shape_or_refuse(c: Cascade, arch: Arch, name: str) -> Shape:
    why = _supports(c, arch)
    if why is not None:
        raise MappingError(f"{name} cannot run {c.name} on {arch.name}: {why}")
    return shape(c, arch)


def _check_buffer(name: str, c: Cascade, arch: Arch, sh: Shape, b: Blocks) -> None:
    level = _buffer_level(arch)
    if b.buffer_bytes <= level.capacity_bytes:
        return
    depth = 2 if b.pipelined else 1
    room = level.capacity_bytes / depth - b.kv_bytes
    per_row = blocks(c, sh, 1, b.pipelined).q_bytes
    fits = int(room // per_row) if per_row and room > 0 else 0
    hint = f"q_block ≤ {fits} fits" if fits >= 1 else "even one query row does not fit: use a smaller key tile"
    raise MappingError(f"{name}: q_block={b.q_block} needs {b.buffer_bytes:,} bytes of {level.name} ({depth} × "
                       f"(Q block {b.q_bytes:,.0f} + K/V tiles {b.kv_bytes:,.0f})), capacity "
                       f"{level.capacity_bytes:,}; {hint}")


def _mapping(name: str, c: Cascade, arch: Arch, sh: Shape, q_block: int) -> Mapping:
    outer, inner = arch.levels[0].name, _buffer_level(arch).name
    loops = [Loop(r, c.sizes[r]) for r in sh.block_ranks]
    loops += [Loop(sh.query, math.ceil(c.sizes[sh.query] / q_block)), Loop(sh.tiles, c.sizes[sh.tiles])]
    nests = (LevelNest(outer, tuple(loops)), LevelNest(inner, (Loop(sh.query, q_block), Loop(sh.tile,
                                                                                             c.sizes[sh.tile]))))
    group = FusionGroup(tuple(e.name for e in c.einsums), nests)
    return Mapping(name, (group,), sh.binding, {"q_block": q_block})


def _space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    sh = shape(c, arch)
    if isinstance(sh, str):
        return {}
    m = c.sizes[sh.query]
    return {"q_block": tuple(sorted({min(m, 1 << k) for k in range(4, 11)}))}


def _lower(name: str, pipelined: bool):
    def lower(c: Cascade, arch: Arch, mapping: Mapping) -> Lowered:
        sh = _shape_or_refuse(c, arch, name)
        b = blocks(c, sh, int(mapping.params["q_block"]), pipelined)
        _check_buffer(name, c, arch, sh, b)
        program = _program(c, arch, sh, b)
        actions: dict[str, float] = {}
        for per_unit in assign(c, arch, sh.binding).values():
            for unit_name, ops in per_unit.items():
                for op, n in ops.items():
                    actions[f"{unit_name}.{op}"] = actions.get(f"{unit_name}.{op}", 0.0) + n
        outer = arch.levels[0].name
        keys = {outer: outer.lower(), **{u.name: u.name for u in arch.units}}
        return Lowered(program, keys, actions, {}, workloads.flops(c), (NOTE,), phases=("load", "store"),
                       unit_levels={outer: outer})
    return lower


def _program(c: Cascade, arch: Arch, sh: Shape, b: Blocks):
    """One segment per query block (repeated over all blocks), its key loop unrolled."""
    outer, inner = arch.levels[0], _buffer_level(arch)
    cycles_per_byte = arch.clock_hz / outer.bandwidth_bytes_per_s
    compute = {r.einsum: r.compute_s[sh.binding[r.einsum]] * arch.clock_hz for r in roofline(c, arch, sh.binding).rows}
    body_cycles = {e: max(1, math.ceil(compute[e] / (b.blocks * b.tiles))) for e in sh.body}
    after_cycles = {e: max(1, math.ceil(compute[e] / b.blocks)) for e in sh.after}
    read, write = f"{outer.name}.read", f"{outer.name}.write"
    pb = ProgramBuilder(units=[outer.name] + [u.name for u in arch.units],
                        unit_is_memory=[True] + [False] * len(arch.units), buffers={inner.name: b.buffer_bytes},
                        levels=[read, write], tags=[e.name for e in c.einsums] + ["load", "store"])
    seg = pb.segment("query block", repeat=b.blocks)
    q_acq, kv_acq = math.ceil(b.q_bytes), math.ceil(b.kv_bytes)
    dma = lambda nbytes: max(1, math.ceil(nbytes * cycles_per_byte))  # noqa: E731
    store_op = 1 + b.tiles * (1 + len(sh.body)) + len(sh.after)
    # Serial: the next block's Q load waits for this block's store (a previous-iteration dependency).
    last = seg.op(outer.name, dma(b.q_bytes), acquire={inner.name: q_acq}, bytes={read: b.q_bytes}, tag="load",
                  prev_deps=[] if b.pipelined else [store_op])
    for _ in range(b.tiles):
        load = seg.op(outer.name, dma(b.kv_bytes), acquire={inner.name: kv_acq}, bytes={read: b.kv_bytes},
                      tag="load", deps=[] if b.pipelined else [last])
        deps = [load, last]
        for k, e in enumerate(sh.body):
            release = {inner.name: kv_acq} if k == len(sh.body) - 1 else None
            last = seg.op(sh.binding[e], body_cycles[e], deps=deps, tag=e, release=release)
            deps = [last]
    for e in sh.after:
        last = seg.op(sh.binding[e], after_cycles[e], deps=[last], tag=e)
    seg.op(outer.name, dma(b.out_bytes), deps=[last], bytes={write: b.out_bytes}, tag="store",
           release={inner.name: q_acq})
    return pb.build()


for _name, _pipelined in zip(EXAMPLES, (False, True)):
    register_dataflow(_name, supports=_supports, plan=_plan(_name, _pipelined), lower=_lower(_name, _pipelined),
                      space=_space, searched=False,
                      doc=f"illustrative 1-pass schedule, loads {'double-buffered' if _pipelined else 'serialized'}")
