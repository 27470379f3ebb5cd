"""FlashAttention's backward of a softmax-attention core (Dao et al., NeurIPS 2022, §3.1 and Appendix B.2; Dao,
ICLR 2024, Algorithm 2): the probabilities are recomputed from the scores and the saved row log-sum-exp instead of
being stored, and the softmax Jacobian collapses to one row statistic:

    P  = exp(QK − LSE)            (masked as the forward)
    dP = dO · Vᵀ                  Drow = rowsum(dO ∘ O)
    dS = P ∘ (dP − Drow)          dV = Pᵀ · dO

dS is the gradient of the scores, which the general derivation carries back through whatever produced them
(QK = Q·Kᵀ gives dQ = dS·K and dK = dSᵀ·Q). `saved_inputs` computes what the forward pass saves: O and LSE.
"""
from __future__ import annotations

import numpy as np

from workloads.autodiff.grads import Gradients, Part
from workloads.autodiff.match import Block, find_blocks
from workloads.autodiff.text import plain_ref
from workloads.errors import CascadeError
from workloads.executor import execute
from workloads.ir import Call, Cascade, Ref, require_cascade

__all__ = ["LSE", "Core", "pull_core", "saved_inputs"]

LSE = "LSE"   # the saved row log-sum-exp (natural log), an input of the backward cascade


class Core:
    """A recognised core as the backward sees it: its score, value and output references over the whole key rank."""

    def __init__(self, block: Block, scores: Ref, values: Ref, output: Ref):
        self.block, self.scores, self.values, self.output = block, scores, values, output

    @property
    def rows(self) -> tuple[str, ...]:
        """The ranks of one softmax row (the scores' ranks without the key): LSE's and Drow's."""
        return tuple(i.rank for i in self.scores.indices if i.rank != self.block.key)


def pull_core(core: Core, grads: Gradients, d_output: Ref) -> None:
    """Emit P, dP, Drow; hand the scores their part dS = P ∘ (dP − Drow) and the values theirs, Pᵀ·dO."""
    score_ranks = tuple(i.rank for i in core.scores.indices)
    lse = plain_ref(LSE, core.rows)
    p = grads.emit(plain_ref(grads.fresh("P"), score_ranks), Call("sub_exp", (core.scores, lse)))
    dp = grads.emit(plain_ref(grads.fresh("dP"), score_ranks), Call("mul", (d_output, core.values)))
    drow = grads.emit(plain_ref(grads.fresh("Drow"), core.rows), Call("mul", (d_output, core.output)))
    ds = Call("mul", (p, Call("sub", (dp, drow))))
    grads.add_part(core.scores.tensor, Part(core.block.output, score_ranks, ds))
    dv = Call("mul", (p, d_output))
    grads.add_part(core.values.tensor, Part(p.tensor, tuple(i.rank for i in core.values.indices), dv))


def saved_inputs(c: Cascade, values) -> dict[str, np.ndarray]:
    """What FlashAttention's forward saves for the backward of `c`: the core's output O and LSE = max + log(sum)
    of each softmax row, from the forward's own row statistics. `values` is `workloads.execute(c, inputs)` (or
    the forward inputs, which are then executed)."""
    require_cascade(c, "saved_inputs")
    blocks = find_blocks(c)
    if len(blocks) != 1:
        raise CascadeError(f"saved_inputs: {c.name} has {len(blocks)} softmax-attention cores; FlashAttention's "
                           f"saved tensors are defined for exactly one")
    block = blocks[0]
    if block.row_max not in values:
        values = execute(c, values)
    row_max, row_sum = (_final(c, block, name, values[name]) for name in (block.row_max, block.row_sum))
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = row_max + np.log(row_sum)
    return {block.output: values[block.output], LSE: lse}


def _final(c: Cascade, block: Block, name: str, array: np.ndarray) -> np.ndarray:
    """A row statistic after the key loop (the last point of an iterative tensor)."""
    tensor = c.tensors[name]
    if tensor.iterative is None:
        return array
    return np.take(array, -1, axis=tensor.ranks.index(tensor.iterative))
