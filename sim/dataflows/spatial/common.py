"""What every spatial lowering shares: the arch facts it reads, the checks behind `supports`, tile arithmetic
(cycles from the cascade's exact op counts), action counts, and the validation of mapping pins."""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping as MappingType

import numpy as np

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.ir.mapping import MappingError
from sim.ir.program import Program

__all__ = ["ArchFacts", "DOUBLE", "MAX_TICKS", "OPERANDS_PER_SLOT", "actions", "arch_facts", "arch_problem",
           "check_pins", "check_ticks", "crossing_latency", "cycles", "divisors", "dram_cycles", "largest_divisor",
           "pin_bool", "pin_int", "precision_problem", "reduction_drain", "tile_ops", "tiling_hint", "unbound_op"]

PRECISION = "fp16"   # FuseMax and FLAT are evaluated in FP16 (FuseMax, MICRO 2024, §V); the presets' rates and
#                      energies are FP16 figures, so other dtypes are refused rather than costed as FP16.
DOUBLE = 2           # copies of a double-buffered operand: one in use while the next one loads
OPERANDS_PER_SLOT = 2  # an op slot reads two register operands (and writes one result)
MAX_TICKS = 2 ** 62  # the engine counts ticks in int64: a program that could run longer is refused, not wrapped
GLOBAL_BUFFER = "GlobalBuffer"
MOVED_PARAMS = {
    "fill_drain": "a hardware fact: set the 2d unit's fill_drain_cycles in the arch",
    "group": "a simulation option: sim.evaluate(..., options=sim.Options(tile_group=...))",
    "spill": "derived from the buffer (shown in the result's notes)",
    "granularity": "derived from rows (rows = M is head granularity)",
}


@dataclass(frozen=True)
class ArchFacts:
    """The facts of a spatial arch a lowering reads: the 2D array's shape, PE counts, the global buffer, DRAM
    bytes per cycle (None: unlimited), the 2D array's reduction drain (`reduction_drain`) and the DRAM latency in
    cycles, and the level-byte columns."""
    rows: int
    cols: int
    pes2: int
    pes1: int
    buffer: int
    bytes_per_cycle: float | None
    drain: int
    dram_latency: int
    levels: tuple[str, ...]

    @property
    def outer(self) -> str:
        """The outermost level's name (DRAM)."""
        return self.levels[0].split(".")[0]


def arch_problem(arch: Arch, units: Iterable[str]) -> str | None:
    """Why `arch` is not a spatial array these lowerings model (None if it is): exactly two levels, DRAM then a
    GlobalBuffer of bounded capacity and unlimited bandwidth, the named units under the buffer, one array each."""
    names = tuple(lv.name for lv in arch.levels)
    if len(names) != 2 or names[1] != GLOBAL_BUFFER:
        return f"needs two memory levels, DRAM then {GLOBAL_BUFFER} (this arch has {', '.join(names)})"
    gb = arch.levels[1]
    if gb.capacity_bytes is None:
        return f"needs a {GLOBAL_BUFFER} of bounded capacity"
    if gb.bandwidth_bytes_per_s is not None:
        return (f"models a {GLOBAL_BUFFER} that feeds the arrays at their rate; its bandwidth_bytes_per_s must be "
                f"null (this arch sets {gb.bandwidth_bytes_per_s:g} B/s)")
    if arch.levels[0].fanout != 1:
        return f"models one {GLOBAL_BUFFER} (this arch's DRAM fans out to {arch.levels[0].fanout})"
    have = {u.name: u for u in arch.units}
    for name in units:
        u = have.get(name)
        if u is None:
            return f"needs a unit {name!r} (this arch has {', '.join(have) or 'none'})"
        if u.level != GLOBAL_BUFFER or u.count != 1:
            return f"needs one {name!r} array under the {GLOBAL_BUFFER} (unit {name} has count {u.count} " \
                   f"under {u.level})"
    dims = {"2d": 2, "1d": 1}
    bad = [n for n in units if n in dims and len(have[n].pes) != dims[n]]
    if bad:
        return f"unit {bad[0]!r} must be a {dims[bad[0]]}-D PE array (pes={list(have[bad[0]].pes)})"
    return None


