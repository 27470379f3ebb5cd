"""GPU presets: NVIDIA A100 (2020) and H100 (2022) Tensor Core GPU Architecture whitepapers, the H200 datasheet
(2024) and the Blackwell architecture technical brief / DGX B200 datasheet (2024); SFU and FP32 throughputs from the
CUDA C++ Programming Guide's arithmetic-instruction table; the Ampere-style `mma.sync` rate on Hopper from
FlashAttention-3 (Shah et al., 2024, §2). Measured ceilings say where they were measured. Energies per op and per
byte, and static power, are named below with their sources and assumptions."""
from __future__ import annotations

from typing import Any


# Kernel launch overhead: the gap one dependent kernel adds in a CUDA stream. Not measured here; 2 µs is the
# usual order of magnitude for back-to-back launches on A100/H100 (assumption, stated in docs/gpu-model.md).
LAUNCH_OVERHEAD_S = 2e-6
# Hopper runs the Ampere-style warp-level `mma.sync` at about 2/3 of the warpgroup-MMA (`wgmma`) peak
# (FlashAttention-3 paper, Shah et al. 2024, §2: "mma.sync ... can only reach about 2/3 of the peak throughput").
HOPPER_MMA_SYNC_FRACTION = 2 / 3
# Blackwell's tensor memory per SM: 128 lanes × 512 columns × 32 bits (NVIDIA PTX ISA 8.7, tcgen05 "Tensor Memory").
B200_TMEM_BYTES = 128 * 512 * 4


# ---- energies: pJ per op or per byte, and static power ---------------------------------------------------------
# Arithmetic and SRAM at 7 nm from Jouppi et al., "Ten Lessons From Three Generations Shaped Google's TPUv4i"
# (ISCA 2021, Table 2): FP16 multiply 0.34, FP32 multiply 1.31, FP32 add 0.38, FP16 add 0.16, INT8 multiply 0.07;
# a 64-bit access of an 8 KB SRAM 7.5, of 32 KB 8.5, of 1 MB 14. These GPUs are TSMC 4N/4NP (5 nm class), so the
# 7 nm figures overstate their energies somewhat.
REGISTER_PJ = 7.5 / 2           # one 32-bit register access: a 64-bit access of an 8 KB SRAM bank, halved
# An MMA instruction reads and writes each FP32 accumulator once per K slice (PTX ISA: wgmma/mma K = 16 for 16-bit
# inputs, 32 for 8-bit; tcgen05 likewise), so a MAC also costs 2 accumulator accesses / K.
MAC_PJ = 0.34 + 0.38 + 2 * REGISTER_PJ / 16      # FP16/BF16 product accumulated in FP32 (TF32's mantissa: same)
MAC_FP8_PJ = 0.07 + 0.16 + 2 * REGISTER_PJ / 32  # an INT8-sized multiplier, FP16-like accumulation (assumed)
MAC_FP4_PJ = 0.07 / 2 + 0.16 + 2 * REGISTER_PJ / 64   # half the 8-bit multiplier (assumption)
OPERANDS = 3                    # register accesses of a lane's FP32 instruction (two reads, one write)
FMA_OP_PJ = {"add": 0.38, "sub": 0.38, "max": 0.38, "min": 0.38, "neg": 0.38, "relu": 0.38, "mul": 1.31,
             "mac": 1.31 + 0.38}
SFU_OP_PJ = 2 * (1.31 + 0.38)   # a special function ≈ two FP32 multiply-adds of datapath (assumption)
SMEM_PJ_PER_BYTE = 8.5 / 8      # a 32 KB SRAM bank's 64-bit access, per byte
L2_PJ_PER_BYTE = 2 * 14 / 8     # a 1 MB SRAM's 64-bit access, and the crossbar to it assumed to cost as much again
HBM_PJ_PER_BYTE = 3.9 * 8       # 3.9 pJ/bit: HBM2 array and I/O (O'Connor et al., "Fine-Grained DRAM", MICRO 2017);
                                # used for HBM2e/HBM3/HBM3e alike (newer stacks claim less: an overstatement)
# Board power limits (SXM modules): A100 400 W, H100 700 W, H200 700 W (datasheets), B200 1000 W (HGX B200).
TDP_W = {"a100": 400.0, "h100": 700.0, "h200": 700.0, "b200": 1000.0}
# Static power under load — leakage at operating temperature, clock distribution, HBM background power and voltage
# regulator losses. NVIDIA publishes no split: assumed a quarter of the board limit.
STATIC_FRACTION = 0.25
STATIC_POWER_W = {name: STATIC_FRACTION * tdp for name, tdp in TDP_W.items()}


