"""Backward cascades: `backward(c)` derives the gradients of a cascade's inputs as a cascade in the same IR.

Softmax attention takes FlashAttention's recomputation form (`flash`), everything else the general reverse-mode
derivation over the extended-Einsum operators (`grads`, `rules`); `saved_inputs` gives the tensors the forward
saves for the backward (O and LSE). See docs/backward.md.
"""
from workloads.autodiff.backprop import backward, derive
from workloads.autodiff.flash import LSE, saved_inputs
from workloads.autodiff.match import Block, find_blocks

__all__ = ["Block", "LSE", "backward", "derive", "find_blocks", "saved_inputs"]
