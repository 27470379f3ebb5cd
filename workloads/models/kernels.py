"""The kernels of a layer: each labelled part (`workloads.models.parts`) as the cascade a kernel simulates.

| form | used for | relation to the layer's Einsums |
|---|---|---|
| `sub-cascade` | norms, RoPE, residuals, activations, router gates, the attention core | the layer's own Einsums |
| `fused GEMM` | projections of one activation (Q/K/V, gate/up, ...) | their columns side by side: the same MACs, the activation read once |
| `grouped GEMM` | routed experts | the experts with equal load as one batched GEMM over the tokens routed to them: exactly the MACs of the chosen (token, expert) pairs, the weights of touched experts only |
| `combine` | after the routed down-projection | sums each token's k expert outputs: work the per-expert split adds (k·D adds and the k·D partial outputs per token) |

GEMMs are plain `workloads.gemm(M, N, K)` cascades (batched ones `batched_gemm`), so every GEMM dataflow runs them.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from workloads.analysis import op_counts
from workloads.build import cascade, gemm
from workloads.errors import CascadeError
from workloads.ir import Blocks, Cascade
from workloads.models.extract import projection, gemm_shape, subcascade
from workloads.models.parts import Layer, Part, layer_parts

__all__ = ["FORMS", "Kernel", "batched_gemm", "expert_loads", "layer_kernels"]

FORMS = ("sub-cascade", "fused GEMM", "grouped GEMM", "combine")


@dataclass(frozen=True)
class Kernel:
    """One kernel of a layer: its name and kind, the layer Einsums it computes (`shares`: each one's fraction of
    the kernel's work, for stand-in cascades whose own Einsums are not the layer's), the cascade to simulate and
    how it relates to the layer (`form`, see `FORMS`)."""
    name: str
    kind: str
    einsums: tuple[str, ...]
    cascade: Cascade
    form: str = "sub-cascade"
    shares: tuple[float, ...] = ()


def batched_gemm(batch: int, m: int, n: int, k: int, dtype: str = "fp16") -> Cascade:
    """`batch` independent GEMMs `Z[x,m,n] = A[x,m,k] * B[x,k,n]` (a plain `workloads.gemm` when batch = 1)."""
    if batch == 1:
        return gemm(m, n, k, dtype)
    return cascade("input A[x,m,k], B[x,k,n]\nZ[x,m,n] = A[x,m,k] * B[x,k,n]", {"X": batch, "M": m, "N": n, "K": k},
                   name=f"gemm_{batch}x{m}x{n}x{k}", dtype=dtype)


def layer_kernels(layer: Layer) -> tuple[Kernel, ...]:
    """Every part of `layer` as kernels, in program order (CascadeError if `layer` is not a labelled layer)."""
    out: list[Kernel] = []
    for part in layer_parts(layer, "layer_kernels"):
        if part.kind == "linear":
            out.append(_fused_gemm(layer, part))
        elif part.kind == "experts":
            out.extend(_grouped_gemms(layer, part))
        elif part.kind == "attention" and part.core is not None:
            out.append(Kernel(part.name, part.kind, part.einsums, part.core))
        else:
            out.append(Kernel(part.name, part.kind, part.einsums,
                              subcascade(layer, part.einsums, f"{layer.name}.{part.name}")))
    return tuple(out)


def _mac_shares(layer: Cascade, names: tuple[str, ...]) -> tuple[float, ...]:
    counts = op_counts(layer)
    macs = [counts[n].get("mac", 0) for n in names]
    return tuple(m / sum(macs) for m in macs)


def _fused_gemm(layer: Layer, part: Part) -> Kernel:
    _, batch, m, n, k = gemm_shape(layer, part.einsums)
    return Kernel(part.name, part.kind, part.einsums, batched_gemm(batch, m, n, k, layer.dtype), "fused GEMM",
                  _mac_shares(layer, part.einsums))


def routing_mask(layer: Cascade) -> Blocks:
    """The layer's (token, expert) routing mask."""
    found = [mk for mk in layer.masks if isinstance(mk, Blocks) and (mk.query, mk.key) == ("T", "X")]
    if len(found) != 1:
        raise CascadeError(f"{layer.name}: expert kernels need one (token T, expert X) routing mask, found {len(found)}")
    return found[0]


def expert_loads(layer: Cascade) -> np.ndarray:
    """Tokens routed to each expert (int64 per expert), from the routing mask's blocks."""
    mask = routing_mask(layer)
    tokens, experts = layer.sizes["T"], layer.sizes["X"]
    keep = np.asarray(mask.keep, dtype=bool)
    rows = np.minimum(np.arange(1, len(keep) + 1) * mask.q_block, tokens) - np.arange(len(keep)) * mask.q_block
    per_block = rows.astype(np.int64) @ keep.astype(np.int64)          # tokens per expert column block
    return np.repeat(per_block, mask.kv_block)[:experts]


def _grouped_gemms(layer: Layer, part: Part) -> list[Kernel]:
    """The routed experts of a part as one batched GEMM per expert load, then (for the down-projection) the
    combine of each token's k outputs."""
    made = {e.name: e for e in layer.einsums}
    dims = []
    for name in part.einsums:
        found = projection(layer, made[name])
        if found is None or "X" not in found.cols + found.reduced:
            raise CascadeError(f"expert part {part.name}: Einsum {name} is not a projection over the expert rank X")
        size = lambda ranks: math.prod(layer.sizes[r] for r in ranks if r != "X")  # noqa: E731
        dims.append((size(found.cols), size(found.reduced), "X" in found.reduced))
    if len({(k, down) for _, k, down in dims}) != 1:
        raise CascadeError(f"expert part {part.name}: its projections do not fuse ({dims})")
    n, k, down = sum(d[0] for d in dims), dims[0][1], dims[0][2]
    loads = Counter(int(x) for x in expert_loads(layer) if x > 0)
    shares = _mac_shares(layer, part.einsums)
    kernels = [Kernel(part.name if len(loads) == 1 else f"{part.name}.{tokens}", part.kind, part.einsums,
                      batched_gemm(count, tokens, n, k, layer.dtype), "grouped GEMM", shares)
               for tokens, count in sorted(loads.items(), reverse=True)]
    top_k = int(sum(loads_x * c for loads_x, c in loads.items()) // layer.sizes["T"])
    if down and top_k > 1:
        combine = cascade("input Y[t,j,d]\nEO[t,d] = Y[t,j,d]", {"T": layer.sizes["T"], "J": top_k, "D": n},
                          name=f"combine_{layer.sizes['T']}x{top_k}x{n}", dtype=layer.dtype)
        kernels.append(Kernel(f"{part.name}_combine", part.kind, part.einsums, combine, "combine", shares))
    return kernels
