"""Mappings: how a cascade is scheduled on an architecture — separate from both. Plain frozen data.

A mapping groups Einsums into fusion groups; each group has a loop nest per architecture level (named, never
indexed), each loop a rank (or split part) with a tile factor, temporal or spatial on an array dimension; and
a binding of every Einsum to a compute unit. `params` holds a dataflow's scalar knobs (query-block size,
pipeline stages, CTAs per SM, split-KV factor, ...) — the values `explore` searches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping as MappingType

from workloads import Cascade, retile
from workloads.frozen import FrozenDict, freeze


class MappingError(ValueError):
    """A mapping or dataflow request is invalid or unsupported for this (workload, architecture) pair."""


@dataclass(frozen=True)
class Loop:
    """One loop of a nest: a rank (or split part) with its tile factor, temporal or spatial on an array dimension."""
    rank: str
    factor: int
    spatial: str | None = None   # array dimension (e.g. "rows", "cols", "sms"); None = temporal


@dataclass(frozen=True)
class LevelNest:
    """The loops of one fusion group at one architecture level, outermost first."""
    level: str                   # an architecture level name
    loops: tuple[Loop, ...]      # outermost first


@dataclass(frozen=True)
class FusionGroup:
    """Einsums that run fused (intermediates stay on chip), with their loop nest per level."""
    einsums: tuple[str, ...]
    nests: tuple[LevelNest, ...] = ()   # outermost level first


@dataclass(frozen=True)
class Mapping:
    """A concrete mapping: what a dataflow's `plan` returns and its `lower` reads (never changes).

    `params` are the mapping *choices* only (tile sizes, query-block size, pipeline stages, CTAs per SM, split-KV
    factor, ...) — the values `explore` searches and `constraints` pin. Hardware facts live in the `Arch`, simulation
    options in `sim.ir.options.Options`. `binding` maps every Einsum to the compute unit that runs it.
    """
    dataflow: str
    groups: tuple[FusionGroup, ...]
    binding: MappingType[str, str]                         # Einsum → unit name
    params: MappingType[str, Any] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "binding", FrozenDict(self.binding))
        object.__setattr__(self, "params", freeze(self.params))

    def __str__(self) -> str:
        lines = [f"mapping ({self.dataflow}): " + ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))]
        for g in self.groups:
            nest = " | ".join(f"{n.level}: " + " ".join(f"{l.rank}{l.factor}{'@' + l.spatial if l.spatial else ''}"
                                                        for l in n.loops) for n in g.nests)
            lines.append(f"  [{', '.join(g.einsums)}] {nest}")
        return "\n".join(lines)


def tiled(cascade: Cascade, mapping: Mapping) -> Cascade:
    """The cascade a mapping simulates: a mapping param named like the inner part of one of the cascade's splits
    (e.g. `P0`) chooses that tile, and the cascade is re-split with it (`workloads.retile`). The op counts of the
    per-tile Einsums (a 1-pass cascade's running max, ...) are then those of the chosen tiling, which is what the
    result's roofline and op counts answer to."""
    for split in cascade.splits:
        size = mapping.params.get(split.inner)
        if isinstance(size, int) and not isinstance(size, bool) and size != cascade.sizes[split.inner]:
            cascade = retile(cascade, split.inner, size)
    return cascade
