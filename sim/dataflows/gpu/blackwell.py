"""Blackwell (SM100) fused attention: `flash-blackwell` (forward) and `decode-blackwell` (split-KV decode), after
the CUTLASS SM100 FMHA kernels (CUTLASS 3.8+, examples/77_blackwell_fmha, as NATTEN's Blackwell backend uses them)
and FlashAttention-4 (Dao et al., 2025: the CuTe DSL SM100 forward kernel).

- **tcgen05 MMA into tensor memory**: one thread issues the CTA's MMAs; S and O accumulate in TMEM (128 lanes ×
  512 columns of 32 bits per SM), P is written over S, so a CTA needs groups × (KV tile + F) TMEM columns and
  resident CTAs share the SM's 512 (refused beyond). There is no wgmma: `flash3` and `cudnn` refuse Blackwell.
- **Q 256 / KV 128 tiles**: two 128-row Q tiles per CTA (a tcgen05 MMA is 128 rows per SM) ping-pong — one tile's
  softmax runs while the other's GEMMs do.
- **2-CTA MMA pairs** (`cta_pair`: cta_group::2 over a cluster of two SMs): the pair's MMA reads each K and V
  tile from both SMs' shared memory, so each SM loads, holds and reads half of every tile; the pair walks the
  union of its two Q tiles' KV tiles (causal: the lighter one masks the rest), and a head with an odd number of Q
  tiles pads its last pair.
- **The exp bottleneck**: tensor throughput per SM doubled over Hopper (8192 dense FP16 FLOP/clk/SM) while the MUFU
  still computes 16 exps/clk/SM, so part of the exps run as polynomials on the FMA pipe (`costs._split_exps`: the
  part that balances the two pipes) and O is rescaled only when a row's max grows past FA4's threshold.
- **FP8** (e4m3) runs at the FP8 tensor rate with the same tiles; tcgen05 reads MN-major 8-bit operands from
  shared memory, so V is not transposed (an assumption of this model), while P still takes its FP8 permute.
"""
from __future__ import annotations

import numpy as np

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.costs import Kernel, tile_pattern, unit_shape
from sim.dataflows.gpu.decode import SPLIT_SLOTS_PER_SM, combine, split_plan
from sim.dataflows.gpu.plans import split_heuristic
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.machine import SM, sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.shape import Attention
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

MMA_ROWS = 128             # rows of one CTA's tcgen05 MMA (M = 128 per SM; 64 also exists, for small tiles)
TILES = {128: (256, 128), 256: (128, 128)}   # head dim → (Q, KV) tiles: 2 × 128-row Q tiles while TMEM allows
STAGES = 2                 # K/V pipeline stages (CUTLASS SM100 FMHA mainloop; an assumption where it varies)
DECODE_TILES = {"q_tile": 64, "kv_tile": 128, "stages": 2, "ctas_per_sm": 2}   # packed query heads, M = 64
MAX_HEAD_DIM = 256


