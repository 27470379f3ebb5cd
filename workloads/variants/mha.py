"""Multi-head attention (Vaswani et al., 2017) over any of the three softmax cores."""
from __future__ import annotations

from workloads.build import cascade
from workloads.ir import Cascade
from workloads.variants.cores import causal_mask, core, key_tile_size, positive
from workloads.variants.registry import register_variant


@register_variant("mha")
def mha(*, batch: int, heads: int, seq: int, head_dim: int, seq_kv: int | None = None,
        head_dim_v: int | None = None, causal: bool = False, softmax: str = "1pass", key_tile: int | None = None,
        dtype: str = "fp16") -> Cascade:
    """Multi-head attention: Q [B,H,M,E], K [B,H,P,E], V [B,H,P,F] → AV [B,H,M,F] (softmax scale folded into Q)."""
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, heads=heads, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v)
    sizes = {"B": batch, "H": heads, "M": seq, "P": seq_kv, "E": head_dim, "F": head_dim_v}
    text = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]\n" + causal_mask(causal, seq, seq_kv, "mha")
    text += core(softmax, "b,h", "b,h")
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq_kv)
    return cascade(text, sizes, name=f"mha_{softmax}{'_causal' if causal else ''}", dtype=dtype)
