"""Architecture specs: an ordered hierarchy of memory levels (outermost first) with explicit spatial fan-out,
and the compute units attached to them. Plain frozen data, built only through the strict `from_dict`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping


class ArchError(ValueError):
    """An architecture spec is malformed; the message names the offending path (`arch.levels[1].fanout`)."""


@dataclass(frozen=True)
class Level:
    """A memory level. `fanout` copies of the next inner level hang under each instance of this one."""
    name: str
    capacity_bytes: int | None          # per instance; None = unbounded
    bandwidth_bytes_per_s: float | None  # summed over all instances; None = not a bottleneck
    fanout: int = 1
    read_energy_pj_per_byte: float = 0.0
    write_energy_pj_per_byte: float = 0.0
    latency_cycles: int = 0


@dataclass(frozen=True)
class Unit:
    """A compute unit: `count` PE arrays of shape `pes` under each instance of memory level `level`.

    `ops_per_cycle[op]` is one PE's throughput for that op type (`mac`, `add`, `exp`, ... optionally qualified
    by dtype, `mac.fp8`); a PE runs the ops of a point one after another. `inf` marks an op absorbed into
    another op's pipeline (free).
    """
    name: str
    level: str
    pes: tuple[int, ...]
    ops_per_cycle: Mapping[str, float]
    energy_pj_per_op: Mapping[str, float] = field(default_factory=dict)
    count: int = 1
    area_um2_per_pe: float = 0.0
    register_entries: int = 0
    register_read_pj: float = 0.0
    register_write_pj: float = 0.0
    fill_drain_cycles: int | None = None   # pipeline fill + drain of one tile; None: rows + cols − 2 on a 2-D array


@dataclass(frozen=True)
class Arch:
    name: str
    clock_hz: float
    levels: tuple[Level, ...]
    units: tuple[Unit, ...]
    measured: Mapping[str, float] = field(default_factory=dict)  # measured ceilings, e.g. {"HBM.bytes_per_s": 3.0e12}
    launch_overhead_s: float = 0.0
    notes: str = ""


def level(arch: Arch, name: str) -> Level:
    for lv in arch.levels:
        if lv.name == name:
            return lv
    raise ArchError(f"arch {arch.name}: no level {name!r} (levels: {', '.join(l.name for l in arch.levels)})")


def unit(arch: Arch, name: str) -> Unit:
    for u in arch.units:
        if u.name == name:
            return u
    raise ArchError(f"arch {arch.name}: no unit {name!r} (units: {', '.join(u.name for u in arch.units)})")


def instances(arch: Arch, level_name: str) -> int:
    """How many copies of a level exist: the product of the fan-outs above it."""
    count = 1
    for lv in arch.levels:
        if lv.name == level_name:
            return count
        count *= lv.fanout
    raise ArchError(f"arch {arch.name}: no level {level_name!r}")


def unit_instances(arch: Arch, u: Unit) -> int:
    return instances(arch, u.level) * u.count


def pe_count(arch: Arch, u: Unit) -> int:
    """PEs of this unit in the whole machine."""
    return math.prod(u.pes) * unit_instances(arch, u)


def op_rate(u: Unit, op: str, dtype: str | None = None) -> float | None:
    """One PE's throughput for an op type (dtype-qualified first), or None if the unit cannot run it."""
    if dtype is not None and f"{op}.{dtype}" in u.ops_per_cycle:
        return u.ops_per_cycle[f"{op}.{dtype}"]
    return u.ops_per_cycle.get(op)


def fill_drain(u: Unit) -> int:
    """Cycles to fill and drain the unit's PE array for one tile: its spec's `fill_drain_cycles`, else the skew of a
    systolic wavefront, rows + cols − 2, on a 2-D array (0 on a 1-D one)."""
    if u.fill_drain_cycles is not None:
        return u.fill_drain_cycles
    return u.pes[0] + u.pes[1] - 2 if len(u.pes) == 2 else 0


def path_to(arch: Arch, level_name: str) -> tuple[Level, ...]:
    """Levels from the outermost down to `level_name` inclusive: what data must cross to reach it."""
    names = [lv.name for lv in arch.levels]
    if level_name not in names:
        raise ArchError(f"arch {arch.name}: no level {level_name!r}")
    return arch.levels[: names.index(level_name) + 1]