def arch_facts(arch: Arch, with_1d: bool = True) -> ArchFacts:
    """The lowering's view of an arch that `arch_problem` accepted."""
    two = accel.unit(arch, "2d")
    dram, gb = arch.levels
    bw = dram.bandwidth_bytes_per_s
    return ArchFacts(rows=two.pes[0], cols=two.pes[1], pes2=accel.pe_count(arch, two),
                     pes1=accel.pe_count(arch, accel.unit(arch, "1d")) if with_1d else 0,
                     buffer=int(gb.capacity_bytes), bytes_per_cycle=None if bw is None else bw / arch.clock_hz,
                     drain=reduction_drain(two), dram_latency=int(dram.latency_cycles),
                     levels=(f"{dram.name}.read", f"{dram.name}.write", f"{gb.name}.read", f"{gb.name}.write"))


def reduction_drain(two: accel.Unit) -> int:
    """Cycles after which a result reduced spatially over the 2D array's rows (the key rank P0) leaves the array:
    the chain down its rows, ~256 cycles on a 256-row array (FuseMax, MICRO 2024, §IV: "~256 cycles to fill and
    drain"). Of the tile's fill/drain (`accel.fill_drain`: the wavefront's R + C − 2 unless the spec sets another)
    the columns' skew, C − 1, is paid once per block, not at every crossing (each column hands its own results to
    its own 1D PE), so the drain is the rest: R − 1 by default."""
    return max(0, accel.fill_drain(two) - (two.pes[1] - 1))


def crossing_latency(drain: int, producer: int, consumer: int) -> int:
    """Cycles a consumer on the other array waits after its producer op ends: the producer's results leave the
    array in the order computed, each `drain` cycles after it, and the consumer takes them at its own pace, so it
    ends no earlier than drain + max(producer, consumer) cycles after the producer started."""
    return max(0, drain - min(producer, consumer))


def precision_problem(cascade: Cascade) -> str | None:
    """Why the cascade's dtype is not modelled on spatial arrays (None if it is)."""
    if cascade.dtype != PRECISION:
        return (f"spatial arrays are modelled in {PRECISION} (FuseMax/FLAT datapaths, rates and energies); "
                f"dtype {cascade.dtype} is not modelled")
    return None


def unbound_op(cascade: Cascade, arch: Arch, binding: MappingType[str, str]) -> str | None:
    """The first op an Einsum's bound unit cannot run, as a reason (None if every op has a rate)."""
    for e, ops in workloads.op_counts(cascade).items():
        u = accel.unit(arch, binding[e])
        missing = [op for op in ops if accel.op_rate(u, op, cascade.dtype) is None]
        if missing:
            return f"Einsum {e} is bound to {u.name}, which cannot run {missing[0]!r}"
    return None


def dram_cycles(nbytes, bytes_per_cycle: float | None) -> np.ndarray:
    """Cycles to move `nbytes` at the DRAM's bytes per cycle (0 if unlimited)."""
    if bytes_per_cycle is None:
        return np.zeros_like(np.asarray(nbytes, np.int64))
    return np.ceil(np.asarray(nbytes, np.float64) / bytes_per_cycle).astype(np.int64)


