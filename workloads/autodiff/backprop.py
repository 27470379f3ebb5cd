"""`backward(c)`: the cascade of the gradients of `c`'s inputs given the gradient of its output.

The forward is walked in reverse execution order (`workloads.autodiff.grads`); a softmax-attention core
(`workloads.autodiff.match`) is one node whose backward is FlashAttention's (`workloads.autodiff.flash`), so
that its iterative ranks and running statistics are never differentiated. The core's key tiling is dropped:
the backward runs over the whole key rank P (a dataflow tiles it again with its own choices), and the forward's
score tensor is recomputed under the name QK. Every forward value a gradient reads is recomputed from the inputs
(the core's output O and LSE are saved instead), listed first in forward order.
"""
from __future__ import annotations

from workloads.autodiff.flash import LSE, Core, pull_core
from workloads.autodiff.grads import Gradients, Part, check_differentiable
from workloads.autodiff.match import Block, find_blocks
from workloads.autodiff.rules import map_refs
from workloads.autodiff.text import einsum, plain_ref
from workloads.build import assemble
from workloads.errors import CascadeError, quote
from workloads.ir import EACH, Cascade, Einsum, Index, Ref, refs, require_cascade
from workloads.order import topological

__all__ = ["backward", "derive"]

SCORES = "QK"    # the recomputed score tensor of a core, as FlashAttention's papers name it
SCORE_GRAD = "dS"


def backward(c: Cascade) -> Cascade:
    """The backward cascade of `c` (named `<name>-bwd`): inputs are `c`'s inputs, d<output> and, when `c` computes
    softmax attention, the core's output O and `LSE`; it computes d<input> for every input the output depends on.
    Its output is the last gradient computed. CascadeError when an op, an iterative rank outside a softmax core
    or a diagonal read has no derivative here, or when no input reaches the output."""
    return derive(require_cascade(c, "backward"))


def derive(c: Cascade, *, flash: bool = True) -> Cascade:
    """`backward(c)`; with flash=False every Einsum, softmax included, takes the general derivation."""
    blocks = find_blocks(c) if flash else []
    if len(blocks) > 1:
        raise CascadeError(f"backward {c.name}: {len(blocks)} softmax-attention cores (outputs "
                           f"{', '.join(b.output for b in blocks)}); one per cascade is supported (LSE is one tensor)")
    block = blocks[0] if blocks else None
    forward, core, rename = _prepare(c, block)
    d_out = "d" + c.output
    saved = [block.output, LSE] if block else []
    _check_free(c, [d_out] + saved[1:], "input")
    _check_free(c, ["d" + n for n in c.inputs], "gradient")
    taken = set(forward) | {d_out, *saved} | {"d" + n for n in c.inputs}
    grads = Gradients({n: t for n, (t, _) in forward.items()}, taken, set(c.inputs),
                      {core.scores.tensor: SCORE_GRAD} if core and core.scores.tensor not in c.inputs else {})
    output = rename.get(c.output, c.output)
    grads.add_part(output, Part("input", forward[output][0], plain_ref(d_out, forward[output][0])))
    order = [rename.get(n, n) for n in topological(c)
             if block is None or n not in block.einsums or n == block.output]
    for name in reversed(order):
        grad = grads.finish(name)
        if grad is None:
            continue
        if core is not None and name == block.output:
            pull_core(core, grads, grad)
        else:
            grads.through(forward[name][1], grad)
    finished = [grads.finish(t) for t in list(grads.parts) if t in c.inputs]
    if not any(finished):
        raise CascadeError(f"backward {c.name}: no input reaches the output {c.output} through a differentiable "
                           f"path (inputs: {quote(list(c.inputs), 200)})")
    return _assemble(c, forward, grads, [d_out] + saved, core)


def _check_free(c: Cascade, names: list[str], what: str) -> None:
    for n in names:
        if n in c.tensors:
            raise CascadeError(f"backward {c.name}: the backward's {what} {n} would shadow the forward tensor of "
                               f"that name; rename it")


def _prepare(c: Cascade, block: Block | None):
    """Forward tensors by name: (storage ranks, Einsum or None) with the core's key split merged and its scores
    renamed; and the core as the backward sees it."""
    rename = _renames(c, block)
    split = block.key_split if block else None
    forward: dict[str, tuple[tuple[str, ...], Einsum | None]] = {}
    for name in c.inputs:
        forward[name] = (_merge_ranks(c.tensors[name].ranks, split), None)
    for e in c.einsums:
        if block is not None and e.name in block.einsums and e.name != block.output:
            continue
        t = c.tensors[e.name]
        new = _merge_einsum(e, split, rename)
        if block is None or e.name != block.output:
            check_differentiable(new, t.iterative is not None)
        forward[new.name] = (tuple(i.rank for i in new.output.indices), new)
    core = _core(c, block, split, rename) if block else None
    if core is not None:
        forward[block.output] = (forward[block.output][0], None)
    leftovers = {r for e in (x for _, x in forward.values() if x) for ref in [e.output, *refs(e.expr)]
                 for r in (i.rank for i in ref.indices)} & set(split[1:] if split else ())
    if leftovers:
        raise CascadeError(f"backward {c.name}: an Einsum outside the softmax core walks the key tile "
                           f"{sorted(leftovers)[0]} on its own; the backward runs over the whole key rank {split[0]}")
    return forward, core, rename


