"""FlashAttention-3's forward kernel (Shah et al., "FlashAttention-3", 2024) with the structure that differs by head
dim, each part a switchable mechanism (`Mechanisms`) so that `breakdown` can say what it contributes:

- **tiles**: FA3's Q × KV tiles per head dim (hopper/tile_size.h: 192×128 at 64, 128×176 — 128×128 causal — at
  128, 128×80 at 256), one consumer warpgroup per 64 rows of Q (three at head dim 64). Off: 128×128 (128×80 at 256)
  with two warpgroups, as the paper describes the kernel.
- **ping-pong**: the consumer warpgroups take turns on the tensor cores (their named-barrier schedule), so one
  warpgroup's exp and row max/sum run while the others' GEMMs do; how busy the SFU and the tensor cores stay
  says how much is hidden (`breakdown`).
- **intra-warpgroup pipelining** (§3.2): a warpgroup issues tile j's QKᵀ before tile j−1's PV, so its softmax of
  tile j overlaps that PV; it keeps S(j) and P(j−1) in registers at once.
- **registers**: the producer warpgroup keeps FA3's setmaxnreg and the consumers share the rest (240 registers per
  thread with two, 160 with three); a tile whose O, S (and P, when pipelined) need more spills to local memory,
  stored and reloaded each iteration through the SM's shared-memory/L1 bandwidth.
- **scheduler**: FA3's persistent tile scheduler hands out the longest tiles first (LPT; hopper/tile_scheduler.hpp:
  causal Q tiles in reverse), so causal work balances across SMs (off: launch order, as FlashAttention-2).
- **producer**: one TMA warp loads K and V into `stages` slots and waits for a consumer to free one, so it runs at
  most that far ahead (off: unbounded prefetch). The TMA unit's per-request issue cost is not published and not
  modelled.
- **exp overlap**: the SFU's exps run beside the other warpgroups' wgmma, as FA3's ping-pong intends (off: a
  what-if in which each exp takes the tensor pipe's turn, no overlap at all). Not a claim about the hardware: it
  says how much of the prediction rests on the exps hiding, which at head dim 64 (exps as long as the GEMMs) is
  most of the difference between the model and FA3's published figure.
"""
from __future__ import annotations

from dataclasses import dataclass

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.constants import ROWS_PER_WARPGROUP, THREADS_PER_WARP, WARPS_PER_WARPGROUP
from sim.dataflows.gpu.costs import Kernel
from sim.dataflows.gpu.flash import (FA3_FP8_TILES, FA3_HEAD_DIM_TILES, FA3_MAX_CONSUMER_REGS, FA3_PRODUCER_REGS,
                                     FA3_PRODUCER_REGS_MANY, FA3_STAGES, FA3_TILES, REGISTER_GRANULE, pick)
from sim.dataflows.gpu.fused import check_fit, fit_defaults, lower_attention
from sim.dataflows.gpu.machine import SM, sm_rates
from sim.dataflows.gpu.plans import check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.shape import Attention
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

WARPGROUP_THREADS = THREADS_PER_WARP * WARPS_PER_WARPGROUP


@dataclass(frozen=True)
class Mechanisms:
    """Which parts of FA3's structure the lowering models (all of them unless explaining one)."""
    tiles: bool = True
    intra_warpgroup: bool = True
    registers: bool = True
    producer: bool = True
    scheduler: bool = True
    exp_overlap: bool = True


ALL = Mechanisms()