def tile_ops(cascade: Cascade, per: MappingType[str, int]) -> dict[str, dict[str, int]]:
    """Each Einsum's op counts divided evenly over `per[einsum]` work items (refused unless exact)."""
    out = {}
    for name, ops in workloads.op_counts(cascade).items():
        n = per[name]
        if any(v % n for v in ops.values()):
            raise MappingError(f"Einsum {name}: op counts {ops} do not divide over {n} tiles")
        out[name] = {op: v // n for op, v in ops.items()}
    return out


def cycles(arch: Arch, unit_name: str, ops: MappingType[str, float], active: int, dtype: str) -> int:
    """Cycles for one PE-parallel piece of work: Σ ops / rate, spread over `active` PEs, rounded up."""
    u = accel.unit(arch, unit_name)
    work = 0.0
    for op, n in ops.items():
        rate = accel.op_rate(u, op, dtype)
        if rate is None:
            raise MappingError(f"unit {unit_name} of {arch.name} cannot run op {op!r}")
        work += 0.0 if math.isinf(rate) else n / rate
    return int(math.ceil(work / active - 1e-9))


def actions(cascade: Cascade, arch: Arch, binding: MappingType[str, str]) -> dict[str, float]:
    """Exact action counts: every op of every Einsum on its unit, and register traffic.

    Each op slot (one PE-cycle of work: an exp on FuseMax's MAC datapath is 6 slots) reads two register operands and
    writes one result. An op absorbed into another's pipeline (rate `inf`, e.g. FLAT's `sub` in its exp unit) has
    no slot.
    """
    acts: dict[str, float] = {}
    for name, ops in workloads.op_counts(cascade).items():
        u = accel.unit(arch, binding[name])
        for op, n in ops.items():
            rate = accel.op_rate(u, op, cascade.dtype)
            slots = 0.0 if math.isinf(rate) else n / rate
            for action, count in ((op, n), ("register_read", OPERANDS_PER_SLOT * slots), ("register_write", slots)):
                acts[f"{u.name}.{action}"] = acts.get(f"{u.name}.{action}", 0.0) + count
    return acts


def divisors(n: int) -> tuple[int, ...]:
    """The divisors of n, ascending."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(small + [n // d for d in reversed(small) if d * d != n])


def largest_divisor(n: int, limit: int) -> int:
    """The largest divisor of n that is at most `limit` (a tile that splits n exactly and fits the array)."""
    return max(d for d in divisors(n) if d <= limit)


def tiling_hint(n: int, tile: int, limit: int, what: str) -> str:
    """A hint when a size splits only into tiles much smaller than the array (e.g. a prime sequence length)."""
    if tile * 2 > limit:
        return ""
    return f" ({what}={n} has no divisor near the array's {limit}; its largest ≤ {limit} is {tile})"


def check_pins(dataflow: str, constraints: Any, valid: Iterable[str]) -> dict[str, Any]:
    """The constraints as a dict; a non-mapping, or a key that is not one of `valid`, is a MappingError naming it,
    the valid keys and the nearest one (or where a former parameter went)."""
    if not isinstance(constraints, MappingType):
        raise MappingError(f"{dataflow}: constraints must be a mapping of mapping parameter to value, "
                           f"got {type(constraints).__name__}")
    valid = tuple(valid)
    for k in constraints:
        if k in valid:
            continue
        name = k if isinstance(k, str) else repr(k)
        hint = f"; {k} is {MOVED_PARAMS[k]}" if isinstance(k, str) and k in MOVED_PARAMS else ""
        near = difflib.get_close_matches(k, valid, n=1) if isinstance(k, str) else []
        hint += f"; did you mean {near[0]!r}?" if near and not hint else ""
        raise MappingError(f"{dataflow}: unknown mapping parameter {name[:64]!r} (valid: "
                           f"{', '.join(valid) or 'none'}){hint}")
    return dict(constraints)


def pin_int(dataflow: str, constraints: MappingType[str, Any], key: str, default: int, *, minimum: int = 1,
            maximum: int | None = None) -> int:
    """A pinned integer mapping parameter (or the planner's default); a bad pin is a MappingError naming it."""
    value = constraints.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise MappingError(f"{dataflow}: mapping parameter {key} must be an integer, got {_short(value)}")
    top = f" and ≤ {maximum}" if maximum is not None else ""
    if value < minimum or (maximum is not None and value > maximum):
        raise MappingError(f"{dataflow}: mapping parameter {key}={int(value)} must be ≥ {minimum}{top}")
    return int(value)


def pin_bool(dataflow: str, constraints: MappingType[str, Any], key: str, default: bool) -> bool:
    """A pinned True/False mapping parameter (or the planner's default); anything else is a MappingError."""
    value = constraints.get(key, default)
    if not isinstance(value, (bool, np.bool_)):
        raise MappingError(f"{dataflow}: mapping parameter {key} must be True or False, got {_short(value)}")
    return bool(value)


def check_ticks(program: Program, dataflow: str) -> None:
    """Refuse a program whose fully serialized length could overflow the engine's int64 tick count."""
    total = sum(float(np.sum(s.duration, dtype=np.float64) + np.sum(s.latency, dtype=np.float64)) * s.repeat
                for s in program.segments)
    if total >= MAX_TICKS:
        raise MappingError(f"{dataflow}: the workload is too large to simulate: up to {total:.3g} cycles, beyond "
                           f"the engine's 2^62-tick range")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."
