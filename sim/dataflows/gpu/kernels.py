"""The GPU dataflows, registered in one table: FlashAttention-2/-3, cuDNN-style, unfused PyTorch math,
FlashDecoding, MLA decode, NATTEN-style GNA and cuBLAS-like GEMMs.

Each family module holds its `supports`, `plan`, `lower` and search space; docs/gpu-model.md describes the model.
"""
from __future__ import annotations

from sim.dataflows.gpu import decode, flash, gemm, gna, unfused
from sim.dataflows.registry import register_dataflow

register_dataflow("flash2", supports=flash.fa2_supports, plan=flash.fa2_plan, lower=flash.fa2_lower,
                  space=flash.attention_space(warps=True),
                  doc="FlashAttention-2 forward (mma.sync; per-CTA Q tile, loop over KV tiles, in-order softmax)")
register_dataflow("flash3", supports=flash.fa3_supports, plan=flash.fa3_plan, lower=flash.fa3_lower,
                  space=flash.attention_space(),
                  doc="FlashAttention-3 forward (TMA, warp-specialized producer, ping-pong warpgroups, wgmma)")
register_dataflow("cudnn", supports=flash.cudnn_supports, plan=flash.cudnn_plan, lower=flash.cudnn_lower,
                  space=flash.attention_space(ctas=(2, 4)),
                  doc="cuDNN-style Hopper fused attention (wgmma, 64-row tiles, two CTAs per SM)")
register_dataflow("gpu-unfused", supports=unfused.supports, plan=unfused.plan, lower=unfused.lower,
                  space=unfused.space, doc="PyTorch math attention: GEMM, softmax, GEMM as separate kernels through HBM")
register_dataflow("flash-decoding", supports=decode.decode_supports, plan=decode.decode_plan,
                  lower=decode.decode_lower, space=decode.decode_space,
                  doc="split-KV decode attention with a combine kernel")
register_dataflow("mla-decode", supports=decode.mla_supports, plan=decode.mla_plan, lower=decode.mla_lower,
                  space=decode.decode_space,
                  doc="absorbed MLA decode: MQA over the cached latent (values = its first C dims)")
register_dataflow("gna", supports=gna.supports, plan=gna.plan, lower=gna.lower, space=gna.space,
                  doc="NATTEN-style block-sparse GNA: permute, bounding-box tiles, unpermute")
register_dataflow("gemm", supports=gemm.gemm_supports, plan=gemm.gemm_plan, lower=gemm.gemm_lower,
                  space=gemm.gemm_space, doc="cuBLAS-like tiled GEMM on the native tensor path")
