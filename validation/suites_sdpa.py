"""Suites built on scaled_dot_product_attention: `attention`, `variants` and `decode` (reference §3, §7).

Every SDPA call runs under `sdpa_kernel(<one backend>)`: a refusal raises and becomes an "unsupported" row; nothing
falls back to another backend.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from validation.cases import Case, Env, randn
from validation.counts import attention_bytes, attention_flops, dtype_bytes, gemm_flops, mla_decode_flops

SDPA_BACKENDS = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION",
                 "math": "MATH"}
ALL_BACKENDS = ("flash", "cudnn", "efficient", "math")  # measuring order: the fused kernels first


def sdpa_context(backend: str) -> Callable[[], Any]:
    """A factory for the context that pins one SDPA backend."""
    if backend not in SDPA_BACKENDS:
        raise ValueError(f"unknown SDPA backend {backend!r}; valid: {sorted(SDPA_BACKENDS)}")

    def ctx() -> Any:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel(getattr(SDPBackend, SDPA_BACKENDS[backend]))

    return ctx


def sdpa(q: Any, k: Any, v: Any, causal: bool, scale: float | None = None) -> Any:
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

    nbytes = attention_bytes(batch, heads, kv_heads, seq_q, seq_kv, head_dim, dv, elem)
    work = batch * heads * seq_q * dv * elem
    if backend == "math":
        work += math_work_bytes(batch, heads, seq_q, seq_kv, kv_heads, head_dim, elem)
    return Case(suite=suite, name=name, form=form, dtype=dtype, backend=f"sdpa_{backend}",
                params=dict(batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q, seq_kv=seq_kv,
                            head_dim=head_dim, head_dim_v=dv, causal=causal, extra=extra),
                flops=attention_flops(batch, heads, seq_q, seq_kv, head_dim, dv, causal), bytes=nbytes,
                build=build, make_inputs=make_inputs, input_bytes=int(nbytes - batch * heads * seq_q * dv * elem),
                work_bytes=int(work), context=sdpa_context(backend))


# ---------------------------------------------------------------- attention
def attention_cases(env: Env) -> list[Case]:
    """FlashAttention's benchmark shapes (B·S = 16K tokens, hidden 2048) with every backend pinned, plus long sequences."""
    if env.quick:
        tokens, hidden, seqs, dims, long = 512, 256, (128, 256), (64,), [(1, 2, 1024, 64)]
    else:
        tokens, hidden, seqs, dims = 16384, 2048, (512, 1024, 2048, 4096, 8192, 16384), (64, 128, 256)
        long = [(1, 16, 32768, 128), (1, 16, 65536, 128)]
    cases = []
    for backend in ALL_BACKENDS:
        for dtype in ("float16", "bfloat16"):
            for d in dims:
                for causal in (False, True):
                    for s in seqs:
                        b, h = tokens // s, hidden // d
                        cases.append(sdpa_case("attention", f"fa_bench_d{d}{'_causal' if causal else ''}_s{s}", dtype,
                                               backend, b, h, h, s, s, d, causal=causal))
        for b, h, s, d in long:
            for causal in (False, True):
                cases.append(sdpa_case("attention", f"long_b{b}_h{h}_s{s}{'_causal' if causal else ''}", "bfloat16",
                                       backend, b, h, h, s, s, d, causal=causal))
    return cases


# ---------------------------------------------------------------- variants
def _kv_repeat_case(name: str, dtype: str, batch: int, heads: int, kv_heads: int, seq: int, d: int) -> Case:
    """GQA done the old way: K/V heads materialised with repeat_interleave, then MHA (the copy is timed too)."""
    base = sdpa_case("variants", name, dtype, "flash", batch, heads, kv_heads, seq, seq, d, causal=True,
                     form="gqa_kv_repeat")
    rep = heads // kv_heads

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda q, k, v: sdpa(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1), True)

    return replace(base, build=build,
                   work_bytes=base.work_bytes + 2 * batch * heads * seq * d * dtype_bytes(dtype))


def _matmul_case(name: str, form: str, dtype: str, a_shape: tuple, b_shape: tuple, params: dict) -> Case:
    """A batched matmul a @ b (broadcasting), counted as 2·prod(out)·K FLOPs."""
    import numpy as np

    out_shape = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2])) + (a_shape[-2], b_shape[-1])
    k = a_shape[-1]
    elem = dtype_bytes(dtype)
    in_bytes = (math.prod(a_shape) + math.prod(b_shape)) * elem
    out_bytes = math.prod(out_shape) * elem

    def make_inputs(env: Env, gen: Any) -> tuple:
        return randn(env, gen, a_shape, dtype), randn(env, gen, b_shape, dtype)

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        import torch

        return torch.matmul

    return Case(suite="variants", name=name, form=form, dtype=dtype, backend="matmul", params=params,
                flops=2.0 * math.prod(out_shape) * k, bytes=float(in_bytes + out_bytes), build=build,
                make_inputs=make_inputs, input_bytes=in_bytes, work_bytes=out_bytes)


