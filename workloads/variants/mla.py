"""Multi-head latent attention (MLA; DeepSeek-V2, arXiv 2405.04434, §2.1, as configured in DeepSeek-V3) and its
tensor-parallel approximation TPLA (Tang et al., arXiv 2508.15881).

Both MLA forms take the same inputs, after the query and latent projections (see `workloads.models.layers`):
QN [B,H,M,En], QR [B,H,M,Er] (RoPE'd), the normalised latent cache CKV [B,P,C], the shared RoPE key KR [B,P,Er],
and the up-projections WUK [C,H,En], WUV [C,H,F]; the output is AV [B,H,M,F]. The softmax scale is folded
into QN and QR.
"""
from __future__ import annotations

import math
import numbers

from workloads.variants.cores import causal_mask, core, key_tile_size, positive
from workloads.variants.registry import register_variant
from workloads.build import cascade
from workloads.dtypes import DTYPE_BYTES, dtype_bytes
from workloads.errors import CascadeError, quote
from workloads.frozen import FrozenDict
from workloads.ir import Cascade

# DeepSeek-V3 (config_671B.json): heads, kv_lora_rank C, qk_rope_head_dim Er, qk_nope_head_dim En, v_head_dim F.
DEEPSEEK_V3 = FrozenDict({"heads": 128, "latent": 512, "rope_dim": 64, "nope_dim": 128, "head_dim_v": 128})
FORMS = ("naive", "absorbed")

MLA_INPUTS = "input QN[b,h,m,en], QR[b,h,m,er], CKV[b,p,c], KR[b,p,er], WUK[c,h,en], WUV[c,h,f]\n"

NAIVE = """
KN[b,h,p,en] = CKV[b,p,c] * WUK[c,h,en]
V[b,h,p,f] = CKV[b,p,c] * WUV[c,h,f]
"""
NAIVE_SCORES = """{S}N[b,h,m,{p}] = QN[b,h,m,en] * KN[b,h,{p},en]
{S}R[b,h,m,{p}] = QR[b,h,m,er] * KR[b,{p},er]
{S}[b,h,m,{p}] = {S}N[b,h,m,{p}] + {S}R[b,h,m,{p}]"""

ABSORBED = "QA[b,h,m,c] = QN[b,h,m,en] * WUK[c,h,en]\n"
ABSORBED_SCORES = """{S}C[b,h,m,{p}] = QA[b,h,m,c] * CKV[b,{p},c]
{S}R[b,h,m,{p}] = QR[b,h,m,er] * KR[b,{p},er]
{S}[b,h,m,{p}] = {S}C[b,h,m,{p}] + {S}R[b,h,m,{p}]"""
ABSORBED_OUT = "AV[b,h,m,f] = OL[b,h,m,c] * WUV[c,h,f]\n"


def _sizes(batch, heads, seq, seq_kv, latent, rope_dim, nope_dim, head_dim_v) -> dict[str, int]:
    seq_kv = seq if seq_kv is None else seq_kv
    positive(batch=batch, heads=heads, seq=seq, seq_kv=seq_kv, latent=latent, rope_dim=rope_dim, nope_dim=nope_dim,
             head_dim_v=head_dim_v)
    return {"B": batch, "H": heads, "M": seq, "P": seq_kv, "C": latent, "ER": rope_dim, "EN": nope_dim,
            "F": head_dim_v}


