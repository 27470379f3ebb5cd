"""The 3-pass cascade on spatial arrays: FLAT (Kao et al., ASPLOS 2023, as re-modelled by FuseMax, MICRO 2024) and
the unfused baseline.

- `flat`: QK → softmax → AV fused over a block of `rows` query rows: QK and AV on the 2D array, the softmax (max,
  exp of the difference, sum, divide: one cycle per score each) on the 1D array, overlapped. Its scores stay in the
  global buffer while a block fits (two blocks in flight, plus Q, the output and K/V tiles); otherwise the part that
  does not fit of QK and SN is written to DRAM and read back once. "Head" granularity is rows = M, "row" granularity
  a smaller block. FLAT *is* a search over its legal tilings: its `space` is the row blocks that fit (the finest
  block, which spills least, when none does), and `sim.explore(..., dataflows=["flat"])` performs that search;
  the plan's default is closed-form — the largest block that fits without spilling, else the smallest.
  Buffer traffic as the FuseMax artifact maps FLAT (`flat.py`): the scores touch the buffer seven times (QK
  written, read by the max and by SN; SN written, read by the divide; A written, read by AV — the sum reads SN as
  it is produced), while Q, K and V bypass it: each 256-row sub-block of the block (the array's width) streams
  every K and V tile from DRAM past its outputs, which stay in the array, and Q is streamed once per key tile.
- `unfused`: three phases in sequence (QK, the 3-pass softmax, AV), each through DRAM.

The mapping choice is `rows`; the key tile is the array height (the largest divisor of P that fits it), the
spilled fraction and the granularity are derived (shown in the result's notes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping as MappingType

import numpy as np

import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered
from sim.dataflows.spatial import template
from sim.dataflows.spatial.body import UNIT_KEYS, Body, Order, program
from sim.dataflows.spatial.common import (DOUBLE, ArchFacts, actions, arch_facts, arch_problem, check_pins, check_ticks,
                                          cycles, dram_cycles, largest_divisor, pin_int, precision_problem,
                                          tile_ops, tiling_hint, unbound_op)
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

__all__ = ["BINDING_3PASS", "THREE_PASS", "block_fit", "lower", "plan", "space", "supports"]

BINDING_3PASS = {"QK": "2d", "GM": "1d", "SN": "1d", "SD": "1d", "A": "1d", "AV": "2d"}
THREE_PASS = tuple(BINDING_3PASS)
MAX_GROUPS = 512            # target key-tile groups per row-block body (twice this per FLAT body)
MAX_BODY_GROUPS = 2 ** 14   # hard limit: beyond it groups grow past the buffer share, or the block is refused
GROUP_BUFFER_SHARE = 8      # a group's two score tiles use at most 1/8 of the buffer
UNFUSED_MAX_ROWS = 1024     # the unfused baseline streams at most this many query rows per phase block
KV_TILES_RESERVED = 4       # FLAT's buffer budget reserves four array-high tiles of K and of V beside a block
BLOCKS_IN_FLIGHT = 2        # FLAT's scores of two blocks are on chip: block k's softmax beside block k+1's QK
# Program order inside a slot. FLAT: loads first, then the 2D array's QK (and its spill), the 1D passes, AV.
FLAT_ORDER = Order("q", "k", "v", "qk", "qk_spill", "gm", "a_reload", "a", "sn_reload", "sn", "av", "sn_spill", "sd",
                   "out")
PHASE_ORDER = Order("q", "load", "store", "GM", "SN", "SD", "A", "compute", "out")   # unfused phases


@dataclass(frozen=True)
class RowBlock:
    """`rows` query rows against P keys in `p1` groups-to-be of `p0`-key tiles."""
    cascade: Cascade
    facts: ArchFacts
    rows: int
    p0: int

    @property
    def bytes(self) -> int:
        """Bytes per value."""
        return workloads.DTYPE_BYTES[self.cascade.dtype]

    @property
    def p1(self) -> int:
        """Key tiles per block."""
        return self.cascade.sizes["P"] // self.p0

    @property
    def blocks(self) -> int:
        """Row blocks in the whole workload (B·H·M/rows)."""
        s = self.cascade.sizes
        return s["B"] * s["H"] * (s["M"] // self.rows)

    @property
    def sub_blocks(self) -> int:
        """Array-wide sub-blocks of query rows per block: each streams all of K and V once."""
        return self.rows // largest_divisor(self.cascade.sizes["M"], self.facts.cols)


def block_fit(cascade: Cascade, arch: Arch, rows: int) -> tuple[float, int]:
    """(spilled fraction, on-chip bytes) of a FLAT block of `rows` query rows: the scores of two blocks in flight
    (QK/SN/A of block k while the next block's QK is produced), plus Q, the output and K/V tiles."""
    f, s = arch_facts(arch), cascade.sizes
    b = workloads.DTYPE_BYTES[cascade.dtype]
    other = rows * (s["E"] + s["F"]) * b + KV_TILES_RESERVED * f.rows * (s["E"] + s["F"]) * b
    scores = BLOCKS_IN_FLIGHT * rows * s["P"] * b
    avail = max(f.buffer - other, 0)
    return 1.0 - min(1.0, avail / scores), other + min(scores, avail)


def row_blocks(cascade: Cascade, arch: Arch) -> tuple[int, ...]:
    """Legal row blocks: the array width's power-of-two multiples that divide M (the array width: the largest
    divisor of M that fits the columns)."""
    m = cascade.sizes["M"]
    m0 = largest_divisor(m, arch_facts(arch).cols)
    return tuple(m0 << i for i in range(m.bit_length()) if m0 << i <= m and m % (m0 << i) == 0)


# ---- supports, plan, space -------------------------------------------------------------------------------------


def supports(cascade: Cascade, arch: Arch) -> str | None:
    """FP16 MHA with the 3-pass core, unmasked, on a 2D + 1D array that runs the binding's ops."""
    if cascade.masks:
        return "masked attention is not modelled on spatial arrays (every tile is dense)"
    return (template.mismatch(cascade, "3pass") or precision_problem(cascade) or arch_problem(arch, ("2d", "1d"))
            or unbound_op(cascade, arch, BINDING_3PASS))


def plan(name: str):
    """FLAT: the largest row block that fits without spilling, else the smallest; unfused: the largest ≤ 1024."""
    def make(cascade: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        pins = check_pins(name, constraints, ("rows",))
        legal = row_blocks(cascade, arch)
        if name == "flat":
            fits = [r for r in legal if block_fit(cascade, arch, r)[0] == 0.0]
            default = max(fits) if fits else legal[0]
        else:
            default = max([r for r in legal if r <= UNFUSED_MAX_ROWS], default=legal[0])
        rows = pin_int(name, pins, "rows", default)
        if rows not in legal:
            raise MappingError(f"{name}: rows={rows} is not a legal row block for M={cascade.sizes['M']} "
                               f"(valid: {', '.join(map(str, legal))})")
        blk = RowBlock(cascade, arch_facts(arch), rows, largest_divisor(cascade.sizes["P"], arch_facts(arch).rows))
        _fits_at_all(name, blk)
        _auto_group(name, blk)   # refuses a block that no simulated grouping fits
        return Mapping(name, _groups(name, blk), BINDING_3PASS, {"rows": rows})
    return make


def space(name: str):
    """FLAT: the row blocks that fit without spilling (else the finest); unfused: every legal row block."""
    def axes(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
        legal = row_blocks(cascade, arch)
        if name != "flat":
            return {"rows": legal}
        fits = tuple(r for r in legal if block_fit(cascade, arch, r)[0] == 0.0)
        return {"rows": fits or legal[:1]}
    return axes


def _fits_at_all(name: str, blk: RowBlock) -> None:
    """Refuse a buffer that cannot hold a block's smallest working set: FLAT's Q, output, K/V tiles and one tile of
    scores; the unfused phases' largest set of tiles."""
    need = _need(name, blk, 1)
    if need > blk.facts.buffer:
        raise MappingError(f"{name}: a block of {blk.rows} query rows needs ≥ {need} bytes on chip (Q, output, K/V "
                           f"and one {blk.p0}-key tile of scores); the GlobalBuffer has {blk.facts.buffer} bytes, "
                           f"so a buffer of ≥ {need} bytes would run it")


def _need(name: str, blk: RowBlock, group: int) -> int:
    """On-chip bytes a block needs with `group` key tiles per group. FLAT: Q, output, its K/V tiles in flight and
    one group of scores (the rest may spill); unfused, each phase double-buffered: Q with two K and two score
    groups (phase 1), two score groups (phase 2), two score and V groups (phase 3)."""
    s, b = blk.cascade.sizes, blk.bytes
    q, out, score = blk.rows * s["E"] * b, blk.rows * s["F"] * b, blk.rows * group * blk.p0 * b
    k, v = group * blk.p0 * s["E"] * b, group * blk.p0 * s["F"] * b
    if name == "flat":
        return q + out + max(KV_TILES_RESERVED * blk.facts.rows * (s["E"] + s["F"]) * b, DOUBLE * (k + v)) + score
    return max(q + DOUBLE * (k + score), DOUBLE * (score + v))


def _groups(name: str, blk: RowBlock) -> tuple[FusionGroup, ...]:
    s = blk.cascade.sizes
    nests = (LevelNest(blk.facts.outer, (Loop("B", s["B"]), Loop("H", s["H"]), Loop("M2", s["M"] // blk.rows))),
             LevelNest("GlobalBuffer", (Loop("P1", blk.p1), Loop("M1", blk.rows), Loop("P0", blk.p0, "rows"))))
    if name == "flat":
        return (FusionGroup(THREE_PASS, nests),)
    return tuple(FusionGroup(es, nests) for es in (("QK",), ("GM", "SN", "SD", "A"), ("AV",)))


# ---- lowering --------------------------------------------------------------------------------------------------


def _auto_group(name: str, blk: RowBlock) -> int:
    """Key tiles per group: doubled while a block has > MAX_GROUPS/2 groups and two score groups stay within
    1/GROUP_BUFFER_SHARE of the buffer, and further while it has > MAX_BODY_GROUPS; halved while the block's
    working set does not fit. A block that fits no grouping within MAX_BODY_GROUPS is refused."""
    group = 1
    while (blk.p1 // group > MAX_GROUPS // 2 and blk.p1 % (2 * group) == 0
           and DOUBLE * blk.rows * group * blk.p0 * blk.bytes <= blk.facts.buffer // GROUP_BUFFER_SHARE):
        group *= 2
    while blk.p1 // group > MAX_BODY_GROUPS and blk.p1 % (2 * group) == 0:
        group *= 2
    while group > 1 and _need(name, blk, group) > blk.facts.buffer and blk.p1 // (group // 2) <= MAX_BODY_GROUPS:
        group //= 2
    if blk.p1 // group > MAX_BODY_GROUPS or _need(name, blk, group) > blk.facts.buffer:
        raise MappingError(f"{name}: a block of {blk.rows} query rows × {blk.p1} key tiles cannot be simulated: "
                           f"at {group} key tiles per group it has {blk.p1 // group} groups (limit "
                           f"{MAX_BODY_GROUPS}) and a working set of {_need(name, blk, group)} bytes (buffer "
                           f"{blk.facts.buffer}); a shorter key sequence or a larger buffer would"
                           + tiling_hint(blk.cascade.sizes["P"], blk.p0, blk.facts.rows, "P"))
    return group


def _group(name: str, blk: RowBlock, options: Options) -> int:
    """Key tiles per simulated group: `Options.tile_group` if given (checked), else the automatic choice."""
    g = options.tile_group
    if g is None:
        return _auto_group(name, blk)
    if blk.p1 % g:
        raise MappingError(f"{name}: Options.tile_group={g} must divide the {blk.p1} key tiles of a block "
                           f"(automatic: {_auto_group(name, blk)})")
    if _need(name, blk, g) > blk.facts.buffer:
        raise MappingError(f"{name}: Options.tile_group={g} needs {_need(name, blk, g)} bytes on chip; the "
                           f"GlobalBuffer has {blk.facts.buffer} (automatic: {_auto_group(name, blk)})")
    return g


@dataclass(frozen=True)
class _Tiles:
    """Per-group quantities of one row block's lowering."""
    n: int              # groups per block
    group: int          # key tiles per group
    dur: dict           # Einsum → cycles per group
    k: int              # K bytes per group
    v: int              # V bytes per group
    score: int          # score bytes per group
    q: int              # Q bytes per block
    out: int            # output bytes per block


def _tiles(blk: RowBlock, arch: Arch, group: int) -> _Tiles:
    s, f, b = blk.cascade.sizes, blk.facts, blk.bytes
    per_tile = tile_ops(blk.cascade, {e: blk.blocks * blk.p1 // group for e in THREE_PASS})
    active = {"2d": min(f.pes2, blk.rows * blk.p0 * group), "1d": min(f.pes1, blk.rows * blk.p0 * group)}
    dur = {e: cycles(arch, BINDING_3PASS[e], per_tile[e], active[BINDING_3PASS[e]], blk.cascade.dtype)
           for e in THREE_PASS}
    return _Tiles(blk.p1 // group, group, dur, group * blk.p0 * s["E"] * b, group * blk.p0 * s["F"] * b,
                  blk.rows * group * blk.p0 * b, blk.rows * s["E"] * b, blk.rows * s["F"] * b)


def lower(cascade: Cascade, arch: Arch, mapping: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """The tile program of one row block (FLAT) or of the three phases (unfused), repeated over all blocks."""
    f = arch_facts(arch)
    blk = RowBlock(cascade, f, mapping.params["rows"], largest_divisor(cascade.sizes["P"], f.rows))
    group = _group(mapping.dataflow, blk, options)
    t = _tiles(blk, arch, group)
    tags: list[str] = []
    if mapping.dataflow == "flat":
        spill = block_fit(cascade, arch, blk.rows)[0]
        segments = [_flat_body(blk, t, spill, tags).segment("row block", blk.blocks)]
        how = f"spilled fraction {spill:.3g} of QK and SN"
    else:
        segments = _unfused_phases(blk, t, tags)
        how = "QK, softmax and AV each through DRAM"
    prog = program(segments, tags, f.levels, f.buffer)
    check_ticks(prog, mapping.dataflow)
    granularity = "head" if blk.rows == cascade.sizes["M"] else "row"
    notes = (f"{granularity} granularity: {blk.rows} query rows per block, {blk.p1} key tiles of {blk.p0} in "
             f"{t.n} groups of {group}; {how}",)
    return Lowered(prog, UNIT_KEYS, actions(cascade, arch, BINDING_3PASS), {}, workloads.flops(cascade), notes,
                   unit_levels={"dram": f.outer})


def _flat_body(blk: RowBlock, t: _Tiles, spill: float, tags: list[str]) -> Body:
    """One FLAT row block: pass 1 (QK, GM) per group; pass 2 (SN, SD) after the block's global max; pass 3 (A, AV)
    wraps into the next iteration, beside the next block's QK."""
    f, n, at = blk.facts, t.n, FLAT_ORDER
    bpc, c = f.bytes_per_cycle, np.arange(t.n)
    pass2, pass3 = n + 1, 2 * n + 1          # first slot of passes 2 and 3 (pass 3 wraps: span = 2n + 1)
    body = Body(span=2 * n + 1, levels=f.levels, tags=tags)
    load = dict(latency=f.dram_latency)
    qk_in = t.k * blk.sub_blocks + t.q * t.group   # Q and K streamed past the array (staged in one K tile's room)
    k = body.add("dram", at(np.maximum(c - 1, 0), "k"), dram_cycles(qk_in, bpc), acquire=t.k, dram_read=qk_in,
                 **load)
    qk = body.add("2d", at(c, "qk"), t.dur["QK"], latency=f.drain, tag="QK", release=t.k, gb_write=t.score)
    body.dep(qk, k)
    gm = body.add("1d", at(c + 1, "gm"), t.dur["GM"], tag="GM", gb_read=t.score)
    body.dep(gm, qk)
    sn = body.add("1d", at(pass2 + c, "sn"), t.dur["SN"], tag="SN", gb_read=t.score, gb_write=t.score)
    body.dep(sn, gm, c, np.full(n, n - 1))
    sd = body.add("1d", at(pass2 + c, "sd"), t.dur["SD"], tag="SD")
    body.dep(sd, sn)
    v_in = t.v * blk.sub_blocks
    v = body.add("dram", at(pass3 + np.maximum(c - 1, 0), "v"), dram_cycles(v_in, bpc), acquire=t.v, dram_read=v_in,
                 **load)
    a = body.add("1d", at(pass3 + c, "a"), t.dur["A"], tag="A", gb_read=t.score, gb_write=t.score)
    body.dep(a, sd, c, np.full(n, n - 1))
    av = body.add("2d", at(pass3 + c, "av"), t.dur["AV"], tag="AV", release=t.v, gb_read=t.score)
    body.dep(av, a), body.dep(av, v)
    if spill > 0:   # the part of QK and SN that does not fit is written once and read back once
        spilled = spill * t.score
        for after, before, write_at, read_at in ((qk, sn, at(c + 1, "qk_spill"), at(pass2 + c, "sn_reload")),
                                                 (sn, a, at(pass2 + c + 1, "sn_spill"), at(pass3 + c, "a_reload"))):
            w = body.add("dram", write_at, dram_cycles(spilled, bpc), dram_write=spilled)
            body.dep(w, after)
            r = body.add("dram", read_at, dram_cycles(spilled, bpc), dram_read=spilled, **load)
            body.dep(r, w)
            body.dep(before, r)
    out = body.add("dram", at(3 * n, "out"), dram_cycles(t.out, bpc), dram_write=t.out)   # from the array
    body.dep(out, av, [0], [n - 1])
    return body


def _unfused_phases(blk: RowBlock, t: _Tiles, tags: list[str]) -> list:
    """Three segments separated by barriers: QK to DRAM, the softmax from DRAM to DRAM, AV from DRAM."""
    f, n, at = blk.facts, t.n, PHASE_ORDER
    bpc, c = f.bytes_per_cycle, np.arange(t.n)
    load = dict(latency=f.dram_latency)
    group_q = t.q * t.group   # Q read once per key tile
    b1 = Body(span=n + 1, levels=f.levels, tags=tags)
    q = b1.add("dram", at(0, "q"), dram_cycles(t.q, bpc), dram_read=t.q, gb_write=t.q, acquire=t.q, **load)
    k = b1.add("dram", at(np.maximum(c - 1, 0), "load"), dram_cycles(t.k, bpc), acquire=t.k, dram_read=t.k,
               gb_write=t.k, **load)
    qk = b1.add("2d", at(c, "compute"), t.dur["QK"], latency=f.drain, tag="QK", release=t.k + (c == n - 1) * t.q,
                acquire=t.score, gb_read=t.k + group_q, gb_write=t.score)
    b1.dep(qk, k), b1.dep(qk, q, c, np.zeros_like(c))
    w = b1.add("dram", at(c + 1, "store"), dram_cycles(t.score, bpc), release=t.score, dram_write=t.score,
               gb_read=t.score)
    b1.dep(w, qk)
    b2 = Body(span=n + 1, levels=f.levels, tags=tags)
    r = b2.add("dram", at(np.maximum(c - 1, 0), "load"), dram_cycles(t.score, bpc), acquire=t.score,
               dram_read=t.score, gb_write=t.score, **load)
    ops = [b2.add("1d", at(c, e), t.dur[e], tag=e, gb_read=t.score * (e != "SD"),
                  gb_write=t.score * (e in ("SN", "A"))) for e in ("GM", "SN", "SD", "A")]
    b2.dep(ops[0], r)
    for x, y in zip(ops[1:], ops[:-1]):
        b2.dep(x, y)
    w2 = b2.add("dram", at(c + 1, "store"), dram_cycles(t.score, bpc), release=t.score, dram_write=t.score,
                gb_read=t.score)
    b2.dep(w2, ops[-1])
    b3 = Body(span=n + 1, levels=f.levels, tags=tags)
    ra = b3.add("dram", at(np.maximum(c - 1, 0), "load"), dram_cycles(t.score + t.v, bpc), acquire=t.score + t.v,
                dram_read=t.score + t.v, gb_write=t.score + t.v, **load)
    av = b3.add("2d", at(c, "compute"), t.dur["AV"], tag="AV", release=t.score + t.v, gb_read=t.score + t.v)
    b3.dep(av, ra)
    out = b3.add("dram", at(n - 1, "out"), dram_cycles(t.out, bpc), dram_write=t.out, gb_read=t.out)
    b3.dep(out, av, [0], [n - 1])
    return [b1.segment("QK", blk.blocks), b2.segment("softmax", blk.blocks, barrier=True),
            b3.segment("AV", blk.blocks, barrier=True)]
