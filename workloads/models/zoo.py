"""The model zoo: frozen configuration records plus pure functions that build their attention core and whole-layer
cascades, and cost figures over them. Configurations are the published ones (BERT-base, Devlin et al. 2019;
Transformer-XL, Dai et al. 2019; T5-small, Raffel et al. 2020; XLM, Conneau & Lample 2019 — the encoders of the
FuseMax and FLAT evaluations; Llama 3, Grattafiori et al. 2024; DeepSeek-V3, DeepSeek-AI 2024; FLUX.1 with NA and
HunyuanVideo with GNA as in the GNA paper, Hassani et al., arXiv 2504.16922).

`model(name)` returns a `Model`; `model("llama3-8b").attention(seq=1, seq_kv=8192)` is the decode core,
`.layer(seq=8192)` a prefill layer. Local-attention models (flux, hunyuanvideo) take a token layout `spatial`.
"""
from __future__ import annotations

import difflib
import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Mapping

from workloads.analysis import compulsory_bytes, flops
from workloads.dtypes import dtype_bytes
from workloads.errors import CascadeError, quote
from workloads.frozen import FrozenDict
from workloads.ir import Cascade, require_cascade
from workloads.models.layers import MoE, layer
from workloads.variants.mla import DEEPSEEK_V3, mla_kv_bytes_per_token
from workloads.variants.registry import VARIANTS, attention as build_attention, python_value


@dataclass(frozen=True)
class Model:
    """A model configuration: layer count, widths, heads, FFN kind, norm placement, attention variant (and its
    layout for local attention). `attention(...)` and `layer(...)` build its cascades."""
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
    mla: Mapping = field(default_factory=FrozenDict)
    vocab: int = 0               # token embedding and LM head rows (0: an encoder or diffusion model, none modelled)
    tied: bool = False           # the LM head shares the embedding's weights

    def __post_init__(self) -> None:
        object.__setattr__(self, "mla", FrozenDict(self.mla))

    def attention(self, seq: int | None = None, batch: int = 1, **options) -> Cascade:
        """The attention core: `seq` queries (and `seq_kv` keys for decode), any option of the variant's builder
        that the model does not fix."""
        return model_attention(self, seq=seq, batch=batch, **options)

    def layer(self, seq: int | None = None, batch: int = 1, **options) -> Cascade:
        """One whole layer around the attention core (`dense=True`: a dense-FFN layer of an MoE model)."""
        return model_layer(self, seq=seq, batch=batch, **options)

    def kv_cache_bytes_per_token(self) -> int:
        """KV-cache bytes per token for the whole model (every layer)."""
        return self.layers * kv_bytes_per_token_per_layer(self)

    @property
    def autoregressive(self) -> bool:
        """Whether it generates token by token (causal attention with a KV cache): the decoders."""
        return self.causal and self.variant not in ("na", "gna")


MODELS = {m.name: m for m in [
    Model("bert", 12, 768, 12, 12, 64, "gelu", 3072, norm="layer", post_norm=True, dtype="fp16"),
    Model("trxl", 18, 1024, 16, 16, 64, "relu", 4096, norm="layer", post_norm=True, dtype="fp16"),
    Model("t5", 6, 512, 8, 8, 64, "relu", 2048, norm="rms", dtype="fp16"),
    Model("xlm", 12, 2048, 16, 16, 128, "gelu", 8192, norm="layer", post_norm=True, dtype="fp16"),
    Model("llama3-8b", 32, 4096, 32, 8, 128, "swiglu", 14336, rope=True, causal=True, vocab=128256),
    Model("llama3-70b", 80, 8192, 64, 8, 128, "swiglu", 28672, rope=True, causal=True, vocab=128256),
    Model("deepseek-v3", 61, 7168, 128, 128, 128, "moe", 18432, rope=True, causal=True, variant="mla", moe=MoE(),
          dense_layers=3, mla=dict(DEEPSEEK_V3), vocab=129280),
    Model("flux", 57, 3072, 24, 24, 128, "gelu", 12288, norm="layer", variant="na", spatial=(256, 256),
          window=(80, 80)),
    Model("hunyuanvideo", 60, 3072, 24, 24, 128, "gelu", 12288, norm="layer", variant="gna", spatial=(30, 48, 80),
          window=(18, 24, 24), stride=(16, 8, 8)),
]}


def model(name: str) -> Model:
    """A model configuration by name; an unknown name lists the valid ones (and the nearest)."""
    if not isinstance(name, str) or name not in MODELS:
        near = difflib.get_close_matches(name, MODELS, n=1) if isinstance(name, str) and len(name) < 64 else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise CascadeError(f"unknown model {quote(name)}{hint} (valid: {', '.join(MODELS)})")
    return MODELS[name]