@register_variant("mla")
def mla(*, batch: int, seq: int, seq_kv: int | None = None, form: str = "absorbed",
        heads: int = DEEPSEEK_V3["heads"], latent: int = DEEPSEEK_V3["latent"], rope_dim: int = DEEPSEEK_V3["rope_dim"],
        nope_dim: int = DEEPSEEK_V3["nope_dim"], head_dim_v: int = DEEPSEEK_V3["head_dim_v"], causal: bool = False,
        softmax: str = "1pass", key_tile: int | None = None, dtype: str = "bf16") -> Cascade:
    """MLA core. `naive` (DeepSeek-V3's reference `attn_impl="naive"`, prefill) up-projects K and V per head;
    `absorbed` (`attn_impl="absorb"`, DeepSeek-V2's weight absorption, decode) folds WUK into
    the query and WUV after the core, so the core is MQA over the cached latent row [CKV ‖ KR]."""
    if form not in FORMS:
        raise CascadeError(f"mla: unknown form {quote(form)} (valid: {', '.join(FORMS)})")
    sizes = _sizes(batch, heads, seq, seq_kv, latent, rope_dim, nope_dim, head_dim_v)
    text = MLA_INPUTS + causal_mask(causal, sizes["M"], sizes["P"], "mla")
    if form == "naive":
        text += NAIVE + core(softmax, "b,h", "b,h", scores=NAIVE_SCORES)
    else:
        text += ABSORBED + core(softmax, "b,h", "b", scores=ABSORBED_SCORES, value="CKV", f="c", out="OL")
        text += ABSORBED_OUT
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, sizes["P"])
    return cascade(text, sizes, name=f"mla_{form}_{softmax}{'_causal' if causal else ''}", output="AV", dtype=dtype)


TPLA = """
split c -> g, c0
SS[b,g,p] = CKV[b,p,g,c0] * CKV[b,p,g,c0]
RN[b,g,p] = rsqrt(SS[b,g,p] * {scale} + {eps})
CKVN[b,g,p,c0] = CKV[b,p,g,c0] * RN[b,g,p]
QA[b,h,m,c] = QN[b,h,m,en] * WUK[c,h,en]
"""
TPLA_SCORES = """{S}C[b,g,h,m,{p}] = QA[b,h,m,g,c0] * CKVN[b,g,{p},c0]
{S}R[b,h,m,{p}] = QR[b,h,m,er] * KR[b,{p},er]
{S}[b,g,h,m,{p}] = {S}C[b,g,h,m,{p}] * {mu} + {S}R[b,h,m,{p}]"""
TPLA_OUT = """
AVD[b,g,h,m,f] = OL[b,g,h,m,c0] * WUV[g,c0,h,f]
AV[b,h,m,f] = AVD[b,g,h,m,f]
"""


@register_variant("tpla")
def tpla(*, batch: int, seq: int, devices: int, seq_kv: int | None = None, alpha: float | None = None,
         mu: float = 1.0, eps: float = 1e-6, heads: int = DEEPSEEK_V3["heads"], latent: int = DEEPSEEK_V3["latent"],
         rope_dim: int = DEEPSEEK_V3["rope_dim"], nope_dim: int = DEEPSEEK_V3["nope_dim"],
         head_dim_v: int = DEEPSEEK_V3["head_dim_v"], causal: bool = False, softmax: str = "1pass",
         key_tile: int | None = None, dtype: str = "bf16") -> Cascade:
    """TPLA decode (Tang et al., §4): the latent C is sharded into `devices` slices of C/g; every device normalises its slice
    (sliced RMSNorm, RN = rsqrt(α·Σ_slice x²/C + ε)), scores all heads against it (μ·slice logits + the replicated
    RoPE logits), runs its own softmax, up-projects, and the per-device outputs are summed (the all-reduce).

    An approximation of MLA: softmax(a + b) ≠ softmax(a) + softmax(b). CKV is the raw (un-normalised) latent in the
    reparameterised basis, gains folded into WUK/WUV. α defaults to g (the Hadamard choice: the slice mean square).
    The RoPE logits are computed once here; a device-level model replicates them per device.
    """
    sizes = _sizes(batch, heads, seq, seq_kv, latent, rope_dim, nope_dim, head_dim_v)
    positive(devices=devices)
    if latent % devices:
        raise CascadeError(f"tpla: devices={devices} does not divide the latent dimension {latent}")
    alpha = float(devices) if alpha is None else alpha
    real = lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
    if not (real(alpha) and real(eps) and real(mu)) or not alpha > 0 or not eps >= 0:
        raise CascadeError(f"tpla: alpha must be > 0 and eps ≥ 0 (finite numbers, as mu), got alpha={quote(alpha)}, "
                           f"eps={quote(eps)}, mu={quote(mu)}")
    sizes["C0"] = latent // devices
    text = MLA_INPUTS + causal_mask(causal, sizes["M"], sizes["P"], "tpla")
    text += TPLA.format(scale=repr(alpha / latent), eps=repr(float(eps)))
    text += core(softmax, "b,g,h", "b,g", scores=TPLA_SCORES.replace("{mu}", repr(float(mu))), value="CKVN", f="c0",
                 out="OL")
    text += TPLA_OUT
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, sizes["P"])
    return cascade(text, sizes, name=f"tpla{devices}_{softmax}", output="AV", dtype=dtype)


