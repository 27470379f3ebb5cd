"""The model zoo (attention-einsums.md §11, fusemax-and-flat.md §5): frozen configuration records plus pure
functions that build their attention core and whole-layer cascades, and cost figures over them.

`model(name)` returns a `Model`; `model("llama3-8b").attention(seq=1, seq_kv=8192)` is the decode core,
`.layer(seq=8192)` a prefill layer. Local-attention models (flux, hunyuanvideo) take a token layout `spatial`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from workloads.analysis import compulsory_bytes, flops
from workloads.variants.registry import attention as build_attention
from workloads.build import DTYPE_BYTES
from workloads.errors import CascadeError
from workloads.ir import Cascade
from workloads.models.layers import MoE, layer
from workloads.variants.mla import DEEPSEEK_V3, mla_kv_bytes_per_token


@dataclass(frozen=True)
class Model:
    name: str
    layers: int
    model_dim: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: str                     # gelu | relu | swiglu | moe
    ffn_dim: int
    norm: str = "rms"            # rms | layer
    post_norm: bool = False
    rope: bool = False
    causal: bool = False
    variant: str = "gqa"         # gqa | mla | na | gna
    spatial: tuple[int, ...] = ()
    window: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    moe: MoE | None = None
    dense_layers: int = 0        # leading dense-FFN layers of an MoE model
    dtype: str = "bf16"
    mla: dict = field(default_factory=dict)

    def attention(self, seq: int | None = None, batch: int = 1, **options) -> Cascade:
        return model_attention(self, seq=seq, batch=batch, **options)

    def layer(self, seq: int | None = None, batch: int = 1, **options) -> Cascade:
        return model_layer(self, seq=seq, batch=batch, **options)

    def kv_cache_bytes_per_token(self) -> int:
        """KV-cache bytes per token for the whole model (every layer)."""
        return self.layers * kv_bytes_per_token_per_layer(self)


MODELS = {m.name: m for m in [
    Model("bert", 12, 768, 12, 12, 64, "gelu", 3072, norm="layer", post_norm=True, dtype="fp16"),
    Model("trxl", 18, 1024, 16, 16, 64, "relu", 4096, norm="layer", post_norm=True, dtype="fp16"),
    Model("t5", 6, 512, 8, 8, 64, "relu", 2048, norm="rms", dtype="fp16"),
    Model("xlm", 12, 2048, 16, 16, 128, "gelu", 8192, norm="layer", post_norm=True, dtype="fp16"),
    Model("llama3-8b", 32, 4096, 32, 8, 128, "swiglu", 14336, rope=True, causal=True),
    Model("llama3-70b", 80, 8192, 64, 8, 128, "swiglu", 28672, rope=True, causal=True),
    Model("deepseek-v3", 61, 7168, 128, 128, 128, "moe", 18432, rope=True, causal=True, variant="mla", moe=MoE(),
          dense_layers=3, mla=dict(DEEPSEEK_V3)),
    Model("flux", 57, 3072, 24, 24, 128, "gelu", 12288, norm="layer", variant="na", spatial=(256, 256),
          window=(80, 80)),
    Model("hunyuanvideo", 60, 3072, 24, 24, 128, "gelu", 12288, norm="layer", variant="gna", spatial=(30, 48, 80),
          window=(18, 24, 24), stride=(16, 8, 8)),
]}


def model(name: str) -> Model:
    """A model configuration by name; an unknown name lists the valid ones."""
    if name not in MODELS:
        raise CascadeError(f"unknown model {name!r} (valid: {', '.join(MODELS)})")
    return MODELS[name]


def model_attention(m: Model, *, seq: int | None, batch: int = 1, seq_kv: int | None = None, **options) -> Cascade:
    """The model's attention core: GQA/MHA (Llama, FuseMax encoders), MLA (naive for prefill, absorbed for
    decode unless `form` is given), NA/GNA over `spatial` (default: the model's reference layout)."""
    if m.variant in ("na", "gna"):
        shape = dict(spatial=options.pop("spatial", m.spatial), window=options.pop("window", m.window))
        if m.variant == "gna":
            shape["stride"] = options.pop("stride", m.stride)
        return build_attention(m.variant, batch=batch, heads=m.heads, head_dim=m.head_dim, dtype=m.dtype,
                               **shape, **options)
    if seq is None:
        raise CascadeError(f"{m.name}.attention: seq is required")
    options.setdefault("causal", m.causal)
    if m.variant == "mla":
        decode = seq_kv is not None and seq_kv != seq
        options.setdefault("form", "absorbed" if decode else "naive")
        return build_attention("mla", batch=batch, seq=seq, seq_kv=seq_kv, dtype=m.dtype, **m.mla, **options)
    return build_attention("gqa", batch=batch, heads=m.heads, kv_heads=m.kv_heads, seq=seq, seq_kv=seq_kv,
                           head_dim=m.head_dim, dtype=m.dtype, **options)


def model_layer(m: Model, *, seq: int | None, batch: int = 1, seq_kv: int | None = None, dense: bool = False,
                **options) -> Cascade:
    """One transformer layer of the model (`dense=True`: a dense-FFN layer of an MoE model)."""
    core = model_attention(m, seq=seq, batch=batch, seq_kv=seq_kv, **options)
    ffn, moe = m.ffn, m.moe
    if ffn == "moe" and dense:
        ffn, moe = "swiglu", None
    return layer(core, model_dim=m.model_dim, ffn_kind=ffn, ffn_dim=m.ffn_dim, norm_kind=m.norm,
                 post_norm=m.post_norm, rope=m.rope and m.variant not in ("na", "gna"), moe=moe, name=m.name)


def kv_bytes_per_token_per_layer(m: Model, dtype: str | None = None) -> int:
    """KV-cache bytes per token per layer: G·(E+F)·b, or MLA's latent row (C+Er)·b."""
    dtype = dtype or m.dtype
    if m.variant == "mla":
        return mla_kv_bytes_per_token("absorbed", dtype, **m.mla)
    return m.kv_heads * 2 * m.head_dim * DTYPE_BYTES[dtype]


def arithmetic_intensity(c: Cascade, dtype: str | None = None) -> float:
    """MAC FLOPs per compulsory DRAM byte (§0.4 rule 6)."""
    return flops(c) / compulsory_bytes(c, dtype)


def kv_cache_bytes(c: Cascade, dtype: str | None = None) -> int:
    """Bytes of the cascade's inputs indexed by the key rank P (the KV cache it reads), for the whole batch."""
    size = DTYPE_BYTES[dtype or c.dtype]
    return size * sum(math.prod(c.sizes[r] for r in c.tensors[t].ranks) for t in c.inputs
                      if "P" in c.tensors[t].ranks)
