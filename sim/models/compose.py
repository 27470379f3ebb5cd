"""A layer's `Result` composed from its kernels' results, run one after another on one device.

Latency is the sum of the kernels' times (each GPU kernel includes its own launch; no further gap is modelled,
`GAP_S`); bytes, energy, actions and stalls add up; utilization and occupancy are each kernel's, weighted by its
time (useful work ÷ capacity over the whole layer). `per_einsum` is over the layer's own Einsums: a kernel that
simulates a stand-in cascade (a fused GEMM) shares its busy cycles among the Einsums it computes by their work.
`LayerResult.parts` keeps every kernel's own `Result` (bytes, energy, the unit that binds it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from accel import Arch

from sim.ir import FusionGroup, Mapping, Result
from sim.ir.options import Options
from sim.models.choice import KernelRun

GAP_S = 0.0   # seconds between consecutive kernels beyond what each kernel's own program holds (its launch)
LAYER = "layer"   # `Result.dataflow` of a composed layer (and the dataflow name a layer mapping carries)


@dataclass(frozen=True)
class LayerResult(Result):
    """A whole layer's `Result`, with `parts`: each kernel as simulated (`KernelRun`), in program order."""
    parts: tuple[KernelRun, ...] = ()

    def part(self, name: str) -> KernelRun:
        """The kernel run called `name`."""
        for p in self.parts:
            if p.kernel.name == name:
                return p
        raise KeyError(f"{self.workload} has no kernel {name!r} (kernels: {', '.join(p.kernel.name for p in self.parts)})")

    def share(self, kind: str) -> float:
        """The fraction of the layer's time spent in kernels of one kind (e.g. "attention")."""
        return sum(p.seconds for p in self.parts if p.kernel.kind == kind) / self.latency_s if self.latency_s else 0.0


def binds(r: Result) -> str:
    """The unit key closest to its capacity in a result (the one that binds it)."""
    return max(r.utilization, key=r.utilization.get) if r.utilization else "-"


def kernel_seconds(runs: Iterable[KernelRun]) -> dict[str, float]:
    """Kernel name → seconds, in program order: a kernel whose dataflow runs several kernels (a split-KV combine, the
    unfused math path) lists each as `name.sub`."""
    out: dict[str, float] = {}
    for run in runs:
        subs = run.result.kernels
        if len(subs) <= 1:
            out[run.kernel.name] = run.seconds
        else:
            out.update({f"{run.kernel.name}.{k}": v * run.launches for k, v in subs.items()})
    return out


def _add(into: dict, key: str, value: float) -> None:
    into[key] = into.get(key, 0.0) + value


def _per_einsum(runs: Iterable[KernelRun]) -> dict[str, dict[str, float]]:
    """Busy cycles per layer Einsum and unit key (stand-in cascades shared by work)."""
    out: dict[str, dict[str, float]] = {}
    for run in runs:
        k = run.kernel
        for name, per_key in run.result.per_einsum.items():
            targets = [(name, 1.0)] if name in k.einsums and not k.shares else list(zip(k.einsums, k.shares))
            for einsum, share in targets:
                row = out.setdefault(einsum, {})
                for key, cycles in per_key.items():
                    _add(row, key, cycles * share * run.launches)
    return out


def _weighted(runs: list[KernelRun], field: str, total: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for run in runs:
        for key, value in getattr(run.result, field).items():
            _add(out, key, value * run.seconds / total)
    return out


def _summed(runs: Iterable[KernelRun], field: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for run in runs:
        for key, value in getattr(run.result, field).items():
            _add(out, key, value * run.launches)
    return out


def _nested(runs: Iterable[KernelRun], field: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for run in runs:
        for outer, inner in getattr(run.result, field).items():
            row = out.setdefault(outer, {})
            for key, value in inner.items():
                _add(row, key, value * run.launches)
    return out


def layer_mapping(runs: Iterable[KernelRun]) -> Mapping:
    """The composed mapping: one fusion group per kernel; params[kernel] = its dataflow and mapping choices (what
    `sim.evaluate(layer, arch, mapping=...)` replays); each layer Einsum bound to its kernel's unit."""
    groups, binding, params = [], {}, {}
    for run in runs:
        k, mp = run.kernel, run.result.mapping
        groups.append(FusionGroup(k.einsums))
        units = list(mp.binding.values())
        for e in k.einsums:
            binding[e] = mp.binding.get(e, units[0] if units else "-")
        params[k.name] = {"dataflow": run.dataflow, **mp.params}
    return Mapping(LAYER, tuple(groups), binding, params)


def compose(name: str, flops: float, arch: Arch, runs: list[KernelRun], options: Options,
            notes: tuple[str, ...] = ()) -> LayerResult:
    """The result of running `runs` one after another (see the module docstring): a layer, or a whole model's
    phase; `flops` is the workload's MAC FLOPs (`workloads.flops`)."""
    total = sum(r.seconds for r in runs) + GAP_S * max(len(runs) - 1, 0)
    bytes_per_level = _summed(runs, "bytes_per_level")
    outer = arch.levels[0].name
    energy = _summed(runs, "energy_breakdown")
    kernel_notes = tuple(f"{r.kernel.name}: {r.dataflow}" + (f" × {r.launches}" if r.launches > 1 else "")
                         + (f" ({r.kernel.form})" if r.kernel.form != "sub-cascade" else "") for r in runs)
    return LayerResult(
        workload=name, arch=arch.name, dataflow=LAYER, mapping=layer_mapping(runs),
        cycles=total * arch.clock_hz, latency_s=total, energy_j=sum(energy.values()),
        dram_bytes=sum(v for k, v in bytes_per_level.items() if k.split(".")[0] == outer),
        utilization=_weighted(runs, "utilization", total), bytes_per_level=bytes_per_level,
        energy_breakdown=energy, per_einsum=_per_einsum(runs), stalls=_nested(runs, "stalls"),
        tflops=flops / total / 1e12 if total else None, run=None,
        notes=notes + kernel_notes, kernels=kernel_seconds(runs), phases=_nested(runs, "phases"),
        busy=_weighted(runs, "busy", total), options=options, parts=tuple(runs))


def per_kernel(r: LayerResult) -> list[dict]:
    """One row per kernel: kind, form, dataflow, launches, seconds, DRAM bytes, energy and the unit that binds it."""
    return [{"kernel": p.kernel.name, "kind": p.kernel.kind, "form": p.kernel.form, "dataflow": p.dataflow,
             "launches": p.launches, "seconds": p.seconds, "dram_bytes": p.result.dram_bytes * p.launches,
             "energy_j": p.result.energy_j * p.launches, "binds": binds(p.result),
             "share": p.seconds / r.latency_s if r.latency_s else 0.0} for p in r.parts]
