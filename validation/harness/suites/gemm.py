"""The `gemm` and `ceilings` suites: matrix products (bf16, fp16, fp8 through torch._scaled_mm) and the two measured
ceilings a "measured" roofline uses (a large device-to-device copy, counting bytes read + written; an 8192³ bf16
matmul)."""
from __future__ import annotations

from typing import Any, Callable

from validation.harness.cases import Case, Env, randn
from validation.harness.counts import copy_bytes, dtype_bytes, gemm_bytes, gemm_flops

FP8 = "float8_e4m3fn"


def fp8_supported(env: Env) -> str | None:
    """FP8 tensor-core matmul needs compute capability ≥ 8.9 on CUDA; on the CPU we try it and record what happens."""
    if env.device_type == "cuda" and (env.compute_capability or (0, 0)) < (8, 9):
        return f"fp8 matmul needs compute capability >= 8.9, device has {env.compute_capability}"
    return None


def gemm_case(suite: str, name: str, dtype: str, m: int, n: int, k: int) -> Case:
    """C[m,n] = A[m,k] @ B[k,n]; fp8 runs torch._scaled_mm (B column-major, unit scales, bf16 output)."""
    elem = dtype_bytes(dtype)
    out_dtype = "bfloat16" if dtype == FP8 else dtype
    if dtype == FP8:
        def make_inputs(env: Env, gen: Any) -> tuple:
            import torch

            one = torch.ones((), device=env.device, dtype=torch.float32)
            return randn(env, gen, (m, k), dtype), randn(env, gen, (n, k), dtype).t(), one, one.clone()

        def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
            import torch

            return lambda a, b, sa, sb: torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16)

        backend, supports = "scaled_mm", fp8_supported
    else:
        def make_inputs(env: Env, gen: Any) -> tuple:
            return randn(env, gen, (m, k), dtype), randn(env, gen, (k, n), dtype)

        def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
            import torch

            return torch.matmul

        backend, supports = "matmul", lambda env: None
    out_bytes = m * n * dtype_bytes(out_dtype)
    return Case(suite=suite, name=name, form="gemm", dtype=dtype, backend=backend, params=dict(m=m, n=n, k=k),
                flops=gemm_flops(m, n, k), bytes=gemm_bytes(m, n, k, elem, dtype_bytes(out_dtype)), build=build,
                make_inputs=make_inputs, input_bytes=(m * k + k * n) * elem, work_bytes=out_bytes, supports=supports)


def gemm_cases(env: Env) -> list[Case]:
    """Square sizes and Llama-3-8B projections (QKV, O, gate+up, down) at 8K tokens, in bf16, fp16 and fp8."""
    if env.quick:
        squares, tokens, hidden, qkv, ffn = (64, 128), 32, 64, 96, 128
    else:
        squares, tokens, hidden, qkv, ffn = (1024, 2048, 4096, 8192, 16384), 8192, 4096, 6144, 14336
    shapes = [(f"square_{s}", s, s, s) for s in squares]
    shapes += [(f"llama3_8b_qkv_t{tokens}", tokens, qkv, hidden), (f"llama3_8b_o_t{tokens}", tokens, hidden, hidden),
               (f"llama3_8b_gate_up_t{tokens}", tokens, 2 * ffn, hidden), (f"llama3_8b_down_t{tokens}", tokens, hidden, ffn)]
    return [gemm_case("gemm", name, dtype, m, n, k) for dtype in ("bfloat16", "float16", FP8) for name, m, n, k in shapes]


def copy_case(nbytes: int) -> Case:
    """dst.copy_(src) of `nbytes`: 2·nbytes of traffic (read + write)."""
    numel = nbytes // 4

    def make_inputs(env: Env, gen: Any) -> tuple:
        import torch

        return randn(env, gen, (numel,), "float32"), torch.empty(numel, device=env.device, dtype=torch.float32)

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda src, dst: dst.copy_(src)

    return Case(suite="ceilings", name=f"d2d_copy_{nbytes // 2**20}MiB", form="copy", dtype="float32", backend="copy_",
                params=dict(copy_bytes=nbytes), flops=0.0, bytes=copy_bytes(nbytes), build=build,
                make_inputs=make_inputs, input_bytes=2 * numel * 4)


def ceilings_cases(env: Env) -> list[Case]:
    """The measured ceilings a roofline labelled "measured" uses."""
    if env.quick:
        return [copy_case(16 * 2**20), gemm_case("ceilings", "matmul_256", "bfloat16", 256, 256, 256)]
    return [copy_case(2 * 2**30), gemm_case("ceilings", "matmul_8192", "bfloat16", 8192, 8192, 8192)]
