"""Tile programs of one SM: fused attention CTAs, tiled GEMMs and memory-bound streaming kernels.

Per SM the units are `tensor` (at the kernel's instruction path rate), `sfu` (exp and other special functions),
`fma` (other FP32 work), and, shared with the other SMs, `l2` and `hbm` (each SM's share of the bandwidth), plus
a `host` unit for kernel launches. Byte counters of the simulated SM are scaled to the whole GPU.

A kernel is a launch (a barrier: it waits for everything before it) and its CTAs in launch order. A run of equal
CTAs becomes one segment repeated once per CTA, its KV loop unrolled in the body, when that lists fewer ops; else
each CTA is a prologue, its partially masked and full KV iterations (repeated segments) and an epilogue. Both
describe the same ops in the same program order, so they schedule identically; the first is cheaper for many CTAs
with few tiles each.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sim.dataflows.gpu.constants import MAX_UNROLLED_OPS, TICKS_PER_CYCLE
from sim.dataflows.gpu.costs import TileCost
from sim.dataflows.gpu.machine import SM
from sim.ir.mapping import MappingError
from sim.ir.program import ProgramBuilder, SegmentBuilder

COMPUTE = ("tensor", "sfu", "fma")
SHARED = ("l2", "hbm", "host")
UNIT_LEVELS = {"hbm": "HBM", "l2": "L2"}
LEVELS = ("HBM.read", "HBM.write", "L2.read", "L2.write", "SMEM.read")
TAGS = ("load", "qk", "score_mod", "softmax", "pv", "normalize", "pre", "post", "gemm", "epilogue", "launch", "copy",
        "mask", "combine", "permute", "unpermute")
MAX_SEGMENTS = 1 << 14     # segments one lowering may list (each costs validation and scheduling time)
CTA_EDGE_OPS = 7           # a unit's prologue (FMA, SFU, L2, HBM) and epilogue (FMA, L2, HBM) ops


def cycles(x: float) -> int:
    """Engine ticks of `x` cycles, rounded up."""
    return max(int(math.ceil(x * TICKS_PER_CYCLE)), 0)


class GpuProgram:
    """A ProgramBuilder for one SM (or `copies` SMs in lockstep) that records which segments form which kernel."""

    def __init__(self, sm: SM, copies: int = 1, buffers: dict[str, int] | None = None):
        self.sm, self.copies = sm, copies
        self.suffixes = [str(j) for j in range(copies)] if copies > 1 else [""]
        units = [f"{u}{j}" for j in self.suffixes for u in COMPUTE] + list(SHARED)
        smem = {**{f"smem{j}": sm.smem_bytes for j in self.suffixes}, **(buffers or {})}
        self.builder = ProgramBuilder(units, [u in ("l2", "hbm") for u in units], buffers=smem, levels=LEVELS,
                                      tags=TAGS, ticks_per_cycle=TICKS_PER_CYCLE)
        self.count = 0
        self.kernels: dict[str, tuple[int, int]] = {}
        self._open: tuple[str, int] | None = None

    def segment(self, name: str, repeat: int = 1, barrier: bool = False) -> SegmentBuilder:
        """A new segment (named uniquely), refused beyond MAX_SEGMENTS."""
        if self.count >= MAX_SEGMENTS:
            raise MappingError(f"the lowering lists more than {MAX_SEGMENTS} segments (the simulated SM runs too "
                               f"many distinct CTAs): use fewer heads × batch or larger tiles")
        self.count += 1
        return self.builder.segment(f"{name}.{self.count}", repeat, barrier)

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

    def build(self):
        """The validated Program."""
        self.close()
        return self.builder.build()


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
    and the scale of its bytes to the whole GPU (per unit, per KV iteration)."""
    runs: tuple[Run, ...]
    tile: TileCost
    groups: int
    hold: int
    scale: tuple[float, float]
    tags: tuple[str, str]       # the tags of the softmax ops and of the epilogue's FMA work


def attention(g: GpuProgram, k: AttentionKernel, name: str = "fmha") -> None:
    """The fused attention kernel: one SM's units in launch order."""
    per_tile = _tile_ops(None, k, k.runs[0].load, True, g.suffixes) if k.runs else 0
    unrolled = [_unrolled(run, per_tile, g.copies) for run in k.runs]
    segments = sum(1 if u else run.count * (2 + (run.partial > 0) + (run.full > 0))   # prologue, loops, epilogue
                   for run, u in zip(k.runs, unrolled))
    if g.count + segments > MAX_SEGMENTS:
        raise MappingError(f"{name}: the simulated SM's {sum(r.count for r in k.runs)} CTAs need {segments} "
                           f"segments, too large to lower (limit {MAX_SEGMENTS}): use fewer heads × batch, a "
                           f"shorter sequence or larger tiles")
    g.kernel(name)
    first = True
    for run, unroll in zip(k.runs, unrolled):
        if unroll:
            s = g.segment("ctas", repeat=run.count, barrier=first)
            _prologue(s, g, k, run)
            for masked, n in ((True, run.partial), (False, run.full)):
                for _ in range(n):
                    _tile_ops(s, k, run.load, masked, g.suffixes)
            _epilogue(s, g, k, run)
        else:
            for _ in range(run.count):
                _prologue(g.segment("cta.pro", barrier=first), g, k, run)
                first = False
                for masked, n in ((True, run.partial), (False, run.full)):
                    if n > 0:
                        _tile_ops(g.segment("cta.partial" if masked else "cta.full", repeat=n), k, run.load,
                                  masked, g.suffixes)
                _epilogue(g.segment("cta.epi"), g, k, run)
        first = False


