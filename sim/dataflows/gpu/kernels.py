"""The GPU dataflows, registered in one table: FlashAttention-2/-3, cuDNN-style, Blackwell SM100 attention and
decode, unfused PyTorch math, FlashDecoding, MLA decode, NATTEN-style GNA, sparse kernels, cuBLAS-like GEMMs and
elementwise kernels.

Each family module holds its `supports`, `plan`, `lower` and search space; a request that `supports` accepts also
plans (the default plan's fit on the arch is part of the verdict).
"""
from __future__ import annotations

from sim.dataflows.gpu import blackwell, decode, elementwise, flash, gemm, gna, hopper, sparse, unfused
from sim.dataflows.gpu import backward, backward_lowering
from sim.dataflows.gpu.plans import constrain
from sim.dataflows.registry import register_dataflow
from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS

TABLE = (   # name, supports, plan, lower, search space, one-line description
    ("flash2", flash.fa2_supports, flash.fa2_plan, flash.fa2_lower, flash.attention_space(warps=True),
     "FlashAttention-2 forward (mma.sync; per-CTA Q tile, loop over KV tiles, in-order softmax)"),
    ("flash3", flash.fa3_supports, hopper.fa3_plan, hopper.fa3_lower, hopper.fa3_space,
     "FlashAttention-3 forward (TMA, warp-specialized producer, ping-pong warpgroups, wgmma)"),
    ("cudnn", flash.cudnn_supports, flash.cudnn_plan, flash.cudnn_lower, flash.attention_space(ctas=(2, 4)),
     "cuDNN-style Hopper fused attention (wgmma, 64-row tiles, two CTAs per SM)"),
    ("flash-blackwell", blackwell.supports, blackwell.plan, blackwell.lower, blackwell.space,
     "Blackwell SM100 fused attention (tcgen05 into TMEM, Q 256 / KV 128, 2-CTA pairs, FA4-style exp split)"),
    ("gpu-unfused", unfused.supports, unfused.plan, unfused.lower, unfused.space,
     "PyTorch math attention: GEMM, softmax, GEMM as separate kernels through HBM"),
    ("flash-decoding", decode.decode_supports, decode.decode_plan, decode.decode_lower, decode.decode_space,
     "split-KV decode attention with a combine kernel"),
    ("decode-blackwell", blackwell.decode_supports, blackwell.decode_plan, blackwell.decode_lower,
     blackwell.decode_space, "split-KV decode on Blackwell's tcgen05 with a combine kernel"),
    ("mla-decode", decode.mla_supports, decode.mla_plan, decode.mla_lower, decode.decode_space,
     "absorbed MLA decode: MQA over the cached latent (values = its first C dims)"),
    ("gna", gna.supports, gna.plan, gna.lower, gna.space,
     "NATTEN-style block-sparse GNA: permute, bounding-box tiles, unpermute"),
    ("sparse", sparse.supports, sparse.plan, sparse.lower, sparse.space,
     "per-head sliding windows (MoA) and per-(head, query block) block tables: each CTA's own KV tiles"),
    ("gemm", gemm.gemm_supports, gemm.gemm_plan, gemm.gemm_lower, gemm.gemm_space,
     "cuBLAS-like tiled GEMM on the native tensor path"),
    ("gpu-elementwise", elementwise.supports, elementwise.plan, elementwise.lower, None, elementwise.DOC),
    ("flash2-bwd", backward.fa2_bwd_supports, backward.fa2_bwd_plan, backward_lowering.fa2_bwd_lower,
     backward.fa2_bwd_space, "FlashAttention-2 backward (KV-outer, recompute P from LSE, dQ by fp32 atomics)"),
    ("flash3-bwd", backward.fa3_bwd_supports, backward.fa3_bwd_plan, backward_lowering.fa3_bwd_lower,
     backward.fa3_bwd_space, "FlashAttention-3 backward (Hopper wgmma + TMA, two MMA warpgroups, dQ reduce-add)"),
)


def _planned(supports, plan):
    """`supports`, then whether the default plan fits the arch (so a supported request always plans)."""
    def check(c, arch) -> str | None:
        why = supports(c, arch)
        if why is None:
            try:
                plan(c, arch, {})
            except MappingError as err:
                return str(err)
        return why
    check.__doc__ = supports.__doc__
    return check


def _checked(plan, lower):
    """`lower`, after checking a (possibly hand-made) mapping's params against the names and kinds its plan
    gives: a missing, unknown or ill-typed param is a MappingError, not a KeyError deep in the lowering."""
    def checked(c, arch, mp, options=DEFAULT_OPTIONS):
        if not isinstance(mp, Mapping):
            raise MappingError(f"expected a sim.Mapping, got {type(mp).__name__}")
        expected = plan(c, arch, {}).params
        missing = sorted(set(expected) - set(mp.params))
        if missing:
            raise MappingError(f"{mp.dataflow}: the mapping lacks parameter(s) {missing} (has {sorted(mp.params)})")
        constrain(mp.dataflow, expected, mp.params)
        return lower(c, arch, mp, options)
    checked.__doc__ = lower.__doc__
    return checked


for _name, _supports, _plan, _lower, _space, _doc in TABLE:
    register_dataflow(_name, supports=_planned(_supports, _plan), plan=_plan, lower=_checked(_plan, _lower),
                      space=_space, doc=_doc)
