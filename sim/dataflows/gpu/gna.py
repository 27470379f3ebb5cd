"""NATTEN-style generalized neighborhood attention (Hassani et al., "Generalized Neighborhood Attention", 2025, and
the NATTEN kernels): token permutes, a fused kernel over bounding-box KV tiles, unpermutes.

On Hopper, NATTEN permutes Q, K and V (one kernel each) so that every multi-dimensional tile is contiguous, padding
each dimension up to whole tiles; the fused kernel (FlashAttention-3-style: wgmma, two warpgroups) visits, per Q
tile, the bounding box of KV tiles covering its queries' windows (`sim.bounds.gna_tiles`); unpermute kernels restore
O and its log-sum-exp. A 1-D layout without dilation is already tile-contiguous: it runs no permute. Older GPUs run
NATTEN's FNA kernels (FlashAttention-2-style) on the layout as it is, without permutes.

Masking follows the kernel: unless the whole problem is fully block-sparse (NATTEN's global fast path), *every*
visited KV tile applies the element mask — per score a lower- and upper-bound compare per layout dimension and a
select, per row and dimension the row's window — and a fully block-sparse problem with padded KV tiles still masks
the padding of every tile. Integer work runs at the INT32 rate.
"""
from __future__ import annotations

import math

import numpy as np

from accel import Arch
from workloads import Cascade

from sim.bounds import gna_tiles
from sim.dataflows.gpu.constants import AMPERE_WARPS, calibrated
from sim.dataflows.gpu.costs import Kernel, check_spatial_tiles
from sim.dataflows.gpu.flash import FA3, fa2_kernel, pick
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.machine import SM, generation, gpu_reason, hopper_reason, sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.programs import GpuProgram, cycles
from sim.dataflows.registry import Lowered
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

# NATTEN 0.21's default forward tile shapes (Q, KV) per layout dims and head dim: the first entry of its Hopper
# table (`HOPPER_FORWARD_CONFIGS`), and its Ampere FNA default (`cutlass` configs) for older GPUs.
HOPPER_TILES = {
    1: {64: ((64,), (128,)), 128: ((128,), (128,)), 256: ((128,), (64,))},
    2: {64: ((8, 8), (16, 8)), 128: ((16, 8), (16, 8)), 256: ((16, 8), (8, 8))},
    3: {64: ((4, 4, 4), (4, 4, 8)), 128: ((4, 4, 8), (4, 4, 8)), 256: ((4, 4, 8), (4, 4, 4))},
}
AMPERE_TILES = {1: ((64,), (64,)), 2: ((8, 8), (8, 8)), 3: ((4, 4, 4), (4, 4, 4))}
STAGES = 2

# NATTEN's element mask (`apply_mask` / `is_neighbor` in its Hopper FNA fusion): per score and dimension, two
# integer compares (each ISETP folds the previous predicate in), then one select; per row and dimension, each of
# the threads holding the row computes its window (`get_win_start`): about 8 integer ops plus a division by the
# runtime stride (a ~20-instruction sequence on GPUs without an integer divider). Assumptions from the code.
MASK_COMPARES_PER_DIM = 2
MASK_SELECTS = 1
WINDOW_OPS_PER_DIM = 28
THREADS_PER_ROW = 4          # threads sharing one accumulator row of a warpgroup MMA tile (m64nNk16 layout)
PADDED_MASK_OPS = 1          # `apply_padded_mask`: one select per score (the bound check is per column)
INT32_PER_SM_CLOCK = 64      # 32-bit integer add/compare lanes per SM (CUDA C++ Programming Guide, cc 8.x/9.0)
LSE_BYTES = 4                # the fp32 log-sum-exp per query row that the kernel writes and the unpermute restores

MASKING = ("none", "partial", "natten")   # what `lower_with` may charge for masks (see its docstring)


def kernel(arch: Arch, options: Options) -> Kernel:
    """Hopper's NATTEN kernels are FlashAttention-3-style; older GPUs' FlashAttention-2-style (4 warps)."""
    return FA3 if hopper_reason(arch) is None else fa2_kernel(AMPERE_WARPS, options)


