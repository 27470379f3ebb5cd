"""FlashAttention-2, FlashAttention-3 and cuDNN-style fused attention forward kernels.

- FlashAttention-2 (Dao, 2023): a CTA per Q tile loops over KV tiles; GEMM, softmax and GEMM run in order on the
  same warps through the Ampere-style `mma.sync` path (also on Hopper), at the calibrated `FA2_MMA_EFFICIENCY`.
- FlashAttention-3 (Shah et al., 2024): warpgroup MMA (wgmma) fed by TMA; consumer warpgroups ping-pong, so one
  warpgroup's softmax hides behind the others' GEMMs (its head-dim structure is in `hopper`). Its FP8
  forward (§3.3) runs at the FP8 tensor rate with its own tiles, transposes each V tile in shared memory (FP8
  wgmma reads K-major operands only) and permutes P's registers into the FP8 operand layout.
- cuDNN-style (kernels named like `sm90_flash_fprop_wgmma_f16_knob_7_64x128x128`): wgmma, 64-row CTAs, two per SM;
  the two co-resident CTAs interleave like FA3's warpgroups, so each pair is simulated as one unit of two groups.
"""
from __future__ import annotations

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.constants import THREADS_PER_WARP, MAX_REGS_PER_THREAD, calibrated
from sim.dataflows.gpu.costs import Kernel, unit_shape
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.machine import occupancy, sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.ir.mapping import Mapping
from sim.ir.options import DEFAULT_OPTIONS, Options

# Default tiles per head dim, as the kernels' launch templates choose them.
FA2_TILES = {64: (128, 128, 4), 128: (128, 64, 4), 256: (128, 64, 8)}   # (Br, Bc, warps), flash_fwd_launch_template.h
FA3_TILES = {64: (128, 128), 128: (128, 128), 256: (128, 80)}           # two consumer warpgroups of Br/2 rows
# FA3's forward tiles per head dim (hopper/tile_size.h, tile_size_fwd_sm90, 16-bit inputs): (Br, Bc, Bc if causal);
# one consumer warpgroup per 64 rows of Br.
FA3_HEAD_DIM_TILES = {64: (192, 128, 128), 128: (128, 176, 128), 256: (128, 80, 80)}
# setmaxnreg of FA3's producer warpgroup by consumer warpgroups (flash_fwd_kernel_sm90.h: 56, 24, 32); consumers
# take the rest of the SM's registers, at most FA3_MAX_CONSUMER_REGS (2 warpgroups: 240, 3: 160).
FA3_PRODUCER_REGS = {1: 56, 2: 24}
FA3_PRODUCER_REGS_MANY = 32
FA3_MAX_CONSUMER_REGS = 240
REGISTER_GRANULE = 8      # setmaxnreg takes multiples of 8
# FA3's FP8 forward tiles (hopper/tile_size.h, tile_size_fwd_sm90 for 1-byte elements): (Br, Bc) per head dim.
FA3_FP8_TILES = {64: (192, 160), 128: (128, 224), 256: (128, 128)}
CUDNN_TILES = {64: (64, 128), 128: (64, 128), 256: (64, 64)}            # e.g. ..._knob_7_64x128x128
FA2_STAGES = 1            # FA2 keeps one K and one V tile in shared memory (no multi-stage pipeline)
FA3_STAGES = 2            # K/V pipeline stages of FA3's forward kernel
CUDNN_CTAS_PER_SM = 2     # two 64-row CTAs share an SM (one K/V stage each, so both fit in shared memory)
CUDNN_STAGES = 1


def pick(table: dict, head_dim: int):
    """The entry for the smallest head dim ≥ `head_dim` (head dims above the table's largest are refused earlier)."""
    return table[min((k for k in table if head_dim <= k), default=max(table))]


def fa2_kernel(warps: int, options: Options) -> Kernel:
    """FlashAttention-2's template: mma.sync at the calibrated inner-loop efficiency, in order on `warps` warps."""
    return Kernel("mma_sync", 1, warps, calibrated(options, "FA2_MMA_EFFICIENCY"), False)


