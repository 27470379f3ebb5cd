"""GEMM dataflows on a 2D systolic array: `systolic-ws`, `systolic-os`, `systolic-is` (weight-, output-, input-
stationary), for `workloads.gemm` cascades (linear layers) on `accel.systolic` or the FuseMax/FLAT "2d" array.

Timing per fold (one stationary R×C tile), as SCALE-Sim (Samajdar et al., ISPASS 2020; v3) defines it: the streamed
operand takes T cycles and the skewed wavefront R + C − 2 more to leave the array (the 2d unit's fill/drain,
`accel.fill_drain`, when its spec sets one). Weight- and input-stationary
first preload the stationary tile (R cycles), so a fold takes 2R + C + T − 2; output-stationary has no preload and
its outputs drain while the skew completes, so a fold takes R + C + T − 2. Folds do not overlap. Dimensions that do
not divide the array take ceil folds: the edge folds run with padded PEs idle (full fold time, counted as capacity
in utilization; the useful MACs and the bytes are exact). A PE that does `r` MACs per cycle (the unit's
`ops_per_cycle['mac']`) streams T operands in ⌈T / r⌉ cycles, and when r < 1 every hop of the wavefront waits for
its MAC too (skew ⌈(R + C − 2) / r⌉); the preload moves data only. SCALE-Sim's PEs do one MAC per cycle.

Global-buffer traffic (energy): the array reads the stationary tile and the streamed operand from the buffer, and
weight- and input-stationary accumulate their partial sums there across the K folds (written every fold, read back
by every fold but a column's first); the DMA writes what it loads and reads what it stores.

| dataflow | stationary (rows × cols) | streamed T | outer loop (the segment repeat) |
|---|---|---|---|
| ws | B tile (K × N) | Mt rows of A | M/Mt row chunks (A chunk resident if it fits, else streamed per fold) |
| os | Z tile (M × N) | K | M/R row blocks (A block resident) |
| is | Aᵀ tile (K × M) | N | M/C column folds (the C × N outputs resident) |

DRAM transfers run on the shared DRAM unit and are prefetched one outer iteration ahead. Mapping choices: which
operands stay on chip — the weights B (`weights_resident`: read once, before the first fold; by default when they
fit in a quarter of the buffer and the outer loop reuses them) and weight-stationary's A chunk (`a_resident`, by
default when it fits) — and weight-stationary's row chunk `Mt` (by default the chunking with the smallest
closed-form estimate, per fold the larger of compute and DRAM cycles). At unlimited bandwidth the cycles equal SCALE-Sim v3's compute model (the
table in tests/data/scalesim/). Under limited bandwidth SCALE-Sim is not an oracle and the two differ by design:
SCALE-Sim gives each operand its own SRAM and DRAM port, re-fetches operands through double-buffered scratchpads
sized by its config, and its stall accounting double-counts positive stalls; here one DRAM channel is shared by all
transfers, each operand tile crosses it once per reuse the mapping implies, and stalls are what the schedule gives.
A remainder outer iteration (a dimension that does not divide) starts after the previous ones have finished.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping as MappingType

import numpy as np

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered, register_dataflow
from sim.dataflows.spatial.body import UNIT_KEYS, Body, Order, program
from sim.dataflows.spatial.common import (DOUBLE, OPERANDS_PER_SLOT, ArchFacts, arch_facts, arch_problem,
                                          check_pins, check_ticks, dram_cycles, pin_bool, pin_int,
                                          precision_problem)
from sim.dataflows.spatial.template import gemm_mismatch
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

__all__ = ["fold_cycles"]

KINDS = ("ws", "os", "is")
RESIDENT_WEIGHTS_SHARE = 4   # B stays on chip (read from DRAM once) if it fits in 1/4 of the buffer
ORDER = Order("load", "fetch", "pre", "mac", "out")


def fold_cycles(rows: int, cols: int, streamed: int, kind: str = "ws", mac_rate: float = 1.0,
                skew: int | None = None) -> int:
    """One fold at unlimited bandwidth: stream T, wavefront skew (R + C − 2 unless given), plus the R-cycle preload
    of weight- and input-stationary (output-stationary drains during the skew). At `mac_rate` MACs per PE per cycle
    the stream takes ⌈T / rate⌉ cycles, and a slower-than-one rate stretches the default skew's hops too."""
    if skew is None:
        skew = _stretch(rows + cols - 2, min(mac_rate, 1.0))
    return (0 if kind == "os" else rows) + skew + _stretch(streamed, mac_rate)