def sized(params) -> dict:
    """The params with the derived 1-D tile sizes (products of the tile shapes) the fused lowering reads."""
    return {**params, "q_tile": math.prod(params["q_tile_shape"]), "kv_tile": math.prod(params["kv_tile_shape"])}


def default_tiles(arch: Arch, dims: int, head_dim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """NATTEN's default (Q, KV) tile shapes for the arch, layout dims and head dim."""
    if hopper_reason(arch) is None:
        return pick(HOPPER_TILES[dims], head_dim)
    return AMPERE_TILES[dims]


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """NATTEN's tiles for the arch, head dim and the layout's dimensions, stages and CTAs that fit."""
    a = shape_of(c, "gna")
    sm = sm_rates(check_arch(arch, "gna"), a.dtype)
    q, kv = default_tiles(arch, len(a.neighborhood.spatial), max(a.e, a.f))
    p = constrain("gna", {"q_tile_shape": q, "kv_tile_shape": kv, "stages": STAGES, "ctas_per_sm": 1},
                  constraints)
    check_spatial_tiles(a, p["q_tile_shape"], p["kv_tile_shape"])
    kern = kernel(arch, DEFAULT_OPTIONS)
    fitted = fit_defaults(a, kern, sized(p), sm, constraints)
    p = {k: fitted[k] for k in p}
    check_fit("gna", a, kern, sized(p), sm)
    return mapping("gna", c, p)


def permuted(arch: Arch, mask) -> bool:
    """Whether NATTEN permutes tokens: on Hopper-path GPUs, unless the layout is 1-D without dilation."""
    return hopper_reason(arch) is None and (len(mask.spatial) > 1 or mask.dilation[0] > 1)


def padded_tokens(mask, tile: tuple[int, ...]) -> int:
    """Tokens of the permuted layout: each dilation group of each dimension padded to whole tiles (NATTEN's
    `ceil(ceil(n / tile) / dilation) · tile · dilation`)."""
    return math.prod(-(-(-(-n // t)) // d) * t * d for n, t, d in zip(mask.spatial, tile, mask.dilation))


def masking_ops(mask, params, sm: SM) -> tuple[str, float]:
    """Which visited tiles NATTEN masks and the FMA-pipe work per score of one: ("all", neighborhood mask) unless
    the problem is fully block-sparse; then ("all", the padding mask) if KV tiles are padded, else ("none", 0)."""
    q, kv = params["q_tile_shape"], params["kv_tile_shape"]
    dims = len(mask.spatial)
    integer = max(1.0, sm.fma / INT32_PER_SM_CLOCK)          # FMA-pipe slots per integer op
    causal = any(mask.causal)
    if causal or not gna_tiles.fully_block_sparse(mask.spatial, mask.window, mask.stride, q, kv, mask.dilation):
        per_row = THREADS_PER_ROW * WINDOW_OPS_PER_DIM * dims * integer / math.prod(kv)
        return "all", MASK_COMPARES_PER_DIM * dims * integer + MASK_SELECTS + per_row
    if padded_tokens(mask, kv) != math.prod(mask.spatial):
        return "all", float(PADDED_MASK_OPS)
    return "none", 0.0


def _pattern(mask, params, masked: str):
    """The tile pattern hook of the fused lowering: bounding-box visits per Q tile, masked as `masked` says
    ("all", "none", or "partial" = only the partially covered tiles)."""
    def pattern(a, unit):
        v = gna_tiles.tile_visits(mask, params["q_tile_shape"], params["kv_tile_shape"])
        if masked == "partial":
            return v.partial, v.full, 1
        none = np.zeros_like(v.visited)
        return (v.visited, none, 1) if masked == "all" else (none, v.visited, 1)
    return pattern


def _copies(prog: GpuProgram, name: str, moves: list[tuple[float, float]], eff: float) -> None:
    """One kernel entry `name` of memory-bound copies, each its own launch: (bytes read, bytes written) through
    L2 and HBM at `eff` of the sustained HBM bandwidth, split evenly over the SMs."""
    sm = prog.sm.sharing(prog.sm.sms)
    for k, (read, written) in enumerate(moves):
        if k == 0:
            prog.kernel(name)
        else:
            prog.segment(f"{name}.launch", barrier=True).op("host", cycles(sm.launch_cycles), tag="launch")
        s = prog.segment(name, barrier=True)
        share = (read + written) / sm.sms / prog.copies
        s.op("l2", cycles(share / sm.l2), tag=name, bytes={"L2.read": read, "L2.write": written})
        s.op("hbm", cycles(share / (sm.hbm * eff)), tag=name, bytes={"HBM.read": read, "HBM.write": written})


def _permute_kernels(mask, eff: float):
    """The `before`/`after` hooks: permutes of Q, K, V and unpermutes of O and its log-sum-exp (NATTEN's
    token_permute / token_unpermute), each reading one layout and writing the other."""
    def before(prog, a, p) -> None:
        n, nq, nkv = math.prod(mask.spatial), padded_tokens(mask, p["q_tile_shape"]), \
            padded_tokens(mask, p["kv_tile_shape"])
        rows = a.batch * a.elem
        _copies(prog, "permute", [(rows * a.heads * a.e * n, rows * a.heads * a.e * nq),
                                  (rows * a.kv_heads * a.e * n, rows * a.kv_heads * a.e * nkv),
                                  (rows * a.kv_heads * a.f * n, rows * a.kv_heads * a.f * nkv)], eff)

    def after(prog, a, p) -> None:
        n, nq = math.prod(mask.spatial), padded_tokens(mask, p["q_tile_shape"])
        o, lse = a.batch * a.heads * a.f * a.elem, a.batch * a.heads * LSE_BYTES
        _copies(prog, "unpermute", [(o * nq, o * n), (lse * nq, lse * n)], eff)
    return before, after


def lower_with(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS, *,
               masking: str = "natten", permutes: bool = True) -> Lowered:
    """The lowering with chosen mechanisms, to show what each adds: `masking` "none" (every visited tile
    unmasked: the tile bound's kernel), "partial" (only partially covered tiles pay the generic two-op mask),
    "natten" (the kernel's own rule, `masking_ops`); `permutes` whether the permute kernels run when NATTEN
    runs them. `lower` is everything NATTEN does."""
    if masking not in MASKING:
        raise MappingError(f"gna: masking={masking!r} (valid: {', '.join(MASKING)})")
    a = shape_of(c, "gna")
    p = sized(mp.params)
    check_spatial_tiles(a, p["q_tile_shape"], p["kv_tile_shape"])
    sm = sm_rates(check_arch(arch, "gna"), a.dtype)
    which, ops = masking_ops(a.neighborhood, p, sm) if masking == "natten" else (masking, None)
    hooks = _permute_kernels(a.neighborhood, calibrated(options, "STREAM_EFFICIENCY")) \
        if permutes and permuted(arch, a.neighborhood) else (None, None)
    note = ("GNA: " + ("token permutes, " if hooks[0] else "") + f"bounding-box KV tiles (masked: {which})"
            + (", unpermutes" if hooks[0] else ""))
    return lower_attention(c, arch, mp, options, kernel(arch, options), before=hooks[0], after=hooks[1],
                           params=p, notes=(note,), pattern=_pattern(a.neighborhood, p, which),
                           mask_ops=ops if masking == "natten" else (0.0 if masking == "none" else None))


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """Token permutes (when NATTEN runs them), the block-sparse fused kernel masked as NATTEN masks, unpermutes."""
    return lower_with(c, arch, mp, options)


def supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax attention with one neighborhood mask and no bias input, on Ampere or Hopper (NATTEN's Blackwell
    kernels are not modelled)."""
    if isinstance(arch, Arch) and gpu_reason(arch) is None and generation(arch) == "blackwell":
        return (f"{arch.name} is Blackwell (SM100): NATTEN's tcgen05 kernels are not modelled (flash-blackwell runs "
                f"dense attention there)")
    return attention_reason(c, arch, local=True, sigmoid=False, bias=False)


def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Pipeline stages and CTAs per SM (the multi-dimensional tile shapes stay at NATTEN's defaults)."""
    return {"stages": (1, 2, 3, 4), "ctas_per_sm": (1, 2, 3, 4)}
