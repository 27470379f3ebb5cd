"""The tile programs of FlashAttention's backward (`backward`): a preprocessing kernel, the KV-outer main kernel, the
dQ conversion and, for grouped heads, the sum of the sharing heads' dK/dV — one SM of each, in sequence.

Main kernel (FA2: flash_bwd_dq_dk_dv_loop_seqk_parallel; FA3: the SM90 backward mainloop): one CTA per (batch,
head, KV tile) in launch order, KV tile fastest. A CTA loads K_j and V_j once, then for each Q tile i that sees the
tile (causal: from the diagonal on; partially masked tiles first) loads Q_i, dO_i, LSE_i and D_i into a stage slot
and runs, per row group, S = Q_i K_jᵀ and dP = dO_i V_jᵀ, P = exp(S − LSE) on the SFU, dS = P ∘ (dP − D) on the FMA
pipe, dV += Pᵀ dO_i, dK += dSᵀ Q_i and dQ_i += dS K_j, whose fp32 tile is added into the global accumulator with
atomics at L2; the epilogue scales dK and stores dK_j and dV_j. FA2's warps do all of it in order (one group); FA3's
two MMA warpgroups each own half the keys, so one group's exp and dS run while the other's GEMMs do. A GEMM lasts
max(tensor cycles, its shared-memory operand reads ÷ the SMEM bandwidth): a GEMM whose warps split its output tile
wm × wn reads the A operand wn times and the B operand wm times (FA2's AtomLayout parameters).
"""
from __future__ import annotations

import numpy as np

