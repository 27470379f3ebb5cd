"""`sim.evaluate`: plan (or take) a mapping, lower it to a tile program, schedule it, and account for it.

The one path every number takes: `supports` (refuse with a reason) → `plan` (a Mapping; constraints pin its
choices) → `lower` (reads the mapping, never changes it) → `sim.engine.simulate` → `account` (a `Result`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping as MappingType

import accel
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered, dataflow as get_dataflow
from sim.engine import simulate
from sim.ir import STALL_CAUSES, Mapping, MappingError, Result, Run
from sim.ir.options import DEFAULT_OPTIONS, Options


def evaluate(workload: Cascade, arch: Arch, dataflow: str | None = None, mapping: Mapping | None = None,
             constraints: MappingType[str, Any] | None = None, *, trace: bool = False,
             options: Options | None = None) -> Result:
    """Simulate `workload` on `arch` with a named dataflow (planned, `constraints` pinning mapping choices) or an
    explicit mapping; `options` set the simulation's fidelity (`trace=True` is `Options(trace=True)`)."""
    if not isinstance(workload, Cascade):
        raise MappingError(f"evaluate: workload must be a workloads.Cascade, got {type(workload).__name__} "
                           f"(build one with workloads.attention(...), workloads.gemm(...) or workloads.cascade(...))")
    if not isinstance(arch, Arch):
        raise MappingError(f"evaluate: arch must be an accel.Arch, got {type(arch).__name__} "
                           f"(e.g. accel.preset('h100'))")
    options = _options(options, trace)
    if mapping is not None:
        if not isinstance(mapping, Mapping):
            raise MappingError(f"evaluate: mapping must be a sim.Mapping, got {type(mapping).__name__}")
        if dataflow is not None and dataflow != mapping.dataflow:
            raise MappingError(f"dataflow={dataflow!r} but the mapping is for {mapping.dataflow!r}")
        if constraints:
            raise MappingError("evaluate: give constraints (to plan) or a mapping, not both")
        dataflow = mapping.dataflow
    if dataflow is None:
        raise MappingError("name a dataflow or pass a mapping")
    df = get_dataflow(dataflow)
    reason = df.supports(workload, arch)
    if reason is not None:
        raise MappingError(f"dataflow {dataflow} cannot run {workload.name} on {arch.name}: {reason}")
    if mapping is None:
        if constraints is not None and not isinstance(constraints, MappingType):
            raise MappingError(f"evaluate: constraints must be a mapping of mapping parameter to value, "
                               f"got {type(constraints).__name__}")
        mapping = df.plan(workload, arch, dict(constraints or {}))
    lowered = df.lower(workload, arch, mapping, options)
    run = simulate(lowered.program, extrapolate=options.extrapolate, trace=options.trace)
    return account(workload, arch, mapping, lowered, run, options)


def _options(options: Options | None, trace: bool) -> Options:
    if options is None:
        options = DEFAULT_OPTIONS
    if not isinstance(options, Options):
        raise MappingError(f"evaluate: options must be sim.Options, got {type(options).__name__}")
    if not isinstance(trace, bool):
        raise MappingError(f"evaluate: trace must be True or False, got {trace!r}")
    if trace and not options.trace:
        options = Options(**{**options.__dict__, "trace": True})
    return options


def account(workload: Cascade, arch: Arch, mapping: Mapping, lowered: Lowered, run: Run,
            options: Options = DEFAULT_OPTIONS) -> Result:
    """Turn an engine run into a `Result`: utilization, occupancy, bytes, energy, per-Einsum and per-phase busy
    cycles, per-kernel times."""
    program = lowered.program
    ticks = max(int(run.ticks), 1)
    tpc = program.ticks_per_cycle
    keys = _unit_keys(program, lowered, mapping)
    cycles = ticks / tpc
    latency = cycles / arch.clock_hz
    bytes_per_level = {name: float(run.level_bytes[i]) for i, name in enumerate(program.levels)}
    busy = {k: float(sum(run.busy_ticks[u] for u in us)) / (ticks * len(us)) for k, us in keys.items()}
    stalls = {k: {c: float(sum(run.stall_ticks[u][i] for u in us)) / tpc for i, c in enumerate(STALL_CAUSES)}
              for k, us in keys.items()}
    per_einsum, phases = _busy_by_tag(workload, lowered, run, keys)
    outer = arch.levels[0].name
    dram = sum(v for k, v in bytes_per_level.items() if k.split(".")[0] == outer)
    energy = energy_breakdown(arch, lowered.actions, bytes_per_level, latency)
    tflops = lowered.flops / latency / 1e12 if lowered.flops is not None else None
    return Result(workload=workload.name, arch=arch.name, dataflow=mapping.dataflow, mapping=mapping,
                  cycles=cycles, latency_s=latency, energy_j=sum(energy.values()), dram_bytes=dram,
                  utilization=utilization(arch, workload.dtype, lowered, bytes_per_level, keys, cycles),
                  bytes_per_level=bytes_per_level, energy_breakdown=energy, per_einsum=per_einsum, stalls=stalls,
                  tflops=tflops, run=run, notes=lowered.notes,
                  kernels=kernel_seconds(lowered, run, mapping.dataflow, arch.clock_hz), phases=phases, busy=busy,
                  options=options)


