"""`sim.evaluate`: plan (or take) a mapping, lower it to a tile program, schedule it, and account energy."""
from __future__ import annotations

from typing import Any, Mapping as MappingType

import accel
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered, dataflow as get_dataflow
from sim.engine.scheduler import simulate
from sim.ir.mapping import Mapping, MappingError
from sim.ir.result import Result


def evaluate(workload: Cascade, arch: Arch, dataflow: str | None = None, mapping: Mapping | None = None,
             constraints: MappingType[str, Any] | None = None, *, trace: bool = False) -> Result:
    """Simulate `workload` on `arch` with a named dataflow (planned) or an explicit mapping."""
    if mapping is not None:
        if dataflow is not None and dataflow != mapping.dataflow:
            raise MappingError(f"dataflow={dataflow!r} but the mapping is for {mapping.dataflow!r}")
        dataflow = mapping.dataflow
    if dataflow is None:
        raise MappingError("name a dataflow or pass a mapping")
    df = get_dataflow(dataflow)
    reason = df.supports(workload, arch)
    if reason is not None:
        raise MappingError(f"dataflow {dataflow} cannot run {workload.name} on {arch.name}: {reason}")
    if mapping is None:
        mapping = df.plan(workload, arch, dict(constraints or {}))
    lowered = df.lower(workload, arch, mapping)
    run = simulate(lowered.program, trace=trace)
    return account(workload, arch, mapping, lowered, run)


def account(workload: Cascade, arch: Arch, mapping: Mapping, lowered: Lowered, run) -> Result:
    """Turn an engine run into a `Result`: utilization per unit key, bytes, energy, per-Einsum busy cycles."""
    program = lowered.program
    ticks = max(int(run.ticks), 1)
    tpc = program.ticks_per_cycle
    keys: dict[str, list[int]] = {}
    for u, name in enumerate(program.units):
        if name not in lowered.unit_keys:
            raise MappingError(f"lowering of {mapping.dataflow}: program unit {name!r} has no utilization key")
        keys.setdefault(lowered.unit_keys[name], []).append(u)
    utilization = {k: float(sum(run.busy_ticks[u] for u in us)) / (ticks * len(us)) for k, us in keys.items()}
    causes = ("dependency", "memory", "buffer")
    stalls = {k: {c: float(sum(run.stall_ticks[u][i] for u in us)) / tpc for i, c in enumerate(causes)}
              for k, us in keys.items()}
    per_einsum: dict[str, dict[str, float]] = {}
    for t, tag in enumerate(program.tags):
        einsums = lowered.tags.get(tag, (tag,))
        for k, us in keys.items():
            busy = float(sum(run.tag_busy_ticks[t][u] for u in us)) / tpc / len(einsums)
            if busy:
                for e in einsums:
                    per_einsum.setdefault(e, {})[k] = per_einsum.get(e, {}).get(k, 0.0) + busy
    bytes_per_level = {name: float(run.level_bytes[i]) for i, name in enumerate(program.levels)}
    outer = arch.levels[0].name
    dram = sum(v for k, v in bytes_per_level.items() if k.split(".")[0] == outer)
    energy = energy_breakdown(arch, lowered.actions, bytes_per_level)
    cycles = ticks / tpc
    latency = cycles / arch.clock_hz
    tflops = lowered.flops / latency / 1e12 if lowered.flops is not None else None
    return Result(workload=workload.name, arch=arch.name, dataflow=mapping.dataflow, mapping=mapping,
                  cycles=cycles, latency_s=latency, energy_j=sum(energy.values()), dram_bytes=dram,
                  utilization=utilization, bytes_per_level=bytes_per_level, energy_breakdown=energy,
                  per_einsum=per_einsum, stalls=stalls, tflops=tflops, run=run, notes=lowered.notes)


def energy_breakdown(arch: Arch, actions: MappingType[str, float],
                     bytes_per_level: MappingType[str, float]) -> dict[str, float]:
    """Joules per component: compute actions × per-op energy, register accesses, and bytes × per-byte energy."""
    joules: dict[str, float] = {}
    for key, count in actions.items():
        unit_name, _, action = key.partition(".")
        u = accel.unit(arch, unit_name)
        if action == "register_read":
            pj = u.register_read_pj
        elif action == "register_write":
            pj = u.register_write_pj
        else:
            if action not in u.energy_pj_per_op:
                if u.energy_pj_per_op:
                    raise MappingError(f"action {key!r}: unit {unit_name} of {arch.name} has no energy for {action!r}")
                pj = 0.0   # architectures without an energy table (GPU presets) report no compute energy
            else:
                pj = u.energy_pj_per_op[action]
        joules[key] = count * pj * 1e-12
    for key, n in bytes_per_level.items():
        level_name, _, direction = key.partition(".")
        lv = accel.level(arch, level_name)
        pj = lv.read_energy_pj_per_byte if direction == "read" else lv.write_energy_pj_per_byte
        if direction not in ("read", "write"):
            raise MappingError(f"program level column {key!r} must be '<level>.read' or '<level>.write'")
        joules[key] = n * pj * 1e-12
    return joules