def _stretch(steps: int, rate: float) -> int:
    """Cycles for `steps` MAC steps at `rate` per cycle (exact at rate 1)."""
    return steps if rate == 1 else int(math.ceil(steps / rate - 1e-9))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class _Gemm:
    """A GEMM Z[M,N] = A[M,K]·B[K,N] on an R×C array, with the mapping's choices: the row chunk Mt
    (weight-stationary), whether the weights B stay on chip and whether weight-stationary's A chunk does."""
    kind: str
    M: int
    N: int
    K: int
    facts: ArchFacts
    bytes: int
    mt: int
    weights: bool = False
    a: bool = False
    mac_rate: float = 1.0           # MACs per PE per cycle (the 2d unit's rate)
    spec_skew: int | None = None    # the 2d unit's fill_drain_cycles when its spec sets one

    @property
    def skew(self) -> int:
        """Cycles for the wavefront to leave the array: the spec's fill/drain, else R + C − 2 hops at the MAC's
        pace."""
        if self.spec_skew is not None:
            return self.spec_skew
        return _stretch(self.facts.rows + self.facts.cols - 2, min(self.mac_rate, 1.0))

    def fold(self, streamed: int) -> int:
        """Cycles of one fold that streams `streamed` operands."""
        return fold_cycles(self.facts.rows, self.facts.cols, streamed, self.kind, self.mac_rate, self.skew)

    @property
    def weights_fit(self) -> bool:
        """B may stay on chip: it fits in 1/RESIDENT_WEIGHTS_SHARE of the buffer."""
        return self.K * self.N * self.bytes <= self.facts.buffer // RESIDENT_WEIGHTS_SHARE

    @property
    def outer(self) -> int:
        """The outer loop's extent unit: Mt rows (ws), R rows (os) or C columns (is) of M."""
        return {"ws": self.mt, "os": self.facts.rows, "is": self.facts.cols}[self.kind]

    @property
    def budget(self) -> int:
        """Buffer bytes for the working set: all of it but the resident weights."""
        return self.facts.buffer - (self.K * self.N * self.bytes if self.weights else 0)

    def a_fits(self, rows: int) -> bool:
        """Weight-stationary: an A chunk of `rows` rows fits on chip (double-buffered) beside its partial sums and
        the weight tiles."""
        f, b = self.facts, self.bytes
        b_tiles = 0 if self.weights else DOUBLE * f.rows * f.cols
        return (DOUBLE * rows * self.K + rows * f.cols + b_tiles) * b <= self.budget

    def need(self) -> int:
        """On-chip bytes of the working set: weight-stationary holds its partial sums (Mt × C) and its A chunk
        (double-buffered) or a staging window A streams through; output-stationary its A block and B blocks;
        input-stationary its outputs (C × N) and B rows; plus weight tiles unless the weights are resident."""
        f, b, r, c = self.facts, self.bytes, self.facts.rows, self.facts.cols
        b_tiles = 0 if self.weights else 1
        if self.kind == "ws":
            a = DOUBLE * self.mt * self.K if self.a else DOUBLE * r * c
            return (a + self.mt * c + DOUBLE * b_tiles * r * c) * b
        if self.kind == "os":
            return (DOUBLE * r * self.K + DOUBLE * b_tiles * self.K * c + r * c) * b
        return (c * self.N + DOUBLE * b_tiles * r * self.N + DOUBLE * r * c) * b


# ---- supports, plan, space -------------------------------------------------------------------------------------


def _supports(kind: str):
    def supports(cascade: Cascade, arch: Arch) -> str | None:
        if cascade.masks:
            return "masked GEMMs are not modelled"
        reason = gemm_mismatch(cascade) or precision_problem(cascade) or arch_problem(arch, ("2d",))
        if reason is None and accel.op_rate(accel.unit(arch, "2d"), "mac", cascade.dtype) is None:
            return "the 2d unit has no MAC"
        return reason or _overflow(_gemm(kind, cascade, arch, 1))   # Mt = 1, nothing resident: the smallest set
    return supports


