"""The 1-pass cascade on spatial arrays: FuseMax (MICRO 2024) and two of its ablation steps.

- `fusemax-cascade` (+Cascade): the 1-pass cascade on FLAT's hardware — the 2D array runs the two matrix products
  (BQK, SLNV), as FLAT runs QK and AV there, and the 1D array (max, exp unit, divider) the rest; the scores cross
  between the arrays through the global buffer (written by BQK, read by LM and SLN, SLN's written and read by SLNV),
  so the query block also holds a row of each per query row (the artifact's budget). As the FuseMax artifact times
  it (`flat_pe_proposal.py`), SLN and PRM issue the subtraction and the exp as two 1D ops (2 cycles per element);
  the mapping choice `exp_of_difference=True` uses FLAT's exp unit, which subtracts in its pipeline (1 cycle, as
  FLAT's own softmax is charged);
- `fusemax-arch` (+Architecture): FuseMax's hardware and binding, one tile produced and consumed at a time (the next
  tile's BQK waits for this tile's RNV), so each reduction's drain (LM→RM, SLD→RD, SLNV→RNV) is exposed per tile;
- `fusemax` (+Binding): FuseMax — both arrays interleaved across tiles (software pipelining with a lookahead).

A 2D result reduced over P0 reaches the 1D array `reduction_drain` cycles after it is computed (the chain down the
array's rows); its consumer streams the results as they arrive (`crossing_latency`). 1D results enter the 2D array
without extra latency. Global-buffer traffic per tile (the artifact's accounting): BQK reads Q and K, SLNV reads V;
the running state lives in the buffer — RM and RD read and written, RNV read by SPNV and written by RNV — and AV
reads RNV and RD once per block and writes the output to DRAM.

Mapping (FuseMax §IV): loops B, H, query blocks M2 (the segment's repeat), then the key tiles P1 and the M1 query
subtiles of a block (the unrolled body); spatially M0 query rows across the 2D columns / 1D PEs and P0 keys down the
2D rows. Mapping choices (`Mapping.params`): the key tile `P0`, the query block `M1` (in M0-row subtiles) and, when
interleaved, the `lookahead` (tiles the 2D array runs ahead of the 1D array). `P0` defaults to the array height (the
largest divisor of P that fits it); a cascade split with another key tile is re-split (`workloads.retile`), and the
result's op counts, actions and energy are those of the re-split cascade — a key tile is a tiling, not the workload.

Tile ops run for `ceil(ops / (active PEs × rate))` cycles, with the op counts of the cascade divided evenly over tiles.
Long sequences have up to 5·10^5 tiles per block: consecutive tiles are simulated as one op per Einsum per group of
`Options.tile_group` tiles. For pipelined dataflows a group only coarsens the first fill of each block (the steady
state is throughput-bound either way); for `fusemax-arch`, whose tiles are serialized, a group is one chain with
durations and latencies × group, exact while DRAM keeps ahead. The loop is simulated without a prologue/epilogue
(iteration 0 runs the wrapped ops without predecessors): an error of at most one pipeline depth per program.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping as MappingType

import numpy as np

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered
from sim.dataflows.spatial import template
from sim.dataflows.spatial.body import UNIT_KEYS, Body, Order, program
from sim.dataflows.spatial.common import (DOUBLE, actions, arch_facts, arch_problem, check_pins, check_ticks,
                                          crossing_latency, cycles, divisors, dram_cycles, largest_divisor, pin_bool,
                                          pin_int, precision_problem, tile_ops, unbound_op)
from sim.dataflows.spatial.query_blocks import QueryBlock, auto_group, fitting_group, group_for, query_block
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

__all__ = ["BINDING_FLAT_1PASS", "BINDING_FUSEMAX", "ONE_PASS", "STYLES", "lower", "plan", "query_block", "space",
           "supports"]

# FuseMax §IV binding of the 1-pass cascade; on FLAT's hardware the 2D PEs have only + and × (no max, no exp).
BINDING_FUSEMAX = {"BQK": "2d", "LM": "2d", "SLN": "2d", "SLD": "2d", "SLNV": "2d",
                   "RM": "1d", "PRM": "1d", "SPD": "1d", "RD": "1d", "SPNV": "1d", "RNV": "1d", "AV": "1d"}
BINDING_FLAT_1PASS = {**{e: "1d" for e in BINDING_FUSEMAX}, "BQK": "2d", "SLNV": "2d"}
ONE_PASS = tuple(BINDING_FUSEMAX)
# One tile's dependencies (the 1-pass cascade) and a topological order of its per-tile Einsums (AV is per block).
DEPS = {"LM": ("BQK",), "RM": ("LM",), "SLN": ("BQK", "RM"), "SLD": ("SLN",), "SLNV": ("SLN",), "PRM": ("RM",),
        "SPD": ("PRM",), "RD": ("SPD", "SLD"), "SPNV": ("PRM",), "RNV": ("SPNV", "SLNV")}
TOPO = ("BQK", "LM", "RM", "SLN", "SLD", "SLNV", "PRM", "SPD", "SPNV", "RD", "RNV")
ORDER = Order("q", "kv", *TOPO, "av", "out")   # program order inside one group slot
STYLES = {"fusemax-cascade": (BINDING_FLAT_1PASS, True), "fusemax-arch": (BINDING_FUSEMAX, False),
          "fusemax": (BINDING_FUSEMAX, True)}   # dataflow → (binding, interleaved)
# Dataflows that choose whether a 1D exp unit's pipelined subtract is used, and the default: +Cascade as the FuseMax
# artifact times it issues the subtraction as its own op.
EXP_OF_DIFFERENCE = {"fusemax-cascade": False}
SCORE_TILES_VIA_BUFFER = 2   # BQK's and SLN's score tiles, when they cross between the arrays through the buffer
# The 1D work that separates a tile's LM from the 2D array's next SLN on FuseMax: RM (1 max) + PRM (6-MAC exp and a
# subtract) per query row — what the lookahead must cover beside the 2D drain (FuseMax §IV-B).
ROUND_TRIP_SLACK_CYCLES = 8
# Before it reaches a tile's RM, the in-order 1D array finishes the tile ahead of it in its queue (as much work as
# the 2D array's per tile when E = F): one tile more of lookahead.
QUEUED_TILES = 1
P0_HALVINGS = 4             # the space's key tiles: the array height and its halvings down to 1/8 of it
LOOKAHEADS = (1, 2, 4, 8)   # the space's lookaheads in tiles (the default, ~(drain + slack) / 2D work, is added)
Q_PREFETCH_KV_CHUNKS = 3    # the next block's Q is loaded during this one if both blocks' state fit beside ≥ 3 chunks


def score_tiles(binding: MappingType[str, str]) -> int:
    """Score tiles a query row holds on chip: two when BQK's scores are consumed on the other array (FLAT's
    hardware: they cross through the buffer), none when the 2D array keeps them (FuseMax)."""
    return SCORE_TILES_VIA_BUFFER if binding["SLN"] != binding["BQK"] else 0


def stages(binding: MappingType[str, str]) -> dict[str, int]:
    """Each per-tile Einsum's pipeline stage: one more per crossing between the arrays along its dependencies."""
    stage = {"BQK": 0}
    for e in TOPO[1:]:
        stage[e] = max(stage[d] + (binding[d] != binding[e]) for d in DEPS[e])
    return stage