def consumer_registers(sm: SM, groups: int) -> int:
    """Registers per consumer thread: what the producer warpgroup's setmaxnreg leaves, in REGISTER_GRANULE steps,
    at most FA3_MAX_CONSUMER_REGS."""
    producer = FA3_PRODUCER_REGS.get(groups, FA3_PRODUCER_REGS_MANY) * WARPGROUP_THREADS
    share = (sm.regs - producer) // (groups * WARPGROUP_THREADS)
    return max(0, min(FA3_MAX_CONSUMER_REGS, share // REGISTER_GRANULE * REGISTER_GRANULE))


def fa3_kernel(q_tile: int, sm: SM, mech: Mechanisms = ALL) -> Kernel:
    """The kernel template for a Q tile: one consumer warpgroup per 64 rows (see the module docstring)."""
    groups = max(1, q_tile // ROWS_PER_WARPGROUP) if mech.tiles else 2
    return Kernel("mac", groups, 1, 1.0, False, fp8_transpose_v=True, lag=1 if mech.intra_warpgroup else 0,
                  registers=consumer_registers(sm, groups) if mech.registers else 0, bounded=mech.producer,
                  longest_first=mech.scheduler, exp_beside_mma=mech.exp_overlap)


def default_tiles(a: Attention, mech: Mechanisms = ALL) -> tuple[int, int]:
    """FA3's (Br, Bc) for the attention's head dim, dtype and mask."""
    d = max(a.e, a.f)
    if a.dtype == "fp8":
        return pick(FA3_FP8_TILES, d)
    if not mech.tiles:
        return pick(FA3_TILES, d)
    br, bc, causal_bc = pick(FA3_HEAD_DIM_TILES, d)
    return br, causal_bc if a.causal else bc


def _check_rows(q_tile: int, mech: Mechanisms) -> None:
    if mech.tiles and q_tile % ROWS_PER_WARPGROUP:
        raise MappingError(f"flash3: q_tile={q_tile} must be a multiple of {ROWS_PER_WARPGROUP} (one consumer "
                           f"warpgroup per {ROWS_PER_WARPGROUP} rows)")


def plan_with(c: Cascade, arch: Arch, constraints, mech: Mechanisms = ALL) -> Mapping:
    """FA3's tiles, two stages, one CTA per SM, under `mech`."""
    a = shape_of(c, "flash3")
    sm = sm_rates(check_arch(arch, "flash3"), a.dtype)
    br, bc = default_tiles(a, mech)
    p = constrain("flash3", {"q_tile": br, "kv_tile": bc, "stages": FA3_STAGES, "ctas_per_sm": 1}, constraints)
    _check_rows(p["q_tile"], mech)
    kern = fa3_kernel(p["q_tile"], sm, mech)
    p = fit_defaults(a, kern, p, sm, constraints)
    check_fit("flash3", a, kern, p, sm)
    return mapping("flash3", c, p)


def lower_with(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS, mech: Mechanisms = ALL):
    """FlashAttention-3 under `mech` (see the module docstring)."""
    a = shape_of(c, mp.dataflow)
    _check_rows(mp.params["q_tile"], mech)
    kern = fa3_kernel(mp.params["q_tile"], sm_rates(check_arch(arch, mp.dataflow), a.dtype), mech)
    return lower_attention(c, arch, mp, options, kern, notes=(
        f"FlashAttention-3: wgmma + TMA, {kern.groups} consumer warpgroups ping-pong, intra-warpgroup "
        f"pipelining, {kern.registers} registers per consumer thread",))


def fa3_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """FA3's tiles per head dim (see `plan_with`)."""
    return plan_with(c, arch, constraints)


def fa3_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS):
    """FlashAttention-3 with its whole head-dim structure."""
    return lower_with(c, arch, mp, options)


def fa3_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """The tiles FA3 is built with for the cascade's head dim (tile_size_fwd_sm90's choices for it: both its mask
    variants and, for FP8, its FP8 tile), with one or two stages."""
    a = shape_of(c, "flash3")
    br, bc, causal_bc = pick(FA3_HEAD_DIM_TILES, max(a.e, a.f))
    fp8 = pick(FA3_FP8_TILES, max(a.e, a.f)) if a.dtype == "fp8" else ()
    return {"q_tile": tuple(sorted({br, *fp8[:1]})), "kv_tile": tuple(sorted({bc, causal_bc, *fp8[1:]})),
            "stages": (1, 2), "ctas_per_sm": (1,)}
