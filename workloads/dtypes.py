"""Element sizes: the one table of bytes per value for every dtype a cascade may declare."""
from __future__ import annotations

from workloads.errors import CascadeError, quote
from workloads.ir import Cascade

# Storage bytes per element (IEEE 754 / OCP formats; tf32 is stored in 32-bit words).
DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


def dtype_bytes(dtype) -> int:
    """Bytes per element of a dtype name, or of a cascade's own dtype when given a `Cascade`."""
    name = dtype.dtype if isinstance(dtype, Cascade) else dtype
    if not isinstance(name, str) or name not in DTYPE_BYTES:
        raise CascadeError(f"unknown dtype {quote(name)} (known: {', '.join(DTYPE_BYTES)})")
    return DTYPE_BYTES[name]