# ---- strict parsing -------------------------------------------------------------------------------------------

_LEVEL_KEYS = {"name": True, "capacity_bytes": True, "bandwidth_bytes_per_s": True, "fanout": False,
               "read_energy_pj_per_byte": False, "write_energy_pj_per_byte": False, "latency_cycles": False}
_UNIT_KEYS = {"name": True, "level": True, "pes": True, "ops_per_cycle": True, "energy_pj_per_op": False,
              "count": False, "area_um2_per_pe": False, "register_entries": False, "register_read_pj": False,
              "register_write_pj": False, "fill_drain_cycles": False}
_ARCH_KEYS = {"name": True, "clock_hz": True, "levels": True, "units": True, "measured": False,
              "launch_overhead_s": False, "notes": False}


def _keys(data: Any, spec: dict[str, bool], path: str) -> dict:
    if not isinstance(data, Mapping):
        raise ArchError(f"{path}: expected a mapping, got {type(data).__name__}")
    unknown = [k for k in data if k not in spec]
    if unknown:
        raise ArchError(f"{path}.{unknown[0]}: unknown key (valid: {', '.join(spec)})")
    missing = [k for k, required in spec.items() if required and k not in data]
    if missing:
        raise ArchError(f"{path}.{missing[0]}: missing key")
    return dict(data)


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(ch.isspace() for ch in value):
        raise ArchError(f"{path}: expected a non-empty name without spaces, got {value!r}")
    return value