def _unit_keys(program, lowered: Lowered, mapping: Mapping) -> dict[str, list[int]]:
    keys: dict[str, list[int]] = {}
    for u, name in enumerate(program.units):
        if name not in lowered.unit_keys:
            raise MappingError(f"lowering of {mapping.dataflow}: program unit {name!r} has no reporting key")
        keys.setdefault(lowered.unit_keys[name], []).append(u)
    return keys


def _busy_by_tag(workload: Cascade, lowered: Lowered, run: Run, keys: dict[str, list[int]]):
    """(per Einsum, per phase) → unit key → busy cycles. Every tag is Einsums of this cascade or a declared phase."""
    einsums = {e.name for e in workload.einsums}
    tpc = lowered.program.ticks_per_cycle
    per_einsum: dict[str, dict[str, float]] = {}
    phases: dict[str, dict[str, float]] = {}
    for t, tag in enumerate(lowered.program.tags):
        if not run.tag_busy_ticks[t].any():
            continue   # a tag the program declares but no op uses
        if tag in lowered.phases:
            targets, table = (tag,), phases
        else:
            targets, table = tuple(lowered.tags.get(tag, (tag,))), per_einsum
            unknown = [e for e in targets if e not in einsums]
            if unknown:
                raise MappingError(f"lowering tag {tag!r} names {unknown[0]!r}, which is neither an Einsum of "
                                   f"{workload.name} ({', '.join(sorted(einsums))}) nor a declared kernel phase")
        for k, us in keys.items():
            cycles = float(sum(run.tag_busy_ticks[t][u] for u in us)) / tpc / len(targets)
            if cycles:
                for e in targets:
                    row = table.setdefault(e, {})
                    row[k] = row.get(k, 0.0) + cycles
    return per_einsum, phases


def utilization(arch: Arch, dtype: str, lowered: Lowered, bytes_per_level: MappingType[str, float],
                keys: MappingType[str, list[int]], cycles: float) -> dict[str, float]:
    """Useful work ÷ capacity per key: compute keys (arch units) from the exact actions, memory keys (program units
    in `unit_levels`) from the bytes their level moved. Keys that are neither (a launch queue) are left out."""
    units = {u.name: u for u in arch.units}
    slots: dict[str, float] = {}
    for key, count in lowered.actions.items():
        unit_name, _, op = key.partition(".")
        if unit_name in units and not op.startswith("register_"):
            rate = accel.op_rate(units[unit_name], op, dtype)
            if rate is None:
                raise MappingError(f"action {key!r}: unit {unit_name} of {arch.name} cannot run {op!r}")
            slots[unit_name] = slots.get(unit_name, 0.0) + (0.0 if math.isinf(rate) else count / rate)
    seconds = cycles / arch.clock_hz
    program_units = lowered.program.units
    out: dict[str, float] = {}
    for key, us in keys.items():
        if key in units:
            out[key] = slots.get(key, 0.0) / (accel.pe_count(arch, units[key]) * cycles)
            continue
        levels = {lowered.unit_levels[program_units[u]] for u in us if program_units[u] in lowered.unit_levels}
        if len(levels) == 1:
            level = accel.level(arch, levels.pop())
            moved = sum(v for k, v in bytes_per_level.items() if k.split(".")[0] == level.name)
            if level.bandwidth_bytes_per_s is not None:
                out[key] = moved / (level.bandwidth_bytes_per_s * seconds)
    return out


def kernel_seconds(lowered: Lowered, run: Run, default_name: str, clock_hz: float) -> dict[str, float]:
    """Seconds per kernel: each kernel ends when its last segment is done and starts when the previous one ended."""
    tpc = lowered.program.ticks_per_cycle
    spans = lowered.kernels or {default_name: (0, len(lowered.program.segments))}
    out, previous = {}, 0
    for name, (first, end) in spans.items():
        done = int(run.segment_end_ticks[end - 1]) if end > first else previous
        out[name] = max(done - previous, 0) / tpc / clock_hz
        previous = max(previous, done)
    return out


def energy_breakdown(arch: Arch, actions: MappingType[str, float], bytes_per_level: MappingType[str, float],
                     seconds: float = 0.0) -> dict[str, float]:
    """Joules per component: compute actions × per-op energy, register accesses, bytes × per-byte energy, and the
    arch's static power over `seconds` ("static", when the arch states one)."""
    joules: dict[str, float] = {}
    if arch.static_power_w:
        joules["static"] = arch.static_power_w * seconds
    for key, count in actions.items():
        unit_name, _, action = key.partition(".")
        u = accel.unit(arch, unit_name)
        if action == "register_read":
            pj = u.register_read_pj
        elif action == "register_write":
            pj = u.register_write_pj
        elif action in u.energy_pj_per_op:
            pj = u.energy_pj_per_op[action]
        elif u.energy_pj_per_op:
            raise MappingError(f"action {key!r}: unit {unit_name} of {arch.name} has no energy for {action!r}")
        else:
            pj = 0.0   # a unit without an energy table (GPU presets today) reports no compute energy
        joules[key] = count * pj * 1e-12
    for key, n in bytes_per_level.items():
        level_name, _, direction = key.partition(".")
        if direction not in ("read", "write"):
            raise MappingError(f"program level column {key!r} must be '<level>.read' or '<level>.write'")
        lv = accel.level(arch, level_name)
        pj = lv.read_energy_pj_per_byte if direction == "read" else lv.write_energy_pj_per_byte
        joules[key] = n * pj * 1e-12
    return joules
