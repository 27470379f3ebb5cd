"""Whole transformer layers as cascades: norms, projections, RoPE, any attention variant, the output projection,
residuals and an FFN (GELU, ReLU, SwiGLU or DeepSeek-V3's MoE, `workloads.models.moe`).

A layer is composed on cascade data: the attention cascade's own Einsums, splits, masks and initial values are
kept as they are, its Q/K/V (or MLA's QN/QR/CKV/KR) inputs become Einsums over the normalised input X [B,M,D]
(the layer's own statements), its other inputs stay inputs, and the whole goes through the validating builder
(`workloads.build.assemble`). The output is OUT [B,M,D]. Prefill is self-attention (P = M); with P > M (decode)
the K/V (or latent) cache is an input and the new tokens' keys and values are written to KN/VN (MLA: CKVNEW,
KRNEW), rotated and normalised as the cached ones are. An attention cascade that projects its own output to the
model rank (MoH's gated heads) is added to the residual directly.

RoPE (Su et al., RoFormer, 2021) rotates the interleaved pairs (2i, 2i+1): with the head dim split e -> e1, e0
(E0 = 2), Q[.., e1, e0] = QP[.., e1, e0s]·ROT[m, e1, e0s, e0], where ROT holds each position's 2×2 rotation (cos,
sin, −sin, cos): a table of 2·M·E values, like the cos/sin tables of reference implementations, and 2 MACs per
element. The rotated tensors are stored split and read whole by the attention core.

The result is a `Layer` (`workloads.models.parts`): the cascade plus its parts, the kernel-sized groups of
Einsums a target may run as one kernel (the Q, K and V projections as one fused GEMM, each norm, each rotation,
the attention core, ...).
"""
from __future__ import annotations

import numbers

import numpy as np

from workloads.build import assemble, collect, input_ref
from workloads.errors import CascadeError, quote
from workloads.ir import Blocks, Cascade, Ref, require_cascade
from workloads.models.extract import contraction, subcascade
from workloads.models.moe import MOE_INPUTS, MoE, check_moe, moe_routing, moe_sizes, moe_statements
from workloads.models.parts import Layer, Part, labelled
from workloads.parse import parse
from workloads.variants.cores import positive

__all__ = ["FFNS", "MoE", "NORMS", "layer", "norm"]

NORMS = ("rms", "layer")
FFNS = ("gelu", "relu", "swiglu", "moe")
DEFAULT_Q_LORA = 1536   # DeepSeek-V3's q_lora_rank (config_671B.json), the MLA query down-projection
CORE_OUTPUT = "AV"      # the attention core's output in every variant (MoH gates and projects it afterwards)


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


def _statement_name(statement: str) -> str:
    return statement.split("[", 1)[0].strip()


