"""Attention variants: the registry, the softmax cores, and one module per family of builders (importing this
package registers every built-in variant)."""
from workloads.variants.registry import VARIANTS, ArgumentError, attention, register_variant
from workloads.variants.cores import CORES, core
from workloads.variants import mha, grouped, local, mla, moh, cca, moa, dynamic  # noqa: F401  (register the built-in variants)

__all__ = ["ArgumentError", "CORES", "VARIANTS", "attention", "core", "register_variant"]