import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.backward import Backward, check_fit, shape_of
from sim.dataflows.gpu.constants import (FP32_BYTES, MASK_FMA_OPS, MAX_UNROLLED_OPS, TICKS_PER_CYCLE, calibrated,
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

UNITS = ("tensor", "sfu", "fma", "l2", "hbm", "host")
LEVELS = ("HBM.read", "HBM.write", "L2.read", "L2.write", "SMEM.read", "SMEM.write")
ROLE_TAGS = ("QK", "P", "dP", "Drow", "dS", "dV", "dQ", "dK")
PHASES = ("load", "epilogue", "launch", "atomic", "convert", "sum")
# Per score of the backward: the FMA that scales S and subtracts the LSE (exp's input), dP − D and its product with
# P, and the fp32 → 16-bit converts of P and dS before their GEMMs (FA2 backward, Algorithm 2 lines 11-13).
BWD_SCORE_FMA_OPS = 5
ATOMIC_RMW = 2             # an fp32 atomic add reads and writes its word at the L2 slice that owns it
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
        program = Program(units=UNITS, unit_is_memory=tuple(u in ("l2", "hbm") for u in UNITS),
                          buffers=tuple(self.capacity), buffer_capacity=caps, levels=LEVELS,
                          tags=ROLE_TAGS + PHASES, ticks_per_cycle=TICKS_PER_CYCLE, segments=tuple(self.segments))
        validate(program)
        return program


def gemm_reads(a: Attention, p, fa3: bool) -> dict[str, float]:
    """Shared-memory operand bytes one row group's GEMMs read per iteration (see the module docstring)."""
    br, d, e = p["q_tile"], a.e, a.elem
    if fa3:     # each warpgroup owns kv_tile / groups keys and reads each operand once
        c = p["kv_tile"] // p["groups"]
        q, kv, sc = br * d * e, c * d * e, br * c * e
        return {"QK": q + kv, "dP": q + kv, "dV": sc + q, "dK": sc + q, "dQ": sc + kv}
    c, w = p["kv_tile"], p["warps"]
    q, kv, sc = br * d * e, c * d * e, br * c * e
    sdp, dkv, dq = p["layout_sdp"], p["layout_dkv"], p["layout_dq"]
    return {"QK": q * (w // sdp) + kv * sdp, "dP": q * (w // sdp) + kv * sdp,
            "dV": sc * (w // dkv) + q * dkv, "dK": sc * (w // dkv) + q * dkv, "dQ": sc * (w // dq) + kv * dq}


class Costs:
    """Cycles and bytes of one CTA's pieces for a backward mapping on `sm`."""

    def __init__(self, b: Backward, p, sm: SM, fa3: bool, options: Options):
        a = b.a
        self.a, self.p, self.fa3 = a, p, fa3
        self.groups = p.get("groups", 1)
        br, bc, d = p["q_tile"], p["kv_tile"], a.e
        keys = bc // self.groups
        rate = sm.mac if fa3 else sm.mma_sync * calibrated(options, "FA2_MMA_EFFICIENCY")
        macs = br * keys * d
        reads = gemm_reads(a, p, fa3)
        writes = br * keys * a.elem        # P (before dV) and dS (before dK) land in shared memory
        self.gemm = {k: max(macs / rate, (v + (writes if k in ("dV", "dK") else 0)) / sm.smem)
                     for k, v in reads.items()}
        self.smem = {k: v + (writes if k in ("dV", "dK") else 0) for k, v in reads.items()}
        self.exp = br * keys / sm.sfu
        self.fma = br * keys * BWD_SCORE_FMA_OPS / sm.fma
        self.mask = br * keys * MASK_FMA_OPS / sm.fma
        self.tile_bytes = 2 * br * d * a.elem + 2 * br * FP32_BYTES      # Q_i, dO_i, LSE_i, D_i
        self.atomic_bytes = br * d * FP32_BYTES * ATOMIC_RMW
        self.kv_bytes = 2 * bc * d * a.elem
        self.out_bytes = 2 * bc * d * a.elem
        self.scale_fma = bc * d / sm.fma          # dK scaled by the softmax scale once


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


def iteration(g: BwdProgram, k: Costs, s: Share, masked: bool, acc_hbm: float) -> Piece:
    """One Q tile of the KV-outer loop (see the module docstring)."""
    p, sm = g.piece(), s.sm
    tile_hbm = k.tile_bytes * s.hbm_per_l2
    l2 = p.op("l2", cycles(k.tile_bytes / sm.l2), acquire={"qdo": k.tile_bytes}, tag="load",
              bytes={"L2.read": k.tile_bytes * s.iter})
    ld = p.op("hbm", cycles(tile_hbm / sm.hbm), deps=[l2], tag="load", bytes={"HBM.read": tile_hbm * s.iter})
    smem = lambda role: {"SMEM.read": k.smem[role] * s.iter}  # noqa: E731
    first = [(p.op("tensor", cycles(k.gemm["QK"]), deps=[ld], tag="QK", bytes=smem("QK")),
              p.op("tensor", cycles(k.gemm["dP"]), deps=[ld], tag="dP", bytes=smem("dP")))
             for _ in range(k.groups)]
    for w, (qk, dp) in enumerate(first):
        exp = p.op("sfu", cycles(k.exp), deps=[qk], tag="P")
        ds = p.op("fma", cycles(k.fma + (k.mask if masked else 0.0)), deps=[exp, dp], tag="dS")
        last = w == k.groups - 1
        p.op("tensor", cycles(k.gemm["dV"]), deps=[ds], tag="dV", bytes=smem("dV"))
        p.op("tensor", cycles(k.gemm["dK"]), deps=[ds], tag="dK", bytes=smem("dK"),
             release={"qdo": k.tile_bytes} if last else None)
        p.op("tensor", cycles(k.gemm["dQ"]), deps=[ds], tag="dQ", bytes=smem("dQ"))
    # The atomic adds occupy L2 without holding back the next tile's loads (L2 serves requests out of order);
    # the fp32 accumulator enters and leaves HBM once over the kernel.
    p.op("l2", cycles(k.atomic_bytes / sm.l2), tag="atomic", bytes={"L2.write": k.atomic_bytes * s.iter})
    if acc_hbm:
        p.op("hbm", cycles(acc_hbm / sm.hbm), tag="atomic",
             bytes={"HBM.read": acc_hbm / 2 * s.iter, "HBM.write": acc_hbm / 2 * s.iter})
    return p


def epilogue(g: BwdProgram, k: Costs, s: Share, hold: int) -> Piece:
    """Scale dK, store dK_j and dV_j (freeing the CTA's shared memory)."""
    p = g.piece()
    x = p.op("fma", cycles(k.scale_fma), tag="dK")
    p.op("l2", cycles(k.out_bytes / s.sm.l2), tag="epilogue", bytes={"L2.write": k.out_bytes * s.cta})
    p.op("hbm", cycles(k.out_bytes / s.sm.hbm), deps=[x], release={"smem": hold}, tag="epilogue",
         bytes={"HBM.write": k.out_bytes * s.cta})
    return p


def main_kernel(g: BwdProgram, k: Costs, options: Options, name: str) -> str:
    """The KV-outer kernel on the most loaded SM; returns a note on its grid."""
    a, p, sm = k.a, k.p, g.sm
    partial, full = tile_pattern(a, p["q_tile"], p["kv_tile"])
    reps = a.batch * a.heads
    pairs = np.stack([partial, full], axis=1)
    classes, pattern = np.unique(pairs, axis=0, return_inverse=True)
    it = sum(k.gemm.values()) * k.groups
    est = 1.0 + classes[:, 0] * (it + k.mask) + classes[:, 1] * it
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
        s = Share(sm.sharing(busy, p["stages"] * p["ctas_per_sm"] * k.tile_bytes), hbm_per_l2, cta_scale,
                  iter_scale)
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


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options, fa3: bool) -> Lowered:
    """The backward's kernels in sequence: preprocess (D = rowsum(dO ∘ O), the dQ accumulator zeroed), the KV-outer
    main kernel, the dQ conversion, and for grouped heads the sum of the sharing heads' dK/dV."""
    name = mp.dataflow
    check_calibration(options, name)
    if not options.symmetric:
        raise MappingError(f"{name}: Options(symmetric=False) is not modelled for the backward (it simulates the "
                           f"most loaded SM)")
    b = shape_of(c, name)
    a, p = b.a, mp.params
    sm = sm_rates(check_arch(arch, name), a.dtype)
    check_fit(name, a, p, sm, fa3)
    k = Costs(b, p, sm, fa3, options)
    g = BwdProgram(sm, {"smem": sm.smem_bytes, "qdo": p["stages"] * p["ctas_per_sm"] * k.tile_bytes})
    rows = a.batch * a.heads * a.m
    g.stream("preprocess", 2 * rows * a.e * a.elem, rows * FP32_BYTES + rows * a.e * FP32_BYTES,
             FA_KERNEL_EFFICIENCY, "load", ("Drow", rows * a.e * PRE_FMA_OPS))
    notes = []
    g.kernel("dq_dk_dv", lambda: notes.append(main_kernel(g, k, options, name)))
    g.stream("convert_dq", rows * a.e * FP32_BYTES, rows * a.e * a.elem, FA_KERNEL_EFFICIENCY, "convert",
             ("dQ", rows * a.e))
    if a.group > 1:     # dK/dV per query head (FA2's dk_expanded), summed over the sharing heads by PyTorch
        expanded = a.batch * a.heads * a.p * 2 * a.e * a.elem
        g.stream("sum_dk_dv", expanded, expanded // a.group, calibrated(options, "STREAM_EFFICIENCY"), "sum",
                 ("dK", expanded / a.elem))
    kernel = ("FlashAttention-3 backward: wgmma + TMA, two MMA warpgroups of half the keys each, dQ by TMA "
              "bulk reduce-add" if fa3 else
              "FlashAttention-2 backward: mma.sync in order on the same warps, dQ by fp32 atomicAdd")
    return Lowered(program=g.build(), unit_keys={u: u for u in UNITS}, actions=useful_actions(c, arch),
                   tags=b.names, flops=float(workloads.flops(c)),
                   notes=(kernel, *notes), phases=PHASES, kernels=g.kernels, unit_levels=UNIT_LEVELS)


def fa2_bwd_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """FlashAttention-2's backward (see the module docstring)."""
    return lower(c, arch, mp, options, fa3=False)


def fa3_bwd_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """FlashAttention-3's backward (see the module docstring)."""
    return lower(c, arch, mp, options, fa3=True)
