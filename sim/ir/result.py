"""The immutable record `sim.evaluate` returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping as MappingType

from sim.ir.mapping import Mapping


@dataclass(frozen=True)
class Result:
    workload: str
    arch: str
    dataflow: str
    mapping: Mapping
    cycles: float
    latency_s: float
    energy_j: float
    dram_bytes: float                                    # bytes across the outermost level (read + write)
    utilization: MappingType[str, float]                 # unit key ("2d", "1d", "tensor", "sfu", "hbm") → busy fraction
    bytes_per_level: MappingType[str, float]             # "<level>.read" / "<level>.write" → bytes
    energy_breakdown: MappingType[str, float]            # component ("2d.mac", "DRAM.read", ...) → joules
    per_einsum: MappingType[str, MappingType[str, float]]  # Einsum → unit key → busy cycles
    stalls: MappingType[str, MappingType[str, float]]    # unit key → cause → stall cycles
    tflops: float | None = None                          # throughput in the lowering's FLOP convention, if any
    run: Any = field(default=None, repr=False, compare=False)   # the engine's `Run` (trace, raw counters)
    notes: tuple[str, ...] = ()

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
                 f"  utilization: {util}"]
        stalled = {k: v for k, v in self.stalls.items() if any(v.values())}
        if stalled:
            lines.append("  stalls (cycles): " + "; ".join(
                f"{k}: " + ", ".join(f"{c} {n:.3g}" for c, n in v.items() if n) for k, v in stalled.items()))
        top = sorted(self.energy_breakdown.items(), key=lambda kv: -kv[1])[:4]
        if top and self.energy_j:
            lines.append("  energy: " + ", ".join(f"{k} {v / self.energy_j:.1%}" for k, v in top))
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
