"""FuseMax's query block (FuseMax, MICRO 2024, §IV): its tiling, what it holds in the global buffer, and how
many consecutive tiles the simulation groups into one op (`Options.tile_group`, else automatic).

On FLAT's hardware (+Cascade) the scores cross between the arrays through the buffer, so the block also holds, per
query row, its row of the current key tile's BQK and SLN scores: the FuseMax artifact's +Cascade budget
(FPSG-UIUC/micro24-fusemax-artifact v1.0, `flat_pe_proposal.py`: (E + P0 + 1 + P0 + 1 + F)·2 bytes per row)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.spatial.common import DOUBLE, ArchFacts, divisors, tiling_hint
from sim.ir.mapping import MappingError
from sim.ir.options import Options

__all__ = ["MAX_BODY_GROUPS", "MAX_GROUPS", "QueryBlock", "auto_group", "fitting_group", "group_for", "kv_room",
           "query_block", "row_bytes", "valid_group"]

MAX_GROUPS = 512            # target groups per block body (bounds the ops the engine simulates per iteration)
MAX_BODY_GROUPS = 2 ** 17   # hard limit when the buffer forces finer groups; beyond it a block is refused
ROW_STATE = 2               # running values per query row beside Q and RNV: RM and RD (FuseMax §IV)


@dataclass(frozen=True)
class QueryBlock:
    """One query block's tiling: `m1` subtiles of `m0` query rows × `p1` key tiles of `p0` keys, pipelined with
    a `lookahead` of tiles; SLNV, the last reader of a K/V chunk, runs `v_stage` lookaheads behind BQK."""
    cascade: Cascade       # re-split with this block's P0
    facts: ArchFacts
    m0: int
    p0: int
    p1: int
    m1: int
    lookahead: int = 0
    v_stage: int = 0
    score_tiles: int = 0   # key-tile rows of scores per query row held on chip (2 when they cross via the buffer)

    def with_m1(self, m1: int) -> "QueryBlock":
        """The same block with another number of query subtiles."""
        return dataclasses.replace(self, m1=m1)

    @property
    def bytes(self) -> int:
        """Bytes per value."""
        return workloads.DTYPE_BYTES[self.cascade.dtype]

    @property
    def tiles(self) -> int:
        """Tiles per block (P1·M1)."""
        return self.p1 * self.m1

    @property
    def n_sub(self) -> int:
        """M0-row query subtiles in M."""
        return self.cascade.sizes["M"] // self.m0

    @property
    def q_state(self) -> int:
        """On-chip bytes of the block's query rows: Q, RM, RD, RNV (and their score rows, if any)."""
        return self.m1 * self.m0 * row_bytes(self.cascade, self.p0, self.score_tiles)

    def chunk(self, group: int) -> tuple[int, int]:
        """(tiles per K/V chunk, bytes per chunk) for groups of `group` tiles: a chunk is whole key tiles."""
        s = self.cascade.sizes
        tiles = max(group, self.m1)
        return tiles, tiles // self.m1 * self.p0 * (s["E"] + s["F"]) * self.bytes

    def in_flight(self, group: int) -> int:
        """K/V chunks held at once: the one BQK reads, the one prefetched, and those whose V SLNV, running
        `v_stage` lookaheads behind, still has to read."""
        per_chunk = self.chunk(group)[0] // group
        return DOUBLE + math.ceil(self.v_stage * math.ceil(self.lookahead / group) / per_chunk)


def row_bytes(cascade: Cascade, p0: int, score_tiles: int = 0) -> int:
    """On-chip bytes per query row of a block: Q, RM, RD, RNV, plus `score_tiles` rows of P0 scores."""
    s = cascade.sizes
    return (s["E"] + ROW_STATE + s["F"] + score_tiles * p0) * workloads.DTYPE_BYTES[cascade.dtype]


