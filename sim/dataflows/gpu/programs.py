"""Tile programs of one SM: fused attention CTAs, tiled GEMMs and memory-bound streaming kernels.

Per SM the units are `tensor` (at the kernel's instruction path rate), `sfu` (exp and other special functions),
`fma` (other FP32 work), and, shared with the other SMs, `l2` and `hbm` (each SM's share of the bandwidth), plus
a `host` unit for kernel launches. Byte counters of the simulated SM are scaled to the whole GPU.

A kernel is a launch (a barrier: it waits for everything before it) and its CTAs in launch order. A CTA is a
prologue (its Q tile), its KV tiles (partially masked first, as FlashAttention iterates them) and an epilogue
(normalize and store O), each piece listed once and composed with NumPy (`pieces`). A KV tile's load takes a slot
of the SM's K/V stage buffer (resident CTAs × stages tiles), freed when its last GEMM is done: the producer
(cp.async or TMA) runs at most that far ahead of the math. A run of equal CTAs is one segment repeated once per
CTA, its KV loop unrolled in the body (the engine extrapolates the repetition once it is periodic); a CTA whose
unrolled loop would list more than MAX_UNROLLED_OPS ops, or cost more to list and simulate than its segments
(SEGMENT_COST_OPS each), is a prologue, looped KV segments and an epilogue instead (see `pieces` for the one
optimistic boundary of that layout; on the GPU benchmark cases the two layouts give the same schedule).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.dataflows.gpu.constants import MAX_UNROLLED_OPS, TICKS_PER_CYCLE
from sim.dataflows.gpu.costs import TileCost
from sim.dataflows.gpu.machine import SM
from sim.dataflows.gpu.pieces import Names, Piece, compose, ops_of
from sim.ir.mapping import MappingError
from sim.ir.program import Program, ProgramBuilder, Segment, SegmentBuilder, validate

COMPUTE = ("tensor", "sfu", "fma")
SHARED = ("l2", "hbm", "host")
UNIT_LEVELS = {"hbm": "HBM", "l2": "L2"}
LEVELS = ("HBM.read", "HBM.write", "L2.read", "L2.write", "SMEM.read", "SMEM.write")
TAGS = ("load", "qk", "score_mod", "softmax", "pv", "normalize", "pre", "post", "gemm", "epilogue", "launch", "copy",
        "mask", "combine", "permute", "unpermute")
MAX_SEGMENTS = 1 << 14     # segments one lowering may list (each costs validation and scheduling time)
# A listed segment costs about as much lowering, validation and scheduling time as this many ops listed or
# simulated (measured with benchmarks/gpu_speed.py, segments sharing a body renamed rather than rebuilt and their
# body checked once: ~10 µs a segment against ~0.05 µs an op): a CTA is unrolled unless its body, listed once and
# simulated once or twice, costs more than its 4 segments.
SEGMENT_COST_OPS = 200


def cycles(x: float) -> int:
    """Engine ticks of `x` cycles, rounded up."""
    return max(int(math.ceil(x * TICKS_PER_CYCLE)), 0)


class GpuProgram:
    """The program of one SM (or `copies` SMs in lockstep) in order: segments built op by op (`segment`) or composed
    from pieces (`add`), and which segments form which kernel. Buffers: each copy's shared memory `smem` (resident
    units reserve their share) and K/V stage buffer `kv` (sized by `stage_buffer`), plus `buffers`."""

    def __init__(self, sm: SM, copies: int = 1, buffers: dict[str, int] | None = None):
        self.sm, self.copies = sm, copies
        self.suffixes = [str(j) for j in range(copies)] if copies > 1 else [""]
        units = [f"{u}{j}" for j in self.suffixes for u in COMPUTE] + list(SHARED)
        self.capacity = {**{f"smem{j}": sm.smem_bytes for j in self.suffixes},
                         **{f"kv{j}": 1 for j in self.suffixes}, **(buffers or {})}
        self.builder = ProgramBuilder(units, [u in ("l2", "hbm") for u in units], buffers=self.capacity,
                                      levels=LEVELS, tags=TAGS, ticks_per_cycle=TICKS_PER_CYCLE)
        self.names = Names.of(self.builder.units, self.builder.buffers, LEVELS, TAGS)
        self.parts: list[SegmentBuilder | Segment] = []
        self.kernels: dict[str, tuple[int, int]] = {}
        self._open: tuple[str, int] | None = None
        # An adopted scratch program's Program and its part count: `build` returns it while nothing was added.
        self._prebuilt: tuple[Program | None, int] | None = None

    @property
    def count(self) -> int:
        """Segments listed so far."""
        return len(self.parts)

    def _name(self, name: str) -> str:
        if self.count >= MAX_SEGMENTS:
            raise MappingError(f"the lowering lists more than {MAX_SEGMENTS} segments (the simulated SM runs too "
                               f"many distinct CTAs): use fewer heads × batch or larger tiles")
        return f"{name}.{self.count + 1}"

    def segment(self, name: str, repeat: int = 1, barrier: bool = False) -> SegmentBuilder:
        """A new segment built op by op (named uniquely), refused beyond MAX_SEGMENTS."""
        seg = SegmentBuilder(self.builder, self._name(name), repeat, barrier)
        self.parts.append(seg)
        return seg

    def piece(self) -> Piece:
        """An empty piece of this program's names."""
        return Piece(self.names)

    def add(self, body: Segment, name: str, repeat: int = 1, barrier: bool = False) -> None:
        """Append a composed body (`pieces.compose`) under a unique name."""
        self.parts.append(body.renamed(self._name(name), int(repeat), bool(barrier)))

    def adopt(self, other: "GpuProgram", built: Program | None = None) -> None:
        """Append the kernels `other` (a program of the same SM and copies) laid out, with its buffer sizes, so a
        layout simulated on a scratch program is not built twice; `built` is `other.build()`, reused (validated
        once) when this program holds nothing else."""
        self.close()
        other.close()
        offset = self.count
        self._prebuilt = (built, len(other.parts)) if built is not None and not offset else None
        for part in other.parts:
            seg = part.build() if isinstance(part, SegmentBuilder) else part
            self.parts.append(seg.renamed(self._name(seg.name.rsplit(".", 1)[0]), seg.repeat, seg.barrier))
        self.kernels.update({name: (a + offset, b + offset) for name, (a, b) in other.kernels.items()})
        self.capacity.update(other.capacity)

    def stage_buffer(self, capacity: int) -> None:
        """Size every copy's K/V stage buffer."""
        self._prebuilt = None
        for j in self.suffixes:
            self.capacity[f"kv{j}"] = max(int(capacity), 1)

    def kernel(self, name: str) -> None:
        """Start kernel `name` (ending the open one) with its launch: a barrier on the host unit."""
        self.close()
        if name in self.kernels:
            raise ValueError(f"kernel {name!r} listed twice")
        self._open = (name, self.count)
        self.segment(f"{name}.launch", barrier=True).op("host", cycles(self.sm.launch_cycles), tag="launch")

    def close(self) -> None:
        """End the open kernel (its span is the segments listed since it started)."""
        if self._open is not None:
            self.kernels[self._open[0]] = (self._open[1], self.count)
            self._open = None

    def unit_keys(self) -> dict[str, str]:
        """Reporting keys: the per-SM copies `tensor7` count as "tensor"."""
        return {u: (u.rstrip("0123456789") if u.rstrip("0123456789") in COMPUTE else u) for u in self.builder.units}

    def build(self) -> Program:
        """The validated Program."""
        self.close()
        if self._prebuilt is not None and self._prebuilt[1] == self.count:
            return self._prebuilt[0]
        b = self.builder
        program = Program(units=b.units, unit_is_memory=b.unit_is_memory, buffers=b.buffers,
                          buffer_capacity=np.array([self.capacity[n] for n in b.buffers], np.int64), levels=LEVELS,
                          tags=TAGS, ticks_per_cycle=TICKS_PER_CYCLE,
                          segments=tuple(p.build() if isinstance(p, SegmentBuilder) else p for p in self.parts))
        validate(program)
        return program


