"""A layer's parts: the kernel-sized pieces its composition labels, carried by the layer cascade itself.

`workloads.layer` (and `Model.layer`) return a `Layer`: a `Cascade` plus `parts`, each a named, typed group of the
layer's Einsums in statement order (a norm, a fused projection, RoPE, the attention core, a residual add, an
activation, the MoE router or expert GEMMs). Parts say where a target's kernel boundaries can fall; they do not
change what the cascade computes, so a `Layer` equals (and hashes like) the plain `Cascade` with the same content,
and a layer read back from text is the same workload without its labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from workloads.errors import CascadeError
from workloads.ir import Cascade

KINDS = ("norm", "linear", "rope", "attention", "residual", "activation", "router", "experts", "embedding")


@dataclass(frozen=True)
class Part:
    """A named group of a layer's Einsums of one kind (see `KINDS`); the attention part keeps the attention
    cascade it came from (`core`), so that a kernel can run exactly that cascade."""
    name: str
    kind: str
    einsums: tuple[str, ...]
    core: Cascade | None = field(default=None, compare=False, repr=False)


CASCADE_FIELDS = tuple(f.name for f in fields(Cascade))


@dataclass(frozen=True, eq=False)
class Layer(Cascade):
    """A whole-layer cascade with its `parts` (kernel-sized groups of Einsums, in statement order)."""
    parts: tuple[Part, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cascade):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in CASCADE_FIELDS)

    def __hash__(self) -> int:   # the plain cascade's hash: equal layers and cascades hash alike
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f) for f in CASCADE_FIELDS))
            object.__setattr__(self, "_hash", cached)
        return cached

    def part(self, name: str) -> Part:
        """The part called `name`; an unknown name lists the parts."""
        for p in self.parts:
            if p.name == name:
                return p
        raise CascadeError(f"layer {self.name} has no part {name!r} (parts: {', '.join(p.name for p in self.parts)})")


def labelled(c: Cascade, parts: tuple[Part, ...]) -> Layer:
    """`c` as a `Layer` with `parts`, which must cover every Einsum exactly once, in statement order."""
    names = [e for p in parts for e in p.einsums]
    order = [e.name for e in c.einsums]
    if sorted(names) != sorted(order) or len(set(names)) != len(names):
        missing = sorted(set(order) - set(names))
        extra = sorted(set(names) - set(order))
        raise CascadeError(f"layer {c.name}: parts must cover every Einsum once (missing {missing[:8]}, unknown or "
                           f"repeated {extra[:8] or sorted(n for n in set(names) if names.count(n) > 1)[:8]})")
    for p in parts:
        if p.kind not in KINDS:
            raise CascadeError(f"layer part {p.name}: unknown kind {p.kind!r} (kinds: {', '.join(KINDS)})")
    return Layer(**{f: getattr(c, f) for f in CASCADE_FIELDS}, parts=tuple(parts))


def layer_parts(c: Cascade, where: str) -> tuple[Part, ...]:
    """The parts of a layer cascade, or CascadeError saying how to get a labelled layer."""
    if isinstance(c, Layer) and c.parts:
        return c.parts
    raise CascadeError(f"{where}: {getattr(c, 'name', type(c).__name__)} is not a labelled layer (build it with "
                       f"workloads.model(NAME).layer(...) or workloads.layer(...); a layer read back from text has "
                       f"lost its part labels)")
