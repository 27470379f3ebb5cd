"""Which dataflow runs each kernel of a layer, and the simulated kernel results (remembered: a repeated layer, or a
decode step whose GEMMs and norms do not change, is one simulation).

A kernel runs on the fastest of every searched dataflow that supports its cascade, each at its default plan
(ties: less energy, then the earlier registered). Norms, RoPE, residuals, activations and router gates run on the streaming
dataflows only (`STREAMS`): a tensor-core GEMM with K = 2 computes RoPE, but no target runs it that way. A pin
(`constraints[kernel] = {"dataflow": name, **mapping pins}`) chooses the dataflow or its mapping instead. A batched
GEMM no dataflow runs (systolic arrays take plain GEMMs) runs as its batch of plain GEMMs, one after another.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping as MappingType

from accel import Arch
from workloads import Cascade, gemm
from workloads.frozen import FrozenDict, freeze
from workloads.models.kernels import Kernel

from sim.dataflows.registry import DATAFLOWS, dataflow as get_dataflow
from sim.evaluation import evaluate
from sim.ir import MappingError, Result
from sim.ir.options import Options

STREAMS = ("gpu-elementwise", "spatial-elementwise")
STREAM_KINDS = ("norm", "rope", "residual", "activation", "router", "embedding")
MAX_REASONS = 3          # refusal reasons quoted when no dataflow runs a kernel
MAX_REASON_CHARS = 240   # characters of each
CACHE_SIZE = 4096        # kernel results remembered (each holds its engine counters)
# Reasons that only say the arch is of another family (a GPU dataflow on a spatial array): quoted last.
OTHER_FAMILY = ("is not a GPU", "needs two memory levels")


@dataclass(frozen=True)
class KernelRun:
    """One kernel of a layer as simulated: the kernel, the dataflow that ran it, its result, and how many times
    it ran one after another (`launches`: a batched GEMM run as its plain GEMMs)."""
    kernel: Kernel
    dataflow: str
    result: Result
    launches: int = 1

    @property
    def seconds(self) -> float:
        """The kernel's time: its result's latency × its launches."""
        return self.result.latency_s * self.launches


def candidates(kernel: Kernel, cascade: Cascade, arch: Arch) -> tuple[dict[str, None], dict[str, str]]:
    """(supporting dataflows, refused dataflows → reason) for a kernel's cascade on `arch` (remembered while the
    registry holds the same dataflows)."""
    registry = tuple((n, id(df)) for n, df in DATAFLOWS.items())
    return _verdicts(cascade, arch, kernel.kind in STREAM_KINDS, registry)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _verdicts(cascade: Cascade, arch: Arch, stream: bool, registry: tuple) -> tuple[dict, dict]:
    ok, refused = {}, {}
    for n, df in DATAFLOWS.items():
        if df.searched and (n in STREAMS or not stream):
            why = df.supports(cascade, arch)
            if why is None:
                ok[n] = None
            else:
                refused[n] = why
    return ok, refused


@functools.lru_cache(maxsize=CACHE_SIZE)
def simulate(cascade: Cascade, arch: Arch, dataflow: str, pins: FrozenDict, options: Options) -> Result:
    """One kernel simulation (remembered)."""
    return evaluate(cascade, arch, dataflow, constraints=dict(pins), options=options)


def clear() -> None:
    """Forget every remembered kernel result (for timing cold runs)."""
    simulate.cache_clear()
    _best.cache_clear()
    _verdicts.cache_clear()


def run_kernel(kernel: Kernel, arch: Arch, pins: MappingType[str, Any] | None, options: Options) -> KernelRun:
    """The kernel on its pinned dataflow, or on the fastest supporting one (see the module docstring)."""
    pins = dict(pins or {})
    chosen = pins.pop("dataflow", None)
    launches, cascade = 1, kernel.cascade
    ok, refused = candidates(kernel, cascade, arch)
    if not ok and kernel.form in ("fused GEMM", "grouped GEMM") and "X" in cascade.sizes:
        s = cascade.sizes
        launches, cascade = s["X"], gemm(s["M"], s["N"], s["K"], cascade.dtype)
        ok, refused = candidates(kernel, cascade, arch)
    if chosen is not None:
        get_dataflow(chosen)
        if chosen not in ok:
            why = refused.get(chosen) or DATAFLOWS[chosen].supports(cascade, arch) or "not a streaming dataflow"
            raise MappingError(f"kernel {kernel.name}: pinned dataflow {chosen} cannot run it: {why}")
        return KernelRun(kernel, chosen, simulate(cascade, arch, chosen, freeze(pins), options), launches)
    if pins:
        raise MappingError(f"kernel {kernel.name}: mapping pins {sorted(pins)[:8]} need a pinned dataflow "
                           f"(constraints[{kernel.name!r}] = {{'dataflow': NAME, ...}})")
    if not ok:
        raise MappingError(f"kernel {kernel.name} ({kernel.kind}, {kernel.cascade.name}) runs on no dataflow of "
                           f"{arch.name}: {_reasons(refused)}{_hint(kernel)}")
    name, result = _best(cascade, arch, tuple(ok), options)
    return KernelRun(kernel, name, result, launches)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _best(cascade: Cascade, arch: Arch, names: tuple[str, ...], options: Options) -> tuple[str, Result]:
    results = [(simulate(cascade, arch, n, FrozenDict(), options), n) for n in names]
    result, name = min(results, key=lambda rn: (rn[0].latency_s, rn[0].energy_j))   # ties: registration order
    return name, result


def _hint(kernel: Kernel) -> str:
    """What would run a kernel no dataflow takes, where the layer has another form that some dataflow runs."""
    c = kernel.cascade
    if kernel.kind == "attention" and "CKV" in c.inputs and any(e.name == "KN" for e in c.einsums):
        return ("; MLA's naive form (keys expanded per head) has no kernel here: its absorbed form runs on "
                "mla-decode (model.layer(..., form='absorbed'), as DeepSeek-V3's reference inference runs prefill)")
    return ""


def _reasons(refused: MappingType[str, str]) -> str:
    ranked = sorted(refused.items(), key=lambda kv: (any(p in kv[1] for p in OTHER_FAMILY), kv[0]))
    return "; ".join(f"{n}: {why[:MAX_REASON_CHARS]}" for n, why in ranked[:MAX_REASONS]) or "no dataflow registered"
