"""Chip area, FuseMax-style: PEs × area per PE, plus on-chip buffer bytes × area per byte.

PE areas come from the architecture (`Unit.area_um2_per_pe`: the 45 nm Accelergy figures of the spatial presets,
which include each PE's register file). Buffer area is not in the reference, so it is one named constant:
`SRAM_UM2_PER_BYTE`, a 45 nm SRAM macro density. GPU presets carry no PE area (0), so their area is their on-chip
memory only; give `area_um2_per_pe` in a spec to count the compute.
"""
from __future__ import annotations

import accel
from accel import Arch

# 45 nm 6T SRAM bit cell 0.346 µm² (Intel 45 nm, IEDM 2007) at an array efficiency of 0.55 (cells over macro area,
# typical of CACTI's large 45 nm arrays): 0.63 µm² per bit, 5.0 µm² per byte. An assumption, not a measurement.
SRAM_UM2_PER_BYTE = 0.346 / 0.55 * 8


def pe_area_um2(arch: Arch) -> float:
    """Area of every PE of every compute unit in the machine."""
    return sum(accel.pe_count(arch, u) * u.area_um2_per_pe for u in arch.units)


def buffer_area_um2(arch: Arch) -> float:
    """Area of the on-chip levels: every level but the outermost (off-chip) one with a capacity, × its copies."""
    return sum(lv.capacity_bytes * accel.instances(arch, lv.name) * SRAM_UM2_PER_BYTE
               for lv in arch.levels[1:] if lv.capacity_bytes is not None)


def area_mm2(arch: Arch) -> float:
    """PE area plus buffer area, in mm²."""
    return (pe_area_um2(arch) + buffer_area_um2(arch)) * 1e-6
