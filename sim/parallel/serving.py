"""`sim.inference` on a cluster under a plan: the per-device model (`shard`) served on the cluster's device by the
single-device path (`sim.models.inference`: prefill, every decode step at its own KV length), each phase then
re-run as multi-device steps on the engine — one step per layer kind, with the plan's collectives between the
kernels (`tensor`), repeated over the layers of that kind (a collective synchronises the devices, so consecutive
layers do not overlap) — plus the heads: a vocabulary-parallel LM head all-gathers its logits.

`pp` stages (GPipe's partition, Huang et al., arXiv 1811.06965): each stage's tp devices run a 1/pp share of the
layers one stage after another, the activations sent between stages; with one batch in flight no stage overlaps
another, so the time is every stage's plus the sends.

`disaggregation="prefill-decode"` (DistServe, Zhong et al., OSDI 2024): prefill on one pool of the plan's devices,
decode on another; each sequence's KV cache (every layer's rows of its prompt) moves from a prefill device to a
decode device once, over the NIC when the pools are on different nodes, before the first decode step.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping as MappingType

from workloads import Model
from workloads.dtypes import dtype_bytes
from workloads.models.footprint import layer_counts

from sim.ir import MappingError
from sim.ir.options import Options
from sim.models import inference as inference_one
from sim.models.compose import LayerResult
from sim.models.memory import Memory, check, memory
from sim.models.serving import resolve_model
from sim.parallel.layerplan import refuse_unmodelled
from sim.parallel.links import CollectiveRun, timed
from sim.parallel.outcome import shares, work
from sim.parallel.plans import Plan, check_fits
from sim.parallel.result import DeviceShare, ParallelResult
from sim.parallel.schedule import Step, schedule
from sim.parallel.shard import device_model, micro_batch, overlap_device
from sim.parallel.tensor import alone, collectives, layer_step, placed

HEADS = ("embed", "final_norm", "lm_head")


@dataclass(frozen=True)
class ParallelInference:
    """One batch served under a plan. Times as `sim.Inference` (`ttft_s`, `tpot_s`, `tokens_per_s` over the whole
    batch); `memory`: one device's weights and KV cache against its HBM; `prefill`, `decode`: each phase as a
    `ParallelResult`; `kv_transfer`: the prefill-to-decode KV-cache move of a disaggregated plan (None otherwise)."""
    model: str
    cluster: str
    plan: Plan
    prompt: int
    batch: int
    output_tokens: int
    ttft_s: float
    tpot_s: float | None
    tokens_per_s: float
    energy_per_token_j: float | None
    memory: Memory
    prefill: ParallelResult
    decode: tuple[ParallelResult, ...]
    kv_transfer: CollectiveRun | None = None
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        tpot = f"{self.tpot_s * 1e3:.4g} ms" if self.tpot_s is not None else "- (no decode)"
        lines = [f"{self.model} on {self.cluster} with plan {self.plan}: batch {self.batch}, prompt {self.prompt}, "
                 f"{self.output_tokens} output token{'s' * (self.output_tokens > 1)}",
                 f"  TTFT {self.ttft_s * 1e3:.4g} ms, TPOT {tpot}, {self.tokens_per_s:.4g} tokens/s",
                 f"  prefill: communication {self.prefill.communication_s * 1e3:.4g} ms "
                 f"({self.prefill.exposed_s * 1e3:.4g} ms exposed)",
                 f"  memory per device: {self.memory.note}"]
        if self.kv_transfer is not None:
            lines.append(f"  KV-cache transfer {self.kv_transfer.nbytes / 1e6:.4g} MB per decode device, "
                         f"{self.kv_transfer.seconds * 1e3:.4g} ms ({self.kv_transfer.unit})")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _prefixes(m: Model) -> dict[bool, str]:
    """The layer-group prefixes `sim.models.inference` names a phase's kernels with."""
    counts = layer_counts(m)
    return {dense: ("layers." if len(counts) == 1 else "dense." if dense else f"{m.ffn}.") for dense in counts}