def stream(g: GpuProgram, total_bytes: float, name: str, efficiency: float, tag: str,
           work: tuple[float, float] = (0.0, 0.0)) -> None:
    """A memory-bound kernel moving `total_bytes` (half read, half written) through L2 and HBM, at `efficiency` of
    the sustained HBM bandwidth, split evenly over all SMs; `work` = its whole (FMA-pipe, SFU) work in base ops
    (`costs.pipe_ops`), which runs alongside its memory traffic."""
    g.kernel(name)
    sm = g.sm.sharing(g.sm.sms)
    s = g.segment(name, barrier=True)
    share = total_bytes / sm.sms / g.copies
    s.op("l2", cycles(share / sm.l2), tag=tag, bytes={"L2.read": total_bytes / 2, "L2.write": total_bytes / 2})
    s.op("hbm", cycles(share / (sm.hbm * efficiency)), tag=tag,
         bytes={"HBM.read": total_bytes / 2, "HBM.write": total_bytes / 2})
    for j in g.suffixes:
        for unit, ops, rate in (("fma", work[0], sm.fma), ("sfu", work[1], sm.sfu)):
            if ops:
                s.op(f"{unit}{j}", cycles(ops / sm.sms / rate), tag=tag)


# ---- fused attention --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """One KV iteration's load: cycles on this SM's L2 and HBM shares, and the bytes they move."""
    l2: float
    hbm: float
    l2_bytes: float
    hbm_bytes: float


