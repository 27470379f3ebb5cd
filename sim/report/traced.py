"""Traced re-simulation for timelines: the mapping a `Result` reports, simulated again with a trace."""
from __future__ import annotations

import dataclasses

from accel import Arch
from workloads import Cascade

from sim.evaluation import evaluate
from sim.ir.result import Result

# Programs up to this many ops are traced in full (no periodic extrapolation): a trace holds seven 8-byte numbers
# per op, about 28 MB here. Larger ones trace only the iterations the engine simulates.
FULL_TRACE_OPS = 500_000


def traced(cascade: Cascade, arch: Arch, result: Result) -> Result:
    """`result`'s mapping simulated again with `trace=True`: every iteration when the program has at most
    `FULL_TRACE_OPS` ops, else only the iterations the engine simulates (the timeline hatches the rest). The
    schedule is the same; extrapolation is exact."""
    full = result.run is not None and result.run.ops_total <= FULL_TRACE_OPS
    options = dataclasses.replace(result.options, trace=True, extrapolate=not full)
    return evaluate(cascade, arch, mapping=result.mapping, options=options)