def _overflow(g: _Gemm) -> str | None:
    """Why the working set does not fit the buffer (None if it does)."""
    if g.need() <= g.budget:
        return None
    what = f" at Mt={g.mt}" if g.kind == "ws" else ""
    return (f"the working set of a {g.M}×{g.N}×{g.K} GEMM on a {g.facts.rows}×{g.facts.cols} array{what} needs "
            f"{g.need()} bytes on chip, the GlobalBuffer has {g.budget} for it (of {g.facts.buffer}); a buffer of "
            f"≥ {g.need() + g.facts.buffer - g.budget} bytes would")


def _gemm(kind: str, cascade: Cascade, arch: Arch, mt: int, weights: bool = False, a: bool = False) -> _Gemm:
    s = cascade.sizes
    two = accel.unit(arch, "2d")
    return _Gemm(kind, s["M"], s["N"], s["K"], arch_facts(arch, with_1d=False),
                 workloads.DTYPE_BYTES[cascade.dtype], mt, weights, a,
                 accel.op_rate(two, "mac", cascade.dtype), two.fill_drain_cycles)


def _chunks(m: int) -> tuple[int, ...]:
    """Weight-stationary row chunks tried by default and by explore: M, ⌈M/2⌉, ⌈M/4⌉, … down to 1."""
    return tuple(sorted({_ceil(m, 1 << i) for i in range(m.bit_length() + 1)}, reverse=True))


def _estimate(g: _Gemm) -> float:
    """Closed-form cycles of a mapping: per fold the larger of its compute and DRAM cycles, plus the exposed load
    of resident weights."""
    f, b = g.facts, g.bytes
    cycles_of = (lambda n: 0.0) if f.bytes_per_cycle is None else (lambda n: n * b / f.bytes_per_cycle)
    total = cycles_of(g.K * g.N) if g.weights else 0.0
    if g.kind != "ws":
        return total
    folds = _ceil(g.K, f.rows) * _ceil(g.N, f.cols)
    for rows, count in _extents(g.M, g.mt):
        per_fold = (0 if g.weights else f.rows * f.cols) + (0 if g.a else rows * f.rows)
        total += count * folds * max(g.fold(rows), cycles_of(per_fold))
    return total


def _choices(kind: str, cascade: Cascade, arch: Arch, mt: int, pins: MappingType[str, Any], name: str) -> _Gemm:
    """The mapping at row chunk `mt`: residency as pinned, else weights resident when they fit and are reused
    (more than one outer iteration), A resident when it fits."""
    g = _gemm(kind, cascade, arch, mt)
    reused = _ceil(g.M, g.outer) > 1
    weights = pin_bool(name, pins, "weights_resident", g.weights_fit and reused)
    if weights and not g.weights_fit:
        raise MappingError(f"{name}: weights_resident=True needs the {g.K * g.N * g.bytes}-byte weights in a "
                           f"1/{RESIDENT_WEIGHTS_SHARE} share of the {g.facts.buffer}-byte buffer")
    g = dataclasses.replace(g, weights=weights)
    if kind == "ws":
        a = pin_bool(name, pins, "a_resident", g.a_fits(mt))
        g = dataclasses.replace(g, a=a)
    return g


