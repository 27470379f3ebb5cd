"""What each modelled mechanism of a fused attention kernel adds to its time: the kernel lowered with everything,
then with one mechanism at a time switched off (or replaced by its idealization), each simulated.

`contributions(c, arch, dataflow)` returns the full latency, the unit occupancy (how busy the tensor cores, the
SFU, the FMA pipe, L2 and HBM stay, i.e. how much of the exp and row statistics is hidden), and per mechanism the
latency without it and what it adds: latency / latency-without − 1 (negative: it saves time). Mechanisms:

- flash3 (`hopper.Mechanisms`): FA3's tiles per head dim (vs 128×128 with two warpgroups), intra-warpgroup
  pipelining, the register budget (spills), the producer's stage slots, the longest-first scheduler, and the exps
  running beside the tensor cores (vs each exp taking the tensor pipe's turn: how much of the time hides them);
- flash-blackwell: the 2-CTA pair (vs one CTA per tile), the exp split between MUFU and FMA pipe (vs all on the
  MUFU), conditional rescaling (vs every tile), two ping-pong Q tiles (vs one 128-row tile per CTA);
- flash2 and cudnn: none switchable; their occupancy is reported.
"""
from __future__ import annotations

import dataclasses

from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu import blackwell, hopper
from sim.dataflows.gpu.fused import lower_attention
from sim.dataflows.gpu.machine import sm_rates
from sim.dataflows.gpu.plans import shape_of
from sim.dataflows.registry import dataflow as get_dataflow
from sim.engine import simulate
from sim.ir.mapping import MappingError
from sim.ir.options import DEFAULT_OPTIONS

FA3_MECHANISMS = ("tiles", "intra_warpgroup", "registers", "producer", "scheduler", "exp_overlap")
BLACKWELL_MECHANISMS = ("cta_pair", "exp_emulation", "conditional_rescale", "two_q_tiles")
BUSY = ("tensor", "sfu", "fma", "l2", "hbm")


def _run(lowered, arch: Arch) -> tuple[float, dict[str, float]]:
    """(seconds, busy fraction per unit key) of a lowering."""
    run = simulate(lowered.program)
    ticks = max(int(run.ticks), 1)
    busy: dict[str, list[float]] = {}
    for u, name in enumerate(lowered.program.units):
        busy.setdefault(lowered.unit_keys[name], []).append(run.busy_ticks[u] / ticks)
    seconds = ticks / lowered.program.ticks_per_cycle / arch.clock_hz
    return seconds, {k: sum(v) / len(v) for k, v in busy.items() if k in BUSY}


def _fa3(c: Cascade, arch: Arch, off: str | None):
    mech = hopper.ALL if off is None else dataclasses.replace(hopper.ALL, **{off: False})
    return hopper.lower_with(c, arch, hopper.plan_with(c, arch, {}, mech), DEFAULT_OPTIONS, mech)


def _blackwell(c: Cascade, arch: Arch, off: str | None):
    pins = {"cta_pair": False} if off == "cta_pair" else {"q_tile": blackwell.MMA_ROWS} if off == "two_q_tiles" else {}
    mp = blackwell.plan(c, arch, pins)
    p = mp.params
    kern = blackwell.kernel(p["q_tile"], p["cta_pair"])
    if off == "exp_emulation":
        kern = dataclasses.replace(kern, exp_emulation=False)
    elif off == "conditional_rescale":
        kern = dataclasses.replace(kern, rescale=True)
    blackwell.check_tmem(mp.dataflow, shape_of(c, mp.dataflow), kern, p, sm_rates(arch, c.dtype))
    return lower_attention(c, arch, mp, DEFAULT_OPTIONS, kern, pattern=blackwell.paired(p["cta_pair"]))


LOWERINGS = {"flash3": (_fa3, FA3_MECHANISMS), "flash-blackwell": (_blackwell, BLACKWELL_MECHANISMS)}


def contributions(c: Cascade, arch: Arch, dataflow: str) -> dict:
    """The full latency, unit occupancy and each mechanism's share (see the module docstring)."""
    df = get_dataflow(dataflow)
    why = df.supports(c, arch)
    if why is not None:
        raise MappingError(f"{dataflow} cannot run {c.name} on {arch.name}: {why}")
    lower, mechanisms = LOWERINGS.get(dataflow, (None, ()))
    if lower is None:
        full = df.lower(c, arch, df.plan(c, arch, {}), DEFAULT_OPTIONS)
    else:
        full = lower(c, arch, None)
    seconds, busy = _run(full, arch)
    out = {"latency_s": seconds, "busy": busy, "without": {}, "adds": {}}
    for name in mechanisms:
        without, _ = _run(lower(c, arch, name), arch)
        out["without"][name] = without
        out["adds"][name] = seconds / without - 1.0
    return out
