"""One zoo layer under a plan on a cluster: the layer's model is recovered from the layer (and checked to rebuild
it exactly), sharded (`shard`), each device's layer simulated on the single-device path, and the devices' kernels
and the plan's collectives scheduled together on the engine (`tensor`, `ring`)."""
from __future__ import annotations

from typing import Any, Mapping as MappingType

from workloads import Model, model as zoo
from workloads.models.parts import Layer
from workloads.models.zoo import MODELS

from sim.ir import MappingError
from sim.ir.options import Options
from sim.models.layers import evaluate_layer
from sim.models.memory import check
from sim.parallel.outcome import device_memory, result, shares, work
from sim.parallel.plans import Plan, check_fits
from sim.parallel.result import ParallelResult
from sim.parallel.ring import context_layer
from sim.parallel.schedule import schedule
from sim.parallel.shard import device_batch, device_model, micro_batch, overlap_device
from sim.parallel.tensor import collectives, layer_step, placed


def zoo_layer(layer: Layer) -> tuple[Model, dict[str, Any]]:
    """The zoo model of `layer` and the `Model.layer` arguments that rebuild it exactly (MappingError otherwise: a
    plan re-shapes the model, so it needs the configuration, not just the cascade)."""
    names = [n for n in MODELS if layer.name == n or layer.name.startswith(n + "_")]
    if not names:
        raise MappingError(f"plan: {str(layer.name)[:64]!r} is not a zoo model's layer; a parallel plan re-shapes a "
                           f"model's layer (build it with workloads.model(NAME).layer(...))")
    m = zoo(max(names, key=len))
    core = next((p.core for p in layer.parts if p.kind == "attention" and p.core is not None), None)
    if core is None or m.variant in ("na", "gna"):
        raise MappingError(f"plan: parallel plans of {m.name}'s layers are not modelled (decoders and encoders with "
                           f"GQA/MHA or MLA attention are)")
    s = core.sizes
    kw: dict[str, Any] = {"seq": s["M"], "batch": s["B"], "seq_kv": s["P"] if s["P"] != s["M"] else None}
    if m.variant == "mla":
        kw["form"] = "absorbed" if core.name.startswith("mla_absorbed") else "naive"
    if m.ffn == "moe" and not any(p.kind == "experts" for p in layer.parts):
        kw["dense"] = True
    for causal in (m.causal, not m.causal):
        if m.layer(**kw, causal=causal) == layer:
            return m, {**kw, "causal": causal}
    raise MappingError(f"plan: layer {m.name} was built with options a plan does not re-shape (it takes seq, "
                       f"batch, seq_kv, causal{', form' if m.variant == 'mla' else ''}, dense)")


def refuse_unmodelled(p: Plan, where: str) -> None:
    """Plans whose forms are not modelled are refused, naming what is."""
    if p.pp > 1 and where != "inference":
        raise MappingError(f"plan {p}: a layer is one pipeline stage ({where} takes pp=1; sim.inference "
                           f"pipelines a model's layers)")
    if p.ep > 1 and p.tp * p.cp > 1:
        raise MappingError(f"plan {p}: expert parallelism beside tp or cp is not modelled (ep > 1 runs the attention "
                           f"data parallel over the expert group: tp=cp=1)")


def parallel_layer(layer: Layer, cluster, p: Plan, constraints: MappingType[str, Any] | None,
                   options: Options) -> ParallelResult:
    """`layer` under plan `p` on `cluster` (see the module docstring)."""
    check_fits(p, cluster.size, cluster.name)
    refuse_unmodelled(p, "a layer")
    if p.disaggregation == "core-attention":
        raise MappingError(f"plan {p}: core-attention disaggregation balances documents of mixed lengths: use "
                           f"sim.parallel.core_attention(model, cluster, documents)")
    if p.disaggregation != "none":
        raise MappingError(f"plan {p}: disaggregation splits serving into pools; it applies to sim.inference, not to "
                           f"one layer")
    m, kw = zoo_layer(layer)
    if p.cp > 1:
        return context_layer(m, kw, cluster, p, constraints, options)
    return model_layer(m, kw, cluster, p, constraints, options, name=layer.name)


def model_layer(m: Model, kw: dict[str, Any], cluster, p: Plan, constraints: MappingType[str, Any] | None,
                options: Options, attention_only: bool = False, name: str | None = None) -> ParallelResult:
    """The layer `m.layer(**kw)` under a tensor or expert plan; `attention_only`: its kernels up to the attention
    residual add, and the weights of those (a model with its FFN removed, as the TPLA paper compares)."""
    dev_model = device_model(m, p)
    dev_layer = dev_model.layer(**{**kw, "batch": device_batch(kw["batch"], p)})
    mem = device_memory(m, dev_layer, cluster.device, ffn=not attention_only)
    check(mem, "refuse")
    micro = dev_model.layer(**{**kw, "batch": micro_batch(kw["batch"], p)}) if p.micro_batches > 1 else dev_layer
    lr = evaluate_layer(micro, overlap_device(cluster, p.micro_batches > 1), constraints=constraints,
                        options=options)
    parts = lr.parts
    if attention_only:
        parts = parts[:1 + next(i for i, r in enumerate(parts) if r.kernel.name == "attn_residual")]
    tokens = micro.sizes["B"] * micro.sizes["M"]
    where = collectives(p, cluster, tokens=tokens, model_dim=m.model_dim, dtype=m.dtype,
                        top_k=m.moe.top_k if m.moe else 0)
    s = schedule(layer_step(parts, p, where), cluster.device.clock_hz)
    roles = [_role(p, d, m.moe.experts if m.moe else 0) for d in range(p.devices)]
    devices = shares(s, cluster.device, roles, [work(parts, copies=p.micro_batches)] * p.devices, [lr] * p.devices)
    name = (name or m.layer(**kw).name) + ("[attention]" if attention_only else "")
    return result(name, cluster, p, s, devices, placed(parts, where), mem, _notes(p, m))


def _role(p: Plan, d: int, experts: int) -> str:
    if p.ep > 1:
        share = experts // p.ep
        return f"ep rank {d} (experts {d * share}-{(d + 1) * share - 1})"
    return f"tp rank {d}"


def _notes(p: Plan, m: Model) -> tuple[str, ...]:
    notes = []
    if p.tp > 1 and p.attention == "tpla":
        notes.append("TPLA: every device keeps all heads and a 1/tp slice of the latent; the up- and output "
                     "projections run on its partial output (replicated work), the outputs are all-reduced")
    elif p.tp > 1:
        notes.append("tensor parallel: norms, residual adds" + (", the latent down-projection and RoPE key" if
                                                              m.variant == "mla" else "") + " replicated per device")
    if p.ep > 1:
        experts = m.moe.experts // p.ep if m.moe else 0
        notes.append(f"expert parallel: {experts} routed experts per device, attention data parallel over the "
                     f"{p.ep} devices (a {p.ep}th of the batch each), the shared expert on every device; FP8 dispatch "
                     f"and BF16 combine all-to-alls (node-limited across nodes)")
    return tuple(notes)