def kernel(q_tile: int, pair: bool, pack_heads: bool = False) -> Kernel:
    """The SM100 template: tcgen05 on the native path, `q_tile` rows in groups of MMA_ROWS, K/V split over a
    2-CTA pair, exps balanced between the MUFU and the FMA pipe, conditional rescaling."""
    return Kernel("mac", max(1, q_tile // MMA_ROWS), 1, 1.0, pack_heads, kv_share=0.5 if pair else 1.0,
                  exp_emulation=True, rescale=False)


def tmem_columns(a: Attention, kern: Kernel, kv_tile: int) -> int:
    """TMEM columns one unit holds: per row group its S tile (fp32, P written over it) and its O (fp32)."""
    return kern.groups * (kv_tile + a.f)


def check_tmem(name: str, a: Attention, kern: Kernel, params, sm: SM) -> None:
    """Refuse tiles whose accumulators do not fit the SM's tensor memory, and row groups tcgen05 cannot issue."""
    q, kv, ctas = params["q_tile"], params["kv_tile"], params["ctas_per_sm"]
    if q % MMA_ROWS and q != MMA_ROWS // 2:
        raise MappingError(f"{name}: q_tile={q} must be 64 or a multiple of {MMA_ROWS} (tcgen05 MMA rows)")
    need = tmem_columns(a, kern, kv) * ctas
    if need > sm.tmem_columns:
        raise MappingError(f"{name}: {ctas} CTA(s) of q_tile={q}, kv_tile={kv} at value dim {a.f} need {need} "
                           f"TMEM columns (S and O per 128-row group); an SM has {sm.tmem_columns} (use a smaller "
                           f"q_tile or kv_tile, or fewer CTAs per SM)")


def paired(pair: bool):
    """The tile pattern hook: a head's Q tiles in 2-CTA pairs (an odd last tile pads its pair with a copy). The two
    CTAs of a pair issue one MMA together, so both walk the union of their KV tiles; the lighter one masks the
    tiles it does not need."""
    def pattern(a: Attention, u):
        partial, full = tile_pattern(a, u, a.m, 1, 1)
        if not pair:
            return partial, full, 1
        if len(partial) % 2:
            partial, full = (np.append(x, x[-1:]) for x in (partial, full))
        visits = np.repeat((partial + full).reshape(-1, 2).max(axis=1), 2)
        return visits - full, full, 1
    return pattern


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """Q 256 / KV 128 (Q 128 where two groups' accumulators would overflow TMEM), 2 stages, 2-CTA pairs."""
    a = shape_of(c, "flash-blackwell")
    sm = sm_rates(check_arch(arch, "flash-blackwell"), a.dtype)
    q, kv = TILES[min((d for d in TILES if max(a.e, a.f) <= d), default=max(TILES))]
    p = constrain("flash-blackwell", {"q_tile": q, "kv_tile": kv, "stages": STAGES, "ctas_per_sm": 1,
                                      "cta_pair": True}, constraints)
    kern = kernel(p["q_tile"], p["cta_pair"])
    p = fit_defaults(a, kern, p, sm, constraints)
    check_fit("flash-blackwell", a, kern, p, sm)
    check_tmem("flash-blackwell", a, kern, p, sm)
    return mapping("flash-blackwell", c, p)


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """The SM100 forward kernel (see the module docstring)."""
    p = mp.params
    a = shape_of(c, mp.dataflow)
    kern = kernel(p["q_tile"], p["cta_pair"])
    check_tmem(mp.dataflow, a, kern, p, sm_rates(check_arch(arch, mp.dataflow), a.dtype))
    pairs = ", 2-CTA pairs share each K/V tile" if p["cta_pair"] else ""
    return lower_attention(c, arch, mp, options, kern, pattern=paired(p["cta_pair"]), notes=(
        f"Blackwell SM100 FMHA: tcgen05 MMA into TMEM, 128-row Q tiles ping-pong{pairs}; exps split between the "
        f"MUFU and the FMA pipe, conditional O rescaling",))


def decode_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """FlashDecoding's split heuristic over the packed query heads, on tcgen05 (M = 64 rows)."""
    mp = _decode_split(c, arch, constraints)
    a = shape_of(c, "decode-blackwell")
    check_tmem("decode-blackwell", a, kernel(mp.params["q_tile"], False, True), mp.params,
               sm_rates(check_arch(arch, "decode-blackwell"), a.dtype))
    return mp


_decode_split = split_plan("decode-blackwell", DECODE_TILES,
                           lambda arch: kernel(DECODE_TILES["q_tile"], False, True),
                           lambda ctas, sms, tiles: split_heuristic(ctas, sms * SPLIT_SLOTS_PER_SM, tiles))


def decode_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """The split-KV kernel on tcgen05, then the combine kernel when the KV is split."""
    a = shape_of(c, mp.dataflow)
    kern = kernel(mp.params["q_tile"], False, True)
    check_tmem(mp.dataflow, a, kern, mp.params, sm_rates(check_arch(arch, mp.dataflow), a.dtype))
    return lower_attention(c, arch, mp, options, kern, after=combine, notes=(
        "Blackwell decode: split-KV on tcgen05 into TMEM, query heads of a KV head packed, combine kernel",))


def supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax attention up to head dim 256 (score mods and bias inputs included) on Blackwell-class GPUs, in
    fp16, bf16 or FP8."""
    return attention_reason(c, arch, blackwell=True, sigmoid=False, max_dim=MAX_HEAD_DIM, fp8=True)


def decode_supports(c: Cascade, arch: Arch) -> str | None:
    """As `supports`: the combine reduces by log-sum-exps, so no sigmoid attention."""
    return attention_reason(c, arch, blackwell=True, sigmoid=False, max_dim=MAX_HEAD_DIM)


def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Q and KV tiles, stages, resident CTAs and whether CTAs pair up for 2-CTA MMA."""
    return {"q_tile": (128, 256), "kv_tile": (64, 128), "stages": (1, 2, 3, 4), "ctas_per_sm": (1, 2),
            "cta_pair": (True, False)}


def decode_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Query rows per CTA, KV tiles and splits."""
    return {"q_tile": (64, 128), "kv_tile": (64, 128, 256), "stages": (1, 2, 3, 4), "ctas_per_sm": (1, 2),
            "splits": (1, 2, 4, 8, 16, 32, 64, 128)}
