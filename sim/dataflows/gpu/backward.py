"""FlashAttention-2 and -3 backward kernels (`flash2-bwd`, `flash3-bwd`): what they run, their tiles and plans.

A backward cascade is recognised by structure, never by name: from its sizes, mask and dtype the forward softmax
attention (MHA or grouped heads, no mask or causal) is rebuilt with `workloads.attention`, and the candidate is
accepted only if `workloads.structure(workloads.backward(forward))` equals its own — so a dataflow simulates exactly
the cascade it is given or says why not. The Einsums of FlashAttention's recomputation form (Dao, "FlashAttention-2",
2023, Algorithm 2) are `QK`, `P`, `dP`, `Drow`, `dS`, `dV`, `dQ`, `dK`; each engine tag names the given cascade's
Einsum at that statement position (its own name, whatever the backward called it).

Both kernels are KV-outer (`backward_lowering`): a CTA keeps a K/V tile and its dK/dV accumulators on chip and loops
over the Q tiles that see it, recomputing S and P from the saved log-sum-exp; dQ is accumulated in fp32 in global
memory with atomic adds (FA2: `atomicAdd` from registers; FA3: a warp's TMA bulk reduce-add of a staged tile); a
preprocessing kernel computes D = rowsum(dO ∘ O) and zeroes the dQ accumulator, and a last kernel converts it to
the input dtype. Grouped heads (flash2-bwd only): FA2 writes dK/dV per query head and PyTorch sums the sharing heads.
"""
from __future__ import annotations

import functools
import importlib
import types
from dataclasses import dataclass
from typing import Callable

import workloads
from accel import Arch
from workloads import Cascade, CascadeError, Causal

from sim.dataflows.gpu.constants import FP32_BYTES, MAX_WARPS_PER_CTA
from sim.dataflows.gpu.flash import pick
from sim.dataflows.gpu.machine import SM, blackwell_reason, gpu_reason, sm_rates, wgmma_reason
from sim.dataflows.gpu.plans import check_arch, constrain, mapping
from sim.dataflows.gpu.shape import Attention, attention
from sim.ir.mapping import Mapping, MappingError

# The Einsums of FlashAttention's backward, in the roles the kernel gives them.
ROLES = ("QK", "P", "dP", "Drow", "dS", "dV", "dQ", "dK")
SOFTMAX_FORMS = ("1pass", "2pass", "3pass")
BWD_INPUTS = ("Q", "K", "V", "dO", "O", "LSE")   # the forward inputs, the output's gradient and FA's saved tensors
BWD_DTYPES = ("fp16", "bf16")
# FA2's backward tiles per head dim on SM80/SM90 with ≥ 144 KB of shared memory (flash_bwd_launch_template.h,
# Flash_bwd_kernel_traits<D, kBlockM, kBlockN, kNWarps, AtomLayoutMSdP, AtomLayoutNdKV, AtomLayoutMdQ>):
# (Br, Bc, warps, warps along M of S/dP, along N of dK/dV, along M of dQ).
FA2_BWD_TILES = {32: (128, 128, 8, 2, 4, 4), 64: (128, 128, 8, 2, 4, 4), 96: (64, 128, 8, 2, 4, 4),
                 128: (64, 128, 8, 2, 4, 2), 160: (64, 64, 8, 4, 2, 2), 192: (64, 64, 8, 4, 2, 2),
                 256: (64, 64, 8, 4, 2, 2)}
FA2_BWD_STAGES = 2         # FA2 double-buffers the Q tile (No_double_buffer = false), dO single
# FA3's backward tiles per head dim (hopper/flash_bwd_launch_template.h, run_mha_bwd_hdim*): (Br, Bc); two MMA
# warpgroups, each owning Bc/2 of the CTA's keys (its dK/dV accumulator rows), Q and dO in two TMA stages.
FA3_BWD_TILES = {64: (128, 128), 96: (64, 128), 128: (64, 128), 192: (64, 96), 256: (64, 80)}
FA3_BWD_GROUPS = 2
FA3_BWD_STAGES = 2
BWD_MAX_HEAD_DIM = 256


