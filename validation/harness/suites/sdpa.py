"""Cases built on `scaled_dot_product_attention`, shared by the attention, variants, decode and local suites.

Every SDPA call runs under `sdpa_kernel(<one backend>)`: a refusal raises and becomes an "unsupported" row; nothing
falls back to another backend. Backends: PyTorch's `torch.nn.attention.SDPBackend` (flash = FlashAttention-2, Dao
2023; cuDNN's fused attention; mem-efficient; math = the unfused composition).
"""
from __future__ import annotations

from typing import Any, Callable

from validation.errors import ValidationError
from validation.harness.cases import Case, Env, randn
from validation.harness.counts import attention_bytes, attention_flops, dense_pairs, dtype_bytes

SDPA_BACKENDS = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION",
                 "math": "MATH"}
ALL_BACKENDS = ("flash", "cudnn", "efficient", "math")  # measuring order: the fused kernels first


def sdpa_context(backend: str) -> Callable[[], Any]:
    """A factory for the context that pins one SDPA backend."""
    if backend not in SDPA_BACKENDS:
        raise ValidationError(f"unknown SDPA backend {backend!r}; valid: {sorted(SDPA_BACKENDS)}")

    def ctx() -> Any:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel(getattr(SDPBackend, SDPA_BACKENDS[backend]))

    return ctx


def sdpa(q: Any, k: Any, v: Any, causal: bool, scale: float | None = None) -> Any:
    """`scaled_dot_product_attention`, with `enable_gqa` when K/V have fewer heads than Q."""
    import torch.nn.functional as F

    gqa = q.shape[1] != k.shape[1]
    if gqa:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale, enable_gqa=True)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


def math_work_bytes(batch: int, heads: int, seq_q: int, seq_kv: int, kv_heads: int, head_dim: int, elem: int) -> int:
    """Rough peak extra memory of the unfused path: fp32 scores and probabilities, plus expanded K/V for GQA."""
    scores = 2 * batch * heads * seq_q * seq_kv * 4
    expand = 0 if heads == kv_heads else 2 * batch * heads * seq_kv * head_dim * elem
    return scores + expand


def sdpa_case(suite: str, name: str, dtype: str, backend: str, batch: int, heads: int, kv_heads: int, seq_q: int,
              seq_kv: int, head_dim: int, head_dim_v: int | None = None, causal: bool = False, form: str = "sdpa",
              extra: str = "") -> Case:
    """Plain SDPA on q [B,H,Sq,D], k [B,G,Skv,D], v [B,G,Skv,Dv] with one backend pinned."""
    dv = head_dim if head_dim_v is None else head_dim_v
    elem = dtype_bytes(dtype)

    def make_inputs(env: Env, gen: Any) -> tuple:
        return (randn(env, gen, (batch, heads, seq_q, head_dim), dtype),
                randn(env, gen, (batch, kv_heads, seq_kv, head_dim), dtype),
                randn(env, gen, (batch, kv_heads, seq_kv, dv), dtype))

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda q, k, v: sdpa(q, k, v, causal)

    if causal and seq_q != seq_kv:  # SDPA's is_causal is top-left aligned: another mask than the bottom-right one
        raise ValidationError(f"case {name}: causal SDPA needs seq_q == seq_kv (got {seq_q}, {seq_kv}); SDPA aligns the "
                         f"causal mask top-left, the bottom-right mask of a query block at the end of a cache differs")
    nbytes = attention_bytes(batch, heads, kv_heads, seq_q, seq_kv, head_dim, dv, elem)
    work = batch * heads * seq_q * dv * elem
    if backend == "math":
        work += math_work_bytes(batch, heads, seq_q, seq_kv, kv_heads, head_dim, elem)
    return Case(suite=suite, name=name, form=form, dtype=dtype, backend=f"sdpa_{backend}",
                params=dict(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv,
                            head_dim=head_dim, head_dim_v=dv, causal=causal, extra=extra),
                flops=attention_flops(batch, heads, dense_pairs(seq_q, seq_kv, causal), head_dim, dv), bytes=nbytes,
                build=build, make_inputs=make_inputs, input_bytes=int(nbytes - batch * heads * seq_q * dv * elem),
                work_bytes=int(work), context=sdpa_context(backend))
