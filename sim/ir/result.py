"""`Result`: the immutable record `sim.evaluate` returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping as MappingType

from workloads.frozen import FrozenDict

from sim.ir.mapping import Mapping
from sim.ir.options import DEFAULT_OPTIONS, Options


@dataclass(frozen=True)
class Result:
    """One simulated (workload, architecture, mapping).

    - `latency_s`, `cycles`: the simulated schedule's makespan; never below the workload's roofline;
    - `utilization[key]`: useful work ÷ capacity per unit key — for compute units the useful op slots (each op of
      the cascade on its unit, weighted by 1 / the unit's rate for it) ÷ (PEs × cycles); for memory units the bytes
      moved ÷ (bandwidth × time). Idle and padded PEs count as capacity;
    - `busy[key]`: the fraction of time the key's units are occupied in the schedule (what a timeline shows);
    - `per_einsum[einsum][key]`: busy cycles of each Einsum *of the given cascade* per unit key;
      `phases[phase][key]`: busy cycles of kernel phases that are not Einsums (load, epilogue, launch, permute);
    - `kernels[name]`: seconds per kernel in program order (one entry for a single-kernel dataflow);
    - `stalls[key][cause]`: idle cycles before ops, by cause (dependency, memory, buffer);
    - `tflops`: throughput in the lowering's FLOP convention, if it has one.
    """
    workload: str
    arch: str
    dataflow: str
    mapping: Mapping
    cycles: float
    latency_s: float
    energy_j: float
    dram_bytes: float                                    # bytes across the outermost level (read + write)
    utilization: MappingType[str, float]                 # unit key → useful work / capacity
    bytes_per_level: MappingType[str, float]             # "<level>.read" / "<level>.write" → bytes
    energy_breakdown: MappingType[str, float]            # component ("2d.mac", "DRAM.read", ...) → joules
    per_einsum: MappingType[str, MappingType[str, float]]  # Einsum → unit key → busy cycles
    stalls: MappingType[str, MappingType[str, float]]    # unit key → cause → stall cycles
    tflops: float | None = None
    run: Any = field(default=None, repr=False, compare=False)   # the engine's `Run` (trace, raw counters)
    notes: tuple[str, ...] = ()
    kernels: MappingType[str, float] = field(default_factory=FrozenDict)
    phases: MappingType[str, MappingType[str, float]] = field(default_factory=FrozenDict)
    busy: MappingType[str, float] = field(default_factory=FrozenDict)
    options: Options = DEFAULT_OPTIONS

    def __post_init__(self) -> None:
        for name in ("utilization", "bytes_per_level", "energy_breakdown", "kernels", "busy"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))
        for name in ("per_einsum", "stalls", "phases"):
            object.__setattr__(self, name, FrozenDict({k: FrozenDict(v) for k, v in getattr(self, name).items()}))

    def einsum_share(self, key: str) -> dict[str, float]:
        """Each Einsum's share of a unit kind's busy cycles (e.g. `einsum_share("2d")`)."""
        total = sum(v.get(key, 0.0) for v in self.per_einsum.values())
        return {e: (v.get(key, 0.0) / total if total else 0.0) for e, v in self.per_einsum.items()}

    def __str__(self) -> str:
        util = ", ".join(f"{k} {v:.1%}" for k, v in self.utilization.items())
        lines = [f"{self.workload} on {self.arch} with {self.dataflow}:",
                 f"  latency {self.latency_s * 1e3:.4g} ms ({self.cycles:.4g} cycles)"
                 + (f", {self.tflops:.4g} TFLOP/s" if self.tflops is not None else ""),
                 f"  energy {self.energy_j * 1e3:.4g} mJ, DRAM traffic {self.dram_bytes / 1e6:.4g} MB",
                 f"  utilization (useful work / capacity): {util}"]
        if len(self.kernels) > 1:
            lines.append("  kernels: " + ", ".join(f"{k} {v * 1e6:.4g} µs" for k, v in self.kernels.items()))
        stalled = {k: v for k, v in self.stalls.items() if any(v.values())}
        if stalled:
            lines.append("  stalls (cycles): " + "; ".join(
                f"{k}: " + ", ".join(f"{c} {n:.3g}" for c, n in v.items() if n) for k, v in stalled.items()))
        top = sorted(self.energy_breakdown.items(), key=lambda kv: -kv[1])[:4]
        if top and self.energy_j:
            lines.append("  energy: " + ", ".join(f"{k} {v / self.energy_j:.1%}" for k, v in top))
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
