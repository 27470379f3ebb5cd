"""`fusemax-bwd`: FlashAttention's backward (`workloads.backward` of softmax MHA) on FuseMax's 2D + 1D arrays.

The backward of 1-pass attention needs one pass over P and one over M (`workloads.passes`): with the forward's
log-sum-exp and output saved, nothing waits for a full reduction before the scores. So it maps like FuseMax's
forward (Nayak et al., MICRO 2024, §IV), key/value-stationary as FlashAttention's backward is: per (batch, head)
and block of `kv_block` keys, K, V and the dK/dV accumulators stay in the global buffer while every query tile of
M0 rows (the 2D array's columns) streams past, its Q, dO, LSE and D tiles double-buffered from DRAM. Per query tile
and key tile of P0 keys (the array's rows) the 2D array runs the five products and the score math in order — S =
QKᵀ, P = exp(S − LSE) (FuseMax binds the scores' exp to the 2D array), dP = dO Vᵀ, dS = P ∘ (dP − D), dV += Pᵀ dO,
dK += dSᵀ Q, dQ += dS K — each for ⌈ops ÷ (PEs × rate)⌉ cycles of the cascade's own op counts per tile; dQ leaves
the array after the reduction drain. With several key blocks the fp32 dQ tile is read and written back in DRAM on
every visit (the partial sums of the other blocks); with one block it is written once. A first phase streams dO and
O from DRAM and computes D = rowsum(dO ∘ O) on the 1D array.

Global-buffer traffic per key tile (stated, approximate): the K and V tiles read, Q and dO read, the fp32 dK and dV
accumulator tiles read and written.
"""
from __future__ import annotations

from typing import Any, Mapping as MappingType

import numpy as np

import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.backward import Backward, recognise
from sim.dataflows.gpu.pieces import Names, Piece, compose
from sim.dataflows.registry import Lowered, register_dataflow
from sim.dataflows.spatial.body import UNIT_KEYS, UNITS
from sim.dataflows.spatial.common import (DOUBLE, actions, arch_facts, arch_problem, check_pins, check_ticks, cycles,
                                          divisors, dram_cycles, largest_divisor, pin_int, precision_problem,
                                          tile_ops, unbound_op)
from sim.ir.mapping import FusionGroup, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.program import Program, validate

NAME = "fusemax-bwd"
ROLES = ("QK", "P", "dP", "dS", "dV", "dK", "dQ")       # per tile on the 2D array, in program order
BINDING_ROLES = {**{r: "2d" for r in ROLES}, "Drow": "1d"}
PHASES = ("load", "store")
FP32_BYTES = 4
ACC_BYTES = FP32_BYTES     # dK, dV accumulated in fp32 in the buffer; dQ's partial sums in fp32 in DRAM
MAX_BODY_OPS = 1 << 16     # ops of one key block's body (its query tiles unrolled)


def _shape(c: Cascade) -> Backward | str:
    b = recognise(c)
    if isinstance(b, str):
        return b
    if b.a.causal:
        return "masked attention is not modelled on spatial arrays (every tile is dense)"
    if b.a.group > 1:
        return "grouped heads: the sharing heads' dK/dV sums are not modelled on spatial arrays (MHA only)"
    return b


def binding(b: Backward) -> dict[str, str]:
    """Each Einsum of the given cascade → its array (see the module docstring)."""
    return {name: BINDING_ROLES.get(role, "2d") for role, name in b.einsums}


def supports(c: Cascade, arch: Arch) -> str | None:
    """The FlashAttention-form backward of unmasked FP16 MHA on a 2D + 1D array."""
    b = _shape(c)
    if isinstance(b, str):
        return b
    return precision_problem(c) or arch_problem(arch, ("2d", "1d")) or unbound_op(c, arch, binding(b))


def _need(b: Backward, kv_block: int, m0: int) -> int:
    """Global-buffer bytes: the key block (K, V and the fp32 dK, dV accumulators) and DOUBLE query-tile stages."""
    a = b.a
    return kv_block * (a.e + a.f) * (a.elem + ACC_BYTES) + DOUBLE * _tile_bytes(b, m0)


