"""`evaluate_layer`: a whole layer as the target runs it — its kernels (`workloads.models.kernels`) each on its best
dataflow (`choice`), one after another (`compose`) — and `evaluate`, which is `sim.evaluate` with layers.

Targets: on a GPU the kernels run in sequence in one stream, each after its launch (the arch's launch overhead);
each reads its inputs from HBM (no L2 carry-over between kernels is modelled). On a spatial array the kernels run
in sequence on the same arrays, as the FuseMax evaluation composes linear layers and attention end to end
(Nayak et al., MICRO 2024, §VI): no kernel overlaps the next. Fusion modelled on both: Q/K/V (and gate/up)
projections as one GEMM, each norm, each RoPE rotation, each residual add and each activation as its own
streaming kernel, the attention core as one kernel of its dataflow, routed experts as grouped GEMMs.
"""
from __future__ import annotations

from typing import Any, Mapping as MappingType

import workloads
from accel import Arch
from workloads import Cascade
from workloads.models.kernels import Kernel, layer_kernels
from workloads.models.parts import Layer

from sim.dataflows.gpu.machine import gpu_reason
from sim.evaluation import evaluate as evaluate_kernel
from sim.ir import Mapping, MappingError, Result
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.models.choice import run_kernel
from sim.models.compose import LAYER, LayerResult, compose

GPU_NOTE = ("GPU: kernels run one after another in one stream, each after its launch; inputs from HBM (no L2 "
            "carry-over between kernels)")
SPATIAL_NOTE = ("spatial arrays: kernels run one after another on the same arrays (FuseMax's end-to-end "
                "composition), no overlap between kernels")


def evaluate(workload: Cascade, arch: Arch, dataflow: str | None = None, mapping: Mapping | None = None,
             constraints: MappingType[str, Any] | None = None, *, trace: bool = False,
             options: Options | None = None) -> Result:
    """`sim.evaluate`: simulate `workload` on `arch` with a named dataflow or an explicit mapping; a layer
    (`workloads.model(NAME).layer(...)`) with `dataflow=None` (or `"layer"`, or a layer mapping) is simulated whole,
    kernel by kernel (`evaluate_layer`; `constraints` then pin kernels: `{kernel or kind: {"dataflow": ..., ...}}`)."""
    layer_map = mapping is not None and isinstance(mapping, Mapping) and mapping.dataflow == LAYER
    if isinstance(workload, Layer) and (dataflow in (None, LAYER) and (mapping is None or layer_map)):
        opts = _options(options, trace)
        if layer_map:
            if constraints:
                raise MappingError("evaluate: give constraints (to plan) or a mapping, not both")
            return evaluate_layer(workload, arch, constraints=replay(mapping), options=opts)
        return evaluate_layer(workload, arch, constraints=constraints, options=opts)
    return evaluate_kernel(workload, arch, dataflow, mapping, constraints, trace=trace, options=options)


def _options(options: Options | None, trace: bool) -> Options:
    options = DEFAULT_OPTIONS if options is None else options
    if not isinstance(options, Options):
        raise MappingError(f"evaluate: options must be sim.Options, got {type(options).__name__}")
    if not isinstance(trace, bool):
        raise MappingError(f"evaluate: trace must be True or False, got {trace!r}")
    return Options(**{**options.__dict__, "trace": True}) if trace and not options.trace else options


def replay(mapping: Mapping) -> dict[str, dict]:
    """A layer mapping as constraints that pin every kernel to the dataflow and choices it records."""
    return {name: dict(pins) for name, pins in mapping.params.items()}


def evaluate_layer(layer: Layer, arch: Arch, *, constraints: MappingType[str, Any] | None = None,
                   options: Options = DEFAULT_OPTIONS, kinds: tuple[str, ...] | None = None) -> LayerResult:
    """The layer kernel by kernel (see the module docstring). `constraints` pin kernels by name or kind;
    `kinds` keeps only the kernels of those kinds (what a partial evaluation such as FuseMax's end-to-end one,
    linear layers and attention, counts) — the result then names the kinds it covers."""
    if not isinstance(arch, Arch):
        raise MappingError(f"evaluate: arch must be an accel.Arch, got {type(arch).__name__} (e.g. accel.preset('h100'))")
    kernels = layer_kernels(layer)
    pins = kernel_pins(kernels, constraints)
    if kinds is not None:
        unknown = sorted(set(kinds) - {k.kind for k in kernels})
        if unknown:
            raise MappingError(f"evaluate_layer: {layer.name} has no kernels of kind {unknown[0]!r} "
                               f"(kinds: {', '.join(sorted({k.kind for k in kernels}))})")
        kernels = tuple(k for k in kernels if k.kind in kinds)
    runs = []
    for k in kernels:
        try:
            runs.append(run_kernel(k, arch, pins.get(k.name), options))
        except MappingError as err:
            raise MappingError(f"layer {layer.name} on {arch.name}: {err}") from None
    note = GPU_NOTE if gpu_reason(arch) is None else SPATIAL_NOTE
    scope = () if kinds is None else (f"only the {', '.join(kinds)} kernels are counted",)
    scope += _untouched_experts(layer, kernels)
    name = layer.name if kinds is None else f"{layer.name}[{'+'.join(kinds)}]"
    flops = sum(workloads.flops(k.cascade) for k in kernels) if kinds is not None else workloads.flops(layer)
    return compose(name, flops, arch, runs, options, (note,) + scope)


def _untouched_experts(layer: Layer, kernels: tuple[Kernel, ...]) -> tuple[str, ...]:
    """A note when the batch's tokens touch only some routed experts (sim.roofline counts all their weights)."""
    grouped = [k for k in kernels if k.form == "grouped GEMM"]
    if not grouped:
        return ()
    first = grouped[0].name.split(".")[0]
    touched = sum(k.cascade.sizes.get("X", 1) for k in grouped if k.name.split(".")[0] == first)
    experts = layer.sizes["X"]
    if touched >= experts:
        return ()
    return (f"the batch's {layer.sizes['T']} tokens touch {touched} of {experts} routed experts: only their weights "
            f"are read (sim.roofline counts every expert's weights as compulsory)",)


def kernel_pins(kernels: tuple[Kernel, ...], constraints: MappingType[str, Any] | None,
                strict: bool = True) -> dict[str, dict]:
    """Constraints keyed by kernel name or kind, as pins per kernel name (a name wins over its kind). `strict`:
    a key that names no kernel of these is an error (off for a model's phase, whose kernels come in groups)."""
    if constraints is None:
        return {}
    if not isinstance(constraints, MappingType):
        raise MappingError(f"evaluate: constraints of a layer must map a kernel name or kind to its pins, got "
                           f"{type(constraints).__name__}")
    names, kinds = {k.name for k in kernels}, {k.kind for k in kernels}
    for key, value in constraints.items():
        if strict and key not in names and key not in kinds:
            raise MappingError(f"evaluate: no kernel or kernel kind {str(key)[:64]!r} in this layer (kernels: "
                               f"{', '.join(k.name for k in kernels)}; kinds: {', '.join(sorted(kinds))})")
        if not isinstance(value, MappingType):
            raise MappingError(f"evaluate: constraints[{key!r}] must be a mapping such as {{'dataflow': 'flash2'}}, "
                               f"got {type(value).__name__}")
    out = {}
    for k in kernels:
        merged = {**constraints.get(k.kind, {}), **constraints.get(k.name, {})}
        if merged:
            out[k.name] = merged
    return out