@dataclass(frozen=True)
class Backward:
    """A backward cascade as the kernels see it: the forward attention's shape and, per role, the given cascade's
    Einsum name."""
    a: Attention
    forward: Cascade
    einsums: tuple[tuple[str, str], ...]      # (role, the given cascade's Einsum), in statement order

    @property
    def names(self) -> dict[str, tuple[str, ...]]:
        """Role → the given cascade's Einsums."""
        out: dict[str, tuple[str, ...]] = {}
        for role, name in self.einsums:
            out[role] = out.get(role, ()) + (name,)
        return out


def derivation() -> Callable[[Cascade], Cascade] | None:
    """`workloads.backward` (the function, also where the attribute is still its package), or None."""
    found = getattr(workloads, "backward", None)
    if found is None:
        try:
            found = importlib.import_module("workloads.backward")
        except ImportError:
            return None
    return getattr(found, "backward", None) if isinstance(found, types.ModuleType) else found


def _forwards(bc: Cascade) -> list[Cascade]:
    """The forward cascades `bc` may be the backward of: its sizes, mask and dtype over every softmax form."""
    s = bc.sizes
    need = {"B", "M", "P", "E", "F"}
    if not need | {"H"} <= set(s):
        return []
    causal = any(isinstance(mk, Causal) for mk in bc.masks)
    common = dict(batch=s["B"], heads=s["H"], seq=s["M"], seq_kv=s["P"], head_dim=s["E"], head_dim_v=s["F"],
                  causal=causal, dtype=bc.dtype)
    variant, extra = ("gqa", {"kv_heads": s["G"]}) if "G" in s else ("mha", {})
    out = []
    for form in SOFTMAX_FORMS:
        tile = {} if form == "3pass" or "P0" not in s else {"key_tile": s["P0"]}
        for kw in ({**common, **extra, **tile, "softmax": form}, {**common, **extra, "softmax": form}):
            try:
                out.append(workloads.attention(variant, **kw))
            except CascadeError:
                continue
    return out


def recognise(bc) -> Backward | str:
    """The backward's shape, or why no backward kernel runs it exactly."""
    if not isinstance(bc, Cascade):
        return f"expected a workloads.Cascade, got {type(bc).__name__} (e.g. workloads.backward(forward))"
    try:
        return _recognise(bc)
    except TypeError:        # an unhashable cascade
        return _recognise.__wrapped__(bc)


@functools.lru_cache(maxsize=128)
def _recognise(bc: Cascade) -> Backward | str:
    derive = derivation()
    if derive is None:
        return "workloads.backward is not available: backward cascades cannot be recognised"
    if bc.dtype not in BWD_DTYPES:
        return (f"dtype {bc.dtype}: the backward kernels are modelled for {', '.join(BWD_DTYPES)} (FlashAttention-3's "
                f"FP8 path is forward-only)")
    if len(bc.inputs) != len(BWD_INPUTS) or bc.inits:
        return (f"{bc.name} is not a FlashAttention-form backward: it has {len(bc.inputs)} inputs"
                f"{' and initial values' if bc.inits else ''}, the backward of softmax attention has "
                f"{len(BWD_INPUTS)} ({', '.join(BWD_INPUTS)}) and none (e.g. workloads.backward(workloads."
                f"attention('mha', ...)))")
    target = workloads.structure(bc)
    for fwd in _forwards(bc):
        try:
            ref = derive(fwd)
        except CascadeError:
            continue
        if workloads.structure(ref) == target:
            return _shape(bc, fwd, ref)
    return (f"{bc.name} is not the FlashAttention-form backward (workloads.backward) of softmax attention with MHA "
            f"or grouped heads and no mask or a causal one: the backward kernels run only that (e.g. "
            f"workloads.backward(workloads.attention('mha', ...)))")


