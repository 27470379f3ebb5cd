"""A scheduled multi-device step as a `ParallelResult`: each device's busy time per unit, exposed and overlapped
communication, its kernels' MAC FLOPs, HBM bytes and energy (static power charged over the time its compute
waits on the step, as the single-device path charges it over a kernel's latency)."""
from __future__ import annotations

from typing import Sequence

import workloads
from accel import Arch
from workloads import Model
from workloads.dtypes import dtype_bytes
from workloads.models.extract import subcascade
from workloads.models.footprint import parameters
from workloads.models.parts import Layer
from workloads.models.zoo import kv_cache_bytes

from sim.models.choice import KernelRun
from sim.models.compose import LayerResult
from sim.models.memory import Memory, memory
from sim.parallel.links import CollectiveRun
from sim.parallel.plans import Plan
from sim.parallel.result import DeviceShare, ParallelResult
from sim.parallel.schedule import Scheduled


def work(parts: Sequence[KernelRun], per_layer: int = 1, copies: int = 1) -> tuple[float, float, float]:
    """(MAC FLOPs, HBM bytes, energy) of kernel runs, per layer, for `copies` micro-batches."""
    scale = copies / per_layer
    flops = sum(workloads.flops(p.kernel.cascade) * p.launches for p in parts) * scale
    hbm = sum(p.result.dram_bytes * p.launches for p in parts) * scale
    energy = sum(p.result.energy_j * p.launches for p in parts) * scale
    return flops, hbm, energy


def shares(s: Scheduled, device: Arch, roles: Sequence[str], works: Sequence[tuple[float, float, float]],
           kernels: Sequence[LayerResult | None]) -> tuple[DeviceShare, ...]:
    """One `DeviceShare` per device from the schedule and each device's kernel work."""
    out = []
    for d, role in enumerate(roles):
        busy = s.busy[d]
        flops, hbm, energy = works[d]
        idle = max(s.seconds - busy["compute"], 0.0)
        out.append(DeviceShare(d, role, busy["compute"], s.communication[d], s.overlapped[d], busy["link"],
                               busy["nic"], flops, hbm, energy + device.static_power_w * idle, kernels[d]))
    return tuple(out)


def result(name: str, cluster, plan: Plan, s: Scheduled, devices: tuple[DeviceShare, ...],
           issued: tuple[CollectiveRun, ...], memory: Memory | None, notes: tuple[str, ...] = (),
           repeat: int = 1) -> ParallelResult:
    """The record of `repeat` identical steps (a model phase's layers of one kind)."""
    scaled = tuple(_scaled(d, repeat) for d in devices)
    return ParallelResult(name, cluster.name, plan, s.seconds * repeat, s.exposed_s * repeat, scaled, issued, memory,
                          s.run, repeat, notes, s.seconds)


def _scaled(d: DeviceShare, k: int) -> DeviceShare:
    if k == 1:
        return d
    return DeviceShare(d.device, d.role, d.compute_s * k, d.comm_s * k, d.overlapped_s * k, d.link_s * k,
                       d.nic_s * k, d.flops * k, d.hbm_bytes * k, d.energy_j * k, d.kernels)


def device_memory(m: Model, layer: Layer, device, ffn: bool = True) -> Memory:
    """One device's weights (its layer's parameters; `ffn=False`: without the FFN's, the parts after the attention
    residual add) and the KV cache its layer reads, against its HBM."""
    params = parameters(layer)
    if not ffn:
        names = [e for part in layer.parts[1 + _index(layer, "attn_residual"):] for e in part.einsums]
        params -= parameters(subcascade(layer, tuple(names), f"{layer.name}.ffn"))
    return memory(f"{m.name} layer", device, params * dtype_bytes(m.dtype), kv_cache_bytes(layer), layer.sizes["B"],
                  layer.sizes.get("P", 0))


def _index(layer: Layer, part: str) -> int:
    return next(i for i, p in enumerate(layer.parts) if p.name == part)
