"""Preset architectures, each a plain dict passed through the strict `from_dict` (presets and user files share one
parser). Sources:
- `fusemax`: the "cloud" configuration of FuseMax (Nayak et al., "FuseMax: Leveraging Extended Einsums to Optimize
  Attention Accelerator Design", MICRO 2024, §V) with the 45 nm Accelergy/CACTI energies and areas of its artifact
  (FPSG-UIUC/micro24-fusemax-artifact, v1.0);
- `flat`: FLAT (Kao et al., "FLAT: An Optimized Dataflow for Mitigating Attention Bottlenecks", ASPLOS 2023) as
  re-modelled by the FuseMax paper and artifact;
- `a100`, `h100`, `h200`, `b200`: NVIDIA's A100 (2020) and H100 (2022) Tensor Core GPU Architecture whitepapers, the
  H200 datasheet (2024) and the Blackwell architecture technical brief / DGX B200 datasheet (2024); SFU and FP32
  throughputs from the CUDA C++ Programming Guide's arithmetic-instruction table; the Ampere-style `mma.sync` rate on
  Hopper from FlashAttention-3 (Shah et al., 2024, §2). Measured ceilings say where they were measured.
"""
from __future__ import annotations

import copy
import difflib
from typing import Any

from accel.clusters import CLUSTERS, cluster_preset
from accel.errors import ArchError, show
from accel.interconnect import Cluster
from accel.gpus import A100, B200, H100, H200
from accel.schema import from_dict
from accel.spec import Arch

# 45 nm Accelergy/CACTI energies (pJ per action) and areas (µm²) of the FuseMax artifact (FPSG-UIUC/micro24-fusemax-
# artifact v1.0, the architecture files area_energy/architecture/accel_{flat,fusemax}/accel-top-{2d,1d}-path.yaml).
MAC_PJ, ADD_PJ, MAX_PJ, DIV_PJ, EXP_UNIT_PJ = 17.1645, 8.3395, 0.028036, 36.251153, 94.6475
MAC_UM2, ADD_UM2, MAX_UM2, DIV_UM2, EXP_UNIT_UM2 = 1545.0, 1030.0, 49.29, 23740.94, 8240.0
RF1D_UM2, RF2D_FUSEMAX_UM2, RF2D_FLAT_UM2 = 16849.21, 4255.93, 1838.15
# Global buffer: energy per 4096-bit row (256 FP16 words, 512 bytes), read and write, of each design's own buffer —
# CACTI's energy per access grows with capacity, so FLAT's 32 MiB buffer costs about twice FuseMax's 16 MiB one.
GB_ROW_BYTES = 512
FUSEMAX_GB_ROW_PJ = (12512.76, 15751.46)   # 16 MiB, 32768 rows
FLAT_GB_ROW_PJ = (23854.66, 27097.56)      # 32 MiB, 65536 rows
GB_READ_PJ_PER_BYTE, GB_WRITE_PJ_PER_BYTE = (pj / GB_ROW_BYTES for pj in FUSEMAX_GB_ROW_PJ)
DRAM_PJ_PER_BYTE = 249.6 / 8               # HBM2, per 64-bit access
# PE register files, energy per access (read, write): each array's own file (depth in entries as the artifact sets it).
RF2D_FUSEMAX_PJ, RF2D_FLAT_PJ = (2.1904, 1.9024), (2.1824, 1.8944)   # 16 and 4 entries
RF1D_FUSEMAX_PJ, RF1D_FLAT_PJ = (2.1945, 1.9065), (2.1904, 1.9024)   # 32 entries
DRAM_400_GIB = 400 * 2 ** 30   # the artifact's 400 GB/s

# FuseMax computes exp as a 6-term Taylor series on the MAC datapath: 6 cycles and 6 MAC energies per exp.
EXP_AS_MACS = 6
_FUSEMAX_2D = {"mac": 1, "add": 1, "sub": 1, "mul": 1, "max": 1, "exp": 1 / EXP_AS_MACS}
_FUSEMAX_ENERGY = {"mac": MAC_PJ, "add": ADD_PJ, "sub": ADD_PJ, "mul": MAC_PJ, "max": MAX_PJ,
                   "exp": EXP_AS_MACS * MAC_PJ, "div": DIV_PJ}


def _registers(entries: int, pj: tuple[float, float]) -> dict[str, Any]:
    return {"register_entries": entries, "register_read_pj": pj[0], "register_write_pj": pj[1]}


def _spatial(name: str, buffer_bytes: int, gb_row_pj: tuple[float, float], units: list[dict],
             notes: str) -> dict[str, Any]:
    read, write = (pj / GB_ROW_BYTES for pj in gb_row_pj)
    return {
        "name": name, "clock_hz": 940e6, "notes": notes,
        "levels": [
            {"name": "DRAM", "capacity_bytes": None, "bandwidth_bytes_per_s": DRAM_400_GIB,
             "read_energy_pj_per_byte": DRAM_PJ_PER_BYTE, "write_energy_pj_per_byte": DRAM_PJ_PER_BYTE},
            {"name": "GlobalBuffer", "capacity_bytes": buffer_bytes, "bandwidth_bytes_per_s": None,
             "read_energy_pj_per_byte": read, "write_energy_pj_per_byte": write},
        ],
        "units": units,
    }


