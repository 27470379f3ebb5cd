"""Rules across keys of an arch spec, checked after each key on its own: unique names, units attached to existing
levels, measured ceilings named after a level or unit (and not above its peak), levels listed outermost first, and
machine-wide sizes within stated limits. They read the checked records of `accel.schema.record` (bad values are INVALID and skipped)."""
from __future__ import annotations

import math
from typing import Any

from accel.errors import INVALID, Problems, show

# Copies of one level in the whole machine (the product of the fan-outs above it), and PEs of one unit in the whole
# machine: stated limits (a wafer-scale part has ~10^6 cores) that keep every count downstream an exact integer.
MAX_INSTANCES = 2 ** 32
MAX_PES = 2 ** 40

ORDER = "levels go outermost first (DRAM/HBM first, registers last)"


def _valid(entries: Any) -> list[tuple[int, dict]]:
    """(index, record) of the well-formed entries of a checked list."""
    return [(i, e) for i, e in enumerate(entries) if isinstance(e, dict)] if isinstance(entries, list) else []


def _names(entries: list[tuple[int, dict]], where: str, what: str, taken: tuple[str, ...],
           problems: Problems) -> tuple[str, ...]:
    seen: list[str] = []
    for i, e in entries:
        n = e["name"]
        if n is INVALID:
            continue
        if n in seen or n in taken:
            problems.add((where, i, "name"), f"duplicate {what}name {show(n)}")
        seen.append(n)
    return tuple(seen)


def _complete(fields: dict, where: str) -> bool:
    """Whether every entry of a list and its name checked out (so a name missing from it is really missing)."""
    entries = fields[where]
    return isinstance(entries, list) and all(isinstance(e, dict) and e["name"] is not INVALID for e in entries)


def _check_order(levels: list[tuple[int, dict]], problems: Problems) -> None:
    """Only the outermost level may be unbounded, and capacity per instance may not grow inward, except between two
    adjacent levels below the outermost that no fan-out separates: peers in one core, like an H100 SM's 256 KB
    register file beside its 228 KB of shared memory (NVIDIA H100 Tensor Core GPU Architecture whitepaper, 2022)."""
    by_index = dict(levels)
    for i, lv in levels:
        cap = lv["capacity_bytes"]
        if i > 0 and cap is None:
            problems.add(("levels", i, "capacity_bytes"), f"level {show(lv['name'])} is unbounded (null) but is not "
                                                          f"the outermost level; {ORDER}, and only the outermost may "
                                                          f"be unbounded")
        if not isinstance(cap, int):
            continue
        for j in range(i):
            outer = by_index.get(j)
            if outer is None or not isinstance(outer["capacity_bytes"], int) or cap <= outer["capacity_bytes"]:
                continue
            if j == i - 1 and j > 0 and outer["fanout"] == 1:
                continue
            problems.add(("levels", i, "capacity_bytes"),
                         f"level {show(lv['name'])} holds {cap} bytes per instance, more than the outer level "
                         f"levels[{j}] {show(outer['name'])} ({outer['capacity_bytes']} bytes); {ORDER}")
            break


def _check_sizes(levels: list[tuple[int, dict]], units: list[tuple[int, dict]], complete: bool,
                 problems: Problems) -> None:
    copies, count = {}, 1
    for i, lv in levels:
        copies[lv["name"]] = count
        if count > MAX_INSTANCES:
            problems.add(("levels", i), f"{count} copies in the machine (the product of the fan-outs above it); "
                                        f"at most 2^{MAX_INSTANCES.bit_length() - 1}")
            return
        count = count * lv["fanout"] if isinstance(lv["fanout"], int) else count
    for i, u in units:
        if not complete or u["level"] not in copies or u["pes"] is INVALID or u["count"] is INVALID:
            continue
        total = math.prod(u["pes"]) * u["count"] * copies[u["level"]]
        if total > MAX_PES:
            problems.add(("units", i), f"{total} PEs in the machine (pes × count × copies of level "
                                       f"{show(u['level'])}); at most 2^{MAX_PES.bit_length() - 1}")


def check_rules(fields: dict, problems: Problems) -> None:
    """Record every broken rule across the keys of one checked arch record."""
    levels, units = _valid(fields["levels"]), _valid(fields["units"])
    level_names = _names(levels, "levels", "level ", (), problems)
    unit_names = _names(units, "units", "", level_names, problems)
    levels_ok, units_ok = _complete(fields, "levels"), _complete(fields, "units")
    if levels_ok:
        for i, u in units:
            if u["level"] is not INVALID and u["level"] not in level_names:
                problems.add(("units", i, "level"), f"unknown level {show(u['level'])} (levels: "
                                                    f"{', '.join(level_names)})")
    _check_order(levels, problems)
    _check_sizes(levels, units, levels_ok, problems)
    if levels_ok and units_ok:
        _check_measured(fields["measured"], levels, level_names + unit_names, problems)


def _check_measured(measured: Any, levels: list[tuple[int, dict]], heads: tuple[str, ...],
                    problems: Problems) -> None:
    """Measured ceilings name a level or unit, and a level's measured `bytes_per_s` does not beat its peak."""
    if not hasattr(measured, "items"):
        return
    peaks = {lv["name"]: lv["bandwidth_bytes_per_s"] for _, lv in levels}
    for key, value in measured.items():
        head, _, what = str(key).partition(".")
        if head not in heads:
            problems.add(("measured", key), f"must start with a level or unit name ({', '.join(heads)})")
        elif what == "bytes_per_s" and isinstance(peaks.get(head), float) and isinstance(value, float) \
                and value > peaks[head]:
            problems.add(("measured", key), f"{value:g} B/s is above the peak bandwidth of level {show(head)} "
                                            f"({peaks[head]:g} B/s); a measured ceiling cannot beat the peak")