class _Layer:
    """The pieces of a layer being composed: the attention cascade, the layer's own statements (in labelled parts
    before and after the attention) and inputs."""

    def __init__(self, attention: Cascade, model_dim: int, eps: float):
        self.attention, self.model_dim, self.eps = attention, model_dim, eps
        self.sizes = {**attention.sizes, "D": model_dim}
        self.inputs: list[str | Ref] = ["X[b,m,d]"]
        self.splits: list[str] = []
        self.masks: list[Blocks] = []
        self.pre: list[tuple[str, str, list[str]]] = []    # (part, kind, statements) before the attention
        self.post: list[tuple[str, str, list[str]]] = []   # ... and after it
        self.decode = self.sizes["P"] != self.sizes["M"]

    def add(self, where: str, part: str, kind: str, statements: list[str]) -> None:
        """Append statements to a part before ("pre") or after ("post") the attention (a new part, or the last)."""
        parts = self.pre if where == "pre" else self.post
        if parts and parts[-1][0] == part:
            parts[-1][2].extend(statements)
        else:
            parts.append((part, kind, list(statements)))

    def norm(self, kind: str, src: str, dst: str, where: str, part: str) -> None:
        """A norm over the model rank D, as its own part, with its gain inputs."""
        self.add(where, part, "norm", norm(kind, src, dst, "b,m", "d", self.model_dim, self.eps))
        self.inputs += norm_inputs(kind, dst, "d")

    def rotate(self, dst: str, proj: str, lead: str, pos: str, rank: str, part: str) -> None:
        """RoPE of `proj` into `dst` over head-dim rank `rank` (split into pairs), with the position table."""
        r1, r0 = f"{rank}1", f"{rank}0"
        table = f"ROT_{rank.upper()}[{pos},{r1},{r0}s,{r0}]"
        self.add("pre", part, "rope", [f"{dst}[{lead},{r1},{r0}] = {proj}[{lead},{r1},{r0}s] * {table}"])
        if f"split {rank} -> {r1}, {r0}" not in self.splits:
            size = self.sizes[rank.upper()]
            if size % 2:
                raise CascadeError(f"rope: the rotated dimension {rank.upper()}={size} must be even")
            self.splits.append(f"split {rank} -> {r1}, {r0}")
            self.sizes.update({f"{rank.upper()}0": 2, f"{rank.upper()}0S": 2})
            self.inputs.append(f"ROT_{rank.upper()}[m,{r1},{r0}s,{r0}]")

    def build(self, name: str) -> Layer:
        """The layer through the validating builder: the layer's statements around the attention's IR objects."""
        a = self.attention
        declared = {r.tensor: r for r in collect(parse("input " + ", ".join(
            d for d in self.inputs if isinstance(d, str)))).inputs}
        inputs = [declared[d.split("[")[0]] if isinstance(d, str) else d for d in self.inputs]
        pre_text = [s for _, _, st in self.pre for s in st]
        post_text = [s for _, _, st in self.post for s in st]
        pre, post = collect(parse("\n".join(self.splits + pre_text))), collect(parse("\n".join(post_text)))
        c = assemble(name=f"{name}_{a.name}", sizes=self.sizes, inputs=inputs,
                     einsums=pre.einsums + a.einsums + post.einsums, splits=a.splits + pre.splits + post.splits,
                     masks=a.masks + tuple(self.masks), inits=a.inits, output="OUT", dtype=a.dtype)
        own = [Part(p, kind, tuple(_statement_name(s) for s in st)) for p, kind, st in self.pre]
        after = [Part(p, kind, tuple(_statement_name(s) for s in st)) for p, kind, st in self.post]
        return labelled(c, tuple(own) + attention_parts(a) + tuple(after))


def attention_parts(a: Cascade) -> tuple[Part, ...]:
    """The attention cascade as parts: its core up to AV (which keeps the core cascade), then what follows AV in
    the variant (MoH's head gates, an elementwise part, and its output projection, a linear one)."""
    names = [e.name for e in a.einsums]
    if CORE_OUTPUT not in names or names[-1] == CORE_OUTPUT:
        return (Part("attention", "attention", tuple(names), a),)
    cut = names.index(CORE_OUTPUT) + 1
    core = subcascade(a, names[:cut], f"{a.name}_core")
    parts = [Part("attention", "attention", tuple(names[:cut]), core)]
    for e in a.einsums[cut:]:
        weight = _projection_weight(a, e)
        parts.append(Part("o_proj" if weight else f"{e.name.lower()}_gate", "linear" if weight else "activation",
                          (e.name,)))
    return tuple(parts)


def _projection_weight(a: Cascade, e) -> str | None:
    """The weight input an Einsum contracts with (a sum over a product with an input without the batch rank)."""
    found = contraction(a, e)
    return found[1] if found else None


def layer(attention: Cascade, *, model_dim: int, ffn_kind: str, ffn_dim: int | None = None, norm_kind: str = "rms",
          post_norm: bool = False, rope: bool = True, eps: float = 1e-5, moe: MoE | None = None,
          q_lora: int | None = None, name: str = "layer") -> Layer:
    """Compose a transformer layer around an attention cascade (GQA-family with Q/K/V inputs, or MLA).

    Pre-norm: h = X + O(attn(N(X))); out = h + FFN(N(h)). Post-norm: h = N(X + O(attn(X))); out = N(h + FFN(h)).
    """
    args = dict(model_dim=model_dim, ffn_kind=ffn_kind, ffn_dim=ffn_dim, norm_kind=norm_kind, post_norm=post_norm,
                rope=rope, eps=eps, q_lora=q_lora, name=name)
    _check_layer(attention, **args)
    parts = _Layer(attention, int(model_dim), float(eps))
    src = "X"
    if not post_norm:
        parts.norm(norm_kind, "X", "XN", "pre", "attn_norm")
        src = "XN"
    if {"Q", "K", "V"} <= set(attention.inputs):
        produced = _grouped_projections(parts, src, rope)
    elif {"QN", "QR", "CKV", "KR"} <= set(attention.inputs):
        produced = _mla_projections(parts, src, int(q_lora or DEFAULT_Q_LORA))
    else:
        raise CascadeError(f"layer: attention {attention.name} has inputs {list(attention.inputs)}; a layer needs "
                           f"Q, K, V (GQA family) or QN, QR, CKV, KR (MLA)")
    parts.inputs += [input_ref(attention.tensors[t]) for t in attention.inputs if t not in produced]
    _output_projection(parts, norm_kind, post_norm)
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
    if "D" in attention.sizes and not (_projects_itself(attention) and attention.sizes["D"] == model_dim):
        raise CascadeError(f"layer: attention {attention.name} already has a model rank D (it projects its own output "
                           f"to D={attention.sizes['D']}; the layer needs its output [B, M, D] with D = model_dim)")
    if not {"M", "P"} <= set(attention.sizes):
        raise CascadeError(f"layer: attention {attention.name} needs query and key ranks M and P")


