"""DeepSeek-V3's MoE FFN inside a layer (DeepSeek-AI, DeepSeek-V3 technical report, 2024, §2.1.2): a sigmoid router,
gates renormalised over the chosen k experts and scaled, SwiGLU experts on the chosen (token, expert) pairs only,
plus the shared expert.

Routing is control, not data: an input ROUTE [T, X] plus the matching (token, expert) block mask. The tokens of
the whole batch form one stream T = B·M (`split t -> t1, t0`, T1 = B, T0 = M), as a serving batch routes them:
decode at batch 64 touches the experts of 64 tokens, not of one token repeated. The table is balanced and
maximally spread (DeepSeek-V3 balances expert load, §2.1.2): token t takes the k experts of group t mod (X/k). When
that table would exceed `MAX_ROUTING_CELLS`, tokens are assigned to the groups in equal contiguous runs instead —
the same experts touched (all of them, at such token counts) with loads that differ by at most one run's rounding.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from workloads.errors import CascadeError, quote
from workloads.ir import Blocks
from workloads.variants.cores import positive

MAX_ROUTING_CELLS = 1 << 21   # cells of a token × expert-group table spelled out one token per row (2 MiB)


@dataclass(frozen=True)
class MoE:
    """DeepSeek-V3 MoE FFN parameters: X routed experts of hidden Se, top-k, shared-expert hidden, route scale."""
    experts: int = 256
    top_k: int = 8
    expert_dim: int = 2048
    shared_dim: int = 2048
    route_scale: float = 2.5


def check_moe(moe) -> None:
    """Refuse an ill-formed `MoE` naming the field."""
    if not isinstance(moe, MoE):
        raise CascadeError(f"layer: moe must be a MoE, got {type(moe).__name__}")
    positive(experts=moe.experts, top_k=moe.top_k, expert_dim=moe.expert_dim, shared_dim=moe.shared_dim)
    if moe.top_k > moe.experts:
        raise CascadeError(f"moe: top_k={moe.top_k} must be in [1, experts={moe.experts}]")
    if isinstance(moe.route_scale, bool) or not isinstance(moe.route_scale, numbers.Real):
        raise CascadeError(f"moe: route_scale must be a real number, got {quote(moe.route_scale)}")


def moe_routing(tokens: int, moe: MoE) -> Blocks:
    """The (token, expert) block mask of `tokens` routed tokens (see the module docstring)."""
    check_moe(moe)
    k, x = moe.top_k, moe.experts
    if x % k:   # no expert groups: token t takes experts t·k … t·k + k − 1 (mod X), one column per expert
        if tokens * x > MAX_ROUTING_CELLS:
            raise CascadeError(f"moe: routing {tokens} tokens over {x} experts (top_k={k} does not divide them) "
                               f"needs a {tokens}×{x} table; at most {MAX_ROUTING_CELLS} cells")
        keep = tuple(tuple((e - t * k) % x < k for e in range(x)) for t in range(tokens))
        return Blocks("T", "X", 1, 1, keep)
    groups = x // k
    if tokens * groups <= MAX_ROUTING_CELLS:
        keep = tuple(tuple(j == t % groups for j in range(groups)) for t in range(tokens))
        return Blocks("T", "X", 1, k, keep)
    run = -(-tokens // groups)
    rows = -(-tokens // run)
    return Blocks("T", "X", run, k, tuple(tuple(i == j for j in range(groups)) for i in range(rows)))


def routing_table(tokens: int, moe: MoE) -> list[list[int]]:
    """The routing mask as a dense [tokens][experts] 0/1 table (the ROUTE input that matches it)."""
    mask = moe_routing(tokens, moe)
    return [[int(mask.keep[t // mask.q_block][e // mask.kv_block]) for e in range(moe.experts)]
            for t in range(tokens)]


def moe_statements(moe: MoE, route_scale: float) -> list[tuple[str, str, list[str]]]:
    """The MoE FFN from the normalised residual HN as (part, kind, statements), over the token stream t = (t1, t0)."""
    hn = "HN[t1,t0,d]"
    return [
        ("router", "linear", [f"LG[t1,t0,xr] = {hn} * WGATE[xr,d]"]),
        ("gates", "router", ["SG[t1,t0,xr] = sigmoid(LG[t1,t0,xr])", "SGN[t1,t0] = SG[t1,t0,xr] * ROUTE[t1,t0,xr]",
                             f"WT[t1,t0,x] = SG[t1,t0,x] / SGN[t1,t0] * {float(route_scale)!r}"]),
        ("experts_gate_up", "experts", [f"EG[t1,t0,x,se] = {hn} * WEG[x,d,se]",
                                        f"EU[t1,t0,x,se] = {hn} * WEU[x,d,se]"]),
        ("experts_act", "activation", ["EA[t1,t0,x,se] = silu(EG[t1,t0,x,se]) * EU[t1,t0,x,se]",
                                       "EW[t1,t0,x,se] = WT[t1,t0,x] * EA[t1,t0,x,se]"]),
        ("experts_down", "experts", ["EO[t1,t0,d] = EW[t1,t0,x,se] * WED[x,se,d]"]),
        ("shared_gate_up", "linear", [f"SHG[t1,t0,s] = {hn} * WG[d,s]", f"SHU[t1,t0,s] = {hn} * WU[d,s]"]),
        ("shared_act", "activation", ["SHA[t1,t0,s] = silu(SHG[t1,t0,s]) * SHU[t1,t0,s]"]),
        ("shared_down", "linear", ["SO[t1,t0,d] = SHA[t1,t0,s] * WD[s,d]"]),
    ]


MOE_INPUTS = ["WGATE[x,d]", "ROUTE[t1,t0,x]", "WEG[x,d,se]", "WEU[x,d,se]", "WED[x,se,d]", "WG[d,s]", "WU[d,s]",
              "WD[s,d]"]


def moe_sizes(moe: MoE, batch: int, seq: int) -> dict[str, int]:
    """The MoE's ranks: routed experts X (XR for the router's logits over all of them), hidden sizes, the token
    stream T = B·M and its split parts."""
    return {"X": int(moe.experts), "XR": int(moe.experts), "SE": int(moe.expert_dim), "S": int(moe.shared_dim),
            "T": batch * seq, "T1": batch, "T0": seq}
