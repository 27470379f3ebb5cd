"""Architecture transformations for sweeps: `variant(base, array=128)` is one changed arch, `variants(base, axes)`
the grid of every combination (first axis slowest), each rebuilt through the strict `from_dict`.

Axes are aliases or field paths:
- `array`: n or (rows, cols) — every unit with a 2-D PE array gets (rows, cols), and every 1-D one (cols,) when the
  arch has a 2-D array (a 1-D array spans the 2-D array's columns, as FuseMax's does);
- `buffer_bytes`: the capacity of the first level below the outermost that has one (a global buffer, a GPU's L2);
- `dram_bytes_per_s`: the outermost level's bandwidth; its measured ceilings scale alike;
- `sms`: the fan-out of the first level that fans out (the level above the SMs); the bandwidths of the levels
  below it, which are summed over their copies, and the measured ceilings of the levels and units below it scale
  alike;
- `clock_hz`;
- `"<level or unit>.<field>"`, e.g. `"GlobalBuffer.capacity_bytes"` or `"2d.pes"`.
Variant names are `base/axis=value/...`.
"""
from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from accel.errors import ArchError, show
from accel.schema import from_dict, to_dict
from accel.spec import Arch, _check_arch

ALIASES = ("array", "buffer_bytes", "dram_bytes_per_s", "sms", "clock_hz")
# Variants one grid may hold: a sweep past this is a mistake in the axes, not a plan.
MAX_VARIANTS = 100_000


def _label(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _real(name: str, value: Any, base: Arch) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ArchError(f"arch {base.name}: sweep axis {name!r} needs a positive number, got {show(value)}")
    return value


def _array(spec: dict, value: Any, base: Arch) -> None:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        rows, cols = value, value
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        rows, cols = value
    else:
        raise ArchError(f"arch {base.name}: sweep axis 'array' needs n or (rows, cols), got {show(value)}")
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


def _scale_measured(spec: dict, heads: list[str], ratio: float) -> None:
    spec["measured"] = {k: (v * ratio if k.split(".", 1)[0] in heads else v) for k, v in spec["measured"].items()}


def _dram(spec: dict, value: Any, base: Arch) -> None:
    outer = spec["levels"][0]
    value = _real("dram_bytes_per_s", value, base)
    if outer["bandwidth_bytes_per_s"] is not None:
        _scale_measured(spec, [outer["name"]], value / outer["bandwidth_bytes_per_s"])
    elif any(k.split(".", 1)[0] == outer["name"] for k in spec["measured"]):
        raise ArchError(f"arch {base.name}: level {outer['name']!r} has no bandwidth to scale its measured "
                        f"ceilings from")
    outer["bandwidth_bytes_per_s"] = value


def _sms(spec: dict, value: Any, base: Arch) -> None:
    levels, units = spec["levels"], spec["units"]
    k = next((k for k, lv in enumerate(levels) if lv["fanout"] > 1), None)
    if k is None:
        raise ArchError(f"arch {base.name}: no level fans out to SMs (fanout > 1)")
    ratio = _real("sms", value, base) / levels[k]["fanout"]
    levels[k]["fanout"] = value
    inner = [lv["name"] for lv in levels[k + 1:]]
    for lv in levels[k + 1:]:
        if lv["bandwidth_bytes_per_s"] is not None:
            lv["bandwidth_bytes_per_s"] *= ratio
    _scale_measured(spec, inner + [u["name"] for u in units if u["level"] in inner], ratio)


def _clock(spec: dict, value: Any, base: Arch) -> None:
    spec["clock_hz"] = value


_ALIAS_CHANGES = {"array": _array, "buffer_bytes": _buffer, "dram_bytes_per_s": _dram, "sms": _sms,
                  "clock_hz": _clock}


def _field(spec: dict, name: str, value: Any, base: Arch) -> None:
    head, _, field = name.partition(".")
    target = next((x for x in spec["levels"] + spec["units"] if x["name"] == head), None)
    if target is None or not field or field not in target:
        raise ArchError(f"arch {base.name}: unknown sweep axis {show(name)} (aliases: {', '.join(ALIASES)}; or "
                        f"'<level or unit>.<field>' with a level or unit of "
                        f"{', '.join(x['name'] for x in spec['levels'] + spec['units'])})")
    target[field] = list(value) if isinstance(value, tuple) else value


def _apply(spec: dict, name: str, value: Any, base: Arch) -> None:
    if not isinstance(name, str):
        raise ArchError(f"arch {base.name}: a sweep axis is named by text, got {show(name)}")
    change = _ALIAS_CHANGES.get(name)
    if change is None:
        _field(spec, name, value, base)
    else:
        change(spec, value, base)


def _changed(base: Arch, changes: Sequence[tuple[str, Any]]) -> Arch:
    spec = to_dict(base)
    for name, value in changes:
        _apply(spec, name, value, base)
    spec["name"] = "/".join([base.name] + [f"{name}={_label(value)}" for name, value in changes])
    return from_dict(spec, path=f"variant {spec['name']}")


def variant(base: Arch, changes: Mapping[str, Any] | None = None, /, **more: Any) -> Arch:
    """`base` with each axis set to one value (see the module docstring), named `base/axis=value/...`; `base`
    itself if nothing changes. Field paths contain a dot, so pass them in `changes`:
    `variant(a, {"GlobalBuffer.capacity_bytes": 1 << 20})`."""
    _check_arch(base, "variant")
    if changes is not None and not isinstance(changes, Mapping):
        raise ArchError(f"accel.variant: changes must be a mapping of axis to value, got {type(changes).__name__}")
    merged = {**dict(changes or {}), **more}
    return _changed(base, list(merged.items())) if merged else base


def _axis_values(name: Any, values: Any) -> list:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, range)):
        raise ArchError(f"accel.variants: axis {show(name)} needs a list of values, got {type(values).__name__} "
                        f"{show(values)}")
    if not values:
        raise ArchError(f"accel.variants: axis {show(name)} has no values")
    return list(values)


def variants(base: Arch, axes: Mapping[str, Sequence] | None = None, /, **more: Sequence) -> list[Arch]:
    """Every combination of the axes' values applied to `base` (first axis slowest), each built by `from_dict` and
    named `base/axis=value/...`; `[base]` without axes. See the module docstring for the axes."""
    _check_arch(base, "variants")
    if axes is not None and not isinstance(axes, Mapping):
        raise ArchError(f"accel.variants: axes must be a mapping of axis to values, got {type(axes).__name__}")
    grid = {**dict(axes or {}), **more}
    if not grid:
        return [base]
    values = [_axis_values(name, v) for name, v in grid.items()]
    size = math.prod(len(v) for v in values)
    if size > MAX_VARIANTS:
        raise ArchError(f"accel.variants: a grid of {size} variants; at most {MAX_VARIANTS} (fewer values per axis)")
    return [_changed(base, list(zip(grid, combo))) for combo in itertools.product(*values)]
