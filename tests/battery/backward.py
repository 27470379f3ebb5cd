"""Bad inputs of `workloads.backward` and `workloads.autodiff.saved_inputs`: each raises CascadeError naming the
Einsum, op or tensor at fault and what is supported."""
import re

import numpy as np

import workloads
from workloads import CascadeError
from workloads.autodiff import saved_inputs
from workloads.ops import OPS

if "softsign" not in OPS:   # a user op without a derivative rule
    workloads.register_op("softsign", 1, lambda x: x / (1 + np.abs(x)), {"div": 1})

LOOP = "input X[m]\nR[m,p1+1] = max(R[m,p1], X[m])\nR[m,0] = -inf\nY[m] = R[m,P1]"


def bwd(text, sizes):
    return lambda: workloads.backward(workloads.cascade(text, sizes))


def two_cores():
    """Two 3-pass softmax cores over the same scores, summed."""
    core = workloads.variants.core("3pass", "b,h", "b,h")
    second = re.sub(r"\b(QK|GM|SN|SD|A|AV|V)\b", lambda w: w.group(0) + "2", core)
    text = ("input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f], V2[b,h,p,f]\n" + core + second
            + "Y[b,h,m,f] = AV[b,h,m,f] + AV2[b,h,m,f]\n")
    return workloads.backward(workloads.cascade(text, {"B": 1, "H": 1, "M": 2, "P": 2, "E": 1, "F": 1}))


CASES = [
    ("backward-not-a-cascade", lambda: workloads.backward("mha"), CascadeError,
     "backward: expected a Cascade (build one with workloads.cascade or workloads.attention), got str"),
    ("backward-no-differentiable-input", bwd("input X[m]\nY[m] = heaviside(X[m])", {"M": 3}), CascadeError,
     "no input reaches the output Y through a differentiable path"),
    ("backward-unsupported-op", bwd("input X[m]\nY[m] = softsign(X[m]) * X[m]", {"M": 3}), CascadeError,
     "op 'softsign' has no derivative here (differentiable ops: add, broadcast, div, elu, exp"),
    ("backward-iterative-rank", bwd(LOOP, {"M": 2, "P1": 3}), CascadeError,
     "`R[m,p1+1] = max(R[m,p1], X[m])`: the general derivation does not differentiate through an iterative rank"),
    ("backward-causal-linear", lambda: workloads.backward(workloads.attention("linear", batch=1, heads=1, seq=3,
                                                                              head_dim=2, causal=True)),
     CascadeError, "Einsum S `S[b,g,m+1,e,f] = S[b,g,m,e,f] + (PK[b,g,m,e] * V[b,g,m,f])`: the general derivation"),
    ("backward-diagonal-read", bwd("input A[m,n]\nZ[m] = A[m,m]", {"M": 3, "N": 3}), CascadeError,
     "A is read on a diagonal (a rank repeated in one reference)"),
    ("backward-gradient-name-taken", bwd("input Q[m]\ndQ[m] = exp(Q[m])\nY[m] = dQ[m] * Q[m]", {"M": 2}),
     CascadeError, "the backward's gradient dQ would shadow the forward tensor of that name; rename it"),
    ("backward-derivative-too-large", bwd("input A[m]\nY[m] = " + "gelu(" * 40 + "A[m]" + ")" * 40, {"M": 2}),
     CascadeError, "the derivative for A would have more than 4096 terms (nested ops repeat their arguments)"),
    ("backward-two-softmax-cores", two_cores, CascadeError,
     "2 softmax-attention cores (outputs AV, AV2); one per cascade is supported (LSE is one tensor)"),
    ("saved-inputs-without-softmax", lambda: saved_inputs(workloads.gemm(2, 2, 2), {}), CascadeError,
     "saved_inputs: gemm_2x2x2 has 0 softmax-attention cores"),
]