@dataclass(frozen=True)
class CtaCost:
    """A unit's prologue (its Q tile) and epilogue (normalize and store O, through L2 to HBM)."""
    pro_l2: float
    pro_hbm: float
    pro_bytes: float
    epi_fma: float
    epi_l2: float
    epi_hbm: float
    epi_bytes: float
    extra_fma: float = 0.0     # the cascade's elementwise work beyond what the tile loop models (cycles per unit)
    extra_sfu: float = 0.0


@dataclass(frozen=True)
class Run:
    """Equal consecutive units of the simulated SM: their tiles and count, and their load and CTA costs (which
    depend on how many SMs share the bandwidth while they run)."""
    partial: int
    full: int
    count: int
    load: Load
    cta: CtaCost


@dataclass(frozen=True)
class AttentionKernel:
    """What `attention` lays out: the simulated SM's runs, the per-tile compute, the shared memory a unit holds,
    and the scale of its bytes to the whole GPU (per unit, per KV iteration).

    `stage` is the bytes one KV tile occupies in the stage buffer and `depth` how many fit on the SM (resident
    units × stages; 0: unbounded); `key_share` of them are its K part. `lag` 1 is intra-warpgroup pipelining (FlashAttention-3 §3.2): each group
    issues tile j's QKᵀ before tile j−1's PV, so tile j's softmax overlaps that PV. `latency` is the cycles after
    a GEMM before its result can be read (the tensor pipeline's drain)."""
    runs: tuple[Run, ...]
    tile: TileCost
    groups: int
    hold: int
    scale: tuple[float, float]
    tags: tuple[str, str]       # the tags of the softmax ops and of the epilogue's FMA work
    stage: int = 0
    depth: int = 0
    lag: int = 0
    latency: float = 0.0
    key_share: float = 1.0      # the fraction of a tile's bytes QKᵀ reads (K and bias tiles; 1: V is part of K)
    sfu: str = "sfu"            # the unit the softmax's SFU work runs on ("tensor": a what-if of no overlap)


def attention(g: GpuProgram, k: AttentionKernel, name: str = "fmha") -> None:
    """The fused attention kernel: one SM's units in launch order."""
    if k.depth:
        g.stage_buffer(k.depth * k.stage)
    pieces: dict = {}
    layouts = [_layout(g, k, run, pieces) for run in k.runs]
    segments = sum(1 if len(lay) == 1 else run.count * len(lay) for run, lay in zip(k.runs, layouts))
    if g.count + segments > MAX_SEGMENTS:
        raise MappingError(f"{name}: the simulated SM's {sum(r.count for r in k.runs)} CTAs need {segments} "
                           f"segments, too large to lower (limit {MAX_SEGMENTS}): use fewer heads × batch, a "
                           f"shorter sequence or larger tiles")
    g.kernel(name)
    first = True
    for run, layout in zip(k.runs, layouts):
        if len(layout) == 1:
            g.add(layout[0][1], "ctas", repeat=run.count, barrier=first)
            first = False
            continue
        for _ in range(run.count):
            for part, body, repeat in layout:
                g.add(body, part, repeat=repeat, barrier=first)
                first = False


