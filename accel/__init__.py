"""What it runs on: architecture specs (memory hierarchy, spatial fan-out, compute units) and presets."""
from accel.presets import PRESETS, preset, register_preset
from accel.arrays import systolic
from accel.spec import (Arch, ArchError, Level, Unit, fill_drain, from_dict, instances, level, op_rate, path_to, pe_count, to_dict,
                   unit, unit_instances)

__all__ = ["Arch", "ArchError", "Level", "PRESETS", "Unit", "fill_drain", "from_dict", "instances", "level", "op_rate", "path_to",
           "pe_count", "preset", "register_preset", "systolic", "to_dict", "unit", "unit_instances"]
