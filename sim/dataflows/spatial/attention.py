"""Attention dataflows for spatial arrays (fusemax-and-flat.md): `unfused`, `flat`, `fusemax-cascade`,
`fusemax-arch`, `fusemax`. Each is `supports` / `plan` / `lower`; `lower` emits a tile program for `sim.engine`.

Shape of every lowering. The outer loops B, H and the query blocks M2 are the segment's `repeat` (all blocks are
identical); the body is one query block with its key loop unrolled. Units are "2d" (rows × cols PEs), "1d" and
"dram" (a memory unit: one transfer at a time at the level's bandwidth, so DRAM bandwidth is shared). A tile is
M0 = cols query rows × P0 keys; tile ops run for `ceil(ops / (active PEs × rate))` cycles, with the op counts taken
from the cascade (`workloads.op_counts`) divided evenly over tiles, so the lowered counts equal the cascade's.

Long sequences have up to 5·10^5 tiles per block; consecutive tiles are lowered in groups of `group` tiles (one op
per Einsum per group) so that a body has at most `MAX_GROUPS` groups. For pipelined dataflows a group only coarsens
the first fill of each block (the steady state is throughput-bound either way); for `fusemax-arch`, whose tiles are
fully serialized, a group is one chain with durations and latencies × group, which is exact while DRAM keeps ahead.

Software pipelining across groups is expressed by `stage`: an op of group g is placed in slot g + stage·lookahead;
slots past the end of the block wrap into the next iteration and depend on the previous iteration's ops (the
engine's `prev_deps`). Iteration 0 runs those wrapped ops without predecessors and the last block's wrapped tail is
not run: the loop is simulated without a prologue/epilogue, an error of at most one pipeline depth per program.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping as MappingType

import numpy as np

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import Lowered, register_dataflow
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.ir.program import Program, Segment, validate

__all__ = ["BINDING_FUSEMAX", "MAX_GROUPS", "Body", "query_block", "tile_ops"]

MAX_GROUPS = 512     # groups per unrolled block body (bounds the ops the engine simulates per iteration)
UNITS = ("2d", "1d", "dram")
LEVELS = ("DRAM.read", "DRAM.write", "GlobalBuffer.read", "GlobalBuffer.write")
UNIT_KEYS = {"2d": "2d", "1d": "1d", "dram": "dram"}

# fusemax-and-flat.md §2 Binding (1-pass cascade on FuseMax).
BINDING_FUSEMAX = {"BQK": "2d", "LM": "2d", "SLN": "2d", "SLD": "2d", "SLNV": "2d",
                   "RM": "1d", "PRM": "1d", "SPD": "1d", "RD": "1d", "SPNV": "1d", "RNV": "1d", "AV": "1d"}
# On FLAT's hardware the 2D PEs have only + and × (no max, no exp): the 2D array runs the two matrix products, as
# FLAT runs QK and AV there, and the 1D array (max, exp unit, divider) runs the softmax.
BINDING_FLAT_1PASS = {**{e: "1d" for e in BINDING_FUSEMAX}, "BQK": "2d", "SLNV": "2d"}
BINDING_3PASS = {"QK": "2d", "GM": "1d", "SN": "1d", "SD": "1d", "A": "1d", "AV": "2d"}
ONE_PASS = tuple(BINDING_FUSEMAX)
THREE_PASS = tuple(BINDING_3PASS)


# ---------------------------------------------------------------------------------------------------------------
# A vectorized segment-body builder


@dataclass
class Body:
    """Ops added kind by kind over index arrays; program order by `key`; keys >= `span` wrap into the next iteration.

    `add` returns a kind id; `dep(kind, on, i, j)` makes op i of `kind` depend on op j of `on` (same block). A
    dependency from a wrapped op on an unwrapped one becomes a previous-iteration dependency; `prev=True` forces one
    (an op of this iteration on the previous block's op).
    """
    span: float
    levels: tuple[str, ...] = LEVELS
    tags: list[str] = field(default_factory=list)
    _kinds: list[dict] = field(default_factory=list)
    _deps: list[tuple] = field(default_factory=list)

    def add(self, unit: str, key, duration, *, latency=0, tag: str | None = None, acquire=0, release=0,
            **level_bytes) -> int:
        key = np.atleast_1d(np.asarray(key, np.float64))
        n = len(key)
        full = lambda v, dt: np.broadcast_to(np.asarray(v, dt), (n,)).copy()  # noqa: E731
        if tag is not None and tag not in self.tags:
            self.tags.append(tag)
        lb = np.zeros((n, len(self.levels)))
        for name, v in level_bytes.items():
            lb[:, self.levels.index(name.replace("_", ".", 1))] = v
        self._kinds.append(dict(unit=UNITS.index(unit), key=key, duration=full(duration, np.int64),
                                latency=full(latency, np.int64), tag=-1 if tag is None else self.tags.index(tag),
                                acq=full(acquire, np.int64), rel=full(release, np.int64), lb=lb, n=n))
        return len(self._kinds) - 1

    def dep(self, kind: int, on: int, i=None, j=None, *, prev: bool = False) -> None:
        n = self._kinds[kind]["n"]
        i = np.arange(n) if i is None else np.asarray(i, np.int64)
        j = np.broadcast_to(np.arange(n) if j is None else np.asarray(j, np.int64), i.shape)
        ok = (j >= 0) & (j < self._kinds[on]["n"])
        self._deps.append((kind, on, i[ok], j[ok], prev))

    def segment(self, name: str, repeat: int) -> Segment:
        ks = self._kinds
        base = np.cumsum([0] + [k["n"] for k in ks])
        key = np.concatenate([k["key"] for k in ks])
        wrap = key >= self.span
        order = np.argsort(np.where(wrap, key - self.span, key), kind="stable")
        pos = np.empty(len(order), np.int64)
        pos[order] = np.arange(len(order))
        cat = lambda f: np.concatenate([k[f] for k in ks])  # noqa: E731
        src, dst, prv = [], [], []
        for kind, on, i, j, prev in self._deps:
            x, y = base[kind] + i, base[on] + j
            p = np.full(len(x), prev) | (wrap[x] & ~wrap[y])
            if (~wrap[x] & wrap[y] & ~p).any() or ((pos[y] >= pos[x]) & ~p).any():
                raise MappingError(f"lowering: op kind {kind} depends on a later op of kind {on}")
            src.append(pos[x]), dst.append(pos[y]), prv.append(p)
        src, dst, prv = (np.concatenate(a) if a else np.zeros(0, t) for a, t in
                         ((src, np.int64), (dst, np.int64), (prv, bool)))
        e = np.lexsort((dst, src))
        n = len(order)
        acq, rel = cat("acq")[order], cat("rel")[order]
        has_a, has_r = acq > 0, rel > 0
        ptr = lambda counts: np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # noqa: E731
        return Segment(
            name=name, repeat=int(repeat), barrier=False,
            unit=np.repeat([k["unit"] for k in ks], [k["n"] for k in ks]).astype(np.int32)[order],
            duration=cat("duration")[order], latency=cat("latency")[order],
            dep_ptr=ptr(np.bincount(src, minlength=n)), dep_op=dst[e].astype(np.int32), dep_prev=prv[e],
            acq_ptr=ptr(has_a), acq_buf=np.zeros(int(has_a.sum()), np.int32), acq_amount=acq[has_a],
            rel_ptr=ptr(has_r), rel_buf=np.zeros(int(has_r.sum()), np.int32), rel_amount=rel[has_r],
            level_bytes=np.concatenate([k["lb"] for k in ks])[order],
            tag=np.repeat([k["tag"] for k in ks], [k["n"] for k in ks]).astype(np.int32)[order])


def program(segments: list[Segment], tags: list[str], buffer_bytes: int) -> Program:
    p = Program(units=UNITS, unit_is_memory=(False, False, True), buffers=("gb",),
                buffer_capacity=np.array([int(buffer_bytes)], np.int64), levels=LEVELS, tags=tuple(tags),
                ticks_per_cycle=1, segments=tuple(segments))
    validate(p)
    return p


# ---------------------------------------------------------------------------------------------------------------
# Shared arithmetic


def _arch_facts(arch: Arch) -> dict[str, Any]:
    two, one = accel.unit(arch, "2d"), accel.unit(arch, "1d")
    dram, gb = arch.levels[0], accel.level(arch, "GlobalBuffer")
    bw = dram.bandwidth_bytes_per_s
    return {"rows": two.pes[0], "cols": two.pes[1], "pes2": accel.pe_count(arch, two),
            "pes1": accel.pe_count(arch, one),
            "buffer": gb.capacity_bytes, "bytes_per_cycle": None if bw is None else bw / arch.clock_hz}


def dram_cycles(nbytes, bytes_per_cycle) -> np.ndarray:
    """Cycles to move `nbytes` at the DRAM's bytes per cycle (0 if unlimited)."""
    if bytes_per_cycle is None:
        return np.zeros_like(np.asarray(nbytes, np.int64))
    return np.ceil(np.asarray(nbytes, np.float64) / bytes_per_cycle).astype(np.int64)


def tile_ops(cascade: Cascade, per: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """Each Einsum's op counts divided evenly over `per[einsum]` work items (exact when divisible)."""
    counts = workloads.op_counts(cascade)
    out = {}
    for name, ops in counts.items():
        n = per[name]
        if any(v % n for v in ops.values()):
            raise MappingError(f"Einsum {name}: op counts {ops} do not divide over {n} tiles")
        out[name] = {op: v // n for op, v in ops.items()}
    return out


def cycles(arch: Arch, unit_name: str, ops: Mapping[str, float], active: int, dtype: str) -> int:
    """Cycles for one PE-parallel piece of work: Σ ops / rate, spread over `active` PEs, rounded up."""
    u = accel.unit(arch, unit_name)
    work = 0.0
    for op, n in ops.items():
        rate = accel.op_rate(u, op, dtype)
        if rate is None:
            raise MappingError(f"unit {unit_name} of {arch.name} cannot run op {op!r}")
        work += 0.0 if math.isinf(rate) else n / rate
    return int(math.ceil(work / active - 1e-9))


def actions(cascade: Cascade, arch: Arch, binding: Mapping[str, str]) -> dict[str, float]:
    """Exact action counts: every op of every Einsum on its unit, and register traffic.

    Each op slot (one PE-cycle of work: an exp on FuseMax's MAC datapath is 6 slots) reads two register operands and
    writes one result. FLAT's `sub`, absorbed into the exp pipeline, has no slot.
    """
    acts: dict[str, float] = {}
    for name, ops in workloads.op_counts(cascade).items():
        u = accel.unit(arch, binding[name])
        for op, n in ops.items():
            acts[f"{u.name}.{op}"] = acts.get(f"{u.name}.{op}", 0.0) + n
            rate = accel.op_rate(u, op, cascade.dtype)
            slots = 0.0 if math.isinf(rate) else n / rate
            acts[f"{u.name}.register_read"] = acts.get(f"{u.name}.register_read", 0.0) + 2 * slots
            acts[f"{u.name}.register_write"] = acts.get(f"{u.name}.register_write", 0.0) + slots
    return acts


def query_block(cascade: Cascade, arch: Arch, m0: int, p0: int) -> int:
    """FuseMax's query-block rule (§2 Mapping; attention-einsums.md §1.7), in M0-row subtiles.

    avail = buffer − (P0·E·2 + P0·F·2); per query row (E + 1 + 1 + F)·2 bytes;
    M1 = min(avail // (per·M0), M/M0), rounded down to a factor of M/M0.
    """
    s, b = cascade.sizes, workloads.DTYPE_BYTES[cascade.dtype]
    avail = _arch_facts(arch)["buffer"] - (p0 * s["E"] * b + p0 * s["F"] * b)
    per = (s["E"] + 2 + s["F"]) * b
    n_sub = s["M"] // m0
    m1 = max(1, min(avail // (per * m0), n_sub))
    while n_sub % m1:
        m1 -= 1
    return m1


def _check_attention(cascade: Cascade, arch: Arch, einsums: tuple[str, ...]) -> str | None:
    names = tuple(e.name for e in cascade.einsums)
    if sorted(names) != sorted(einsums):
        return f"needs the Einsums {', '.join(einsums)} (this cascade has {', '.join(names)})"
    if cascade.masks:
        return "masked attention is not modelled on spatial arrays"
    try:
        f = _arch_facts(arch)
    except accel.ArchError as e:
        return f"needs units '2d' and '1d' and a GlobalBuffer level ({e})"
    s = cascade.sizes
    if s.get("P0", f["rows"]) > f["rows"]:
        return f"key tile P0={s['P0']} is taller than the 2D array ({f['rows']} rows)"
    m0 = min(f["cols"], s["M"])
    p0 = s.get("P0", min(f["rows"], s["P"]))
    if s["M"] % m0 or s["P"] % p0:
        return f"M={s['M']} and P={s['P']} must be multiples of the tile {m0}×{p0}"
    return None


def _nests(m2: int, p1: int, m1: int, m0: int, p0: int) -> tuple[LevelNest, ...]:
    return (LevelNest("DRAM", (Loop("B", 0), Loop("H", 0), Loop("M2", m2))),
            LevelNest("GlobalBuffer", (Loop("P1", p1), Loop("M1", m1), Loop("M0", m0, "cols"),
                                       Loop("P0", p0, "rows"))))


def _group_size(tiles: int, m1: int) -> int:
    """Tiles per group: the smallest power of two keeping ≤ MAX_GROUPS groups that divides or is a multiple of M1."""
    g = 1
    while tiles // g > MAX_GROUPS and tiles % (2 * g) == 0:
        g *= 2
    if g > m1 and g % m1:
        g = m1
    return g


# ---------------------------------------------------------------------------------------------------------------
# 1-pass cascade: fusemax-cascade (FLAT hardware), fusemax-arch, fusemax


def _supports_1pass(hardware: str):
    def supports(cascade: Cascade, arch: Arch) -> str | None:
        reason = _check_attention(cascade, arch, ONE_PASS)
        if reason:
            return reason
        binding = BINDING_FUSEMAX if hardware == "fusemax" else BINDING_FLAT_1PASS
        for e, ops in workloads.op_counts(cascade).items():
            u = accel.unit(arch, binding[e])
            missing = [op for op in ops if accel.op_rate(u, op, cascade.dtype) is None]
            if missing:
                return f"Einsum {e} is bound to {u.name}, which cannot run {missing[0]!r}"
        return None
    return supports


def _pin(constraints: MappingType[str, Any], key: str, default: int, minimum: int = 1) -> int:
    """A pinned integer mapping parameter (or the planner's default); a bad pin is a MappingError naming it."""
    value = constraints.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MappingError(f"mapping parameter {key}={value!r} must be an integer ≥ {minimum}")
    return int(value)


def _plan_1pass(name: str, hardware: str, interleave: bool):
    def plan(cascade: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        f, s = _arch_facts(arch), cascade.sizes
        m0, p0 = min(f["cols"], s["M"]), s["P0"]
        p1, n_sub = s["P"] // p0, s["M"] // m0
        m1 = _pin(constraints, "M1", query_block(cascade, arch, m0, p0))
        if n_sub % m1:
            raise MappingError(f"M1={m1} must divide M/M0={n_sub}")
        group = _pin(constraints, "group", _group_size(p1 * m1, m1))
        if group > p1 * m1:
            raise MappingError(f"mapping parameter group={group} exceeds the {p1 * m1} tiles (P1·M1) of a block")
        binding = BINDING_FUSEMAX if hardware == "fusemax" else BINDING_FLAT_1PASS
        fill = _pin(constraints, "fill_drain", f["rows"] + f["cols"] - 2, minimum=0)
        params = {"M0": m0, "P0": p0, "P1": p1, "M1": m1, "M2": n_sub // m1, "group": group, "fill_drain": fill,
                  "interleave": interleave, "granularity": "query block"}
        if interleave:
            # Lookahead (groups) that hides a 2D→1D→2D round trip behind independent tiles of the other subtiles.
            two = sum(cycles(arch, "2d", o, min(f["pes2"], m0 * p0), cascade.dtype) for e, o in
                      tile_ops(cascade, _per_1pass(cascade, m0)).items() if binding[e] == "2d")
            params["lookahead"] = _pin(constraints, "lookahead", max(1, math.ceil((fill + 8) / (group * two))))
        return Mapping(name, (FusionGroup(ONE_PASS, _nests(n_sub // m1, p1, m1, m0, p0)),), binding, params)
    return plan


def _per_1pass(cascade: Cascade, m0: int) -> dict[str, int]:
    s = cascade.sizes
    tiles = s["B"] * s["H"] * (s["M"] // m0) * s["P1"]
    return {e: (s["B"] * s["H"] * (s["M"] // m0) if e == "AV" else tiles) for e in ONE_PASS}


def _lower_1pass(cascade: Cascade, arch: Arch, mapping: Mapping) -> Lowered:
    f, s, prm = _arch_facts(arch), cascade.sizes, mapping.params
    b = workloads.DTYPE_BYTES[cascade.dtype]
    m0, p0, p1, m1, group = prm["M0"], prm["P0"], prm["P1"], prm["M1"], prm["group"]
    interleave, fill = prm["interleave"], prm["fill_drain"]
    look = prm.get("lookahead", 0)
    E, F = s["E"], s["F"]
    per_tile = tile_ops(cascade, _per_1pass(cascade, m0))
    binding = mapping.binding
    active = {"2d": min(f["pes2"], m0 * p0), "1d": min(f["pes1"], m0)}
    n_groups = p1 * m1 // group
    dur = {e: cycles(arch, binding[e], {o: v * group for o, v in per_tile[e].items()}, active[binding[e]],
                     cascade.dtype) for e in ONE_PASS if e != "AV"}
    # Pipeline stage of each Einsum: one more per crossing between the arrays along its dependency path.
    deps = {"LM": ["BQK"], "RM": ["LM"], "SLN": ["BQK", "RM"], "SLD": ["SLN"], "SLNV": ["SLN"], "PRM": ["RM"],
            "SPD": ["PRM"], "RD": ["SPD", "SLD"], "SPNV": ["PRM"], "RNV": ["SPNV", "SLNV"]}
    topo = ("BQK", "LM", "RM", "SLN", "SLD", "SLNV", "PRM", "SPD", "SPNV", "RD", "RNV")
    stage = {"BQK": 0}
    for e in topo[1:]:
        stage[e] = max(stage[d] + (binding[d] != binding[e]) for d in deps[e])
    crosses = {d for e, ds in deps.items() for d in ds if binding[d] != binding[e]}
    span = n_groups
    body = Body(span=span)
    g = np.arange(n_groups)
    order = {e: k for k, e in enumerate(topo)}
    kinds = {}
    for e in ONE_PASS[:-1]:
        key = g + stage[e] * look + (order[e] + 1) / 20
        lat = (fill * (1 if interleave else group)) if (e in crosses and binding[e] == "2d") else 0
        kinds[e] = body.add(binding[e], key, dur[e], latency=lat, tag=e)
    for e, ds in deps.items():
        for d in ds:
            body.dep(kinds[e], kinds[d])
    if not interleave:  # one tile produced and consumed at a time: the next group waits for this one's last result
        body.dep(kinds["BQK"], kinds["RNV"], g[1:], g[:-1])
    # DRAM: K/V chunks (prefetched one chunk ahead), the block's Q (loaded during the previous block when two
    # blocks' Q and state fit beside the K/V buffers), the output after AV.
    tiles_per_chunk = max(group, m1)
    chunk_keys = tiles_per_chunk // m1 * p0
    n_chunks = p1 * m1 // tiles_per_chunk
    gpc = n_groups // n_chunks
    kv_bytes = chunk_keys * (E + F) * b
    c = np.arange(n_chunks)
    kv = body.add("dram", np.maximum(c - 1, 0) * gpc + 0.01, dram_cycles(kv_bytes, f["bytes_per_cycle"]),
                  acquire=kv_bytes, DRAM_read=kv_bytes, GlobalBuffer_write=kv_bytes)
    body.dep(kinds["BQK"], kv, g, g // gpc)
    body._kinds[kinds["SLNV"]]["rel"][c * gpc + gpc - 1] = kv_bytes   # the chunk's last reader frees it
    q_state = m1 * m0 * (E + 2 + F) * b
    q_bytes = m1 * m0 * E * b
    double_q = 2 * q_state + 3 * kv_bytes <= f["buffer"]
    q = body.add("dram", 0.0, dram_cycles(q_bytes, f["bytes_per_cycle"]), DRAM_read=q_bytes,
                 GlobalBuffer_write=q_bytes)
    last_bqk = np.array([n_groups - 1])
    body.dep(q, kinds["BQK"], [0], last_bqk, prev=True)   # its buffer slot is free once the last block read it
    if double_q:   # loaded during the previous block: block k reads the Q loaded in iteration k−1
        body.dep(kinds["BQK"], q, g, np.zeros_like(g), prev=True)
    else:
        body.dep(kinds["BQK"], q, g, np.zeros_like(g))
    end = n_groups - 1 + max(stage.values()) * look + 0.9
    av_ops = {o: v * m1 for o, v in per_tile["AV"].items()}
    av = body.add(binding["AV"], end, cycles(arch, binding["AV"], av_ops, active[binding["AV"]], cascade.dtype),
                  tag="AV", GlobalBuffer_write=m1 * m0 * F * b)
    body.dep(av, kinds["RNV"], [0], [n_groups - 1])
    body.dep(av, kinds["RD"], [0], [n_groups - 1])
    out_bytes = m1 * m0 * F * b
    out = body.add("dram", end + 0.01, dram_cycles(out_bytes, f["bytes_per_cycle"]), DRAM_write=out_bytes,
                   GlobalBuffer_read=out_bytes)
    body.dep(out, av)
    # Global-buffer reads by the arrays: Q and K per BQK, V per SLNV (per group).
    body._kinds[kinds["BQK"]]["lb"][:, LEVELS.index("GlobalBuffer.read")] = group * (m0 + p0) * E * b
    body._kinds[kinds["SLNV"]]["lb"][:, LEVELS.index("GlobalBuffer.read")] = group * p0 * F * b
    repeat = s["B"] * s["H"] * prm["M2"]
    kv_cap = f["buffer"] - (2 if double_q else 1) * q_state
    prog = program([body.segment("query block", repeat)], body.tags, kv_cap)
    notes = (f"M1={m1} query subtiles of {m0} rows per block, {n_groups} groups of {group} tiles per block body",)
    return Lowered(prog, UNIT_KEYS, actions(cascade, arch, binding), {}, workloads.flops(cascade), notes)


# ---------------------------------------------------------------------------------------------------------------
# 3-pass cascade: flat (fused, FLAT's search over row blocks) and unfused (three phases through DRAM)


def _supports_3pass(cascade: Cascade, arch: Arch) -> str | None:
    reason = _check_attention(cascade, arch, THREE_PASS)
    if reason:
        return reason
    for e, ops in workloads.op_counts(cascade).items():
        u = accel.unit(arch, BINDING_3PASS[e])
        missing = [op for op in ops if accel.op_rate(u, op, cascade.dtype) is None]
        if missing:
            return f"Einsum {e} is bound to {u.name}, which cannot run {missing[0]!r}"
    return None


def _flat_rows(cascade: Cascade, arch: Arch, rows: int) -> tuple[float, int]:
    """(spilled fraction, on-chip bytes) of a block of `rows` query rows: scores of two blocks in flight
    (QK/SN/A of block k while the next block's QK is produced), plus Q, output, and K/V tiles."""
    f, s = _arch_facts(arch), cascade.sizes
    b = workloads.DTYPE_BYTES[cascade.dtype]
    other = rows * (s["E"] + s["F"]) * b + 4 * f["rows"] * (s["E"] + s["F"]) * b
    scores = 2 * rows * s["P"] * b
    avail = max(f["buffer"] - other, 0)
    return 1.0 - min(1.0, avail / scores), other + min(scores, avail)


def _plan_3pass(name: str):
    def plan(cascade: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
        f, s = _arch_facts(arch), cascade.sizes
        m0, p0 = min(f["cols"], s["M"]), min(f["rows"], s["P"])
        p1 = s["P"] // p0
        if "rows" in constraints:
            options = [_pin(constraints, "rows", 0)]
        else:
            # Row blocks are power-of-two multiples of the array width that divide M (supports() checked m0 | M).
            options = [m0 * 2 ** i for i in range(40) if m0 * 2 ** i <= s["M"] and s["M"] % (m0 * 2 ** i) == 0]
        if name == "flat" and "rows" not in constraints:
            fits = [r for r in options if _flat_rows(cascade, arch, r)[0] == 0.0]
            if fits:
                # FLAT's search: the fastest legal tiling that fits (simulated), ties to the larger block.
                timed = [(evaluate_mapping(cascade, arch, _mapping_3pass(name, cascade, arch, r, p1, p0)), -r)
                         for r in fits]
                rows = -min(timed)[1]
            else:
                rows = options[0]
        else:
            rows = options[0] if name == "flat" else max([r for r in options if r <= 1024], default=options[0])
        return _mapping_3pass(name, cascade, arch, rows, p1, p0)
    return plan


def _mapping_3pass(name: str, cascade: Cascade, arch: Arch, rows: int, p1: int, p0: int) -> Mapping:
    s = cascade.sizes
    if s["M"] % rows:
        raise MappingError(f"rows={rows} must divide M={s['M']}")
    spill, _ = _flat_rows(cascade, arch, rows) if name == "flat" else (1.0, 0)
    group, b = 1, workloads.DTYPE_BYTES[cascade.dtype]
    while (p1 // group > MAX_GROUPS // 2 and p1 % (2 * group) == 0
           and 2 * rows * group * p0 * b <= _arch_facts(arch)["buffer"] // 8):
        group *= 2
    params = {"rows": rows, "P0": p0, "P1": p1, "M2": s["M"] // rows, "group": group, "spill": spill,
              "granularity": "head" if rows == s["M"] else "row",
              "fill_drain": _arch_facts(arch)["rows"] + _arch_facts(arch)["cols"] - 2}
    nests = (LevelNest("DRAM", (Loop("B", 0), Loop("H", 0), Loop("M2", s["M"] // rows))),
             LevelNest("GlobalBuffer", (Loop("P1", p1), Loop("M1", rows), Loop("P0", p0, "rows"))))
    groups = (FusionGroup(THREE_PASS, nests),) if name == "flat" else tuple(
        FusionGroup(es, nests) for es in (("QK",), ("GM", "SN", "SD", "A"), ("AV",)))
    return Mapping(name, groups, BINDING_3PASS, params)


def evaluate_mapping(cascade: Cascade, arch: Arch, mapping: Mapping) -> float:
    from sim.engine.scheduler import simulate
    return simulate(_lower_3pass(cascade, arch, mapping).program).ticks


def _lower_3pass(cascade: Cascade, arch: Arch, mapping: Mapping) -> Lowered:
    f, s, prm = _arch_facts(arch), cascade.sizes, mapping.params
    b = workloads.DTYPE_BYTES[cascade.dtype]
    rows, p0, p1, group, spill, fill = (prm[k] for k in ("rows", "P0", "P1", "group", "spill", "fill_drain"))
    E, F = s["E"], s["F"]
    blocks = s["B"] * s["H"] * (s["M"] // rows)
    per_tile = tile_ops(cascade, {e: blocks * p1 // group for e in THREE_PASS})
    act = {"2d": min(f["pes2"], rows * p0 * group), "1d": min(f["pes1"], rows * p0 * group)}
    dur = {e: cycles(arch, BINDING_3PASS[e], per_tile[e], act[BINDING_3PASS[e]], cascade.dtype) for e in THREE_PASS}
    n = p1 // group
    c = np.arange(n)
    bpc = f["bytes_per_cycle"]
    kb, vb = group * p0 * E * b, group * p0 * F * b
    score = rows * group * p0 * b
    spilled = spill * score
    q_bytes, out_bytes = rows * E * b, rows * F * b
    if mapping.dataflow == "flat":
        body = Body(span=2 * n + 1)
        q = body.add("dram", 0.0, dram_cycles(q_bytes, bpc), DRAM_read=q_bytes, GlobalBuffer_write=q_bytes)
        k = body.add("dram", np.maximum(c - 1, 0) + 0.01, dram_cycles(kb, bpc), acquire=kb, DRAM_read=kb,
                     GlobalBuffer_write=kb)
        qk = body.add("2d", c + 0.1, dur["QK"], latency=fill, tag="QK", release=kb,
                      GlobalBuffer_read=kb + group * q_bytes, GlobalBuffer_write=score)
        body.dep(qk, k), body.dep(qk, q, c, np.zeros_like(c))
        gm = body.add("1d", c + 1.2, dur["GM"], tag="GM", GlobalBuffer_read=score)
        body.dep(gm, qk)
        # Pass 2 after the block's global max; pass 3 (A, AV) wraps into the next iteration, beside the next QK.
        sn = body.add("1d", n + 1 + c + 0.3, dur["SN"], tag="SN", GlobalBuffer_read=score, GlobalBuffer_write=score)
        body.dep(sn, gm, c, np.full(n, n - 1))
        sd = body.add("1d", n + 1 + c + 0.4, dur["SD"], tag="SD")
        body.dep(sd, sn)
        v = body.add("dram", 2 * n + 1 + np.maximum(c - 1, 0) + 0.02, dram_cycles(vb, bpc), acquire=vb, DRAM_read=vb,
                     GlobalBuffer_write=vb)
        a = body.add("1d", 2 * n + 1 + c + 0.25, dur["A"], tag="A", GlobalBuffer_read=score, GlobalBuffer_write=score)
        body.dep(a, sd, c, np.full(n, n - 1))
        av = body.add("2d", 2 * n + 1 + c + 0.3, dur["AV"], tag="AV", release=vb, GlobalBuffer_read=score + vb)
        body.dep(av, a), body.dep(av, v)
        if spill > 0:  # QK and SN written and read back once (attention-einsums.md §1.8 (c)), for the spilled part
            for after, before, k_write, k_read in ((qk, sn, c + 1.12, n + 1 + c + 0.29), (sn, a, n + 1 + c + 1.35,
                                                                                      2 * n + 1 + c + 0.24)):
                w = body.add("dram", k_write, dram_cycles(spilled, bpc), DRAM_write=spilled)
                body.dep(w, after)
                r = body.add("dram", k_read, dram_cycles(spilled, bpc), DRAM_read=spilled)
                body.dep(r, w)
                body.dep(before, r)
        out = body.add("dram", 3 * n + 0.5, dram_cycles(out_bytes, bpc), DRAM_write=out_bytes,
                       GlobalBuffer_read=out_bytes)
        body.dep(out, av, [0], [n - 1])
        segs = [body.segment("row block", blocks)]
        tags = body.tags
        cap = f["buffer"]
    else:
        segs, tags = [], []
        # Phase 1: QK = Q × K, written to DRAM.
        b1 = Body(span=n + 1, tags=tags)
        q = b1.add("dram", 0.0, dram_cycles(q_bytes, bpc), DRAM_read=q_bytes, GlobalBuffer_write=q_bytes,
                   acquire=q_bytes)
        k = b1.add("dram", np.maximum(c - 1, 0) + 0.01, dram_cycles(kb, bpc), acquire=kb, DRAM_read=kb,
                   GlobalBuffer_write=kb)
        qk = b1.add("2d", c + 0.1, dur["QK"], latency=fill, tag="QK", release=kb + (c == n - 1) * q_bytes,
                    acquire=score, GlobalBuffer_read=kb + group * q_bytes, GlobalBuffer_write=score)
        b1.dep(qk, k), b1.dep(qk, q, c, np.zeros_like(c))
        w = b1.add("dram", c + 1.05, dram_cycles(score, bpc), release=score, DRAM_write=score,
                   GlobalBuffer_read=score)
        b1.dep(w, qk)
        segs.append(b1.segment("QK", blocks))
        # Phase 2: the 3-pass softmax on the 1D array, rows resident on chip, read once and written once.
        b2 = Body(span=n + 1, tags=tags)
        r = b2.add("dram", np.maximum(c - 1, 0) + 0.01, dram_cycles(score, bpc), acquire=score, DRAM_read=score,
                   GlobalBuffer_write=score)
        ops = [b2.add("1d", c + 0.1 * (i + 1), dur[e], tag=e, GlobalBuffer_read=score * (e != "SD"),
                      GlobalBuffer_write=score * (e in ("SN", "A"))) for i, e in enumerate(("GM", "SN", "SD", "A"))]
        b2.dep(ops[0], r)
        for x, y in zip(ops[1:], ops[:-1]):
            b2.dep(x, y)
        w2 = b2.add("dram", c + 1.05, dram_cycles(score, bpc), release=score, DRAM_write=score,
                    GlobalBuffer_read=score)
        b2.dep(w2, ops[-1])
        seg2 = b2.segment("softmax", blocks)
        segs.append(dataclasses.replace(seg2, barrier=True))
        # Phase 3: AV = A × V.
        b3 = Body(span=n + 1, tags=tags)
        ra = b3.add("dram", np.maximum(c - 1, 0) + 0.01, dram_cycles(score + vb, bpc), acquire=score + vb,
                    DRAM_read=score + vb, GlobalBuffer_write=score + vb)
        av = b3.add("2d", c + 0.1, dur["AV"], tag="AV", release=score + vb, GlobalBuffer_read=score + vb)
        b3.dep(av, ra)
        out = b3.add("dram", n - 1 + 0.5, dram_cycles(out_bytes, bpc), DRAM_write=out_bytes,
                     GlobalBuffer_read=out_bytes)
        b3.dep(out, av, [0], [n - 1])
        seg3 = b3.segment("AV", blocks)
        segs.append(dataclasses.replace(seg3, barrier=True))
        cap = f["buffer"]
    prog = program(segs, tags, cap)
    notes = (f"{prm['granularity']} granularity, {rows} query rows per block, spilled fraction {spill:.3g}",)
    return Lowered(prog, UNIT_KEYS, actions(cascade, arch, BINDING_3PASS), {}, workloads.flops(cascade), notes)


# ---------------------------------------------------------------------------------------------------------------
# Search spaces (what `sim.explore` searches, starting from the default plan)


def _divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(small + [n // d for d in reversed(small) if d * d != n])


def space_1pass(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
    """1-pass dataflows: the query block (M1, in M0-row subtiles) and the interleaving lookahead (groups)."""
    m = cascade.sizes.get("M", 1)
    n_sub = max(1, m // min(_arch_facts(arch)["cols"], m))
    return {"M1": _divisors(n_sub), "lookahead": (1, 2, 4, 8)}


def space_3pass(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
    """3-pass dataflows: the query rows per fused block (power-of-two multiples of the array width)."""
    m = cascade.sizes.get("M", 1)
    m0 = min(_arch_facts(arch)["cols"], m)
    return {"rows": tuple(m0 << i for i in range(40) if m0 << i <= m)}


# ---------------------------------------------------------------------------------------------------------------
# Registration

register_dataflow("unfused", supports=_supports_3pass, plan=_plan_3pass("unfused"), lower=_lower_3pass,
                  space=space_3pass, doc="3-pass cascade in three phases (QK, softmax, AV), each through DRAM")
register_dataflow("flat", supports=_supports_3pass, plan=_plan_3pass("flat"), lower=_lower_3pass, space=space_3pass,
                  doc="FLAT: 3-pass cascade fused at head or row granularity, spilling QK/SN when a block does not fit")
register_dataflow("fusemax-cascade", supports=_supports_1pass("flat"),
                  plan=_plan_1pass("fusemax-cascade", "flat", True), lower=_lower_1pass, space=space_1pass,
                  doc="+Cascade: the 1-pass cascade on FLAT's hardware")
register_dataflow("fusemax-arch", supports=_supports_1pass("fusemax"),
                  plan=_plan_1pass("fusemax-arch", "fusemax", False), lower=_lower_1pass, space=space_1pass,
                  doc="+Architecture: FuseMax hardware, one tile produced and consumed at a time")
register_dataflow("fusemax", supports=_supports_1pass("fusemax"), plan=_plan_1pass("fusemax", "fusemax", True),
                  lower=_lower_1pass, space=space_1pass,
                  doc="FuseMax: 1-pass cascade with two-level interleaving of the 2D and 1D arrays")
