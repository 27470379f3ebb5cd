"""`accel.systolic`: a generic rows × cols systolic array under a global buffer, for GEMM dataflows."""
from __future__ import annotations

from accel.presets import DRAM_PJ_PER_BYTE, GB_READ_PJ_PER_BYTE, GB_WRITE_PJ_PER_BYTE, MAC_PJ, MAC_UM2
from accel.schema import from_dict
from accel.spec import Arch


def systolic(rows: int, cols: int, *, buffer_bytes: int = 16 * 2 ** 20, dram_bytes_per_s: float | None = None,
             clock_hz: float = 940e6, name: str | None = None) -> Arch:
    """A `rows × cols` FP16 MAC array ("2d") under a GlobalBuffer under DRAM (`dram_bytes_per_s=None`: unlimited).

    Energies are the FuseMax artifact's 45 nm Accelergy table (as the `fusemax` preset): the buffer's per-access
    energy is that of FuseMax's 16 MiB buffer whatever `buffer_bytes` (CACTI's energy grows with capacity; set the
    level's energies in a spec to model another size)."""
    return from_dict({
        "name": name or f"systolic{rows}x{cols}", "clock_hz": clock_hz,
        "levels": [
            {"name": "DRAM", "capacity_bytes": None, "bandwidth_bytes_per_s": dram_bytes_per_s,
             "read_energy_pj_per_byte": DRAM_PJ_PER_BYTE, "write_energy_pj_per_byte": DRAM_PJ_PER_BYTE},
            {"name": "GlobalBuffer", "capacity_bytes": buffer_bytes, "bandwidth_bytes_per_s": None,
             "read_energy_pj_per_byte": GB_READ_PJ_PER_BYTE, "write_energy_pj_per_byte": GB_WRITE_PJ_PER_BYTE},
        ],
        "units": [{"name": "2d", "level": "GlobalBuffer", "pes": [rows, cols], "ops_per_cycle": {"mac": 1},
                   "energy_pj_per_op": {"mac": MAC_PJ}, "area_um2_per_pe": MAC_UM2}],
        "notes": "generic systolic array (accel.systolic)",
    }, path="accel.arrays")
