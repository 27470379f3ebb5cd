"""The fused attention lowering shared by every GPU attention kernel (flash, decode, MLA, GNA).

A kernel is a grid of units (CTAs, or co-resident CTA pairs for cuDNN-style kernels), one per row block of one
(batch, head) and KV split. Each unit visits its KV tiles (`costs.tile_pattern`); units go to SMs by greedy
dispatch, and the most loaded SM is simulated (`Options.symmetric`; False simulates every SM, for checks).
K/V (and bias) tiles come through L2; HBM serves each byte at least once, and co-resident units of the same KV
head share what they read: HBM bytes = max(compulsory, visited ÷ co-resident sharers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import workloads
from accel import Arch
from workloads import Cascade

from sim.bounds.rooflines import assign
from sim.dataflows.registry import Lowered
from sim.dataflows.gpu.constants import (MAX_CTAS_PER_SM, MAX_GRID_CTAS, MAX_HEAD_UNITS, MAX_REGS_PER_THREAD,
                                         MAX_RUNS, MAX_WARPS_PER_CTA, PARTIAL_BYTES, RIVAL_SIMULATION_TILES, THREADS_PER_WARP,
                                         check_calibration)
from sim.dataflows.gpu.costs import (Kernel, Unit, iteration_cycles, mod_ops, pipe_ops, tile_cost, tile_pattern,
                                     unit_shape)
from sim.dataflows.gpu.machine import SM, place, sm_rates
from sim.dataflows.gpu.plans import check_arch, shape_of
from sim.dataflows.gpu.programs import UNIT_LEVELS, AttentionKernel, CtaCost, GpuProgram, Load, Run, attention
from sim.dataflows.gpu.shape import Attention, op_counts
from sim.engine import simulate
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import Options

PHASES = ("load", "epilogue", "launch", "copy", "mask", "combine", "permute", "unpermute")


@dataclass(frozen=True)
class Grid:
    """A fused kernel's units: the tile pattern of one (batch, head), its repetitions, and the unit shape."""
    unit: Unit
    partial: np.ndarray
    full: np.ndarray
    reps: int
    sharers: int             # units that read one KV head's K/V
    slots: int               # units resident per SM
    rank_major: bool = False  # launch order: each unit of the pattern for every repetition in turn (LPT order)

    @property
    def units(self) -> int:
        """Units in the whole grid."""
        return len(self.partial) * self.reps

    @property
    def tiles(self) -> int:
        """KV-tile iterations in the whole grid."""
        return int((self.partial + self.full).sum()) * self.reps