def parallel_inference(model: Any, cluster, p: Plan, *, prompt: int, batch: int, output_tokens: int,
                       memory_policy: str, constraints: MappingType[str, Any] | None,
                       options: Options) -> ParallelInference:
    """Serve the batch under plan `p` (see the module docstring)."""
    m = resolve_model(model)
    pools = 2 if p.disaggregation == "prefill-decode" else 1
    check_fits(p, cluster.size // pools, f"{cluster.name}" + (" (half of it: one pool)" if pools == 2 else ""))
    refuse_unmodelled(p, "inference")
    if p.cp > 1 or p.disaggregation == "core-attention":
        raise MappingError(f"plan {p}: context parallelism and core-attention disaggregation are modelled for one "
                           f"prefill layer (sim.evaluate(layer, cluster, plan=...), sim.parallel.core_attention); "
                           f"inference takes cp=1")
    dev = stage_model(m, p)
    b = micro_batch(batch, p) if isinstance(batch, int) and not isinstance(batch, bool) else batch
    own_check = p.micro_batches > 1 or p.pp > 1
    try:
        one = inference_one(dev, overlap_device(cluster, p.micro_batches > 1), prompt=prompt, batch=b,
                            output_tokens=output_tokens, memory_policy="flag" if own_check else memory_policy,
                            constraints=constraints, options=options)
        mem = _memory(dev, cluster, p, one, memory_policy)
    except MappingError as err:
        raise MappingError(f"plan {p}, one device's shard: {err}") from None
    prefill = phase(m, dev, cluster, p, one.prefill, b * one.prompt, b)
    decode = tuple(phase(m, dev, cluster, p, r, b, b) for r in one.decode)
    transfer = _kv_transfer(cluster, p, one, mem) if pools == 2 else None
    return _record(m, cluster, p, one, mem, prefill, decode, transfer)


def _memory(dev: Model, cluster, p: Plan, one, policy: str) -> Memory:
    """A device's memory: its stage's weights (one of the embedding and the LM head when pipelined, unless they are
    tied) and the KV cache of all its micro-batches."""
    if p.micro_batches == 1 and p.pp == 1:
        return one.memory
    weights = one.memory.weight_bytes
    if p.pp > 1 and dev.vocab and not dev.tied:
        weights -= dev.vocab * dev.model_dim * dtype_bytes(dev.dtype)
    sequences, cached = one.batch * p.micro_batches, one.prompt + one.output_tokens - 1
    mem = memory(f"{dev.name} (one device)", cluster.device, weights, one.memory.kv_cache_bytes * p.micro_batches,
                 sequences, cached)
    check(mem, policy)
    return mem


def stage_model(m: Model, p: Plan) -> Model:
    """The model one device serves: its tensor/expert shard of one pipeline stage's layers."""
    dev = device_model(m, dataclasses.replace(p, pp=1))
    if p.pp == 1:
        return dev
    if p.ep > 1 or p.micro_batches > 1 or p.disaggregation != "none":
        raise MappingError(f"plan {p}: pipeline parallelism beside expert parallelism, micro-batches or "
                           f"disaggregation is not modelled")
    if len(layer_counts(m)) > 1 or m.layers % p.pp:
        raise MappingError(f"plan {p}: pp={p.pp} must divide {m.name}'s {m.layers} layers into equal stages of one "
                           f"layer kind")
    return dataclasses.replace(dev, layers=m.layers // p.pp)


def phase(m: Model, dev: Model, cluster, p: Plan, lr: LayerResult, tokens: int, batch: int) -> ParallelResult:
    """One phase (prefill or a decode step) under the plan: each layer kind's step × its layers, and the heads; with
    pp stages, each stage's layers on its own tp devices one stage after another, the activations sent between
    (one batch in flight: no stage overlaps another), the heads on the last stage."""
    prefixes, counts, stage = _prefixes(dev), layer_counts(dev), dataclasses.replace(p, pp=1)
    top_k = m.moe.top_k if m.moe else 0
    where = collectives(stage, cluster, tokens=tokens, model_dim=m.model_dim, dtype=m.dtype, top_k=top_k)
    steps, issued, clock = [], [], cluster.device.clock_hz
    for dense, count in counts.items():
        parts = [r for r in lr.parts if r.kernel.name.startswith(prefixes[dense])]
        steps.append((schedule(layer_step(parts, stage, where, count, prefixes[dense]), clock), parts, count))
        issued += [_times(c, count * p.pp) for c in placed(parts, where, prefixes[dense])]
    heads = [r for r in lr.parts if r.kernel.name in HEADS]
    if heads:
        group = tuple(range(p.tp))
        embed = timed("all_reduce.embed", "all_reduce", tokens * m.model_dim * dtype_bytes(m.dtype), cluster, group)
        gather = timed("all_gather.logits", "all_gather", batch * dev.vocab * dtype_bytes(m.dtype), cluster, group)
        steps.append((schedule(_heads_step(heads, stage, embed, gather), clock), heads, 1))
        issued += [c for c in (embed, gather) if c.seconds]
    hop = None
    if p.pp > 1:
        hop = timed("send_recv.stage", "send_recv", tokens * m.model_dim * dtype_bytes(m.dtype), cluster,
                    (0, p.tp), count=p.pp - 1)
        issued.append(hop)
    return _combine(lr.workload, cluster, p, steps, tuple(issued), lr.notes, hop)


def _times(c: CollectiveRun, count: int) -> CollectiveRun:
    return dataclasses.replace(c, count=c.count * count)


def _heads_step(heads, p: Plan, embed: CollectiveRun, gather: CollectiveRun) -> Step:
    """Embedding, final norm and LM head on every device: a vocabulary-parallel embedding's partial rows
    all-reduced after the lookup, the LM head's logits all-gathered over the tp group (Megatron's
    vocabulary-parallel layers)."""
    step = layer_step(heads, p, {"before:final_norm": alone(embed)})
    if gather.plan is not None:
        for k in range(p.micro_batches):
            step.collective(dataclasses.replace(gather, name=f"{gather.name}#{k}" if p.micro_batches > 1 else
                                                gather.name), {d: step.last(d) for d in range(p.devices)})
    return step


def _combine(name: str, cluster, p: Plan, steps, issued: tuple[CollectiveRun, ...], notes,
             hop: CollectiveRun | None = None) -> ParallelResult:
    """The phase as one record: its steps one after another, each repeated over its layers (and stages)."""
    total, exposed, tp, roles = 0.0, 0.0, p.devices // p.pp, _roles(p)
    per_device: list[DeviceShare | None] = [None] * p.devices
    for s, parts, count in steps:
        heads = parts[0].kernel.name in HEADS
        stages = [p.pp - 1] if heads else range(p.pp)
        devices = shares(s, cluster.device, roles[:tp], [work(parts, count, p.micro_batches)] * tp, [None] * tp)
        for st in stages:
            for r, d in enumerate(devices):
                k = st * tp + r
                per_device[k] = _add(per_device[k], d, count, k, roles[k])
        total += s.seconds * count * len(stages)
        exposed += s.exposed_s * count * len(stages)
    if hop is not None:
        total += hop.total_s
        exposed += hop.total_s
    main = max(steps, key=lambda t: t[0].seconds * t[2])[0]
    notes = tuple(n for n in notes if not n.startswith(("embed:", "final_norm:", "lm_head:")))
    if p.pp > 1:
        notes += (f"{p.pp} pipeline stages of {tp} device{'s' * (tp > 1)}, one batch in flight; the heads on the "
                  f"last stage",)
    return ParallelResult(name, cluster.name, p, total, exposed, tuple(d for d in per_device if d is not None),
                          issued, None, main.run, 1, notes, main.seconds)


def _roles(p: Plan) -> list[str]:
    tp = p.devices // p.pp
    if p.pp > 1:
        return [f"pp stage {d // tp}, tp rank {d % tp}" for d in range(p.devices)]
    return [f"ep rank {d}" if p.ep > 1 else f"tp rank {d}" for d in range(tp)]


def _add(acc: DeviceShare | None, d: DeviceShare, k: int, device: int, role: str) -> DeviceShare:
    """`acc` plus `k` times device share `d`, as device `device` of the plan."""
    fields = ("compute_s", "comm_s", "overlapped_s", "link_s", "nic_s", "flops", "hbm_bytes", "energy_j")
    values = [getattr(d, f) * k + (getattr(acc, f) if acc is not None else 0.0) for f in fields]
    return DeviceShare(device, role, *values)


def _kv_transfer(cluster, p: Plan, one, mem: Memory) -> CollectiveRun:
    """The KV cache of a decode device's sequences (every layer's prompt rows), sent once from its prefill device
    (the pools are devices [0, n) and [n, 2n): across nodes, over the NIC, once a pool fills a node)."""
    nbytes = mem.kv_cache_bytes * one.prompt / max(one.prompt + one.output_tokens - 1, 1)
    return timed("send_recv.kv_cache", "send_recv", math.ceil(nbytes), cluster, (0, p.devices))


def _record(m: Model, cluster, p: Plan, one, mem: Memory, prefill: ParallelResult,
            decode: tuple[ParallelResult, ...], transfer: CollectiveRun | None) -> ParallelInference:
    counted = decode[:one.output_tokens - 1]
    moved = transfer.seconds if transfer is not None else 0.0
    total = prefill.latency_s + moved + sum(r.latency_s for r in counted)
    energy = prefill.energy_j + sum(r.energy_j for r in counted)
    tpot = sum(r.latency_s for r in decode) / len(decode) if decode else None
    per_device = one.batch * p.micro_batches
    tokens = per_device * p.replicas * one.output_tokens
    notes = one.notes + (f"per device: {per_device} sequence{'s' * (per_device > 1)} of the batch"
                         + (f" in {p.micro_batches} micro-batches" if p.micro_batches > 1 else ""),)
    return ParallelInference(m.name, cluster.name, p, one.prompt, per_device * p.replicas, one.output_tokens,
                             prefill.latency_s, tpot, tokens / total,
                             energy / tokens if one.energy_per_token_j is not None else None, mem, prefill,
                             decode, transfer, notes)
