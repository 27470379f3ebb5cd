"""Fused kernels for masks that differ between heads and between query blocks: per-head sliding windows (MoA, Fu et
al. 2024; one shared window is FlashAttention's local attention) and per-(head, query block) block tables (dynamic
mask attention, top-k block selection as in DeepSeek's sparse attention and MoBA).

The kernel is FlashAttention-3-style on Hopper (FlashAttention-2-style before): each CTA is one Q tile of one
(batch, head) and visits only the KV tiles its rows attend — FlashAttention's local-attention KV-tile range for a
window, the kept blocks' tiles for a table — masking the tiles some rows only partly attend. Every head is listed
with its own tile counts, so CTAs of long-span heads or dense query blocks are heavier: greedy dispatch places
them and the most loaded SM is simulated, which is where the imbalance between heads and between query blocks
costs time. Per-head masks are one mask over a (head, query) rank split into (H, M) (`workloads.variants.moa`).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from accel import Arch
from workloads import Blocks, Cascade, Window
from workloads.masks import window_groups

from sim.dataflows.gpu.constants import AMPERE_WARPS
from sim.dataflows.gpu.costs import Kernel
from sim.dataflows.gpu.flash import FA3_HEAD_DIM_TILES, FA3_STAGES, FA3_TILES, attention_space, fa2_kernel, pick
from sim.dataflows.gpu.hopper import fa3_kernel
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.machine import SM, generation, gpu_reason, hopper_reason, sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.shape import Attention
from sim.dataflows.registry import Lowered
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

MAX_TILE_PAIRS = 1 << 24    # (head, Q tile, KV tile) triples a block table's pattern may list
WINDOW_COMPARES = 2         # a window's element mask: a lower- and an upper-bound compare, then a select
INT32_PER_SM_CLOCK = 64     # 32-bit integer compare lanes per SM (CUDA C++ Programming Guide, cc 8.x/9.0)


def kernel(arch: Arch, options: Options, q_tile: int, sm: SM) -> Kernel:
    """FlashAttention-3's kernel (its head-dim structure, `hopper.fa3_kernel`) on Hopper, FlashAttention-2-style
    (4 warps) before."""
    return fa3_kernel(q_tile, sm) if hopper_reason(arch) is None else fa2_kernel(AMPERE_WARPS, options)


def default_tiles(arch: Arch, a: Attention, mask: Window | Blocks) -> tuple[int, int]:
    """FA3's tiles for the head dim on Hopper (its causal KV tile: a window's diagonal band is masked like causal
    attention's), the FA2-era tiles before; a block table's tiles divide its blocks."""
    d = max(a.e, a.f)
    if hopper_reason(arch) is None:
        q, _, kv = pick(FA3_HEAD_DIM_TILES, d)
    else:
        q, kv = pick(FA3_TILES, d)
    if isinstance(mask, Blocks):
        q, kv = math.gcd(q, mask.q_block), math.gcd(kv, mask.kv_block)
    return q, kv


def _mask(c: Cascade) -> Window | Blocks | str:
    """The cascade's one sparse mask, or why these kernels cannot run it."""
    if not isinstance(c, Cascade):
        return f"expected a workloads.Cascade, got {type(c).__name__}"
    if len(c.masks) != 1 or not isinstance(c.masks[0], (Window, Blocks)):
        return f"needs one sliding-window or block-table mask, got {[type(m).__name__ for m in c.masks]}"
    mask = c.masks[0]
    if mask.key != "P":
        return f"the mask must relate queries to the keys P, not {mask.key}"
    if mask.query == "M":
        return mask if isinstance(mask, Window) else "a block table shared by the heads runs on a (head, query) rank"
    split = next((s for s in c.splits if s.rank == mask.query), None)
    if split is None or (split.outer, split.inner) != ("H", "M"):
        return f"the mask's query rank {mask.query} must be M, or (head, query) rows split into H, M"
    if isinstance(mask, Blocks) and c.sizes["M"] % mask.q_block:
        return f"q_block={mask.q_block} must divide M={c.sizes['M']} (query blocks may not straddle heads)"
    return mask


def shape(c: Cascade, name: str) -> Attention:
    """The attention shape of the cascade without its mask (the kernel's pattern stands for the mask)."""
    return shape_of(dataclasses.replace(c, masks=()), name)