def _projects_itself(a: Cascade) -> bool:
    """An attention cascade whose output is already [B, M, D] (MoH's gated, projected heads)."""
    return a.tensors[a.output].ranks == ("B", "M", "D")


def _grouped_projections(parts: _Layer, src: str, rope: bool) -> set[str]:
    """Q, K, V from `src` as one fused projection (in decode: the new tokens' KN, VN beside the cache K, V)."""
    kvh = "g" if "G" in parts.attention.tensors["K"].ranks else "h"
    kv_rank = "m" if parts.decode else "p"
    k_out, v_out = ("KN", "VN") if parts.decode else ("K", "V")
    parts.inputs += ["WQ[d,h,e]", f"WK[d,{kvh},e]", f"WV[d,{kvh},f]"]
    if parts.decode:
        parts.inputs += [f"K[b,{kvh},p,e]", f"V[b,{kvh},p,f]"]
    if not rope:
        parts.add("pre", "qkv", "linear", [f"Q[b,h,m,e] = {src}[b,m,d] * WQ[d,h,e]",
                                           f"{k_out}[b,{kvh},{kv_rank},e] = {src}[b,{kv_rank},d] * WK[d,{kvh},e]",
                                           f"{v_out}[b,{kvh},{kv_rank},f] = {src}[b,{kv_rank},d] * WV[d,{kvh},f]"])
        return {"Q", "K", "V"}
    parts.add("pre", "qkv", "linear", [f"QP[b,h,m,e1,e0] = {src}[b,m,d] * WQ[d,h,e1,e0]",
                                       f"{k_out}P[b,{kvh},{kv_rank},e1,e0] = {src}[b,{kv_rank},d] * WK[d,{kvh},e1,e0]",
                                       f"{v_out}[b,{kvh},{kv_rank},f] = {src}[b,{kv_rank},d] * WV[d,{kvh},f]"])
    parts.rotate("Q", "QP", "b,h,m", "m", "e", "rope_q")
    parts.rotate(k_out, f"{k_out}P", f"b,{kvh},{kv_rank}", kv_rank, "e", "rope_k")
    return {"Q", "K", "V"}


def _mla_projections(parts: _Layer, src: str, q_lora: int) -> set[str]:
    """MLA's query LoRA (CQ, RMSNorm, up-projections) and the latent KV row (DeepSeek-V2, arXiv 2405.04434, §2.1):
    the down-projections of the query and the latent row as one fused GEMM; the latent normalised and its RoPE key
    rotated (in decode, the new token's row CKVNEW, KRNEW, as it enters the cache)."""
    parts.sizes["CQ"] = q_lora
    new = parts.decode
    ckv, kr, pos = ("CKVNEW", "KRNEW", "m") if new else ("CKV", "KR", "p")
    parts.add("pre", "qkv_a", "linear", [f"CQ[b,m,cq] = {src}[b,m,d] * WDQ[d,cq]",
                                         f"{ckv}R[b,{pos},c] = {src}[b,{pos},d] * WDKV[d,c]",
                                         f"{kr}P[b,{pos},er1,er0] = {src}[b,{pos},d] * WKR[d,er1,er0]"])
    parts.add("pre", "q_norm", "norm", norm("rms", "CQ", "CQN", "b,m", "cq", q_lora, parts.eps))
    parts.add("pre", "q_b", "linear", ["QN[b,h,m,en] = CQN[b,m,cq] * WUQ[cq,h,en]",
                                       "QRP[b,h,m,er1,er0] = CQN[b,m,cq] * WQR[cq,h,er1,er0]"])
    parts.rotate("QR", "QRP", "b,h,m", "m", "er", "rope_q")
    parts.add("pre", "kv_norm", "norm", norm("rms", f"{ckv}R", ckv, f"b,{pos}", "c", parts.sizes["C"], parts.eps))
    parts.rotate(kr, f"{kr}P", f"b,{pos}", pos, "er", "rope_k")
    parts.inputs += ["WDQ[d,cq]", "CQN_G[cq]", "WUQ[cq,h,en]", "WQR[cq,h,er]", "WDKV[d,c]", "WKR[d,er]",
                     f"{ckv}_G[c]"]
    if new:
        parts.inputs += ["CKV[b,p,c]", "KR[b,p,er]"]
    return {"QN", "QR", "CKV", "KR"}