def _layout(g: GpuProgram, k: AttentionKernel, run: Run, cache: dict) -> list[tuple[str, Segment, int]]:
    """A run's CTA as composed bodies: one unrolled body (repeated per CTA: the engine simulates a few and
    extrapolates), or, when that lists more ops than MAX_UNROLLED_OPS or costs more (listed once, simulated once or
    twice) than the run's CTAs as separate segments, the prologue with the first tile, a loop per tile kind, and
    the last tile with the epilogue. Pieces are built once per distinct cost, and bodies once per distinct list of
    pieces and counts (`cache`: the runs of a causal grid share most of theirs, and a shared body is checked once)."""
    def piece(key, make):
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def body(name: str, pieces: list[Piece], counts: list[int], loop: bool = False) -> Segment:
        return piece(("body", name, tuple(map(id, pieces)), tuple(counts), loop),     # the pieces live in `cache`
                     lambda: compose(name, pieces, counts, loop=loop))
    tiled = run.partial + run.full > 0
    pro = piece(("pro", run.cta), lambda: _prologue(g, k, run))
    epi = piece(("epi", run.cta, tiled), lambda: _epilogue(g, k, run, tiled))
    if not tiled:
        return [("ctas", body("cta", [pro, epi], [1, 1]), 1)]

    def tile(masked: bool, first: bool) -> Piece:
        return piece(("tile", run.load, masked, first), lambda: _tile(g, k, run.load, masked, first))
    head = tile(run.partial > 0, True)
    rest = [(tile(kind == 0, False) if n > 0 else g.piece(), n)     # (partially masked, full) after the first
            for kind, n in enumerate((run.partial - (run.partial > 0), run.full - (run.partial == 0)))]
    whole = [pro, head] + [p for p, _ in rest] + [epi]
    counts = [1, 1] + [n for _, n in rest] + [1]
    unrolled = ops_of(whole, counts)
    listed_and_run = unrolled * (1 + min(run.count, 2))   # listed once; the engine runs a body once or twice
    if run.partial + run.full < 3 or (unrolled <= MAX_UNROLLED_OPS
                                      and listed_and_run <= run.count * SEGMENT_COST_OPS * 4):
        return [("ctas", body("cta", whole, counts), 1)]
    last = max(i for i, (_, n) in enumerate(rest) if n > 0)
    rest[last] = (rest[last][0], rest[last][1] - 1)
    out = [("cta.pro", body("cta.pro", [pro, head], [1, 1]), 1)]
    out += [(f"cta.{kind}", body(f"cta.{kind}", [p], [1], loop=True), n)
            for kind, (p, n) in zip(("partial", "full"), rest) if n > 0]
    return out + [("cta.epi", body("cta.epi", [rest[last][0], epi], [1, 1]), 1)]


def _prologue(g: GpuProgram, k: AttentionKernel, run: Run) -> Piece:
    """The unit's Q tile (it reserves the unit's shared memory), and the cascade's extra pipe work."""
    p, share, cta = g.piece(), 1.0 / g.copies, run.cta
    for j in g.suffixes:
        for unit, extra in (("fma", cta.extra_fma), ("sfu", cta.extra_sfu)):
            if extra:   # the cascade's pipe work beyond the tile loop's, where the pipe idles (loads, first GEMM)
                p.op(f"{unit}{j}", cycles(extra), tag=k.tags[1])
        a = p.op("l2", cycles(cta.pro_l2 * share), acquire={f"smem{j}": k.hold}, tag="load",
                 bytes={"L2.read": cta.pro_bytes * k.scale[0]})
        p.op("hbm", cycles(cta.pro_hbm * share), cycles(g.sm.hbm_latency_cycles), deps=[a], tag="load",
             bytes={"HBM.read": cta.pro_bytes * k.scale[0]})
    return p


def _softmax(j: str, w: int) -> list[str]:
    """Labels of group `w`'s softmax and score-mod ops on copy `j`."""
    return [f"s{j}.{w}.{n}" for n in range(4)]


def _parts(k: AttentionKernel) -> tuple[int, int]:
    """Stage bytes of a tile's K part (with its bias tiles) and of its V part (0 when V is part of K)."""
    key = k.stage if k.key_share >= 1.0 else int(round(k.stage * k.key_share))
    return key, k.stage - key


def _load(p: Piece, k: AttentionKernel, ld: Load, j: str, copies: int, scale: float, part: int) -> int:
    """Part 0 (K with the bias tiles; the whole tile when V is part of K) or 1 (V) of a tile's load through L2 and
    HBM, taking its stage slot. Returns the op after which it is in shared memory."""
    share, amount = (k.key_share, 1.0 - k.key_share)[part], _parts(k)[part]
    l2 = p.op("l2", cycles(ld.l2 * share / copies), acquire={f"kv{j}": amount} if k.depth else None,
              tag="load", bytes={"L2.read": ld.l2_bytes * share * scale})
    return p.op("hbm", cycles(ld.hbm * share / copies), deps=[l2], tag="load",
                bytes={"HBM.read": ld.hbm_bytes * share * scale})