# FA3's paper-level template — two consumer warpgroups, no intra-warpgroup pipelining — which the GNA kernels reuse;
# `flash3` itself runs `hopper.fa3_kernel`, with FA3's head-dim structure.
FA3 = Kernel("mac", 2, 1, 1.0, False, fp8_transpose_v=True)
CUDNN = Kernel("mac", 2, 1, 1.0, False, ctas_per_unit=2)


def fa2_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """FA2's launch-template tiles and warps, resident CTAs by its registers and shared memory."""
    a = shape_of(c, "flash2")
    br, bc, warps = pick(FA2_TILES, max(a.e, a.f))
    sm = sm_rates(check_arch(arch, "flash2"), a.dtype)
    smem = unit_shape(a, fa2_kernel(warps, DEFAULT_OPTIONS), br, bc).smem(FA2_STAGES)
    slots = max(occupancy(sm, warps * THREADS_PER_WARP, MAX_REGS_PER_THREAD, smem), 1)
    p = constrain("flash2", {"q_tile": br, "kv_tile": bc, "warps": warps, "stages": FA2_STAGES, "ctas_per_sm": slots},
                  constraints)
    p = fit_defaults(a, fa2_kernel(p["warps"], DEFAULT_OPTIONS), p, sm, constraints)
    check_fit("flash2", a, fa2_kernel(p["warps"], DEFAULT_OPTIONS), p, sm)
    return mapping("flash2", c, p)


def fa2_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """FlashAttention-2 on the mma.sync path, in order on the same warps."""
    return lower_attention(c, arch, mp, options, fa2_kernel(mp.params["warps"], options),
                           notes=("FlashAttention-2: mma.sync, softmax in order on the same warps",))


def _wgmma_plan(name: str, tiles: dict, kern: Kernel, stages: int, ctas: int):
    def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
        a = shape_of(c, name)
        sm = sm_rates(check_arch(arch, name), a.dtype)
        br, bc = pick(tiles, max(a.e, a.f))
        p = constrain(name, {"q_tile": br, "kv_tile": bc, "stages": stages, "ctas_per_sm": ctas}, constraints)
        p = fit_defaults(a, kern, p, sm, constraints)
        check_fit(name, a, kern, p, sm)
        return mapping(name, c, p)
    return plan


cudnn_plan = _wgmma_plan("cudnn", CUDNN_TILES, CUDNN, CUDNN_STAGES, CUDNN_CTAS_PER_SM)


def cudnn_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """cuDNN-style: pairs of co-resident 64-row CTAs interleaving like two warpgroups."""
    return lower_attention(c, arch, mp, options, CUDNN, notes=(
        "cuDNN-style: wgmma, 64-row CTAs, two per SM overlapping softmax and GEMMs (simulated as pairs)",))


def fa2_supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax or sigmoid attention, head dims up to 256, on any GPU."""
    return attention_reason(c, arch)


def fa3_supports(c: Cascade, arch: Arch) -> str | None:
    """As FA2, on Hopper's warpgroup MMA path; also FP8 (e4m3) forward."""
    return attention_reason(c, arch, hopper=True, fp8=True)


def cudnn_supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax attention on GPUs with a warpgroup MMA path."""
    return attention_reason(c, arch, hopper=True, sigmoid=False)


def attention_space(*, warps: bool = False, ctas: tuple[int, ...] = (1, 2, 3, 4)):
    """Tiles, pipeline stages and CTAs per SM of a fused attention kernel; FA2 also its warps per CTA."""
    def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
        axes = {"q_tile": (64, 128, 256), "kv_tile": (32, 64, 128, 256), "stages": (1, 2, 3, 4), "ctas_per_sm": ctas}
        if warps:
            axes["warps"] = (4, 8)
        return axes
    return space
