"""The tile programs of FlashAttention's backward (`backward`): a preprocessing kernel, the KV-outer main kernel, the
dQ conversion and, for grouped heads, the sum of the sharing heads' dK/dV — one SM of each, in sequence.

Main kernel (FA2: flash_bwd_dq_dk_dv_loop_seqk_parallel; FA3: the SM90 backward mainloop): one CTA per (batch,
head, KV tile) in launch order, KV tile fastest. A CTA loads K_j and V_j once, then for each Q tile i that sees the
tile (causal: from the diagonal on; partially masked tiles first) loads Q_i, dO_i, LSE_i and D_i and runs S = Q_i
K_jᵀ and dP = dO_i V_jᵀ, P = exp(S − LSE) on the SFU, dS = P ∘ (dP − D) on the FMA pipe, dV += Pᵀ dO_i, dK += dSᵀ
Q_i and dQ_i += dS K_j, whose fp32 tile is added into the global accumulator with atomics at L2; the epilogue
scales dK and stores dK_j and dV_j. FA2's 8 warps run each step after the one before (`fa2_iteration`, its
structure in `backward_costs`): P and dS stored to shared memory, each GEMM after a barrier or a store first loading
a k-step of fragments. FA3's two MMA warpgroups each own half the keys,
so one group's exp and dS run while the other's GEMMs do (`fa3_iteration`). A GEMM lasts at least max(tensor
cycles, its shared-memory operand traffic ÷ the SMEM bandwidth).
"""
from __future__ import annotations

import numpy as np

import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.backward import check_fit, shape_of
from sim.dataflows.gpu.backward_costs import ALL, Costs, Mechanisms
from sim.dataflows.gpu.constants import (FP32_BYTES, MAX_UNROLLED_OPS, TICKS_PER_CYCLE, calibrated,
                                         check_calibration)
from sim.dataflows.gpu.fused import useful_actions
from sim.dataflows.gpu.machine import SM, place, sm_rates
from sim.dataflows.gpu.pieces import Names, Piece, compose, ops_of
from sim.dataflows.gpu.plans import check_arch
from sim.dataflows.gpu.programs import MAX_SEGMENTS, UNIT_LEVELS, cycles
from sim.dataflows.gpu.shape import Attention
from sim.dataflows.registry import Lowered
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.program import Program, Segment, validate

UNITS = ("tensor", "sfu", "fma", "smem", "l2", "hbm", "host")
MEMORY_UNITS = ("smem", "l2", "hbm")
BWD_UNIT_LEVELS = {**UNIT_LEVELS, "smem": "SMEM"}     # the smem unit carries the P and dS stores
LEVELS = ("HBM.read", "HBM.write", "L2.read", "L2.write", "SMEM.read", "SMEM.write")
ROLE_TAGS = ("QK", "P", "dP", "Drow", "dS", "dV", "dQ", "dK")
PHASES = ("load", "epilogue", "launch", "atomic", "convert", "sum")
PRE_FMA_OPS = 2            # per element of dO ∘ O summed: a multiply and an add (D = rowsum(dO ∘ O))
FA_KERNEL_EFFICIENCY = 1.0  # FlashAttention's own memory-bound kernels stream at the measured bandwidth (as the
#                            split-KV combine does); PyTorch's sum of grouped dK/dV at STREAM_EFFICIENCY


