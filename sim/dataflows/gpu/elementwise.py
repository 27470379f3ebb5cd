"""`gpu-elementwise`: one memory-bound kernel for a layer's norms, RoPE, residual adds, activations and MoE router
gates — every map and row reduction of the cascade fused in one pass (`workloads.models.streams`).

The kernel reads each input once and writes its output once through L2 and HBM at the measured-copy bandwidth
times the calibrated `STREAM_EFFICIENCY` (PyTorch's elementwise kernels, `constants`), and runs every op on the
FMA pipe or the SFU, whichever is faster for it (`costs.pipe_ops`), alongside its traffic. Its CTAs cover
`ELEMENTS_PER_CTA` elements each, so a small kernel (one decode token's row) runs on a few SMs, each drawing at
most its shared-memory bandwidth; the first HBM access adds its latency; the launch comes first.
"""
from __future__ import annotations

import accel
import workloads
from accel import Arch
from workloads import Cascade
from workloads.models.streams import row_bytes, stream_bytes, streaming_problem

from sim.dataflows.gpu.constants import TICKS_PER_CYCLE, calibrated, check_calibration
from sim.dataflows.gpu.costs import pipe_ops
from sim.dataflows.gpu.machine import gpu_reason, sm_rates
from sim.dataflows.gpu.plans import check_arch, constrain
from sim.dataflows.gpu.programs import UNIT_LEVELS, cycles
from sim.dataflows.registry import Lowered
from sim.ir.mapping import FusionGroup, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.program import ProgramBuilder

NAME = "gpu-elementwise"
DOC = "norms, RoPE, residuals, activations, router gates: one memory-bound streaming pass"
# PyTorch's vectorized elementwise kernels: 128 threads per block, 4 elements per thread (ATen `Loops.cuh`).
ELEMENTS_PER_CTA = 128 * 4
DTYPES = ("fp16", "bf16", "fp32")
UNITS = ("fma", "sfu", "l2", "hbm", "host")
PHASES = ("load", "launch")


def supports(c: Cascade, arch: Arch) -> str | None:
    """None if one streaming kernel runs `c` on `arch` exactly (see the module docstring), else why not."""
    why = gpu_reason(arch)
    if why:
        return why
    if not isinstance(c, Cascade):
        return f"expected a workloads.Cascade, got {type(c).__name__}"
    if c.dtype not in DTYPES:
        return f"dtype {c.dtype} is not modelled for elementwise kernels (modelled: {', '.join(DTYPES)})"
    if c.inits:
        return "an iterative cascade (initial values over a loop) is not one elementwise pass"
    masks = [type(mk).__name__ for mk in c.masks if not isinstance(mk, workloads.Blocks)]
    if masks:
        return f"mask {masks[0]} is not modelled by the elementwise kernel (block masks are)"
    l2 = accel.level(arch, "L2").capacity_bytes
    smem = accel.level(arch, "SMEM").capacity_bytes
    why = streaming_problem(c, l2 / 2 if l2 else 0.0, smem / 2)
    if why:
        return why
    if row_bytes(c) > smem:
        return f"a reduction row of {row_bytes(c)} B does not fit in {smem} B of shared memory (one pass holds a row)"
    try:
        _work(c, arch)
    except MappingError as err:
        return str(err)
    return None


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """The one mapping: every Einsum fused in one kernel (no choices to pin)."""
    constrain(NAME, {}, constraints)
    check_arch(arch, NAME)
    binding = {e.name: unit for e, unit in zip(c.einsums, _pipes(c, arch))}
    return Mapping(NAME, (FusionGroup(tuple(e.name for e in c.einsums)),), binding, {})


def _pipes(c: Cascade, arch: Arch) -> list[str]:
    """Each Einsum's main pipe (the one with most of its work), for the mapping's binding."""
    out = []
    for ops in workloads.op_counts(c).values():
        fma, sfu = pipe_ops(ops, arch, c.dtype, NAME)
        out.append("sfu" if sfu > fma else "fma")
    return out


def _work(c: Cascade, arch: Arch) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Per Einsum its (FMA-pipe, SFU) work in base ops, and the action counts of the pipe each op runs on."""
    work, actions = {}, {}
    for name, ops in workloads.op_counts(c).items():
        work[name] = pipe_ops(ops, arch, c.dtype, f"Einsum {name}")
        for op, n in ops.items():
            fma, _ = pipe_ops({op: n}, arch, c.dtype, f"Einsum {name}")
            key = f"{'fma' if fma else 'sfu'}.{op}"
            actions[key] = actions.get(key, 0.0) + n
    return work, actions


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """The launch, then one streaming segment: the L2 and HBM traffic of one SM's share of the CTAs and each
    Einsum's work on its pipes, in parallel."""
    check_calibration(options, NAME)
    base = sm_rates(check_arch(arch, NAME), c.dtype)
    read, write = stream_bytes(c)
    largest = max(workloads.elements(c, t) for t in (*c.inputs, c.output))
    active = max(1, min(base.sms, -(-largest // ELEMENTS_PER_CTA)))
    sm = base.sharing(active)
    share = (read + write) / active
    work, actions = _work(c, arch)
    tags = tuple(work) + PHASES
    b = ProgramBuilder(UNITS, [u in ("l2", "hbm") for u in UNITS], levels=("HBM.read", "HBM.write", "L2.read",
                       "L2.write"), tags=tags, ticks_per_cycle=TICKS_PER_CYCLE)
    b.segment("launch", barrier=True).op("host", cycles(sm.launch_cycles), tag="launch")
    s = b.segment("stream", barrier=True)
    s.op("l2", cycles(share / sm.l2), tag="load", bytes={"L2.read": read, "L2.write": write})
    s.op("hbm", cycles(share / (sm.hbm * calibrated(options, "STREAM_EFFICIENCY"))),
         cycles(sm.hbm_latency_cycles), tag="load", bytes={"HBM.read": read, "HBM.write": write})
    for name, (fma, sfu) in work.items():
        for unit, ops, rate in (("fma", fma, sm.fma), ("sfu", sfu, sm.sfu)):
            if ops:
                s.op(unit, cycles(ops / active / rate), tag=name)
    return Lowered(program=b.build(), unit_keys={u: u for u in UNITS}, actions=actions,
                   tags={name: (name,) for name in work}, flops=float(workloads.flops(c)), phases=PHASES,
                   kernels={NAME: (0, 2)}, unit_levels=UNIT_LEVELS,
                   notes=(f"one streaming pass on {active} SM{'s' * (active > 1)}: {read:.4g} B read, "
                          f"{write:.4g} B written",))
