"""The dataflow registry. A dataflow is three pure functions over (cascade, arch):

- `supports(cascade, arch) -> str | None` — None if it can run, else the reason it cannot;
- `plan(cascade, arch, constraints) -> Mapping` — a concrete mapping (constraints may pin mapping params);
- `lower(cascade, arch, mapping) -> Lowered` — the tile program the engine schedules, plus exact action counts.

Registered by name (duplicates raise; unknown names list the valid ones), so tests parametrize over the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping as MappingType

from accel import Arch
from workloads import Cascade

from sim.ir.mapping import Mapping, MappingError
from sim.ir.program import Program


@dataclass(frozen=True)
class Lowered:
    """What `evaluate` needs from a lowering.

    `program`'s level columns are named `<level>.read` / `<level>.write` so bytes map onto the arch's levels and
    energies. `unit_keys` maps each program unit to its utilization key ("2d", "1d", "tensor", "sfu", "hbm", ...).
    `actions` are exact whole-workload action counts for energy (`"<unit>.<op>"` per compute op,
    `"<unit>.register_read"`/`".register_write"`); byte traffic comes from the engine's level totals.
    `tags` maps engine tags to Einsum names (several Einsums may share a tag when they share an op).
    """
    program: Program
    unit_keys: MappingType[str, str]
    actions: MappingType[str, float] = field(default_factory=dict)
    tags: MappingType[str, tuple[str, ...]] = field(default_factory=dict)
    flops: float | None = None           # FLOPs to report throughput against (e.g. FlashAttention's convention)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataflow:
    name: str
    supports: Callable[[Cascade, Arch], str | None]
    plan: Callable[[Cascade, Arch, MappingType[str, Any]], Mapping]
    lower: Callable[[Cascade, Arch, Mapping], Lowered]
    doc: str = ""


DATAFLOWS: dict[str, Dataflow] = {}


def register_dataflow(name: str, *, supports, plan, lower, doc: str = "") -> Dataflow:
    if name in DATAFLOWS:
        raise ValueError(f"dataflow {name!r} is already registered")
    df = Dataflow(name, supports, plan, lower, doc)
    DATAFLOWS[name] = df
    return df


def dataflow(name: str) -> Dataflow:
    if name not in DATAFLOWS:
        raise MappingError(f"unknown dataflow {name!r} (valid: {', '.join(sorted(DATAFLOWS))})")
    return DATAFLOWS[name]


def verdicts(cascade: Cascade, arch: Arch) -> dict[str, str | None]:
    """Every registered dataflow's verdict for this pair: None = supported, else the reason."""
    return {name: df.supports(cascade, arch) for name, df in sorted(DATAFLOWS.items())}
