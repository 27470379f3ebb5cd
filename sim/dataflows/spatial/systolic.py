"""GEMM dataflows on a 2D systolic array: `systolic-ws`, `systolic-os`, `systolic-is` (weight-, output-, input-
stationary), for `workloads.gemm` cascades (linear layers) on `accel.systolic` or the FuseMax/FLAT "2d" array.

Per fold (one stationary R×C tile), with the usual systolic timing (as ScaleSim): the stationary operand is
preloaded (R cycles; for OS the outputs are drained instead, R cycles, after the last MAC), the streamed operand
takes T cycles (T = streamed length), and the skewed wavefront takes R + C − 2 more cycles to leave the array.
Folds do not overlap (the next preload waits for the previous wavefront), so with unlimited bandwidth one fold
takes 2R + C + T − 2 cycles and the GEMM `folds × (2R + C + T − 2)`. DRAM transfers run on the shared DRAM unit
and are prefetched one outer iteration ahead.

| dataflow | stationary | streamed T | folds | outer loop (the segment repeat) |
|---|---|---|---|---|
| ws | B tile (K/R × N/C) | Mt rows of A | M/Mt × N/C × K/R | M/Mt row chunks (A chunk resident) |
| os | Z tile (M/R × N/C) | K | M/R × N/C | M/R row blocks (A block resident) |
| is | A tile (K/R × M/C) | N | M/C × K/R | M/C row folds (outputs C×N resident) |
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping as MappingType

import numpy as np

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered, register_dataflow
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.dataflows.spatial.body import UNIT_KEYS, Body, program
from sim.dataflows.spatial.common import dram_cycles

__all__ = ["fold_cycles"]

LEVELS = ("DRAM.read", "DRAM.write", "GlobalBuffer.read", "GlobalBuffer.write")


def fold_cycles(rows: int, cols: int, streamed: int) -> int:
    """One fold with unlimited bandwidth: preload (or drain) R, stream T, wavefront skew R + C − 2."""
    return 2 * rows + cols + streamed - 2


def _facts(arch: Arch) -> dict[str, Any]:
    u = accel.unit(arch, "2d")
    bw = arch.levels[0].bandwidth_bytes_per_s
    return {"rows": u.pes[0], "cols": u.pes[1], "buffer": accel.level(arch, "GlobalBuffer").capacity_bytes,
            "bytes_per_cycle": None if bw is None else bw / arch.clock_hz}


def _supports(kind: str):
    def supports(cascade: Cascade, arch: Arch) -> str | None:
        if len(cascade.einsums) != 1 or set(cascade.sizes) != {"M", "N", "K"}:
            return "needs a plain GEMM (workloads.gemm)"
        if cascade.masks:
            return "masked GEMMs are not modelled"
        try:
            f = _facts(arch)
        except accel.ArchError as e:
            return f"needs a '2d' unit under a GlobalBuffer ({e})"
        if accel.op_rate(accel.unit(arch, "2d"), "mac", cascade.dtype) is None:
            return "the 2d unit has no MAC"
        s, r, c = cascade.sizes, f["rows"], f["cols"]
        need = {"ws": (("K", r), ("N", c)), "os": (("M", r), ("N", c)), "is": (("K", r), ("M", c))}[kind]
        bad = [f"{d}={s[d]} by {t}" for d, t in need if s[d] % t]
        return f"tile does not divide: {', '.join(bad)}" if bad else None
    return supports


def _plan(kind: str):
    def plan(cascade: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        f, s = _facts(arch), cascade.sizes
        b = workloads.DTYPE_BYTES[cascade.dtype]
        r, c = f["rows"], f["cols"]
        resident = s["K"] * s["N"] * b <= f["buffer"] // 4   # weights (B) stay on chip: read from DRAM once
        params: dict[str, Any] = {"rows": r, "cols": c, "b_resident": resident}
        if kind == "ws":
            mt = s["M"]
            while mt > 1 and (2 * mt * s["K"] + mt * c) * b > f["buffer"] * 3 // 4 and mt % 2 == 0:
                mt //= 2
            mt = constraints.get("Mt", mt)
            if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1 or s["M"] % mt:
                raise MappingError(f"mapping parameter Mt={mt!r} must be a positive integer dividing M={s['M']}")
            params.update(Mt=mt, outer=s["M"] // mt, folds=(s["N"] // c) * (s["K"] // r))
            loops = (Loop("M", s["M"] // mt), Loop("N", s["N"] // c), Loop("K", s["K"] // r))
            inner = (Loop("M", mt), Loop("K", r, "rows"), Loop("N", c, "cols"))
        elif kind == "os":
            params.update(outer=s["M"] // r, folds=s["N"] // c)
            loops = (Loop("M", s["M"] // r), Loop("N", s["N"] // c))
            inner = (Loop("K", s["K"]), Loop("M", r, "rows"), Loop("N", c, "cols"))
        else:
            params.update(outer=s["M"] // c, folds=s["K"] // r)
            loops = (Loop("M", s["M"] // c), Loop("K", s["K"] // r))
            inner = (Loop("N", s["N"]), Loop("K", r, "rows"), Loop("M", c, "cols"))
        name = cascade.einsums[0].name
        nests = (LevelNest("DRAM", loops), LevelNest("GlobalBuffer", inner))
        return Mapping(f"systolic-{kind}", (FusionGroup((name,), nests),), {name: "2d"}, params)
    return plan


def _lower(cascade: Cascade, arch: Arch, mapping: Mapping) -> Lowered:
    f, s, prm = _facts(arch), cascade.sizes, mapping.params
    b = workloads.DTYPE_BYTES[cascade.dtype]
    kind = mapping.dataflow.split("-")[1]
    r, c, bpc = prm["rows"], prm["cols"], f["bytes_per_cycle"]
    M, N, K = s["M"], s["N"], s["K"]
    tag = cascade.einsums[0].name
    skew = r + c - 2
    folds, outer = prm["folds"], prm["outer"]
    j = np.arange(folds)
    body = Body(span=folds + 1, levels=LEVELS)
    # Per outer iteration: the resident operand (prefetched during the previous iteration), per fold the
    # stationary tile (unless the weights are resident) and the streamed operand, the outputs.
    if kind == "ws":
        mt = prm["Mt"]
        resident_bytes, tile_bytes, stream, out_bytes = mt * K * b, r * c * b, mt, mt * c * b
        n_out, out_every = N // c, K // r
    elif kind == "os":
        resident_bytes, tile_bytes, stream, out_bytes = r * K * b, K * c * b, K, r * c * b
        n_out, out_every = folds, 1
    else:
        resident_bytes, tile_bytes, stream, out_bytes = 0, r * N * b, N, c * N * b
        n_out, out_every = 1, folds
        tile_bytes = r * N * b                      # B rows streamed past the stationary A tile
        a_tile = r * c * b
    load = body.add("dram", 0.0, dram_cycles(resident_bytes, bpc), dram_read=resident_bytes,
                    gb_write=resident_bytes)
    per_fold_dram = 0 if (prm["b_resident"] and kind != "is") else tile_bytes
    if kind == "is":
        per_fold_dram = a_tile + (0 if prm["b_resident"] else tile_bytes)
    fetch = body.add("dram", j + 0.01, dram_cycles(per_fold_dram, bpc), dram_read=per_fold_dram,
                     gb_write=per_fold_dram)
    macs = r * c * stream
    if kind == "os":
        mac = body.add("2d", j + 0.1, stream, latency=skew, tag=tag, gb_read=(r + c) * K * b)
        tail = body.add("2d", j + 0.2, r, tag=tag)       # drain the R×C outputs
        body.dep(tail, mac)
        body.dep(mac, fetch), body.dep(mac, load, j, np.zeros_like(j), prev=True)
        last = tail
    else:
        pre = body.add("2d", j + 0.1, r, tag=tag, gb_read=r * c * b)   # preload the stationary tile
        mac = body.add("2d", j + 0.2, stream, latency=skew, tag=tag, gb_read=stream * r * b)
        body.dep(pre, fetch), body.dep(mac, pre)
        body.dep(pre, mac, j[1:], j[:-1])
        body.dep(pre, mac, [0], [folds - 1], prev=True)
        body.dep(mac, load, j, np.zeros_like(j), prev=True)
        last = mac
    body.dep(load, last, [0], [folds - 1], prev=True)     # the resident slot is free once the last fold ran
    o = np.arange(n_out)
    out = body.add("dram", (o + 1) * out_every - 1 + 0.5, dram_cycles(out_bytes, bpc), dram_write=out_bytes,
                   gb_read=out_bytes)
    body.dep(out, last, o, (o + 1) * out_every - 1)
    segments = []
    if prm["b_resident"]:
        pro = Body(span=1, levels=LEVELS)
        wb = K * N * b
        pro.add("dram", 0.0, dram_cycles(wb, bpc), dram_read=wb, gb_write=wb)
        segments.append(pro.segment("weights", 1))
    seg = body.segment("outer", outer)
    segments.append(dataclasses.replace(seg, barrier=bool(segments)))
    prog = program(segments, body.tags, LEVELS, f["buffer"])
    total_macs = workloads.op_counts(cascade)[tag]["mac"]
    if total_macs != macs * folds * outer:
        raise MappingError(f"lowering covers {macs * folds * outer} MACs, the GEMM has {total_macs}")
    u = accel.unit(arch, "2d")
    acts = {"2d.mac": float(total_macs), "2d.register_read": 2.0 * total_macs,
            "2d.register_write": float(total_macs)}
    if not u.register_read_pj and not u.register_write_pj:
        acts = {"2d.mac": float(total_macs)}
    notes = (f"{outer} outer iterations × {folds} folds of {fold_cycles(r, c, stream)} cycles at unlimited bandwidth",)
    return Lowered(prog, UNIT_KEYS, acts, {}, workloads.flops(cascade), notes)


for _kind, _doc in (("ws", "weight-stationary"), ("os", "output-stationary"), ("is", "input-stationary")):
    register_dataflow(f"systolic-{_kind}", supports=_supports(_kind), plan=_plan(_kind), lower=_lower,
                      doc=f"GEMM on a 2D systolic array, {_doc}")