def query_block(cascade: Cascade, arch: Arch, m0: int, p0: int, score_tiles: int = 0) -> int:
    """FuseMax's query-block rule (§IV), in M0-row subtiles: avail = buffer − P0·(E + F)·2 (one K and V tile);
    per query row (E + 1 + 1 + F)·2 bytes (+ `score_tiles`·P0·2 on FLAT's hardware); M1 = min(avail // (per·M0),
    M/M0), rounded down to a factor of M/M0 (0 when not even one subtile fits)."""
    s, b = cascade.sizes, workloads.DTYPE_BYTES[cascade.dtype]
    avail = arch.levels[1].capacity_bytes - p0 * (s["E"] + s["F"]) * b
    per = row_bytes(cascade, p0, score_tiles)
    n_sub = s["M"] // m0
    m1 = min(max(avail, 0) // (per * m0), n_sub)
    while m1 and n_sub % m1:
        m1 -= 1
    return m1


def valid_group(group: int, blk: QueryBlock) -> bool:
    """A group covers whole K/V chunks: it divides M1, or is a multiple of M1 that divides the block's tiles."""
    return group <= blk.tiles and (blk.m1 % group == 0 if group <= blk.m1 else
                                   group % blk.m1 == 0 and blk.tiles % group == 0)


def kv_room(blk: QueryBlock) -> int:
    """Buffer bytes left for K/V chunks beside the block's single-buffered query state."""
    return blk.facts.buffer - blk.q_state


def fitting_group(blk: QueryBlock) -> int | None:
    """The smallest power of two keeping ≤ MAX_GROUPS groups (or M1) if it covers whole K/V chunks and the chunks
    in flight fit beside the query state; else the largest finer valid group that does, within MAX_BODY_GROUPS
    groups; None if there is none."""
    g = 1
    while blk.tiles // g > MAX_GROUPS and blk.tiles % (2 * g) == 0:
        g *= 2
    if g > blk.m1 and g % blk.m1:
        g = blk.m1
    room = kv_room(blk)
    finer = sorted({d for d in divisors(blk.m1)} | {blk.m1 * d for d in divisors(blk.p1)}, reverse=True)
    return next((x for x in [g] + finer if x <= g and valid_group(x, blk) and blk.tiles // x <= MAX_BODY_GROUPS
                 and blk.in_flight(x) * blk.chunk(x)[1] <= room), None)


def auto_group(name: str, blk: QueryBlock) -> int:
    """`_fitting_group`, or a MappingError naming the largest M1 whose block can be simulated."""
    g = fitting_group(blk)
    if g is not None:
        return g
    smaller = [m for m in divisors(blk.n_sub) if m < blk.m1
               and fitting_group(blk.with_m1(m)) is not None]
    groups = {d for d in divisors(blk.m1)} | {blk.m1 * d for d in divisors(blk.p1)}
    finest = min((x for x in groups if valid_group(x, blk) and blk.tiles // x <= MAX_BODY_GROUPS), default=blk.m1)
    would = f"M1={max(smaller)} would" if smaller else \
        f"a buffer of ≥ {blk.q_state + blk.in_flight(finest) * blk.chunk(finest)[1]} bytes or a shorter key " \
        f"sequence would"
    raise MappingError(f"{name}: a query block of M1={blk.m1} subtiles × {blk.p1} key tiles is simulated in ≤ "
                       f"{MAX_BODY_GROUPS} groups, and the K/V chunks it holds at once do not fit in the "
                       f"{kv_room(blk)} bytes beside its query state; {would}"
                       + tiling_hint(blk.cascade.sizes["P"], blk.p0, blk.facts.rows, "P"))


def group_for(name: str, blk: QueryBlock, options: Options) -> int:
    """Tiles per simulated group: `Options.tile_group` if given (checked), else the automatic choice."""
    g = options.tile_group
    if g is None:
        return auto_group(name, blk)
    if not valid_group(g, blk):
        raise MappingError(f"{name}: Options.tile_group={g} must divide M1={blk.m1}, or be a multiple of it that "
                           f"divides the block's {blk.tiles} tiles (automatic: {auto_group(name, blk)})")
    if blk.in_flight(g) * blk.chunk(g)[1] > kv_room(blk):
        raise MappingError(f"{name}: Options.tile_group={g} needs {blk.in_flight(g)} K/V chunks of "
                           f"{blk.chunk(g)[1]} bytes; "
                           f"{kv_room(blk)} bytes are free beside the query block (automatic: "
                           f"{auto_group(name, blk)})")
    if blk.tiles // g > MAX_BODY_GROUPS:
        raise MappingError(f"{name}: Options.tile_group={g} gives {blk.tiles // g} groups per block, over the "
                           f"limit of {MAX_BODY_GROUPS} (automatic: {auto_group(name, blk)})")
    return g