def mla_cases(dtype: str, batch: int, seq: int, heads: int, backends: tuple[str, ...], quick: bool) -> list[Case]:
    """DeepSeek MLA prefill: naive (K/V heads materialised from the latent) vs absorbed (MQA over the 576-d latent)."""
    lat, rope, nope, dv = (64, 16, 32, 32) if quick else (512, 64, 128, 128)
    dk = nope + rope  # 192
    elem = dtype_bytes(dtype)
    scale = 1.0 / math.sqrt(dk)
    cases: list[Case] = []
    p_common = dict(batch=batch, heads=heads, seq_q=seq, seq_kv=seq, causal=True)
    extra = f"latent={lat};rope={rope};nope={nope}"
    # pieces timed separately
    cases.append(_matmul_case(f"mla_naive_kvproj_s{seq}", "mla_naive_kvproj", dtype, (batch, seq, lat),
                              (lat, heads * (nope + dv)), dict(p_common, head_dim=dk, head_dim_v=dv, extra=extra)))
    cases.append(_matmul_case(f"mla_absorbed_qproj_s{seq}", "mla_absorbed_qproj", dtype, (batch, heads, seq, nope),
                              (heads, nope, lat), dict(p_common, head_dim=lat + rope, head_dim_v=lat, extra=extra)))
    cases.append(_matmul_case(f"mla_absorbed_oproj_s{seq}", "mla_absorbed_oproj", dtype, (batch, heads, seq, lat),
                              (heads, lat, dv), dict(p_common, head_dim=lat + rope, head_dim_v=lat, extra=extra)))
    for backend in backends:
        naive = sdpa_case("variants", f"mla_naive_sdpa_s{seq}", dtype, backend, batch, heads, heads, seq, seq, dk, dv,
                          causal=True, form="mla_naive_sdpa", extra=extra)
        cases.append(naive)
        absorbed = sdpa_case("variants", f"mla_absorbed_sdpa_s{seq}", dtype, backend, batch, heads, 1, seq, seq,
                             lat + rope, lat, causal=True, form="mla_absorbed_sdpa", extra=extra)

        def absorbed_inputs(env: Env, gen: Any) -> tuple:
            c = randn(env, gen, (batch, 1, seq, lat + rope), dtype)
            return randn(env, gen, (batch, heads, seq, lat + rope), dtype), c, c[..., :lat]

        def absorbed_build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
            return lambda q, c, v: sdpa(q, c, v, True, scale)

        cases.append(replace(absorbed, make_inputs=absorbed_inputs, build=absorbed_build,
                             bytes=absorbed.bytes - batch * seq * lat * elem))
        # whole naive path: latent -> K/V heads (matmul), rope part broadcast, SDPA
        kv_flops = gemm_flops(batch * seq, heads * (nope + dv), lat)

        def naive_inputs(env: Env, gen: Any) -> tuple:
            return (randn(env, gen, (batch, heads, seq, dk), dtype), randn(env, gen, (batch, seq, lat), dtype),
                    randn(env, gen, (batch, 1, seq, rope), dtype), randn(env, gen, (lat, heads * (nope + dv)), dtype))

        def naive_build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
            import torch

            def run(q: Any, c: Any, k_rope: Any, w_ukv: Any) -> Any:
                kv = (c @ w_ukv).view(batch, seq, heads, nope + dv).transpose(1, 2)
                k = torch.cat([kv[..., :nope], k_rope.expand(batch, heads, seq, rope)], dim=-1)
                return sdpa(q, k, kv[..., nope:], True, scale)

            return run

        in_bytes = (batch * heads * seq * dk + batch * seq * (lat + rope) + lat * heads * (nope + dv)) * elem
        cases.append(replace(naive, name=f"mla_naive_full_s{seq}", form="mla_naive_full",
                             flops=naive.flops + kv_flops, bytes=float(in_bytes + batch * heads * seq * dv * elem),
                             make_inputs=naive_inputs, build=naive_build, input_bytes=in_bytes,
                             work_bytes=naive.work_bytes + 3 * batch * heads * seq * dk * elem))
        # whole absorbed path: q·W_UK, MQA over the latent (values = its first `lat` dims), then ·W_UV
        proj_flops = 2.0 * batch * heads * seq * nope * lat + 2.0 * batch * heads * seq * lat * dv

        def full_inputs(env: Env, gen: Any) -> tuple:
            return (randn(env, gen, (batch, heads, seq, nope), dtype), randn(env, gen, (batch, heads, seq, rope), dtype),
                    randn(env, gen, (batch, 1, seq, lat + rope), dtype), randn(env, gen, (heads, nope, lat), dtype),
                    randn(env, gen, (heads, lat, dv), dtype))

        def full_build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
            import torch

            def run(q_nope: Any, q_rope: Any, c: Any, w_uk: Any, w_uv: Any) -> Any:
                q = torch.cat([q_nope @ w_uk, q_rope], dim=-1)
                return sdpa(q, c, c[..., :lat], True, scale) @ w_uv

            return run

        in_bytes = (batch * heads * seq * dk + batch * seq * (lat + rope) + heads * lat * (nope + dv)) * elem
        cases.append(replace(absorbed, name=f"mla_absorbed_full_s{seq}", form="mla_absorbed_full",
                             flops=absorbed.flops + proj_flops,
                             bytes=float(in_bytes + batch * heads * seq * dv * elem),
                             make_inputs=full_inputs, build=full_build, input_bytes=in_bytes,
                             work_bytes=absorbed.work_bytes + 3 * batch * heads * seq * (lat + rope) * elem))
    return cases


