"""FLOP and compulsory-byte counts for measured cases: pure functions of shapes.

FLOPs follow FlashAttention's benchmark convention (reference §3): forward = 4·B·Sq·Skv·H·D (two matmuls of 2 FLOPs per
MAC), halved when causal; a value head dim different from the query/key head dim splits the 4 into 2·D + 2·Dv.
Bytes are compulsory traffic: every input read once, every output written once.
"""
from __future__ import annotations

import math

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1, "float64": 8}


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype named like torch's (`"bfloat16"`)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: {sorted(DTYPE_BYTES)}") from None


def attention_flops(batch: int, heads: int, seq_q: int, seq_kv: int, head_dim: int, head_dim_v: int | None = None,
                    causal: bool = False) -> float:
    """Forward attention FLOPs: 2·B·H·Sq·Skv·(D + Dv), halved when causal (FlashAttention's convention)."""
    dv = head_dim if head_dim_v is None else head_dim_v
    flops = 2.0 * batch * heads * seq_q * seq_kv * (head_dim + dv)
    return flops / 2 if causal else flops


def attention_bytes(batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int, head_dim: int,
                    head_dim_v: int | None, elem_bytes: int) -> float:
    """Compulsory bytes: Q and K/V (kv_heads of them) read once, O written once."""
    dv = head_dim if head_dim_v is None else head_dim_v
    q = batch * heads * seq_q * head_dim
    kv = batch * kv_heads * seq_kv * (head_dim + dv)
    o = batch * heads * seq_q * dv
    return float((q + kv + o) * elem_bytes)


def gna_flops(batch: int, heads: int, tokens: int, window: tuple[int, ...], head_dim: int) -> float:
    """Non-causal (G)NA FLOPs = 4·B·H·N·prod(window)·D for any stride (reference §5)."""
    return 4.0 * batch * heads * tokens * math.prod(window) * head_dim


def mla_decode_flops(batch: int, heads: int, seq_q: int, seq_kv: int, d_k: int, d_v: int) -> float:
    """MLA (absorbed) decode FLOPs = 2·B·h_q·s_q·s_k·(d_k + d_v) (reference §7)."""
    return 2.0 * batch * heads * seq_q * seq_kv * (d_k + d_v)


def gemm_flops(m: int, n: int, k: int) -> float:
    """2·M·N·K."""
    return 2.0 * m * n * k


def gemm_bytes(m: int, n: int, k: int, in_bytes: int, out_bytes: int) -> float:
    """A (M×K) and B (K×N) read once, C (M×N) written once."""
    return float((m * k + k * n) * in_bytes + m * n * out_bytes)


def copy_bytes(nbytes: int) -> float:
    """A copy reads and writes every byte: 2 × size."""
    return 2.0 * nbytes


def tflops(flops: float, time_ms: float) -> float:
    """Achieved TFLOP/s."""
    return flops / (time_ms * 1e-3) / 1e12


def gbps(nbytes: float, time_ms: float) -> float:
    """Achieved GB/s (1e9 bytes per second)."""
    return nbytes / (time_ms * 1e-3) / 1e9


def time_ms_from_tflops(flops: float, tflops_value: float) -> float:
    """Inverse of `tflops`: the time a published TFLOP/s figure implies."""
    return flops / (tflops_value * 1e12) * 1e3
