"""Reverse-mode accumulation over a cascade's Einsums: every Einsum hands each tensor it reads a *part* of that
tensor's gradient; when all readers of a tensor have been visited, its parts are summed into d<tensor>.

A part for reference R of Einsum T = reduce(rr: expr) is Σ over T's points not fixed by R of
dT · ∂expr/∂R (times, for a max, the indicator of the points that attain it divided by their number — the
even split PyTorch's `amax` gives ties). A part is stored over R's index ranks, so a reference through a split
view (K[b,h,p1,p0,e], Q[b,g,r,m,e]) yields a part over the view, which the sum reads back through the same split.
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.autodiff.rules import BROADCAST, mul, pullback, step, sub
from workloads.autodiff.text import einsum, plain_ref
from workloads.errors import CascadeError
from workloads.ir import Call, Const, Einsum, Expr, Ref, refs
from workloads.order import loop_ranks
from workloads.validate import where_einsum

__all__ = ["Gradients", "MAX_DERIVATIVE_NODES", "Part", "check_differentiable"]

MAX_DERIVATIVE_NODES = 1 << 12   # terms of one derivative expression: far beyond a written cascade's, bounds its text


@dataclass(frozen=True)
class Part:
    """One reader's contribution to a tensor's gradient: stored over `ranks`, computed by `expr`."""
    reader: str
    ranks: tuple[str, ...]
    expr: Expr


class Gradients:
    """The gradient Einsums of one backward cascade, emitted in order, and the parts still to be summed."""

    def __init__(self, storage: dict[str, tuple[str, ...]], taken: set[str], inputs: set[str],
                 grad_names: dict[str, str]):
        self.storage = storage            # forward tensor -> its (backward) storage ranks
        self.taken = set(taken)           # every tensor name in use
        self.inputs = inputs              # forward inputs: their gradients are named d<input>, always
        self.grad_names = grad_names      # forward tensor -> the name of its gradient, where not d<tensor>
        self.einsums: list[Einsum] = []
        self.parts: dict[str, list[Part]] = {}

    def fresh(self, name: str) -> str:
        """`name`, or `name_2`, `name_3`… when it is taken; then taken."""
        candidate, k = name, 2
        while candidate in self.taken:
            candidate, k = f"{name}_{k}", k + 1
        self.taken.add(candidate)
        return candidate

    def emit(self, output: Ref, expr: Expr, reduce: str | None = None, reduce_ranks=()) -> Ref:
        """Append an Einsum; returns its output reference."""
        self.einsums.append(einsum(output, expr, reduce, reduce_ranks))
        return output

    def add_part(self, tensor: str, part: Part) -> None:
        self.parts.setdefault(tensor, []).append(part)

    def grad_name(self, tensor: str) -> str:
        return self.grad_names.get(tensor, "d" + tensor)

    def finish(self, tensor: str) -> Ref | None:
        """Sum the parts of `tensor`'s gradient into d<tensor> (over its storage ranks); None if it has none."""
        parts = self.parts.pop(tensor, None)
        if not parts:
            return None
        ranks = self.storage[tensor]
        alias = parts[0].expr
        if len(parts) == 1 and tensor not in self.inputs and isinstance(alias, Ref) and parts[0].ranks == ranks \
                and alias.indices == plain_ref(alias.tensor, ranks).indices:
            return alias   # the gradient is a tensor already there (the input d<output>): no copy
        name = self.grad_name(tensor)
        name = self.fresh(name) if tensor not in self.inputs else name
        self.taken.add(name)
        if len(parts) == 1 and parts[0].ranks == ranks:
            return self.emit(plain_ref(name, ranks), parts[0].expr)
        total = None
        for part in parts:
            partial = self.emit(plain_ref(self.fresh(f"{name}_{part.reader}"), part.ranks), part.expr)
            term = plain_ref(partial.tensor, ranks)
            total = term if total is None else Call("add", (total, term))
        return self.emit(plain_ref(name, ranks), total)

    def through(self, e: Einsum, grad: Ref) -> None:
        """The parts Einsum `e` hands the tensors it reads, given its output's gradient `grad`."""
        seed = grad if e.reduce != "max" else self._max_seed(e, grad)
        loops = loop_ranks(e)
        grouped: dict[Ref, Expr] = {}
        value = e.output if e.reduce is None else None
        for ref, expr in pullback(e.expr, seed, where_einsum(e), value):
            grouped[ref] = expr if ref not in grouped else Call("add", (grouped[ref], expr))
        for ref, expr in grouped.items():
            _check_size(e, ref, expr)
            self.add_part(ref.tensor, Part(e.name, tuple(i.rank for i in ref.indices), _bound(expr, loops, e.expr)))

    def _max_seed(self, e: Einsum, grad: Ref) -> Expr:
        """dT · [expr = T] / #{points attaining T}: the gradient of a max reduction, split evenly over ties."""
        loops = loop_ranks(e)
        hit = Call("mul", (Const(2.0), step(sub(e.expr, e.output))))   # heaviside(0) = ½
        pick = self.emit(plain_ref(self.fresh(f"{e.name}_argmax"), loops), hit)
        ties = self.emit(plain_ref(self.fresh(f"{e.name}_ties"), [i.rank for i in e.output.indices]), pick)
        return Call("div", (mul(grad, pick), ties))


def _bound(expr: Expr, loops: tuple[str, ...], forward: Expr) -> Expr:
    """`expr`, broadcast over the forward Einsum's points it does not mention (a part of Σ_k A[m] + B[k] for A
    is K copies of dT[m]): each missing rank is bound by a forward reference that iterates it."""
    bound = {i.rank for r in refs(expr) for i in r.indices}
    for ref in refs(forward):
        ranks = {i.rank for i in ref.indices}
        if (set(loops) - bound) & ranks:
            expr = Call(BROADCAST, (expr, ref))
            bound |= ranks
    return expr


def _check_size(e: Einsum, ref: Ref, expr: Expr) -> None:
    """A derivative repeats subexpressions (GELU's slope reads its argument six times): refuse one whose written
    form would exceed MAX_DERIVATIVE_NODES, counted over the shared tree without expanding it."""
    sizes: dict[int, int] = {}
    stack = [expr]
    while stack:
        node = stack[-1]
        args = node.args if isinstance(node, Call) else ()
        pending = [a for a in args if id(a) not in sizes]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        sizes[id(node)] = 1 + sum(sizes[id(a)] for a in args)
        if sizes[id(node)] > MAX_DERIVATIVE_NODES:
            raise CascadeError(f"{where_einsum(e)}: the derivative for {ref.tensor} would have more than "
                               f"{MAX_DERIVATIVE_NODES} terms (nested ops repeat their arguments); split the "
                               f"expression into several Einsums")


def check_differentiable(e: Einsum, iterative: bool) -> None:
    """The general derivation reads every reference point by point: no iterative state, no diagonal reads."""
    if iterative or any(i.step != "each" for r in refs(e.expr) for i in r.indices):
        raise CascadeError(f"{where_einsum(e)}: the general derivation does not differentiate through an iterative "
                           f"rank (a running recurrence, such as a 1-pass softmax written differently from FuseMax's "
                           f"Cascade 5 or a causal linear-attention state); differentiable: cascades without "
                           f"iterative ranks, and softmax attention in any of workloads.variants.CORES")
    for r in refs(e.expr):
        ranks = [i.rank for i in r.indices]
        if len(set(ranks)) != len(ranks):
            raise CascadeError(f"{where_einsum(e)}: {r.tensor} is read on a diagonal (a rank repeated in one "
                               f"reference); its gradient would be written on the diagonal, which an Einsum cannot "
                               f"do")
