"""What is computed: attention and friends as cascades of extended Einsums (plain frozen data + pure functions).

Build a cascade from text (`cascade`), from a registered attention variant (`attention`) or from a model of the zoo
(`model(name).attention(...)` / `.layer(...)`); count it (`points`, `total_ops`, `flops`, `compulsory_bytes`,
`passes`, `footprint`) or run it on NumPy arrays (`execute`). Every malformed input raises `CascadeError`.
"""
from workloads.analysis import (compulsory_bytes, compulsory_elements, elements, first_touch, flops, footprint, op_counts, operand_bytes,
                                passes, point_cost, points, total_ops)
from workloads.build import assemble, cascade, gemm, rebuild, retile
from workloads.dtypes import DTYPE_BYTES, dtype_bytes
from workloads.errors import CascadeError
from workloads.executor import execute
from workloads.ir import (Blocks, Call, Cascade, Causal, Const, Einsum, Index, Init, Neighborhood, Ref, Split, Tensor,
                          Window)
from workloads.ops import OPS, register_op
from workloads.order import execution_order, loop_ranks
from workloads.serialize import load, save, statements, to_text
from workloads.canonical import structure
from workloads.variants import VARIANTS, attention, register_variant
from workloads.models.layers import MoE, layer
from workloads.models.zoo import MODELS, Model, arithmetic_intensity, kv_cache_bytes, model
from workloads.autodiff import backward

__all__ = [
    "Blocks", "Call", "Cascade", "CascadeError", "Causal", "Const", "DTYPE_BYTES", "Einsum", "Index", "Init",
    "Neighborhood", "OPS", "Ref", "Split", "Tensor", "VARIANTS", "Window", "assemble", "attention", "cascade",
    "compulsory_bytes", "compulsory_elements", "dtype_bytes", "elements", "execute", "execution_order", "first_touch", "flops",
    "footprint", "gemm", "loop_ranks", "op_counts", "operand_bytes", "passes", "point_cost", "points", "rebuild",
    "register_op", "register_variant", "structure", "total_ops", "load", "retile", "save", "statements", "to_text",
    "MoE", "layer", "MODELS", "Model", "arithmetic_intensity", "kv_cache_bytes", "model", "backward",
]