def role_of(name: str) -> str | None:
    """The role an Einsum of the FlashAttention form plays: its name, or the longest role its name extends
    (`dQ_QK`, the grouped heads' dQ before its reshape, is part of dQ)."""
    if name in ROLES:
        return name
    return max((r for r in ROLES if name.startswith(f"{r}_")), key=len, default=None)


def _shape(bc: Cascade, fwd: Cascade, ref: Cascade) -> Backward | str:
    a = attention(fwd)
    if isinstance(a, str):
        return a
    roles = [(role_of(r.name), e.name) for r, e in zip(ref.einsums, bc.einsums)]
    missing = sorted(set(ROLES) - {r for r, _ in roles})
    if missing or any(r is None for r, _ in roles):
        return (f"the backward of {fwd.name} has Einsums {[e.name for e in ref.einsums][:12]}; the kernels model "
                f"the roles {list(ROLES)}")
    return Backward(a, fwd, tuple(roles))


def shape_of(c: Cascade, name: str) -> Backward:
    """The recognised backward, or MappingError (for plans and lowerings called without `supports`)."""
    b = recognise(c)
    if isinstance(b, str):
        raise MappingError(f"{name}: {b}")
    return b


def _kernel_reason(b: Backward, tiles: dict, grouped: bool) -> str | None:
    a = b.a
    if a.e != a.f:
        return f"head dims E={a.e}, F={a.f}: the backward kernels take one head dim for Q, K and V"
    if a.e > BWD_MAX_HEAD_DIM:
        return f"head dim {a.e} > {BWD_MAX_HEAD_DIM}, the largest the backward kernels are built for"
    if a.e > max(tiles):
        return f"head dim {a.e}: this kernel is built for head dims {sorted(tiles)}"
    if a.group > 1 and not grouped:
        return ("grouped heads: FlashAttention-3's backward accumulates the sharing heads' dK/dV in fp32, which is "
                "not modelled (flash2-bwd runs grouped heads)")
    return None


def _arch_reason(arch: Arch, hopper: bool) -> str | None:
    why = gpu_reason(arch)
    if why:
        return why
    if blackwell_reason(arch) is None:
        return (f"{arch.name} is Blackwell (SM100): its backward kernels (FlashAttention-4, cuDNN) run tcgen05 MMA "
                f"into tensor memory, which is not modelled for the backward")
    return wgmma_reason(arch) if hopper else None


def fa2_bwd_supports(c: Cascade, arch: Arch) -> str | None:
    """FlashAttention's backward of softmax MHA/GQA (no mask or causal), fp16/bf16, head dims ≤ 256, on Ampere and
    Hopper GPUs."""
    b = recognise(c)
    return b if isinstance(b, str) else (_arch_reason(arch, False) or _kernel_reason(b, FA2_BWD_TILES, True))


def fa3_bwd_supports(c: Cascade, arch: Arch) -> str | None:
    """As flash2-bwd, on Hopper's warpgroup MMA path, MHA only."""
    b = recognise(c)
    return b if isinstance(b, str) else (_arch_reason(arch, True) or _kernel_reason(b, FA3_BWD_TILES, False))


def smem_bytes(a: Attention, p, fa3: bool) -> int:
    """Shared memory of one CTA: Q in `stages` buffers, dO (staged too on FA3), the K and V tile, P and dS, and on
    FA3 the fp32 dQ tile staged for its bulk reduce-add (FA2's kSmemSize: 144 KB at D=64 and D=128, 176 KB at 256)."""
    br, bc, d, st = p["q_tile"], p["kv_tile"], a.e, p["stages"]
    elems = st * br * d + (st if fa3 else 1) * br * d + 2 * bc * d + 2 * br * bc
    return elems * a.elem + (br * d * FP32_BYTES if fa3 else 0)


