"""cuBLAS-like tiled GEMMs on the native tensor path: the `gemm` dataflow, and the GEMM kernels of other lowerings
(the unfused math path's batched matmuls, MLA's absorbed projections).

A CTA computes a tile_m × tile_n output tile in tile_k steps: each step loads an A and a B tile through L2 into a
shared-memory stage (TMA multicast in a cluster shares an A tile among the cluster's CTAs along N and a B tile
along M, where such partners exist), then runs its MACs. HBM serves each operand byte at least once; tiles
re-read by other CTAs hit in L2 in proportion to how many CTAs are resident together.

A skinny GEMM (decode's projections: M = the batch) has too few output tiles to fill the SMs; like cuBLAS/CUTLASS
split-K, the K loop is then split over `splits` CTAs per tile (FlashAttention's wave-efficiency heuristic picks the
count), each writing an fp32 partial tile that a reduction kernel sums.
"""
from __future__ import annotations

import math

import workloads
from accel import Arch
from workloads import Call, Cascade, Ref

from sim.dataflows.gpu.constants import GEMM_DTYPES, MAX_GRID_CTAS, MAX_UNROLLED_OPS, check_calibration
from sim.dataflows.gpu.fused import useful_actions
from sim.dataflows.gpu.machine import gpu_reason, hopper_reason, sm_rates, tensor_rate_reason
from sim.dataflows.gpu.plans import check_arch, constrain, mapping, split_heuristic
from sim.dataflows.gpu.programs import stream
from sim.dataflows.gpu.pieces import compose, ops_of
from sim.dataflows.gpu.programs import UNIT_LEVELS, GpuProgram, cycles
from sim.dataflows.registry import Lowered
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options

# Default tiles: Hopper's CUTLASS/cuBLAS kernels 128×256×64, 4 stages, clusters of 2; Ampere's 128×128×64, 3 stages.
HOPPER_TILES = {"tile_m": 128, "tile_n": 256, "tile_k": 64, "stages": 4, "ctas_per_sm": 1, "cluster": 2}
AMPERE_TILES = {"tile_m": 128, "tile_n": 128, "tile_k": 64, "stages": 3, "ctas_per_sm": 1, "cluster": 1}
PARTIAL_BYTES = 4            # split-K partial tiles are fp32
REDUCE_EFFICIENCY = 1.0      # the split-K reduction is a plain sum: it streams at the sustained copy bandwidth
MIN_K_STEPS_PER_SPLIT = 4    # a split keeps at least this many tile_k steps (its prologue would dominate otherwise)


def gemm_tiles(arch: Arch) -> dict[str, int]:
    """The default tiles of the arch's GEMM kernels."""
    return dict(HOPPER_TILES if hopper_reason(arch) is None else AMPERE_TILES)


def gemm_dims(c: Cascade) -> tuple[int, int, int, int] | str:
    """(batch, M, N, K) of a single-Einsum GEMM `Z[.., m, n] = sum_k A[.., m, k] * B[.., k, n]`, or why it is not."""
    if not isinstance(c, Cascade):
        return f"expected a workloads.Cascade, got {type(c).__name__} (e.g. workloads.gemm(m, n, k))"
    if len(c.einsums) != 1 or len(c.inputs) != 2:
        return f"{c.name} is not a single GEMM (one Einsum over two inputs)"
    e = c.einsums[0]
    x = e.expr
    if not (e.reduce == "sum" and isinstance(x, Call) and x.op == "mul" and all(isinstance(r, Ref) for r in x.args)
            and {r.tensor for r in x.args} == set(c.inputs)):
        return f"{c.name} is not a GEMM (the sum over a product of its two inputs)"
    a, b = ({i.rank for i in r.indices} for r in x.args)
    out = [i.rank for i in e.output.indices]
    if len(e.reduce_ranks) != 1 or not all(r in a and r in b for r in e.reduce_ranks):
        return f"{c.name} is not a GEMM (one rank reduced, read by both operands)"
    s = c.sizes
    dims = [math.prod(s[r] for r in out if test(r)) for test in
            (lambda r: r in a and r in b, lambda r: r in a and r not in b, lambda r: r in b and r not in a)]
    return dims[0], dims[1], dims[2], s[e.reduce_ranks[0]]


