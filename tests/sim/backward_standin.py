"""A stand-in for `workloads.backward` on softmax MHA/GQA (FlashAttention's recomputation form), used by the backward
dataflow tests only while the checkout has no `workloads.backward`: the interface's names and ranks, no derivation."""
from __future__ import annotations

import workloads
from workloads import Cascade

MHA = """input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], dAV[b,h,m,f], AV[b,h,m,f], LSE[b,h,m]
{mask}QK[b,h,m,p] = Q[b,h,m,e] * K[b,h,p,e]
P[b,h,m,p] = sub_exp(QK[b,h,m,p], LSE[b,h,m])
dP[b,h,m,p] = dAV[b,h,m,f] * V[b,h,p,f]
Drow[b,h,m] = dAV[b,h,m,f] * AV[b,h,m,f]
dS[b,h,m,p] = P[b,h,m,p] * (dP[b,h,m,p] - Drow[b,h,m])
dV[b,h,p,f] = P[b,h,m,p] * dAV[b,h,m,f]
dQ[b,h,m,e] = dS[b,h,m,p] * K[b,h,p,e]
dK[b,h,p,e] = dS[b,h,m,p] * Q[b,h,m,e]
output dK
"""
GQA = """input Q[b,h,m,e], K[b,g,p,e], V[b,g,p,f], dAV[b,g,r,m,f], AV[b,g,r,m,f], LSE[b,g,r,m]
split h -> g, r
{mask}QK[b,g,r,m,p] = Q[b,g,r,m,e] * K[b,g,p,e]
P[b,g,r,m,p] = sub_exp(QK[b,g,r,m,p], LSE[b,g,r,m])
dP[b,g,r,m,p] = dAV[b,g,r,m,f] * V[b,g,p,f]
Drow[b,g,r,m] = dAV[b,g,r,m,f] * AV[b,g,r,m,f]
dS[b,g,r,m,p] = P[b,g,r,m,p] * (dP[b,g,r,m,p] - Drow[b,g,r,m])
dV[b,g,p,f] = P[b,g,r,m,p] * dAV[b,g,r,m,f]
dQ_QK[b,g,r,m,e] = dS[b,g,r,m,p] * K[b,g,p,e]
dQ[b,h,m,e] = dQ_QK[b,h,m,e]
dK[b,g,p,e] = dS[b,g,r,m,p] * Q[b,g,r,m,e]
output dK
"""


def backward(c: Cascade) -> Cascade:
    """The FlashAttention-form backward of a softmax MHA or GQA cascade (no mask or causal)."""
    s = {k: v for k, v in c.sizes.items() if k not in ("P0", "P1")}
    mask = "mask m, p: causal\n" if any(isinstance(mk, workloads.Causal) for mk in c.masks) else ""
    text = (GQA if "G" in s else MHA).format(mask=mask)
    return workloads.cascade(text, s, name=f"{c.name}-bwd", dtype=c.dtype)
