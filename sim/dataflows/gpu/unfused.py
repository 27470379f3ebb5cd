"""PyTorch's math attention path, as in the FlashAttention benchmark's "Standard" attention: every step is its own
kernel through HBM — layout copies of Q, K, V; S = QKᵀ (a batched GEMM); the score mods and (causal) mask add as
elementwise kernels; the softmax; O = PV (a batched GEMM); the output copy back.
"""
from __future__ import annotations

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.gpu.constants import FP32_BYTES, calibrated, check_calibration
from sim.dataflows.gpu.costs import pipe_ops
from sim.dataflows.gpu.fused import PHASES, useful_actions
from sim.dataflows.gpu.gemm import check_gemm_fit, gemm_buffers, gemm_kernel, gemm_space, gemm_tiles
from sim.dataflows.gpu.machine import sm_rates
from sim.dataflows.gpu.plans import attention_reason, check_arch, constrain, mapping, shape_of
from sim.dataflows.gpu.programs import UNIT_LEVELS, GpuProgram, stream
from sim.dataflows.gpu.shape import Attention, op_counts
from sim.dataflows.registry import Lowered
from sim.ir.mapping import Mapping
from sim.ir.options import DEFAULT_OPTIONS, Options

# The benchmark's causal mask: triu(full((M, P), -1e4)) built in fp32 and cast — write 4, read + write 4, read 4
# and write 2 bytes per element.
MASK_BUILD_BYTES = 18
INTERMEDIATES = 3          # score-sized tensors alive at once in the causal benchmark: S, masked S, P
ANY_HEAD_DIM = 1 << 20     # the math path has no head-dim limit of its own


def plan(c: Cascade, arch: Arch, constraints) -> Mapping:
    """The arch's GEMM tiles for the two batched matmuls, and whether the layout copies run."""
    a = shape_of(c, "gpu-unfused")
    p = constrain("gpu-unfused", {**gemm_tiles(check_arch(arch, "gpu-unfused")), "layout_copies": True},
                  constraints)
    check_gemm_fit("gpu-unfused", p, a.elem, sm_rates(arch, a.dtype).smem_bytes)
    return mapping("gpu-unfused", c, p)


def lower(c: Cascade, arch: Arch, mp: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
    """PyTorch's math path as separate kernels (see the module docstring)."""
    check_calibration(options, mp.dataflow)
    a = shape_of(c, "gpu-unfused")
    p = mp.params
    check_gemm_fit("gpu-unfused", p, a.elem, sm_rates(check_arch(arch, "gpu-unfused"), a.dtype).smem_bytes)
    eff = calibrated(options, "STREAM_EFFICIENCY")
    prog = GpuProgram(sm_rates(arch, a.dtype), buffers=gemm_buffers(p, a.elem))
    bh, s_bytes = a.batch * a.heads, a.batch * a.heads * a.m * a.p * a.elem
    if p["layout_copies"]:   # Q, K, V to [B,H,S,D]-contiguous: read + write each
        stream(prog, 2 * (a.batch * a.m * a.heads * a.e + a.batch * a.p * a.kv_heads * (a.e + a.f)) * a.elem,
               "copy_qkv", eff, "copy")
    gemm_kernel(prog, (bh, a.m, a.p, a.e), p, a.elem, "qk", "qk")
    ops = op_counts(c)
    work = lambda names, what: pipe_ops(_total(ops, names), arch, a.dtype, what)  # noqa: E731
    for k, mod in enumerate(a.match.mods):   # one elementwise kernel per score mod: read S (and its inputs), write
        extra = sum(_broadcast_bytes(b, arch) for b in a.bias if b.name in mod.inputs)
        stream(prog, 2 * s_bytes + 2 * extra, f"score_mod{k}", eff, "score_mod", work((mod.einsum,), mod.einsum))
    if a.causal:
        stream(prog, MASK_BUILD_BYTES * a.m * a.p, "mask_build", eff, "mask")
        in_l2 = a.m * a.p * a.elem <= accel.level(arch, "L2").capacity_bytes
        stream(prog, 2 * s_bytes + (0 if in_l2 else s_bytes), "mask", eff, "mask")
    if not a.sigmoid:
        softmax = a.match.roles.get("softmax", ()) + a.match.roles.get("normalize", ())
        stream(prog, 2 * s_bytes, "softmax", eff, "softmax", work(softmax, "softmax"))
    gemm_kernel(prog, (bh, a.m, a.f, a.p), p, a.elem, "pv", "pv")
    if p["layout_copies"]:
        stream(prog, 2 * a.batch * a.m * a.heads * a.f * a.elem, "copy_o", eff, "copy")
    notes = ("unfused PyTorch math: S and P through HBM",)
    if not fits(a, arch):
        notes += (f"would run out of memory: the score-sized intermediates need "
                  f"{INTERMEDIATES * s_bytes / 1e9:.3g} GB",)
    return Lowered(program=prog.build(), unit_keys=prog.unit_keys(), actions=useful_actions(c, arch), tags=_tags(a),
                   flops=float(workloads.flops(c)), notes=notes, phases=PHASES, kernels=prog.kernels,
                   unit_levels=UNIT_LEVELS)


def _total(ops, names) -> dict[str, int]:
    """The op counts of some Einsums, summed per op type."""
    out: dict[str, int] = {}
    for name in names:
        for op, n in ops[name].items():
            out[op] = out.get(op, 0) + n
    return out


def _broadcast_bytes(b, arch: Arch) -> float:
    """HBM bytes an elementwise kernel reads of a broadcast input: once if it stays in L2, else once per reader."""
    l2 = accel.level(arch, "L2").capacity_bytes
    return b.bytes if l2 is not None and b.bytes <= l2 else b.bytes * b.sharers


def _tags(a: Attention) -> dict[str, tuple[str, ...]]:
    roles = a.match.roles
    tags = {"qk": roles["qk"], "pv": roles["pv"],
            "softmax": roles.get("softmax", ()) + roles.get("normalize", ()), "score_mod": roles.get("score", ())}
    return {k: v for k, v in tags.items() if v}


def fits(a: Attention, arch: Arch) -> bool:
    """Whether the score-sized intermediates (and the fp32 mask) fit in HBM."""
    cap = accel.level(arch, "HBM").capacity_bytes
    s = a.batch * a.heads * a.m * a.p
    return cap is None or INTERMEDIATES * s * a.elem + FP32_BYTES * s <= cap


def unfused_fits(c: Cascade, arch: Arch) -> bool:
    """Whether the math path's score-sized intermediates fit in `arch`'s HBM (False: it would run out of memory)."""
    return fits(shape_of(c, "gpu-unfused"), arch)


def supports(c: Cascade, arch: Arch) -> str | None:
    """Softmax or sigmoid attention of any head dim."""
    return attention_reason(c, arch, max_dim=ANY_HEAD_DIM)


def space(c: Cascade, arch: Arch) -> dict[str, tuple]:
    """The GEMM kernels' tile shapes (the math path's batched matmuls are not split along K)."""
    return {k: v for k, v in gemm_space(c, arch).items() if k != "splits"}