def _output_projection(parts: _Layer, norm_kind: str, post_norm: bool) -> None:
    a = parts.attention
    out_ranks = a.tensors[a.output].ranks
    if _projects_itself(a):
        o = a.output
    elif out_ranks[1:3] == ("G", "R"):
        parts.add("post", "o_proj", "linear", [f"O[b,m,d] = {a.output}[b,g,r,m,f] * WO[g,r,f,d]"])
        parts.inputs.append("WO[h,f,d]")
        o = "O"
    elif out_ranks[1:2] == ("H",):
        parts.add("post", "o_proj", "linear", [f"O[b,m,d] = {a.output}[b,h,m,f] * WO[h,f,d]"])
        parts.inputs.append("WO[h,f,d]")
        o = "O"
    else:
        raise CascadeError(f"layer: cannot project the output {a.output}{list(out_ranks)} of {a.name}")
    parts.add("post", "attn_residual", "residual", [f"H1[b,m,d] = X[b,m,d] + {o}[b,m,d]"])
    parts.norm(norm_kind, "H1", "HN", "post", "attn_out_norm" if post_norm else "ffn_norm")


def _feed_forward(parts: _Layer, kind: str, ffn_dim: int | None, moe: MoE | None, norm_kind: str,
                  post_norm: bool) -> None:
    """The FFN from the normalised residual HN, and the final residual (and norm, post-norm)."""
    if kind == "moe":
        _moe(parts, moe or MoE())
        sum_fo = ["FO[t1,t0,d] = EO[t1,t0,d] + SO[t1,t0,d]"]
    else:
        parts.sizes["S"] = int(ffn_dim)
        for part, part_kind, statements in _dense_ffn(kind):
            parts.add("post", part, part_kind, statements)
        parts.inputs += ["WG[d,s]", "WU[d,s]", "WD[s,d]"] if kind == "swiglu" else ["W1[d,s]", "W2[s,d]"]
        sum_fo = []
    residual = "HN" if post_norm else "H1"
    total = "H2" if post_norm else "OUT"
    parts.add("post", "ffn_residual", "residual", sum_fo + [f"{total}[b,m,d] = {residual}[b,m,d] + FO[b,m,d]"])
    if post_norm:
        parts.norm(norm_kind, "H2", "OUT", "post", "ffn_out_norm")


def _dense_ffn(kind: str) -> list[tuple[str, str, list[str]]]:
    if kind == "swiglu":   # Shazeer, "GLU Variants Improve Transformer", 2020
        return [("gate_up", "linear", ["FG[b,m,s] = HN[b,m,d] * WG[d,s]", "FU[b,m,s] = HN[b,m,d] * WU[d,s]"]),
                ("act", "activation", ["FA[b,m,s] = silu(FG[b,m,s]) * FU[b,m,s]"]),
                ("down", "linear", ["FO[b,m,d] = FA[b,m,s] * WD[s,d]"])]
    return [("up", "linear", ["F1[b,m,s] = HN[b,m,d] * W1[d,s]"]),
            ("act", "activation", [f"FA[b,m,s] = {kind}(F1[b,m,s])"]),
            ("down", "linear", ["FO[b,m,d] = FA[b,m,s] * W2[s,d]"])]


def _moe(parts: _Layer, moe: MoE) -> None:
    """DeepSeek-V3's MoE over the batch's token stream (see `workloads.models.moe`)."""
    check_moe(moe)
    batch, seq = parts.sizes["B"], parts.sizes["M"]
    for part, kind, statements in moe_statements(moe, moe.route_scale):
        parts.add("post", part, kind, statements)
    parts.inputs += MOE_INPUTS
    parts.splits.append("split t -> t1, t0")
    parts.sizes.update(moe_sizes(moe, batch, seq))
    parts.masks.append(moe_routing(batch * seq, moe))