# --- KV cache and per-pair cost formulas, from the dimensions above ------------------------------------------

FP8_MLA_BYTES = 512 + 4 * 4 + 64 * 2  # DeepSeek sparse-MLA FP8 row: 512 FP8 NoPE, 4 fp32 scales, 64 BF16 RoPE


def mla_kv_bytes_per_token(form: str = "absorbed", dtype: str = "bf16", *, heads: int = DEEPSEEK_V3["heads"],
                           latent: int = DEEPSEEK_V3["latent"], rope_dim: int = DEEPSEEK_V3["rope_dim"],
                           nope_dim: int = DEEPSEEK_V3["nope_dim"], head_dim_v: int = DEEPSEEK_V3["head_dim_v"]) -> int:
    """KV-cache bytes per token per layer: the latent row (C+Er)·b (1152 B for V3 in BF16; `fp8_mla` is the 656-B
    format), or for the naive form the materialised per-head K and V, H·(En+Er+F)·b."""
    if form == "absorbed" and isinstance(dtype, str) and dtype == "fp8_mla":
        if (latent, rope_dim) != (512, 64):
            raise CascadeError("mla: the fp8_mla cache format is defined for C = 512, Er = 64")
        return FP8_MLA_BYTES
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise CascadeError(f"unknown dtype {quote(dtype)} (known: {', '.join(DTYPE_BYTES)}, fp8_mla)")
    if form == "absorbed":
        return (latent + rope_dim) * DTYPE_BYTES[dtype]
    if form == "naive":
        return heads * (nope_dim + rope_dim + head_dim_v) * DTYPE_BYTES[dtype]
    raise CascadeError(f"mla: unknown form {quote(form)} (valid: {', '.join(FORMS)})")


def mla_flops_per_pair(form: str = "absorbed", *, heads: int = DEEPSEEK_V3["heads"], latent: int = DEEPSEEK_V3["latent"],
                       rope_dim: int = DEEPSEEK_V3["rope_dim"], nope_dim: int = DEEPSEEK_V3["nope_dim"],
                       head_dim_v: int = DEEPSEEK_V3["head_dim_v"], devices: int = 1) -> int:
    """Core MAC FLOPs per (query, key) pair: naive 2·H·(En+Er+F); absorbed 2·H·(C+Er+C); with devices = g > 1,
    TPLA's per-device 2·H·(C/g+Er+C/g)."""
    if form == "naive":
        return 2 * heads * (nope_dim + rope_dim + head_dim_v)
    if form != "absorbed":
        raise CascadeError(f"mla: unknown form {quote(form)} (valid: {', '.join(FORMS)})")
    return 2 * heads * (2 * latent // devices + rope_dim)


def tpla_kv_bytes_per_token(devices: int, dtype: str = "bf16", *, latent: int = DEEPSEEK_V3["latent"],
                            rope_dim: int = DEEPSEEK_V3["rope_dim"]) -> int:
    """Per-device KV bytes per token per layer: the latent slice plus the replicated RoPE key, (C/g + Er)·b."""
    positive(devices=devices, latent=latent, rope_dim=rope_dim)
    return (latent // devices + rope_dim) * dtype_bytes(dtype)
