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
from sim.ir import MappingError
from sim.parallel.links import CollectiveRun, timed
from sim.parallel.plans import Plan
from sim.parallel.schedule import Step

DISPATCH_BYTES = 1   # FP8 dispatch: one byte per value (DeepSeek-V3 §3.3.2)
COMBINE_BYTES = 2    # BF16 combine: two bytes per value
NODE_LIMIT = 4       # nodes a token's experts may span (DeepSeek-V3's node-limited routing, M = 4, §2.1.2)


Stages = tuple[tuple[CollectiveRun, ...], ...]   # one after another; each stage's collectives side by side


def collectives(plan: Plan, cluster, *, tokens: int, model_dim: int, dtype: str, top_k: int) -> dict[str, Stages]:
    """The layer's collectives, by where they go: "before:<kernel>" for the stages issued before that kernel."""
    out: dict[str, Stages] = {}
    if plan.tp > 1:
        nbytes = tokens * model_dim * dtype_bytes(dtype)
        for where in ("attn_residual", "ffn_residual"):
            out[f"before:{where}"] = alone(timed(f"all_reduce.{where.split('_')[0]}", "all_reduce", nbytes, cluster,
                                                 tuple(range(plan.tp))))
    if plan.ep > 1:
        out["before:experts_gate_up"] = _expert_exchange("dispatch", plan.ep, cluster, tokens, top_k,
                                                         model_dim * DISPATCH_BYTES)
        out["before:experts_down_combine"] = _expert_exchange("combine", plan.ep, cluster, tokens, top_k,
                                                              model_dim * COMBINE_BYTES)[::-1]
    return out


def alone(run: CollectiveRun) -> Stages:
    """One collective as its own stage."""
    return ((run,),)


def _expert_exchange(name: str, ep: int, cluster, tokens: int, top_k: int, row_bytes: int) -> Stages:
    """The expert group's all-to-all of each token's `top_k` copies (`row_bytes` each). Inside one node, one
    all-to-all over NVLink. Across nodes, DeepSeek-V3's node-limited routing (each token to at most
    `NODE_LIMIT` nodes, §2.1.2) in two stages (§3.2.1): an all-to-all over the NICs between the devices of one
    local index in every node (a token crosses to each of its nodes once), then one over NVLink inside each node
    (to its experts there); the combine runs the stages in reverse, reducing inside a node before crossing."""
    per_node = cluster.devices_per_node
    if ep <= per_node:
        return alone(timed(f"all_to_all.{name}", "all_to_all", tokens * top_k * row_bytes, cluster, tuple(range(ep))))
    if ep % per_node:
        raise MappingError(f"plan: ep={ep} spans nodes of {per_node} devices; an expert group across nodes must be "
                           f"whole nodes (ep a multiple of {per_node})")
    nodes = ep // per_node
    crossing = tuple(timed(f"all_to_all.{name}.nic{r}", "all_to_all", tokens * min(NODE_LIMIT, nodes) * row_bytes,
                           cluster, tuple(range(r, ep, per_node))) for r in range(per_node))
    inside = tuple(timed(f"all_to_all.{name}.node{n}", "all_to_all", tokens * top_k * row_bytes, cluster,
                         tuple(range(n * per_node, (n + 1) * per_node))) for n in range(nodes))
    return (crossing, inside)


def layer_step(parts: Sequence[KernelRun], plan: Plan, where: dict[str, Stages], per_layer: int = 1,
               prefix: str = "") -> Step:
    """Every device's kernels (`parts`, named `prefix + kernel`, each run `launches ÷ per_layer` times in one layer)
    with the collectives `where` places before kernels (see `collectives`). With `plan.micro_batches` = m > 1,
    `parts` are one micro-batch's: the m micro-batches run interleaved segment by segment (the kernels between two
    collectives), so one micro-batch's collective overlaps the next one's kernels (DeepSeek-V3's dual micro-batch
    overlap, arXiv 2412.19437 §3.4)."""
    step = Step(plan.devices)
    mb = plan.micro_batches
    last = [{d: None for d in range(plan.devices)} for _ in range(mb)]
    for stages, segment in _segments(parts, where, prefix):
        for k in range(mb):
            for stage in stages:
                done = {}
                for run in (r for r in stage if r.plan is not None):
                    done.update(step.collective(dataclasses.replace(run, name=_tagged(run.name, k, mb)), last[k]))
                last[k].update(done)
            for part in segment:
                seconds = part.result.latency_s * part.launches / per_layer
                for d in range(plan.devices):
                    after = () if last[k][d] is None else (last[k][d],)
                    last[k][d] = step.add(d, "compute", seconds, _tagged(part.kernel.name, k, mb), after)
    return step


def _tagged(name: str, k: int, mb: int) -> str:
    return f"{name}#{k}" if mb > 1 else name


def _segments(parts: Sequence[KernelRun], where: dict[str, Stages], prefix: str):
    """The kernels between collectives: [(the stages before the segment, its kernels)]."""
    out: list[tuple[Stages, list[KernelRun]]] = [((), [])]
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


def placed(parts: Sequence[KernelRun], where: dict[str, Stages], prefix: str = "") -> tuple[CollectiveRun, ...]:
    """The collectives of `where` that the layer's kernels place (a dense layer has no expert all-to-all)."""
    names = {base_name(p.kernel.name, prefix) for p in parts}
    return tuple(c for key, stages in where.items() if key.split(":", 1)[1] in names
                 for stage in stages for c in stage)