def _renames(c: Cascade, block: Block | None) -> dict[str, str]:
    """The core's score tensor (and score parts named after it, BQKN → QKN) as QK, where those names are free."""
    if block is None or block.scores in c.inputs:
        return {}
    out = {}
    for name in c.tensors:
        if name.startswith(block.scores) and name not in c.inputs and name not in block.einsums:
            new = SCORES + name[len(block.scores):]
            if new == name or new not in c.tensors:
                out[name] = new
    return out


def _core(c: Cascade, block: Block, split, rename) -> Core:
    made = {e.name: e for e in c.einsums if e.name in block.einsums}
    reads = [r for e in made.values() for r in refs(e.expr)]
    scores = next(r for r in reads if r.tensor == block.scores)
    values = next(r for r in reads if r.tensor == block.values)
    return Core(block, _merge_ref(scores, split, rename), _merge_ref(values, split, rename),
                _merge_ref(made[block.output].output, split, rename))


def _merge_ranks(ranks: tuple[str, ...], split) -> tuple[str, ...]:
    if not split:
        return tuple(ranks)
    out: list[str] = []
    for r in ranks:
        if r == split[2] and out and out[-1] == split[1]:
            out[-1] = split[0]
        else:
            out.append(r)
    return tuple(out)


def _merge_ref(ref: Ref, split, rename: dict[str, str]) -> Ref:
    """The reference with the key tile (p1, p0) read as the whole key p, and its tensor renamed."""
    ranks = _merge_ranks(tuple(i.rank for i in ref.indices), split)
    if len(ranks) == len(ref.indices):
        indices = ref.indices
    else:
        indices = tuple(Index(r, EACH) for r in ranks)
    return Ref(rename.get(ref.tensor, ref.tensor), indices)


def _merge_einsum(e: Einsum, split, rename: dict[str, str]) -> Einsum:
    expr = map_refs(e.expr, lambda r: _merge_ref(r, split, rename))
    reduce_ranks = tuple(dict.fromkeys(split[0] if split and r in split[1:] else r for r in e.reduce_ranks))
    return einsum(_merge_ref(e.output, split, rename), expr, e.reduce, reduce_ranks)


def _assemble(c: Cascade, forward, grads: Gradients, extra: list[str], core: Core | None) -> Cascade:
    """The backward cascade: recomputed forward values first, then the gradients."""
    needed = _recomputed(forward, grads.einsums)
    einsums = [forward[n][1] for n in forward if n in needed] + grads.einsums
    storage = {n: t for n, (t, _) in forward.items()}
    storage[extra[0]] = storage[c.output]
    if core is not None:
        storage[LSE] = core.rows
    inputs = [plain_ref(n, storage[n]) for n in list(c.inputs) + extra]
    split = core.block.key_split if core else None
    splits = [s for s in c.splits if not split or s.rank != split[0]]
    sizes = {r: n for r, n in c.sizes.items() if not split or r not in split[1:]}
    return assemble(name=f"{c.name}-bwd", sizes=_used(sizes, inputs, einsums, splits, c.masks), inputs=inputs,
                    einsums=einsums, splits=splits, masks=c.masks, output=grads.einsums[-1].name, dtype=c.dtype)


def _recomputed(forward, einsums: list[Einsum]) -> set[str]:
    """Forward tensors the gradients read, with everything they are computed from."""
    needed: set[str] = set()
    stack = [r.tensor for e in einsums for r in refs(e.expr)]
    while stack:
        n = stack.pop()
        if n in needed or n not in forward or forward[n][1] is None:
            continue
        needed.add(n)
        stack.extend(r.tensor for r in refs(forward[n][1].expr))
    return needed


def _used(sizes, inputs, einsums, splits, masks) -> dict[str, int]:
    """The sizes of the ranks some statement of the backward uses (a rank only the forward walked is dropped)."""
    used = {i.rank for r in inputs for i in r.indices}
    used |= {i.rank for e in einsums for r in [e.output, *refs(e.expr)] for i in r.indices}
    for s in splits:
        if s.outer in used or s.inner in used:
            used |= {s.rank, s.outer, s.inner}
    used |= {r for m in masks for r in (m.query, m.key)}
    return {r: n for r, n in sizes.items() if r in used}