def _pv(p: Piece, k: AttentionKernel, j: str, w: int, smem: dict, deps=(), back=()) -> int:
    """Group `w`'s O += PV; the last group's frees the V part's stage slot (the whole tile's when V is in K)."""
    key, value = _parts(k)
    last = w == k.groups - 1 and k.depth
    return p.op(f"tensor{j}", cycles(k.tile.g2), cycles(k.latency), deps=deps, back=back, tag="pv", bytes=smem,
                release={f"kv{j}": value or key} if last else None, label=f"pv{j}.{w}")


def _tile(g: GpuProgram, k: AttentionKernel, ld: Load, masked: bool, first: bool) -> Piece:
    """One KV iteration on each copy: the K and V loads, then per group S = QKᵀ, the score mods, the softmax and
    O += PV (with `lag`, the previous tile's PV after this tile's QKᵀ; none in the CTA's first tile). The K part
    is freed after the last group's QKᵀ, the V part after its PV (FlashAttention-2 loads K(j+1) during PV(j)).
    Labels: `v{copy}` the V load (the next piece's PV reads it)."""
    p, t, scale = g.piece(), k.tile, k.scale[1]
    smem = {"SMEM.read": t.smem_bytes * scale / (2 * k.groups)}
    fma = t.fma + (t.mask_fma if masked else 0.0)
    key, value = _parts(k)
    late = k.lag and not first     # V(j) waits for V(j−1)'s slot, freed by PV(j−1) of this piece: listed after it
    for j in g.suffixes:
        k_in = _load(p, k, ld, j, g.copies, scale, 0)
        v_in = k_in if not value else None if late else _load(p, k, ld, j, g.copies, scale, 1)
        pending: list[list[int]] = []
        for w in range(k.groups):
            free = {f"kv{j}": key} if value and k.depth and w == k.groups - 1 else None
            qk = p.op(f"tensor{j}", cycles(t.g1), cycles(k.latency), deps=[k_in], back=_softmax(j, w) if k.lag else (),
                      release=free, tag="qk", bytes=smem)
            if k.lag and not first:
                _pv(p, k, j, w, smem, back=_softmax(j, w) + [f"v{j}"])
            elif not k.lag and pending:          # the other group's PV runs while this group's softmax waits
                _pv(p, k, j, w - 1, smem, deps=pending.pop() + [v_in])
            # The score mods and the softmax share the SFU and FMA pipes elementwise: the two pipes run in
            # parallel, each doing its ops of both in turn.
            work = ((f"{k.sfu}{j}", t.mod_sfu, "score_mod"), (f"fma{j}", t.mod_fma, "score_mod"),
                    (f"{k.sfu}{j}", t.sfu, k.tags[0]), (f"fma{j}", fma, k.tags[0]))
            done = [p.op(unit, cycles(d), deps=[qk], tag=tag, label=label)
                    for (unit, d, tag), label in zip(work, _softmax(j, w)) if cycles(d)]
            pending.append(done or [qk])
        if not k.lag:
            _pv(p, k, j, k.groups - 1, smem, deps=pending.pop() + [v_in])
        if v_in is None:
            v_in = _load(p, k, ld, j, g.copies, scale, 1)
        p.labels[f"v{j}"] = v_in
    return p


def _epilogue(g: GpuProgram, k: AttentionKernel, run: Run, tiles: bool) -> Piece:
    """The last tile's PV (with `lag`), normalize O once every PV is done, and store it (freeing the shared
    memory the unit reserved)."""
    p, out = g.piece(), run.cta.epi_bytes * k.scale[0]
    smem = {"SMEM.read": k.tile.smem_bytes * k.scale[1] / (2 * k.groups)}
    for j in g.suffixes:
        pvs = [_pv(p, k, j, w, smem, back=_softmax(j, w) + [f"v{j}"]) for w in range(k.groups)] \
            if k.lag and tiles else []
        back = [f"pv{j}.{w}" for w in range(k.groups)] if not pvs else []
        x = p.op(f"fma{j}", cycles(run.cta.epi_fma), deps=pvs, back=back, tag=k.tags[1])
        # The store's L2 occupancy is charged without waiting for the data: L2 serves requests out of order, and
        # an in-order `l2` op after the compute would stall the next CTA's prefetches behind this epilogue.
        p.op("l2", cycles(run.cta.epi_l2 / g.copies), tag="epilogue", bytes={"L2.write": out})
        p.op("hbm", cycles(run.cta.epi_hbm / g.copies), deps=[x], release={f"smem{j}": k.hold}, tag="epilogue",
             bytes={"HBM.write": out})
    return p
