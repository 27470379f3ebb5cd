"""The `variants` suite: MHA/GQA/MQA, SQA, CCA/CCGQA, MLA prefill (naive vs absorbed) and Mixture-of-Head attention,
each through SDPA with one backend pinned (plus the matmul pieces of the multi-kernel forms)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

from validation.harness.cases import Case, Env, randn
from validation.harness.counts import attention_flops, dense_pairs, dtype_bytes, gemm_flops
from validation.harness.suites.sdpa import ALL_BACKENDS, sdpa, sdpa_case

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


@dataclass(frozen=True)
class MlaShape:
    """DeepSeek MLA prefill dimensions: latent, rope and no-rope query/key parts, value head dim."""

    dtype: str
    batch: int
    seq: int
    heads: int
    lat: int
    rope: int
    nope: int
    dv: int

    @property
    def dk(self) -> int:
        """The query/key head dim before absorption (no-rope + rope)."""
        return self.nope + self.rope

    @property
    def elem(self) -> int:
        """Bytes per element."""
        return dtype_bytes(self.dtype)

    @property
    def scale(self) -> float:
        """The softmax scale, 1/sqrt(dk)."""
        return 1.0 / math.sqrt(self.dk)

    @property
    def extra(self) -> str:
        """The row's `extra` column."""
        return f"latent={self.lat};rope={self.rope};nope={self.nope}"


def _mla_pieces(s: MlaShape) -> list[Case]:
    """The projection matmuls of both paths, timed on their own."""
    common = dict(batch=s.batch, heads=s.heads, seq_q=s.seq, seq_kv=s.seq, causal=True, extra=s.extra)
    return [_matmul_case(f"mla_naive_kvproj_s{s.seq}", "mla_naive_kvproj", s.dtype, (s.batch, s.seq, s.lat),
                         (s.lat, s.heads * (s.nope + s.dv)), dict(common, head_dim=s.dk, head_dim_v=s.dv)),
            _matmul_case(f"mla_absorbed_qproj_s{s.seq}", "mla_absorbed_qproj", s.dtype,
                         (s.batch, s.heads, s.seq, s.nope), (s.heads, s.nope, s.lat),
                         dict(common, head_dim=s.lat + s.rope, head_dim_v=s.lat)),
            _matmul_case(f"mla_absorbed_oproj_s{s.seq}", "mla_absorbed_oproj", s.dtype,
                         (s.batch, s.heads, s.seq, s.lat), (s.heads, s.lat, s.dv),
                         dict(common, head_dim=s.lat + s.rope, head_dim_v=s.lat))]


def _mla_absorbed_sdpa(s: MlaShape, absorbed: Case) -> Case:
    """MQA over the cached latent row: K = the row, V = its first `lat` dims (read once)."""
    def inputs(env: Env, gen: Any) -> tuple:
        c = randn(env, gen, (s.batch, 1, s.seq, s.lat + s.rope), s.dtype)
        return randn(env, gen, (s.batch, s.heads, s.seq, s.lat + s.rope), s.dtype), c, c[..., :s.lat]

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        return lambda q, c, v: sdpa(q, c, v, True, s.scale)

    return replace(absorbed, make_inputs=inputs, build=build, bytes=absorbed.bytes - s.batch * s.seq * s.lat * s.elem)


