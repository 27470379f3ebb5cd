"""Whole transformer layers as cascades: norms, projections, RoPE, any attention variant, the output projection,
residuals and an FFN (GELU, ReLU, SwiGLU or DeepSeek-V3's MoE).

A layer is composed on cascade data: the attention cascade's own Einsums, splits, masks and initial values are
kept as they are, its Q/K/V (or MLA's QN/QR/CKV/KR) inputs become Einsums over the normalised input X [B,M,D]
(the layer's own statements), its other inputs stay inputs, and the whole goes through the validating builder
(`workloads.build.assemble`). The output is OUT [B,M,D]. Prefill is self-attention (P = M); with P > M (decode)
the K/V (or latent) cache is an input and the new tokens' K/V projections are written to KN/VN.

RoPE (Su et al., RoFormer, 2021) rotates the interleaved pairs (2i, 2i+1): with the head dim split e -> e1, e0
(E0 = 2), Q[.., e1, e0] = QP[.., e1, e0s]·ROT[m, e1, e0s, e0], where ROT holds each position's 2×2 rotation (cos,
sin, −sin, cos): a table of 2·M·E values, like the cos/sin tables of reference implementations, and 2 MACs per
element. The rotated tensors are stored split and read whole by the attention core. The MoE routing (which k
experts a token takes) is control: an input ROUTE [B,T,X] plus the matching (token, expert) block filter, shared
across the batch (DeepSeek-AI, DeepSeek-V3 technical report, 2024, §2.1.2).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from workloads.build import assemble, collect, input_ref
from workloads.errors import CascadeError, quote
from workloads.ir import Blocks, Cascade, Ref, require_cascade
from workloads.parse import parse
from workloads.variants.cores import positive

NORMS = ("rms", "layer")
FFNS = ("gelu", "relu", "swiglu", "moe")
DEFAULT_Q_LORA = 1536   # DeepSeek-V3's q_lora_rank (config_671B.json), the MLA query down-projection


@dataclass(frozen=True)
class MoE:
    """DeepSeek-V3 MoE FFN parameters: X routed experts of hidden Se, top-k, shared-expert hidden, route scale."""
    experts: int = 256
    top_k: int = 8
    expert_dim: int = 2048
    shared_dim: int = 2048
    route_scale: float = 2.5


def norm(kind: str, src: str, dst: str, lead: str, rank: str, size: int, eps: float) -> list[str]:
    """RMSNorm (Zhang & Sennrich, 2019) or LayerNorm (Ba et al., 2016) of `src`[lead, rank] over `rank` into
    `dst`, gain `dst`_G (and bias `dst`_B)."""
    inv = repr(1.0 / size)
    x = f"{src}[{lead},{rank}]"
    if kind == "rms":
        return [f"{dst}_SS[{lead}] = {x} * {x}",
                f"{dst}_RN[{lead}] = rsqrt({dst}_SS[{lead}] * {inv} + {eps!r})",
                f"{dst}[{lead},{rank}] = {x} * {dst}_RN[{lead}] * {dst}_G[{rank}]"]
    if kind == "layer":
        return [f"{dst}_MU[{lead}] = {x} * {inv}",
                f"{dst}_XC[{lead},{rank}] = {x} - {dst}_MU[{lead}]",
                f"{dst}_VR[{lead}] = {dst}_XC[{lead},{rank}] * {dst}_XC[{lead},{rank}] * {inv}",
                f"{dst}[{lead},{rank}] = {dst}_XC[{lead},{rank}] * rsqrt({dst}_VR[{lead}] + {eps!r}) * {dst}_G[{rank}] "
                f"+ {dst}_B[{rank}]"]
    raise CascadeError(f"unknown norm {quote(kind)} (valid: {', '.join(NORMS)})")


def norm_inputs(kind: str, dst: str, rank: str) -> list[str]:
    """The gain (and LayerNorm's bias) a norm reads."""
    return [f"{dst}_G[{rank}]"] + ([f"{dst}_B[{rank}]"] if kind == "layer" else [])


def moe_routing(seq: int, moe: MoE) -> tuple[tuple[bool, ...], ...]:
    """The routing table the layer's MoE filter uses (token t takes experts t·k … t·k + k − 1 mod X)."""
    t = np.arange(seq)[:, None]
    x = np.arange(moe.experts)[None, :]
    return tuple(map(tuple, ((x - t * moe.top_k) % moe.experts < moe.top_k).tolist()))


class _Layer:
    """The pieces of a layer being composed: the attention cascade, the layer's own statements and inputs."""

    def __init__(self, attention: Cascade, model_dim: int, eps: float):
        self.attention, self.model_dim, self.eps = attention, model_dim, eps
        self.sizes = {**attention.sizes, "D": model_dim}
        self.inputs: list[str | Ref] = ["X[b,m,d]"]
        self.splits: list[str] = []
        self.masks: list[Blocks] = []
        self.pre: list[str] = []
        self.post: list[str] = []
        self.decode = self.sizes["P"] != self.sizes["M"]

    def norm(self, kind: str, src: str, dst: str, into: list[str]) -> None:
        """A norm over the model rank D appended to `into` (pre or post statements), with its gain inputs."""
        into += norm(kind, src, dst, "b,m", "d", self.model_dim, self.eps)
        self.inputs += norm_inputs(kind, dst, "d")

    def rotate(self, dst: str, proj: str, lead: str, pos: str, rank: str) -> None:
        """RoPE of `proj` into `dst` over head-dim rank `rank` (split into pairs), with the position table."""
        r1, r0 = f"{rank}1", f"{rank}0"
        table = f"ROT_{rank.upper()}[{pos},{r1},{r0}s,{r0}]"
        self.pre.append(f"{dst}[{lead},{r1},{r0}] = {proj}[{lead},{r1},{r0}s] * {table}")
        if f"split {rank} -> {r1}, {r0}" not in self.splits:
            size = self.sizes[rank.upper()]
            if size % 2:
                raise CascadeError(f"rope: the rotated dimension {rank.upper()}={size} must be even")
            self.splits.append(f"split {rank} -> {r1}, {r0}")
            self.sizes.update({f"{rank.upper()}0": 2, f"{rank.upper()}0S": 2})
            self.inputs.append(f"ROT_{rank.upper()}[m,{r1},{r0}s,{r0}]")

    def build(self, name: str) -> Cascade:
        """The layer through the validating builder: the layer's statements around the attention's IR objects."""
        a = self.attention
        declared = {r.tensor: r for r in collect(parse("input " + ", ".join(
            d for d in self.inputs if isinstance(d, str)))).inputs}
        inputs = [declared[d.split("[")[0]] if isinstance(d, str) else d for d in self.inputs]
        pre, post = collect(parse("\n".join(self.splits + self.pre))), collect(parse("\n".join(self.post)))
        return assemble(name=f"{name}_{a.name}", sizes=self.sizes, inputs=inputs,
                        einsums=pre.einsums + a.einsums + post.einsums, splits=a.splits + pre.splits,
                        masks=a.masks + tuple(self.masks), inits=a.inits, output="OUT", dtype=a.dtype)


def layer(attention: Cascade, *, model_dim: int, ffn_kind: str, ffn_dim: int | None = None, norm_kind: str = "rms",
          post_norm: bool = False, rope: bool = True, eps: float = 1e-5, moe: MoE | None = None,
          q_lora: int | None = None, name: str = "layer") -> Cascade:
    """Compose a transformer layer around an attention cascade (GQA-family with Q/K/V inputs, or MLA).

    Pre-norm: h = X + O(attn(N(X))); out = h + FFN(N(h)). Post-norm: h = N(X + O(attn(X))); out = N(h + FFN(h)).
    """
    args = dict(model_dim=model_dim, ffn_kind=ffn_kind, ffn_dim=ffn_dim, norm_kind=norm_kind, post_norm=post_norm,
                rope=rope, eps=eps, q_lora=q_lora, name=name)
    _check_layer(attention, **args)
    parts = _Layer(attention, int(model_dim), float(eps))
    src = "X"
    if not post_norm:
        parts.norm(norm_kind, "X", "XN", parts.pre)
        src = "XN"
    if {"Q", "K", "V"} <= set(attention.inputs):
        produced = _grouped_projections(parts, src, rope)
    elif {"QN", "QR", "CKV", "KR"} <= set(attention.inputs):
        produced = _mla_projections(parts, src, int(q_lora or DEFAULT_Q_LORA))
    else:
        raise CascadeError(f"layer: attention {attention.name} has inputs {list(attention.inputs)}; a layer needs "
                           f"Q, K, V (GQA family) or QN, QR, CKV, KR (MLA)")
    parts.inputs += [input_ref(attention.tensors[t]) for t in attention.inputs if t not in produced]
    _output_projection(parts)
    _feed_forward(parts, ffn_kind, ffn_dim, moe, norm_kind, post_norm)
    return parts.build(name)


def _check_layer(attention, *, model_dim, ffn_kind, ffn_dim, norm_kind, post_norm, rope, eps, q_lora, name) -> None:
    require_cascade(attention, "layer")
    positive(model_dim=model_dim)
    if not isinstance(norm_kind, str) or norm_kind not in NORMS:
        raise CascadeError(f"unknown norm {quote(norm_kind)} (valid: {', '.join(NORMS)})")
    if not isinstance(ffn_kind, str) or ffn_kind not in FFNS:
        raise CascadeError(f"unknown ffn {quote(ffn_kind)} (valid: {', '.join(FFNS)})")
    for key, flag in (("post_norm", post_norm), ("rope", rope)):
        if not isinstance(flag, (bool, np.bool_)):
            raise CascadeError(f"layer: {key} must be True or False, got {quote(flag)}")
    if not isinstance(name, str):
        raise CascadeError(f"layer: name must be a str, got {type(name).__name__}")
    if ffn_kind != "moe":
        if ffn_dim is None:
            raise CascadeError(f"layer: ffn {ffn_kind!r} needs ffn_dim")
        positive(ffn_dim=ffn_dim)
    if q_lora is not None:
        positive(q_lora=q_lora)
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise CascadeError(f"layer: eps must be a real number in [0, 1), got {quote(eps)}")
    if "D" in attention.sizes:
        raise CascadeError(f"layer: attention {attention.name} already has a model rank D (it projects its own output)")
    if not {"M", "P"} <= set(attention.sizes):
        raise CascadeError(f"layer: attention {attention.name} needs query and key ranks M and P")


def _grouped_projections(parts: _Layer, src: str, rope: bool) -> set[str]:
    """Q, K, V from `src` (K/V from the cache in decode, the new tokens' K/V written to KN/VN)."""
    kvh = "g" if "G" in parts.attention.tensors["K"].ranks else "h"
    kv_src = src
    if rope:
        parts.pre.append(f"QP[b,h,m,e1,e0] = {src}[b,m,d] * WQ[d,h,e1,e0]")
        parts.rotate("Q", "QP", "b,h,m", "m", "e")
    else:
        parts.pre.append(f"Q[b,h,m,e] = {src}[b,m,d] * WQ[d,h,e]")
    parts.inputs += ["WQ[d,h,e]", f"WK[d,{kvh},e]", f"WV[d,{kvh},f]"]
    if parts.decode:
        parts.inputs += [f"K[b,{kvh},p,e]", f"V[b,{kvh},p,f]"]
        parts.pre += [f"KN[b,{kvh},m,e] = {src}[b,m,d] * WK[d,{kvh},e]",
                      f"VN[b,{kvh},m,f] = {src}[b,m,d] * WV[d,{kvh},f]"]
        return {"Q", "K", "V"}
    if rope:
        parts.pre.append(f"KP[b,{kvh},p,e1,e0] = {kv_src}[b,p,d] * WK[d,{kvh},e1,e0]")
        parts.rotate("K", "KP", f"b,{kvh},p", "p", "e")
    else:
        parts.pre.append(f"K[b,{kvh},p,e] = {kv_src}[b,p,d] * WK[d,{kvh},e]")
    parts.pre.append(f"V[b,{kvh},p,f] = {kv_src}[b,p,d] * WV[d,{kvh},f]")
    return {"Q", "K", "V"}


def _mla_projections(parts: _Layer, src: str, q_lora: int) -> set[str]:
    """MLA's query LoRA (CQ, RMSNorm, up-projections) and the latent KV row (DeepSeek-V2, arXiv 2405.04434, §2.1)."""
    parts.sizes["CQ"] = q_lora
    parts.pre += [f"CQ[b,m,cq] = {src}[b,m,d] * WDQ[d,cq]"] + norm("rms", "CQ", "CQN", "b,m", "cq", q_lora, parts.eps)
    parts.pre += ["QN[b,h,m,en] = CQN[b,m,cq] * WUQ[cq,h,en]", "QRP[b,h,m,er1,er0] = CQN[b,m,cq] * WQR[cq,h,er1,er0]"]
    parts.rotate("QR", "QRP", "b,h,m", "m", "er")
    parts.inputs += ["WDQ[d,cq]", "CQN_G[cq]", "WUQ[cq,h,en]", "WQR[cq,h,er]", "WDKV[d,c]", "WKR[d,er]"]
    if parts.decode:
        parts.inputs += ["CKV[b,p,c]", "KR[b,p,er]"]
        parts.pre += [f"CKVNEW[b,m,c] = {src}[b,m,d] * WDKV[d,c]", f"KRNEW[b,m,er] = {src}[b,m,d] * WKR[d,er]"]
    else:
        parts.inputs.append("CKV_G[c]")
        parts.pre += [f"CKVR[b,p,c] = {src}[b,p,d] * WDKV[d,c]"]
        parts.pre += norm("rms", "CKVR", "CKV", "b,p", "c", parts.sizes["C"], parts.eps)
        parts.pre += [f"KRP[b,p,er1,er0] = {src}[b,p,d] * WKR[d,er1,er0]"]
        parts.rotate("KR", "KRP", "b,p", "p", "er")
    return {"QN", "QR", "CKV", "KR"}


def _output_projection(parts: _Layer) -> None:
    a = parts.attention
    out_ranks = a.tensors[a.output].ranks
    if out_ranks[1:3] == ("G", "R"):
        parts.post.append(f"O[b,m,d] = {a.output}[b,g,r,m,f] * WO[g,r,f,d]")
    elif out_ranks[1:2] == ("H",):
        parts.post.append(f"O[b,m,d] = {a.output}[b,h,m,f] * WO[h,f,d]")
    else:
        raise CascadeError(f"layer: cannot project the output {a.output}{list(out_ranks)} of {a.name}")
    parts.inputs.append("WO[h,f,d]")
    parts.post.append("H1[b,m,d] = X[b,m,d] + O[b,m,d]")


def _feed_forward(parts: _Layer, kind: str, ffn_dim: int | None, moe: MoE | None, norm_kind: str,
                  post_norm: bool) -> None:
    """The FFN from the normalised residual HN, and the final residual (and norm, post-norm)."""
    parts.norm(norm_kind, "H1", "HN", parts.post)
    if kind == "moe":
        _moe(parts, moe or MoE())
    else:
        parts.sizes["S"] = int(ffn_dim)
        parts.post += _dense_ffn(kind)
        parts.inputs += ["WG[d,s]", "WU[d,s]", "WD[s,d]"] if kind == "swiglu" else ["W1[d,s]", "W2[s,d]"]
    residual = "HN" if post_norm else "H1"
    if post_norm:
        parts.post.append(f"H2[b,m,d] = {residual}[b,m,d] + FO[b,m,d]")
        parts.norm(norm_kind, "H2", "OUT", parts.post)
    else:
        parts.post.append(f"OUT[b,m,d] = {residual}[b,m,d] + FO[b,m,d]")


def _dense_ffn(kind: str) -> list[str]:
    if kind == "swiglu":   # Shazeer, "GLU Variants Improve Transformer", 2020
        return ["FG[b,m,s] = HN[b,m,d] * WG[d,s]", "FU[b,m,s] = HN[b,m,d] * WU[d,s]",
                "FA[b,m,s] = silu(FG[b,m,s]) * FU[b,m,s]", "FO[b,m,d] = FA[b,m,s] * WD[s,d]"]
    return ["F1[b,m,s] = HN[b,m,d] * W1[d,s]", f"FA[b,m,s] = {kind}(F1[b,m,s])", "FO[b,m,d] = FA[b,m,s] * W2[s,d]"]


def _moe(parts: _Layer, moe: MoE) -> None:
    """DeepSeek-V3's MoE: sigmoid router, gates renormalised over the chosen k and scaled, SwiGLU experts on the
    chosen (token, expert) pairs only, plus the shared expert."""
    if not isinstance(moe, MoE):
        raise CascadeError(f"layer: moe must be a MoE, got {type(moe).__name__}")
    positive(experts=moe.experts, top_k=moe.top_k, expert_dim=moe.expert_dim, shared_dim=moe.shared_dim)
    if moe.top_k > moe.experts:
        raise CascadeError(f"moe: top_k={moe.top_k} must be in [1, experts={moe.experts}]")
    if isinstance(moe.route_scale, bool) or not isinstance(moe.route_scale, numbers.Real):
        raise CascadeError(f"moe: route_scale must be a real number, got {quote(moe.route_scale)}")
    parts.post += [
        "LG[b,t,xr] = HN[b,t,d] * WGATE[xr,d]", "SG[b,t,xr] = sigmoid(LG[b,t,xr])",
        "SGN[b,t] = SG[b,t,xr] * ROUTE[b,t,xr]", f"WT[b,t,x] = SG[b,t,x] / SGN[b,t] * {float(moe.route_scale)!r}",
        "EG[b,t,x,se] = HN[b,t,d] * WEG[x,d,se]", "EU[b,t,x,se] = HN[b,t,d] * WEU[x,d,se]",
        "EA[b,t,x,se] = silu(EG[b,t,x,se]) * EU[b,t,x,se]", "EW[b,t,x,se] = WT[b,t,x] * EA[b,t,x,se]",
        "EO[b,t,d] = EW[b,t,x,se] * WED[x,se,d]", "SHG[b,t,s] = HN[b,t,d] * WG[d,s]",
        "SHU[b,t,s] = HN[b,t,d] * WU[d,s]", "SHA[b,t,s] = silu(SHG[b,t,s]) * SHU[b,t,s]",
        "SO[b,t,d] = SHA[b,t,s] * WD[s,d]", "FO[b,t,d] = EO[b,t,d] + SO[b,t,d]",
    ]
    parts.inputs += ["WGATE[x,d]", "ROUTE[b,t,x]", "WEG[x,d,se]", "WEU[x,d,se]", "WED[x,se,d]", "WG[d,s]",
                     "WU[d,s]", "WD[s,d]"]
    seq = parts.sizes["M"]
    parts.sizes.update({"X": int(moe.experts), "XR": int(moe.experts), "SE": int(moe.expert_dim),
                        "S": int(moe.shared_dim), "T": seq})
    parts.masks.append(Blocks("T", "X", 1, 1, moe_routing(seq, moe)))
