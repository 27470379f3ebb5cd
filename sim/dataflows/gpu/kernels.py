"""GPU kernel dataflows: FlashAttention-2/-3, cuDNN-style, unfused PyTorch math, flash-decoding, MLA decode,
block-sparse GNA and cuBLAS-like GEMMs, lowered to tile programs for `sim.engine`.

The model (docs/gpu-model.md):

- A kernel is a grid of CTAs. `occupancy` gives CTAs per SM from registers and shared memory. CTAs go to SMs in
  launch order, each to the SM with the least estimated work so far (the hardware block scheduler's greedy
  dispatch); this gives wave quantization and tails, also for unequal CTAs (causal, GNA).
- Per-SM symmetry: only the most loaded SM is simulated. Each SM owns `1/SMs` of the HBM and L2 bandwidth (one
  "hbm" and one "l2" memory unit per SM); byte counters are scaled to the whole GPU.
- Per SM the units are "tensor" (at the rate of the kernel's instruction path: `mma_sync` or the native `mac`
  path times the measured sustained fraction), "sfu" (exp), "fma" (other FP32 work) and a "host" unit for kernel
  launches. A GEMM op lasts max(tensor cycles, its shared-memory operand traffic / 128 B per clock).
- One KV iteration of a CTA loads a K/V tile (L2 traffic; HBM traffic reduced by the L2 reuse of the co-resident
  CTAs of the same KV head), runs S = QKᵀ, the online softmax (exp on the SFU, max/sum/scale/convert and the O
  rescale on the FMA pipe, an element mask on partially masked tiles) and O += PV. Loads are pipelined through a
  shared-memory stage buffer.
- The template's overlap structure is the program order of the tensor ops: FlashAttention-2 runs the two matrix
  products and the softmax on the same warps in order (no overlap); FlashAttention-3 ping-pongs two warpgroups
  (tensor order g1A, g1B, g2A, g2B) so one warpgroup's softmax hides behind the other's GEMMs.

Fitted constants (`constants.CALIBRATED`, read through `Options.constant`) were fitted only on the D=128
non-causal row of the public FlashAttention-2 H100 forward table; tests/sim/test_gpu.py validates on the other rows.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any, Mapping as MappingType

import numpy as np

import accel
from accel import Arch
from workloads import Causal, Cascade, Neighborhood
from workloads.analysis import dtype_bytes
from workloads.analysis import point_cost
from workloads.masks import pair_count
from sim.bounds.rooflines import assign

from sim.bounds import gna_tiles as gna_tools
from sim.dataflows.registry import Lowered, register_dataflow
from sim.dataflows.gpu.constants import calibrated, check_calibration
from sim.ir.mapping import FusionGroup, Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.program import ProgramBuilder

# ---- constants ------------------------------------------------------------------------------------------------

# Per score element, besides the exp: scale-and-subtract FMA, running max, row-sum add, fp32→fp16 convert.
SOFTMAX_FMA_OPS = 4
# Per element of a partially masked tile: index compare and select.
MASK_FMA_OPS = 2
# Latency of a first HBM access (about 0.5 µs on H100-class parts; assumption, see docs/gpu-model.md).
HBM_LATENCY_S = 0.5e-6
# Fraction of the datasheet HBM bandwidth reachable by streaming kernels when no `HBM.bytes_per_s` is measured
# (H100: 3.0 / 3.35 TB/s measured copy).
DEFAULT_HBM_FRACTION = 0.9
# Sustained fraction of the native tensor peak when no GEMM ceiling is measured (H100: 798 / 989).
DEFAULT_TENSOR_FRACTION = 0.8

UNITS = ("tensor", "sfu", "fma", "l2", "hbm", "host")
UNIT_LEVELS = {"hbm": "HBM", "l2": "L2"}
PHASES = ("load", "epilogue", "launch", "stream")   # engine tags that are kernel phases, not Einsums
MEMORY = (False, False, False, True, True, False)
LEVELS = ("HBM.read", "HBM.write", "L2.read", "L2.write", "SMEM.read")


def _attention_tags(c: Cascade) -> dict[str, tuple[str, ...]]:
    """Engine tags → the cascade's Einsums by role: score GEMMs (MACs not reducing the key rank), value GEMMs (MACs
    reducing it) and the softmax exponentials."""
    key = {"P", "P0", "P1"}
    roles: dict[str, list[str]] = {"qk": [], "pv": [], "softmax": []}
    for e in c.einsums:
        cost = point_cost(e)
        if "exp" in cost:
            roles["softmax"].append(e.name)
        elif "mac" in cost:
            roles["pv" if key & set(e.reduce_ranks) else "qk"].append(e.name)
    return {k: tuple(v) for k, v in roles.items() if v}


def useful_actions(c: Cascade, arch: Arch) -> dict[str, float]:
    """The cascade's ops on the units the roofline's default binding gives them (MACs on the tensor cores, exp on
    the SFU, the rest on the FMA pipe): the useful work behind utilization and energy."""
    acts: dict[str, float] = {}
    for per_unit in assign(c, arch).values():
        for unit_name, ops in per_unit.items():
            for op, n in ops.items():
                acts[f"{unit_name}.{op}"] = acts.get(f"{unit_name}.{op}", 0.0) + n
    return acts


# ---- per-SM machine rates -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SM:
    """Per-SM rates in units per clock, and the machine's size."""
    sms: int
    clock_hz: float
    mac: float            # native path (wgmma on Hopper), sustained
    mma_sync: float       # Ampere-style path, sustained
    sfu: float
    fma: float
    smem: float           # bytes/clk
    l2: float             # bytes/clk (this SM's share)
    hbm: float            # bytes/clk (this SM's share, sustained)
    smem_bytes: int
    regs: int
    launch_cycles: float
    hbm_latency_cycles: float


def is_gpu(arch: Arch) -> str | None:
    """None if `arch` has the GPU shape (HBM → L2 → SMEM → RF, tensor/sfu/fma units), else why not."""
    names = [lv.name for lv in arch.levels]
    if names[:3] != ["HBM", "L2", "SMEM"]:
        return f"{arch.name} is not a GPU (levels {names}, need HBM → L2 → SMEM → RF)"
    units = {u.name for u in arch.units}
    if not {"tensor", "sfu", "fma"} <= units:
        return f"{arch.name} is not a GPU (units {sorted(units)}, need tensor, sfu, fma)"
    return None


