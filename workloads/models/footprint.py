"""What a model keeps in memory: its weights and its KV cache, counted from its layer cascades, and the kernels
around its layers (embedding lookup, final norm, LM head).

A layer's parameters are its inputs indexed by no token rank (B, M, P, the MoE token stream T, and their split
parts): projection weights, norm gains, expert weights — every routed expert, touched or not. The KV cache per
token is what a decode layer reads per cached token (its inputs over the key rank P: K and V, or MLA's latent row).
"""
from __future__ import annotations

import math

from workloads.analysis import elements
from workloads.build import cascade, gemm
from workloads.dtypes import dtype_bytes
from workloads.ir import Cascade
from workloads.models.kernels import Kernel
from workloads.models.layers import norm
from workloads.models.streams import TOKEN_RANKS, token_ranks
from workloads.models.zoo import Model, kv_cache_bytes

__all__ = ["TOKEN_RANKS", "head_kernels", "kv_bytes_per_token", "layer_counts", "model_parameters", "parameters"]

NORM_EPS = 1e-5    # the final RMSNorm's epsilon (Llama 3, DeepSeek-V3 configs)


def parameters(c: Cascade) -> int:
    """Parameters of a layer cascade: the elements of its inputs that no token rank indexes."""
    tokens = token_ranks(c)
    return sum(elements(c, t) for t in c.inputs if not set(c.tensors[t].ranks) & tokens)


def kv_bytes_per_token(decode_layer: Cascade) -> float:
    """KV-cache bytes one cached token costs one layer (a decode layer's inputs over P, per sequence and key)."""
    s = decode_layer.sizes
    return kv_cache_bytes(decode_layer) / (s["B"] * s["P"])


def layer_counts(m: Model) -> dict[bool, int]:
    """How many of the model's layers are dense-FFN layers (True) and how many its main kind (False)."""
    dense = m.dense_layers if m.ffn == "moe" else 0
    return {k: v for k, v in ((True, dense), (False, m.layers - dense)) if v}


def _sample_layer(m: Model, dense: bool) -> Cascade:
    """A small layer of the model with its full weights (one token; local models at their own layout)."""
    if m.variant in ("na", "gna"):
        return m.layer()
    kw = {"dense": True} if dense else {}
    return m.layer(seq=1, seq_kv=2, **kw) if m.autoregressive else m.layer(seq=1, **kw)


def model_parameters(m: Model) -> int:
    """Every parameter of the model: its layers' (dense and main kind), the embedding and LM head (one table if
    tied) and the final norm's gain."""
    layers = sum(count * parameters(_sample_layer(m, dense)) for dense, count in layer_counts(m).items())
    heads = m.vocab * m.model_dim * (1 if m.tied else 2) + (m.model_dim if m.vocab else 0)
    return layers + heads


def head_kernels(m: Model, batch: int, seq: int) -> tuple[tuple[Kernel, ...], tuple[Kernel, ...]]:
    """(before the layers, after them): the embedding lookup of B·M token rows, the final RMSNorm and the LM head
    on the last position of each sequence (the logits generation samples from). Empty for a model without a
    vocabulary (encoders and diffusion models: their heads are not modelled)."""
    if not m.vocab:
        return (), ()
    d = m.model_dim
    embed = cascade("input EMB[b,m,d]\nH0[b,m,d] = EMB[b,m,d]", {"B": batch, "M": seq, "D": d},
                    name=f"{m.name}.embed", dtype=m.dtype)
    final = cascade("input X[b,m,d], XF_G[d]\n" + "\n".join(norm("rms", "X", "XF", "b,m", "d", d, NORM_EPS)),
                    {"B": batch, "M": seq, "D": d}, name=f"{m.name}.final_norm", dtype=m.dtype)
    head = gemm(batch, m.vocab, d, m.dtype)
    return ((Kernel("embed", "embedding", (), embed),),
            (Kernel("final_norm", "norm", (), final), Kernel("lm_head", "linear", (), head, "fused GEMM")))


def weight_bytes(m: Model) -> int:
    """Bytes of the model's parameters in its dtype."""
    return model_parameters(m) * dtype_bytes(m.dtype)


def kv_cache_total(m: Model, batch: int, tokens: int, per_token_layer: float) -> float:
    """KV-cache bytes of `batch` sequences of `tokens` cached tokens over every layer."""
    return batch * tokens * per_token_layer * m.layers


def round_up(x: float) -> int:
    """Bytes as an integer (rounded up)."""
    return int(math.ceil(x))
