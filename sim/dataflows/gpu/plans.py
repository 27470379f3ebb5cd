"""Shared by the GPU plans: mapping construction, pinned choices, and the attention/arch checks of `supports`."""
from __future__ import annotations

import math
import numbers
from typing import Any, Mapping as MappingType

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.constants import ATTENTION_DTYPES
from sim.dataflows.gpu.costs import mod_ops
from sim.dataflows.gpu.machine import blackwell_reason, gpu_reason, tensor_rate_reason, wgmma_reason
from sim.dataflows.gpu.shape import Attention, attention
from sim.ir.mapping import FusionGroup, Mapping, MappingError


# FlashAttention's `num_splits_heuristic` (flash_api.cpp), for split-KV decode and split-K GEMMs alike.
SPLIT_FILL = 0.8           # no split once the CTAs fill 80% of those slots (same heuristic)
SPLIT_EFFICIENCY = 0.85    # the fewest splits within 85% of the best wave efficiency (same heuristic)
MAX_SPLITS = 128           # (same heuristic)


def split_heuristic(ctas: int, slots: int, n_tiles: int, max_splits: int = MAX_SPLITS) -> int:
    """FlashAttention's `num_splits_heuristic`: the fewest splits whose wave efficiency (waves / ⌈waves⌉) is
    within SPLIT_EFFICIENCY of the best, among splits that fill fewer than SPLIT_FILL of the slots unsplit. A split
    count is eligible only if it changes the KV tiles per split (so no split is left empty)."""
    if ctas >= SPLIT_FILL * slots:
        return 1
    options = [k for k in range(1, min(max_splits, n_tiles) + 1)
               if k == 1 or -(-n_tiles // k) != -(-n_tiles // (k - 1))]
    eff = [(ctas * k / slots) / math.ceil(ctas * k / slots) for k in options]
    best = max(eff)
    return next(k for k, e in zip(options, eff) if e >= SPLIT_EFFICIENCY * best)


MAX_PIN = 1 << 30      # the largest integer a tile, stage or split pin may be (bigger ones cannot fit anything)
FLASH_MAX_HEAD_DIM = 256   # FlashAttention-2/-3 kernels are instantiated up to head dim 256


def mapping(name: str, c: Cascade, params: MappingType[str, Any]) -> Mapping:
    """The mapping of a single fused kernel group over all the cascade's Einsums."""
    return Mapping(dataflow=name, groups=(FusionGroup(tuple(e.name for e in c.einsums)),),
                   binding={e.name: "tensor" for e in c.einsums}, params=dict(params))


def constrain(name: str, defaults: MappingType[str, Any], constraints: MappingType[str, Any]) -> dict[str, Any]:
    """The defaults with `constraints` pinned. Unknown names, and values unlike their default (positive integers,
    tuples of them, booleans), are refused naming the valid ones."""
    if not isinstance(constraints, MappingType):
        raise MappingError(f"{name}: constraints must be a mapping of mapping parameter to value, "
                           f"got {type(constraints).__name__}")
    unknown = sorted(str(k) for k in constraints if k not in defaults)
    if unknown:
        raise MappingError(f"{name}: unknown mapping parameter(s) {unknown[:8]} (valid: {sorted(defaults)})")
    params = dict(defaults)
    for key, value in constraints.items():
        params[key] = _pin(name, key, value, defaults[key])
    return params


def _pin(name: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        need = "True or False"
    elif isinstance(default, int):
        if _positive(value):
            return int(value)
        need = f"a positive integer ≤ {MAX_PIN}"
    else:
        if isinstance(value, (tuple, list)) and len(value) == len(default) and all(map(_positive, value)):
            return tuple(int(x) for x in value)
        need = f"{len(default)} positive integers ≤ {MAX_PIN}"
    raise MappingError(f"{name}: mapping parameter {key}={str(value)[:80]} must be {need} (default {default!r})")


def _positive(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 1 <= value <= MAX_PIN


def attention_reason(c: Cascade, arch: Arch, *, max_dim: int = FLASH_MAX_HEAD_DIM, local: bool = False,
                     sigmoid: bool = True, mla: bool = False, hopper: bool = False, bias: bool = True,
                     blackwell: bool = False, fp8: bool = False) -> str | None:
    """None if a fused attention kernel with these abilities runs `c` on `arch` exactly, else why not. `hopper`:
    the kernel issues Hopper's wgmma; `blackwell`: tcgen05 MMA into tensor memory; `fp8`: it has an FP8 forward
    (the arch must state an FP8 tensor rate)."""
    why = gpu_reason(arch) or (wgmma_reason(arch) if hopper else None) or (blackwell_reason(arch) if blackwell
                                                                             else None)
    if why:
        return why
    a = attention(c)
    if isinstance(a, str):
        return a
    if a.dtype == "fp8" and fp8:
        why = tensor_rate_reason(arch, "fp8")
        if why:
            return why
    elif a.dtype not in ATTENTION_DTYPES:
        return (f"dtype {a.dtype} is not modelled for fused attention on this kernel (modelled: "
                f"{', '.join(ATTENTION_DTYPES)}; FP8 forward runs on flash3 and flash-blackwell)")
    if a.mla != mla:
        return ("MLA's absorbed form runs on `mla-decode`" if a.mla else
                "needs MLA's absorbed form (queries QN, QR over the latent cache CKV, KR; workloads.attention('mla'))")
    if max(a.e, a.f) > max_dim:
        return f"head dim {max(a.e, a.f)} > {max_dim}, the largest this kernel has"
    if (a.neighborhood is not None) != local:
        return "neighborhood masks run on the `gna` dataflow" if a.neighborhood else "no neighborhood (GNA) mask"
    if a.sigmoid and not sigmoid:
        return "sigmoid attention is not modelled on this kernel (flash2, flash3 and gpu-unfused run it)"
    if a.bias and not bias:
        return f"score-mod input {a.bias[0].name} is not modelled on this kernel"
    try:
        mod_ops(a, arch)
    except MappingError as err:
        return str(err)
    return None


def shape_of(c: Cascade, name: str) -> Attention:
    """The attention shape, or MappingError (for plans and lowerings called without `supports`)."""
    a = attention(c)
    if isinstance(a, str):
        raise MappingError(f"{name}: {a}")
    return a


def check_arch(arch: Any, name: str) -> Arch:
    """The arch if it is a GPU the model runs, else MappingError with why."""
    why = gpu_reason(arch)
    if why:
        raise MappingError(f"{name}: {why}")
    return arch