def model_attention(m: Model, *, seq: int | None, batch: int = 1, seq_kv: int | None = None, **options) -> Cascade:
    """The model's attention core: GQA/MHA (Llama, FuseMax encoders), MLA (naive for prefill, absorbed for
    decode unless `form` is given), NA/GNA over `spatial` (default: the model's reference layout)."""
    seq, batch, seq_kv = python_value(seq), python_value(batch), python_value(seq_kv)
    options = {k: python_value(v) for k, v in options.items()}
    fixed = _fixed(m)
    _check_options(m, fixed, options)
    if m.variant in ("na", "gna"):
        shape = dict(spatial=options.pop("spatial", m.spatial), window=options.pop("window", m.window))
        if m.variant == "gna":
            shape["stride"] = options.pop("stride", m.stride)
        _check_local_tokens(m, shape["spatial"], seq, seq_kv)
        return build_attention(m.variant, batch=batch, **fixed, **shape, **options)
    if seq is None:
        raise CascadeError(f"{m.name}.attention: seq is required")
    options.setdefault("causal", m.causal)
    if m.variant == "mla":
        decode = seq_kv is not None and seq_kv != seq
        options.setdefault("form", "absorbed" if decode else "naive")
        return build_attention("mla", batch=batch, seq=seq, seq_kv=seq_kv, **fixed, **options)
    return build_attention(_core_variant(m), batch=batch, seq=seq, seq_kv=seq_kv, **fixed, **options)


def _core_variant(m: Model) -> str:
    """The attention builder of the model: MHA when every query head has its own K/V head (the encoders of the
    FuseMax and FLAT evaluations), else GQA (or the model's own variant)."""
    if m.variant == "gqa" and m.kv_heads == m.heads:
        return "mha"
    return m.variant


def _fixed(m: Model) -> dict:
    """The builder arguments the model's configuration sets (a caller may not pass them)."""
    if m.variant in ("na", "gna"):
        return {"heads": m.heads, "head_dim": m.head_dim, "dtype": m.dtype}
    if m.variant == "mla":
        return {**m.mla, "dtype": m.dtype}
    if _core_variant(m) == "mha":
        return {"heads": m.heads, "head_dim": m.head_dim, "dtype": m.dtype}
    return {"heads": m.heads, "kv_heads": m.kv_heads, "head_dim": m.head_dim, "dtype": m.dtype}


def _check_options(m: Model, fixed: dict, options: dict) -> None:
    """Refuse an option the model fixes (naming its value) or one the builder does not take (naming the nearest)."""
    variant = _core_variant(m)
    allowed = [k for k in inspect.signature(VARIANTS[variant]).parameters
               if k not in fixed and k not in ("batch", "seq", "seq_kv")]
    for key in options:
        if key in fixed:
            raise CascadeError(f"{m.name}.attention: {key} is fixed by the model ({key}={quote(fixed[key])}); you "
                               f"may pass seq, batch, seq_kv, {', '.join(allowed)}")
        if key not in allowed:
            names = allowed + ["seq", "batch", "seq_kv"]
            near = difflib.get_close_matches(str(key), names, n=1) if len(str(key)) < 64 else []
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise CascadeError(f"{m.name}.attention: unknown option {quote(key)}{hint}; you may pass seq, batch, "
                               f"seq_kv, {', '.join(allowed)}")


def _check_local_tokens(m: Model, spatial, seq, seq_kv) -> None:
    """Local attention is self-attention over its layout: seq (and seq_kv), if given, are its token count."""
    layout = isinstance(spatial, (tuple, list)) and all(isinstance(n, numbers.Integral) for n in spatial)
    tokens = math.prod(spatial) if layout else None
    for key, value in (("seq", seq), ("seq_kv", seq_kv)):
        if value is not None and value != tokens:
            count = f" ({tokens} tokens)" if tokens is not None else ""
            raise CascadeError(f"{m.name}.attention: {key}={quote(value)} disagrees with the token layout "
                               f"spatial={quote(spatial)}{count}; give spatial= instead")


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
    return m.kv_heads * 2 * m.head_dim * dtype_bytes(dtype)


def arithmetic_intensity(c: Cascade, dtype: str | None = None) -> float:
    """MAC FLOPs (`workloads.flops`) per compulsory DRAM byte: the roofline's x-axis (Williams et al., 2009)."""
    return flops(c) / compulsory_bytes(c, dtype)


def kv_cache_bytes(c: Cascade, dtype: str | None = None) -> int:
    """Bytes of the cascade's inputs indexed by the key rank P (the KV cache it reads), for the whole batch."""
    require_cascade(c, "kv_cache_bytes")
    size = dtype_bytes(dtype or c)
    return size * sum(math.prod(c.sizes[r] for r in c.tensors[t].ranks) for t in c.inputs
                      if "P" in c.tensors[t].ranks)