FUSEMAX = _spatial("fusemax", 16 * 2 ** 20, FUSEMAX_GB_ROW_PJ, [
    {"name": "2d", "level": "GlobalBuffer", "pes": [256, 256], "ops_per_cycle": _FUSEMAX_2D,
     "energy_pj_per_op": _FUSEMAX_ENERGY, "area_um2_per_pe": MAC_UM2 + MAX_UM2 + RF2D_FUSEMAX_UM2,
     **_registers(16, RF2D_FUSEMAX_PJ)},
    {"name": "1d", "level": "GlobalBuffer", "pes": [256], "ops_per_cycle": {**_FUSEMAX_2D, "div": 1},
     "energy_pj_per_op": _FUSEMAX_ENERGY, "area_um2_per_pe": MAC_UM2 + MAX_UM2 + DIV_UM2 + RF1D_UM2,
     **_registers(32, RF1D_FUSEMAX_PJ)},
], "FuseMax cloud configuration (MICRO 2024 §V; artifact v1.0): FP16, 940 MHz, 400 GiB/s DRAM, 16 MiB buffer.")

FLAT = _spatial("flat", 32 * 2 ** 20, FLAT_GB_ROW_PJ, [
    {"name": "2d", "level": "GlobalBuffer", "pes": [256, 256], "ops_per_cycle": {"mac": 1, "add": 1, "mul": 1},
     "energy_pj_per_op": {"mac": MAC_PJ, "add": ADD_PJ, "mul": MAC_PJ}, "area_um2_per_pe": MAC_UM2 + RF2D_FLAT_UM2,
     **_registers(4, RF2D_FLAT_PJ)},
    # The exponential unit subtracts in its pipeline: FLAT charges exp-of-difference one cycle, so `sub` takes no
    # slot of its own; it is still an FP16 add (the artifact charges FLAT's softmax two adds per score).
    {"name": "1d", "level": "GlobalBuffer", "pes": [256],
     "ops_per_cycle": {"max": 1, "add": 1, "sub": float("inf"), "mac": 1, "mul": 1, "exp": 1, "div": 1},
     "energy_pj_per_op": {"max": MAX_PJ, "add": ADD_PJ, "sub": ADD_PJ, "mac": MAC_PJ, "mul": MAC_PJ,
                          "exp": EXP_UNIT_PJ, "div": DIV_PJ},
     "area_um2_per_pe": MAX_UM2 + ADD_UM2 + MAC_UM2 + EXP_UNIT_UM2 + DIV_UM2 + RF1D_UM2,
     **_registers(32, RF1D_FLAT_PJ)},
], "FLAT (ASPLOS 2023) as re-modelled by FuseMax: 32 MiB buffer, 1D array with a pipelined exp unit and divider.")


PRESETS: dict[str, dict[str, Any]] = {"fusemax": FUSEMAX, "flat": FLAT, "a100": A100, "h100": H100, "h200": H200,
                                      "b200": B200}


def _check_preset_name(name: Any, caller: str) -> None:
    if not isinstance(name, str):
        hint = " (already an accel.Arch: use it as it is)" if isinstance(name, Arch) else ""
        raise ArchError(f"accel.{caller}: a preset is named by text, got {type(name).__name__} {show(name)}{hint}")


def preset(name: str) -> Arch | Cluster:
    """A named preset architecture (a fresh parse of its spec), or a node of devices (`accel.CLUSTERS`: a
    Cluster); an unknown name lists the valid ones."""
    _check_preset_name(name, "preset")
    if name in CLUSTERS:
        return cluster_preset(name)
    if name not in PRESETS:
        near = difflib.get_close_matches(name, list(PRESETS) + list(CLUSTERS), n=1)
        raise ArchError(f"unknown preset {show(name)}" + (f" (did you mean {near[0]!r}?)" if near else "")
                        + f" (valid: {', '.join(PRESETS)}; nodes: {', '.join(CLUSTERS)})")
    return from_dict(PRESETS[name], path=f"preset {name}")   # from_dict copies: the spec stays as it is


def register_preset(name: str, spec: dict[str, Any]) -> Arch:
    """Add a preset (validated now); duplicate names raise."""
    _check_preset_name(name, "register_preset")
    if name in PRESETS or name in CLUSTERS:
        raise ArchError(f"preset {show(name)} already exists")
    arch = from_dict(spec, path=f"preset {name}")
    PRESETS[name] = copy.deepcopy(spec)
    return arch