def _plan(kind: str):
    name = f"systolic-{kind}"
    keys = ("Mt", "a_resident", "weights_resident") if kind == "ws" else ("weights_resident",)

    def plan(cascade: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        pins = check_pins(name, constraints, keys)
        m = cascade.sizes["M"]
        if kind == "ws" and "Mt" not in pins:
            options = [_choices(kind, cascade, arch, mt, pins, name) for mt in _chunks(m)]
            fits = [g for g in options if g.need() <= g.budget]
            g = min(fits, key=lambda g: (_estimate(g), -g.mt)) if fits else options[-1]
        else:
            g = _choices(kind, cascade, arch, pin_int(name, pins, "Mt", m, maximum=m) if kind == "ws" else m,
                         pins, name)
        reason = _overflow(g)
        if reason:
            largest = max((x for x in _chunks(m) if _choices(kind, cascade, arch, x, {}, name).need()
                           <= g.budget), default=None) if kind == "ws" else None
            raise MappingError(f"{name}: {reason}" + (f" (or Mt ≤ {largest})" if largest else ""))
        params = {"weights_resident": g.weights}
        if kind == "ws":
            params.update(Mt=g.mt, a_resident=g.a)
        einsum = cascade.einsums[0].name
        return Mapping(name, (FusionGroup((einsum,), _nests(g)),), {einsum: "2d"}, params)
    return plan


def _space(kind: str):
    def axes(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
        out: dict[str, tuple] = {"weights_resident": (False, True)}
        if kind == "ws":
            out.update(Mt=_chunks(cascade.sizes["M"]), a_resident=(False, True))
        return out
    return axes


def _nests(g: _Gemm) -> tuple[LevelNest, ...]:
    r, c = g.facts.rows, g.facts.cols
    if g.kind == "ws":
        outer = (Loop("M", _ceil(g.M, g.mt)), Loop("N", _ceil(g.N, c)), Loop("K", _ceil(g.K, r)))
        inner = (Loop("M", g.mt), Loop("K", r, "rows"), Loop("N", c, "cols"))
    elif g.kind == "os":
        outer = (Loop("M", _ceil(g.M, r)), Loop("N", _ceil(g.N, c)))
        inner = (Loop("K", g.K), Loop("M", r, "rows"), Loop("N", c, "cols"))
    else:
        outer = (Loop("M", _ceil(g.M, c)), Loop("K", _ceil(g.K, r)))
        inner = (Loop("N", g.N), Loop("K", r, "rows"), Loop("M", c, "cols"))
    return (LevelNest(g.facts.outer, outer), LevelNest("GlobalBuffer", inner))


# ---- lowering --------------------------------------------------------------------------------------------------


def _extents(total: int, step: int) -> list[tuple[int, int]]:
    """(extent, count) of an outer loop over `total` in steps of `step`: the full steps, then the remainder."""
    full, rest = divmod(total, step)
    return [(e, n) for e, n in ((step, full), (rest, 1)) if n and e]


def _lower(cascade: Cascade, arch: Arch, mapping: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    kind, prm = mapping.dataflow.split("-")[1], mapping.params
    g = _gemm(kind, cascade, arch, prm.get("Mt", cascade.sizes["M"]), prm["weights_resident"],
              prm.get("a_resident", False))
    f, tag = g.facts, cascade.einsums[0].name
    segments, tags = [], [tag]
    if g.weights:
        pro = Body(span=1, levels=f.levels, tags=tags)
        wb = g.K * g.N * g.bytes
        pro.add("dram", 0.0, dram_cycles(wb, f.bytes_per_cycle), latency=f.dram_latency, dram_read=wb, gb_write=wb)
        segments.append(pro.segment("weights", 1))
    extents = _extents(g.M, g.outer)
    for extent, count in extents:
        body = _outer_body(g, extent, tags)
        name = "outer" if extent == g.outer else "outer remainder"
        segments.append(body.segment(name, count, barrier=bool(segments)))
    prog = program(segments, tags, f.levels, f.buffer)
    check_ticks(prog, mapping.dataflow)
    macs = workloads.op_counts(cascade)[tag]["mac"]
    u = accel.unit(arch, "2d")
    acts = {"2d.mac": float(macs)}
    if u.register_read_pj or u.register_write_pj:
        acts.update({"2d.register_read": float(OPERANDS_PER_SLOT * macs), "2d.register_write": float(macs)})
    folds = {"ws": _ceil(g.K, f.rows) * _ceil(g.N, f.cols), "os": _ceil(g.N, f.cols), "is": _ceil(g.K, f.rows)}[kind]
    notes = ("; ".join(f"{count} outer iteration{'s' * (count > 1)} × {folds} folds of "
                       f"{g.fold(_streamed(g, extent))} cycles"
                       for extent, count in extents) + " at unlimited bandwidth"
             + ("; B resident" if g.weights else "")
             + ("" if kind != "ws" else "; A resident" if g.a else "; A streamed per fold"),)
    return Lowered(prog, UNIT_KEYS, acts, {}, workloads.flops(cascade), notes, unit_levels={"dram": f.outer})


def _streamed(g: _Gemm, extent: int) -> int:
    return {"ws": extent, "os": g.K, "is": g.N}[g.kind]


def _fold_tiles(g: _Gemm, extent: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per fold the stationary tile's used rows and columns (edge folds are partial), and (outputs per output
    write, folds between output writes)."""
    r, c = g.facts.rows, g.facts.cols

    def sizes(n: int, tile: int) -> np.ndarray:
        return np.minimum(tile, n - np.arange(_ceil(n, tile)) * tile)

    if g.kind == "ws":   # folds: N-column outer, K-row inner
        k, n = sizes(g.K, r), sizes(g.N, c)
        return np.tile(k, len(n)), np.repeat(n, len(k)), len(n), len(k)
    if g.kind == "os":
        n = sizes(g.N, c)
        return np.full(len(n), extent), n, len(n), 1
    k = sizes(g.K, r)
    return k, np.full(len(k), extent), 1, len(k)


def _outer_body(g: _Gemm, extent: int, tags: list[str]) -> Body:
    """One outer iteration: its resident operand (prefetched during the previous iteration), per fold the
    stationary tile and the streamed operand (from DRAM unless resident), the outputs."""
    f, b, tag = g.facts, g.bytes, tags[0]
    used_r, used_c, n_out, out_every = _fold_tiles(g, extent)
    folds = len(used_r)
    j = np.arange(folds)
    T = _streamed(g, extent)
    body = Body(span=folds + 1, levels=f.levels, tags=tags)
    resident, per_fold, out_bytes = _traffic(g, extent, used_r, used_c)
    load = body.add("dram", ORDER(0, "load"), dram_cycles(resident, f.bytes_per_cycle), latency=f.dram_latency,
                    dram_read=resident, gb_write=resident)
    fetch = body.add("dram", ORDER(j, "fetch"), dram_cycles(per_fold, f.bytes_per_cycle), latency=f.dram_latency,
                     dram_read=per_fold, gb_write=per_fold)
    stream = _stretch(T, g.mac_rate)
    if g.kind == "os":   # A rows and B columns stream in; the next fold waits for this one's outputs to drain
        mac = body.add("2d", ORDER(j, "mac"), stream, latency=g.skew, tag=tag, gb_read=(used_r + used_c) * g.K * b)
        body.dep(mac, fetch), body.dep(mac, mac, j[1:], j[:-1])
        body.dep(mac, mac, [0], [folds - 1], prev=True)
    else:                # preload the stationary tile (R cycles), then stream T rows/columns past it
        pre = body.add("2d", ORDER(j, "pre"), f.rows, tag=tag, gb_read=used_r * used_c * b)
        psums = T * used_c * b   # partial sums accumulated in the buffer: read back by all but a chain's first fold
        mac = body.add("2d", ORDER(j, "mac"), stream, latency=g.skew, tag=tag,
                       gb_read=T * used_r * b + psums * (j % out_every != 0), gb_write=psums)
        body.dep(pre, fetch), body.dep(mac, pre)
        body.dep(pre, mac, j[1:], j[:-1])
        body.dep(pre, mac, [0], [folds - 1], prev=True)
    body.dep(mac, load, j, np.zeros_like(j), prev=True)   # the resident operand loaded during the last iteration
    body.dep(load, mac, [0], [folds - 1], prev=True)      # its slot is free once the last fold ran
    o = np.arange(n_out)
    last = (o + 1) * out_every - 1
    out = body.add("dram", ORDER(last, "out"), dram_cycles(out_bytes, f.bytes_per_cycle), dram_write=out_bytes,
                   gb_read=out_bytes)
    body.dep(out, mac, o, last)
    return body


def _traffic(g: _Gemm, extent: int, used_r: np.ndarray, used_c: np.ndarray):
    """(resident bytes per outer iteration, DRAM bytes per fold, bytes per output write)."""
    b, weights = g.bytes, g.weights
    if g.kind == "ws":
        a_res = g.a
        resident = extent * g.K * b if a_res else 0
        per_fold = (0 if weights else used_r * used_c * b) + (0 if a_res else extent * used_r * b)
        return resident, per_fold + np.zeros(len(used_r), np.int64), extent * used_c[::_ceil(g.K, g.facts.rows)] * b
    if g.kind == "os":
        per_fold = np.zeros(len(used_c), np.int64) if weights else g.K * used_c * b
        return extent * g.K * b, per_fold, extent * used_c * b
    per_fold = used_r * extent * b + (0 if weights else used_r * g.N * b)
    return 0, per_fold, np.array([extent * g.N * b])


for _kind, _doc in (("ws", "weight-stationary"), ("os", "output-stationary"), ("is", "input-stationary")):
    register_dataflow(f"systolic-{_kind}", supports=_supports(_kind), plan=_plan(_kind), lower=_lower,
                      space=_space(_kind), doc=f"GEMM on a 2D systolic array, {_doc}")
