"""Decode attention: split-KV FlashDecoding (Dao et al., "Flash-Decoding for long-context inference", 2023) and
absorbed MLA decode (DeepSeek-V2, 2024; the FlashMLA kernel).

Both pack the query heads of a KV head (and the queries) into a CTA's rows — row = m·R + r, as FlashAttention's
PackGQA does — so a short query block fills the tensor-core tile, and split the KV length over CTAs when there
are too few CTAs to fill the GPU (FlashAttention's `num_splits_heuristic`); a combine kernel then reduces the fp32
partial outputs by their log-sum-exps. The causal mask is bottom-right aligned: with one query token it masks
nothing, with a few (chunked prefill, speculative decoding) only the last keys of the last tile.

MLA decode runs as multi-query attention over the cached latent row [CKV | KR] (576 dims); the values are its
first 512 (CKV), so each KV tile is loaded once for both GEMMs. The cascade's absorbed projections (QN·W_UK
before, O·W_UV after) run as batched GEMM kernels around it.
"""
from __future__ import annotations

import math

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.constants import AMPERE_WARPS, PARTIAL_BYTES
from sim.dataflows.gpu.costs import Kernel
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.plans import split_heuristic
from sim.dataflows.gpu.gemm import gemm_buffers, gemm_kernel, gemm_tiles
from sim.dataflows.gpu.machine import hopper_reason, sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.programs import stream
from sim.ir.mapping import Mapping
from sim.ir.options import DEFAULT_OPTIONS, Options

SPLIT_SLOTS_PER_SM = 2     # FlashAttention's heuristic is given 2 CTAs per SM (flash_api.cpp)
COMBINE_EFFICIENCY = 1.0   # the combine kernel is a plain reduction: it streams at the sustained copy bandwidth
DECODE_TILES = {"q_tile": 64, "kv_tile": 128, "stages": 1, "ctas_per_sm": 2}   # FlashAttention-2's split-KV kernel
MLA_TILES = {"q_tile": 64, "kv_tile": 64, "stages": 2, "ctas_per_sm": 1}       # FlashMLA: 64×64 blocks, 1 CTA/SM
MLA_MAX_HEAD_DIM = 1024    # the latent row the model takes (DeepSeek's is 512 + 64)


def decode_kernel(arch: Arch) -> Kernel:
    """FlashDecoding on the native path (wgmma on Hopper; on Ampere mma.sync with its 4 warps)."""
    hopper = hopper_reason(arch) is None
    return Kernel("mac" if hopper else "mma_sync", 1, 1 if hopper else AMPERE_WARPS, 1.0, True)


MLA = Kernel("mac", 1, 1, 1.0, True, kv_shared=True)


def sm_parts(ctas: int, sms: int, n_tiles: int) -> int:
    """FlashMLA's partition (`get_mla_metadata`): the KV length split so that every SM gets one part."""
    return max(1, min(n_tiles, sms // max(ctas, 1)))


def split_plan(name: str, defaults: dict, kernel, splits):
    """A split-KV plan: `defaults` fitted to shared memory, and unless pinned the `splits(ctas, sms, kv_tiles)`
    the kernel's heuristic chooses."""
    def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
        a = shape_of(c, name)
        sm = sm_rates(check_arch(arch, name), a.dtype)
        p = fit_defaults(a, kernel(arch), constrain(name, {**defaults, "splits": 1}, constraints), sm, constraints)
        if "splits" not in constraints:
            ctas = a.batch * a.kv_heads * -(-a.group * a.m // p["q_tile"])
            p["splits"] = splits(ctas, sm.sms, -(-a.p // p["kv_tile"]))
        check_fit(name, a, kernel(arch), p, sm)
        return mapping(name, c, p)
    return plan


decode_plan = split_plan("flash-decoding", DECODE_TILES, decode_kernel,
                    lambda ctas, sms, tiles: split_heuristic(ctas, sms * SPLIT_SLOTS_PER_SM, tiles))
mla_plan = split_plan("mla-decode", MLA_TILES, lambda arch: MLA, sm_parts)


def combine(prog, a, p) -> None:
    """Read the fp32 partial outputs and log-sum-exps of every split, write O."""
    if p["splits"] > 1:
        rows = a.batch * a.heads * a.m
        stream(prog, rows * p["splits"] * (a.f + 1) * PARTIAL_BYTES + rows * a.f * a.elem, "combine",
               COMBINE_EFFICIENCY, "combine")


def decode_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """FlashDecoding: the split-KV fused kernel, then the combine kernel when the KV is split."""
    return lower_attention(c, arch, mp, options, decode_kernel(check_arch(arch, mp.dataflow)), after=combine,
                           notes=("flash-decoding: split-KV, query heads of a KV head packed, combine kernel",))


def mla_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """MLA decode: QN·W_UK, the fused kernel over the latent cache, the combine, then O·W_UV."""
    tiles = gemm_tiles(check_arch(arch, mp.dataflow))

    def before(prog, a, p) -> None:
        gemm_kernel(prog, a.projections[0], tiles, a.elem, "q_absorb", "pre")

    def after(prog, a, p) -> None:
        combine(prog, a, p)
        gemm_kernel(prog, a.projections[1], tiles, a.elem, "o_absorb", "post")

    return lower_attention(c, arch, mp, options, MLA, before=before, after=after, buffers=gemm_buffers,
                           gemm=tiles, notes=("MLA decode: MQA over the cached latent row; values are its first "
                                              "C dims; absorbed projections as batched GEMMs",))


def decode_supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax attention (no sigmoid: the combine reduces by log-sum-exps) on any GPU."""
    return attention_reason(c, arch, sigmoid=False)


def mla_supports(c: Cascade, arch: Arch) -> str | None:
    """MLA's absorbed form, with its latent row up to MLA_MAX_HEAD_DIM."""
    return attention_reason(c, arch, max_dim=MLA_MAX_HEAD_DIM, mla=True, sigmoid=False)


def decode_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Few query rows per CTA and the KV length split over CTAs, besides tiles, stages and CTAs per SM."""
    return {"q_tile": (16, 32, 64, 128), "kv_tile": (32, 64, 128, 256), "stages": (1, 2, 3, 4),
            "ctas_per_sm": (1, 2, 3, 4), "splits": (1, 2, 4, 8, 16, 32, 64, 128)}