def _unrolled(run: Run, per_tile: int, copies: int) -> bool:
    """Whether a run of equal CTAs is listed as one repeated segment (when that lists fewer ops)."""
    body = (CTA_EDGE_OPS + per_tile * (run.partial + run.full)) * copies     # one CTA, its KV loop unrolled
    separate = run.count * (CTA_EDGE_OPS + per_tile * ((run.partial > 0) + (run.full > 0))) * copies
    return run.count > 1 and body <= min(separate, MAX_UNROLLED_OPS)


def _prologue(s: SegmentBuilder, g: GpuProgram, k: AttentionKernel, run: Run) -> None:
    share, cta = 1.0 / g.copies, run.cta
    for j in g.suffixes:
        for unit, extra in (("fma", cta.extra_fma), ("sfu", cta.extra_sfu)):
            if extra:   # the cascade's pipe work beyond the tile loop's, where the pipe idles (loads, first GEMM)
                s.op(f"{unit}{j}", cycles(extra), tag=k.tags[1])
        a = s.op("l2", cycles(cta.pro_l2 * share), acquire={f"smem{j}": k.hold}, tag="load",
                 bytes={"L2.read": cta.pro_bytes * k.scale[0]})
        s.op("hbm", cycles(cta.pro_hbm * share), cycles(g.sm.hbm_latency_cycles), deps=[a], tag="load",
             bytes={"HBM.read": cta.pro_bytes * k.scale[0]})


def _epilogue(s: SegmentBuilder, g: GpuProgram, k: AttentionKernel, run: Run) -> None:
    out = run.cta.epi_bytes * k.scale[0]
    for j in g.suffixes:
        x = s.op(f"fma{j}", cycles(run.cta.epi_fma), tag=k.tags[1])
        # The store's L2 occupancy is charged without waiting for the data: L2 serves requests out of order, and
        # an in-order `l2` op after the compute would stall the next CTA's prefetches behind this epilogue.
        s.op("l2", cycles(run.cta.epi_l2 / g.copies), tag="epilogue", bytes={"L2.write": out})
        s.op("hbm", cycles(run.cta.epi_hbm / g.copies), deps=[x], release={f"smem{j}": k.hold}, tag="epilogue",
             bytes={"HBM.write": out})


def _tile_ops(s: SegmentBuilder | None, k: AttentionKernel, ld: Load, masked: bool, copies: list[str]) -> int:
    """Append one KV iteration on each copy: the load, then per group S = QKᵀ, the score mods, the softmax and
    O += PV. Returns the number of ops (with `s` None, only counts them)."""
    n = 0

    def op(unit, duration, deps=(), tag=None, nbytes=None, skip_idle=False):
        nonlocal n
        if skip_idle and duration == 0:
            return None
        n += 1
        return None if s is None else s.op(unit, duration, deps=[d for d in deps if d is not None], tag=tag,
                                           bytes=nbytes)

    t, scale = k.tile, k.scale[1]
    smem = {"SMEM.read": t.smem_bytes * scale / (2 * k.groups)}
    fma = cycles(t.fma + (t.mask_fma if masked else 0.0))
    for j in copies:
        l2 = op("l2", cycles(ld.l2 / len(copies)), tag="load", nbytes={"L2.read": ld.l2_bytes * scale})
        loaded = op("hbm", cycles(ld.hbm / len(copies)), deps=[l2], tag="load",
                    nbytes={"HBM.read": ld.hbm_bytes * scale})
        pending = []
        for _ in range(k.groups):
            g1 = op(f"tensor{j}", cycles(t.g1), deps=[loaded], tag="qk", nbytes=smem)
            if pending:                          # the other group's PV runs while this group's softmax waits
                op(f"tensor{j}", cycles(t.g2), deps=pending.pop(), tag="pv", nbytes=smem)
            # The score mods and the softmax share the SFU and FMA pipes elementwise: the two pipes run in
            # parallel, each doing its ops of both in turn.
            done = [op(f"sfu{j}", cycles(t.mod_sfu), deps=[g1], tag="score_mod", skip_idle=True),
                    op(f"fma{j}", cycles(t.mod_fma), deps=[g1], tag="score_mod", skip_idle=True),
                    op(f"sfu{j}", cycles(t.sfu), deps=[g1], tag=k.tags[0], skip_idle=True),
                    op(f"fma{j}", fma, deps=[g1], tag=k.tags[0], skip_idle=True)]
            pending.append([d for d in done if d is not None] or [g1])
        op(f"tensor{j}", cycles(t.g2), deps=pending.pop(), tag="pv", nbytes=smem)
    return n