def gemm_supports(c: Cascade, arch: Arch) -> str | None:
    """A single GEMM Einsum in a dtype the tensor cores state a rate for."""
    why = gpu_reason(arch)
    if why:
        return why
    d = gemm_dims(c)
    if isinstance(d, str):
        return d
    if c.dtype not in GEMM_DTYPES:
        return f"dtype {c.dtype} is not modelled for GEMMs (modelled: {', '.join(GEMM_DTYPES)})"
    return tensor_rate_reason(arch, c.dtype)


def gemm_plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """The arch's default tiles, with as many stages as shared memory holds."""
    dims = gemm_dims(c)
    if isinstance(dims, str):
        raise MappingError(f"gemm: {dims}")
    p = constrain("gemm", {**gemm_tiles(check_arch(arch, "gemm")), "splits": 1}, constraints)
    sm = sm_rates(arch, c.dtype)
    elem, smem = workloads.DTYPE_BYTES[c.dtype], sm.smem_bytes
    if "stages" not in constraints:   # e.g. tf32's 4-byte tiles: as many stages as shared memory holds
        p["stages"] = max(1, min(p["stages"], smem // ((p["tile_m"] + p["tile_n"]) * p["tile_k"] * elem)))
    if "splits" not in constraints:
        p["splits"] = split_k(dims, p, sm.sms)
    check_gemm_fit("gemm", p, elem, smem)
    return mapping("gemm", c, p)


def split_k(dims: tuple[int, int, int, int], p, sms: int) -> int:
    """How many CTAs share one output tile's K loop: FlashAttention's wave-efficiency heuristic over the K steps
    (at least MIN_K_STEPS_PER_SPLIT each), restricted to counts that divide them evenly."""
    batch, m, n, k = dims
    tiles = batch * -(-m // p["tile_m"]) * -(-n // p["tile_n"])
    steps = -(-k // p["tile_k"])
    best = split_heuristic(tiles, sms * p["ctas_per_sm"], max(1, steps // MIN_K_STEPS_PER_SPLIT))
    return next(s for s in range(best, 0, -1) if steps % s == 0)


def check_gemm_fit(name: str, p, elem: int, smem_bytes: int) -> None:
    """Refuse stages × (A + B tile) beyond an SM's shared memory, naming what fits."""
    stage = (p["tile_m"] + p["tile_n"]) * p["tile_k"] * elem
    if p["stages"] * stage > smem_bytes:
        raise MappingError(f"{name}: {p['stages']} stages of {p['tile_m']}×{p['tile_k']} + {p['tile_k']}×"
                           f"{p['tile_n']} tiles need {p['stages'] * stage} B of shared memory; an SM has "
                           f"{smem_bytes} B (stages ≤ {smem_bytes // stage} fit)")


def gemm_lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """The GEMM as one tiled kernel."""
    check_calibration(options, mp.dataflow)
    sm = sm_rates(check_arch(arch, "gemm"), c.dtype)
    dims = gemm_dims(c)
    if isinstance(dims, str):
        raise MappingError(f"gemm: {dims}")
    elem = workloads.DTYPE_BYTES[c.dtype]
    check_gemm_fit("gemm", mp.params, elem, sm.smem_bytes)
    prog = GpuProgram(sm, buffers=gemm_buffers(mp.params, elem))
    gemm_kernel(prog, dims, mp.params, elem, "gemm", "gemm")
    return Lowered(program=prog.build(), unit_keys=prog.unit_keys(), actions=useful_actions(c, arch),
                   tags={"gemm": (c.einsums[0].name,)}, flops=float(workloads.flops(c)), kernels=prog.kernels,
                   phases=("load", "epilogue", "launch"), unit_levels=UNIT_LEVELS,
                   notes=("cuBLAS-like tiles on the native tensor path; the critical SM gets ⌈CTAs/SMs⌉ tiles",))


def gemm_buffers(p, elem: int) -> dict[str, int]:
    """The shared-memory stage buffer of a GEMM kernel (an attention kernel's `smem` buffers come on top)."""
    return {"stages": p["stages"] * (p["tile_m"] + p["tile_n"]) * p["tile_k"] * elem}


def gemm_kernel(prog: GpuProgram, dims: tuple[int, int, int, int], p, elem: int, name: str, tag: str) -> None:
    """A tiled GEMM kernel on `prog`: the SMs run ⌈CTAs/SMs⌉ or ⌊CTAs/SMs⌋ equal CTAs; the simulated SM is one
    of the busiest, its last CTA sharing the bandwidth with the SMs still running (see `machine.Placement`)."""
    if prog.copies > 1:
        raise MappingError(f"{name}: Options(symmetric=False) simulates only the fused attention kernel")
    batch, m, n, k = dims
    bm, bn, bk, splits = p["tile_m"], p["tile_n"], p["tile_k"], p.get("splits", 1)
    tm, tn = -(-m // bm), -(-n // bn)
    tk = -(-k // bk)
    if tk % splits:
        raise MappingError(f"{name}: splits={splits} must divide the {tk} K steps of {bk}")
    tk //= splits
    ctas = batch * tm * tn * splits
    if ctas > MAX_GRID_CTAS:
        raise MappingError(f"{name}: a grid of {ctas} CTAs is beyond the model's limit {MAX_GRID_CTAS}")
    load = (bm + bn) * bk * elem
    l2_load = (bm * bk / min(p["cluster"], tn) + bn * bk / min(p["cluster"], tm)) * elem
    frac = min(1.0, max(batch * (m * k + k * n) * elem / (ctas * tk * load),
                        1.0 / math.sqrt(min(p["ctas_per_sm"] * prog.sm.sms, ctas))))
    waves, rest = divmod(ctas, prog.sm.sms)
    runs = ([(prog.sm.sms, waves)] if waves else []) + ([(rest, 1)] if rest else [])
    scale = ctas / (waves + (rest > 0))
    # the CTAs' mean output tile (edge tiles are partial), in fp32 partials when the K loop is split
    out = m * n / (tm * tn) * (PARTIAL_BYTES if splits > 1 else elem)
    prog.kernel(name)
    for busy, count in runs:
        sm = prog.sm.sharing(busy, p["stages"] * load)
        step, epi = prog.piece(), prog.piece()
        l2 = step.op("l2", cycles(l2_load / sm.l2), acquire={"stages": load}, tag="load",
                     bytes={"L2.read": l2_load * scale})
        ld = step.op("hbm", cycles(load * frac / sm.hbm), deps=[l2], tag="load",
                     bytes={"HBM.read": load * frac * scale})
        step.op("tensor", cycles(bm * bn * bk / sm.mac), deps=[ld], release={"stages": load}, tag=tag,
                bytes={"SMEM.read": load * scale})     # the MMAs read the stage's A and B tiles
        # the output tile through L2 (occupancy only, as in the attention epilogue)
        epi.op("l2", cycles(out / sm.l2), tag="epilogue", bytes={"L2.write": out * scale,
                                                                 "SMEM.write": out * scale})   # staged for the store
        epi.op("hbm", cycles(out / sm.hbm), tag="epilogue", bytes={"HBM.write": out * scale})
        if ops_of([step, epi], [tk, 1]) <= MAX_UNROLLED_OPS:   # one CTA's k loop unrolled, repeated per CTA
            prog.add(compose(f"{name}.ctas", [step, epi], [tk, 1]), f"{name}.ctas", repeat=count)
            continue
        loop, tail = compose(f"{name}.k", [step], [1], loop=True), compose(f"{name}.epi", [epi], [1])
        for _ in range(count):
            prog.add(loop, f"{name}.k", repeat=tk)
            prog.add(tail, f"{name}.epi")
    if splits > 1:   # sum the fp32 partials into the output
        stream(prog, batch * m * n * (splits * PARTIAL_BYTES + elem), f"{name}.reduce", REDUCE_EFFICIENCY, "epilogue")


def gemm_space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """cuBLAS-like tile shapes. Small tiles multiply the CTAs the lowering walks and never win on large GEMMs."""
    return {"tile_m": (128, 256), "tile_n": (128, 256), "tile_k": (32, 64), "stages": (2, 3, 4),
            "ctas_per_sm": (1, 2), "cluster": (1, 2), "splits": (1, 2, 4, 8, 16)}