def window_pattern(mask: Window, a: Attention, q: int, k: int, rows_total: int):
    """Per head (head-major) and Q tile: (partially, fully) attended KV tiles of sliding windows. Windows grow
    with the row, so a tile's KV range is [lo(first row), hi(last row)) and its fully attended tiles lie in
    [lo(last row), hi(first row))."""
    rows, lefts, rights = window_groups(mask, rows_total)
    t = np.arange(-(-a.m // q))
    first, last = t * q + a.p - a.m, np.minimum(t * q + q, a.m) - 1 + a.p - a.m
    partial, full = [], []
    for left, right in zip(lefts, rights):
        lo = lambda i: np.clip(i - left, 0, a.p)
        hi = lambda i: np.clip(i + right + 1, 0, a.p)
        start, end = lo(first) // k, -(-hi(last) // k)
        visited = np.maximum(end - start, 0)
        whole = np.clip(hi(first) // k - -(-lo(last) // k), 0, visited)
        partial.append(visited - whole)
        full.append(whole)
    return np.concatenate(partial).astype(np.int64), np.concatenate(full).astype(np.int64), len(lefts)


def block_pattern(mask: Blocks, a: Attention, q: int, k: int):
    """Per head and Q tile: (partially, fully) kept KV tiles of a block table (per head when its rows run head by
    head). A tile is visited when a kept block overlaps it, full when every block it overlaps is kept and it holds
    no padded key; counted with 2-D prefix sums over the table."""
    table = np.asarray(mask.keep, dtype=bool)
    heads = len(table) * mask.q_block // a.m
    nq, nk = -(-a.m // q), -(-a.p // k)
    if heads * nq * nk > MAX_TILE_PAIRS:
        raise MappingError(f"a block table over {heads} heads × {nq} Q tiles × {nk} KV tiles is beyond the "
                           f"{MAX_TILE_PAIRS} pairs the model lists: use larger tiles")
    per_head = table.reshape(heads, a.m // mask.q_block, table.shape[1])
    sums = np.zeros((heads, per_head.shape[1] + 1, per_head.shape[2] + 1), dtype=np.int64)
    sums[:, 1:, 1:] = per_head.cumsum(axis=1).cumsum(axis=2)
    r0, c0 = np.arange(nq) * q // mask.q_block, np.arange(nk) * k // mask.kv_block
    r1 = (np.minimum(np.arange(nq) * q + q, a.m) - 1) // mask.q_block + 1
    c1 = (np.minimum(np.arange(nk) * k + k, a.p) - 1) // mask.kv_block + 1
    kept = (sums[:, r1][:, :, c1] - sums[:, r0][:, :, c1] - sums[:, r1][:, :, c0] + sums[:, r0][:, :, c0])
    area = (r1 - r0)[:, None] * (c1 - c0)[None, :]
    whole = (kept == area) & ((np.arange(nk) * k + k) <= a.p)[None, :]
    visited = (kept > 0).sum(axis=2).ravel()
    full = whole.sum(axis=2).ravel()
    return (visited - full).astype(np.int64), full.astype(np.int64), heads


def _pattern(c: Cascade, params):
    mask = _mask(c)

    def pattern(a: Attention, unit):
        q, k = params["q_tile"], params["kv_tile"]
        if isinstance(mask, Window):
            rows = c.sizes[mask.query]
            return window_pattern(mask, a, q, k, rows)
        return block_pattern(mask, a, q, k)
    return pattern


def _mask_ops(c: Cascade, sm: SM) -> float:
    """FMA-pipe work per score of a partially attended tile: two bound compares (integer rate) and a select for
    windows; a block table's partial tiles are its ragged edges (a bound compare and a select)."""
    integer = max(1.0, sm.fma / INT32_PER_SM_CLOCK)
    compares = WINDOW_COMPARES if isinstance(c.masks[0], Window) else 1
    return compares * integer + 1


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """FA3's tiles for the head dim (a block table's tiles divide its blocks), stages and CTAs that fit."""
    mask = _require(c)
    a = shape(c, "sparse")
    sm = sm_rates(check_arch(arch, "sparse"), a.dtype)
    q, kv = default_tiles(arch, a, mask)
    p = constrain("sparse", {"q_tile": q, "kv_tile": kv, "stages": FA3_STAGES, "ctas_per_sm": 1}, constraints)
    kern = kernel(arch, DEFAULT_OPTIONS, p["q_tile"], sm)
    p = fit_defaults(a, kern, p, sm, constraints)
    check_fit("sparse", a, kern, p, sm)
    return mapping("sparse", c, p)


def _require(c: Cascade) -> Window | Blocks:
    mask = _mask(c)
    if isinstance(mask, str):
        raise MappingError(f"sparse: {mask}")
    return mask


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """The fused kernel over each (head, Q tile)'s own KV tiles."""
    mask = _require(c)
    a = shape(c, mp.dataflow)
    sm = sm_rates(check_arch(arch, mp.dataflow), a.dtype)
    pattern = _pattern(c, mp.params)
    partial, full, heads = pattern(a, None)
    tiles = partial + full
    note = (f"{type(mask).__name__.lower()} mask over {heads} head pattern(s): KV tiles per CTA max {tiles.max()}, "
            f"mean {tiles.mean():.1f} (the imbalance greedy dispatch places)")
    return lower_attention(c, arch, mp, options, kernel(arch, options, mp.params["q_tile"], sm), notes=(note,),
                           pattern=pattern,
                           mask_ops=_mask_ops(c, sm), shape=a)


def supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax attention (MHA heads for per-head masks) with one sliding-window or block-table mask."""
    mask = _mask(c)
    if isinstance(mask, str):
        return mask
    if gpu_reason(arch) is None and generation(arch) == "blackwell":
        return (f"{arch.name} is Blackwell (SM100): a block-sparse kernel on tcgen05 MMA is not modelled "
                f"(flash-blackwell runs dense attention there)")
    return attention_reason(dataclasses.replace(c, masks=()), arch, sigmoid=False, bias=False)


space = attention_space()
