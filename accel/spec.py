"""Architecture specs: an ordered hierarchy of memory levels (outermost first) with explicit spatial fan-out, and the
compute units attached to them. Plain frozen, hashable data, built through the strict `accel.from_dict` (or
`accel.load` for files); the queries below answer what the simulator asks of a spec.

Each field states its own schema in its metadata (meaning, unit, range, what null means): `accel.schema` derives the
parser, `to_dict` and the generated page docs/arch-schema.md from it, so adding a field is one edit here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from workloads.frozen import FrozenDict

from accel.errors import ArchError, show

__all__ = ["Arch", "ArchError", "Level", "Unit", "fill_drain", "instances", "level", "op_rate", "path_to", "pe_count",
           "unit", "unit_instances"]

REQUIRED = dataclasses.MISSING


def key(doc: str, *, default: Any = REQUIRED, unit: str = "", low: float | None = None, high: float | None = None,
        above: bool = False, null: str = "", inf: str = "", limit: int | None = None, is_name: bool = False,
        dots: bool = True) -> Any:
    """A spec field with its schema: `doc` (meaning), `unit`, the accepted range `low…high` (`above`: low itself
    excluded), what `null` and `inf` mean where they are allowed, `limit` (most entries or characters), and for text
    whether it `is_name` (no spaces; `dots=False`: no dots either, as level and unit names head dotted keys)."""
    meta = dict(doc=doc, unit=unit, low=low, high=high, above=above, null=null, inf=inf, limit=limit,
                is_name=is_name, dots=dots)
    return dataclasses.field(default=default, metadata=meta)


def _freeze_fields(record: Any, tables: tuple[str, ...], tuples: tuple[str, ...]) -> None:
    """Direct construction freezes too: mappings become FrozenDicts and sequences tuples (values are not checked:
    that is `from_dict`'s job)."""
    for name in tables:
        value = getattr(record, name)
        if not isinstance(value, FrozenDict):
            object.__setattr__(record, name, FrozenDict(value))
    for name in tuples:
        value = getattr(record, name)
        if not isinstance(value, tuple):
            object.__setattr__(record, name, tuple(value))


@dataclass(frozen=True)
class Level:
    """A memory level. `fanout` copies of the next inner level hang under each instance of this one."""
    name: str = key("level name, unique in the arch", is_name=True, dots=False, limit=64)
    capacity_bytes: int | None = key("capacity of one instance", default=None, unit="B", low=1, high=2 ** 60,
                                     null="unbounded (only the outermost level may be)")
    bandwidth_bytes_per_s: float | None = key("bandwidth summed over all instances", default=None, unit="B/s",
                                              low=1e3, high=1e18, null="not a bottleneck (its transfers take no time)")
    fanout: int = key("copies of the next inner level under each instance of this one", default=1, low=1,
                      high=2 ** 24)
    read_energy_pj_per_byte: float = key("energy of reading one byte", default=0.0, unit="pJ/B", low=0, high=1e6)
    write_energy_pj_per_byte: float = key("energy of writing one byte", default=0.0, unit="pJ/B", low=0, high=1e6)
    latency_cycles: int = key("access latency", default=0, unit="cycles", low=0, high=2 ** 32)


@dataclass(frozen=True)
class Unit:
    """A compute unit: `count` PE arrays of shape `pes` under each instance of memory level `level`.

    `ops_per_cycle[op]` is one PE's throughput for that op type (`mac`, `add`, `exp`, ... optionally qualified by
    dtype, `mac.fp8`); a PE runs the ops of a point one after another. `inf` marks an op absorbed into another op's
    pipeline (free).
    """
    name: str = key("unit name, unique among levels and units", is_name=True, dots=False, limit=64)
    level: str = key("the memory level it hangs under (a level name)", is_name=True, dots=False, limit=64)
    pes: tuple[int, ...] = key("PE array shape, e.g. [256, 256] or [256]", unit="PEs", low=1, high=2 ** 20, limit=4)
    ops_per_cycle: Mapping[str, float] = key("op type (`mac`, `exp`, `mac.fp8`, ...) → one PE's throughput",
                                             unit="ops/cycle", low=1e-6, high=1e6, limit=256,
                                             inf="free (absorbed into another op's pipeline)")
    energy_pj_per_op: Mapping[str, float] = key("op type → energy of one op", default=FrozenDict(), unit="pJ",
                                                low=0, high=1e6, limit=256)
    count: int = key("PE arrays under each instance of `level`", default=1, low=1, high=2 ** 20)
    area_um2_per_pe: float = key("area of one PE", default=0.0, unit="µm²", low=0, high=1e11)
    register_entries: int = key("register-file entries per PE", default=0, low=0, high=2 ** 32)
    register_read_pj: float = key("energy of one register read", default=0.0, unit="pJ", low=0, high=1e6)
    register_write_pj: float = key("energy of one register write", default=0.0, unit="pJ", low=0, high=1e6)
    fill_drain_cycles: int | None = key("pipeline fill + drain of one tile", default=None, unit="cycles", low=0,
                                        high=2 ** 32, null="the systolic skew, rows + cols − 2 on a 2-D array "
                                                           "(0 on a 1-D one)")

    def __post_init__(self) -> None:
        _freeze_fields(self, ("ops_per_cycle", "energy_pj_per_op"), ("pes",))


@dataclass(frozen=True)
class Arch:
    """A whole machine: a clock, memory levels outermost first (DRAM/HBM first, registers last), compute units
    attached to levels, and optional measured ceilings (`measured["HBM.bytes_per_s"]`) used in place of peaks."""
    name: str = key("architecture name", is_name=True, limit=256)
    clock_hz: float = key("clock frequency", unit="Hz", low=1e3, high=1e11)
    levels: tuple[Level, ...] = key("memory levels, outermost first", limit=32)
    units: tuple[Unit, ...] = key("compute units", limit=64)
    measured: Mapping[str, float] = key("measured ceilings, `<level or unit>.<what>` → value (e.g. "
                                        "`HBM.bytes_per_s`, `tensor.bf16_flops_per_s`)", default=FrozenDict(),
                                        unit="B/s or ops/s", low=0, above=True, high=1e21, limit=64)
    launch_overhead_s: float = key("time one dependent kernel launch adds", default=0.0, unit="s", low=0, high=1.0)
    static_power_w: float = key("power drawn whatever the work (leakage, clock tree, idle memory), charged over a "
                                "run's latency", default=0.0, unit="W", low=0, high=1e7)
    notes: str = key("free text: sources and assumptions", default="", limit=10_000)

    def __post_init__(self) -> None:
        _freeze_fields(self, ("measured",), ("levels", "units"))


# ---- queries ---------------------------------------------------------------------------------------------------

def _check_arch(arch: Any, caller: str) -> None:
    if not isinstance(arch, Arch):
        hint = f" (a preset name? use accel.preset({show(arch)}))" if isinstance(arch, str) else ""
        raise ArchError(f"accel.{caller}: expected an accel.Arch, got {type(arch).__name__} {show(arch)}{hint}")


def _check_unit(u: Any, caller: str) -> None:
    if not isinstance(u, Unit):
        hint = f" (a unit name? use accel.unit(arch, {show(u)}))" if isinstance(u, str) else ""
        raise ArchError(f"accel.{caller}: expected an accel.Unit, got {type(u).__name__} {show(u)}{hint}")


def _check_name(name: Any, caller: str, what: str) -> None:
    if not isinstance(name, str):
        raise ArchError(f"accel.{caller}: expected a {what} name (str), got {type(name).__name__} {show(name)}")


def level(arch: Arch, name: str) -> Level:
    """The level called `name`; an unknown name lists the arch's levels."""
    _check_arch(arch, "level")
    _check_name(name, "level", "level")
    for lv in arch.levels:
        if lv.name == name:
            return lv
    raise ArchError(f"arch {arch.name}: no level {show(name)} (levels: {', '.join(lv.name for lv in arch.levels)})")


def unit(arch: Arch, name: str) -> Unit:
    """The compute unit called `name`; an unknown name lists the arch's units."""
    _check_arch(arch, "unit")
    _check_name(name, "unit", "unit")
    for u in arch.units:
        if u.name == name:
            return u
    raise ArchError(f"arch {arch.name}: no unit {show(name)} (units: {', '.join(u.name for u in arch.units)})")


def instances(arch: Arch, level_name: str) -> int:
    """How many copies of a level exist: the product of the fan-outs above it."""
    _check_arch(arch, "instances")
    _check_name(level_name, "instances", "level")
    count = 1
    for lv in arch.levels:
        if lv.name == level_name:
            return count
        count *= lv.fanout
    raise ArchError(f"arch {arch.name}: no level {show(level_name)}")


def unit_instances(arch: Arch, u: Unit) -> int:
    """How many PE arrays of this unit the whole machine has."""
    _check_arch(arch, "unit_instances")
    _check_unit(u, "unit_instances")
    return instances(arch, u.level) * u.count


def pe_count(arch: Arch, u: Unit) -> int:
    """PEs of this unit in the whole machine."""
    _check_arch(arch, "pe_count")
    _check_unit(u, "pe_count")
    return math.prod(u.pes) * unit_instances(arch, u)


def op_rate(u: Unit, op: str, dtype: str | None = None) -> float | None:
    """One PE's throughput for an op type (dtype-qualified first), or None if the unit cannot run it."""
    _check_unit(u, "op_rate")
    _check_name(op, "op_rate", "op")
    if dtype is not None and f"{op}.{dtype}" in u.ops_per_cycle:
        return u.ops_per_cycle[f"{op}.{dtype}"]
    return u.ops_per_cycle.get(op)


def fill_drain(u: Unit) -> int:
    """Cycles to fill and drain the unit's PE array for one tile: its spec's `fill_drain_cycles`, else the skew of a
    systolic wavefront, rows + cols − 2, on a 2-D array (0 on a 1-D one)."""
    _check_unit(u, "fill_drain")
    if u.fill_drain_cycles is not None:
        return u.fill_drain_cycles
    return u.pes[0] + u.pes[1] - 2 if len(u.pes) == 2 else 0


def path_to(arch: Arch, level_name: str) -> tuple[Level, ...]:
    """Levels from the outermost down to `level_name` inclusive: what data must cross to reach it."""
    _check_arch(arch, "path_to")
    _check_name(level_name, "path_to", "level")
    names = [lv.name for lv in arch.levels]
    if level_name not in names:
        raise ArchError(f"arch {arch.name}: no level {show(level_name)}")
    return arch.levels[: names.index(level_name) + 1]
