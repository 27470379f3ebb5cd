"""Grouped-head attention variants: GQA (Ainslie et al., EMNLP 2023), MQA (Shazeer, arXiv 1911.02150), SQA and its
settings (Filipek, "Sparse Query Attention", arXiv 2510.01817, §3), the split-KV merge of Flash-Decoding (Dao et al.,
2023), and linear attention (Katharopoulos et al., ICML 2020).

Inputs keep the foundation's layout: Q [B,H,M,E], K [B,G,P,E], V [B,G,P,F] with G key/value heads. The query
heads are viewed as `split h -> g, r` (h = g·R + r, PyTorch's `enable_gqa` mapping), so the output is stored as
AV [B,G,R,M,F], which is AV [B,H,M,F] reshaped row-major.
"""
from __future__ import annotations

import functools

from workloads.variants.cores import causal_mask, core, key_tile_size, positive
from workloads.variants.registry import register_variant
from workloads.build import cascade
from workloads.errors import CascadeError, quote
from workloads.ir import Cascade

GROUPED_INPUTS = "input Q[b,h,m,e], K[b,g,p,e], V[b,g,p,f]\nsplit h -> g, r\n"


def group_size(heads: int, kv_heads: int) -> int:
    """R = H / G, the query heads per key/value head."""
    positive(heads=heads, kv_heads=kv_heads)
    if heads % kv_heads:
        raise CascadeError(f"kv_heads={kv_heads} does not divide heads={heads} (each KV head serves H/G query heads)")
    return heads // kv_heads


def grouped(*, name: str, batch: int, heads: int, kv_heads: int, seq: int, head_dim: int, seq_kv: int | None,
            head_dim_v: int | None, mask: str | None, softmax: str, key_tile: int | None, dtype: str) -> Cascade:
    """GQA over any softmax core, with an optional `mask m, p: ...` spec; shared by every grouped variant."""
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v)
    sizes = {"B": batch, "H": heads, "R": group_size(heads, kv_heads), "M": seq, "P": seq_kv, "E": head_dim,
             "F": head_dim_v}
    if mask == "causal":
        mask_line = causal_mask(True, seq, seq_kv, name)
    else:
        mask_line = f"mask m, p: {mask}\n" if mask else ""
    text = GROUPED_INPUTS + mask_line + core(softmax, "b,g,r", "b,g")
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq_kv)
    return cascade(text, sizes, name=name, dtype=dtype)


@register_variant("gqa")
def gqa(*, batch: int, heads: int, kv_heads: int, seq: int, head_dim: int, seq_kv: int | None = None,
        head_dim_v: int | None = None, causal: bool = False, softmax: str = "1pass", key_tile: int | None = None,
        dtype: str = "fp16") -> Cascade:
    """Grouped-query attention: G = kv_heads key/value heads, each shared by H/G query heads."""
    return grouped(name=f"gqa{kv_heads}_{softmax}{'_causal' if causal else ''}", batch=batch, heads=heads,
                   kv_heads=kv_heads, seq=seq, head_dim=head_dim, seq_kv=seq_kv, head_dim_v=head_dim_v,
                   mask="causal" if causal else None, softmax=softmax, key_tile=key_tile, dtype=dtype)


