"""The `local` suite: sliding-window, neighborhood (NA) and generalized neighborhood attention (GNA) in 1-D/2-D/3-D and
blocked attention, through FlexAttention (Dong et al., "Flex Attention", 2024) with a block mask built from NATTEN's
predicate (validation.harness.gna), compiled with torch.compile; a dense SDPA baseline per shape; and NATTEN itself when
it is importable. Shapes are the GNA paper's use cases (Hassani et al., 2025): FLUX.1 at 4K (256×256 tokens, window
80×80, stride 16×16), HunyuanVideo 720p (30×48×80, window 18×24×24, stride 16×8×8) and 1-D 32K tokens.

Tokens are flattened row-major, so FlexAttention's 128×128 blocks are not NATTEN's multi-dimensional tiles: the
block-sparsity FlexAttention finds is what row-major order gives.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from validation.errors import ValidationError
from validation.harness.cases import Case, Env, randn
from validation.harness.counts import attention_bytes, attention_flops, dtype_bytes
from validation.harness.gna import check_gna, flex_mask_mod, gna_pairs
from validation.harness.suites.sdpa import sdpa_case

_COMPILED: dict[str, Any] = {}


def compiled_flex() -> Any:
    """One torch.compile'd flex_attention for the whole process, so cases of one shape reuse its kernels.

    The recompile limit is raised, and hitting it made an error, so that no case silently runs the eager (dense) path.
    """
    if "flex" not in _COMPILED:
        import torch
        from torch.nn.attention.flex_attention import flex_attention

        cfg = torch._dynamo.config
        for knob in ("cache_size_limit", "recompile_limit"):
            if hasattr(cfg, knob):
                setattr(cfg, knob, max(64, getattr(cfg, knob)))
        if hasattr(cfg, "fail_on_recompile_limit_hit"):
            cfg.fail_on_recompile_limit_hit = True
        _COMPILED["flex"] = torch.compile(flex_attention, dynamic=False)
    return _COMPILED["flex"]


def natten_available() -> str | None:
    """None when `import natten` works, else the reason."""
    try:
        import natten  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means NATTEN cannot be timed here
        return f"natten not installed ({type(exc).__name__}: {exc})" if not isinstance(exc, ModuleNotFoundError) \
            else "natten not installed"
    return None


def _shape_params(batch: int, heads: int, spatial: tuple, window: tuple, stride: tuple, dilation: tuple, causal: bool,
                  d: int, n: int) -> dict:
    return dict(batch=batch, heads=heads, kv_heads=heads, seq_q=n, seq_kv=n, head_dim=d, head_dim_v=d, causal=causal,
                spatial=spatial, window=window, stride=stride, dilation=dilation)


def gna_case(name: str, form: str, backend: str, dtype: str, batch: int, heads: int, d: int, spatial: tuple,
             window: tuple, stride: tuple, dilation: tuple | None = None, causal: bool = False) -> Case:
    """GNA through compiled FlexAttention (`flex`) or NATTEN (`natten`)."""
    nd = len(spatial)
    dilation = dilation or (1,) * nd
    n = math.prod(spatial)
    elem = dtype_bytes(dtype)
    # causal along the first dimension only (time, for video), as NATTEN allows causality per dimension
    causal_dims = ((True,) + (False,) * (nd - 1)) if causal else (False,) * nd
    pairs = gna_pairs(spatial, window, stride, dilation, causal_dims)
    flops = attention_flops(batch, heads, pairs, d)
    nbytes = attention_bytes(batch, heads, heads, n, n, d, d, elem)
    params = _shape_params(batch, heads, spatial, window, stride, dilation, causal, d, n)
    params["extra"] = f"attended_pairs={pairs};causal_dims={'x'.join(str(int(c)) for c in causal_dims)}"
    bad = check_gna(spatial, window, stride, dilation)

    if backend == "flex":
        def make_inputs(env: Env, gen: Any) -> tuple:
            return tuple(randn(env, gen, (batch, heads, n, d), dtype) for _ in range(3))

        def build(env: Env) -> Callable[..., Any]:
            from torch.nn.attention.flex_attention import create_block_mask

            mask_mod = flex_mask_mod(spatial, window, stride, dilation, causal_dims, env.device)
            block_mask = create_block_mask(mask_mod, None, None, n, n, device=env.device,
                                           _compile=env.device_type == "cuda")
            flex = compiled_flex()
            return lambda q, k, v: flex(q, k, v, block_mask=block_mask)

        backend_name, ran = "flex_compiled", "flex_compiled"
    elif backend == "natten":
        def make_inputs(env: Env, gen: Any) -> tuple:  # NATTEN is heads-last: [B, *spatial, H, D]
            return tuple(randn(env, gen, (batch, *spatial, heads, d), dtype) for _ in range(3))

        def build(env: Env) -> Callable[..., Any]:  # noqa: ARG001
            import natten

            op = {1: natten.na1d, 2: natten.na2d, 3: natten.na3d}[nd]
            ks = lambda t: t[0] if nd == 1 else t  # noqa: E731
            return lambda q, k, v: op(q, k, v, kernel_size=ks(window), stride=ks(stride), dilation=ks(dilation),
                                      is_causal=ks(causal_dims))

        backend_name, ran = "natten", "natten"
    else:
        raise ValidationError(f"unknown local backend {backend!r}; valid: flex, natten")

    def supports(env: Env) -> str | None:  # noqa: ARG001
        if bad:
            return bad
        return natten_available() if backend == "natten" else None

    return Case(suite="local", name=name, form=form, dtype=dtype, backend=backend_name, params=params, flops=flops,
                bytes=nbytes, build=build, make_inputs=make_inputs, input_bytes=int(3 * batch * heads * n * d * elem),
                work_bytes=int(batch * heads * n * d * elem), supports=supports, backend_ran=ran)


def local_cases(env: Env) -> list[Case]:
    """Each shape: GNA configurations through FlexAttention, the same through NATTEN, and dense SDPA baselines."""
    dtype = "bfloat16"
    if env.quick:  # all 256 tokens: one compiled kernel serves every mask (the predicate's parameters are tensors)
        batch, heads, d = 1, 2, 32
        shapes = [
            ("1d", (256,), [("na", (32,), (1,), False), ("gna_s8", (32,), (8,), False), ("blocked", (32,), (32,), False),
                            ("sliding_causal", (32,), (1,), True)]),
            ("2d", (16, 16), [("na", (8, 8), (1, 1), False), ("gna_s4", (8, 8), (4, 4), False),
                              ("blocked", (8, 8), (8, 8), False)]),
            ("3d", (4, 8, 8), [("na", (2, 4, 4), (1, 1, 1), False), ("gna_s2", (2, 4, 4), (2, 2, 2), False)]),
        ]
    else:
        batch, heads, d = 1, 24, 128
        shapes = [
            ("1d_32k", (32768,), [("sliding_causal_w2048", (2048,), (1,), True), ("na_w2048", (2048,), (1,), False),
                                  ("gna_w2048_s256", (2048,), (256,), False),
                                  ("blocked_w2048", (2048,), (2048,), False)]),
            ("flux_256x256", (256, 256), [("na_w80x80", (80, 80), (1, 1), False),
                                          ("gna_w80x80_s16x16", (80, 80), (16, 16), False),
                                          ("blocked_w64x64", (64, 64), (64, 64), False)]),
            ("hunyuan_30x48x80", (30, 48, 80), [("na_w18x24x24", (18, 24, 24), (1, 1, 1), False),
                                                ("gna_w18x24x24_s16x8x8", (18, 24, 24), (16, 8, 8), False)]),
        ]
    cases: list[Case] = []
    for shape_name, spatial, configs in shapes:
        n = math.prod(spatial)
        for cfg_name, window, stride, causal in configs:
            cases.append(gna_case(f"{shape_name}_{cfg_name}", "gna_flex", "flex", dtype, batch, heads, d, spatial,
                                  window, stride, causal=causal))
        for cfg_name, window, stride, causal in configs:
            cases.append(gna_case(f"{shape_name}_{cfg_name}", "gna_natten", "natten", dtype, batch, heads, d, spatial,
                                  window, stride, causal=causal))
        for backend in ("flash", "cudnn"):
            for causal in sorted({c for *_, c in configs}):
                cases.append(sdpa_case("local", f"{shape_name}_dense{'_causal' if causal else ''}", dtype, backend,
                                       batch, heads, heads, n, n, d, causal=causal, form="dense_sdpa",
                                       extra=f"spatial={'x'.join(map(str, spatial))}"))
    return cases