def _tile_bytes(b: Backward, m0: int) -> int:
    """One query tile's Q, dO, LSE and D."""
    a = b.a
    return m0 * (a.e + a.f) * a.elem + 2 * m0 * FP32_BYTES


def _blocks(b: Backward, arch: Arch) -> tuple[int, int, tuple[int, ...]]:
    """(M0, P0, the key blocks that fit: multiples of P0 dividing P, ascending)."""
    f, a = arch_facts(arch), b.a
    m0, p0 = largest_divisor(a.m, f.cols), largest_divisor(a.p, f.rows)
    fits = tuple(k * p0 for k in divisors(a.p // p0) if _need(b, k * p0, m0) <= f.buffer)
    return m0, p0, fits


def plan(c: Cascade, arch: Arch, constraints: MappingType[str, Any]) -> Mapping:
    """The largest key block that fits the global buffer (one block: dQ written once)."""
    b = _shape(c)
    if isinstance(b, str):
        raise MappingError(f"{NAME}: {b}")
    why = arch_problem(arch, ("2d", "1d"))
    if why:
        raise MappingError(f"{NAME}: {why}")
    pins = check_pins(NAME, constraints, ("kv_block",))
    m0, p0, fits = _blocks(b, arch)
    if not fits:
        raise MappingError(f"{NAME}: not even one key tile of {p0} keys fits the global buffer "
                           f"({arch_facts(arch).buffer} B) beside two query-tile stages")
    kv = pin_int(NAME, pins, "kv_block", fits[-1])
    if kv not in fits:
        raise MappingError(f"{NAME}: kv_block={kv} must be a multiple of the key tile {p0} that divides "
                           f"P={b.a.p} and fits the global buffer (fitting: {list(fits)[:12]})")
    return Mapping(NAME, (FusionGroup(tuple(e.name for e in c.einsums)),), binding(b), {"kv_block": kv})


def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """The key blocks that fit."""
    b = _shape(c)
    return {"kv_block": _blocks(b, arch)[2]} if not isinstance(b, str) else {}


class Tile:
    """Cycles of one key tile's ops per role on its array, and the sizes the lowering moves."""

    def __init__(self, c: Cascade, b: Backward, arch: Arch, m0: int, p0: int):
        a, f = b.a, arch_facts(arch)
        heads = a.batch * a.heads
        q_tiles, k_tiles = a.m // m0, a.p // p0
        per = {name: heads * q_tiles * (1 if role == "Drow" else k_tiles) for role, name in b.einsums}
        ops = tile_ops(c, per)
        bound = binding(b)
        self.cycles: dict[str, int] = {}
        for role, name in b.einsums:
            pes = f.pes1 if bound[name] == "1d" else f.pes2
            self.cycles[role] = self.cycles.get(role, 0) + cycles(arch, bound[name], ops[name], pes, c.dtype)
        self.f, self.a, self.b, self.m0, self.p0 = f, a, b, m0, p0
        self.heads, self.q_tiles = heads, q_tiles

    def dram(self, nbytes: float) -> int:
        """DRAM cycles of `nbytes`."""
        return int(dram_cycles(nbytes, self.f.bytes_per_cycle))


def _names() -> Names:
    return Names.of(UNITS, ("stage",), ("DRAM.read", "DRAM.write", "GlobalBuffer.read", "GlobalBuffer.write"),
                    ROLES + ("Drow",) + PHASES)


def _preprocess(t: Tile, names: Names):
    """One query tile's D = rowsum(dO ∘ O): dO and O in, D out."""
    a, p = t.a, Piece(names)
    read = 2 * t.m0 * a.f * a.elem
    ld = p.op("dram", t.dram(read), t.f.dram_latency, tag="load", bytes={"DRAM.read": read})
    d = p.op("1d", t.cycles["Drow"], deps=[ld], tag="Drow", bytes={"GlobalBuffer.read": read})
    p.op("dram", t.dram(t.m0 * FP32_BYTES), deps=[d], tag="store", bytes={"DRAM.write": t.m0 * FP32_BYTES})
    return compose("preprocess", [p], [1], repeat=t.heads * t.q_tiles, barrier=True)


def _visit(t: Tile, names: Names, kv_block: int, blocks: int) -> Piece:
    """One query tile past the resident key block: its loads, the key tiles' ops, dQ back to DRAM."""
    a, p = t.a, Piece(names)
    tile = _tile_bytes(t.b, t.m0)
    partial = t.m0 * a.e * FP32_BYTES if blocks > 1 else 0      # dQ's partial sums of the other key blocks
    read = tile + partial
    ld = p.op("dram", t.dram(read), t.f.dram_latency, acquire={"stage": tile}, tag="load",
              bytes={"DRAM.read": read})
    keys = kv_block // t.p0
    gb = {"QK": (t.m0 * a.e + t.p0 * a.e) * a.elem, "dP": (t.m0 * a.f + t.p0 * a.f) * a.elem,
          "dV": t.m0 * a.f * a.elem + 2 * t.p0 * a.f * ACC_BYTES, "dK": t.m0 * a.e * a.elem + 2 * t.p0 * a.e * ACC_BYTES}
    prev = ld
    for role in ROLES:
        last = role == ROLES[-1]
        prev = p.op("2d", keys * t.cycles[role], t.f.drain if last else 0, deps=[prev], tag=role,
                    release={"stage": tile} if last else None,
                    bytes={"GlobalBuffer.read": keys * gb[role]} if role in gb else None)
    out = partial or t.m0 * a.e * a.elem
    # dQ's store occupies DRAM without holding back the next tile's loads (an in-order DRAM op after the compute
    # would serialize them; the store drains while the next tile computes).
    p.op("dram", t.dram(out), tag="store", bytes={"DRAM.write": out})
    return p


def _block(t: Tile, names: Names, kv_block: int, store: bool) -> Piece:
    """The key block's K and V in (or dK and dV out)."""
    a, p = t.a, Piece(names)
    n = kv_block * (a.e + a.f) * a.elem
    level = "DRAM.write" if store else "DRAM.read"
    p.op("dram", t.dram(n), 0 if store else t.f.dram_latency, tag="store" if store else "load", bytes={level: n})
    return p


def lower(c: Cascade, arch: Arch, mapping: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """The preprocessing phase, then one key block per (batch, head, block) with every query tile streamed past."""
    b = _shape(c)
    if isinstance(b, str):
        raise MappingError(f"{NAME}: {b}")
    kv = mapping.params["kv_block"]
    m0, p0, fits = _blocks(b, arch)
    if kv not in fits:
        raise MappingError(f"{NAME}: kv_block={kv} is not a key block that fits (fitting: {list(fits)[:12]})")
    t, names = Tile(c, b, arch, m0, p0), _names()
    blocks = b.a.p // kv
    if (t.q_tiles + 2) * (len(ROLES) + 2) > MAX_BODY_OPS:
        raise MappingError(f"{NAME}: {t.q_tiles} query tiles per key block list more than {MAX_BODY_OPS} ops")
    pieces = [_block(t, names, kv, False), _visit(t, names, kv, blocks), _block(t, names, kv, True)]
    main = compose("key_blocks", pieces, [1, t.q_tiles, 1], repeat=t.heads * blocks, barrier=True)
    prog = Program(units=UNITS, unit_is_memory=(False, False, True), buffers=("stage",),
                   buffer_capacity=np.array([DOUBLE * _tile_bytes(b, m0)], np.int64),
                   levels=tuple(names.levels), tags=tuple(names.tags), ticks_per_cycle=1,
                   segments=(_preprocess(t, names), main))
    validate(prog)
    check_ticks(prog, NAME)
    notes = (f"FuseMax-style backward: {blocks} key block(s) of {kv} keys resident, {t.q_tiles} query tiles of "
             f"{m0} rows streamed past each, key tiles of {p0}",)
    return Lowered(prog, UNIT_KEYS, actions(c, arch, mapping.binding), b.names, workloads.flops(c), notes,
                   phases=PHASES, kernels={"preprocess": (0, 1), "key_blocks": (1, 2)},
                   unit_levels={"dram": arch_facts(arch).outer})


register_dataflow(NAME, supports=supports, plan=plan, lower=lower, space=space,
                  doc="FlashAttention's backward on FuseMax's arrays: key/value-stationary, one pass over P and M")
