"""Whole transformer layers as cascades (attention-einsums.md §10): norms, projections, RoPE, any attention
variant, the output projection, residuals and an FFN (GELU, ReLU, SwiGLU or DeepSeek-V3's MoE).

A layer is composed at the statement level: the attention cascade's statements (serialize.statements) are kept,
its Q/K/V (or MLA's QN/QR/CKV/KR) inputs become Einsums over the normalised input X [B,M,D], and its other
inputs stay inputs. The output is OUT [B,M,D]. Prefill is self-attention (P = M); with P > M (decode) the K/V
(or latent) cache is an input and the new tokens' K/V projections are written to KN/VN.

RoPE rotates the interleaved pairs (2i, 2i+1): with the head dim split e -> e1, e0 (E0 = 2),
Q[.., e1, e0] = QP[.., e1, e0s]·ROT[m, e1, e0s, e0], where ROT holds each position's 2×2 rotation (cos, sin, −sin,
cos): a table of 2·M·E values, like the reference's cos/sin tables, and 2 MACs per element (the reference counts 3
FLOPs). The rotated tensors are stored split and read whole by the attention core. The MoE routing (which k experts a token
takes) is control, an input ROUTE [B,T,X] plus the matching (token, expert) block filter, shared across the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.build import cascade
from workloads.errors import CascadeError
from workloads.ir import Cascade
from workloads.serialize import statements

NORMS = ("rms", "layer")
FFNS = ("gelu", "relu", "swiglu", "moe")


@dataclass(frozen=True)
class MoE:
    """DeepSeek-V3 MoE FFN parameters (§10.4): X routed experts of hidden Se, top-k, shared hidden, route scale."""
    experts: int = 256
    top_k: int = 8
    expert_dim: int = 2048
    shared_dim: int = 2048
    route_scale: float = 2.5


def norm(kind: str, src: str, dst: str, lead: str, rank: str, size: int, eps: float) -> list[str]:
    """RMSNorm or LayerNorm of `src`[lead, rank] over `rank` into `dst`, gain `dst`_G (and bias `dst`_B)."""
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
    raise CascadeError(f"unknown norm {kind!r} (valid: {', '.join(NORMS)})")


def norm_inputs(kind: str, dst: str, rank: str) -> list[str]:
    return [f"{dst}_G[{rank}]"] + ([f"{dst}_B[{rank}]"] if kind == "layer" else [])


def rope_split(rank: str, size: int) -> tuple[str, dict[str, int]]:
    """The pair split of a rotated head-dim rank and the sizes it needs (pair element and its partner index)."""
    if size % 2:
        raise CascadeError(f"rope: the rotated dimension {rank.upper()}={size} must be even")
    return f"split {rank} -> {rank}1, {rank}0", {f"{rank.upper()}0": 2, f"{rank.upper()}0S": 2}


def ffn(kind: str, src: str, *, moe: MoE | None, seq: int) -> tuple[list[str], list[str], list[str], dict]:
    """(statements, inputs, masks, sizes) of the FFN from `src`[b,m,d] to FO[b,m,d]."""
    if kind in ("gelu", "relu"):
        return ([f"F1[b,m,s] = {src}[b,m,d] * W1[d,s]", f"FA[b,m,s] = {kind}(F1[b,m,s])",
                 "FO[b,m,d] = FA[b,m,s] * W2[s,d]"], ["W1[d,s]", "W2[s,d]"], [], {})
    if kind == "swiglu":
        return ([f"FG[b,m,s] = {src}[b,m,d] * WG[d,s]", f"FU[b,m,s] = {src}[b,m,d] * WU[d,s]",
                 "FA[b,m,s] = silu(FG[b,m,s]) * FU[b,m,s]", "FO[b,m,d] = FA[b,m,s] * WD[s,d]"],
                ["WG[d,s]", "WU[d,s]", "WD[s,d]"], [], {})
    if kind != "moe":
        raise CascadeError(f"unknown ffn {kind!r} (valid: {', '.join(FFNS)})")
    moe = moe or MoE()
    if not 1 <= moe.top_k <= moe.experts:
        raise CascadeError(f"moe: top_k={moe.top_k} must be in [1, experts={moe.experts}]")
    routing = tuple(tuple(row) for row in moe_routing(seq, moe))
    lines = [
        f"LG[b,t,xr] = {src}[b,t,d] * WGATE[xr,d]",
        "SG[b,t,xr] = sigmoid(LG[b,t,xr])",
        "SGN[b,t] = SG[b,t,xr] * ROUTE[b,t,xr]",
        f"WT[b,t,x] = SG[b,t,x] / SGN[b,t] * {float(moe.route_scale)!r}",
        f"EG[b,t,x,se] = {src}[b,t,d] * WEG[x,d,se]",
        f"EU[b,t,x,se] = {src}[b,t,d] * WEU[x,d,se]",
        "EA[b,t,x,se] = silu(EG[b,t,x,se]) * EU[b,t,x,se]",
        "EW[b,t,x,se] = WT[b,t,x] * EA[b,t,x,se]",
        "EO[b,t,d] = EW[b,t,x,se] * WED[x,se,d]",
        f"SHG[b,t,s] = {src}[b,t,d] * WG[d,s]",
        f"SHU[b,t,s] = {src}[b,t,d] * WU[d,s]",
        "SHA[b,t,s] = silu(SHG[b,t,s]) * SHU[b,t,s]",
        "SO[b,t,d] = SHA[b,t,s] * WD[s,d]",
        "FO[b,t,d] = EO[b,t,d] + SO[b,t,d]",
    ]
    inputs = ["WGATE[x,d]", "ROUTE[b,t,x]", "WEG[x,d,se]", "WEU[x,d,se]", "WED[x,se,d]", "WG[d,s]", "WU[d,s]",
              "WD[s,d]"]
    sizes = {"X": moe.experts, "XR": moe.experts, "SE": moe.expert_dim, "S": moe.shared_dim, "T": seq}
    return lines, inputs, [f"mask t, x: blocks(q_block=1, kv_block=1, keep={routing})"], sizes


def moe_routing(seq: int, moe: MoE) -> list[list[int]]:
    """The routing table the layer's MoE filter uses (token t takes experts t·k … t·k + k − 1 mod X)."""
    return [[int((x - t * moe.top_k) % moe.experts < moe.top_k) for x in range(moe.experts)] for t in range(seq)]


