"""NATTEN-style block-sparse generalized neighborhood attention (Hassani et al., "Generalized Neighborhood
Attention", 2025).

Token permute kernels make each multi-dimensional tile contiguous; a fused kernel then visits, per Q tile, the
bounding box of KV tiles covering its queries' windows (`sim.bounds.gna_tiles`), masking partially covered tiles;
an unpermute kernel restores the output layout. Hopper's kernels are FlashAttention-3-style (wgmma, two
warpgroups); older GPUs' are FlashAttention-2-style.
"""
from __future__ import annotations

import math

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.constants import AMPERE_WARPS, calibrated
from sim.dataflows.gpu.costs import Kernel, check_spatial_tiles
from sim.dataflows.gpu.flash import FA3, fa2_kernel
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.machine import hopper_reason, sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.programs import stream
from sim.ir.mapping import Mapping
from sim.ir.options import DEFAULT_OPTIONS, Options

# NATTEN's Hopper forward tiles per head dim (Q, KV), and its multi-dimensional tile shapes for 2-D and 3-D layouts.
TILES = {64: (64, 128), 128: (128, 128), 256: (128, 64)}
SHAPES = {2: ((16, 8), (16, 8)), 3: ((4, 4, 8), (4, 4, 8))}
STAGES = 2


def kernel(arch: Arch, options: Options) -> Kernel:
    """Hopper's NATTEN kernels are FlashAttention-3-style; older GPUs' FlashAttention-2-style (4 warps)."""
    return FA3 if hopper_reason(arch) is None else fa2_kernel(AMPERE_WARPS, options)


def sized(params) -> dict:
    """The params with the derived 1-D tile sizes (products of the tile shapes) the fused lowering reads."""
    return {**params, "q_tile": math.prod(params["q_tile_shape"]), "kv_tile": math.prod(params["kv_tile_shape"])}


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """NATTEN's tiles for the head dim and the layout's dimensions, stages and CTAs that fit."""
    a = shape_of(c, "gna")
    sm = sm_rates(check_arch(arch, "gna"), a.dtype)
    q, kv = TILES[min((k for k in TILES if max(a.e, a.f) <= k), default=max(TILES))]
    shapes = SHAPES.get(len(a.neighborhood.spatial), ((q,), (kv,)))
    p = constrain("gna", {"q_tile_shape": shapes[0], "kv_tile_shape": shapes[1], "stages": STAGES,
                          "ctas_per_sm": 1}, constraints)
    check_spatial_tiles(a, p["q_tile_shape"], p["kv_tile_shape"])
    kern = kernel(arch, DEFAULT_OPTIONS)
    fitted = fit_defaults(a, kern, sized(p), sm, constraints)
    p = {k: fitted[k] for k in p}
    check_fit("gna", a, kern, sized(p), sm)
    return mapping("gna", c, p)


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """Token permute, the block-sparse fused kernel, unpermute."""
    a = shape_of(c, "gna")
    check_spatial_tiles(a, mp.params["q_tile_shape"], mp.params["kv_tile_shape"])
    eff = calibrated(options, "STREAM_EFFICIENCY")
    qkv = a.batch * a.m * (a.heads * a.e + a.kv_heads * (a.e + a.f)) * a.elem
    out = a.batch * a.m * a.heads * a.f * a.elem

    def permute(prog, a, p) -> None:      # read and write Q, K, V
        stream(prog, 2 * qkv, "permute", eff, "permute")

    def unpermute(prog, a, p) -> None:    # read and write O
        stream(prog, 2 * out, "unpermute", eff, "unpermute")

    return lower_attention(c, arch, mp, options, kernel(check_arch(arch, "gna"), options), before=permute,
                           after=unpermute, params=sized(mp.params),
                           notes=("GNA: token permute, block-sparse kernel over bounding-box KV tiles, unpermute",))


def supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax attention with one neighborhood mask and no bias input."""
    return attention_reason(c, arch, local=True, sigmoid=False, bias=False)


def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Pipeline stages and CTAs per SM (the multi-dimensional tile shapes stay at NATTEN's defaults)."""
    return {"stages": (1, 2, 3, 4), "ctas_per_sm": (1, 2, 3, 4)}
