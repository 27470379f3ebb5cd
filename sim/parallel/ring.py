"""Context parallelism of one prefill layer: the sequence split over cp devices, each running the layer's kernels on
its c = N/cp tokens, with the attention core either passed around a ring or re-partitioned by heads.

- Ring attention (Liu et al., arXiv 2310.01889): at step j device i attends its queries to the K/V block of device
  i − j while sending the block it holds to device i + 1 (double-buffered: a block is sent once the receiver has
  finished with the block two before it). Each step's attention block is a kernel simulated on the device; the
  transfers are ops on its NVLink (or NIC) unit timed by `sim.dataflows.comm`'s send/recv (the blocks run on the
  SMs the communication kernels leave, `cluster.comm_sms` of them reserved); the engine co-schedules
  both, so compute hides a transfer exactly when the block's kernel outlasts it (c ≥ FLOPs rate ÷ bandwidth).
  Causal layouts: `ring` (contiguous blocks: device i computes i + 1 blocks, a diagonal one causal, the ones after
  it masked out — the imbalance), `striped` (Brandon et al., arXiv 2311.09431: tokens dealt round-robin, every
  block about half masked; each runs as a causal c × c block, which counts the c diagonal pairs of the blocks
  from later devices that striping masks: ≤ 1/c more work), `zigzag` (device i holds chunks i and 2cp − 1 − i:
  its own block is causal c × c, an earlier device's is c queries × c/2 keys, a later one's c/2 queries × c keys
  — exactly the pairs causal attention keeps).
- Ulysses (Jacobs et al., arXiv 2309.14509): an all-to-all of Q, K and V gives each device all N tokens of H/cp
  heads; it runs the whole attention core on them; an all-to-all of the output returns its tokens.

Not simulated: the merge of each ring step's partial output into the running one (B·c·H·F multiply-adds per step,
FlashAttention's rescaling across kernels).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping as MappingType

import workloads
from workloads import Model
from workloads.dtypes import dtype_bytes
from workloads.models.kernels import Kernel
from workloads.models.zoo import kv_cache_bytes

from sim.ir import MappingError
from sim.ir.options import Options
from sim.models.choice import KernelRun, run_kernel
from sim.models.layers import evaluate_layer
from sim.models.memory import check
from sim.parallel.links import timed
from sim.parallel.outcome import device_memory, result, shares
from sim.parallel.plans import Plan, divides
from sim.parallel.result import ParallelResult
from sim.parallel.schedule import Step, schedule
from sim.parallel.shard import overlap_device


def context_layer(m: Model, kw: dict[str, Any], cluster, p: Plan, constraints: MappingType[str, Any] | None,
                  options: Options) -> ParallelResult:
    """A prefill layer under context parallelism (see the module docstring)."""
    if kw["seq_kv"] is not None:
        raise MappingError(f"plan {p}: context parallelism splits a prefill (self-attention) layer; a decode layer "
                           f"has one query per sequence (use cp=1)")
    if p.tp > 1:
        raise MappingError(f"plan {p}: context parallelism beside tensor parallelism is not modelled (tp=1)")
    n, cp = kw["seq"], p.cp
    if p.cp_kind == "zigzag":
        divides("sequence", n, "2×cp (zig-zag chunks)", 2 * cp, m.name)
    divides("sequence", n, "cp", cp, m.name)
    layer = m.layer(**{**kw, "seq": n // cp})
    mem = device_memory(m, layer, cluster.device)
    check(mem, "refuse")
    lr = evaluate_layer(layer, cluster.device, constraints=constraints, options=options)
    at = next(i for i, r in enumerate(lr.parts) if r.kernel.kind == "attention")
    pre, post = lr.parts[:at], lr.parts[at + 1:]
    pins = dict((constraints or {}).get("attention", {}))
    if p.cp_kind == "ulysses":
        step, blocks, issued = _ulysses(m, kw, cluster, p, pre, post, pins, options)
    else:
        step, blocks, issued = _ring(m, kw, cluster, p, pre, post, pins, options)
    s = schedule(step, cluster.device.clock_hz)
    works = [_work(list(pre) + list(post) + blocks[d]) for d in range(cp)]
    devices = shares(s, cluster.device, [f"cp rank {d}" for d in range(cp)], works, [lr] * cp)
    notes = (f"context parallel ({p.cp_kind}): {n // cp} tokens per device; partial-output merges between ring steps "
             f"are not simulated" if p.cp_kind != "ulysses" else
             f"context parallel (Ulysses): {n // cp} tokens per device, all tokens of {m.heads // cp} heads in attention",)
    return result(layer.name, cluster, p, s, devices, issued, mem, notes)


def _work(runs: list[KernelRun]) -> tuple[float, float, float]:
    return (sum(workloads.flops(r.kernel.cascade) * r.launches for r in runs),
            sum(r.result.dram_bytes * r.launches for r in runs), sum(r.result.energy_j * r.launches for r in runs))


def _block(m: Model, kw: dict, queries: int, keys: int, causal: bool, device, pins: dict,
           options: Options) -> KernelRun:
    core = m.attention(seq=queries, seq_kv=keys, batch=kw["batch"], causal=causal, **_form(m))
    return run_kernel(Kernel("attention", "attention", (), core), device, pins or None, options)


def _form(m: Model) -> dict:
    return {"form": "naive"} if m.variant == "mla" else {}


def _blocks(m: Model, kw: dict, cluster, p: Plan, pins: dict, options: Options) -> dict[int, list]:
    """Per device, the attention block of each ring step (None: masked out, nothing to compute)."""
    c, cp, causal = kw["seq"] // p.cp, p.cp, kw["causal"]
    device = overlap_device(cluster, True)     # the ring's sends run beside every block
    run = lambda q, k, causal_block: _block(m, kw, q, k, causal_block, device, pins, options)  # noqa: E731
    if not causal:
        full = run(c, c, False)
        return {i: [full] * cp for i in range(cp)}
    diagonal = run(c, c, True)
    out = {}
    for i in range(cp):
        row = []
        for j in range(cp):
            src = (i - j) % cp
            if src == i or p.cp_kind == "striped":
                row.append(diagonal)
            elif p.cp_kind == "ring":
                row.append(run(c, c, False) if src < i else None)
            else:   # zigzag
                row.append(run(c, c // 2, False) if src < i else run(c // 2, c, False))
        out[i] = row
    return out


def _ring(m: Model, kw: dict, cluster, p: Plan, pre, post, pins: dict, options: Options):
    cp, c = p.cp, kw["seq"] // p.cp
    blocks = _blocks(m, kw, cluster, p, pins, options)
    some = next(b for row in blocks.values() for b in row if b is not None)
    nbytes = kv_cache_bytes(some.kernel.cascade) * c // some.kernel.cascade.sizes["P"]
    sends = [timed("ring.kv", "send_recv", nbytes, cluster, (i, (i + 1) % cp)) for i in range(cp)]
    step = Step(cp)
    last = {d: _chain(step, d, pre, None) for d in range(cp)}
    ready = dict(last)                   # the K/V projection done: the device's own block can leave
    compute: dict[tuple[int, int], int] = {}
    send: dict[tuple[int, int], int] = {}
    for j in range(cp):
        for i in range(cp):
            after = [last[i]] + ([send[(i - 1) % cp, j - 1]] if j else [])
            b = blocks[i][j]
            last[i] = compute[i, j] = step.add(i, "compute", b.seconds if b else 0.0, "attention.block", after)
        for i in range(cp if j < cp - 1 else 0):
            after = [h for h in [ready[i] if j == 0 else send[(i - 1) % cp, j - 1]] if h is not None]
            after += [compute[(i + 1) % cp, j - 1]] if j else []
            send[i, j] = step.add(i, sends[i].unit, sends[i].seconds, "ring.kv", after)
    for d in range(cp):
        _chain(step, d, post, last[d])
    used = {i: [b for b in blocks[i] if b is not None] for i in range(cp)}
    return step, used, (dataclasses.replace(max(sends, key=lambda s: s.seconds), count=cp - 1),)


def _chain(step: Step, device: int, runs, after: int | None) -> int | None:
    for r in runs:
        after = step.add(device, "compute", r.seconds, r.kernel.name, () if after is None else (after,))
    return after


def _ulysses(m: Model, kw: dict, cluster, p: Plan, pre, post, pins: dict, options: Options):
    cp, c, b = p.cp, kw["seq"] // p.cp, kw["batch"]
    if m.variant == "mla":
        raise MappingError(f"plan {p}: Ulysses of MLA is not modelled (its latent K/V has no heads to re-partition)")
    divides("heads", m.heads, "cp", cp, m.name)
    divides("KV heads", m.kv_heads, "cp", cp, m.name)
    shard = dataclasses.replace(m, heads=m.heads // cp, kv_heads=m.kv_heads // cp)
    core = _block(shard, kw, kw["seq"], kw["seq"], kw["causal"], cluster.device, pins, options)
    size = dtype_bytes(m.dtype)
    group = tuple(range(cp))
    qkv = timed("all_to_all.qkv", "all_to_all", b * c * (m.heads + 2 * m.kv_heads) * m.head_dim * size, cluster, group)
    out = timed("all_to_all.out", "all_to_all", b * c * m.heads * m.head_dim * size, cluster, group)
    step = Step(cp)
    last = {d: _chain(step, d, pre, None) for d in range(cp)}
    last.update(step.collective(qkv, last))
    last = {d: _chain(step, d, [core], last[d]) for d in range(cp)}
    last.update(step.collective(out, last))
    for d in range(cp):
        _chain(step, d, post, last[d])
    return step, {d: [core] for d in range(cp)}, (qkv, out)