@register_variant("mqa")
def mqa(*, batch: int, heads: int, seq: int, head_dim: int, seq_kv: int | None = None, head_dim_v: int | None = None,
        causal: bool = False, softmax: str = "1pass", key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """Multi-query attention: one key/value head shared by all query heads (GQA with G = 1)."""
    return grouped(name=f"mqa_{softmax}{'_causal' if causal else ''}", batch=batch, heads=heads, kv_heads=1,
                   seq=seq, head_dim=head_dim, seq_kv=seq_kv, head_dim_v=head_dim_v,
                   mask="causal" if causal else None, softmax=softmax, key_tile=key_tile, dtype=dtype)


# SQA settings as (query heads, KV heads) of a baseline with H heads (Filipek, §3.3).
SQA_SETTINGS = {
    "ssqa": lambda h: (h // 2, h // 2),
    "xsqa": lambda h: (h // 4, h // 4),
    "xsmqa": lambda h: (h // 4, 1),
}


def sqa_heads(setting: str, heads: int) -> tuple[int, int]:
    """(H_q, H_kv) of an SQA setting for a baseline of `heads` heads."""
    if setting not in SQA_SETTINGS:
        raise CascadeError(f"unknown SQA setting {quote(setting)} (valid: {', '.join(SQA_SETTINGS)})")
    hq, hkv = SQA_SETTINGS[setting](heads)
    if hq < 1 or hkv < 1 or hq * {"ssqa": 2, "xsqa": 4, "xsmqa": 4}[setting] != heads:
        raise CascadeError(f"SQA setting {quote(setting)} needs heads divisible by "
                           f"{ {'ssqa': 2, 'xsqa': 4, 'xsmqa': 4}[setting]}, got heads={heads}")
    return hq, hkv


@register_variant("sqa")
def sqa(*, batch: int, heads: int, seq: int, head_dim: int, query_heads: int | None = None,
        kv_heads: int | None = None, setting: str | None = None, seq_kv: int | None = None,
        head_dim_v: int | None = None, causal: bool = False, softmax: str = "1pass", key_tile: int | None = None,
        dtype: str = "fp16") -> Cascade:
    """Sparse query attention: H_q < H query heads and H_kv ≤ H_q KV heads; head_dim stays D/H.

    Give `query_heads` and `kv_heads`, or a `setting` ("ssqa", "xsqa", "xsmqa"). The cascade is GQA with
    H → H_q, G → H_kv; Q is [B,H_q,M,E].
    """
    positive(heads=heads)
    if setting is not None:
        if query_heads is not None or kv_heads is not None:
            raise CascadeError("sqa: give either setting= or query_heads=/kv_heads=, not both")
        query_heads, kv_heads = sqa_heads(setting, heads)
    if query_heads is None or kv_heads is None:
        raise CascadeError("sqa: query_heads and kv_heads are required (or a setting)")
    positive(query_heads=query_heads, kv_heads=kv_heads)
    if query_heads >= heads:
        raise CascadeError(f"sqa: query_heads={query_heads} must be fewer than the baseline heads={heads}")
    if kv_heads > query_heads:
        raise CascadeError(f"sqa: kv_heads={kv_heads} must not exceed query_heads={query_heads}")
    return grouped(name=f"{setting or 'sqa'}_{query_heads}q{kv_heads}kv_{softmax}{'_causal' if causal else ''}",
                   batch=batch, heads=query_heads, kv_heads=kv_heads, seq=seq, head_dim=head_dim, seq_kv=seq_kv,
                   head_dim_v=head_dim_v, mask="causal" if causal else None, softmax=softmax, key_tile=key_tile,
                   dtype=dtype)


for _setting in ("ssqa", "xsqa"):   # a partial keeps sqa's signature, so unknown arguments are named up front
    register_variant(_setting)(functools.partial(sqa, setting=_setting))

SPLIT_KV = """
split p -> z, p0
SQK[b,g,r,m,z,p0] = Q[b,g,r,m,e] * K[b,g,z,p0,e]
RMZ[b,g,r,m,z] = max(p0: SQK[b,g,r,m,z,p0])
SNZ[b,g,r,m,z,p0] = exp(SQK[b,g,r,m,z,p0] - RMZ[b,g,r,m,z])
RDZ[b,g,r,m,z] = SNZ[b,g,r,m,z,p0]
RNVZ[b,g,r,m,z,f] = SNZ[b,g,r,m,z,p0] * V[b,g,z,p0,f]
GMZ[b,g,r,m] = max(z: RMZ[b,g,r,m,z])
W[b,g,r,m,z] = exp(RMZ[b,g,r,m,z] - GMZ[b,g,r,m])
DEN[b,g,r,m] = W[b,g,r,m,z] * RDZ[b,g,r,m,z]
NUM[b,g,r,m,f] = W[b,g,r,m,z] * RNVZ[b,g,r,m,z,f]
AV[b,g,r,m,f] = NUM[b,g,r,m,f] / DEN[b,g,r,m]
"""


@register_variant("split_kv")
def split_kv(*, batch: int, heads: int, seq_kv: int, head_dim: int, splits: int, kv_heads: int | None = None,
             seq: int = 1, head_dim_v: int | None = None, causal: bool = False, dtype: str = "fp16") -> Cascade:
    """Flash-Decoding's split-KV attention: the keys are cut into Z segments of ⌈P/splits⌉ keys; each segment yields its own
    (RMZ, RDZ, RNVZ) and the segments are merged exactly with a log-sum-exp rescale.

    Z = ⌈P / ⌈P/splits⌉⌉ may be below `splits` when it does not divide P; the last segment is padded.
    """
    kv_heads = heads if kv_heads is None else kv_heads
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v, splits=splits)
    if splits > seq_kv:
        raise CascadeError(f"split_kv: splits={splits} exceeds the key length seq_kv={seq_kv}")
    sizes = {"B": batch, "H": heads, "R": group_size(heads, kv_heads), "M": seq, "P": seq_kv, "E": head_dim,
             "F": head_dim_v, "P0": -(-seq_kv // splits)}
    text = GROUPED_INPUTS + causal_mask(causal, seq, seq_kv, "split_kv") + SPLIT_KV
    return cascade(text, sizes, name=f"split_kv{splits}{'_causal' if causal else ''}", dtype=dtype)


LINEAR = """
PQ[b,g,r,m,e] = elu(Q[b,g,r,m,e]) + 1
PK[b,g,p,e] = elu(K[b,g,p,e]) + 1
KV[b,g,e,f] = PK[b,g,p,e] * V[b,g,p,f]
ZK[b,g,e] = PK[b,g,p,e]
NUM[b,g,r,m,f] = PQ[b,g,r,m,e] * KV[b,g,e,f]
DEN[b,g,r,m] = PQ[b,g,r,m,e] * ZK[b,g,e]
AV[b,g,r,m,f] = NUM[b,g,r,m,f] / DEN[b,g,r,m]
"""

# Causal, recurrent form: the state S = Σ_{p ≤ m} φ(K_p) V_pᵀ advances with the query position m.
LINEAR_CAUSAL = """
S[b,g,0,e,f] = 0
ZK[b,g,0,e] = 0
PQ[b,g,r,m,e] = elu(Q[b,g,r,m,e]) + 1
PK[b,g,p,e] = elu(K[b,g,p,e]) + 1
S[b,g,m+1,e,f] = S[b,g,m,e,f] + PK[b,g,m,e] * V[b,g,m,f]
ZK[b,g,m+1,e] = ZK[b,g,m,e] + PK[b,g,m,e]
NUM[b,g,r,m,f] = PQ[b,g,r,m,e] * S[b,g,m+1,e,f]
DEN[b,g,r,m] = PQ[b,g,r,m,e] * ZK[b,g,m+1,e]
AV[b,g,r,m,f] = NUM[b,g,r,m,f] / DEN[b,g,r,m]
"""


@register_variant("linear")
def linear(*, batch: int, heads: int, seq: int, head_dim: int, kv_heads: int | None = None,
           seq_kv: int | None = None, head_dim_v: int | None = None, causal: bool = False,
           dtype: str = "fp16") -> Cascade:
    """Kernelised linear attention with φ(x) = elu(x) + 1 (Katharopoulos et al.); causal uses the recurrent state form (M = P)."""
    kv_heads = heads if kv_heads is None else kv_heads
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v)
    if causal and seq_kv != seq:
        raise CascadeError(f"linear: the causal (recurrent) form needs seq_kv == seq, got {seq_kv} and {seq}")
    sizes = {"B": batch, "H": heads, "R": group_size(heads, kv_heads), "M": seq, "P": seq_kv, "E": head_dim,
             "F": head_dim_v}
    text = GROUPED_INPUTS + (LINEAR_CAUSAL if causal else LINEAR)
    return cascade(text, sizes, name=f"linear{'_causal' if causal else ''}", dtype=dtype)