class BwdProgram:
    """One SM's program of the backward kernels, in order, with its kernel spans."""

    def __init__(self, sm: SM, buffers: dict[str, int]):
        self.sm, self.capacity = sm, buffers
        self.names = Names.of(UNITS, tuple(buffers), LEVELS, ROLE_TAGS + PHASES)
        self.segments: list[Segment] = []
        self.kernels: dict[str, tuple[int, int]] = {}

    def piece(self) -> Piece:
        """An empty piece of this program's names."""
        return Piece(self.names)

    def add(self, pieces, counts, name: str, repeat: int = 1, barrier: bool = False, loop: bool = False) -> None:
        """Append one composed segment."""
        self.segments.append(compose(f"{name}.{len(self.segments) + 1}", pieces, counts, repeat, barrier, loop))

    def kernel(self, name: str, body) -> None:
        """Kernel `name`: its launch (a barrier on the host unit), then what `body()` appends."""
        start = len(self.segments)
        launch = self.piece()
        launch.op("host", cycles(self.sm.launch_cycles), tag="launch")
        self.add([launch], [1], f"{name}.launch", barrier=True)
        body()
        self.kernels[name] = (start, len(self.segments))

    def stream(self, name: str, read: float, write: float, efficiency: float, tag: str,
               work: tuple[str, float] | None = None) -> None:
        """A memory-bound kernel over all SMs: `read` + `write` bytes through L2 and HBM, `work` = (tag, FMA-pipe
        ops) alongside."""
        def body():
            sm = self.sm.sharing(self.sm.sms)
            p, share = self.piece(), (read + write) / sm.sms
            p.op("l2", cycles(share / sm.l2), tag=tag, bytes={"L2.read": read, "L2.write": write})
            p.op("hbm", cycles(share / (sm.hbm * efficiency)), cycles(sm.hbm_latency_cycles), tag=tag,
                 bytes={"HBM.read": read, "HBM.write": write})
            if work and work[1]:
                p.op("fma", cycles(work[1] / sm.sms / sm.fma), tag=work[0])
            self.add([p], [1], name, barrier=True)
        self.kernel(name, body)

    def build(self) -> Program:
        """The validated Program."""
        caps = np.array([max(int(v), 1) for v in self.capacity.values()], np.int64)
        program = Program(units=UNITS, unit_is_memory=tuple(u in MEMORY_UNITS for u in UNITS),
                          buffers=tuple(self.capacity), buffer_capacity=caps, levels=LEVELS,
                          tags=ROLE_TAGS + PHASES, ticks_per_cycle=TICKS_PER_CYCLE, segments=tuple(self.segments))
        validate(program)
        return program