# ---- supports, plan, space -------------------------------------------------------------------------------------


def supports(name: str):
    """`supports` of a 1-pass dataflow: FP16 MHA with the 1-pass core, unmasked, on a 2D + 1D array."""
    binding, _ = STYLES[name]

    def check(cascade: Cascade, arch: Arch) -> str | None:
        if cascade.masks:
            return "masked attention is not modelled on spatial arrays (every tile is dense)"
        return (template.mismatch(cascade, "1pass") or precision_problem(cascade)
                or arch_problem(arch, ("2d", "1d")) or unbound_op(cascade, arch, binding))
    return check


def plan(name: str):
    """`plan` of a 1-pass dataflow: P0 from the array, M1 by FuseMax's rule, the lookahead that hides a round trip."""
    binding, interleave = STYLES[name]
    keys = ("P0", "M1") + ("lookahead",) * interleave + ("exp_of_difference",) * (name in EXP_OF_DIFFERENCE)

    def make(cascade: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        pins = check_pins(name, constraints, keys)
        fused = pin_bool(name, pins, "exp_of_difference", EXP_OF_DIFFERENCE.get(name, True))
        blk = _block(name, cascade, arch, pins, binding, interleave, fused)
        params = {"P0": blk.p0, "M1": blk.m1}
        if interleave:
            params["lookahead"] = blk.lookahead
        if name in EXP_OF_DIFFERENCE:
            params["exp_of_difference"] = fused
        return Mapping(name, (FusionGroup(ONE_PASS, _nests(blk)),), binding, params)
    return make


def space(name: str):
    """The mapping choices explore searches: P0 (the array height and its halvings that divide P), M1 (every
    factor of M/M0), when interleaved the lookahead in tiles, and where offered the exp unit's subtract."""
    _, interleave = STYLES[name]

    def axes(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
        f, s = arch_facts(arch), cascade.sizes
        m0 = largest_divisor(s["M"], f.cols)
        p0s = tuple(sorted({p for p in (f.rows >> i for i in range(P0_HALVINGS)) if p >= 1 and s["P"] % p == 0}
                           | {largest_divisor(s["P"], f.rows)}))
        out = {"P0": p0s, "M1": divisors(s["M"] // m0)}
        if interleave:
            out["lookahead"] = LOOKAHEADS
        if name in EXP_OF_DIFFERENCE:
            out["exp_of_difference"] = (False, True)
        return out
    return axes


def _block(name: str, cascade: Cascade, arch: Arch, pins: MappingType[str, Any], binding, interleave: bool,
           fused: bool):
    """The query block a plan chooses (pins applied), refused with what does not fit and what would."""
    f, s = arch_facts(arch), cascade.sizes
    p0 = pin_int(name, pins, "P0", largest_divisor(s["P"], f.rows))
    if p0 > f.rows:
        raise MappingError(f"{name}: P0={p0} keys do not fit down the 2D array's {f.rows} rows")
    if s["P"] % p0:
        raise MappingError(f"{name}: P0={p0} must divide P={s['P']} (e.g. {largest_divisor(s['P'], f.rows)})")
    c = workloads.retile(cascade, "P0", p0)
    m0 = largest_divisor(s["M"], f.cols)
    blk = QueryBlock(c, f, m0, p0, s["P"] // p0, 1, score_tiles=score_tiles(binding))
    if interleave:
        look = pin_int(name, pins, "lookahead", _default_lookahead(blk, arch, binding, fused))
        blk = dataclasses.replace(blk, lookahead=look, v_stage=stages(binding)["SLNV"])
    fits = query_block(c, arch, m0, p0, blk.score_tiles)
    m1 = pin_int(name, pins, "M1", max(fits, 1))
    blk = blk.with_m1(m1)
    if blk.n_sub % m1:
        raise MappingError(f"{name}: M1={m1} must divide M/M0 = {blk.n_sub} (factors: {_few(divisors(blk.n_sub))})")
    kv_tile = p0 * (s["E"] + s["F"]) * blk.bytes
    if m1 > max(fits, 1) or not fits:
        one = blk.with_m1(1)
        smallest = one.q_state + one.in_flight(1) * kv_tile
        what = f"the largest M1 that fits is {fits}" if fits else f"a buffer of ≥ {smallest} bytes would run M1=1"
        raise MappingError(f"{name}: M1={m1} query subtiles of {m0} rows ({blk.q_state} bytes of Q and running "
                           f"state) and the K/V tiles in flight (at least two: {2 * kv_tile} bytes) need more than "
                           f"the {f.buffer}-byte GlobalBuffer holds ({what})")
    if "M1" not in pins:   # the rule's block, or the largest smaller one whose K/V chunks fit when grouped
        blk = next((blk.with_m1(m) for m in reversed(divisors(blk.n_sub)) if m <= m1
                    and fitting_group(blk.with_m1(m)) is not None), blk)
    auto_group(name, blk)   # refuses a block whose K/V chunks cannot fit at any simulated grouping
    return blk


def _default_lookahead(blk: QueryBlock, arch: Arch, binding: MappingType[str, str], fused: bool) -> int:
    """Tiles the 2D array must run ahead to hide a 2D→1D→2D round trip (the drain + the 1D slack) behind the
    2D work of other tiles, plus the tile queued ahead on the 1D array."""
    two = sum(c for e, c in _tile_cycles(blk, arch, binding, fused).items() if binding[e] == "2d")
    return math.ceil((blk.facts.drain + ROUND_TRIP_SLACK_CYCLES) / max(two, 1)) + QUEUED_TILES


def _active(blk: QueryBlock) -> dict[str, int]:
    """PEs a tile keeps busy on each array: M0 × P0 of the 2D array, M0 of the 1D array."""
    return {"2d": min(blk.facts.pes2, blk.m0 * blk.p0), "1d": min(blk.facts.pes1, blk.m0)}


def _op_cycles(arch: Arch, unit: str, ops: MappingType[str, float], active: int, dtype: str, fused: bool) -> int:
    """`cycles`, except that without `fused` a subtraction the unit's exp pipeline would absorb (rate ∞) is issued
    as an add of its own (the timing only: the actions keep the cascade's ops)."""
    u = accel.unit(arch, unit)
    if not fused and ops.get("sub") and math.isinf(accel.op_rate(u, "sub", dtype) or 0.0):
        ops = {**{o: n for o, n in ops.items() if o != "sub"}, "add": ops.get("add", 0) + ops["sub"]}
    return cycles(arch, unit, ops, active, dtype)


def _tile_cycles(blk: QueryBlock, arch: Arch, binding, fused: bool) -> dict[str, int]:
    """Cycles of each per-tile Einsum for one tile."""
    per_tile, active = tile_ops(blk.cascade, _work_items(blk)), _active(blk)
    return {e: _op_cycles(arch, binding[e], per_tile[e], active[binding[e]], blk.cascade.dtype, fused)
            for e in TOPO}


def _latencies(binding, tile: MappingType[str, int], drain: int) -> dict[str, int]:
    """Per-tile latency of each 2D op whose results a 1D op consumes: the reduction's drain, less what the consumer
    overlaps by streaming them (`crossing_latency`)."""
    out: dict[str, int] = {}
    for e, ds in DEPS.items():
        for d in ds:
            if binding[d] == "2d" and binding[e] != "2d":
                out[d] = max(out.get(d, 0), crossing_latency(drain, tile[d], tile[e]))
    return out


def _nests(blk: QueryBlock) -> tuple[LevelNest, ...]:
    s = blk.cascade.sizes
    return (LevelNest(blk.facts.outer, (Loop("B", s["B"]), Loop("H", s["H"]), Loop("M2", blk.n_sub // blk.m1))),
            LevelNest("GlobalBuffer", (Loop("P1", blk.p1), Loop("M1", blk.m1), Loop("M0", blk.m0, "cols"),
                                       Loop("P0", blk.p0, "rows"))))


def _work_items(blk: QueryBlock) -> dict[str, int]:
    """Tiles per Einsum over the whole workload: every per-tile Einsum once per tile, AV once per subtile."""
    s = blk.cascade.sizes
    subtiles = s["B"] * s["H"] * blk.n_sub
    return {e: subtiles if e == "AV" else subtiles * blk.p1 for e in ONE_PASS}


def _few(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values)) if len(values) <= 8 else \
        ", ".join(map(str, values[:4])) + ", …, " + ", ".join(map(str, values[-2:]))


# ---- lowering --------------------------------------------------------------------------------------------------


def lower(cascade: Cascade, arch: Arch, mapping: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """The tile program of one query block (repeated over B, H and M2) for the mapping's P0, M1 and lookahead."""
    name, prm = mapping.dataflow, mapping.params
    f = arch_facts(arch)
    c = workloads.retile(cascade, "P0", prm["P0"])
    interleave = STYLES[name][1]
    fused = prm.get("exp_of_difference", True)
    blk = QueryBlock(c, f, largest_divisor(c.sizes["M"], f.cols), prm["P0"], c.sizes["P"] // prm["P0"], prm["M1"],
                     prm["lookahead"] if interleave else 0, stages(mapping.binding)["SLNV"] if interleave else 0,
                     score_tiles(mapping.binding))
    group = group_for(name, blk, options)
    look = math.ceil(blk.lookahead / group)
    body = Body(span=blk.tiles // group, levels=f.levels)
    kinds, stage = _tile_ops(body, blk, arch, mapping.binding, group, interleave, look, fused)
    double_q = _streams(body, blk, kinds, group)
    _epilogue(body, blk, arch, mapping.binding, kinds, max(stage.values()) * look)
    s = c.sizes
    kv_cap = f.buffer - (DOUBLE if double_q else 1) * blk.q_state
    prog = program([body.segment("query block", s["B"] * s["H"] * (blk.n_sub // blk.m1))], body.tags, f.levels,
                   kv_cap)
    check_ticks(prog, name)
    notes = (f"key tile P0={blk.p0}" + (f" (the cascade's P0={cascade.sizes['P0']} re-split)"
                                        if cascade.sizes["P0"] != blk.p0 else "")
             + f"; M1={blk.m1} query subtiles of M0={blk.m0} rows per block, M2={blk.n_sub // blk.m1} blocks, "
               f"P1={blk.p1} key tiles; {blk.tiles // group} groups of {group} tiles per block body"
             + ("; Q of the next block loaded during this one" if double_q else "")
             + ("; scores cross the arrays through the buffer" if blk.score_tiles else "")
             + ("; SLN and PRM subtract as 1D ops of their own" if not fused else ""),)
    return Lowered(prog, UNIT_KEYS, actions(c, arch, mapping.binding), {}, workloads.flops(c), notes,
                   unit_levels={"dram": f.outer})


def _buffer_traffic(blk: QueryBlock, group: int) -> dict[str, dict[str, Any]]:
    """Global-buffer bytes of each per-tile Einsum's op (a group of tiles): BQK reads Q and K, SLNV reads V; the
    running state is read and updated in the buffer (RM, RD; RNV read by SPNV, written by RNV); scores that cross
    the arrays are written by BQK and SLN and read by LM, SLN and SLNV."""
    s, b = blk.cascade.sizes, blk.bytes
    rows, scores = group * blk.m0 * b, group * blk.m0 * blk.p0 * b * bool(blk.score_tiles)
    return {"BQK": dict(gb_read=group * (blk.m0 + blk.p0) * s["E"] * b, gb_write=scores),
            "LM": dict(gb_read=scores), "SLN": dict(gb_read=scores, gb_write=scores),
            "SLNV": dict(gb_read=group * blk.p0 * s["F"] * b + scores),
            "RM": dict(gb_read=rows, gb_write=rows), "RD": dict(gb_read=rows, gb_write=rows),
            "SPNV": dict(gb_read=rows * s["F"]), "RNV": dict(gb_write=rows * s["F"])}


def _tile_ops(body: Body, blk: QueryBlock, arch: Arch, binding, group: int, interleave: bool, look: int,
              fused: bool):
    """One op per per-tile Einsum per group, at its pipeline stage: one stage more per crossing between arrays."""
    per_tile, active = tile_ops(blk.cascade, _work_items(blk)), _active(blk)
    stage = stages(binding)
    latency = _latencies(binding, _tile_cycles(blk, arch, binding, fused), blk.facts.drain)
    n_groups = blk.tiles // group
    g = np.arange(n_groups)
    tiles_per_chunk, kv_bytes = blk.chunk(group)
    traffic = _buffer_traffic(blk, group)
    traffic["SLNV"]["release"] = np.zeros(n_groups, np.int64)   # SLNV of a chunk's last group frees the chunk
    traffic["SLNV"]["release"][tiles_per_chunk // group - 1::tiles_per_chunk // group] = kv_bytes
    kinds = {}
    for e in ONE_PASS[:-1]:
        ops = {o: v * group for o, v in per_tile[e].items()}
        kinds[e] = body.add(binding[e], ORDER(g + stage[e] * look, e),
                            _op_cycles(arch, binding[e], ops, active[binding[e]], blk.cascade.dtype, fused),
                            latency=latency.get(e, 0) * (1 if interleave else group), tag=e, **traffic.get(e, {}))
    for e, ds in DEPS.items():
        for d in ds:
            body.dep(kinds[e], kinds[d])
    if not interleave:   # one tile produced and consumed at a time: the next group waits for this one's last result
        body.dep(kinds["BQK"], kinds["RNV"], g[1:], g[:-1])
    return kinds, stage


def _streams(body: Body, blk: QueryBlock, kinds: dict[str, int], group: int) -> bool:
    """DRAM reads: K/V chunks, prefetched one chunk ahead, and the block's Q — loaded during the previous block
    when two blocks' Q and state fit beside three K/V chunks. Returns whether Q is double-buffered."""
    f = blk.facts
    n_groups = blk.tiles // group
    tiles_per_chunk, kv_bytes = blk.chunk(group)
    gpc = tiles_per_chunk // group                    # groups per chunk
    g, c = np.arange(n_groups), np.arange(blk.tiles // tiles_per_chunk)
    kv = body.add("dram", ORDER(np.maximum(c - 1, 0) * gpc, "kv"), dram_cycles(kv_bytes, f.bytes_per_cycle),
                  latency=f.dram_latency, acquire=kv_bytes, dram_read=kv_bytes, gb_write=kv_bytes)
    body.dep(kinds["BQK"], kv, g, g // gpc)
    q_bytes = blk.m1 * blk.m0 * blk.cascade.sizes["E"] * blk.bytes
    double_q = DOUBLE * blk.q_state + max(Q_PREFETCH_KV_CHUNKS, blk.in_flight(group)) * kv_bytes <= f.buffer
    q = body.add("dram", ORDER(0, "q"), dram_cycles(q_bytes, f.bytes_per_cycle), latency=f.dram_latency,
                 dram_read=q_bytes, gb_write=q_bytes)
    body.dep(q, kinds["BQK"], [0], [n_groups - 1], prev=True)   # its slot is free once the last block read it
    body.dep(kinds["BQK"], q, g, np.zeros_like(g), prev=double_q)   # double-buffered: the Q loaded last iteration
    return double_q


def _epilogue(body: Body, blk: QueryBlock, arch: Arch, binding, kinds: dict[str, int], depth: int) -> None:
    """AV = RNV / RD once per block after the last tile (reading both from the buffer), its output written to
    DRAM."""
    s, f = blk.cascade.sizes, blk.facts
    n_groups = body.span
    end = ORDER(n_groups - 1 + depth, "av")
    per_tile = tile_ops(blk.cascade, _work_items(blk))
    av_ops = {o: v * blk.m1 for o, v in per_tile["AV"].items()}
    out_bytes = blk.m1 * blk.m0 * s["F"] * blk.bytes
    active = min(f.pes1, blk.m0) if binding["AV"] == "1d" else min(f.pes2, blk.m0 * blk.p0)
    av = body.add(binding["AV"], end, cycles(arch, binding["AV"], av_ops, active, blk.cascade.dtype), tag="AV",
                  gb_read=blk.m1 * blk.m0 * (s["F"] + 1) * blk.bytes)
    body.dep(av, kinds["RNV"], [0], [n_groups - 1])
    body.dep(av, kinds["RD"], [0], [n_groups - 1])
    out = body.add("dram", ORDER(n_groups - 1 + depth, "out"), dram_cycles(out_bytes, f.bytes_per_cycle),
                   dram_write=out_bytes)
    body.dep(out, av)