def _mla_naive_full(s: MlaShape, naive: Case) -> Case:
    """The whole naive path: latent → K/V heads (a matmul), the rope part broadcast, SDPA."""
    b, h, n, nope, dv, rope = s.batch, s.heads, s.seq, s.nope, s.dv, s.rope

    def inputs(env: Env, gen: Any) -> tuple:
        return (randn(env, gen, (b, h, n, s.dk), s.dtype), randn(env, gen, (b, n, s.lat), s.dtype),
                randn(env, gen, (b, 1, n, rope), s.dtype), randn(env, gen, (s.lat, h * (nope + dv)), s.dtype))

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        import torch

        def run(q: Any, c: Any, k_rope: Any, w_ukv: Any) -> Any:
            kv = (c @ w_ukv).view(b, n, h, nope + dv).transpose(1, 2)
            k = torch.cat([kv[..., :nope], k_rope.expand(b, h, n, rope)], dim=-1)
            return sdpa(q, k, kv[..., nope:], True, s.scale)

        return run

    in_bytes = (b * h * n * s.dk + b * n * (s.lat + rope) + s.lat * h * (nope + dv)) * s.elem
    return replace(naive, name=f"mla_naive_full_s{n}", form="mla_naive_full",
                   flops=naive.flops + gemm_flops(b * n, h * (nope + dv), s.lat),
                   bytes=float(in_bytes + b * h * n * dv * s.elem), make_inputs=inputs, build=build,
                   input_bytes=in_bytes, work_bytes=naive.work_bytes + 3 * b * h * n * s.dk * s.elem)


def _mla_absorbed_full(s: MlaShape, absorbed: Case) -> Case:
    """The whole absorbed path: q·W_UK, MQA over the latent (values = its first `lat` dims), then ·W_UV."""
    b, h, n, lat, rope = s.batch, s.heads, s.seq, s.lat, s.rope
    proj_flops = gemm_flops(b * h * n, lat, s.nope) + gemm_flops(b * h * n, s.dv, lat)

    def inputs(env: Env, gen: Any) -> tuple:
        return (randn(env, gen, (b, h, n, s.nope), s.dtype), randn(env, gen, (b, h, n, rope), s.dtype),
                randn(env, gen, (b, 1, n, lat + rope), s.dtype), randn(env, gen, (h, s.nope, lat), s.dtype),
                randn(env, gen, (h, lat, s.dv), s.dtype))

    def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
        import torch

        def run(q_nope: Any, q_rope: Any, c: Any, w_uk: Any, w_uv: Any) -> Any:
            q = torch.cat([q_nope @ w_uk, q_rope], dim=-1)
            return sdpa(q, c, c[..., :lat], True, s.scale) @ w_uv

        return run

    in_bytes = (b * h * n * s.dk + b * n * (lat + rope) + h * lat * (s.nope + s.dv)) * s.elem
    return replace(absorbed, name=f"mla_absorbed_full_s{n}", form="mla_absorbed_full",
                   flops=absorbed.flops + proj_flops, bytes=float(in_bytes + b * h * n * s.dv * s.elem),
                   make_inputs=inputs, build=build, input_bytes=in_bytes,
                   work_bytes=absorbed.work_bytes + 3 * b * h * n * (lat + rope) * s.elem)


def mla_cases(dtype: str, batch: int, seq: int, heads: int, backends: tuple[str, ...], quick: bool) -> list[Case]:
    """DeepSeek MLA prefill: naive (K/V heads materialised from the latent) vs absorbed (MQA over the 576-d latent)."""
    s = MlaShape(dtype, batch, seq, heads, *((64, 16, 32, 32) if quick else (512, 64, 128, 128)))
    cases = _mla_pieces(s)
    for backend in backends:
        naive = sdpa_case("variants", f"mla_naive_sdpa_s{seq}", dtype, backend, batch, heads, heads, seq, seq, s.dk,
                          s.dv, causal=True, form="mla_naive_sdpa", extra=s.extra)
        absorbed = sdpa_case("variants", f"mla_absorbed_sdpa_s{seq}", dtype, backend, batch, heads, 1, seq, seq,
                             s.lat + s.rope, s.lat, causal=True, form="mla_absorbed_sdpa", extra=s.extra)
        cases += [naive, _mla_absorbed_sdpa(s, absorbed), _mla_naive_full(s, naive), _mla_absorbed_full(s, absorbed)]
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
    flops = (attention_flops(batch, shared, dense_pairs(seq, seq), d)
             + attention_flops(batch, routed, dense_pairs(n_sel, seq), d))

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
