"""FuseMax's end-to-end scope through the layer path: one encoder layer's linear layers (Q/K/V, output, FFN up and
down, each a GEMM over B·seq token rows) and its attention core, on the same arrays, one after another (Nayak et
al., FuseMax, MICRO 2024, §VI; layer norms and activations are outside that scope).

`fusemax_layer` is the whole-layer kernel path restricted to those kernels: the GEMMs take the fastest systolic
dataflow, the attention the dataflow pinned (with its mapping: FLAT's point is the best of its own search).
"""
from __future__ import annotations

from typing import Any, Mapping as MappingType

import workloads
from accel import Arch

from sim.ir import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.models.compose import LayerResult
from sim.models.layers import evaluate_layer

SCOPE = ("linear", "attention")
ENCODERS = ("bert", "trxl", "t5", "xlm")   # the zoo's models of the FuseMax and FLAT evaluations


def fusemax_layer(model: str, arch: Arch, *, seq: int, batch: int, softmax: str,
                  attention: MappingType[str, Any] | Mapping, options: Options = DEFAULT_OPTIONS) -> LayerResult:
    """One encoder layer of `model` (a zoo encoder) at `batch` × `seq` tokens with the `softmax` cascade, its
    linear layers and attention only; `attention` pins the attention kernel: a mapping (e.g. the best of
    `sim.explore` on the attention cascade) or {"dataflow": ..., mapping pins}."""
    if isinstance(attention, Mapping):
        attention = {"dataflow": attention.dataflow, **attention.params}
    if model not in ENCODERS:
        raise MappingError(f"fusemax_layer: {model!r} is not an encoder of the FuseMax evaluation "
                           f"(valid: {', '.join(ENCODERS)})")
    if not isinstance(attention, MappingType) or "dataflow" not in attention:
        raise MappingError("fusemax_layer: attention must pin the attention dataflow, e.g. {'dataflow': 'fusemax'}")
    layer = workloads.model(model).layer(seq=seq, batch=batch, softmax=softmax)
    return evaluate_layer(layer, arch, constraints={"attention": dict(attention)}, options=options, kinds=SCOPE)
