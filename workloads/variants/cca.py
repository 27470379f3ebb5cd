"""Compressed Convolutional Attention, CCA / CCGQA (Figliolia et al., arXiv 2510.04476): Q, K and V are down-projected
into a latent of H̃ = H/C heads, the whole attention runs there, and only W_O maps back to the model dimension.

Inputs X [B,M,D] and the projections WQ [D,H̃q,E], WK [D,H̃kv,E], WV [D,H̃kv,F], WO [H̃q,F,D]; output Y [B,M,D].
ZAYA1's further details (sequence convolutions, q–k mean, value shift, QK L2-norm, partial RoPE) are not modelled.
"""
from __future__ import annotations

from workloads.variants.cores import causal_mask, core, key_tile_size, positive
from workloads.variants.registry import register_variant
from workloads.build import cascade
from workloads.errors import CascadeError
from workloads.ir import Cascade
from workloads.variants.grouped import group_size

CCA = """
input X[b,m,d], WQ[d,h,e], WK[d,g,e], WV[d,g,f], WO[h,f,d]
split h -> g, r
Q[b,g,r,m,e] = X[b,m,d] * WQ[d,g,r,e]
K[b,g,p,e] = X[b,p,d] * WK[d,g,e]
V[b,g,p,f] = X[b,p,d] * WV[d,g,f]
"""
CCA_OUT = "Y[b,m,d] = AV[b,g,r,m,f] * WO[g,r,f,d]\n"


def latent_heads(heads: int, compression: int) -> int:
    """H̃ = H / C, the latent heads of a compression factor C (which must divide H)."""
    positive(heads=heads, compression=compression)
    if heads % compression:
        raise CascadeError(f"cca: compression={compression} does not divide heads={heads}")
    return heads // compression


def _cca(name, *, batch, seq, model_dim, heads, compression, kv_heads, head_dim, causal, softmax, key_tile, dtype):
    hq = latent_heads(heads, compression)
    kv_heads = hq if kv_heads is None else kv_heads
    positive(model_dim=model_dim)
    head_dim = model_dim // heads if head_dim is None else head_dim
    positive(batch=batch, seq=seq, model_dim=model_dim, head_dim=head_dim)
    sizes = {"B": batch, "H": hq, "R": group_size(hq, kv_heads), "M": seq, "P": seq, "D": model_dim,
             "E": head_dim, "F": head_dim}
    text = CCA + causal_mask(causal, seq, seq, name) + core(softmax, "b,g,r", "b,g") + CCA_OUT
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq)
    return cascade(text, sizes, name=f"{name}_c{compression}", output="Y", dtype=dtype)


@register_variant("cca")
def cca(*, batch: int, seq: int, model_dim: int, heads: int, compression: int, head_dim: int | None = None,
        causal: bool = True, softmax: str = "1pass", key_tile: int | None = None, dtype: str = "bf16") -> Cascade:
    """CCA: H/compression latent heads of dim E (default D/H), one K/V head per query head, prefill (M = P)."""
    return _cca("cca", batch=batch, seq=seq, model_dim=model_dim, heads=heads, compression=compression,
                kv_heads=None, head_dim=head_dim, causal=causal, softmax=softmax, key_tile=key_tile, dtype=dtype)


@register_variant("ccgqa")
def ccgqa(*, batch: int, seq: int, model_dim: int, heads: int, compression: int, kv_heads: int,
          head_dim: int | None = None, causal: bool = True, softmax: str = "1pass", key_tile: int | None = None,
          dtype: str = "bf16") -> Cascade:
    """CCGQA: CCA whose H̃q latent query heads share `kv_heads` latent K/V heads (ZAYA1: 8 / 2 of a 16-head base)."""
    return _cca("ccgqa", batch=batch, seq=seq, model_dim=model_dim, heads=heads, compression=compression,
                kv_heads=kv_heads, head_dim=head_dim, causal=causal, softmax=softmax, key_tile=key_tile, dtype=dtype)
