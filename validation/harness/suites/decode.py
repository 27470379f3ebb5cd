"""The `decode` suite: query length 1 and 4 against long KV caches — GQA (Llama-3-8B) and absorbed MLA (DeepSeek-V3:
MQA over the 576-d cached latent, values its first 512 dims) — through SDPA per backend and an explicit split-KV
(flash-decoding: Dao et al., "Flash-Decoding for long-context inference", 2023) implementation."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from validation.errors import ValidationError
from validation.harness.cases import Case, Env, randn
from validation.harness.counts import attention_bytes, attention_flops, dense_pairs, dtype_bytes
from validation.harness.suites.sdpa import ALL_BACKENDS, sdpa, sdpa_case

DTYPE = "bfloat16"
MLA_QK_HEAD_DIM = 192  # DeepSeek-V3's softmax scale is 1/sqrt(128 no-rope + 64 rope dims), also after absorption

def partial_attention(q: Any, k: Any, v: Any, scale: float) -> tuple[Any, Any]:
    """Attention of q [..., M, D] over one KV chunk k [..., C, D], v [..., C, Dv] without SDPA.

    Returns (out normalised within the chunk, log-sum-exp of the chunk's scores), both in fp32 (fp64 for fp64 inputs).
    """
    import torch

    acc = torch.promote_types(q.dtype, torch.float32)
    s = (q @ k.transpose(-1, -2)).to(acc) * scale
    m = s.amax(dim=-1, keepdim=True)
    p = (s - m).exp()
    l = p.sum(dim=-1, keepdim=True)
    out = (p.to(v.dtype) @ v).to(acc) / l
    return out, (m + l.log()).squeeze(-1)


def merge_partials(outs: Any, lses: Any, dim: int) -> Any:
    """Combine per-chunk (out, lse) along `dim` with the log-sum-exp rule: out = Σ_z exp(lse_z − LSE)·out_z."""
    lse_max = lses.amax(dim=dim, keepdim=True)
    w = (lses - lse_max).exp()
    w = w / w.sum(dim=dim, keepdim=True)
    return (w.unsqueeze(-1) * outs).sum(dim=dim)


def split_kv_attention(q: Any, k: Any, v: Any, splits: int, scale: float | None = None) -> Any:
    """Flash-decoding as plain tensor math: q [B,Hq,Sq,D] (non-causal), k [B,G,Skv,D], v [B,G,Skv,Dv].

    Query heads sharing a KV head are folded into the row dimension; the KV sequence is split into `splits` chunks that
    are processed as one batched product (the parallelism split-KV buys), then merged.
    """
    b, hq, sq, d = q.shape
    g, skv, dv = k.shape[1], k.shape[2], v.shape[-1]
    if skv % splits:
        raise ValidationError(f"splits {splits} must divide the KV length {skv}")
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    chunk = skv // splits
    qg = q.reshape(b, g, 1, (hq // g) * sq, d)
    kc = k.view(b, g, splits, chunk, d)
    vc = v.view(b, g, splits, chunk, dv)
    outs, lses = partial_attention(qg, kc, vc, scale)  # [B,G,Z,M,Dv], [B,G,Z,M]
    return merge_partials(outs, lses, dim=2).to(q.dtype).reshape(b, hq, sq, dv)


def choose_splits(batch: int, kv_heads: int, seq_kv: int, sm_count: int, min_chunk: int = 256) -> int:
    """Chunks so that B·G·Z covers the SMs twice, each chunk at least `min_chunk` keys, Z dividing the KV length."""
    z = max(1, min(seq_kv // min_chunk, math.ceil(2 * sm_count / max(1, batch * kv_heads))))
    while seq_kv % z:
        z -= 1
    return z


def split_kv_case(name: str, form: str, dtype: str, batch: int, heads: int, kv_heads: int, seq_q: int, seq_kv: int,
                  d: int, dv: int, splits: int, latent_values: bool, flops: float, nbytes: float, extra: str = "") -> Case:
    """Split-KV decode as plain tensor math (`split_kv_attention`); with `latent_values` V is K's first `dv` dims."""
    elem = dtype_bytes(dtype)
    scale = 1.0 / math.sqrt(MLA_QK_HEAD_DIM if latent_values else d)

    def make_inputs(env: Env, gen: Any) -> tuple:
        q = randn(env, gen, (batch, heads, seq_q, d), dtype)
        k = randn(env, gen, (batch, kv_heads, seq_kv, d), dtype)
        return (q, k, k[..., :dv]) if latent_values else (q, k, randn(env, gen, (batch, kv_heads, seq_kv, dv), dtype))

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda q, k, v: split_kv_attention(q, k, v, splits, scale)

    input_bytes = (batch * heads * seq_q * d + batch * kv_heads * seq_kv * (d if latent_values else d + dv)) * elem
    work = 3 * batch * heads * seq_q * seq_kv * 4 + 2 * batch * heads * seq_q * splits * dv * 4
    return Case(suite="decode", name=name, form=form, dtype=dtype, backend="split_kv_torch",
                params=dict(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=d,
                            head_dim_v=dv, causal=False, splits=splits, extra=extra),
                flops=flops, bytes=nbytes, build=build, make_inputs=make_inputs, input_bytes=input_bytes,
                work_bytes=work)


def _gqa_decode(env: Env, sq: int, b: int, skv: int, h: int, g: int, d: int) -> list[Case]:
    """One GQA decode shape under every SDPA backend and the explicit split-KV implementation."""
    name = f"gqa_llama3_8b_b{b}_q{sq}_kv{skv}"
    cases = [sdpa_case("decode", name, DTYPE, backend, b, h, g, sq, skv, d, form="gqa_sdpa") for backend in ALL_BACKENDS]
    cases.append(split_kv_case(name, "gqa_split_kv", DTYPE, b, h, g, sq, skv, d, d, choose_splits(b, g, skv, env.sm_count),
                               False, attention_flops(b, h, dense_pairs(sq, skv), d),
                               attention_bytes(b, h, g, sq, skv, d, d, dtype_bytes(DTYPE))))
    return cases


def _mla_decode(env: Env, sq: int, b: int, skv: int, h: int, lat: int, rope: int) -> list[Case]:
    """One absorbed-MLA decode shape: SDPA with the heads folded into the query rows (one KV head, M = h·sq) under
    every backend, and split-KV over the latent."""
    elem = dtype_bytes(DTYPE)
    dk = lat + rope
    name = f"mla_dsv3_b{b}_q{sq}_kv{skv}"
    flops = attention_flops(b, h, dense_pairs(sq, skv), dk, lat)
    nbytes = float((b * skv * dk + b * h * sq * dk + b * h * sq * lat) * elem)
    extra = f"latent={lat};rope={rope}"

    def inputs(env: Env, gen: Any) -> tuple:
        c = randn(env, gen, (b, 1, skv, dk), DTYPE)
        return randn(env, gen, (b, 1, h * sq, dk), DTYPE), c, c[..., :lat]

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda q, c, v: sdpa(q, c, v, False, 1.0 / math.sqrt(MLA_QK_HEAD_DIM))

    cases = []
    for backend in ALL_BACKENDS:
        base = sdpa_case("decode", name, DTYPE, backend, b, 1, 1, h * sq, skv, dk, lat, form="mla_absorbed_sdpa_fold",
                         extra=extra)
        cases.append(replace(base, params=dict(base.params, heads=h, seq_q=sq, head_dim=dk, head_dim_v=lat),
                             flops=flops, bytes=nbytes, make_inputs=inputs, build=build,
                             input_bytes=int((b * skv * dk + b * h * sq * dk) * elem)))
    cases.append(split_kv_case(name, "mla_absorbed_split_kv", DTYPE, b, h, 1, sq, skv, dk, lat,
                               choose_splits(b, 1, skv, env.sm_count), True, flops, nbytes, extra))
    return cases


def decode_cases(env: Env) -> list[Case]:
    """Query length 1 and 4 against long KV caches: GQA (Llama-3-8B) and MLA absorbed (DeepSeek-V3), SDPA per backend
    plus an explicit split-KV (flash-decoding) implementation. Multi-query rows are non-causal (SDPA's causal mask is
    top-left aligned, which would be wrong for a query block at the end of the cache)."""
    if env.quick:
        gqa = dict(h=8, g=2, d=32, batches=(1, 4), kvs=(256, 1024))
        mla = dict(h=16, lat=64, rope=16, batches=(1, 4), kvs=(256, 1024))
    else:
        gqa = dict(h=32, g=8, d=128, batches=(1, 16, 64, 256), kvs=(1024, 8192, 32768, 131072))
        mla = dict(h=128, lat=512, rope=64, batches=(1, 32, 128), kvs=(1024, 8192, 32768))
    cases: list[Case] = []
    for sq in (1, 4):
        for b in gqa["batches"]:
            for skv in gqa["kvs"]:
                cases += _gqa_decode(env, sq, b, skv, gqa["h"], gqa["g"], gqa["d"])
        for b in mla["batches"]:
            for skv in mla["kvs"]:
                cases += _mla_decode(env, sq, b, skv, mla["h"], mla["lat"], mla["rope"])
    return cases
