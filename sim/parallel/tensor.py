"""A layer's step under tensor and expert parallelism: every device runs its shard's kernels (from the single-device
path) on its compute unit, and the plan's collectives sit between them on the link units.

Tensor parallel (Megatron, Shoeybi et al., arXiv 1909.08053): an all-reduce of the row-parallel output projection's
partial sums before the attention residual add, and of the FFN down-projection's before the FFN residual add
(tokens × model dim × element bytes per rank each). TPLA (arXiv 2508.15881) all-reduces the same two outputs.
Expert parallel (DeepSeek-V3, arXiv 2412.19437 §3.4): before the routed experts an all-to-all dispatches each
token's k copies in FP8 (1 B per value), after them an all-to-all combines the k expert outputs in BF16 (2 B), over
the expert group; the shared expert runs on every device for its own tokens. Every collective waits for all its
members (a synchronising step), so a symmetric step's devices finish together.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from workloads.dtypes import dtype_bytes

from sim.models.choice import KernelRun
from sim.parallel.links import CollectiveRun, timed
from sim.parallel.plans import Plan
from sim.parallel.schedule import Step

DISPATCH_BYTES = 1   # FP8 dispatch: one byte per value (DeepSeek-V3 §3.3.2)
COMBINE_BYTES = 2    # BF16 combine: two bytes per value


def collectives(plan: Plan, cluster, *, tokens: int, model_dim: int, dtype: str, top_k: int) -> dict[str, CollectiveRun]:
    """The layer's collectives, by where they go: "before:<kernel>" for a collective issued before that kernel."""
    out: dict[str, CollectiveRun] = {}
    if plan.tp > 1:
        nbytes = tokens * model_dim * dtype_bytes(dtype)
        for where in ("attn_residual", "ffn_residual"):
            out[f"before:{where}"] = timed(f"all_reduce.{where.split('_')[0]}", "all_reduce", nbytes, cluster,
                                           tuple(range(plan.tp)))
    if plan.ep > 1:
        routed = tokens * top_k * model_dim
        out["before:experts_gate_up"] = timed("all_to_all.dispatch", "all_to_all", routed * DISPATCH_BYTES, cluster,
                                              tuple(range(plan.ep)))
        out["before:experts_down_combine"] = timed("all_to_all.combine", "all_to_all", routed * COMBINE_BYTES,
                                                   cluster, tuple(range(plan.ep)))
    return out


def layer_step(parts: Sequence[KernelRun], plan: Plan, where: dict[str, CollectiveRun], per_layer: int = 1,
               prefix: str = "") -> Step:
    """Every device's kernels (`parts`, named `prefix + kernel`, each run `launches ÷ per_layer` times in one layer)
    with the collectives `where` places before kernels (see `collectives`). With `plan.micro_batches` = m > 1,
    `parts` are one micro-batch's: the m micro-batches run interleaved segment by segment (the kernels between two
    collectives), so one micro-batch's collective overlaps the next one's kernels (DeepSeek-V3's dual micro-batch
    overlap, arXiv 2412.19437 §3.4)."""
    step = Step(plan.devices)
    mb = plan.micro_batches
    last = [{d: None for d in range(plan.devices)} for _ in range(mb)]
    for issue, segment in _segments(parts, where, prefix):
        for k in range(mb):
            if issue is not None and issue.plan is not None:
                last[k].update(step.collective(dataclasses.replace(issue, name=_tagged(issue.name, k, mb)), last[k]))
            for part in segment:
                seconds = part.result.latency_s * part.launches / per_layer
                for d in range(plan.devices):
                    after = () if last[k][d] is None else (last[k][d],)
                    last[k][d] = step.add(d, "compute", seconds, _tagged(part.kernel.name, k, mb), after)
    return step


def _tagged(name: str, k: int, mb: int) -> str:
    return f"{name}#{k}" if mb > 1 else name


def _segments(parts: Sequence[KernelRun], where: dict[str, CollectiveRun], prefix: str):
    """The kernels between collectives: [(the collective before the segment or None, its kernels)]."""
    out: list[tuple[CollectiveRun | None, list[KernelRun]]] = [(None, [])]
    pending = dict(where)
    for part in parts:
        issue = pending.pop(f"before:{base_name(part.kernel.name, prefix)}", None)
        if issue is not None:
            out.append((issue, []))
        out[-1][1].append(part)
    return out


def base_name(name: str, prefix: str = "") -> str:
    """A kernel's part name inside its layer: without the phase's layer-group prefix (`layers.`) and without the
    load suffix of a grouped GEMM (`experts_gate_up.32`)."""
    return name[len(prefix):].split(".", 1)[0] if name.startswith(prefix) else name.split(".", 1)[0]


def placed(parts: Sequence[KernelRun], where: dict[str, CollectiveRun], prefix: str = "") -> tuple[CollectiveRun, ...]:
    """The collectives of `where` that the layer's kernels place (a dense layer has no expert all-to-all)."""
    names = {base_name(p.kernel.name, prefix) for p in parts}
    return tuple(c for key, c in where.items() if key.split(":", 1)[1] in names)
