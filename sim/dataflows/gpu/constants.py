"""Named constants of the GPU kernel model, each with its source.

`CALIBRATED` holds the only fitted constants. Lowerings read them as `options.constant(NAME, CALIBRATED[NAME])`, so a
fit or a what-if passes values as data (`Options(calibration={"FA2_MMA_EFFICIENCY": 0.9})`); a name that is not in
`CALIBRATED` is refused (`check_calibration`). Both were fitted on one row of the public FlashAttention-2 H100
forward table (Dao, "FlashAttention-2", 2023, as plotted in Shah et al., "FlashAttention-3", 2024, Fig. 6); the
other rows are held out (tests/sim/test_gpu.py, benchmarks/gpu_report.py).
"""
from __future__ import annotations

from workloads.frozen import FrozenDict

from sim.ir.mapping import MappingError
from sim.ir.options import Options

CALIBRATED = FrozenDict({
    # The fraction of the mma.sync path's sustained rate that FlashAttention-2's inner loop reaches (register
    # pressure, ldmatrix/mma issue, row reductions on the same warps). Fitted on the D=128 non-causal row (16K point).
    "FA2_MMA_EFFICIENCY": 0.896,
    # The fraction of the measured copy bandwidth that PyTorch's elementwise/softmax kernels and layout copies
    # reach. Fitted on the "Standard" D=128 non-causal row (8K point).
    "STREAM_EFFICIENCY": 0.642,
})

# ---- per-element work of the fused kernels (FlashAttention-2, Algorithm 1) --------------------------------------
SOFTMAX_FMA_OPS = 4        # per score: scale-and-subtract FMA, running max, row-sum add, fp32→fp16 convert
SIGMOID_FMA_OPS = 1        # per score of sigmoid attention: the fp32→fp16 convert (no row max, sum or rescale)
MASK_FMA_OPS = 2           # per score of a partially masked tile: index compare and select
PARTIAL_BYTES = 4          # split-KV partial outputs and log-sum-exps are fp32 (FlashDecoding's combine input)
# FlashAttention-4's exp2 on the FMA pipe (Dao et al., FlashAttention-4 CuTe DSL SM100 kernel, 2025): Cody-Waite
# range reduction (round, subtract), a degree-3 polynomial by Horner (3 FMAs) and the integer part shifted and added
# into the exponent (2 ops).
POLY_EXP_FMA_OPS = 7
# FlashAttention-4 rescales O only when a row's max grows by more than log2(256) (its conditional rescaling): per
# row and tile one compare remains; the rescales themselves are rare after the first tiles and not modelled.
RESCALE_TEST_OPS = 1

# ---- machine facts and assumptions -----------------------------------------------------------------------------
HBM_LATENCY_S = 0.5e-6          # first HBM access, ~0.5 µs on H100-class parts (assumption, docs/gpu-model.md)
DEFAULT_HBM_FRACTION = 0.9      # datasheet HBM reached by streams without a measured `HBM.bytes_per_s` (H100 3.0/3.35)
DEFAULT_TENSOR_FRACTION = 0.8   # native tensor peak sustained without a measured GEMM ceiling (H100 798/989)
THREADS_PER_WARP = 32
MAX_WARPS_PER_CTA = 32          # 1024 threads per block (CUDA C++ Programming Guide, compute capabilities 8.x/9.x)
MAX_CTAS_PER_SM = 32            # resident blocks per SM (same table, 8.0/9.0)
MAX_REGS_PER_THREAD = 255       # the per-thread register limit (same table)
AMPERE_WARPS = 4                # warps of FlashAttention-2's CTAs on the mma.sync path, each reading the K/V tile
FP32_BYTES = 4                  # a 32-bit register
WARPS_PER_WARPGROUP = 4         # a warpgroup: four warps, one per SM sub-partition (PTX ISA, wgmma)
ROWS_PER_WARPGROUP = 64         # wgmma's M: a consumer warpgroup owns 64 query rows (FlashAttention-3)
# Registers per thread beyond the accumulators and P: addresses, loop indices, two rows' running max and sum. An
# assumption: the largest overhead at which every FlashAttention-3 default tile fits its warpgroups' budget, as
# its authors chose the tiles to (hopper/tile_size.h comments: "hits the limit").
REGISTER_OVERHEAD = 28

# ---- model limits (what the per-SM lowering lists, not hardware) ------------------------------------------------
MAX_DISPATCHED_CTAS = 1 << 20   # unequal CTAs are placed one by one (greedy dispatch); equal ones in closed form
MAX_RIVALS = 3                  # SMs simulated beside the estimated most loaded one when theirs may be slower
RIVAL_SIMULATION_TILES = 4096   # ... while the simulated SM runs at most this many KV tiles (beyond, its rivals
                                # differ by ~1%: 0.6-1.2% on 16K-64K causal prefill; up to 32% on 1K-4K grids)
MAX_GRID_CTAS = 1 << 40         # any larger grid is certainly a mistake (CUDA's own limit is ~2^31 · 2^16 · 2^16)
MAX_HEAD_UNITS = 1 << 22        # units (row blocks × KV splits) of one (batch, head), listed as one pattern
MAX_UNROLLED_OPS = 1 << 16      # ops of one CTA's body with its KV loop unrolled (beyond, the loop is a segment)
MAX_RUNS = 32                   # runs of equal CTAs listed in launch order; beyond, merged (fused.regroup)
TICKS_PER_CYCLE = 4             # engine ticks per clock: quarter-cycle resolution of op durations

# The dtypes every fused attention kernel is modelled for; FP8 (e4m3) forward runs on the kernels that have one
# (FlashAttention-3's FP8 path, Blackwell's SM100 kernels).
ATTENTION_DTYPES = ("fp16", "bf16")
# FlashAttention-3's FP8 forward (Shah et al. 2024, §3.3): the FP32 accumulator layout of S is not the FP8 operand
# layout of P, so each score also takes a byte permute on the FMA pipe after its conversion. Per-block scaling
# adds no per-score work: the Q and K block scales fold into the softmax's scale (one scalar per tile), V's into
# the final normalization.
FP8_P_PERMUTE_OPS = 1
GEMM_DTYPES = ("fp16", "bf16", "tf32")


def check_calibration(options: Options, dataflow: str) -> None:
    """Refuse calibration overrides this model does not declare (a typo would otherwise be silently ignored)."""
    unknown = sorted(set(options.calibration) - set(CALIBRATED))
    if unknown:
        raise MappingError(f"{dataflow}: unknown calibrated constant(s) {', '.join(map(repr, unknown[:8]))} "
                           f"(GPU constants: {', '.join(CALIBRATED)})")
    for name, value in options.calibration.items():
        if not 0.0 < value <= 1.0:
            raise MappingError(f"{dataflow}: calibrated constant {name}={value!r} must be a fraction in (0, 1]")


def calibrated(options: Options, name: str) -> float:
    """The value of calibrated constant `name` under `options` (its override, else the shipped fit)."""
    return options.constant(name, CALIBRATED[name])