def sm_rates(arch: Arch, dtype: str = "fp16") -> SM:
    sms = accel.instances(arch, "SMEM")
    clk = arch.clock_hz
    tensor = accel.unit(arch, "tensor")
    per_sm = lambda u, op, dt=None: accel.op_rate(u, op, dt) * math.prod(u.pes) * u.count  # noqa: E731
    mac = per_sm(tensor, "mac", dtype)
    peak = 2 * mac * sms * clk
    sustained = arch.measured.get("tensor.bf16_flops_per_s", DEFAULT_TENSOR_FRACTION * peak) / peak
    hbm = accel.level(arch, "HBM").bandwidth_bytes_per_s
    hbm_sustained = arch.measured.get("HBM.bytes_per_s", DEFAULT_HBM_FRACTION * hbm)
    sync = accel.op_rate(tensor, "mma_sync")
    return SM(sms=sms, clock_hz=clk, mac=mac * sustained,
              mma_sync=(sync * math.prod(tensor.pes) * tensor.count if sync else mac) * sustained,
              sfu=per_sm(accel.unit(arch, "sfu"), "exp"), fma=per_sm(accel.unit(arch, "fma"), "add"),
              smem=accel.level(arch, "SMEM").bandwidth_bytes_per_s / sms / clk,
              l2=accel.level(arch, "L2").bandwidth_bytes_per_s / sms / clk, hbm=hbm_sustained / sms / clk,
              smem_bytes=accel.level(arch, "SMEM").capacity_bytes, regs=accel.level(arch, "RF").capacity_bytes // 4,
              launch_cycles=arch.launch_overhead_s * clk, hbm_latency_cycles=HBM_LATENCY_S * clk)


def occupancy(sm: SM, threads: int, regs_per_thread: int, smem_bytes: int) -> int:
    """Resident CTAs per SM, limited by registers and shared memory (at least 1)."""
    by_regs = sm.regs // (threads * regs_per_thread)
    by_smem = sm.smem_bytes // max(smem_bytes, 1)
    return max(1, min(by_regs, by_smem))


# ---- workload shape -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attn:
    batch: int
    heads: int
    kv_heads: int
    m: int
    p: int
    e: int
    f: int
    causal: bool
    neighborhood: Neighborhood | None
    elem: int          # bytes per element
    dtype: str


def attn_shape(c: Cascade) -> Attn | str:
    """The attention shape of a cascade (keyed on ranks and masks, not variant names), or why it is not one."""
    s = c.sizes
    other = [m for m in c.masks if not isinstance(m, (Causal, Neighborhood))]
    if {"CKV", "KR"} <= set(c.inputs) and {"C", "ER"} <= set(s):
        # Absorbed MLA (attention-einsums.md §3): MQA over the cached latent row [C | ER]; values are its first C.
        if other:
            return f"mask {type(other[0]).__name__} is not modelled on GPUs"
        return Attn(s["B"], s["H"], 1, s["M"], s["P"], s["C"] + s["ER"], s["C"],
                    any(isinstance(m, Causal) for m in c.masks), None, dtype_bytes(c), c.dtype)
    if not {"Q", "K", "V"} <= set(c.inputs) or not {"B", "M", "P", "E", "F"} <= set(s):
        return f"{c.name} is not an attention cascade (needs inputs Q, K, V and ranks B, M, P, E, F)"
    heads = s.get("H", s.get("G", 1) * s.get("R", 1))
    kv_heads = s.get("G", heads)
    other = [m for m in c.masks if not isinstance(m, (Causal, Neighborhood))]
    if other:
        return f"mask {type(other[0]).__name__} is not modelled on GPUs"
    nb = next((m for m in c.masks if isinstance(m, Neighborhood)), None)
    dt = "bf16" if c.dtype == "bf16" else c.dtype
    return Attn(s["B"], heads, kv_heads, s["M"], s["P"], s["E"], s["F"], any(isinstance(m, Causal) for m in c.masks),
                nb, dtype_bytes(c), dt)


def attention_flops(a: Attn) -> float:
    """FlashAttention's convention: 2·B·H·M·P·(E+F), halved when causal; neighborhoods count attended pairs."""
    if a.neighborhood is not None:
        return 2.0 * a.batch * a.heads * pair_count(a.neighborhood, a.m, a.p) * (a.e + a.f)
    return 2.0 * a.batch * a.heads * a.m * a.p * (a.e + a.f) * (0.5 if a.causal else 1.0)


# ---- CTA placement --------------------------------------------------------------------------------------------

def critical_sm(estimates: np.ndarray, sms: int) -> tuple[np.ndarray, float]:
    """Greedy dispatch in launch order to the least-loaded SM; return the most loaded SM's CTAs and its load."""
    heap = [(0.0, k) for k in range(sms)]
    owner = np.empty(len(estimates), dtype=np.int64)
    load = np.zeros(sms)
    for i, est in enumerate(estimates):
        t, k = heapq.heappop(heap)
        owner[i] = k
        load[k] = t + est
        heapq.heappush(heap, (t + est, k))
    worst = int(np.argmax(load))
    return np.flatnonzero(owner == worst), float(load[worst])


# ---- attention CTA programs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TileCost:
    """Cycles of one KV iteration of one warpgroup (or, for `groups=1`, of the whole CTA)."""
    g1: float
    g2: float
    sfu: float
    fma: float
    mask_fma: float
    load_l2: float       # per CTA iteration (shared by its warpgroups)
    load_hbm: float
    load_bytes: int
    l2_bytes: float
    hbm_bytes: float
    smem_bytes: float


@dataclass(frozen=True)
class CtaCost:
    pro_l2: float
    pro_hbm: float
    pro_bytes: float
    epi_fma: float
    epi_hbm: float
    epi_bytes: float
    buffer: int          # shared memory the CTA holds besides the K/V stages


def _cyc(x: float) -> int:
    return max(int(math.ceil(x)), 0)


