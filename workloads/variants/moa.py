"""Mixture of Sparse Attention (MoA; Fu et al., "MoA: Mixture of Sparse Attention for Automatic Large Language Model
Compression", 2024): causal sliding-window attention whose span differs per head and per layer, each head's span
growing with the sequence length by MoA's elastic rule span_h(N) = α_h + β_h·N.

Inputs are MHA's, Q [B,H,M,E], K/V [B,H,P,·]. The per-head windows are one mask over a (head, query) rank HM
viewed as `split hm -> h, m`: row h·M + m sees keys [m' − span_h + 1, m'], m' = m + P − M (bottom-right aligned,
so decode, M = 1, sees the last span_h keys). A layer is one cascade; a model's layers are one cascade each
(`moa_layers`).
"""
from __future__ import annotations

import math
import numbers

from workloads.build import cascade
from workloads.errors import CascadeError, quote
from workloads.ir import Cascade
from workloads.variants.cores import core, key_tile_size, positive
from workloads.variants.registry import register_variant

MOA_INPUTS = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]\nsplit hm -> h, m\n"
MAX_HEADS = 1 << 12    # heads of one layer whose spans the mask text lists


def elastic_spans(alpha, beta, seq_kv: int) -> tuple[int, ...]:
    """MoA's elastic rule per head: span = α + β·N keys (N = seq_kv), rounded, at least 1 and at most N."""
    if not isinstance(alpha, (tuple, list)) or not isinstance(beta, (tuple, list)) or len(alpha) != len(beta):
        raise CascadeError(f"moa: alpha and beta need one entry per head (equal-length lists), got "
                           f"alpha={quote(alpha)}, beta={quote(beta)}")
    spans = []
    for h, (a, b) in enumerate(zip(alpha, beta)):
        ok = all(isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) for x in (a, b))
        if not ok or a < 0 or b < 0:
            raise CascadeError(f"moa: head {h}: alpha and beta must be finite numbers ≥ 0, got {quote(a)}, "
                               f"{quote(b)}")
        spans.append(min(seq_kv, max(1, round(a + b * seq_kv))))
    return tuple(spans)


def _spans(spans, alpha, beta, heads: int, seq_kv: int) -> tuple[int, ...]:
    if (spans is None) == (alpha is None and beta is None):
        raise CascadeError("moa: give either spans (one per head) or alpha and beta (MoA's elastic rule)")
    if spans is None:
        out = elastic_spans(alpha, beta, seq_kv)
    else:
        if not isinstance(spans, (tuple, list)):
            raise CascadeError(f"moa: spans must list one span per head, got {quote(spans)}")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in spans):
            raise CascadeError(f"moa: spans must be positive integers (keys each head sees), got {quote(spans)}")
        out = tuple(spans)
    if len(out) != heads:
        raise CascadeError(f"moa: {len(out)} spans for heads={heads}: give one per head")
    return out


@register_variant("moa")
def moa(*, batch: int, heads: int, seq: int, head_dim: int, spans=None, alpha=None, beta=None,
        seq_kv: int | None = None, head_dim_v: int | None = None, softmax: str = "1pass",
        key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """One MoA layer: causal sliding windows of `spans[h]` keys per head, or spans from MoA's elastic rule
    (`alpha`, `beta` per head, scaled by the key length)."""
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, heads=heads, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v)
    if heads > MAX_HEADS:
        raise CascadeError(f"moa: heads={heads}; at most {MAX_HEADS} per layer")
    if seq_kv < seq:
        raise CascadeError(f"moa: seq_kv={seq_kv} < seq={seq} leaves the first queries with no keys (causal, "
                           f"bottom-right aligned)")
    widths = _spans(spans, alpha, beta, heads, seq_kv)
    sizes = {"B": batch, "H": heads, "M": seq, "HM": heads * seq, "P": seq_kv, "E": head_dim, "F": head_dim_v}
    lefts = tuple(w - 1 for w in widths)
    text = MOA_INPUTS + f"mask hm, p: window(left={lefts}, right={(0,) * heads})\n" + core(softmax, "b,h", "b,h")
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq_kv)
    return cascade(text, sizes, name=f"moa_{softmax}", dtype=dtype)


def moa_layers(profiles, **shape) -> tuple[Cascade, ...]:
    """One MoA cascade per layer: `profiles` lists each layer's (alpha, beta) per-head pairs of lists."""
    if not isinstance(profiles, (tuple, list)) or not profiles:
        raise CascadeError(f"moa_layers: profiles must list each layer's (alpha, beta), got {quote(profiles)}")
    out = []
    for i, profile in enumerate(profiles):
        if not isinstance(profile, (tuple, list)) or len(profile) != 2:
            raise CascadeError(f"moa_layers: layer {i}: expected (alpha, beta), got {quote(profile)}")
        out.append(moa(alpha=profile[0], beta=profile[1], **shape))
    return tuple(out)