def _energies(ops: tuple[str, ...], pj: dict | float) -> dict[str, float]:
    """pJ per op of a CUDA-core pipe: the datapath's and its register accesses'."""
    return {op: (pj[op] if isinstance(pj, dict) else pj) + OPERANDS * REGISTER_PJ for op in ops}


def _tensor_energies(rates: dict[str, float]) -> dict[str, float]:
    """pJ per MAC of each tensor-core path (operands come from shared memory and registers, counted there)."""
    by_dtype = {"mac.fp8": MAC_FP8_PJ, "mac.fp4": MAC_FP4_PJ}
    return {op: by_dtype.get(op, MAC_PJ) for op in rates}


def _gpu(name: str, *, sms: int, clock_hz: float, mac_per_sm: dict[str, float], fp32_fma_per_sm: int,
         sfu_per_sm: int, smem_bytes: int, l2_bytes: int, l2_bytes_per_s: float, hbm_bytes: int,
         hbm_bytes_per_s: float, measured: dict[str, float], notes: str,
         mma_sync_fraction: float = 1.0, tmem_bytes: int = 0) -> dict[str, Any]:
    """HBM → L2 → (× SMs) shared memory → registers → tensor cores / FP32 pipes / special-function units.

    The tensor unit's `mac` (and `mac.<dtype>`) rates are the dense peak of the native instruction path (wgmma on
    Hopper/Blackwell, mma.sync on Ampere); `mma_sync` is the rate of the Ampere-style warp-level path that
    FlashAttention-2 uses (= `mac` on Ampere, 2/3 of it on Hopper and later). The RF level holds the 64K 32-bit
    registers per SM and SMEM the shared memory per SM (occupancy limits); `launch_overhead_s` is per kernel.
    Blackwell adds TMEM, the per-SM tensor memory that tcgen05 MMA accumulates into (`tmem_bytes`), as one
    instance per sub-partition under RF (each sub-partition's warp reaches its 32 of the 128 lanes).
    """
    lanes = 4  # four SM sub-partitions, each with one tensor core, 1/4 of the FP32 lanes and SFUs
    mac_per_sm = {**mac_per_sm, "mma_sync": mac_per_sm["mac"] * mma_sync_fraction}
    fma_ops = ("add", "sub", "mul", "max", "min", "mac", "neg", "relu")
    sfu_ops = ("exp", "div", "rsqrt", "sqrt", "tanh", "sigmoid", "silu", "gelu", "elu")
    return {
        "name": name, "clock_hz": clock_hz, "notes": notes, "measured": measured,
        "launch_overhead_s": LAUNCH_OVERHEAD_S, "static_power_w": STATIC_POWER_W[name],
        "levels": [
            {"name": "HBM", "capacity_bytes": hbm_bytes, "bandwidth_bytes_per_s": hbm_bytes_per_s,
             "read_energy_pj_per_byte": HBM_PJ_PER_BYTE, "write_energy_pj_per_byte": HBM_PJ_PER_BYTE},
            {"name": "L2", "capacity_bytes": l2_bytes, "bandwidth_bytes_per_s": l2_bytes_per_s, "fanout": sms,
             "read_energy_pj_per_byte": L2_PJ_PER_BYTE, "write_energy_pj_per_byte": L2_PJ_PER_BYTE},
            # 128 B/clk/SM shared-memory bandwidth (32 banks × 4 B), the operand path of ldmatrix/mma.sync.
            {"name": "SMEM", "capacity_bytes": smem_bytes, "bandwidth_bytes_per_s": sms * 128 * clock_hz,
             "read_energy_pj_per_byte": SMEM_PJ_PER_BYTE, "write_energy_pj_per_byte": SMEM_PJ_PER_BYTE},
            {"name": "RF", "capacity_bytes": 65536 * 4, "bandwidth_bytes_per_s": None,
             "fanout": lanes if tmem_bytes else 1},
        ] + ([{"name": "TMEM", "capacity_bytes": tmem_bytes // lanes, "bandwidth_bytes_per_s": None}]
             if tmem_bytes else []),
        "units": [
            {"name": "tensor", "level": "RF", "pes": [lanes],
             "ops_per_cycle": {op: rate / lanes for op, rate in mac_per_sm.items()},
             "energy_pj_per_op": _tensor_energies(mac_per_sm)},
            {"name": "fma", "level": "RF", "pes": [lanes],
             "ops_per_cycle": {op: fp32_fma_per_sm / lanes for op in fma_ops},
             "energy_pj_per_op": _energies(fma_ops, FMA_OP_PJ)},
            {"name": "sfu", "level": "RF", "pes": [lanes], "ops_per_cycle": {op: sfu_per_sm / lanes for op in sfu_ops},
             "energy_pj_per_op": _energies(sfu_ops, SFU_OP_PJ)},
        ],
    }


# Dense tensor-core MACs per SM per clock (FLOP/clk/SM ÷ 2): A100 2048/2, Hopper 4096/2, Blackwell 8192/2.
# SFU: 16 results/clk/SM (CUDA programming guide throughput table, cc 8.x/9.x). FP32: 64 (A100), 128 (Hopper+).
A100 = _gpu("a100", sms=108, clock_hz=1.41e9, mac_per_sm={"mac": 1024, "mac.tf32": 512}, fp32_fma_per_sm=64,
            sfu_per_sm=16, smem_bytes=164 * 1024, l2_bytes=40 * 10 ** 6, l2_bytes_per_s=5120 * 1.41e9,
            hbm_bytes=80 * 10 ** 9, hbm_bytes_per_s=2039e9,
            measured={"tensor.bf16_flops_per_s": 271.2e12},
            notes="A100 SXM4 80GB. L2 bandwidth 5120 B/clk is the whitepaper figure (not measured here). "
                  "Measured: best bf16 GEMM 271.2 TFLOP/s (ml-engineering MAMF table).")
H100 = _gpu("h100", sms=132, clock_hz=1.83e9, mac_per_sm={"mac": 2048, "mac.fp8": 4096, "mac.tf32": 1024},
            fp32_fma_per_sm=128, sfu_per_sm=16, smem_bytes=228 * 1024, l2_bytes=50 * 10 ** 6,
            l2_bytes_per_s=5.5e12, hbm_bytes=80 * 10 ** 9, hbm_bytes_per_s=3.35e12,
            measured={"tensor.bf16_flops_per_s": 798e12, "HBM.bytes_per_s": 3.0e12},
            mma_sync_fraction=HOPPER_MMA_SYNC_FRACTION,
            notes="H100 SXM5. L2 bandwidth is an estimate (NVIDIA does not publish it; not measured here). Measured "
                  "(2026-11, PyTorch, this workplace): 8192³ bf16 matmul 798 TFLOP/s, device copy ~3.0 TB/s.")
H200 = _gpu("h200", sms=132, clock_hz=1.83e9, mac_per_sm={"mac": 2048, "mac.fp8": 4096, "mac.tf32": 1024},
            fp32_fma_per_sm=128, sfu_per_sm=16, smem_bytes=228 * 1024, l2_bytes=50 * 10 ** 6,
            l2_bytes_per_s=5.5e12, hbm_bytes=141 * 10 ** 9, hbm_bytes_per_s=4.8e12,
            measured={"tensor.bf16_flops_per_s": 788e12, "HBM.bytes_per_s": 4.3e12},
            mma_sync_fraction=HOPPER_MMA_SYNC_FRACTION,
            notes="H200 SXM (GH100 die, as H100). Measured (2026-10/11, PyTorch, this workplace): 8192³ bf16 matmul "
                  "769–798 TFLOP/s (788 typical), device copy ~4.3 TB/s.")
B200 = _gpu("b200", sms=148, clock_hz=1.86e9, mac_per_sm={"mac": 4096, "mac.fp8": 8192, "mac.fp4": 16384,
                                                         "mac.tf32": 2048},
            fp32_fma_per_sm=128, sfu_per_sm=16, smem_bytes=228 * 1024, l2_bytes=126 * 10 ** 6,
            l2_bytes_per_s=10e12, hbm_bytes=192 * 10 ** 9, hbm_bytes_per_s=8e12, measured={},
            mma_sync_fraction=HOPPER_MMA_SYNC_FRACTION, tmem_bytes=B200_TMEM_BYTES,
            notes="B200 (HGX). Clock ~1.86 GHz unverified; L2 size uncertain (sources say 126, 96 or 65.5 MB); "
                  "L2 bandwidth is an estimate. No public measured GEMM or copy ceiling is held here: the model "
                  "uses its named default fractions of the datasheet peaks. TMEM: 256 KB tensor memory per SM "
                  "(128 lanes x 512 columns of 32 bits; CUDA PTX ISA, tcgen05). The Ampere-style mma.sync path at "
                  "2/3 of the native rate is assumed as on Hopper.")