def _attention_program(sm: SM, ctas: list[tuple[int, int]], tile: TileCost, cta: CtaCost, *, groups: int,
                       stages: int, slots: int, scale: tuple[float, float], builder: ProgramBuilder,
                       copies: int = 1) -> None:
    """One SM's CTAs in order; each CTA: prologue, partially masked tiles, full tiles, epilogue.

    `groups=1`: the CTA's warps run GEMM, softmax, GEMM in order (FlashAttention-2). `groups=2`: two warpgroups
    ping-pong (tensor order g1A, g1B, g2A, g2B). Byte counters of CTA prologues/epilogues and of KV iterations are
    multiplied by `scale` = (all CTAs / these CTAs, all iterations / these iterations), so they total the whole GPU.
    `copies > 1` simulates that many SMs in lockstep program order (units `tensor0`, `sfu0`, ...), sharing one
    "l2" and one "hbm" unit of `copies` times the per-SM bandwidth: the full simulation the symmetric one stands for.
    """
    b = builder
    T = b.ticks_per_cycle
    cta_scale, tile_scale = scale
    sfx = [str(j) if copies > 1 else "" for j in range(copies)]
    share = 1.0 / copies
    b.segment(f"launch{len(b._segments)}", barrier=True).op("host", _cyc(sm.launch_cycles * T), tag="launch")
    first = True
    hold = cta.buffer + tile.load_bytes * stages
    if slots > 1:
        hold = min(hold, sm.smem_bytes // slots)
    for k, (n_partial, n_full) in enumerate(ctas):
        pro = b.segment(f"cta{k}.pro", barrier=first)
        first = False
        for j in sfx:
            a = pro.op("l2", _cyc(cta.pro_l2 * share * T), acquire={f"smem{j}": hold}, tag="load",
                       bytes={"L2.read": cta.pro_bytes * cta_scale})
            pro.op("hbm", _cyc(cta.pro_hbm * share * T), _cyc(sm.hbm_latency_cycles * T), deps=[a], tag="load",
                   bytes={"HBM.read": cta.pro_bytes * cta_scale})
        for name, n, masked in (("partial", n_partial, True), ("full", n_full, False)):
            if n <= 0:
                continue
            s = b.segment(f"cta{k}.{name}", repeat=int(n))
            fma = tile.fma + (tile.mask_fma if masked else 0.0)
            smem = {"SMEM.read": tile.smem_bytes * tile_scale / (2 * groups)}
            for j in sfx:
                l2 = s.op("l2", _cyc(tile.load_l2 * share * T), tag="load", bytes={"L2.read": tile.l2_bytes * tile_scale})
                ld = s.op("hbm", _cyc(tile.load_hbm * share * T), deps=[l2], tag="load",
                          bytes={"HBM.read": tile.hbm_bytes * tile_scale})
                tensor, sfu, fma_u = f"tensor{j}", f"sfu{j}", f"fma{j}"
                if groups == 1:
                    g1 = s.op(tensor, _cyc(tile.g1 * T), deps=[ld], tag="qk", bytes=smem)
                    e = s.op(sfu, _cyc(tile.sfu * T), deps=[g1], tag="softmax")
                    f = s.op(fma_u, _cyc(fma * T), deps=[g1], tag="softmax")
                    s.op(tensor, _cyc(tile.g2 * T), deps=[e, f], tag="pv", bytes=smem)
                else:
                    g1a = s.op(tensor, _cyc(tile.g1 * T), deps=[ld], tag="qk", bytes=smem)
                    ea = s.op(sfu, _cyc(tile.sfu * T), deps=[g1a], tag="softmax")
                    fa = s.op(fma_u, _cyc(fma * T), deps=[g1a], tag="softmax")
                    g1b = s.op(tensor, _cyc(tile.g1 * T), deps=[ld], tag="qk", bytes=smem)
                    s.op(tensor, _cyc(tile.g2 * T), deps=[ea, fa], tag="pv", bytes=smem)
                    eb = s.op(sfu, _cyc(tile.sfu * T), deps=[g1b], tag="softmax")
                    fb = s.op(fma_u, _cyc(fma * T), deps=[g1b], tag="softmax")
                    s.op(tensor, _cyc(tile.g2 * T), deps=[eb, fb], tag="pv", bytes=smem)
        epi = b.segment(f"cta{k}.epi")
        for j in sfx:
            x = epi.op(f"fma{j}", _cyc(cta.epi_fma * T), tag="epilogue")
            epi.op("hbm", _cyc(cta.epi_hbm * share * T), deps=[x], release={f"smem{j}": hold}, tag="epilogue",
                   bytes={"HBM.write": cta.epi_bytes * cta_scale, "L2.write": cta.epi_bytes * cta_scale})


# ---- attention kernels ----------------------------------------------------------------------------------------

# Kernel templates: threads, registers per thread, default tiles per head dim (q_tile, kv_tile), stages.
FA2_TILES = {64: (128, 128, 4), 128: (128, 64, 4), 256: (128, 64, 8)}      # (Br, Bc, warps) as in flash_fwd_launch
FA3_TILES = {64: (128, 128), 128: (128, 128), 256: (128, 80)}              # two consumer warpgroups of Br/2 rows
CUDNN_TILES = {64: (64, 128), 128: (64, 128), 256: (64, 64)}               # e.g. ..._knob_7_64x128x128


def _pick(table: dict, d: int):
    for k in sorted(table):
        if d <= k:
            return table[k]
    return None


@dataclass(frozen=True)
class Kernel:
    """What a fused attention lowering needs from a template."""
    path: str             # "mma_sync" or "mac"
    groups: int           # warpgroups that ping-pong (1 = in-order on the same warps)
    warps_per_group: int  # warps that each read the whole K/V tile from shared memory
    efficiency: float     # fraction of the path's sustained rate the inner loop reaches
    pack_heads: bool      # the query heads of a KV group (and M) share one CTA's rows (decode kernels)


def _attn_costs(sm: SM, a: Attn, kern: Kernel, q_tile: int, kv_tile: int, kv_width: int) -> tuple[TileCost, CtaCost]:
    """Per-iteration and per-CTA costs. `kv_width` = elements per key row loaded (E+F, or E when V ⊂ K)."""
    rows = q_tile // kern.groups
    rate = (sm.mma_sync if kern.path == "mma_sync" else sm.mac) * kern.efficiency
    # Shared-memory operand traffic: every warp reading a B operand (ldmatrix) reads the whole K (V) tile; the Q
    # rows are re-read from shared memory each iteration; the tile's K/V arrive by cp.async/TMA writes.
    writes = kv_tile * kv_width * a.elem / kern.groups / 2
    smem_g1 = kern.warps_per_group * kv_tile * a.e * a.elem + rows * a.e * a.elem + writes
    smem_g2 = kern.warps_per_group * kv_tile * a.f * a.elem + writes
    g1 = max(rows * kv_tile * a.e / rate, smem_g1 / sm.smem)
    g2 = max(rows * kv_tile * a.f / rate, smem_g2 / sm.smem)
    elems = rows * kv_tile
    load = kv_tile * kv_width * a.elem
    tile = TileCost(g1=g1, g2=g2, sfu=elems / sm.sfu, fma=(elems * SOFTMAX_FMA_OPS + rows * a.f) / sm.fma,
                    mask_fma=elems * MASK_FMA_OPS / sm.fma, load_l2=load / sm.l2, load_hbm=0.0, load_bytes=load,
                    l2_bytes=load, hbm_bytes=0.0, smem_bytes=kern.groups * (smem_g1 + smem_g2))
    q_bytes = q_tile * a.e * a.elem
    o_bytes = q_tile * a.f * a.elem
    cta = CtaCost(pro_l2=q_bytes / sm.l2, pro_hbm=q_bytes / sm.hbm, pro_bytes=q_bytes,
                  epi_fma=q_tile * a.f / sm.fma, epi_hbm=o_bytes / sm.hbm, epi_bytes=o_bytes,
                  buffer=q_bytes)
    return tile, cta


def _with_hbm(tile: TileCost, sm: SM, frac: float) -> TileCost:
    return TileCost(**{**tile.__dict__, "load_hbm": tile.load_bytes * frac / sm.hbm,
                       "hbm_bytes": tile.load_bytes * frac})


def _tile_lists(a: Attn, q_tile: int, kv_tile: int, rows_per_head: int, spatial_tiles=None,
                kv_range: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(partial, full) KV tiles per CTA of one (batch, KV head), in launch order (m-block fastest)."""
    if a.neighborhood is not None:
        qt, kt = spatial_tiles
        v = gna_tools.tile_visits(a.neighborhood, qt, kt)
        return v.partial, v.full
    n_q = -(-rows_per_head // q_tile)
    p = a.p if kv_range is None else kv_range[1] - kv_range[0]
    if not a.causal:
        n = -(-p // kv_tile)
        partial = int(p % kv_tile != 0)
        return np.full(n_q, partial), np.full(n_q, n - partial)
    partial, full = [], []
    for t in range(n_q):
        lo, hi = t * q_tile, min((t + 1) * q_tile, a.m) - 1
        last_key = hi + a.p - a.m                      # bottom-right aligned
        first_full_end = lo + a.p - a.m + 1            # keys < this are seen by every row of the tile
        n_all = -(-(last_key + 1) // kv_tile)
        n_full = max(first_full_end, 0) // kv_tile
        partial.append(n_all - n_full)
        full.append(n_full)
    return np.array(partial), np.array(full)


MAX_CTAS = 1 << 24   # CTAs a fused-attention lowering lists (memory, not hardware, bounds it)


def _lower_fused(c: Cascade, arch: Arch, mp: Mapping, kern: Kernel, options: Options, *, kv_shared: bool = False,
                 pre_passes: float = 0.0, gemms: tuple = ((), ()), notes: tuple[str, ...] = ()) -> Lowered:
    a = attn_shape(c)
    sm = sm_rates(arch, a.dtype)
    prm = mp.params
    q_tile, kv_tile, stages, slots, splits = (prm["q_tile"], prm["kv_tile"], prm["stages"], prm["ctas_per_sm"],
                                              prm.get("splits", 1))
    kv_width = a.e if kv_shared else a.e + a.f
    rows_per_head = (a.heads // a.kv_heads) * a.m if kern.pack_heads else a.m
    heads = a.kv_heads if kern.pack_heads else a.heads
    smem = (q_tile * a.e + kv_tile * kv_width) * a.elem   # a Q tile and one K/V stage, the least that must fit
    if smem > sm.smem_bytes:
        raise MappingError(f"{mp.dataflow}: q_tile={q_tile}, kv_tile={kv_tile} need {smem} bytes of shared memory "
                           f"for one stage; an SM has {sm.smem_bytes}")
    grid = -(-rows_per_head // q_tile) * heads * a.batch * splits
    if grid > MAX_CTAS:
        raise MappingError(f"{mp.dataflow}: a grid of {grid} CTAs is too large to lower (limit {MAX_CTAS}; "
                           f"the per-SM model lists every CTA)")
    tile, cta = _attn_costs(sm, a, kern, q_tile, kv_tile, kv_width)
    spatial = (prm.get("q_tile_shape"), prm.get("kv_tile_shape"))
    chunk = -(-a.p // splits)
    partial, full = _tile_lists(a, q_tile, kv_tile, rows_per_head, spatial,
                                kv_range=None if splits == 1 else (0, chunk))
    per_head = len(partial)
    ctas_total = per_head * heads * a.batch * splits
    # L2 reuse: the CTAs of one KV head that are resident together read its K/V from HBM once.
    visited = float((partial + full).sum()) * tile.load_bytes * splits
    kv_head_bytes = a.p * kv_width * a.elem
    co_resident = min(per_head * (a.heads // heads if not kern.pack_heads else 1), slots * sm.sms)
    frac = min(1.0, max(1.0 / max(co_resident, 1), kv_head_bytes / max(visited, 1.0)))
    tile = _with_hbm(tile, sm, frac)
    base = np.tile(np.stack([partial, full], axis=1), (a.batch * heads * splits, 1))
    t_iter = max(tile.g1 + tile.g2, (tile.sfu + tile.fma) / kern.groups) * kern.groups + tile.load_hbm
    est = cta.epi_fma + base[:, 0] * (t_iter + tile.mask_fma) + base[:, 1] * t_iter + 1.0
    symmetric = prm.get("symmetric", True)
    if symmetric:
        mine, _ = critical_sm(est, sm.sms)
        copies = 1
        scale = (len(base) / len(mine), float(base.sum()) / max(float(base[mine].sum()), 1.0))
    else:   # full simulation: every SM, in lockstep rounds (needs equal CTAs that fill the SMs evenly)
        if len(base) % sm.sms or (base != base[0]).any():
            raise MappingError("symmetric=False needs equal CTAs in a multiple of the SM count")
        mine, copies, scale = np.arange(len(base) // sm.sms), sm.sms, (1.0, 1.0)
    b = _builder(sm, copies)
    gemm_params = _gemm_plan(c, arch, {}).params
    for k, dims in enumerate(gemms[0]):
        _gemm_program(b, sm, dims, gemm_params, a.elem, f"pre{k}")
    if pre_passes:
        _stream(b, sm, pre_passes, "permute", calibrated(options, "STREAM_EFFICIENCY"))
    _attention_program(sm, [tuple(x) for x in base[mine]], tile, cta, groups=kern.groups, stages=stages,
                       slots=slots, scale=scale, builder=b, copies=copies)
    if splits > 1:   # combine kernel: read fp32 partial outputs and log-sum-exps, write O
        part = a.batch * a.heads * a.m * splits * (a.f + 1) * 4
        _stream(b, sm, part + a.batch * a.heads * a.m * a.f * a.elem, "combine", 1.0)
    if prm.get("post_bytes"):
        _stream(b, sm, prm["post_bytes"], "unpermute", calibrated(options, "STREAM_EFFICIENCY"))
    for k, dims in enumerate(gemms[1]):
        _gemm_program(b, sm, dims, gemm_params, a.elem, f"post{k}")
    return Lowered(program=b.build(), unit_keys=_unit_keys(b),
                   flops=attention_flops(a), tags={**_attention_tags(c), "gemm": tuple(e.name for e in c.einsums
                                                                            if "mac" in point_cost(e))},
                   phases=PHASES, actions=useful_actions(c, arch),
                   unit_levels=UNIT_LEVELS,
                   notes=notes + (f"{ctas_total} CTAs, {slots}/SM; simulated SM runs {len(mine)}; "
                                  f"K/V HBM fraction {frac:.3g}",))


def _unit_keys(b: ProgramBuilder) -> dict[str, str]:
    """Utilization keys: per-SM copies `tensor7` count as "tensor"."""
    return {u: (u.rstrip("0123456789") if u[:3] in ("ten", "sfu", "fma") else u) for u in b.units}


def _builder(sm: SM, copies: int = 1) -> ProgramBuilder:
    per_sm = [f"{u}{j}" for j in (range(copies) if copies > 1 else [""]) for u in ("tensor", "sfu", "fma")]
    units = per_sm + ["l2", "hbm", "host"]
    return ProgramBuilder(units, [u in ("l2", "hbm") for u in units],
                          buffers={f"smem{j}": sm.smem_bytes for j in (range(copies) if copies > 1 else [""])},
                          levels=LEVELS, tags=("load", "qk", "softmax", "pv", "epilogue", "launch", "stream", "gemm"),
                          ticks_per_cycle=4)


def _stream(b: ProgramBuilder, sm: SM, total_bytes: float, name: str, eff: float) -> None:
    """A memory-bound kernel moving `total_bytes` through HBM at `eff` of the sustained bandwidth, split evenly
    over the SMs."""
    T = b.ticks_per_cycle
    s = b.segment(f"{name}{len(b._segments)}", barrier=True)
    h = s.op("host", _cyc(sm.launch_cycles * T), tag="launch")
    copies = sum(u.startswith("tensor") for u in b.units)
    s.op("hbm", _cyc(total_bytes / sm.sms / copies / (sm.hbm * eff) * T), deps=[h], tag="stream",
         bytes={"HBM.read": total_bytes / 2, "HBM.write": total_bytes / 2})


# ---- plans ----------------------------------------------------------------------------------------------------

def _mapping(name: str, c: Cascade, params: dict[str, Any]) -> Mapping:
    return Mapping(dataflow=name, groups=(FusionGroup(tuple(e.name for e in c.einsums)),),
                   binding={e.name: "tensor" for e in c.einsums}, params=params)


def _constrain(params: dict, constraints: MappingType[str, Any], name: str) -> dict:
    params = {**params, "symmetric": True}   # simulate the most loaded SM only (False: every SM, for checks)
    unknown = set(constraints) - set(params)
    if unknown:
        raise MappingError(f"{name}: unknown mapping parameter(s) {sorted(unknown)} (valid: {sorted(params)})")
    for key, value in constraints.items():
        default = params[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        elif isinstance(default, tuple):
            ok = (isinstance(value, (tuple, list)) and len(value) == len(default)
                  and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in value))
        else:
            ok = True
        if not ok:
            raise MappingError(f"{name}: mapping parameter {key}={value!r} must be like {default!r} "
                               f"({'True/False' if isinstance(default, bool) else 'positive integers'})")
    return {**params, **constraints}


def _supports_attention(c: Cascade, arch: Arch, *, max_dim: int = 256, sparse: bool | None = False) -> str | None:
    why = is_gpu(arch)
    if why:
        return why
    a = attn_shape(c)
    if isinstance(a, str):
        return a
    if max(a.e, a.f) > max_dim:
        return f"head dim {max(a.e, a.f)} > {max_dim}"
    if sparse is False and a.neighborhood is not None:
        return "neighborhood masks run with the `gna` dataflow"
    if sparse is True and a.neighborhood is None:
        return "no neighborhood (GNA) mask"
    return None


# FlashAttention-2 -------------------------------------------------------------------------------------------------

def _fa2_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    a = attn_shape(c)
    br, bc, warps = _pick(FA2_TILES, max(a.e, a.f))
    sm = sm_rates(arch, a.dtype)
    smem = (br * a.e + bc * (a.e + a.f)) * a.elem
    p = _constrain({"q_tile": br, "kv_tile": bc, "warps": warps, "stages": 1,
                    "ctas_per_sm": occupancy(sm, warps * 32, 255, smem)}, constraints, "flash2")
    return _mapping("flash2", c, p)


def _fa2_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    check_calibration(options, mp.dataflow)
    kern = Kernel("mma_sync", 1, mp.params["warps"], calibrated(options, "FA2_MMA_EFFICIENCY"), False)
    return _lower_fused(c, arch, mp, kern, options, notes=("FlashAttention-2: mma.sync, softmax in order on the same warps",))


# FlashAttention-3 / cuDNN-style -----------------------------------------------------------------------------------

def _fa3_plan(name: str, tiles: dict, slots_default: int):
    def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
        a = attn_shape(c)
        br, bc = _pick(tiles, max(a.e, a.f))
        p = _constrain({"q_tile": br, "kv_tile": bc, "stages": 2, "ctas_per_sm": slots_default},
                       constraints, name)
        return _mapping(name, c, p)
    return plan


def _fa3_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    check_calibration(options, mp.dataflow)
    kern = Kernel("mac", 2, 1, 1.0, False)
    return _lower_fused(c, arch, mp, kern, options, notes=("FlashAttention-3: wgmma + TMA, two consumer warpgroups "
                                                  "ping-pong softmax against GEMMs",))


def _cudnn_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    # Two co-resident 64-row CTAs (one consumer warpgroup each) interleave like FA3's two warpgroups.
    p = dict(mp.params)
    p["q_tile"] = p["q_tile"] * 2
    check_calibration(options, mp.dataflow)
    kern = Kernel("mac", 2, 1, 1.0, False)
    return _lower_fused(c, arch, Mapping(mp.dataflow, mp.groups, mp.binding, p), kern, options,
                        notes=("cuDNN-style: wgmma, two 64-row CTAs per SM overlapping softmax and GEMMs",))


def _hopper(arch: Arch) -> str | None:
    return is_gpu(arch) or (None if accel.op_rate(accel.unit(arch, "tensor"), "mma_sync") !=
                            accel.op_rate(accel.unit(arch, "tensor"), "mac") else
                            f"{arch.name} has no warpgroup MMA path (mma_sync is its native path)")


# decode -----------------------------------------------------------------------------------------------------------

def _decode_plan(name: str, kv_tile: int, q_tile: int):
    def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
        a = attn_shape(c)
        sm = sm_rates(arch, a.dtype)
        rows = (a.heads // a.kv_heads) * a.m
        ctas = a.batch * a.kv_heads * -(-rows // q_tile)
        n_tiles = -(-a.p // kv_tile)
        splits = split_heuristic(ctas, sm.sms * 2, n_tiles)
        p = _constrain({"q_tile": q_tile, "kv_tile": kv_tile, "stages": 4, "ctas_per_sm": 2, "splits": splits},
                       constraints, name)
        return _mapping(name, c, p)
    return plan


def split_heuristic(ctas: int, slots: int, n_tiles: int, max_splits: int = 128) -> int:
    """FlashAttention's `num_splits_heuristic`: the fewest splits whose wave efficiency (waves / ⌈waves⌉) is
    within 85% of the best, among splits that fill fewer than 80% of the slots without splitting."""
    if ctas >= 0.8 * slots:
        return 1
    options = [k for k in range(1, min(max_splits, n_tiles) + 1)]
    eff = [(ctas * k / slots) / math.ceil(ctas * k / slots) for k in options]
    best = max(eff)
    return next(k for k, e in zip(options, eff) if e >= 0.85 * best)


def _decode_supports(c: Cascade, arch: Arch) -> str | None:
    why = _supports_attention(c, arch)
    if why:
        return why
    a = attn_shape(c)
    if a.causal and a.m > 1 and a.m * 4 > a.p:
        return "not a decode shape (query length is a large fraction of the KV length)"
    return None


def _decode_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    check_calibration(options, mp.dataflow)
    hopper = _hopper(arch) is None
    kern = Kernel("mac" if hopper else "mma_sync", 1, 1 if hopper else 4, 1.0, True)
    a = attn_shape(c)
    c2 = c if not a.causal else c   # decode: the causal mask only trims the last M−1 keys (ignored)
    return _lower_fused(c2, arch, mp, kern, options, notes=("flash-decoding: split-KV, query heads of a KV group packed, "
                                                   "combine kernel",))


def _mla_supports(c: Cascade, arch: Arch) -> str | None:
    why = _supports_attention(c, arch, max_dim=1024)
    if why:
        return why
    a = attn_shape(c)
    if a.kv_heads != 1 or a.f > a.e:
        return "MLA decode needs the absorbed form: one shared latent KV head (MQA) with V ⊂ K (F ≤ E)"
    return None


def _mla_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    check_calibration(options, mp.dataflow)
    kern = Kernel("mac", 1, 1, 1.0, True)
    s = c.sizes
    gemms = ((), ())
    if "CKV" in c.inputs and {"EN", "C", "F"} <= set(s):   # the absorbed cascade's own projections, per head
        rows = s["B"] * s["M"]
        gemms = (((s["H"], rows, s["C"], s["EN"]),), ((s["H"], rows, s["F"], s["C"]),))
    return _lower_fused(c, arch, mp, kern, options, kv_shared=True, gemms=gemms,
                        notes=("MLA decode: MQA over the cached latent row; values are its first F dims",))


# GNA --------------------------------------------------------------------------------------------------------------

def _gna_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    a = attn_shape(c)
    nb = a.neighborhood
    q_tile, kv_tile = _pick({64: (64, 128), 128: (128, 128), 256: (128, 64)}, max(a.e, a.f))
    defaults = {1: ((q_tile,), (kv_tile,)), 2: ((16, 8), (16, 8)), 3: ((4, 4, 8), (4, 4, 8))}
    qs, ks = defaults[len(nb.spatial)] if len(nb.spatial) in defaults else ((q_tile,), (kv_tile,))
    p = _constrain({"q_tile_shape": qs, "kv_tile_shape": ks, "stages": 2, "ctas_per_sm": 1}, constraints, "gna")
    p["q_tile"], p["kv_tile"] = math.prod(p["q_tile_shape"]), math.prod(p["kv_tile_shape"])
    return _mapping("gna", c, p)


def _gna_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    check_calibration(options, mp.dataflow)
    a = attn_shape(c)
    hopper = _hopper(arch) is None        # Hopper NATTEN kernels are FA3-style; older GPUs use FA2-style ones
    kern = (Kernel("mac", 2, 1, 1.0, False) if hopper else
            Kernel("mma_sync", 1, 4, calibrated(options, "FA2_MMA_EFFICIENCY"), False))
    qkv = a.batch * a.m * (a.heads * a.e + a.kv_heads * (a.e + a.f)) * a.elem
    o = a.batch * a.m * a.heads * a.f * a.elem
    p = dict(mp.params)
    p["post_bytes"] = 2 * o
    return _lower_fused(c, arch, Mapping(mp.dataflow, mp.groups, mp.binding, p), kern, options, pre_passes=2 * qkv,
                        notes=("GNA: token permute, block-sparse FA3-style kernel over bounding-box KV tiles, "
                               "unpermute",))


# GEMM -------------------------------------------------------------------------------------------------------------

def _gemm_dims(c: Cascade) -> tuple[int, int, int, int] | str:
    if len(c.einsums) != 1 or len(c.inputs) != 2:
        return f"{c.name} is not a single GEMM"
    e = c.einsums[0]
    out = [i.rank for i in e.output.indices]
    red = list(e.reduce_ranks)
    if len(red) != 1 or len(out) < 2:
        return f"{c.name} is not a GEMM (one reduced rank, ≥ 2 output ranks)"
    s = c.sizes
    batch = math.prod(s[r] for r in out[:-2])
    return batch, s[out[-2]], s[out[-1]], s[red[0]]


def _gemm_supports(c: Cascade, arch: Arch) -> str | None:
    why = is_gpu(arch)
    if why:
        return why
    d = _gemm_dims(c)
    return d if isinstance(d, str) else None


def _gemm_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    hopper = _hopper(arch) is None
    p = _constrain({"tile_m": 128, "tile_n": 256 if hopper else 128, "tile_k": 64, "stages": 4 if hopper else 3,
                    "ctas_per_sm": 1, "cluster": 2 if hopper else 1}, constraints, "gemm")
    return _mapping("gemm", c, p)


def _gemm_program(b: ProgramBuilder, sm: SM, dims: tuple[int, int, int, int], prm, elem: int, name: str) -> float:
    batch, m, n, k = dims
    bm, bn, bk = prm["tile_m"], prm["tile_n"], prm["tile_k"]
    tm, tn, tk = -(-m // bm), -(-n // bn), -(-k // bk)
    ctas = batch * tm * tn
    slots = prm["ctas_per_sm"] * sm.sms
    load = (bm + bn) * bk * elem
    # TMA multicast in a cluster: an A tile is shared by the cluster's CTAs along N, a B tile by those along M
    # (only where such partner CTAs exist).
    l2_load = (bm * bk / min(prm["cluster"], tn) + bn * bk / min(prm["cluster"], tm)) * elem
    compulsory = batch * (m * k + k * n) * elem
    loaded = ctas * tk * load
    frac = min(1.0, max(compulsory / loaded, 1.0 / math.sqrt(min(slots, ctas))))
    per_sm = -(-ctas // sm.sms)
    scale = ctas / per_sm
    T = b.ticks_per_cycle
    s = b.segment(f"{name}.launch", barrier=True)
    s.op("host", _cyc(sm.launch_cycles * T), tag="launch")
    for j in range(per_sm):
        body = b.segment(f"{name}.cta{j}.k", repeat=tk)
        l2 = body.op("l2", _cyc(l2_load / sm.l2 * T), acquire={"smem": load}, tag="load",
                     bytes={"L2.read": l2_load * scale})
        ld = body.op("hbm", _cyc(load * frac / sm.hbm * T), deps=[l2], tag="load",
                     bytes={"HBM.read": load * frac * scale})
        body.op("tensor", _cyc(bm * bn * bk / sm.mac * T), deps=[ld], release={"smem": load}, tag="gemm")
        epi = b.segment(f"{name}.cta{j}.epi")
        out = bm * bn * elem
        epi.op("hbm", _cyc(out / sm.hbm * T), tag="epilogue", bytes={"HBM.write": out * scale,
                                                                      "L2.write": out * scale})
    return 2.0 * batch * m * n * k


def _gemm_builder(sm: SM, stages_bytes: int) -> ProgramBuilder:
    return ProgramBuilder(UNITS, MEMORY, buffers={"smem": stages_bytes}, levels=LEVELS,
                          tags=("load", "qk", "softmax", "pv", "epilogue", "launch", "stream", "gemm"),
                          ticks_per_cycle=4)


def _gemm_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    check_calibration(options, mp.dataflow)
    sm = sm_rates(arch, c.dtype)
    prm = mp.params
    b = _gemm_builder(sm, prm["stages"] * (prm["tile_m"] + prm["tile_n"]) * prm["tile_k"] * dtype_bytes(c))
    flops = _gemm_program(b, sm, _gemm_dims(c), prm, dtype_bytes(c), "gemm")
    return Lowered(program=b.build(), unit_keys={u: u for u in UNITS}, flops=flops, tags={"gemm": (c.einsums[0].name,)},
                   phases=PHASES, actions=useful_actions(c, arch), unit_levels=UNIT_LEVELS,
                   notes=("cuBLAS-like tiles on the native tensor path; the critical SM gets ⌈CTAs/SMs⌉ tiles",))


# unfused PyTorch math path ----------------------------------------------------------------------------------------

def _math_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    p = _constrain({**_gemm_plan(c, arch, {}).params, "layout_copies": True}, constraints, "gpu-unfused")
    return _mapping("gpu-unfused", c, p)


def _math_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """PyTorch's math path as in the FlashAttention benchmark: layout copies of Q, K, V; S = QKᵀ (batched GEMM);
    (+ causal mask add); softmax; O = PV (batched GEMM); the output copy back — every step through HBM."""
    check_calibration(options, mp.dataflow)
    eff = calibrated(options, "STREAM_EFFICIENCY")
    a = attn_shape(c)
    sm = sm_rates(arch, a.dtype)
    prm = dict(mp.params)
    bh = a.batch * a.heads
    s_bytes = bh * a.m * a.p * a.elem
    b = _gemm_builder(sm, prm["stages"] * (prm["tile_m"] + prm["tile_n"]) * prm["tile_k"] * a.elem)
    tok = a.batch * a.m
    if prm["layout_copies"]:   # Q, K, V to [B,H,S,D]-contiguous: read + write each
        qkv = tok * a.heads * a.e + a.batch * a.p * a.kv_heads * (a.e + a.f)
        _stream(b, sm, 2 * qkv * a.elem, "copy_qkv", eff)
    _gemm_program(b, sm, (bh, a.m, a.p, a.e), prm, a.elem, "qk")
    if a.causal:
        # The benchmark builds triu(full((M, P), -1e4)) in fp32 and casts it (write 4, read+write 4, read 4 + write
        # 2 bytes per element), then adds it to the scores: read S, read the mask (from HBM unless it fits in L2),
        # write S.
        mask = a.m * a.p * a.elem
        _stream(b, sm, 18 * a.m * a.p, "mask_build", eff)
        in_l2 = mask <= accel.level(arch, "L2").capacity_bytes
        _stream(b, sm, 2 * s_bytes + (0 if in_l2 else s_bytes), "mask", eff)
    _stream(b, sm, 2 * s_bytes, "softmax", eff)
    _gemm_program(b, sm, (bh, a.m, a.f, a.p), prm, a.elem, "pv")
    if prm["layout_copies"]:
        _stream(b, sm, 2 * tok * a.heads * a.f * a.elem, "copy_o", eff)
    notes = ("unfused PyTorch math: S and P through HBM",)
    if 3 * s_bytes > accel.level(arch, "HBM").capacity_bytes:
        notes += (f"would run out of memory: scores, masked scores and probabilities need {3 * s_bytes / 1e9:.3g} GB",)
    return Lowered(program=b.build(), unit_keys={u: u for u in UNITS}, flops=attention_flops(a),
                   tags={"gemm": tuple(e.name for e in c.einsums if "mac" in point_cost(e)),
                         "softmax": _attention_tags(c).get("softmax", ())},
                   phases=PHASES, actions=useful_actions(c, arch), unit_levels=UNIT_LEVELS, notes=notes)


def unfused_fits(c: Cascade, arch: Arch) -> bool:
    """Whether the math path's score-sized intermediates (3 of them in the causal benchmark) fit in HBM."""
    a = attn_shape(c)
    s_bytes = a.batch * a.heads * a.m * a.p * a.elem
    return 3 * s_bytes + 4 * a.batch * a.heads * a.m * a.p <= accel.level(arch, "HBM").capacity_bytes


# ---- search spaces (the mapping choices `sim.explore` searches, from the default plan) -------------------------

def _attention_space(*, warps: bool = False, splits: bool = False):
    """Tiles, pipeline stages and CTAs per SM of a fused attention kernel; FA2 also its warps per CTA; decode
    kernels few query rows per CTA and the KV length split over CTAs."""
    def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
        axes = {"q_tile": (64, 128, 256), "kv_tile": (32, 64, 128, 256), "stages": (1, 2, 3, 4),
                "ctas_per_sm": (1, 2, 3, 4)}
        if warps:
            axes["warps"] = (4, 8)
        if splits:
            axes["q_tile"] = (16, 32, 64, 128)
            axes["splits"] = (1, 2, 4, 8, 16, 32, 64, 128)
        return axes
    return space


def _gemm_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """cuBLAS-like tile shapes. Small tiles multiply the CTAs the lowering walks and never win on large GEMMs."""
    return {"tile_m": (128, 256), "tile_n": (128, 256), "tile_k": (32, 64), "stages": (2, 3, 4),
            "ctas_per_sm": (1, 2), "cluster": (1, 2)}


def _gna_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """Pipeline stages and CTAs per SM (the multi-dimensional tile shapes stay at NATTEN's defaults)."""
    return {"stages": (1, 2, 3, 4), "ctas_per_sm": (1, 2, 3, 4)}


# ---- registration ---------------------------------------------------------------------------------------------

register_dataflow("flash2", supports=lambda c, a: _supports_attention(c, a), plan=_fa2_plan, lower=_fa2_lower,
                  space=_attention_space(warps=True),
                  doc="FlashAttention-2 forward (mma.sync; per-CTA Q tile, loop over KV tiles, in-order softmax)")
register_dataflow("flash3", supports=lambda c, a: _supports_attention(c, a) or _hopper(a),
                  plan=_fa3_plan("flash3", FA3_TILES, 1), lower=_fa3_lower, space=_attention_space(),
                  doc="FlashAttention-3 forward (TMA, warp-specialized producer, ping-pong warpgroups, wgmma)")
register_dataflow("cudnn", supports=lambda c, a: _supports_attention(c, a) or _hopper(a),
                  plan=_fa3_plan("cudnn", CUDNN_TILES, 2), lower=_cudnn_lower, space=_attention_space(),
                  doc="cuDNN-style Hopper fused attention (wgmma, 64-row tiles, two CTAs per SM)")
register_dataflow("gpu-unfused", supports=lambda c, a: _supports_attention(c, a, max_dim=1 << 20),
                  plan=_math_plan, lower=_math_lower, space=_gemm_space,
                  doc="PyTorch math attention: GEMM, softmax, GEMM as separate kernels through HBM")
register_dataflow("flash-decoding", supports=_decode_supports, plan=_decode_plan("flash-decoding", 128, 64),
                  lower=_decode_lower, space=_attention_space(splits=True),
                  doc="split-KV decode attention with a combine kernel")
register_dataflow("mla-decode", supports=_mla_supports, plan=_decode_plan("mla-decode", 64, 64), lower=_mla_lower,
                  space=_attention_space(splits=True),
                  doc="absorbed MLA decode: MQA over the cached latent (values = its first F dims)")
register_dataflow("gna", supports=lambda c, a: _supports_attention(c, a, sparse=True), plan=_gna_plan,
                  lower=_gna_lower, space=_gna_space,
                  doc="NATTEN-style block-sparse GNA: permute, bounding-box tiles, unpermute")
register_dataflow("gemm", supports=_gemm_supports, plan=_gemm_plan, lower=_gemm_lower, space=_gemm_space,
                  doc="cuBLAS-like tiled GEMM on the native tensor path")