def fit_stages(a: Attention, p: dict, sm: SM, fa3: bool, pinned) -> dict:
    """The default stages lowered to what shared memory holds (FA2 at D=256 on an A100's 164 KB runs without
    the Q double buffer, as its launch template chooses)."""
    if "stages" not in pinned:
        while p["stages"] > 1 and smem_bytes(a, p, fa3) > sm.smem_bytes:
            p["stages"] -= 1
    return p


def check_fit(name: str, a: Attention, p, sm: SM, fa3: bool) -> None:
    """Refuse a mapping the SM cannot hold, naming what does not fit."""
    need = smem_bytes(a, {**p, "stages": p["stages"]}, fa3) * p["ctas_per_sm"]
    if need > sm.smem_bytes:
        raise MappingError(f"{name}: q_tile={p['q_tile']}, kv_tile={p['kv_tile']}, stages={p['stages']}, "
                           f"ctas_per_sm={p['ctas_per_sm']} need {need} B of shared memory; an SM has "
                           f"{sm.smem_bytes} B (use smaller tiles or fewer stages)")
    groups = p.get("groups", 1)
    if p["kv_tile"] % groups:
        raise MappingError(f"{name}: kv_tile={p['kv_tile']} must split into {groups} warpgroups' keys")
    warps = p.get("warps", 0)
    if warps > MAX_WARPS_PER_CTA:
        raise MappingError(f"{name}: warps={warps} > {MAX_WARPS_PER_CTA}, the most warps a CTA can have")
    for key in ("layout_sdp", "layout_dkv", "layout_dq"):
        if key in p and warps % p[key]:
            raise MappingError(f"{name}: {key}={p[key]} must divide warps={warps} (warps along one side of the "
                               f"output tile)")


def fa2_bwd_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """FA2's backward launch-template tiles and warp layouts for the head dim."""
    b = shape_of(c, "flash2-bwd")
    sm = sm_rates(check_arch(arch, "flash2-bwd"), b.a.dtype)
    br, bc, warps, sdp, dkv, dq = pick(FA2_BWD_TILES, b.a.e)
    p = constrain("flash2-bwd", {"q_tile": br, "kv_tile": bc, "warps": warps, "layout_sdp": sdp, "layout_dkv": dkv,
                                 "layout_dq": dq, "stages": FA2_BWD_STAGES, "ctas_per_sm": 1}, constraints)
    p = fit_stages(b.a, p, sm, False, constraints)
    check_fit("flash2-bwd", b.a, p, sm, False)
    return mapping("flash2-bwd", c, p)


def fa3_bwd_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """FA3's backward tiles for the head dim, two MMA warpgroups, two Q/dO stages (fewer where they do not fit)."""
    b = shape_of(c, "flash3-bwd")
    sm = sm_rates(check_arch(arch, "flash3-bwd"), b.a.dtype)
    br, bc = pick(FA3_BWD_TILES, b.a.e)
    p = constrain("flash3-bwd", {"q_tile": br, "kv_tile": bc, "groups": FA3_BWD_GROUPS, "stages": FA3_BWD_STAGES,
                                 "ctas_per_sm": 1}, constraints)
    p = fit_stages(b.a, p, sm, True, constraints)
    check_fit("flash3-bwd", b.a, p, sm, True)
    return mapping("flash3-bwd", c, p)


def fa2_bwd_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Tiles of FA2's backward templates, Q buffering."""
    return {"q_tile": (64, 128), "kv_tile": (64, 128), "stages": (1, 2)}


def fa3_bwd_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Tiles of FA3's backward templates, Q/dO stages."""
    return {"q_tile": (64, 128), "kv_tile": (64, 80, 96, 128), "stages": (1, 2)}


def fa_convention_flops(a: Attention) -> float:
    """FLOPs of the backward in FlashAttention's benchmark convention: 2.5 × the forward's 4·B·H·M·P·D (halved when
    causal) — five GEMM-shaped products against the forward's two (Dao, "FlashAttention-2", 2023, §4)."""
    return 2.5 * 4.0 * a.batch * a.heads * a.m * a.p * a.e / (2 if a.causal else 1)
