"""The first honest answer: per-Einsum compute and traffic bounds, and the cascade's lower bound on latency.

Compute: each Einsum's ops run on a unit (`binding`: Einsum → unit; by default the fastest unit that can run
all its ops, else each op type on its fastest unit). Busy time per unit is summed over Einsums; units run in
parallel. Traffic: under perfect fusion only compulsory bytes (inputs read once, output written once) must
cross each level between the outermost level and the units. The lower bound is the largest of all unit busy
times and level transfer times — a true bound for that binding, whatever the schedule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.ir.mapping import MappingError


@dataclass(frozen=True)
class EinsumBound:
    einsum: str
    ops: Mapping[str, int]
    flops: int                          # MAC FLOPs (2 per MAC)
    compute_s: Mapping[str, float]      # unit → seconds of this Einsum's work bound to it
    traffic_bytes: int                  # compulsory bytes attributed to this Einsum
    traffic_s: Mapping[str, float]      # level → seconds to move them across it
    unfused_bytes: int                  # bytes if the Einsum ran alone through memory
    bound_s: float
    binding: str                        # the unit or level that sets bound_s


@dataclass(frozen=True)
class Roofline:
    cascade: str
    arch: str
    rows: tuple[EinsumBound, ...]
    unit_s: Mapping[str, float]         # busy seconds per unit, all Einsums
    level_s: Mapping[str, float]        # transfer seconds per level, all compulsory bytes
    lower_bound_s: float
    binding: str
    flops: int
    ops: int                            # all ops, a MAC counted as 2
    compulsory_bytes: int

    def __str__(self) -> str:
        units = list(self.unit_s)
        levels = [lv for lv in self.level_s]
        head = ["Einsum", "MAC FLOP", *[f"{u} µs" for u in units], *[f"{lv} µs" for lv in levels], "bound µs", "binds"]
        lines = [head]
        for r in self.rows:
            lines.append([r.einsum, f"{r.flops:.3g}", *[_us(r.compute_s.get(u, 0.0)) for u in units],
                          *[_us(r.traffic_s.get(lv, 0.0)) for lv in levels], _us(r.bound_s), r.binding])
        lines.append(["total", f"{self.flops:.3g}", *[_us(self.unit_s[u]) for u in units],
                      *[_us(self.level_s[lv]) for lv in levels], _us(self.lower_bound_s), self.binding])
        widths = [max(len(row[k]) for row in lines) for k in range(len(head))]
        text = [f"roofline of {self.cascade} on {self.arch}: lower bound {_us(self.lower_bound_s)} µs, "
                f"bound by {self.binding}; {self.flops:.4g} MAC FLOP, {self.compulsory_bytes:.4g} compulsory bytes, "
                f"intensity {self.flops / max(self.compulsory_bytes, 1):.4g} FLOP/B"]
        for k, row in enumerate(lines):
            text.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                                  enumerate(zip(row, widths))))
            if k == 0 or k == len(lines) - 2:
                text.append("  ".join("-" * w for w in widths))
        return "\n".join(text)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.4g}"


def unit_rate(arch: Arch, unit: accel.Unit, op: str, dtype: str) -> float | None:
    """Whole-machine ops per second of one op type on a unit (None if it cannot run it; inf if free)."""
    rate = accel.op_rate(unit, op, dtype)
    if rate is None:
        return None
    return rate * accel.pe_count(arch, unit) * arch.clock_hz


def _time(arch: Arch, unit: accel.Unit, ops: Mapping[str, int], dtype: str) -> float | None:
    total = 0.0
    for op, n in ops.items():
        rate = unit_rate(arch, unit, op, dtype)
        if rate is None:
            return None
        total += n / rate
    return total


def assign(cascade: Cascade, arch: Arch, binding: Mapping[str, str] | None = None) -> dict[str, dict[str, dict]]:
    """Einsum → unit → ops bound there."""
    counts = workloads.op_counts(cascade)
    binding = dict(binding or {})
    unknown = [n for n in binding if n not in counts]
    if unknown:
        raise MappingError(f"binding names unknown Einsum {unknown[0]!r} (Einsums: {', '.join(counts)})")
    result = {}
    for name, ops in counts.items():
        if name in binding:
            unit = accel.unit(arch, binding[name])
            if _time(arch, unit, ops, cascade.dtype) is None:
                missing = [op for op in ops if accel.op_rate(unit, op, cascade.dtype) is None]
                raise MappingError(f"Einsum {name}: unit {unit.name} of {arch.name} cannot run op {missing[0]!r}")
            result[name] = {unit.name: dict(ops)}
            continue
        whole = [(t, u.name) for u in arch.units if (t := _time(arch, u, ops, cascade.dtype)) is not None]
        if whole:
            result[name] = {min(whole)[1]: dict(ops)}
            continue
        split: dict[str, dict[str, int]] = {}
        for op, n in ops.items():
            options = [(n / r, u.name) for u in arch.units if (r := unit_rate(arch, u, op, cascade.dtype))]
            if not options:
                raise MappingError(f"Einsum {name}: no unit of {arch.name} can run op {op!r}")
            split.setdefault(min(options)[1], {})[op] = n
        result[name] = split
    return result


def roofline(cascade: Cascade, arch: Arch, binding: Mapping[str, str] | None = None) -> Roofline:
    """Per-Einsum compute and compulsory-traffic bounds and the cascade's total lower bound."""
    assignment = assign(cascade, arch, binding)
    size = workloads.DTYPE_BYTES[cascade.dtype]
    touch = workloads.first_touch(cascade)
    unfused = workloads.operand_bytes(cascade)
    counts = workloads.op_counts(cascade)
    path_levels = {}
    for u in arch.units:
        for lv in accel.path_to(arch, u.level):
            if lv.bandwidth_bytes_per_s is not None:
                path_levels[lv.name] = lv.bandwidth_bytes_per_s
    unit_s = {u.name: 0.0 for u in arch.units}
    level_s = {name: 0.0 for name in path_levels}
    rows = []
    for name in touch:
        compute = {}
        for unit_name, ops in assignment[name].items():
            compute[unit_name] = _time(arch, accel.unit(arch, unit_name), ops, cascade.dtype)
            unit_s[unit_name] += compute[unit_name]
        moved = size * sum(workloads.compulsory_elements(cascade, t) if t in cascade.inputs
                           else workloads.elements(cascade, t) for t in touch[name])
        traffic = {lv: moved / bw for lv, bw in path_levels.items()}
        for lv, t in traffic.items():
            level_s[lv] += t
        candidates = list(compute.items()) + list(traffic.items())
        binds, bound = max(candidates, key=lambda kv: kv[1]) if candidates else ("-", 0.0)
        ops = counts[name]
        rows.append(EinsumBound(name, ops, 2 * ops.get("mac", 0), compute, moved, traffic, unfused[name], bound,
                                binds))
    candidates = list(unit_s.items()) + list(level_s.items())
    binding_name, lower = max(candidates, key=lambda kv: kv[1])
    total = workloads.total_ops(cascade)
    return Roofline(cascade.name, arch.name, tuple(rows), unit_s, level_s, lower, binding_name,
                    workloads.flops(cascade), sum(total.values()) + total.get("mac", 0),
                    workloads.compulsory_bytes(cascade))
