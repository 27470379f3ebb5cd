"""What is computed: attention and friends as cascades of extended Einsums (plain data + pure functions)."""
from workloads.analysis import (compulsory_bytes, elements, execution_order, first_touch, flops, footprint, loop_ranks, op_counts,
                       operand_bytes, passes, points,
                       point_cost, total_ops)
from workloads.variants import VARIANTS, attention, register_variant
from workloads.build import DTYPE_BYTES, cascade, gemm
from workloads.errors import CascadeError
from workloads.executor import execute
from workloads.ir import (Blocks, Call, Cascade, Causal, Const, Einsum, Index, Init, Neighborhood, Ref, Split, Tensor,
                 Window)
from workloads.ops import OPS, register_op
from workloads.serialize import load, retile, save, statements, to_text
from workloads.models.layers import MoE, layer
from workloads.models.zoo import MODELS, Model, arithmetic_intensity, kv_cache_bytes, model

__all__ = [
    "Blocks", "Call", "Cascade", "CascadeError", "Causal", "Const", "DTYPE_BYTES", "Einsum", "Index", "Init",
    "Neighborhood", "OPS", "Ref", "Split", "Tensor", "VARIANTS", "Window", "attention", "cascade",
    "compulsory_bytes", "elements", "execute", "execution_order", "first_touch", "flops", "footprint", "gemm",
    "loop_ranks", "op_counts", "operand_bytes",
    "passes", "point_cost", "points", "register_op", "register_variant", "total_ops",
    "load", "retile", "save", "statements", "to_text", "MoE", "layer", "MODELS", "Model", "arithmetic_intensity",
    "kv_cache_bytes", "model",
]
