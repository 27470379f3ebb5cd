"""What one CTA of a fused attention kernel costs: per KV-tile iteration and per CTA, in cycles of one SM.

One iteration of a *unit* (one CTA, or for cuDNN-style kernels the co-resident CTAs simulated together) loads a
K/V tile (and the tiles of any bias input) and, per group of rows, runs S = QKᵀ, the score mods, the online softmax
(exp on the SFU, max/sum/scale/convert and the O rescale on the FMA pipe, an element mask on partially masked
tiles) and O += PV (FlashAttention-2, Algorithm 1; sigmoid attention has no row max, sum or rescale). A GEMM lasts
max(tensor cycles, its shared-memory operand traffic ÷ the SMEM bandwidth): every warp reading a B operand
(ldmatrix) reads the whole K (V) tile; the Q rows are re-read each iteration; K/V arrive by cp.async/TMA writes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import accel
from accel import Arch

from sim.bounds import gna_tiles
from sim.dataflows.gpu.constants import (FP32_BYTES, FP8_P_PERMUTE_OPS, MASK_FMA_OPS, POLY_EXP_FMA_OPS,
                                         REGISTER_OVERHEAD, RESCALE_TEST_OPS, ROWS_PER_WARPGROUP, SIGMOID_FMA_OPS,
                                         SOFTMAX_FMA_OPS, THREADS_PER_WARP, WARPS_PER_WARPGROUP)
from sim.dataflows.gpu.machine import SM
from sim.dataflows.gpu.shape import Attention
from sim.ir.mapping import MappingError


@dataclass(frozen=True)
class Kernel:
    """What a fused attention lowering needs from a kernel template."""
    path: str               # "mma_sync" or "mac" (the tensor instruction path)
    groups: int             # row groups that interleave (1: GEMM, softmax, GEMM in order on the same warps)
    warps_per_group: int    # warps that each read the whole K/V tile from shared memory
    efficiency: float       # fraction of the path's sustained rate the inner loop reaches
    pack_heads: bool        # the query heads of a KV head share a CTA's rows (decode kernels)
    ctas_per_unit: int = 1  # CTAs simulated together as one unit of `groups` interleaved groups
    kv_shared: bool = False  # the values are the first F dims of each key row (MLA's latent cache)
    kv_share: float = 1.0   # the part of each K/V tile a unit loads and reads (1/2: a 2-CTA MMA pair splits it)
    exp_emulation: bool = False   # part of the exps run as FMA-pipe polynomials, balancing the two pipes
    rescale: bool = True    # every tile rescales O (False: only when the row max grows past a threshold)
    fp8_transpose_v: bool = False  # FP8 V tiles are transposed in shared memory (Hopper's FP8 wgmma is K-major)
    lag: int = 0            # 1: intra-warpgroup pipelining (a tile's QKᵀ issued before the previous tile's PV)
    registers: int = 0      # registers per thread of a row group's 128 threads (0: the budget is not modelled)
    bounded: bool = True    # K/V loads wait for a free stage slot (False: a what-if, unbounded prefetch)
    longest_first: bool = False   # units launch heaviest first (a persistent LPT tile scheduler)
    exp_beside_mma: bool = True   # the SFU runs beside the tensor cores (False: a what-if, the exps take their turn)


@dataclass(frozen=True)
class Unit:
    """The rows, tiles and bytes one unit works on; all sizes in elements unless named bytes."""
    rows: int               # query rows (packed heads × queries for decode kernels)
    kv_tile: int
    kv_width: int           # elements per key row loaded (E + F, or E when V ⊂ K)
    q_bytes: int
    o_bytes: int
    kv_bytes: int           # one K/V tile
    bias_bytes: int         # the bias tiles one KV iteration reads

    def smem(self, stages: int) -> int:
        """Shared memory the unit holds: its Q tile and `stages` K/V (+ bias) stages."""
        return self.q_bytes + stages * (self.kv_bytes + self.bias_bytes)


@dataclass(frozen=True)
class TileCost:
    """Cycles of one KV iteration of one group (GEMMs, SFU, FMA) and of the unit's load."""
    g1: float
    g2: float
    sfu: float              # the softmax's SFU work
    fma: float              # the softmax's FMA-pipe work
    mod_sfu: float          # the score mods' SFU work
    mod_fma: float
    mask_fma: float         # the element mask of a partially masked tile
    smem_bytes: float       # shared-memory operand traffic of the whole unit


