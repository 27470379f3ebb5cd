"""`sim.arch_variants`: architecture grids for sweeps, every variant built through the strict `accel.from_dict`.

Axes are aliases or field paths:
- `array`: n or (rows, cols) — every unit with a 2-D PE array gets (rows, cols), every 1-D one (cols,);
- `buffer_bytes`: the capacity of the first on-chip level that has one (FuseMax's global buffer, a GPU's L2);
- `dram_bytes_per_s`: the outermost level's bandwidth (its measured ceiling, if any, scaled alike);
- `sms`: the fan-out of the level above the SMs; levels below it, whose bandwidth is summed over their copies, and
  measured ceilings of units and levels below it scale alike;
- `clock_hz`;
- `"<level or unit>.<field>"`, e.g. `"GlobalBuffer.capacity_bytes"` or `"2d.pes"`.
Variant names are `base/axis=value/...`; the first axis varies slowest.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping as MappingType, Sequence

import numpy as np

import accel
from accel import Arch, ArchError

ALIASES = ("array", "buffer_bytes", "dram_bytes_per_s", "sms", "clock_hz")
MAX_VARIANTS = 1_000_000     # a grid larger than this is a mistake, refused before anything is built


def arch_variants(base: Arch, axes: MappingType[str, Sequence] | None = None, **more: Sequence) -> list[Arch]:
    """Every combination of the axes' values applied to `base` (see the module docstring)."""
    if not isinstance(base, Arch):
        raise ArchError(f"arch_variants: base must be an accel.Arch, got {type(base).__name__} "
                        f"(e.g. accel.preset('fusemax'))")
    if axes is not None and not isinstance(axes, MappingType):
        raise ArchError(f"arch_variants: axes must be a mapping of axis → values, got {type(axes).__name__}")
    grid = {**dict(axes or {}), **more}
    for name, values in grid.items():
        if not isinstance(name, str):
            raise ArchError(f"arch_variants: axis names are strings (aliases: {', '.join(ALIASES)}; or "
                            f"'<level or unit>.<field>'), got {name!r:.80}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ArchError(f"arch_variants: axis {name!r} needs a non-empty list of values, got {values!r:.80}")
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_VARIANTS:
        raise ArchError(f"arch_variants: {size} variants requested (at most {MAX_VARIANTS}); sweep fewer values")
    if not grid:
        return [base]
    names = list(grid)
    spec0 = accel.to_dict(base)
    return [_variant(base, spec0, names, values) for values in itertools.product(*(grid[n] for n in names))]


def _variant(base: Arch, spec0: dict, names: list[str], values: tuple) -> Arch:
    spec = _copy(spec0)
    label = [base.name]
    for name, value in zip(names, values):
        _apply(spec, name, value, base)
        label.append(f"{name}={_fmt(value)}")
    spec["name"] = "/".join(label)
    return accel.from_dict(spec, path=f"variant {spec['name']}")


def _copy(spec: Any) -> Any:
    if isinstance(spec, dict):
        return {k: _copy(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_copy(v) for v in spec]
    return spec


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:80]


def _apply(spec: dict, name: str, value: Any, base: Arch) -> None:
    aliases = {"array": _array, "buffer_bytes": _buffer, "dram_bytes_per_s": _dram, "sms": _sms, "clock_hz": _clock}
    if name in aliases:
        aliases[name](spec, value, base)
        return
    head, _, field = name.partition(".")
    target = next((x for x in spec["levels"] + spec["units"] if x["name"] == head), None)
    if target is None or not field or field not in target:
        raise ArchError(f"arch {base.name}: unknown sweep axis {name!r} (aliases: {', '.join(ALIASES)}; "
                        f"or '<level or unit>.<field>')")
    target[field] = list(value) if isinstance(value, tuple) else value


def _array(spec: dict, value: Any, base: Arch) -> None:
    dims = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(dims) != 2 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
                                 for d in dims):
        raise ArchError(f"arch {base.name}: sweep axis 'array' takes n or (rows, cols) integers, got {value!r:.80}")
    rows, cols = (int(d) for d in dims)
    units = spec["units"]
    has_2d = any(len(u["pes"]) == 2 for u in units)
    for u in units:
        if len(u["pes"]) == 2:
            u["pes"] = [rows, cols]
        elif len(u["pes"]) == 1 and has_2d:
            u["pes"] = [cols]


def _buffer(spec: dict, value: Any, base: Arch) -> None:
    lv = next((lv for lv in spec["levels"][1:] if lv["capacity_bytes"] is not None), None)
    if lv is None:
        raise ArchError(f"arch {base.name}: no on-chip level with a capacity for buffer_bytes")
    lv["capacity_bytes"] = value


def _dram(spec: dict, value: Any, base: Arch) -> None:
    outer = spec["levels"][0]
    _scale_measured(spec, [outer["name"]], _ratio(value, outer["bandwidth_bytes_per_s"], "dram_bytes_per_s", base))
    outer["bandwidth_bytes_per_s"] = value


def _sms(spec: dict, value: Any, base: Arch) -> None:
    levels = spec["levels"]
    k = next((k for k, lv in enumerate(levels) if lv.get("fanout", 1) > 1), None)
    if k is None:
        raise ArchError(f"arch {base.name}: no level fans out to SMs (fanout > 1)")
    ratio = _ratio(value, levels[k]["fanout"], "sms", base)
    levels[k]["fanout"] = value
    inner = [lv["name"] for lv in levels[k + 1:]]
    for lv in levels[k + 1:]:
        if lv["bandwidth_bytes_per_s"] is not None:
            lv["bandwidth_bytes_per_s"] *= ratio
    _scale_measured(spec, inner + [u["name"] for u in spec["units"] if u["level"] in inner], ratio)


def _clock(spec: dict, value: Any, base: Arch) -> None:
    spec["clock_hz"] = _positive(value, "clock_hz", base)


def _positive(value: Any, axis: str, base: Arch) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 < value < math.inf:
        raise ArchError(f"arch {base.name}: sweep axis {axis!r} needs positive finite numbers, got {value!r:.80}")
    return value


def _ratio(value: Any, current: Any, axis: str, base: Arch) -> float:
    _positive(value, axis, base)
    if not current:
        raise ArchError(f"arch {base.name}: sweep axis {axis!r} scales a field that is not set")
    return value / current


def _scale_measured(spec: dict, heads: list[str], ratio: float) -> None:
    measured = spec.get("measured") or {}
    spec["measured"] = {k: (v * ratio if k.split(".", 1)[0] in heads else v) for k, v in measured.items()}
