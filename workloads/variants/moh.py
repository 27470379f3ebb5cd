"""Mixture-of-Head attention (MoH; Jin et al., arXiv 2410.11842, ICML 2025): shared + top-k routed heads, outputs
gated and summed.

Inputs Q [B,H,M,E], K [B,H,P,E], V [B,H,P,F] (every head's K/V: later tokens may pick any head), the gate
weights GATE [B,H,M] (zero for a head a token did not select; the router is data-dependent control, computed
outside the cascade like MoE's routing tensor) and the output projection WO [H,F,D]. The output is
Y[b,m,d] = Σ_{h,f} GATE·AV[b,h,m,f]·WO[h,f,d], MoH's weighted form of Σ_h H^h W_O^h.

`accounting="dense"` computes every head and then gates (MoH's reference code: no saving);
`accounting="sparse"` filters the (token, head) points with the routing table, so counts see only active heads.
"""
from __future__ import annotations

from workloads.variants.cores import causal_mask, core, key_tile_size, positive
from workloads.variants.registry import register_variant
from workloads.build import cascade
from workloads.errors import CascadeError, quote
from workloads.ir import Cascade

GATED_OUT = """
GAV[b,h,m,f] = GATE[b,h,m] * AV[b,h,m,f]
Y[b,m,d] = GAV[b,h,m,f] * WO[h,f,d]
"""


def balanced_routing(seq: int, heads: int, shared_heads: int, top_k: int) -> tuple[tuple[int, ...], ...]:
    """A deterministic routing table for accounting: heads [0, shared) always on; token m takes the routed heads
    shared + (m·k + j) mod (H − shared), j < k (every routed head equally loaded)."""
    routed = heads - shared_heads
    rows = []
    for m in range(seq):
        row = [1] * shared_heads + [0] * routed
        for j in range(top_k):
            row[shared_heads + (m * top_k + j) % routed] = 1
        rows.append(tuple(row))
    return tuple(rows)


MAX_ROUTING = 1 << 20   # entries of the sparse form's routing table (it is spelled out in the mask text)


@register_variant("moh")
def moh(*, batch: int, heads: int, seq: int, head_dim: int, model_dim: int, shared_heads: int, top_k: int,
        accounting: str = "dense", routing=None, seq_kv: int | None = None, head_dim_v: int | None = None,
        causal: bool = False, softmax: str = "1pass", key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """MoH over MHA: h_s shared heads (the first `shared_heads`) plus top_k routed heads per token.

    `routing` ([M][H] of 0/1, shared across the batch) is the sparse form's filter; by default `balanced_routing`.
    The sparse form cannot also carry a causal mask over m (one mask per rank): use M = 1 or the dense form.
    """
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, heads=heads, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v,
             model_dim=model_dim, top_k=top_k)
    if isinstance(shared_heads, bool) or not isinstance(shared_heads, int) or shared_heads < 0:
        raise CascadeError(f"moh: shared_heads must be a non-negative integer, got {quote(shared_heads)}")
    if shared_heads + top_k > heads:
        raise CascadeError(f"moh: shared_heads + top_k = {shared_heads} + {top_k} exceeds heads={heads}")
    if accounting not in ("dense", "sparse"):
        raise CascadeError(f"moh: unknown accounting {quote(accounting)} (valid: dense, sparse)")
    sizes = {"B": batch, "H": heads, "M": seq, "P": seq_kv, "E": head_dim, "F": head_dim_v, "D": model_dim}
    text = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], GATE[b,h,m], WO[h,f,d]\n"
    if causal and seq_kv < seq:
        causal_mask(causal, seq, seq_kv, "moh")   # refuses: queries with no keys
    if causal and seq > 1:
        if accounting == "sparse":
            raise CascadeError("moh: sparse accounting filters (m, h), so it cannot also apply a causal mask over "
                               "(m, p); use seq=1 (decode) or accounting='dense'")
        text += causal_mask(causal, seq, seq_kv, "moh")
    if accounting == "sparse":
        if seq * heads > MAX_ROUTING:
            raise CascadeError(f"moh: sparse accounting writes a (token, head) table of seq·heads = {seq}·{heads} "
                               f"entries into the cascade text; at most {MAX_ROUTING} (use accounting='dense')")
        table = balanced_routing(seq, heads, shared_heads, top_k) if routing is None else _routing(
            routing, seq, heads, shared_heads, top_k)
        text += f"mask m, h: blocks(q_block=1, kv_block=1, keep={table})\n"
    text += core(softmax, "b,h", "b,h") + GATED_OUT
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq_kv)
    return cascade(text, sizes, name=f"moh_{shared_heads}s{top_k}k_{accounting}", output="Y", dtype=dtype)


def _routing(routing, seq: int, heads: int, shared: int, top_k: int) -> tuple[tuple[int, ...], ...]:
    shape_ok = isinstance(routing, (tuple, list)) and len(routing) == seq and all(
        isinstance(row, (tuple, list)) and len(row) == heads for row in routing)
    if not shape_ok:
        raise CascadeError(f"moh: routing must be a [{seq}][{heads}] table (tokens × heads) of 0/1")
    table = tuple(tuple(int(bool(x)) for x in row) for row in routing)
    for m, row in enumerate(table):
        if not all(row[:shared]) or sum(row[shared:]) != top_k:
            raise CascadeError(f"moh: routing row {m} must keep the {shared} shared heads and exactly {top_k} "
                               f"routed heads, got {quote(row)}")
    return table
