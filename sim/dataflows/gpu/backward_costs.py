"""What one Q-tile iteration of FlashAttention's backward costs on an SM: GEMM cycles, shared-memory traffic, the
score math, the bytes it moves — and which parts of FlashAttention-2's structure the lowering models
(`Mechanisms`, each switchable so that `contributions` can say what it adds).

FlashAttention-2's backward (flash_bwd_kernel.h, compute_dq_dk_dv_1colblock) runs every step of a Q tile on the
same 8 warps, separated by `__syncthreads()`: S = QKᵀ, exp, P stored to shared memory, dP = dO Vᵀ, dS = P ∘ (dP − D),
dS stored, barrier, dV += Pᵀ dO, barrier (dO's buffer is reloaded next), dQ = dS K, dQ's atomic adds, dK += dSᵀ Q,
and at the loop's top a wait for the next Q and dO tiles and a barrier. Each `flash::gemm` loads the first k-step's
operand fragments (ldmatrix) before its first mma and then prefetches one k-step ahead.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.dataflows.gpu.backward import Backward
from sim.dataflows.gpu.constants import FP32_BYTES, MASK_FMA_OPS, calibrated
from sim.dataflows.gpu.machine import SM
from sim.dataflows.gpu.shape import Attention
from sim.ir.options import Options

# Per score of the backward, on the FMA pipe (FA2 backward, Algorithm 2 lines 11-13): with the exp, the FMA that
# scales S and subtracts the LSE and P's fp32 → 16-bit convert; with dS, dP − D, the product with P and dS's convert.
EXP_FMA_OPS = 2
DS_FMA_OPS = 3
BWD_SCORE_FMA_OPS = EXP_FMA_OPS + DS_FMA_OPS
ATOMIC_RMW = 2             # an fp32 atomic add reads and writes its word at the L2 slice that owns it
MMA_K = 16                 # the k extent of one mma.sync m16n8k16 (PTX ISA, 16-bit operands): one k-step
# Cycles from a shared-memory load (ldmatrix) to its registers: a named assumption near the ~30 cycles
# microbenchmarked for shared-memory loads on A100 and Hopper (Luo et al., "Benchmarking and Dissecting the Nvidia
# Hopper GPU Architecture", IPDPS 2024).
SMEM_LATENCY_CYCLES = 30
# GEMMs whose first fragments load right after a barrier or a shared-memory store, so nothing hides them (dK's
# follow the dQ atomics to global memory, which they need not wait for).
FILLED = ("QK", "dP", "dV", "dQ")
GEMM_K = {"QK": "d", "dP": "d", "dV": "br", "dK": "br", "dQ": "bc"}     # each product's reduction extent


@dataclass(frozen=True)
class Mechanisms:
    """Which parts of FlashAttention-2's backward structure the lowering models (all unless explaining one):
    `in_order` — each step waits for the one before it on the same warps (the exp before dP, as written between the
    barriers), else only for its data; `smem_stores` — P and dS stores are steps of their own at the shared-memory
    bandwidth, else hidden in the dV/dK GEMMs' traffic; `gemm_fill` — a GEMM after a barrier or a store first loads
    one k-step of fragments (plus the load latency) before its first mma."""
    in_order: bool = True
    smem_stores: bool = True
    gemm_fill: bool = True


ALL = Mechanisms()
NONE = Mechanisms(False, False, False)
FA2_MECHANISMS = tuple(Mechanisms.__dataclass_fields__)


def gemm_reads(a: Attention, p, fa3: bool) -> dict[str, float]:
    """Shared-memory operand bytes one row group's GEMMs read per iteration: a GEMM whose warps split its output
    wm × wn reads the A operand wn times and the B operand wm times (FA2's AtomLayout parameters); each FA3
    warpgroup reads its operands once."""
    br, d, e = p["q_tile"], a.e, a.elem
    if fa3:     # each warpgroup owns kv_tile / groups keys
        c = p["kv_tile"] // p["groups"]
        q, kv, sc = br * d * e, c * d * e, br * c * e
        return {"QK": q + kv, "dP": q + kv, "dV": sc + q, "dK": sc + q, "dQ": sc + kv}
    c, w = p["kv_tile"], p["warps"]
    q, kv, sc = br * d * e, c * d * e, br * c * e
    sdp, dkv, dq = p["layout_sdp"], p["layout_dkv"], p["layout_dq"]
    return {"QK": q * (w // sdp) + kv * sdp, "dP": q * (w // sdp) + kv * sdp,
            "dV": sc * (w // dkv) + q * dkv, "dK": sc * (w // dkv) + q * dkv, "dQ": sc * (w // dq) + kv * dq}


class Costs:
    """Cycles and bytes of one CTA's pieces for a backward mapping on `sm` (`mech`: FA2's modelled structure)."""

    def __init__(self, b: Backward, p, sm: SM, fa3: bool, options: Options, mech: Mechanisms = ALL):
        a = b.a
        self.a, self.p, self.fa3 = a, p, fa3
        self.mech = NONE if fa3 else mech
        self.groups = p.get("groups", 1)
        br, bc, d = p["q_tile"], p["kv_tile"], a.e
        keys = bc // self.groups
        rate = sm.mac if fa3 else sm.mma_sync * calibrated(options, "FA2_MMA_EFFICIENCY")
        self.tensor = br * keys * d / rate
        self.reads = gemm_reads(a, p, fa3)
        self.store = br * keys * a.elem        # P (before dV) and dS (before dK) land in shared memory
        self.store_cycles = self.store / sm.smem
        folded = not self.mech.smem_stores
        self.smem_write = {k: self.store if k in ("dV", "dK") and folded else 0.0 for k in self.reads}
        extent = {"d": d, "br": br, "bc": keys}
        self.gemm = {k: self._gemm(k, v, extent[GEMM_K[k]], sm) for k, v in self.reads.items()}
        self.exp = br * keys / sm.sfu
        scores = br * keys / sm.fma
        self.exp_fma = scores * EXP_FMA_OPS if self.mech.in_order else 0.0
        self.fma = scores * (DS_FMA_OPS if self.mech.in_order else BWD_SCORE_FMA_OPS)
        self.mask = scores * MASK_FMA_OPS
        self.tile_bytes = 2 * br * d * a.elem + 2 * br * FP32_BYTES      # Q_i, dO_i, LSE_i, D_i
        self.atomic_bytes = br * d * FP32_BYTES * ATOMIC_RMW
        self.kv_bytes = 2 * bc * d * a.elem
        self.out_bytes = 2 * bc * d * a.elem
        self.scale_fma = bc * d / sm.fma          # dK scaled by the softmax scale once

    def _gemm(self, role: str, reads: float, k_extent: int, sm: SM) -> float:
        """max(tensor, shared-memory traffic); with `gemm_fill` (FILLED roles) a two-stage pipeline of k-steps
        (fragments loaded one step ahead of the mma): the load latency, then the first step's loads before all
        the mma, or all the loads before the last step's mma, whichever is longer."""
        traffic = (reads + self.smem_write[role]) / sm.smem
        if not (self.mech.gemm_fill and role in FILLED):
            return max(self.tensor, traffic)
        steps = max(k_extent // MMA_K, 1)
        return SMEM_LATENCY_CYCLES + max(traffic / steps + self.tensor, traffic + self.tensor / steps)

    def smem_bytes(self, role: str) -> dict[str, float]:
        """The SMEM level bytes of a GEMM op (operand reads, and the folded P/dS stores as writes)."""
        out = {"SMEM.read": self.reads[role]}
        if self.smem_write[role]:
            out["SMEM.write"] = self.smem_write[role]
        return out
