"""The GPU as the kernel model sees it: per-SM rates, occupancy limits, and where the CTAs of a grid go.

An arch is a GPU when its levels are HBM → L2 → SMEM → RF (SMEM replicated per SM) and it has `tensor`, `sfu` and
`fma` units; a `TMEM` level (tensor memory, under RF) makes it Blackwell-class (`generation`). Rates are per SM per clock. HBM and L2 bandwidth are shared by the SMs that run CTAs (`SM.sharing`):
an idle SM takes no share; one SM takes at most what its shared memory accepts (the SMEM level's per-SM
bandwidth), since every loaded tile lands there, and from HBM at most what its outstanding loads (the resident
CTAs' pipeline stages) sustain over the HBM latency — why few CTAs cannot saturate HBM (FlashDecoding's premise).
A null bandwidth means "not a bottleneck" (the arch schema), a null HBM capacity "unbounded".

CTAs go to SMs in launch order, each to the SM with the least estimated work so far (the hardware block
scheduler's greedy dispatch); only the most loaded SM is simulated (`place`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

import accel
from accel import Arch

from sim.dataflows.gpu.constants import (DEFAULT_HBM_FRACTION, DEFAULT_TENSOR_FRACTION, FP32_BYTES, HBM_LATENCY_S,
                                         MAX_DISPATCHED_CTAS, MAX_RIVALS)
from sim.engine.dispatch import greedy_dispatch
from sim.ir.mapping import MappingError

GPU_LEVELS = ("HBM", "L2", "SMEM", "RF")
TMEM = "TMEM"          # Blackwell's tensor memory: 128 lanes × 512 columns of 32 bits per SM
TMEM_LANES = 128
GPU_UNITS = {"tensor": "mac", "sfu": "exp", "fma": "add"}   # unit → an op it must run


@dataclass(frozen=True)
class SM:
    """Per-SM rates in units per clock, and the machine's size. `l2`/`hbm` are this SM's share of the bandwidth."""
    sms: int
    clock_hz: float
    mac: float            # native path (wgmma on Hopper), sustained
    mma_sync: float       # Ampere-style warp-level path, sustained
    sfu: float
    fma: float
    smem: float           # bytes/clk
    l2: float             # bytes/clk
    hbm: float            # bytes/clk (sustained)
    l2_total: float       # bytes/clk, the whole GPU
    hbm_total: float
    smem_bytes: int
    regs: int             # 32-bit registers
    launch_cycles: float
    hbm_latency_cycles: float
    tmem_columns: int = 0  # 32-bit TMEM columns of 128 lanes (0: no tensor memory)

    def sharing(self, active: int, in_flight: float = math.inf) -> "SM":
        """The rates when `active` SMs share HBM and L2 (more than the SM count: a smaller share than a full
        machine's). One SM takes at most its shared-memory bandwidth, and from HBM at most what `in_flight` bytes
        of outstanding loads sustain over the HBM latency (Little's law)."""
        active = max(1, int(active))
        hbm = min(self.hbm_total / active, self.smem, in_flight / max(self.hbm_latency_cycles, 1e-9))
        return replace(self, l2=min(self.l2_total / active, self.smem), hbm=hbm)


def gpu_reason(arch) -> str | None:
    """None if `arch` has the GPU shape the kernel model needs, else why not."""
    if not isinstance(arch, Arch):
        return f"expected an accel.Arch, got {type(arch).__name__} (e.g. accel.preset('h100'))"
    names = [lv.name for lv in arch.levels]
    if tuple(names[:4]) != GPU_LEVELS:
        return f"{arch.name} is not a GPU (levels {names[:8]}, need HBM → L2 → SMEM → RF)"
    for lv in (accel.level(arch, n) for n in GPU_LEVELS[1:]):
        if lv.capacity_bytes is None:
            return f"{arch.name}: level {lv.name} has no capacity (the GPU model needs shared memory and registers)"
    units = {u.name: u for u in arch.units}
    for name, op in GPU_UNITS.items():
        if name not in units:
            return f"{arch.name} is not a GPU (units {sorted(units)[:8]}, need tensor, sfu, fma)"
        if not accel.op_rate(units[name], op):
            return f"{arch.name}: unit {name} has no {op!r} rate"
    return None


def hopper_reason(arch: Arch) -> str | None:
    """None if the tensor cores have a native path faster than mma.sync (Hopper's wgmma and later)."""
    tensor = accel.unit(arch, "tensor")
    sync = accel.op_rate(tensor, "mma_sync")
    if sync is not None and sync < accel.op_rate(tensor, "mac"):
        return None
    return f"{arch.name} has no warpgroup MMA path (mma_sync is its native path)"


def generation(arch: Arch) -> str:
    """"blackwell" if the arch has tensor memory (a `TMEM` level: SM100's tcgen05 MMA accumulates there),
    "hopper" if its native path is faster than mma.sync (wgmma), else "ampere"."""
    if any(lv.name == TMEM for lv in arch.levels):
        return "blackwell"
    return "hopper" if hopper_reason(arch) is None else "ampere"


def wgmma_reason(arch: Arch) -> str | None:
    """None if the arch runs Hopper's warpgroup MMA (wgmma) as its native path, else why not."""
    gen = generation(arch)
    if gen == "blackwell":
        return (f"{arch.name} is Blackwell (SM100): its tensor cores run tcgen05 MMA with accumulators in tensor "
                f"memory, and Hopper's wgmma is not modelled on it (use flash-blackwell)")
    return None if gen == "hopper" else hopper_reason(arch)


def blackwell_reason(arch: Arch) -> str | None:
    """None if the arch is Blackwell-class (tcgen05 MMA, a `TMEM` level), else why not."""
    if generation(arch) == "blackwell":
        return None
    return f"{arch.name} has no tensor memory (TMEM level): tcgen05 MMA kernels need Blackwell (SM100)"


def tensor_rate_reason(arch: Arch, dtype: str) -> str | None:
    """None if the tensor cores state a rate for `dtype` (`mac` is the 16-bit rate; others need `mac.<dtype>`)."""
    if dtype in ("fp16", "bf16") or f"mac.{dtype}" in accel.unit(arch, "tensor").ops_per_cycle:
        return None
    return f"{arch.name}: the tensor unit has no mac.{dtype} rate"


def _bandwidth(arch: Arch, level: str) -> float:
    bw = accel.level(arch, level).bandwidth_bytes_per_s
    return math.inf if bw is None else bw


def sm_rates(arch: Arch, dtype: str = "fp16") -> SM:
    """Per-SM rates of a GPU arch (see `gpu_reason`), all SMs sharing HBM and L2."""
    sms = accel.instances(arch, "SMEM")
    clk = arch.clock_hz
    tensor = accel.unit(arch, "tensor")
    per_sm = lambda u, op, dt=None: accel.op_rate(u, op, dt) * math.prod(u.pes) * u.count  # noqa: E731
    mac = per_sm(tensor, "mac", dtype)
    peak16 = 2 * per_sm(tensor, "mac") * sms * clk   # the measured GEMM ceiling is a bf16 one
    sustained = min(1.0, arch.measured.get("tensor.bf16_flops_per_s", DEFAULT_TENSOR_FRACTION * peak16) / peak16)
    hbm = _bandwidth(arch, "HBM")
    hbm_sustained = arch.measured.get("HBM.bytes_per_s", DEFAULT_HBM_FRACTION * hbm)
    sync = accel.op_rate(tensor, "mma_sync")
    sm = SM(sms=sms, clock_hz=clk, mac=mac * sustained,
            mma_sync=(sync * math.prod(tensor.pes) * tensor.count if sync else mac) * sustained,
            sfu=per_sm(accel.unit(arch, "sfu"), "exp"), fma=per_sm(accel.unit(arch, "fma"), "add"),
            smem=_bandwidth(arch, "SMEM") / sms / clk, l2=0.0, hbm=0.0,
            l2_total=_bandwidth(arch, "L2") / clk, hbm_total=hbm_sustained / clk,
            smem_bytes=accel.level(arch, "SMEM").capacity_bytes,
            regs=accel.level(arch, "RF").capacity_bytes // FP32_BYTES,
            launch_cycles=arch.launch_overhead_s * clk, hbm_latency_cycles=HBM_LATENCY_S * clk,
            tmem_columns=_tmem_columns(arch))
    return sm.sharing(sms)


def _tmem_columns(arch: Arch) -> int:
    """32-bit columns of the SM's tensor memory (its copies under one SM, all 128 lanes)."""
    tmem = next((lv for lv in arch.levels if lv.name == TMEM), None)
    if tmem is None or tmem.capacity_bytes is None:
        return 0
    per_sm = accel.instances(arch, TMEM) // accel.instances(arch, "SMEM")
    return per_sm * tmem.capacity_bytes // (TMEM_LANES * FP32_BYTES)


def occupancy(sm: SM, threads: int, regs_per_thread: int, smem_bytes: int) -> int:
    """Resident CTAs per SM, limited by registers and shared memory (0 if one CTA does not fit)."""
    by_regs = sm.regs // max(threads * regs_per_thread, 1)
    by_smem = sm.smem_bytes // max(smem_bytes, 1)
    return min(by_regs, by_smem)


# ---- CTA placement --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """Where a grid's CTAs run: the simulated SM's CTAs as runs of (CTA class, busy SMs, count) in launch order.
    `busy` is how many SMs still run CTAs while that one runs (the SMs holding more CTAs than its position): they
    share HBM and L2, so the tail of an uneven grid draws more bandwidth per SM."""
    runs: tuple[tuple[int, int, int], ...]
    ctas: int             # CTAs in the grid
    simulated: int        # CTAs on the simulated SM
    rivals: tuple[tuple[tuple[tuple[int, int, int], ...], int], ...] = ()   # other SMs that may be slower: (runs, CTAs)


def place(estimates: np.ndarray, pattern: np.ndarray, reps: int, sms: int, rank_major: bool = False,
          features: np.ndarray | None = None) -> Placement:
    """Greedy dispatch of `reps` repetitions of a CTA `pattern` (class indices, launch order) with per-class work
    `estimates` — repetition by repetition, or (`rank_major`) each pattern entry for every repetition in turn —;
    the most loaded SM is simulated. Equal CTAs are placed in closed form (round robin).

    An estimate only ranks the SMs: with `features` (per class, e.g. its partially masked and full tiles, each
    adding time), every other SM whose summed features and CTA count no SM's dominate is a rival — it may be the
    slower one — listed when there are at most MAX_RIVALS of them, for the caller to simulate too."""
    n = len(pattern) * reps
    if len(set(pattern.tolist())) == 1:
        full, rest = divmod(n, sms)
        runs = ((int(pattern[0]), sms, full),) if full else ()
        return Placement(runs + (((int(pattern[0]), rest, 1),) if rest else ()), n, full + (rest > 0))
    if n > MAX_DISPATCHED_CTAS:
        raise MappingError(f"a grid of {n} unequal CTAs is too large to place one by one (limit "
                           f"{MAX_DISPATCHED_CTAS}; equal CTAs have no limit): use fewer heads × batch or larger "
                           f"tiles")
    classes = np.repeat(pattern, reps) if rank_major else np.tile(pattern, reps)
    owner, worst = critical_sm(estimates[classes], sms)
    runs, count = _sm_runs(owner, worst, classes, sms)
    rivals = () if features is None else tuple(_sm_runs(owner, s, classes, sms)
                                               for s in rival_sms(owner, classes, features, sms, worst))
    return Placement(runs, n, count, rivals)


def _sm_runs(owner: np.ndarray, sm: int, classes: np.ndarray, sms: int) -> tuple[tuple[tuple[int, int, int], ...], int]:
    """One SM's CTAs as runs of (class, busy SMs, count), and how many it runs."""
    mine = np.flatnonzero(owner == sm)
    counts = np.sort(np.bincount(owner, minlength=sms))
    busy = sms - np.searchsorted(counts, np.arange(len(mine)), side="right")   # SMs with more CTAs than k
    key = classes[mine] * (sms + 1) + busy
    return tuple((k // (sms + 1), k % (sms + 1), c) for k, c in _runs(key)), len(mine)


def rival_sms(owner: np.ndarray, classes: np.ndarray, features: np.ndarray, sms: int, worst: int) -> list[int]:
    """The SMs besides `worst` whose summed per-class `features` and CTA count are dominated by no other SM's
    (one SM per distinct sum), or none when there are more than MAX_RIVALS of them. Those `worst` dominates are
    dropped first (what they dominate, it dominates too), so the pairwise check runs on the few left."""
    per_class = np.asarray(features, float)
    sums = np.column_stack([np.bincount(owner, weights=per_class[classes, k], minlength=sms)
                            for k in range(per_class.shape[1])] + [np.bincount(owner, minlength=sms)])
    _, first = np.unique(sums, axis=0, return_index=True)
    first = first[np.any(sums[first] != sums[worst], axis=1) & ~_dominated(sums[first], sums[worst])]
    rows = sums[first]
    above = (rows[None, :, :] >= rows[:, None, :]).all(axis=2) & (rows[None, :, :] > rows[:, None, :]).any(axis=2)
    front = first[~above.any(axis=1)]
    return sorted(int(s) for s in front) if len(front) <= MAX_RIVALS else []


def _dominated(rows: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Which `rows` `by` dominates (at least as large everywhere, larger somewhere)."""
    return (by >= rows).all(axis=1) & (by > rows).any(axis=1)


def critical_sm(estimates: np.ndarray, sms: int) -> tuple[np.ndarray, int]:
    """Greedy dispatch in launch order to the least-loaded SM (ties: the lowest SM index): each CTA's SM, and the
    most loaded SM (`sim.engine.dispatch`, one tournament-tree update per CTA)."""
    owner, load = greedy_dispatch(estimates, sms)
    return owner, int(np.argmax(load))


def _runs(classes: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Run-length encoding of a class sequence."""
    if len(classes) == 0:
        return ()
    edges = np.flatnonzero(np.diff(classes)) + 1
    starts = np.concatenate([[0], edges])
    counts = np.diff(np.concatenate([starts, [len(classes)]]))
    return tuple((int(classes[s]), int(k)) for s, k in zip(starts, counts))