def unit_shape(a: Attention, kern: Kernel, q_tile: int, kv_tile: int) -> Unit:
    """The unit a kernel with these tiles works on."""
    rows = q_tile * kern.ctas_per_unit
    width = a.e if kern.kv_shared else a.e + a.f
    bias = 0
    for b in a.bias:
        varies_rows = b.rows or (kern.pack_heads and b.heads)
        bias += (rows if varies_rows else 1) * (kv_tile if b.keys else 1) * a.elem
    kv = int(round(kv_tile * width * a.elem * kern.kv_share))
    return Unit(rows, kv_tile, width, rows * a.e * a.elem, rows * a.f * a.elem, kv, bias)


def pipe_ops(ops, arch: Arch, dtype: str, what: str) -> tuple[float, float]:
    """(FMA-pipe, SFU) work of `ops` (op → count), each op on the faster of the two pipes that runs it, in units
    of the pipe's base op (an add on the FMA pipe, an exp on the SFU). MappingError if neither runs one."""
    fma, sfu = accel.unit(arch, "fma"), accel.unit(arch, "sfu")
    base = {"fma": accel.op_rate(fma, "add"), "sfu": accel.op_rate(sfu, "exp")}
    work = {"fma": 0.0, "sfu": 0.0}
    for op, n in ops.items():
        rates = {"fma": accel.op_rate(fma, op, dtype) or 0.0, "sfu": accel.op_rate(sfu, op, dtype) or 0.0}
        pipe = max(rates, key=lambda k: (rates[k], k == "fma"))
        if not rates[pipe]:
            raise MappingError(f"{what}: neither the FMA pipe nor the SFU of {arch.name} runs op {op!r}")
        work[pipe] += n * base[pipe] / rates[pipe]
    return work["fma"], work["sfu"]


def mod_ops(a: Attention, arch: Arch) -> tuple[float, float]:
    """(FMA-pipe, SFU) work of the score mods per score element (see `pipe_ops`)."""
    ops: dict[str, int] = {}
    for mod in a.match.mods:
        for op, n in mod.ops.items():
            ops[op] = ops.get(op, 0) + n
    return pipe_ops(ops, arch, a.dtype, f"score mod {a.match.mods[0].einsum}" if a.match.mods else "score mods")


def tile_cost(sm: SM, a: Attention, kern: Kernel, u: Unit, mods: tuple[float, float],
              mask_ops: float | None = None) -> TileCost:
    """Cycles of one KV iteration (see the module docstring); `mask_ops` = FMA-pipe work per score of a masked
    tile (default MASK_FMA_OPS)."""
    rows = u.rows // kern.groups
    rate = (sm.mma_sync if kern.path == "mma_sync" else sm.mac) * kern.efficiency
    writes = u.kv_bytes / kern.groups / 2
    b_operand = kern.warps_per_group * u.kv_tile * kern.kv_share * a.elem
    smem_g1 = b_operand * a.e + rows * a.e * a.elem + writes
    # An FP8 V tile is read and written once more to transpose it; that traffic shares the bandwidth with PV's.
    transpose = 2 * u.kv_tile * kern.kv_share * a.f * a.elem / kern.groups if fp8_v(a, kern) else 0.0
    spill = spill_bytes(a, kern, u) / kern.groups / 2     # local-memory stores and reloads share the SMEM/L1 path
    smem_g1 += spill
    smem_g2 = b_operand * a.f + writes + transpose + spill
    elems = rows * u.kv_tile
    permute = elems * FP8_P_PERMUTE_OPS if a.dtype == "fp8" else 0.0
    if a.sigmoid:
        sfu, fma = 0.0, elems * SIGMOID_FMA_OPS + permute
    else:   # the exps, and per row the rescale factor exp(m_old − m_new) and the O rescale (or its threshold test)
        sfu = elems + rows
        fma = elems * SOFTMAX_FMA_OPS + permute + rows * (a.f if kern.rescale else RESCALE_TEST_OPS)
        if kern.exp_emulation:
            sfu, fma = _split_exps(sm, sfu, fma, elems * mods[1], elems * mods[0])
    return TileCost(g1=max(rows * u.kv_tile * a.e / rate, smem_g1 / sm.smem),
                    g2=max(rows * u.kv_tile * a.f / rate, smem_g2 / sm.smem),
                    sfu=sfu / sm.sfu, fma=fma / sm.fma, mod_sfu=elems * mods[1] / sm.sfu,
                    mod_fma=elems * mods[0] / sm.fma,
                    mask_fma=elems * (MASK_FMA_OPS if mask_ops is None else mask_ops) / sm.fma,
                    smem_bytes=kern.groups * (smem_g1 + smem_g2))