def _split_statements(c: Cascade) -> tuple[list[str], list[str]]:
    """(declarations: split/mask, Einsum and init statements) of an attention cascade, without input/output."""
    lines = [s for s in statements(c) if not s.startswith(("input ", "output "))]
    heads = [s for s in lines if s.startswith(("split ", "mask "))]
    return heads, [s for s in lines if s not in heads]


def layer(attention: Cascade, *, model_dim: int, ffn_kind: str, ffn_dim: int | None = None, norm_kind: str = "rms",
          post_norm: bool = False, rope: bool = True, eps: float = 1e-5, moe: MoE | None = None,
          q_lora: int | None = None, name: str = "layer") -> Cascade:
    """Compose a transformer layer around an attention cascade (GQA-family with Q/K/V inputs, or MLA).

    Pre-norm: h = X + O(attn(N(X))); out = h + FFN(N(h)). Post-norm: h = N(X + O(attn(X))); out = N(h + FFN(h)).
    """
    if norm_kind not in NORMS:
        raise CascadeError(f"unknown norm {norm_kind!r} (valid: {', '.join(NORMS)})")
    sizes = dict(attention.sizes)
    if "D" in sizes:
        raise CascadeError(f"layer: attention {attention.name} already has a model rank D (it projects its own output)")
    sizes["D"] = model_dim
    ins = set(attention.inputs)
    m, p = sizes["M"], sizes["P"]
    decode = p != m
    heads, body = _split_statements(attention)
    pre, inputs, masks = [], ["X[b,m,d]"], []
    src = "X"
    if not post_norm:
        pre += norm(norm_kind, "X", "XN", "b,m", "d", model_dim, eps)
        inputs += norm_inputs(norm_kind, "XN", "d")
        src = "XN"
    kv_src = src if not decode else None

    def rotate(dst: str, proj: str, lead: str, pos: str, rank: str) -> list[str]:
        r1, r0 = f"{rank}1", f"{rank}0"
        return [f"{dst}[{lead},{r1},{r0}] = {proj}[{lead},{r1},{r0}s] * ROT_{rank.upper()}[{pos},{r1},{r0}s,{r0}]"]

    rot_ranks = []
    if {"Q", "K", "V"} <= ins:
        qk = "e"
        pre.append(f"QP[b,h,m,e1,e0] = {src}[b,m,d] * WQ[d,h,e1,e0]" if rope else f"Q[b,h,m,e] = {src}[b,m,d] * WQ[d,h,e]")
        inputs.append("WQ[d,h,e]")
        if rope:
            pre += rotate("Q", "QP", "b,h,m", "m", qk)
            rot_ranks.append(("e", sizes["E"]))
        kvh = "g" if "G" in attention.tensors["K"].ranks else "h"
        inputs += [f"WK[d,{kvh},e]", f"WV[d,{kvh},f]"]
        if decode:
            inputs += [f"K[b,{kvh},p,e]", f"V[b,{kvh},p,f]"]
            pre += [f"KN[b,{kvh},m,e] = {src}[b,m,d] * WK[d,{kvh},e]", f"VN[b,{kvh},m,f] = {src}[b,m,d] * WV[d,{kvh},f]"]
        else:
            pre.append(f"KP[b,{kvh},p,e1,e0] = {kv_src}[b,p,d] * WK[d,{kvh},e1,e0]" if rope
                       else f"K[b,{kvh},p,e] = {kv_src}[b,p,d] * WK[d,{kvh},e]")
            if rope:
                pre += rotate("K", "KP", f"b,{kvh},p", "p", qk)
            pre.append(f"V[b,{kvh},p,f] = {kv_src}[b,p,d] * WV[d,{kvh},f]")
        produced = {"Q", "K", "V"}
    elif {"QN", "QR", "CKV", "KR"} <= ins:
        cq = q_lora or 1536
        sizes["CQ"] = cq
        pre += [f"CQ[b,m,cq] = {src}[b,m,d] * WDQ[d,cq]"] + norm("rms", "CQ", "CQN", "b,m", "cq", cq, eps)
        pre += ["QN[b,h,m,en] = CQN[b,m,cq] * WUQ[cq,h,en]", "QRP[b,h,m,er1,er0] = CQN[b,m,cq] * WQR[cq,h,er1,er0]"]
        pre += rotate("QR", "QRP", "b,h,m", "m", "er")
        inputs += ["WDQ[d,cq]", "CQN_G[cq]", "WUQ[cq,h,en]", "WQR[cq,h,er]", "WDKV[d,c]", "WKR[d,er]"]
        rot_ranks.append(("er", sizes["ER"]))
        if decode:
            inputs += ["CKV[b,p,c]", "KR[b,p,er]"]
            pre += [f"CKVNEW[b,m,c] = {src}[b,m,d] * WDKV[d,c]", f"KRNEW[b,m,er] = {src}[b,m,d] * WKR[d,er]"]
        else:
            inputs.append("CKV_G[c]")
            pre += [f"CKVR[b,p,c] = {kv_src}[b,p,d] * WDKV[d,c]"] + norm("rms", "CKVR", "CKV", "b,p", "c",
                                                                           sizes["C"], eps)
            pre += [f"KRP[b,p,er1,er0] = {kv_src}[b,p,d] * WKR[d,er1,er0]"] + rotate("KR", "KRP", "b,p", "p", "er")
        produced = {"QN", "QR", "CKV", "KR"}
    else:
        raise CascadeError(f"layer: attention {attention.name} has inputs {list(attention.inputs)}; a layer needs "
                           f"Q, K, V (GQA family) or QN, QR, CKV, KR (MLA)")
    for r, size in rot_ranks:
        split, extra = rope_split(r, size)
        masks.append(split)
        sizes.update(extra)
        inputs.append(f"ROT_{r.upper()}[m,{r}1,{r}0s,{r}0]")
    for t in attention.inputs:
        if t not in produced:
            inputs.append(f"{t}[{','.join(r.lower() for r in attention.tensors[t].ranks)}]")
    out_ranks = attention.tensors[attention.output].ranks
    if out_ranks[1:3] == ("G", "R"):
        post = [f"O[b,m,d] = {attention.output}[b,g,r,m,f] * WO[g,r,f,d]"]
    elif out_ranks[1] == "H":
        post = [f"O[b,m,d] = {attention.output}[b,h,m,f] * WO[h,f,d]"]
    else:
        raise CascadeError(f"layer: cannot project the output {attention.output}{list(out_ranks)} of {attention.name}")
    inputs.append("WO[h,f,d]")
    post.append("H1[b,m,d] = X[b,m,d] + O[b,m,d]")
    if post_norm:
        post += norm(norm_kind, "H1", "HN", "b,m", "d", model_dim, eps)
        inputs += norm_inputs(norm_kind, "HN", "d")
        residual = "HN"
    else:
        post += norm(norm_kind, "H1", "HN", "b,m", "d", model_dim, eps)
        inputs += norm_inputs(norm_kind, "HN", "d")
        residual = "H1"
    lines, ffn_inputs, ffn_masks, ffn_sizes = ffn(ffn_kind, "HN", moe=moe, seq=m)
    if ffn_kind != "moe":
        if ffn_dim is None:
            raise CascadeError(f"layer: ffn {ffn_kind!r} needs ffn_dim")
        ffn_sizes = {"S": ffn_dim}
    post += lines
    inputs += ffn_inputs
    masks += ffn_masks
    sizes.update(ffn_sizes)
    final = "FO[b,m,d]"
    if post_norm:
        post.append(f"H2[b,m,d] = {residual}[b,m,d] + {final}")
        post += norm(norm_kind, "H2", "OUT", "b,m", "d", model_dim, eps)
        inputs += norm_inputs(norm_kind, "OUT", "d")
    else:
        post.append(f"OUT[b,m,d] = {residual}[b,m,d] + {final}")
    text = "\n".join(["input " + ", ".join(inputs)] + heads + masks + pre + body + post) + "\n"
    return cascade(text, sizes, name=f"{name}_{attention.name}", output="OUT", dtype=attention.dtype)