def moh_cases(dtype: str, batch: int, seq: int, heads: int, shared: int, topk: int, d: int) -> list[Case]:
    """Mixture-of-Head attention (non-causal): shared heads + top-k of the routed heads per token.

    masked-dense: all heads computed, routed outputs multiplied by the 0/1 routing mask.
    gathered: each routed head attends only for the tokens routed to it (balanced routing: S·k/R queries per head).
    """
    routed = heads - shared
    n_sel = max(1, seq * topk // routed)
    extra = f"shared={shared};routed={routed};topk={topk};queries_per_routed_head={n_sel}"
    elem = dtype_bytes(dtype)
    dense = sdpa_case("variants", f"moh_dense_masked_s{seq}", dtype, "flash", batch, heads, heads, seq, seq, d,
                      form="moh_dense_masked", extra=extra)

    def routing(env: Env, gen: Any) -> Any:
        import torch

        idx = torch.stack([torch.randperm(seq, generator=gen, device=env.device)[:n_sel].sort().values
                           for _ in range(batch * routed)]).view(batch, routed, n_sel)
        return idx

    def dense_inputs(env: Env, gen: Any) -> tuple:
        import torch

        q, k, v = dense.make_inputs(env, gen)
        idx = routing(env, gen)
        gate = torch.ones(batch, heads, seq, 1, device=env.device, dtype=q.dtype)
        gate[:, shared:] = 0
        gate[:, shared:].scatter_(2, idx.unsqueeze(-1), 1.0)
        return q, k, v, gate

    def dense_build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda q, k, v, gate: sdpa(q, k, v, False) * gate

    cases = [replace(dense, make_inputs=dense_inputs, build=dense_build)]
    flops = attention_flops(batch, shared, seq, seq, d) + attention_flops(batch, routed, n_sel, seq, d)

    def sparse_inputs(env: Env, gen: Any) -> tuple:
        q, k, v = dense.make_inputs(env, gen)
        return q, k, v, routing(env, gen)

    def sparse_build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        import torch

        def run(q: Any, k: Any, v: Any, idx: Any) -> Any:
            out = torch.zeros_like(q)
            out[:, :shared] = sdpa(q[:, :shared], k[:, :shared], v[:, :shared], False)
            gidx = idx.unsqueeze(-1).expand(batch, routed, n_sel, d)
            q_r = torch.gather(q[:, shared:], 2, gidx)
            o_r = sdpa(q_r, k[:, shared:], v[:, shared:], False)
            out[:, shared:].scatter_(2, gidx, o_r)
            return out

        return run

    cases.append(replace(dense, name=f"moh_gathered_s{seq}", form="moh_gathered", flops=flops,
                         make_inputs=sparse_inputs, build=sparse_build,
                         work_bytes=dense.work_bytes + 2 * batch * routed * n_sel * d * elem))
    return cases


def variants_cases(env: Env) -> list[Case]:
    """MHA/GQA/MQA (Llama-3-8B dims), SQA, MLA naive vs absorbed, CCA/CCGQA, MoH masked-dense vs gathered."""
    dtype = "bfloat16"
    if env.quick:
        shapes, h, d, kvs = [(2, 128)], 8, 32, (8, 2, 1)
        mla = (1, 128, 8)
        moh = (1, 128, 8, 2, 2, 32)
    else:
        shapes, h, d, kvs = [(4, 4096), (1, 16384)], 32, 128, (32, 8, 1)
        mla = (1, 4096, 128)
        moh = (4, 4096, 32, 8, 8, 128)
    cases: list[Case] = []
    for b, s in shapes:
        for kv in kvs:  # MHA, GQA (G=8), MQA
            for backend in ALL_BACKENDS:
                cases.append(sdpa_case("variants", f"gqa_h{h}_g{kv}_s{s}", dtype, backend, b, h, kv, s, s, d,
                                       causal=True, form="gqa_native"))
            if kv != h:
                cases.append(_kv_repeat_case(f"gqa_h{h}_g{kv}_s{s}", dtype, b, h, kv, s, d))
        for hq, hkv in ((h // 2, h // 2), (h // 2, h // 4), (h // 4, h // 4)):  # SQA: fewer query heads
            for backend in ("flash", "cudnn"):
                cases.append(sdpa_case("variants", f"sqa_hq{hq}_hkv{hkv}_s{s}", dtype, backend, b, hq, hkv, s, s, d,
                                       causal=True, form="sqa"))
        # CCA / CCGQA: attention inside a latent compressed by C, as smaller heads or fewer heads (projections not timed)
        for c in (2, 4):
            for label, hq, hkv, dh in ((f"cca_c{c}_smaller_heads", h, h, d // c), (f"cca_c{c}_fewer_heads", h // c, h // c, d),
                                       (f"ccgqa_c{c}", h // c, max(1, h // (4 * c)), d)):
                for backend in ("flash", "cudnn"):
                    cases.append(sdpa_case("variants", f"{label}_s{s}", dtype, backend, b, hq, hkv, s, s, dh,
                                           causal=True, form=label.split("_c")[0], extra=f"compression={c}"))
    cases += mla_cases(dtype, mla[0], mla[1], mla[2], ALL_BACKENDS, env.quick)
    cases += moh_cases(dtype, *moh)
    return cases


# ---------------------------------------------------------------- decode
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
        raise ValueError(f"splits {splits} must divide the KV length {skv}")
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
    elem = dtype_bytes(dtype)
    scale = 1.0 / math.sqrt(192 if latent_values else d)

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


def decode_cases(env: Env) -> list[Case]:
    """Query length 1 and 4 against long KV caches: GQA (Llama-3-8B) and MLA absorbed (DeepSeek-V3), SDPA per backend
    plus an explicit split-KV (flash-decoding) implementation. Multi-query rows are non-causal (SDPA's causal mask is
    top-left aligned, which would be wrong for a query block at the end of the cache)."""
    dtype = "bfloat16"
    elem = dtype_bytes(dtype)
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
                h, g, d = gqa["h"], gqa["g"], gqa["d"]
                name = f"gqa_llama3_8b_b{b}_q{sq}_kv{skv}"
                for backend in ALL_BACKENDS:
                    cases.append(sdpa_case("decode", name, dtype, backend, b, h, g, sq, skv, d, form="gqa_sdpa"))
                z = choose_splits(b, g, skv, env.sm_count)
                cases.append(split_kv_case(name, "gqa_split_kv", dtype, b, h, g, sq, skv, d, d, z, False,
                                           attention_flops(b, h, sq, skv, d),
                                           attention_bytes(b, h, g, sq, skv, d, d, elem)))
        for b in mla["batches"]:
            for skv in mla["kvs"]:
                h, lat, rope = mla["h"], mla["lat"], mla["rope"]
                dk = lat + rope
                name = f"mla_dsv3_b{b}_q{sq}_kv{skv}"
                flops = mla_decode_flops(b, h, sq, skv, dk, lat)
                nbytes = float((b * skv * dk + b * h * sq * dk + b * h * sq * lat) * elem)
                extra = f"latent={lat};rope={rope}"
                for backend in ALL_BACKENDS:  # heads folded into the query rows: one KV head, M = h·sq
                    base = sdpa_case("decode", name, dtype, backend, b, 1, 1, h * sq, skv, dk, lat,
                                     form="mla_absorbed_sdpa_fold", extra=extra)

                    def mla_inputs(env: Env, gen: Any, b=b, skv=skv, h=h, sq=sq, dk=dk, lat=lat) -> tuple:
                        c = randn(env, gen, (b, 1, skv, dk), dtype)
                        return randn(env, gen, (b, 1, h * sq, dk), dtype), c, c[..., :lat]

                    def mla_build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
                        return lambda q, c, v: sdpa(q, c, v, False, 1.0 / math.sqrt(192))

                    cases.append(replace(base, params=dict(base.params, heads=h, seq_q=sq, head_dim=dk, head_dim_v=lat),
                                         flops=flops, bytes=nbytes, make_inputs=mla_inputs, build=mla_build,
                                         input_bytes=int((b * skv * dk + b * h * sq * dk) * elem)))
                z = choose_splits(b, 1, skv, env.sm_count)
                cases.append(split_kv_case(name, "mla_absorbed_split_kv", dtype, b, h, 1, sq, skv, dk, lat, z, True,
                                           flops, nbytes, extra))
    return cases
