"""Named constants of the GPU kernel model, each with its source.

`CALIBRATED` holds the only fitted constants. Lowerings read them as `options.constant(NAME, CALIBRATED[NAME])`, so a
fit or a what-if passes values as data (`sim.Options(calibration={"FA2_MMA_EFFICIENCY": 0.9})`); a name that is not
in `CALIBRATED` is refused (`check_calibration`). Both were fitted on one row of the public FlashAttention-2 H100
forward table (Dao, "FlashAttention-2", 2023, as re-plotted in Shah et al., "FlashAttention-3", 2024, Fig. 6);
the other rows are held out (tests/sim/test_gpu.py, benchmarks/gpu_report.py).
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
