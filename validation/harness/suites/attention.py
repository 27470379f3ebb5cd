"""The `attention` suite: FlashAttention's benchmark shapes (Dao, "FlashAttention-2", 2023: B·S = 16K tokens, hidden
2048, H = 2048/D) under every SDPA backend and both half-precision dtypes, plus long sequences; and the same shapes in
FP16 through the FlashAttention packages when they are installed — `flash_attn` (FlashAttention-2) and
`flash_attn_interface` (FlashAttention-3, Shah et al. 2024, Hopper only) — whose rows are recorded as unsupported,
with the reason, where they are not."""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import replace
from typing import Any, Callable

from validation.harness.cases import Case, Env, randn
from validation.harness.suites.sdpa import ALL_BACKENDS, sdpa_case

# backend name → (module, function, minimum compute capability)
FLASH_PACKAGES = {"flash_attn": ("flash_attn", "flash_attn_func", (8, 0)),
                  "flash_attn3": ("flash_attn_interface", "flash_attn_func", (9, 0))}
PACKAGE_DTYPE = "float16"  # the FlashAttention papers' benchmark precision
PACKAGES_BEFORE = "efficient"  # measuring order under a time budget: the packages after flash and cuDNN


def package_refusal(backend: str, env: Env) -> str | None:
    """Why a FlashAttention package cannot run here (CPU, too old a GPU, not installed), else None."""
    module, _, need = FLASH_PACKAGES[backend]
    if env.device_type != "cuda":
        return f"{module} runs on CUDA GPUs only"
    if (env.compute_capability or (0, 0)) < need:
        return f"{module} needs compute capability >= {need[0]}.{need[1]}, device has {env.compute_capability}"
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure means the package cannot be timed here
        return f"{module} not installed ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def package_case(name: str, backend: str, b: int, h: int, s: int, d: int, causal: bool) -> Case:
    """One benchmark shape through a FlashAttention package's `flash_attn_func` (layout [B, S, H, D])."""
    module, fn, _ = FLASH_PACKAGES[backend]
    base = sdpa_case("attention", name, PACKAGE_DTYPE, "flash", b, h, h, s, s, d, causal=causal)

    def make_inputs(env: Env, gen: Any) -> tuple:
        return tuple(randn(env, gen, (b, s, h, d), PACKAGE_DTYPE) for _ in range(3))

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        attend = getattr(importlib.import_module(module), fn)
        return lambda q, k, v: attend(q, k, v, causal=causal)

    return replace(base, form="flash_package", backend=backend, make_inputs=make_inputs, build=build,
                   context=contextlib.nullcontext, supports=lambda env: package_refusal(backend, env),
                   backend_ran=f"{module}.{fn}")


def attention_cases(env: Env) -> list[Case]:
    """FlashAttention's benchmark shapes (B·S = 16K tokens, hidden 2048) with every backend pinned, plus long sequences."""
    if env.quick:
        tokens, hidden, seqs, dims, long = 512, 256, (128, 256), (64,), [(1, 2, 1024, 64)]
    else:
        tokens, hidden, seqs, dims = 16384, 2048, (512, 1024, 2048, 4096, 8192, 16384), (64, 128, 256)
        long = [(1, 16, 32768, 128), (1, 16, 65536, 128)]
    shapes = [(f"fa_bench_d{d}{'_causal' if causal else ''}_s{s}", tokens // s, hidden // d, s, d, causal)
              for d in dims for causal in (False, True) for s in seqs]
    cases = []
    for backend in ALL_BACKENDS:
        if backend == PACKAGES_BEFORE:
            cases += [package_case(name, pkg, b, h, s, d, causal) for pkg in FLASH_PACKAGES
                      for name, b, h, s, d, causal in shapes]
        for dtype in ("float16", "bfloat16"):
            cases += [sdpa_case("attention", name, dtype, backend, b, h, h, s, s, d, causal=causal)
                      for name, b, h, s, d, causal in shapes]
        for b, h, s, d in long:
            for causal in (False, True):
                cases.append(sdpa_case("attention", f"long_b{b}_h{h}_s{s}{'_causal' if causal else ''}", "bfloat16",
                                       backend, b, h, h, s, s, d, causal=causal))
    return cases
