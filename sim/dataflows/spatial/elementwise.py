"""`spatial-elementwise`: a layer's norms, residual adds and activations on a spatial array, streamed through the
global buffer in tiles (`workloads.models.streams`): each input read from DRAM once, the output written once.

Each Einsum runs on the array with the most throughput for all its ops (the 2D array when it has them, else the
1D one). A tile is loaded, computed and stored; the next tile loads while this one computes (three tiles in the
buffer at most, `TILES_IN_FLIGHT`), so a stream takes the larger of its DRAM and compute time plus one tile's
fill and drain. The tile size is the mapping's one choice (`tile_bytes`): by default the largest that fits
`TILES_IN_FLIGHT` times in the buffer, capped at `DEFAULT_TILE_BYTES` so the exposed fill and drain stay short.
"""
from __future__ import annotations

import math

import accel
import numpy as np
import workloads
from accel import Arch
from workloads import Cascade
from workloads.models.streams import row_bytes, stream_bytes, streaming_problem

from sim.dataflows.registry import Lowered, register_dataflow
from sim.dataflows.spatial.body import UNIT_KEYS, UNITS
from sim.dataflows.spatial.common import (actions, arch_facts, arch_problem, check_pins, check_ticks, cycles,
                                          dram_cycles, pin_int, precision_problem)
from sim.ir.mapping import FusionGroup, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.program import ProgramBuilder

NAME = "spatial-elementwise"
TILES_IN_FLIGHT = 3          # tiles in the buffer at once: one loading, one computing, one storing
PHASES = ("load", "store")
DEFAULT_TILE_BYTES = 1 << 20   # 1 MiB: ~2.6k DRAM cycles at 400 GiB/s and 940 MHz exposed at each end of a stream


def _arrays(arch: Arch) -> tuple[str, ...]:
    return tuple(u for u in ("2d", "1d") if u in {x.name for x in arch.units})


def binding(c: Cascade, arch: Arch) -> dict[str, str]:
    """Each Einsum on the array with the most throughput for all its ops; MappingError naming an op no array runs."""
    out = {}
    for name, ops in workloads.op_counts(c).items():
        speed = {}
        for unit_name in _arrays(arch):
            u = accel.unit(arch, unit_name)
            rates = [accel.op_rate(u, op, c.dtype) for op in ops]
            if all(r is not None for r in rates):
                work = sum(0.0 if math.isinf(r) else n / r for r, n in zip(rates, ops.values()))
                speed[unit_name] = work / accel.pe_count(arch, u)
        if not speed:
            missing = next(op for op in ops if all(accel.op_rate(accel.unit(arch, u), op, c.dtype) is None
                                                   for u in _arrays(arch)))
            raise MappingError(f"Einsum {name}: no array of {arch.name} runs {missing!r} "
                               f"(arrays: {', '.join(_arrays(arch))})")
        out[name] = min(speed, key=speed.get)
    return out


def supports(c: Cascade, arch: Arch) -> str | None:
    """None if a streamed pass over the global buffer runs `c` on `arch` exactly, else why not."""
    if not isinstance(c, Cascade):
        return f"expected a workloads.Cascade, got {type(c).__name__}"
    why = arch_problem(arch, ("2d",)) or precision_problem(c)
    if why:
        return why
    if c.inits:
        return "an iterative cascade (initial values over a loop) is not one elementwise pass"
    masks = [type(mk).__name__ for mk in c.masks if not isinstance(mk, workloads.Blocks)]
    if masks:
        return f"mask {masks[0]} is not modelled by the elementwise stream (block masks are)"
    facts = arch_facts(arch, with_1d="1d" in _arrays(arch))
    share = facts.buffer / (TILES_IN_FLIGHT + 1)
    why = streaming_problem(c, share, share)
    if why:
        return why
    if row_bytes(c) * TILES_IN_FLIGHT > facts.buffer:
        return f"a reduction row of {row_bytes(c)} B does not fit {TILES_IN_FLIGHT} times in the {facts.buffer} B buffer"
    try:
        binding(c, arch)
    except MappingError as err:
        return str(err)
    return None