def grid(a: Attention, kern: Kernel, params, name: str, pattern: Callable | None = None) -> Grid:
    """The grid a mapping describes (raises MappingError if it is too large to list). `pattern(a, unit)`, when
    given, replaces the mask's own tile pattern: (masked, unmasked) KV tiles per unit of `heads` consecutive
    (batch, head) pairs in launch order, and `heads` (masks that differ between heads list them all)."""
    u = unit_shape(a, kern, params["q_tile"], params["kv_tile"])
    group = a.group if kern.pack_heads else 1
    rows = a.m * group
    heads = a.kv_heads if kern.pack_heads else a.heads
    per_head = -(-rows // u.rows) * params.get("splits", 1)
    units = per_head * a.batch * heads
    if units * kern.ctas_per_unit > MAX_GRID_CTAS or per_head > MAX_HEAD_UNITS:
        raise MappingError(f"{name}: a grid of {units * kern.ctas_per_unit} CTAs, {per_head} per (batch, head), is "
                           f"beyond the model's limits ({MAX_GRID_CTAS} CTAs, {MAX_HEAD_UNITS} per head): use larger "
                           f"tiles or fewer splits")
    if pattern is None:
        spatial = (params["q_tile_shape"], params["kv_tile_shape"]) if a.neighborhood is not None else None
        partial, full = tile_pattern(a, u, rows, group, params.get("splits", 1), spatial)
        listed = 1
    else:
        partial, full, listed = pattern(a, u)
    if kern.longest_first:   # a persistent scheduler's LPT order: every (batch, head)'s heaviest units first
        order = np.argsort(-(partial + full), kind="stable")
        partial, full = partial[order], full[order]
    sharers = len(partial) // listed * (1 if kern.pack_heads else a.group)
    return Grid(u, partial, full, a.batch * heads // listed, sharers, params["ctas_per_sm"] // kern.ctas_per_unit,
                kern.longest_first)


def fit_defaults(a: Attention, kern: Kernel, params: dict, sm: SM, pinned) -> dict:
    """The defaults with the stages and resident CTAs that were not pinned lowered to what shared memory holds
    (e.g. FlashMLA's two stages of 576-dim rows do not fit in an A100's 164 KB)."""
    u = unit_shape(a, kern, params["q_tile"], params["kv_tile"])
    out = dict(params)
    if "stages" not in pinned:
        out["stages"] = max(1, min(out["stages"], (sm.smem_bytes - u.q_bytes) // max(u.kv_bytes + u.bias_bytes, 1)))
    if "ctas_per_sm" not in pinned:
        units = max(1, min(out["ctas_per_sm"] // kern.ctas_per_unit, sm.smem_bytes // max(u.smem(out["stages"]), 1)))
        out["ctas_per_sm"] = units * kern.ctas_per_unit
    return out


def check_fit(name: str, a: Attention, kern: Kernel, params, sm: SM) -> None:
    """Refuse a mapping the hardware cannot run: shared memory per unit and per SM, resident CTAs, warps and
    registers per CTA, splits without KV tiles. Names what does not fit and what would."""
    q, kv, stages, ctas = params["q_tile"], params["kv_tile"], params["stages"], params["ctas_per_sm"]
    u = unit_shape(a, kern, q, kv)
    one = u.smem(1)
    if one > sm.smem_bytes:
        raise MappingError(f"{name}: q_tile={q}, kv_tile={kv} need {one} B of shared memory for the Q tile and "
                           f"one K/V stage; an SM has {sm.smem_bytes} B (use smaller tiles)")
    fits = (sm.smem_bytes - u.q_bytes) // (u.kv_bytes + u.bias_bytes)
    if u.smem(stages) > sm.smem_bytes:
        raise MappingError(f"{name}: stages={stages} need {u.smem(stages)} B of shared memory per CTA at "
                           f"q_tile={q}, kv_tile={kv}; an SM has {sm.smem_bytes} B (stages ≤ {fits} fit)")
    if ctas > MAX_CTAS_PER_SM or ctas % kern.ctas_per_unit:
        raise MappingError(f"{name}: ctas_per_sm={ctas} must be a multiple of {kern.ctas_per_unit} and ≤ "
                           f"{MAX_CTAS_PER_SM} (resident blocks per SM)")
    units = ctas // kern.ctas_per_unit
    if units * u.smem(stages) > sm.smem_bytes:
        most = sm.smem_bytes // u.smem(stages) * kern.ctas_per_unit
        raise MappingError(f"{name}: ctas_per_sm={ctas} need {units * u.smem(stages)} B of shared memory; an SM "
                           f"has {sm.smem_bytes} B (ctas_per_sm ≤ {most} fit at stages={stages})")
    if "warps" in params:
        _check_warps(name, params["warps"], ctas, sm)
    if params.get("splits", 1) > -(-a.p // kv):
        raise MappingError(f"{name}: splits={params['splits']} exceed the {-(-a.p // kv)} KV tiles of "
                           f"kv_tile={kv} (each split needs one)")
    if u.rows % kern.groups:
        raise MappingError(f"{name}: q_tile={q} must split into {kern.groups} row groups")


def _check_warps(name: str, warps: int, ctas: int, sm: SM) -> None:
    if warps > MAX_WARPS_PER_CTA:
        raise MappingError(f"{name}: warps={warps} > {MAX_WARPS_PER_CTA}, the most warps a CTA can have")
    regs = warps * THREADS_PER_WARP * MAX_REGS_PER_THREAD * ctas
    if regs > sm.regs:
        raise MappingError(f"{name}: {ctas} CTAs of {warps} warps at {MAX_REGS_PER_THREAD} registers per thread "
                           f"need {regs} registers; an SM has {sm.regs} "
                           f"(ctas_per_sm ≤ {max(sm.regs // (warps * THREADS_PER_WARP * MAX_REGS_PER_THREAD), 0)})")


def extra_work(c: Cascade, a: Attention, arch: Arch, g: Grid, tile, groups: int, sm: SM) -> tuple[float, float]:
    """Per unit, the (FMA, SFU) cycles of pipe work the cascade's elementwise Einsums state beyond what the tile
    loop and the epilogue's normalization (one FMA per output element) model — e.g. a division by the row sum per
    output element where the kernel takes one reciprocal per row — so that no pipe does less than the cascade's
    own ops (the work utilization and the roofline count)."""
    ops: dict[str, int] = {}
    counts = op_counts(c)
    for role in ("score", "softmax", "normalize"):
        for name in a.match.roles.get(role, ()):
            for op, n in counts[name].items():
                ops[op] = ops.get(op, 0) + n
    fma_c, sfu_c = pipe_ops(ops, arch, a.dtype, "softmax")
    normalize = g.unit.rows * a.f / sm.fma
    fma_k = (g.tiles * groups * (tile.fma + tile.mod_fma) + g.units * normalize) * sm.fma
    sfu_k = g.tiles * groups * (tile.sfu + tile.mod_sfu) * sm.sfu
    return max(0.0, fma_c - fma_k) / g.units / sm.fma, max(0.0, sfu_c - sfu_k) / g.units / sm.sfu


def transfers(a: Attention, g: Grid, sm: SM, splits: int, extra: tuple[float, float],
              edges: SM | None = None) -> tuple[Load, CtaCost]:
    """A unit's load per KV iteration on `sm` (sharing the bandwidth, its HBM share bounded by the stages in flight)
    and its prologue/epilogue on `edges` (the same share without that bound: the Q tile and the O tile are one bulk
    transfer each, whose latency the prologue's op carries), with the `extra` (FMA, SFU) cycles of `extra_work`."""
    edges = sm if edges is None else edges
    u = g.unit
    visited = max(g.tiles, 1)
    kv_hbm = max(a.batch * a.kv_heads * a.p * u.kv_width * a.elem, visited * u.kv_bytes / min(g.sharers, _room(g, sm)))
    bias_hbm = 0.0
    for b in a.bias:
        bias_hbm += max(b.bytes, visited * u.bias_bytes / min(b.sharers * len(g.partial), _room(g, sm)))
    hbm_bytes = (kv_hbm + bias_hbm) / visited
    l2_bytes = u.kv_bytes + u.bias_bytes
    load = Load(l2_bytes / sm.l2, hbm_bytes / sm.hbm, l2_bytes, hbm_bytes)
    out = u.rows * (a.f + 1) * PARTIAL_BYTES if splits > 1 else u.o_bytes
    return load, CtaCost(u.q_bytes / edges.l2, u.q_bytes / edges.hbm, u.q_bytes, u.rows * a.f / sm.fma,
                         out / edges.l2, out / edges.hbm, out, *extra)


def _room(g: Grid, sm: SM) -> int:
    return max(g.slots * sm.sms, 1)


def placement(g: Grid, tile, load: Load, cta: CtaCost, kern: Kernel, sm: SM, options: Options, name: str):
    """The simulated SM's units as runs of (partial tiles, full tiles, busy SMs, units), and how many units it
    runs — the most loaded SM by estimate (symmetric), or every SM's equal share (symmetric=False) — followed by
    its rivals, other SMs the estimate cannot rank below it (`machine.place`). A unit's estimated work counts its
    compute and its memory time at the full grid's bandwidth share, whichever is longer."""
    span = int(g.full.max(initial=0)) + 1       # (partial, full) as one key: a 1-D unique, not a row-wise one
    keys, pattern = np.unique(g.partial.astype(np.int64) * span + g.full, return_inverse=True)
    classes = np.stack([keys // span, keys % span], axis=1)
    compute, memory = iteration_cycles(tile, kern.groups), max(load.l2, load.hbm)
    edges = max(cta.pro_l2, cta.pro_hbm) + max(cta.epi_l2, cta.epi_hbm) + cta.epi_fma
    est = (edges + classes[:, 0] * max(compute + tile.mask_fma * kern.groups, memory)
           + classes[:, 1] * max(compute, memory) + 1.0)
    if options.symmetric:
        p = place(est, pattern.reshape(-1), g.reps, sm.sms, g.rank_major, features=classes)
        tiles = classes.tolist()
        out = []
        for sm_runs, simulated in ((p.runs, p.simulated),) + p.rivals:
            runs = tuple((tiles[k][0], tiles[k][1], busy, n) for k, busy, n in sm_runs)
            out.append(((runs if len(runs) <= MAX_RUNS else regroup(runs)), simulated))
        return out
    if len(classes) != 1 or g.units % sm.sms:
        raise MappingError(f"{name}: Options(symmetric=False) needs equal CTAs in a multiple of the SM count "
                           f"({g.units} units, {len(classes)} kinds, {sm.sms} SMs)")
    per = g.units // sm.sms
    return [(((int(classes[0][0]), int(classes[0][1]), sm.sms, per),), per)]


def regroup(runs, limit: int = MAX_RUNS) -> tuple[tuple[int, int, int, int], ...]:
    """Runs of (partial, full, busy, count) merged into at most `limit`: consecutive bandwidth shares (`busy`) in
    `limit // 4` buckets of about equal CTAs (each at its CTA-weighted mean share), and each bucket's CTAs into at
    most four runs of near-equal CTAs carrying the same partially masked and full tiles in all (⌊mean⌋ or ⌈mean⌉
    of each). An SM runs its CTAs back to back and a CTA's time is affine in its tiles of each kind once its KV
    loop is periodic, so the SM's time is kept while the runs listed stay few (`tests/sim/test_gpu_speed.py`
    bounds the difference)."""
    runs = sorted(runs, key=lambda r: -r[2])
    ctas = np.cumsum([r[3] for r in runs])
    buckets = np.minimum((ctas - 1) * max(limit // 4, 1) // ctas[-1], max(limit // 4, 1) - 1)
    out = []
    for b in np.unique(buckets):
        group = [r for r, k in zip(runs, buckets) if k == b]
        n = sum(r[3] for r in group)
        busy = max(1, int(round(sum(r[2] * r[3] for r in group) / n)))
        (p, extra_p), (f, extra_f) = (divmod(sum(r[k] * r[3] for r in group), n) for k in (0, 1))
        both = min(extra_p, extra_f)
        for dp, df, count in ((1, 1, both), (1, 0, extra_p - both), (0, 1, extra_f - both),
                              (0, 0, n - extra_p - extra_f + both)):
            if count:
                out.append((p + dp, f + df, busy, count))
    return tuple(out)


def fmha(prog: GpuProgram, c: Cascade, a: Attention, arch: Arch, kern: Kernel, params, options: Options,
         name: str, tags: tuple[str, str], pattern: Callable | None = None, mask_ops: float | None = None) -> str:
    """Lay out the fused attention kernel on `prog`; returns a note on the grid and the L2 reuse. `pattern` and
    `mask_ops` (FMA-pipe work per score of a masked tile) replace the mask's defaults (see `grid`)."""
    g = grid(a, kern, params, name, pattern)
    tile = tile_cost(prog.sm, a, kern, g.unit, mod_ops(a, arch), mask_ops)
    stage = params["stages"] * (g.unit.kv_bytes + g.unit.bias_bytes)
    first = min(g.units, prog.sm.sms)
    extra = extra_work(c, a, arch, g, tile, kern.groups, prog.sm)
    load, cta = transfers(a, g, prog.sm.sharing(first, min(g.slots, -(-g.units // first)) * stage),
                          params.get("splits", 1), extra, prog.sm.sharing(first))
    choices = placement(g, tile, load, cta, kern, prog.sm, options, name)

    def lay_out(target: GpuProgram, where, simulated: int) -> str:
        return _lay_out(target, a, g, tile, kern, params, extra, stage, load, cta, tags, where, simulated)
    if len(choices) == 1:
        return lay_out(prog, *choices[0])
    # SMs the estimate cannot rank: the slowest of them, each simulated alone, while that stays cheap.
    if sum((p + f) * n for p, f, _, n in choices[0][0]) > RIVAL_SIMULATION_TILES:
        others = len(choices) - 1
        return lay_out(prog, *choices[0]) + (f"; the simulated SM is the most loaded by estimate ({others} other "
                                              f"SM{'s' * (others > 1)} it cannot rank below it not simulated)")
    runs = [_kernel_run(prog, lambda p: lay_out(p, *ch), options) for ch in choices]
    note, scratch, built, _ = max(runs, key=lambda r: r[3].ticks)    # the first of the slowest, as argmax
    prog.adopt(scratch, built)
    return note


def _kernel_run(prog: GpuProgram, build: Callable[[GpuProgram], str], options: Options):
    """(note, scratch program, its Program, engine run) of one kernel laid out by `build` on a fresh program of
    `prog`'s SM (a kernel starts with a barrier, so what runs before it does not change its own time)."""
    scratch = GpuProgram(prog.sm, prog.copies)
    note = build(scratch)
    built = scratch.build()
    return note, scratch, built, simulate(built, extrapolate=options.extrapolate)


def _lay_out(prog: GpuProgram, a: Attention, g: Grid, tile, kern: Kernel, params, extra, stage: int, load: Load,
             cta: CtaCost, tags: tuple[str, str], where, simulated: int) -> str:
    """The fused kernel of the simulated SM running `where` (`simulated` units) on `prog`; returns the note."""
    sim_tiles = sum((p + f) * n for p, f, _, n in where) * prog.copies
    scale = (g.units / (simulated * prog.copies), g.tiles / max(sim_tiles, 1))
    where = _within_aggregate(where, load, cta, scale, prog.sm.sms)
    in_flight = min(g.slots, simulated) * stage
    costs = {busy: transfers(a, g, prog.sm.sharing(busy, in_flight), params.get("splits", 1), extra,
                             prog.sm.sharing(busy))
             for busy in {run[2] for run in where}}
    runs = tuple(Run(p, f, n, *costs[busy]) for p, f, busy, n in where)
    hold = prog.sm.smem_bytes // max(g.slots, 1)    # each resident unit reserves its share: exactly `slots` fit
    u = g.unit
    keys = (u.kv_bytes if kern.kv_shared else u.kv_bytes * a.e // u.kv_width) + u.bias_bytes
    attention(prog, AttentionKernel(runs, tile, kern.groups, hold, scale, tags, stage=u.kv_bytes + u.bias_bytes,
                                    depth=g.slots * params["stages"] if kern.bounded else 0, lag=kern.lag,
                                    key_share=keys / (u.kv_bytes + u.bias_bytes),
                                    sfu="sfu" if kern.exp_beside_mma else "tensor"))
    ratio = runs[0].load.hbm_bytes / max(runs[0].load.l2_bytes, 1)
    return (f"{g.units * kern.ctas_per_unit} CTAs, {params['ctas_per_sm']}/SM on {min(g.units, prog.sm.sms)} SMs; "
            f"the simulated SM runs {simulated * kern.ctas_per_unit}; K/V HBM bytes / L2 bytes {ratio:.3g}")


def _within_aggregate(where, load: Load, cta: CtaCost, scale, sms: int):
    """Per-wave shares (an uneven grid's tail draws more per SM) are an approximation: scale the busy counts so
    the simulated SM, standing for the whole grid, never moves its bytes faster than the aggregate bandwidth."""
    def moved(p, f, n):
        return n * ((p + f) * load.l2_bytes * scale[1] + (cta.pro_bytes + cta.epi_bytes) * scale[0])

    def drawn(p, f, n):
        return n * ((p + f) * load.l2_bytes + cta.pro_bytes + cta.epi_bytes)
    total = sum(moved(p, f, n) for p, f, _, n in where)
    weighted = sum(drawn(p, f, n) * busy for p, f, busy, n in where)
    stretch = total / weighted if weighted else 1.0
    if stretch <= 1.0:
        return where
    return tuple((p, f, int(-(-busy * stretch // 1)), n) for p, f, busy, n in where)


def role_tags(a: Attention) -> tuple[dict[str, tuple[str, ...]], tuple[str, str]]:
    """Engine tag → the cascade's Einsums, and the tags of the softmax work and of the epilogue's FMA work."""
    roles = dict(a.match.roles)
    tags = {role: names for role, names in roles.items() if role != "score"}
    if "score" in roles:
        tags["score_mod"] = roles["score"]
    soft = "softmax" if "softmax" in roles else "score_mod"
    epi = "normalize" if "normalize" in roles else ("softmax" if "softmax" in roles else "pv")
    return tags, (soft, epi)


def useful_actions(c: Cascade, arch: Arch) -> dict[str, float]:
    """The cascade's ops on the units the roofline's default binding gives them (MACs on the tensor cores, exp on
    the SFU, the rest on the FMA pipe): the useful work behind utilization and energy. An op the unit states a
    rate for in the cascade's dtype is named with it (`tensor.mac.fp8`), so its energy is that dtype's."""
    acts: dict[str, float] = {}
    units = {u.name: u for u in arch.units}
    for per_unit in assign(c, arch).values():
        for unit_name, ops in per_unit.items():
            for op, n in ops.items():
                typed = f"{op}.{c.dtype}"
                key = f"{unit_name}.{typed if typed in units[unit_name].ops_per_cycle else op}"
                acts[key] = acts.get(key, 0.0) + n
    return acts


def lower_attention(c: Cascade, arch: Arch, mp: Mapping, options: Options, kern: Kernel, *,
                    before: Callable | None = None, after: Callable | None = None, buffers: Callable | None = None,
                    gemm=None, params=None, notes: tuple[str, ...] = (), pattern: Callable | None = None,
                    mask_ops: float | None = None, shape: Attention | None = None) -> Lowered:
    """The whole lowering of a fused attention dataflow: `before`/`after(prog, a, params)` add the kernels that
    run around the fused one (projections, permutes, the split-KV combine); `buffers(gemm, elem)` the stage
    buffers of GEMM kernels among them; `params` replaces the mapping's params by a view with derived sizes;
    `pattern`/`mask_ops` a mask's tile pattern and masking work (see `fmha`); `shape` the attention shape (for
    masks `shape_of` does not model)."""
    name, params = mp.dataflow, (mp.params if params is None else params)
    check_calibration(options, name)
    a = shape_of(c, name) if shape is None else shape
    sm = sm_rates(check_arch(arch, name), a.dtype)
    extra = buffers(gemm, a.elem) if buffers is not None else {}
    prog = GpuProgram(sm, 1 if options.symmetric else sm.sms, extra)
    check_fit(name, a, kern, params, sm)
    tags, epi = role_tags(a)
    if before is not None:
        before(prog, a, params)
    note = fmha(prog, c, a, arch, kern, params, options, name, epi, pattern, mask_ops)
    if after is not None:
        after(prog, a, params)
    return Lowered(program=prog.build(), unit_keys=prog.unit_keys(), actions=useful_actions(c, arch), tags=tags,
                   flops=float(workloads.flops(c)), notes=notes + (note,), phases=PHASES, kernels=prog.kernels,
                   unit_levels=UNIT_LEVELS)
