"""`sim.evaluate` and `sim.inference` over one device or a cluster: an `accel.Arch` (or a trivial plan on any
cluster, run on its device) delegates unchanged to the single-device path (`sim.models`); a `Cluster` with a plan
runs the plan (`layerplan`, `serving`)."""
from __future__ import annotations

from typing import Any, Mapping as MappingType

from accel import Arch, Cluster
from workloads.models.parts import Layer

from sim.ir import Mapping, MappingError, Result
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.models import evaluate as evaluate_one, inference as inference_one
from sim.parallel.layerplan import parallel_layer
from sim.parallel.plans import Plan, plan as parse_plan
from sim.parallel.result import ParallelResult
from sim.parallel.serving import parallel_inference


def target(arch: Any, plan: Any, where: str) -> tuple[Arch, Plan, Cluster | None]:
    """(the device, the plan, the cluster or None) of an evaluation target; a non-trivial plan needs a cluster."""
    p = parse_plan(plan)
    if isinstance(arch, Cluster):
        return arch.device, p, (None if p.trivial else arch)
    if isinstance(arch, Arch):
        if not p.trivial:
            raise MappingError(f"{where}: plan {p} spreads work over {p.devices} devices; give a cluster "
                               f"(e.g. accel.preset('hgx-h100x8')) instead of the single device {arch.name}")
        return arch, p, None
    raise MappingError(f"{where}: arch must be an accel.Arch or an accel.Cluster, got {type(arch).__name__} "
                       f"(e.g. accel.preset('h100') or accel.preset('hgx-h100x8'))")


def evaluate(workload: Any, arch: Any, dataflow: str | None = None, mapping: Mapping | None = None,
             constraints: MappingType[str, Any] | None = None, *, trace: bool = False,
             options: Options | None = None, plan: Any = None) -> Result | ParallelResult:
    """`sim.evaluate`: `workload` on one device (`arch` an Arch, see `sim.models.evaluate`), or a zoo layer on a
    cluster under `plan` (a dict `{"tp": 2, ...}`, a string `"tp=2,ep=8"` or a `Plan`; constraints then pin each
    device's kernels; the step is always traced) → `ParallelResult`. A trivial plan on a cluster is the
    single-device result on its device."""
    device, p, cluster = target(arch, plan, "evaluate")
    if cluster is None:
        return evaluate_one(workload, device, dataflow, mapping, constraints, trace=trace, options=options)
    if not isinstance(workload, Layer) or dataflow not in (None, "layer") or mapping is not None:
        raise MappingError(f"evaluate: plan {p} applies to a whole zoo layer (workloads.model(NAME).layer(...)) "
                           f"planned kernel by kernel, without a dataflow or mapping")
    return parallel_layer(workload, cluster, p, constraints, _options(options))


def inference(model: Any, arch: Any, *, prompt: int, batch: int = 1, output_tokens: int = 1,
              memory_policy: str = "refuse", constraints: MappingType[str, Any] | None = None,
              options: Options | None = None, plan: Any = None):
    """`sim.inference` on one device (see `sim.models.inference`), or on a cluster under `plan` →
    `sim.parallel.ParallelInference` (per-device memory checked against its HBM)."""
    device, p, cluster = target(arch, plan, "inference")
    if cluster is None:
        return inference_one(model, device, prompt=prompt, batch=batch, output_tokens=output_tokens,
                             memory_policy=memory_policy, constraints=constraints, options=options)
    return parallel_inference(model, cluster, p, prompt=prompt, batch=batch, output_tokens=output_tokens,
                              memory_policy=memory_policy, constraints=constraints,
                              options=_options(options))


def _options(options: Options | None) -> Options:
    options = DEFAULT_OPTIONS if options is None else options
    if not isinstance(options, Options):
        raise MappingError(f"evaluate: options must be sim.Options, got {type(options).__name__}")
    return options

