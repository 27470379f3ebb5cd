"""FLOP and compulsory-byte counts for measured cases: pure functions of shapes.

One FLOP convention, the simulator's: 2 FLOPs per multiply-accumulate over the (query, key) pairs the mask actually
attends, i.e. attention FLOPs = 2·B·H·pairs·(D + Dv). A causal mask is bottom-right aligned (query i of M sees keys
≤ i + P − M of P), so one decode token attends every key and a causal square mask attends M(M+1)/2 pairs — not the
M²/2 of FlashAttention's benchmark convention (Dao, "FlashAttention-2", 2023), which only the transcription of
published rates uses (validation.data.fa2_public). `tests/validation/test_flop_convention.py` checks that every
harness row counts exactly `workloads.flops` of the cascade it is compared with.
Bytes are compulsory traffic: every input read once, every output written once.
"""
from __future__ import annotations

from validation.errors import ValidationError

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1, "float64": 8}


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype named like torch's (`"bfloat16"`)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValidationError(f"unknown dtype {dtype!r}; known: {sorted(DTYPE_BYTES)}") from None


def dense_pairs(seq_q: int, seq_kv: int, causal: bool = False) -> int:
    """Attended (query, key) pairs of one head: Sq·Skv, or causal (bottom-right aligned) the keys ≤ i + Skv − Sq of
    each query i — Σ over the min(Sq, Skv) queries that see any key of 1 … Skv keys, ending at Skv."""
    if not causal:
        return seq_q * seq_kv
    seeing = min(seq_q, seq_kv)
    first = seq_kv - seeing + 1
    return seeing * (first + seq_kv) // 2


def attention_flops(batch: int, heads: int, pairs: int, head_dim: int, head_dim_v: int | None = None) -> float:
    """Forward attention FLOPs: 2·B·H·pairs·(D + Dv) — QKᵀ and PV, 2 FLOPs per MAC, over the attended pairs."""
    dv = head_dim if head_dim_v is None else head_dim_v
    return 2.0 * batch * heads * pairs * (head_dim + dv)


def attention_bytes(batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int, head_dim: int,
                    head_dim_v: int | None, elem_bytes: int) -> float:
    """Compulsory bytes: Q and K/V (kv_heads of them) read once, O written once."""
    dv = head_dim if head_dim_v is None else head_dim_v
    q = batch * heads * seq_q * head_dim
    kv = batch * kv_heads * seq_kv * (head_dim + dv)
    o = batch * heads * seq_q * dv
    return float((q + kv + o) * elem_bytes)


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