def tile_pattern(a: Attention, br: int, bc: int) -> tuple[np.ndarray, np.ndarray]:
    """(partially masked, full) Q tiles each KV tile's CTA visits, KV tile by KV tile (causal: bottom-right
    aligned; a query m sees keys ≤ m + P − M)."""
    n_q, n_kv = -(-a.m // br), -(-a.p // bc)
    if not a.causal:
        return np.zeros(n_kv, np.int64), np.full(n_kv, n_q, np.int64)
    lo = np.arange(n_q) * br + (a.p - a.m)                  # keys seen by the block's first row: ≤ lo
    hi = np.minimum(np.arange(n_q) * br + br, a.m) - 1 + (a.p - a.m)
    k0 = np.arange(n_kv) * bc
    k1 = np.minimum(k0 + bc, a.p) - 1
    sees = hi[None, :] >= k0[:, None]
    whole = lo[None, :] >= k1[:, None]
    return (sees & ~whole).sum(1).astype(np.int64), whole.sum(1).astype(np.int64)


class Share:
    """A run's memory costs: cycles per byte on this SM's L2 and HBM shares, and the bytes' scale to the GPU."""

    def __init__(self, sm: SM, hbm_per_l2: float, cta_scale: float, iter_scale: float):
        self.sm, self.hbm_per_l2, self.cta, self.iter = sm, hbm_per_l2, cta_scale, iter_scale


def prologue(g: BwdProgram, k: Costs, s: Share, hold: int, kv_hbm: float) -> Piece:
    """K_j and V_j into shared memory (the CTA reserves its share of it)."""
    p = g.piece()
    l2 = p.op("l2", cycles(k.kv_bytes / s.sm.l2), acquire={"smem": hold}, tag="load",
              bytes={"L2.read": k.kv_bytes * s.cta})
    p.op("hbm", cycles(kv_hbm / s.sm.hbm), cycles(s.sm.hbm_latency_cycles), deps=[l2], tag="load",
         bytes={"HBM.read": kv_hbm * s.cta})
    return p


def _load(p: Piece, s: Share, nbytes: float, buffer: str) -> int:
    """A tile of `nbytes` through L2 and HBM into `buffer`; returns the op after which it is on chip."""
    l2 = p.op("l2", cycles(nbytes / s.sm.l2), acquire={buffer: nbytes}, tag="load", bytes={"L2.read": nbytes * s.iter})
    hbm = nbytes * s.hbm_per_l2
    return p.op("hbm", cycles(hbm / s.sm.hbm), deps=[l2], tag="load", bytes={"HBM.read": hbm * s.iter})


def _accumulate(p: Piece, k: Costs, s: Share, acc_hbm: float) -> None:
    """dQ_i's atomic adds. They occupy L2 without holding back the next tile's loads (L2 serves requests out of
    order); the fp32 accumulator enters and leaves HBM once over the kernel."""
    p.op("l2", cycles(k.atomic_bytes / s.sm.l2), tag="atomic", bytes={"L2.write": k.atomic_bytes * s.iter})
    if acc_hbm:
        p.op("hbm", cycles(acc_hbm / s.sm.hbm), tag="atomic",
             bytes={"HBM.read": acc_hbm / 2 * s.iter, "HBM.write": acc_hbm / 2 * s.iter})


def _gemm(p: Piece, k: Costs, s: Share, role: str, deps, release=None) -> int:
    """One GEMM of the iteration on the tensor cores, with its shared-memory traffic."""
    bytes_ = {lv: n * s.iter for lv, n in k.smem_bytes(role).items()}
    return p.op("tensor", cycles(k.gemm[role]), deps=deps, tag=role, bytes=bytes_, release=release)


def _store(p: Piece, k: Costs, s: Share, role: str, deps) -> list[int]:
    """P or dS written to shared memory for the transposed GEMMs, when modelled as a step of its own."""
    if not k.mech.smem_stores:
        return list(deps)
    return [p.op("smem", cycles(k.store_cycles), deps=deps, tag=role, bytes={"SMEM.write": k.store * s.iter})]


def fa2_iteration(g: BwdProgram, k: Costs, s: Share, masked: bool, acc_hbm: float) -> Piece:
    """One Q tile of FA2's loop (`backward_costs` has its structure; each mechanism off restores an idealization:
    the exp beside dP, the stores inside the GEMMs' traffic, no fill)."""
    p, m = g.piece(), k.mech
    loads, free = [_load(p, s, k.tile_bytes, "q")], {"q": k.tile_bytes}
    mask = k.mask if masked else 0.0
    qk = _gemm(p, k, s, "QK", loads)
    exp = [p.op("sfu", cycles(k.exp), deps=[qk], tag="P")]
    if m.in_order:     # the exp's input FMA, the mask and P's convert run beside the MUFU
        exp.append(p.op("fma", cycles(k.exp_fma + mask), deps=[qk], tag="P"))
    p_stored = _store(p, k, s, "P", exp)
    dp = _gemm(p, k, s, "dP", p_stored if m.in_order else loads)
    ds = p.op("fma", cycles(k.fma + (0.0 if m.in_order else mask)), deps=p_stored + [dp], tag="dS")
    ds_stored = _store(p, k, s, "dS", [ds])
    if m.in_order:     # the kernel's order: dV, barrier, dQ and its atomics, dK
        dv = _gemm(p, k, s, "dV", ds_stored)
        dq = _gemm(p, k, s, "dQ", [dv])
        _gemm(p, k, s, "dK", [dq], release=free)
    else:
        _gemm(p, k, s, "dV", ds_stored)
        _gemm(p, k, s, "dK", ds_stored, release=free)
        _gemm(p, k, s, "dQ", ds_stored)
    _accumulate(p, k, s, acc_hbm)
    return p


def fa3_iteration(g: BwdProgram, k: Costs, s: Share, masked: bool, acc_hbm: float) -> Piece:
    """One Q tile of FA3's mainloop: Q, dO, LSE and D staged together; per warpgroup S and dP, the exp, dS, then
    its three gradient GEMMs."""
    p = g.piece()
    ld = _load(p, s, k.tile_bytes, "q")
    first = [(_gemm(p, k, s, "QK", [ld]), _gemm(p, k, s, "dP", [ld])) for _ in range(k.groups)]
    for w, (qk, dp) in enumerate(first):
        exp = p.op("sfu", cycles(k.exp), deps=[qk], tag="P")
        ds = p.op("fma", cycles(k.fma + (k.mask if masked else 0.0)), deps=[exp, dp], tag="dS")
        _gemm(p, k, s, "dV", [ds])
        _gemm(p, k, s, "dK", [ds], release={"q": k.tile_bytes} if w == k.groups - 1 else None)
        _gemm(p, k, s, "dQ", [ds])
    _accumulate(p, k, s, acc_hbm)
    return p


def epilogue(g: BwdProgram, k: Costs, s: Share, hold: int) -> Piece:
    """Scale dK, store dK_j and dV_j (freeing the CTA's shared memory)."""
    p = g.piece()
    x = p.op("fma", cycles(k.scale_fma), tag="dK")
    p.op("l2", cycles(k.out_bytes / s.sm.l2), tag="epilogue", bytes={"L2.write": k.out_bytes * s.cta})
    p.op("hbm", cycles(k.out_bytes / s.sm.hbm), deps=[x], release={"smem": hold}, tag="epilogue",
         bytes={"HBM.write": k.out_bytes * s.cta})
    return p


def main_kernel(g: BwdProgram, k: Costs, name: str) -> str:
    """The KV-outer kernel on the most loaded SM; returns a note on its grid."""
    a, p, sm = k.a, k.p, g.sm
    partial, full = tile_pattern(a, p["q_tile"], p["kv_tile"])
    reps = a.batch * a.heads
    pairs = np.stack([partial, full], axis=1)
    classes, pattern = np.unique(pairs, axis=0, return_inverse=True)
    it = sum(k.gemm.values()) * k.groups
    est = 1.0 + classes[:, 0] * (it + k.mask) + classes[:, 1] * it
    iteration = fa3_iteration if k.fa3 else fa2_iteration
    placed = place(est, pattern.reshape(-1), reps, sm.sms)
    ctas, iters = len(partial) * reps, int(pairs.sum()) * reps
    sim_ctas = sum(n for _, _, n in placed.runs)
    sim_iters = sum(int(classes[c].sum()) * n for c, _, n in placed.runs)
    cta_scale, iter_scale = ctas / max(sim_ctas, 1), iters / max(sim_iters, 1)
    room = max(sm.sms * p["ctas_per_sm"], 1)
    qdo_compulsory = reps * a.m * (2 * a.e * a.elem + 2 * FP32_BYTES)
    hbm_per_l2 = max(qdo_compulsory, iters * k.tile_bytes / min(len(partial), room)) / max(iters * k.tile_bytes, 1)
    kv_hbm = k.kv_bytes * max(1.0 / min(a.group, room), a.kv_heads / a.heads) if a.group > 1 else k.kv_bytes
    acc_hbm = 2 * reps * a.m * a.e * FP32_BYTES / max(iters, 1)
    hold = sm.smem_bytes // p["ctas_per_sm"]
    for c, busy, count in placed.runs:
        s = Share(sm.sharing(busy, g.capacity["q"]), hbm_per_l2, cta_scale, iter_scale)
        n_p, n_f = (int(x) for x in classes[c])
        pieces = [prologue(g, k, s, hold, kv_hbm), iteration(g, k, s, True, acc_hbm),
                  iteration(g, k, s, False, acc_hbm), epilogue(g, k, s, hold)]
        counts = [1, n_p, n_f, 1]
        if ops_of(pieces, counts) <= MAX_UNROLLED_OPS:
            g.add(pieces, counts, f"{name}.ctas", repeat=count)
            continue
        if len(g.segments) + 4 * count > MAX_SEGMENTS:
            raise MappingError(f"{name}: the simulated SM's {placed.simulated} CTAs need more than {MAX_SEGMENTS} "
                               f"segments (use fewer heads × batch, a shorter sequence or larger tiles)")
        for _ in range(count):
            g.add(pieces[:1], [1], f"{name}.pro")
            for piece, n in zip(pieces[1:3], counts[1:3]):
                if n:
                    g.add([piece], [1], f"{name}.loop", repeat=n, loop=True)
            g.add(pieces[3:], [1], f"{name}.epi")
    return (f"{ctas} CTAs of a {p['kv_tile']}-key tile looping over {p['q_tile']}-row Q tiles; the most loaded SM "
            f"runs {placed.simulated}")


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options, fa3: bool, mech: Mechanisms = ALL) -> Lowered:
    """The backward's kernels in sequence: preprocess (D = rowsum(dO ∘ O), the dQ accumulator zeroed), the KV-outer
    main kernel, the dQ conversion, and for grouped heads the sum of the sharing heads' dK/dV. `mech`: which parts
    of FA2's structure are modelled (all, unless explaining one)."""
    name = mp.dataflow
    check_calibration(options, name)
    if not options.symmetric:
        raise MappingError(f"{name}: Options(symmetric=False) is not modelled for the backward (it simulates the "
                           f"most loaded SM)")
    b = shape_of(c, name)
    a, p = b.a, mp.params
    sm = sm_rates(check_arch(arch, name), a.dtype)
    check_fit(name, a, p, sm, fa3)
    k = Costs(b, p, sm, fa3, options, mech)
    g = BwdProgram(sm, {"smem": sm.smem_bytes, "q": p["stages"] * p["ctas_per_sm"] * k.tile_bytes})
    rows = a.batch * a.heads * a.m
    g.stream("preprocess", 2 * rows * a.e * a.elem, rows * FP32_BYTES + rows * a.e * FP32_BYTES,
             FA_KERNEL_EFFICIENCY, "load", ("Drow", rows * a.e * PRE_FMA_OPS))
    notes = []
    g.kernel("dq_dk_dv", lambda: notes.append(main_kernel(g, k, name)))
    g.stream("convert_dq", rows * a.e * FP32_BYTES, rows * a.e * a.elem, FA_KERNEL_EFFICIENCY, "convert",
             ("dQ", rows * a.e))
    if a.group > 1:     # dK/dV per query head (FA2's dk_expanded), summed over the sharing heads by PyTorch
        expanded = a.batch * a.heads * a.p * 2 * a.e * a.elem
        g.stream("sum_dk_dv", expanded, expanded // a.group, calibrated(options, "STREAM_EFFICIENCY"), "sum",
                 ("dK", expanded / a.elem))
    kernel = ("FlashAttention-3 backward: wgmma + TMA, two MMA warpgroups of half the keys each, dQ by TMA "
              "bulk reduce-add" if fa3 else
              "FlashAttention-2 backward: mma.sync, every step after the one before on the same warps, dQ by fp32 "
              "atomicAdd")
    return Lowered(program=g.build(), unit_keys={u: u for u in UNITS}, actions=useful_actions(c, arch),
                   tags=b.names, flops=float(workloads.flops(c)),
                   notes=(kernel, *notes), phases=PHASES, kernels=g.kernels, unit_levels=BWD_UNIT_LEVELS)


def fa2_bwd_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """FlashAttention-2's backward (see the module docstring)."""
    return lower(c, arch, mp, options, fa3=False)


def fa3_bwd_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """FlashAttention-3's backward (see the module docstring)."""
    return lower(c, arch, mp, options, fa3=True)