def register_demand(a: Attention, kern: Kernel, kv_tile: int) -> int:
    """32-bit registers per thread of a row group (64 rows on a warpgroup's 128 threads, wgmma's layout): the O
    accumulator, the S accumulator, P in the input dtype — with intra-warpgroup pipelining S(j) and P(j−1) are
    live together, else P is written over S — and REGISTER_OVERHEAD."""
    per_thread = ROWS_PER_WARPGROUP / (THREADS_PER_WARP * WARPS_PER_WARPGROUP)
    o, s = per_thread * a.f, per_thread * kv_tile
    p = per_thread * kv_tile * a.elem / FP32_BYTES
    return int(math.ceil(o + s + (p if kern.lag else 0.0))) + REGISTER_OVERHEAD


def spill_bytes(a: Attention, kern: Kernel, u: Unit) -> float:
    """Local-memory bytes per KV iteration of the whole unit when its row groups need more registers than their
    budget: each excess register stored and reloaded once per iteration by every thread."""
    if not kern.registers:
        return 0.0
    excess = max(0, register_demand(a, kern, u.kv_tile) - kern.registers)
    return 2.0 * excess * FP32_BYTES * THREADS_PER_WARP * WARPS_PER_WARPGROUP * kern.groups


def fp8_v(a: Attention, kern: Kernel) -> bool:
    """Whether the kernel transposes FP8 V tiles in shared memory."""
    return a.dtype == "fp8" and kern.fp8_transpose_v


def _split_exps(sm: SM, exps: float, fma: float, mod_sfu: float, mod_fma: float) -> tuple[float, float]:
    """(SFU exps, FMA-pipe ops) when part of `exps` run as polynomials on the FMA pipe (POLY_EXP_FMA_OPS each),
    the part that makes both pipes equally busy with the score mods' work included (none if the SFU is the
    less busy pipe already)."""
    sfu_time, fma_time = (exps + mod_sfu) / sm.sfu, (fma + mod_fma) / sm.fma
    moved = max(0.0, min(1.0, (sfu_time - fma_time) / (exps / sm.sfu + exps * POLY_EXP_FMA_OPS / sm.fma)))
    return exps * (1.0 - moved), fma + exps * moved * POLY_EXP_FMA_OPS


def iteration_cycles(t: TileCost, groups: int) -> float:
    """An estimate of one KV iteration's cycles (for placing CTAs, not for timing)."""
    return max(t.g1 + t.g2, (t.sfu + t.fma + t.mod_sfu + t.mod_fma) / groups) * groups


# ---- which KV tiles each unit visits ---------------------------------------------------------------------------

def tile_pattern(a: Attention, u: Unit, rows_per_head: int, group: int, splits: int,
                 spatial: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(partially masked, full) KV tiles of each unit of one (batch, head), in launch order: the row block fastest,
    then the KV split. `group` query heads share a row position when heads are packed (row = m·group + r)."""
    if a.neighborhood is not None:
        v = gna_tiles.tile_visits(a.neighborhood, *spatial)
        return v.partial, v.full
    n_q = -(-rows_per_head // u.rows)
    lo = np.arange(n_q) * u.rows
    hi = np.minimum(lo + u.rows, rows_per_head) - 1
    offset = a.p - a.m                                   # bottom-right aligned causal mask
    sees_lo = lo // group + offset + 1 if a.causal else np.full(n_q, a.p)   # keys seen by every row of the block
    sees_hi = hi // group + offset + 1 if a.causal else np.full(n_q, a.p)   # keys seen by some row of the block
    n_tiles = -(-a.p // u.kv_tile)
    per_split = -(-n_tiles // splits)
    partial, full = [], []
    for s in range(splits):
        k0 = min(s * per_split * u.kv_tile, a.p)
        k1 = min((s + 1) * per_split * u.kv_tile, a.p)
        visited = np.maximum(-(-(np.minimum(k1, sees_hi) - k0) // u.kv_tile), 0)
        whole = np.clip((np.minimum(np.minimum(k1, sees_lo), a.p) - k0) // u.kv_tile, 0, visited)
        full.append(whole)
        partial.append(visited - whole)
    return np.concatenate(partial).astype(np.int64), np.concatenate(full).astype(np.int64)


def check_spatial_tiles(a: Attention, q_shape: tuple, kv_shape: tuple) -> None:
    """GNA tile shapes must have one entry per layout dimension (raises MappingError)."""
    dims = len(a.neighborhood.spatial)
    for name, shape in (("q_tile_shape", q_shape), ("kv_tile_shape", kv_shape)):
        if len(shape) != dims:
            raise MappingError(f"gna: {name}={tuple(shape)} needs {dims} entries, one per layout dimension")
    if math.prod(q_shape) < 1 or math.prod(kv_shape) < 1:
        raise MappingError("gna: tile shapes must be positive")