def _number(value: Any, path: str, *, positive: bool = True, integer: bool = False, allow_none: bool = False,
            allow_inf: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchError(f"{path}: expected a number, got {value!r}")
    if isinstance(value, int) and abs(value) > 2 ** 63:
        raise ArchError(f"{path}: a {len(str(abs(value)))}-digit number is out of range (at most 2**63)")
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ArchError(f"{path}: expected a finite number, got {value!r}")
    if integer and not math.isinf(value) and value != int(value):
        raise ArchError(f"{path}: expected an integer, got {value!r}")
    if integer and not math.isinf(value) and abs(int(value)) > 2 ** 63:
        raise ArchError(f"{path}: {value!r} is out of range for an integer (at most 2**63)")
    if (positive and value <= 0) or value < 0:
        raise ArchError(f"{path}: expected a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return int(value) if integer else float(value)


def _op_table(data: Any, path: str, *, positive: bool, allow_inf: bool) -> dict[str, float]:
    if not isinstance(data, Mapping) or (positive and not data):
        raise ArchError(f"{path}: expected a non-empty mapping of op type to number")
    return {(_name(k, f"{path}.{k}")): _number(v, f"{path}.{k}", positive=positive, allow_inf=allow_inf)
            for k, v in data.items()}


def from_dict(data: Mapping[str, Any], path: str = "arch") -> Arch:
    """Validate, normalize and build an `Arch`; every error names its path."""
    d = _keys(data, _ARCH_KEYS, path)
    levels_raw = d["levels"]
    if not isinstance(levels_raw, (list, tuple)) or not levels_raw:
        raise ArchError(f"{path}.levels: expected a non-empty list of levels, outermost first")
    levels = []
    for k, raw in enumerate(levels_raw):
        p = f"{path}.levels[{k}]"
        lv = _keys(raw, _LEVEL_KEYS, p)
        levels.append(Level(
            name=_name(lv["name"], f"{p}.name"),
            capacity_bytes=_number(lv["capacity_bytes"], f"{p}.capacity_bytes", integer=True, allow_none=True),
            bandwidth_bytes_per_s=_number(lv["bandwidth_bytes_per_s"], f"{p}.bandwidth_bytes_per_s", allow_none=True),
            fanout=_number(lv.get("fanout", 1), f"{p}.fanout", integer=True),
            read_energy_pj_per_byte=_number(lv.get("read_energy_pj_per_byte", 0.0), f"{p}.read_energy_pj_per_byte",
                                            positive=False),
            write_energy_pj_per_byte=_number(lv.get("write_energy_pj_per_byte", 0.0),
                                             f"{p}.write_energy_pj_per_byte", positive=False),
            latency_cycles=_number(lv.get("latency_cycles", 0), f"{p}.latency_cycles", positive=False, integer=True)))
    names = [lv.name for lv in levels]
    for k, n in enumerate(names):
        if n in names[:k]:
            raise ArchError(f"{path}.levels[{k}].name: duplicate level name {n!r}")
    units_raw = d["units"]
    if not isinstance(units_raw, (list, tuple)) or not units_raw:
        raise ArchError(f"{path}.units: expected a non-empty list of compute units")
    units = []
    for k, raw in enumerate(units_raw):
        p = f"{path}.units[{k}]"
        u = _keys(raw, _UNIT_KEYS, p)
        if u["level"] not in names:
            raise ArchError(f"{p}.level: unknown level {u['level']!r} (levels: {', '.join(names)})")
        pes = u["pes"]
        if not isinstance(pes, (list, tuple)) or not pes:
            raise ArchError(f"{p}.pes: expected a list of array dimensions, e.g. [256, 256]")
        units.append(Unit(
            name=_name(u["name"], f"{p}.name"), level=u["level"],
            pes=tuple(_number(x, f"{p}.pes[{i}]", integer=True) for i, x in enumerate(pes)),
            ops_per_cycle=_op_table(u["ops_per_cycle"], f"{p}.ops_per_cycle", positive=True, allow_inf=True),
            energy_pj_per_op=_op_table(u.get("energy_pj_per_op", {}), f"{p}.energy_pj_per_op", positive=False,
                                       allow_inf=False),
            count=_number(u.get("count", 1), f"{p}.count", integer=True),
            area_um2_per_pe=_number(u.get("area_um2_per_pe", 0.0), f"{p}.area_um2_per_pe", positive=False),
            register_entries=_number(u.get("register_entries", 0), f"{p}.register_entries", positive=False,
                                     integer=True),
            register_read_pj=_number(u.get("register_read_pj", 0.0), f"{p}.register_read_pj", positive=False),
            register_write_pj=_number(u.get("register_write_pj", 0.0), f"{p}.register_write_pj", positive=False),
            fill_drain_cycles=_number(u.get("fill_drain_cycles"), f"{p}.fill_drain_cycles", positive=False,
                                      integer=True, allow_none=True)))
    unit_names = [u.name for u in units]
    for k, n in enumerate(unit_names):
        if n in unit_names[:k] or n in names:
            raise ArchError(f"{path}.units[{k}].name: duplicate name {n!r}")
    measured = d.get("measured", {})
    if not isinstance(measured, Mapping):
        raise ArchError(f"{path}.measured: expected a mapping of ceiling name to number")
    for key in measured:
        head = str(key).split(".", 1)[0]
        if head not in names and head not in unit_names:
            raise ArchError(f"{path}.measured.{key}: must start with a level or unit name "
                            f"({', '.join(names + unit_names)})")
    notes = d.get("notes", "")
    if not isinstance(notes, str):
        raise ArchError(f"{path}.notes: expected text")
    return Arch(name=_name(d["name"], f"{path}.name"), clock_hz=_number(d["clock_hz"], f"{path}.clock_hz"),
                levels=tuple(levels), units=tuple(units),
                measured={str(k): _number(v, f"{path}.measured.{k}") for k, v in measured.items()},
                launch_overhead_s=_number(d.get("launch_overhead_s", 0.0), f"{path}.launch_overhead_s",
                                          positive=False),
                notes=notes)


def to_dict(arch: Arch) -> dict:
    """The inverse of `from_dict` (plain dicts and lists)."""
    return {
        "name": arch.name, "clock_hz": arch.clock_hz,
        "levels": [dict(vars(lv)) for lv in arch.levels],
        "units": [{**vars(u), "pes": list(u.pes), "ops_per_cycle": dict(u.ops_per_cycle),
                   "energy_pj_per_op": dict(u.energy_pj_per_op)} for u in arch.units],
        "measured": dict(arch.measured), "launch_overhead_s": arch.launch_overhead_s, "notes": arch.notes,
    }