def _tile_limits(c: Cascade, arch: Arch) -> tuple[int, int]:
    """(smallest, largest) tile: one reduction row at least; `TILES_IN_FLIGHT` tiles in the buffer at most."""
    facts = arch_facts(arch, with_1d="1d" in _arrays(arch))
    return max(row_bytes(c), 1), facts.buffer // TILES_IN_FLIGHT


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """Every Einsum in one stream, on its fastest array; the tile size may be pinned (`tile_bytes`)."""
    pins = check_pins(NAME, constraints, ("tile_bytes",))
    low, high = _tile_limits(c, arch)
    tile = pin_int(NAME, pins, "tile_bytes", max(low, min(high, DEFAULT_TILE_BYTES)), minimum=low, maximum=high)
    return Mapping(NAME, (FusionGroup(tuple(e.name for e in c.einsums)),), binding(c, arch), {"tile_bytes": tile})


def space(c: Cascade, arch: Arch) -> dict[str, tuple[int, ...]]:
    """Tile sizes: powers of two between the smallest and the largest tile, and those two."""
    low, high = _tile_limits(c, arch)
    powers = [1 << k for k in range(low.bit_length(), high.bit_length()) if low <= 1 << k <= high]
    return {"tile_bytes": tuple(sorted({low, high, *powers}))}


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """Tiles through the buffer: load the first; then per tile load the next, compute this one, store it."""
    facts = arch_facts(arch, with_1d="1d" in _arrays(arch))
    read, write = stream_bytes(c)
    tile = mp.params["tile_bytes"]
    if tile * TILES_IN_FLIGHT > facts.buffer:
        raise MappingError(f"{NAME}: tile_bytes={tile} does not fit {TILES_IN_FLIGHT} times in the {facts.buffer} B "
                           f"buffer (at most {facts.buffer // TILES_IN_FLIGHT})")
    n = max(1, math.ceil((read + write) / tile))
    counts = workloads.op_counts(c)
    compute = {e: cycles(arch, mp.binding[e], {op: v / n for op, v in ops.items()},
                         accel.pe_count(arch, accel.unit(arch, mp.binding[e])), c.dtype) for e, ops in counts.items()}
    dram_read, dram_write, gb_read, gb_write = facts.levels
    r, w = read / n, write / n
    held = int(math.ceil(r + w))
    b = ProgramBuilder(UNITS, [u == "dram" for u in UNITS], buffers={"gb": facts.buffer}, levels=facts.levels,
                       tags=tuple(counts) + PHASES)

    def load(seg):
        return seg.op("dram", int(dram_cycles(r, facts.bytes_per_cycle)), facts.dram_latency, tag="load",
                      acquire={"gb": held}, bytes={dram_read: r, gb_write: r})

    def compute_and_store(seg, first_deps=(), prev=()):
        deps, prev_deps = list(first_deps), list(prev)
        for e in counts:
            deps = [seg.op(mp.binding[e], compute[e], deps=deps, prev_deps=prev_deps, tag=e,
                           bytes={gb_read: r / len(counts), gb_write: w / len(counts)})]
            prev_deps = []
        seg.op("dram", int(dram_cycles(w, facts.bytes_per_cycle)), deps=deps, tag="store", release={"gb": held},
               bytes={gb_read: w, dram_write: w})

    load(b.segment("first"))
    if n > 1:
        body = b.segment("tiles", repeat=n - 1, barrier=True)
        nxt = load(body)
        compute_and_store(body, prev=[nxt])
    compute_and_store(b.segment("last", barrier=True))
    prog = b.build()
    check_ticks(prog, NAME)
    return Lowered(prog, UNIT_KEYS, actions(c, arch, mp.binding), {e: (e,) for e in counts},
                   float(workloads.flops(c)), (f"{n} tile{'s' * (n > 1)} of ≤ {tile} B through the buffer",),
                   PHASES, unit_levels={"dram": facts.outer})


register_dataflow(NAME, supports=supports, plan=plan, lower=lower, space=space,
                  doc="norms, residuals, activations on a spatial array: one stream through the global buffer")
