"""What one device of a plan holds: the model configuration of one shard, so that each device's kernels come from
the single-device path (`sim.models`) with the per-device shapes.

- Tensor parallel (Megatron, Shoeybi et al., arXiv 1909.08053): heads and KV heads ÷ tp, FFN columns ÷ tp (routed
  and shared experts' hidden ÷ tp), the vocabulary ÷ tp (a vocabulary-parallel embedding and LM head). Norms,
  residual adds and the router are replicated. MLA under TP splits its heads; the latent down-projection, its norm
  and the RoPE key are replicated, as every device needs the whole latent (DeepSeek-V2, arXiv 2405.04434).
- TPLA (Tang et al., arXiv 2508.15881): every device keeps all heads and a C/g slice of the latent (its slice of the
  down-projection, its sliced RMSNorm) plus the replicated RoPE part; it runs its own softmax and its up- and output
  projections on its partial output (replicated work: the projections are linear, so the partial outputs sum).
- Expert parallel (DeepSeek-V3, arXiv 2412.19437): experts ÷ ep per device, each device's attention on its share
  of the batch (data parallel), the shared expert replicated.
"""
from __future__ import annotations

import dataclasses

import accel
from accel.interconnect import cluster_sms
from workloads import Model
from workloads.models.moe import MoE

from sim.ir import MappingError
from sim.parallel.plans import Plan, divides


def tensor_shard(m: Model, tp: int, attention: str = "tp") -> Model:
    """The model one of `tp` tensor-parallel devices runs (`attention="tpla"`: MLA's latent sliced instead)."""
    if tp == 1:
        return m
    if attention == "tpla":
        return _ffn_shard(_tpla_attention(m, tp), tp)
    return _ffn_shard(_head_shard(m, tp), tp)


def _head_shard(m: Model, tp: int) -> Model:
    if m.variant == "mla":
        divides("heads", m.mla["heads"], "tp", tp, m.name)
        return dataclasses.replace(m, mla={**m.mla, "heads": m.mla["heads"] // tp})
    if m.variant in ("na", "gna"):
        raise MappingError(f"plan: tensor parallelism of {m.name}'s {m.variant.upper()} attention is not modelled "
                           f"(a local-attention kernel on a head slice); use tp=1")
    divides("heads", m.heads, "tp", tp, m.name)
    divides("KV heads", m.kv_heads, "tp", tp, m.name)
    return dataclasses.replace(m, heads=m.heads // tp, kv_heads=m.kv_heads // tp)


def _tpla_attention(m: Model, tp: int) -> Model:
    if m.variant != "mla":
        raise MappingError(f"plan: attention='tpla' slices MLA's latent; {m.name} has {m.variant.upper()} attention "
                           f"(use attention='tp')")
    divides("latent dimension", m.mla["latent"], "tp", tp, m.name)
    return dataclasses.replace(m, mla={**m.mla, "latent": m.mla["latent"] // tp})


def _ffn_shard(m: Model, tp: int) -> Model:
    divides("FFN hidden", m.ffn_dim, "tp", tp, m.name)
    moe = m.moe
    if moe is not None:
        divides("expert hidden", moe.expert_dim, "tp", tp, m.name)
        divides("shared-expert hidden", moe.shared_dim, "tp", tp, m.name)
        moe = dataclasses.replace(moe, expert_dim=moe.expert_dim // tp, shared_dim=moe.shared_dim // tp)
    if m.vocab:
        divides("vocabulary", m.vocab, "tp", tp, m.name)
    return dataclasses.replace(m, ffn_dim=m.ffn_dim // tp, moe=moe, vocab=m.vocab // tp)


def expert_shard(m: Model, ep: int) -> Model:
    """The model one of `ep` expert-parallel devices runs: experts ÷ ep (top-k unchanged, so each device's experts
    see the whole expert group's tokens at DeepSeek-V3's balanced load)."""
    if ep == 1:
        return m
    moe: MoE | None = m.moe
    if moe is None:
        raise MappingError(f"plan: ep={ep} spreads routed experts; {m.name} has none (use ep=1)")
    divides("routed experts", moe.experts, "ep", ep, m.name)
    if moe.top_k > moe.experts // ep:
        raise MappingError(f"plan: ep={ep} leaves {moe.experts // ep} experts per device, fewer than top_k="
                           f"{moe.top_k}: a device's share of the balanced routing is not modelled there "
                           f"(ep ≤ {moe.experts // moe.top_k})")
    return dataclasses.replace(m, moe=dataclasses.replace(moe, experts=moe.experts // ep))


def device_model(m: Model, p: Plan) -> Model:
    """The model each device of plan `p` runs (tensor and expert shards applied)."""
    return expert_shard(tensor_shard(m, p.tp, p.attention), p.ep)


def device_batch(batch: int, p: Plan) -> int:
    """Sequences each device's attention serves: the batch ÷ the data-parallel replicas of the expert group."""
    if batch % p.replicas:
        raise MappingError(f"plan {p}: batch {batch} does not split over its {p.replicas} data-parallel attention "
                           f"replicas (ep ÷ (tp × cp)); use a batch divisible by {p.replicas}")
    return batch // p.replicas


def micro_batch(batch: int, p: Plan) -> int:
    """Sequences of one micro-batch of a device (its batch ÷ `micro_batches`)."""
    per_device = device_batch(batch, p)
    if per_device % p.micro_batches:
        raise MappingError(f"plan {p}: a device's {per_device} sequences do not split into {p.micro_batches} "
                           f"micro-batches; use a batch divisible by {p.replicas * p.micro_batches}")
    return per_device // p.micro_batches


def overlap_device(cluster, overlapped: bool):
    """The device a kernel runs on: all of `cluster.device`, or, when communication runs beside it, the SMs the
    collectives leave (`cluster.comm_sms` of them run the communication kernels, as NCCL's channels do)."""
    if not overlapped:
        return cluster.device
    sms = cluster_sms(cluster.device)
    return accel.variant(cluster.device, sms=sms - cluster.comm_sms) if sms > cluster.comm_sms else cluster.device
