"""The dataflow registry. A dataflow is pure functions over (cascade, arch):

- `supports(cascade, arch) -> str | None` — None if it simulates exactly this cascade, else the reason it cannot;
- `plan(cascade, arch, constraints) -> Mapping` — the default mapping, with `constraints` pinning mapping choices
  (an unknown or invalid pin raises `MappingError` naming it). Planning only plans: it never simulates;
- `lower(cascade, arch, mapping, options) -> Lowered` — the tile program the engine schedules, plus exact action
  counts. Lowering only reads the mapping: `Result.mapping` is exactly what was simulated;
- `space(cascade, arch) -> {param: candidate values}` (optional) — the mapping choices `sim.explore` searches,
  starting from the default plan. Without one, explore derives alternatives from the default plan's params.

Registered by name with `register_dataflow` (duplicates raise; unknown names list the valid ones), so tests
parametrize over the registry; `unregister_dataflow` removes one (for tests and notebooks).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping as MappingType

from accel import Arch
from workloads import Cascade
from workloads.frozen import FrozenDict

from sim.ir.mapping import Mapping, MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.program import Program


@dataclass(frozen=True)
class Lowered:
    """What `evaluate` needs from a lowering.

    - `program`: its level columns are named `<level>.read` / `<level>.write`, so bytes map onto the arch's levels
      and energies;
    - `unit_keys`: each program unit → its reporting key ("2d", "1d", "tensor", "sfu", "hbm", ...);
    - `unit_levels`: each memory unit of the program → the arch level whose traffic it carries (its utilization is
      that level's bytes over its bandwidth × time);
    - `actions`: exact whole-workload action counts (`"<unit>.<op>"` per compute op of an arch unit,
      `"<unit>.register_read"` / `".register_write"`): energy, and the useful work behind utilization;
    - `tags`: engine tag → the Einsums of the given cascade it runs (several Einsums may share a tag);
      `phases`: engine tags that are kernel phases, not Einsums (load, epilogue, launch, permute, ...);
    - `kernels`: kernel name → (first segment, end segment) in program order; default: one kernel, the whole
      program, named after the dataflow;
    - `flops`: the FLOPs throughput is reported against (e.g. FlashAttention's convention).
    """
    program: Program
    unit_keys: MappingType[str, str]
    actions: MappingType[str, float] = field(default_factory=FrozenDict)
    tags: MappingType[str, tuple[str, ...]] = field(default_factory=FrozenDict)
    flops: float | None = None
    notes: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    kernels: MappingType[str, tuple[int, int]] = field(default_factory=FrozenDict)
    unit_levels: MappingType[str, str] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        for name in ("unit_keys", "actions", "tags", "kernels", "unit_levels"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))


Supports = Callable[[Cascade, Arch], "str | None"]
Plan = Callable[[Cascade, Arch, MappingType[str, Any]], Mapping]
Lower = Callable[[Cascade, Arch, Mapping, Options], Lowered]
Space = Callable[[Cascade, Arch], MappingType[str, tuple]]


@dataclass(frozen=True)
class Dataflow:
    """A registered dataflow: its name, the functions above, a one-line description and its search space.
    `searched=False` keeps it out of `sim.explore`'s default set (it is still explored when named), e.g. for
    illustrative or experimental dataflows. A `lower` written without the `options` argument is adapted (it then
    ignores the simulation options)."""
    name: str
    supports: Supports
    plan: Plan
    lower: Lower
    doc: str = ""
    space: Space | None = None
    searched: bool = True

    def __post_init__(self) -> None:
        if not _takes_options(self.lower):
            object.__setattr__(self, "lower", _WithoutOptions(self.lower))


DATAFLOWS: dict[str, Dataflow] = {}


class _WithoutOptions:
    """Adapts a `lower(cascade, arch, mapping)` written without options to the four-argument protocol."""

    def __init__(self, lower: Callable) -> None:
        self.lower = lower
        self.__module__ = getattr(lower, "__module__", None)
        self.__qualname__ = getattr(lower, "__qualname__", repr(lower))

    def __call__(self, cascade: Cascade, arch: Arch, mapping: Mapping, options: Options = DEFAULT_OPTIONS) -> Lowered:
        return self.lower(cascade, arch, mapping)


def _takes_options(lower: Callable) -> bool:
    if isinstance(lower, _WithoutOptions):
        return True
    try:
        params = list(inspect.signature(lower).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 4 or any(p.kind == p.VAR_POSITIONAL for p in params)


def register_dataflow(name: str, *, supports: Supports, plan: Plan, lower: Lower, space: Space | None = None,
                      doc: str = "", searched: bool = True) -> Dataflow:
    """Register a dataflow under `name` and return its record; a duplicate name raises ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataflow name must be a non-empty string, got {name!r}")
    if name in DATAFLOWS:
        raise ValueError(f"dataflow {name!r} is already registered")
    for what, fn in (("supports", supports), ("plan", plan), ("lower", lower)):
        if not callable(fn):
            raise ValueError(f"dataflow {name!r}: {what} must be callable, got {fn!r}")
    if space is not None and not callable(space):
        raise ValueError(f"dataflow {name!r}: space must be callable or None, got {space!r}")
    if not isinstance(searched, bool):
        raise ValueError(f"dataflow {name!r}: searched must be True or False, got {searched!r}")
    df = Dataflow(name, supports, plan, lower, doc, space, searched)
    DATAFLOWS[name] = df
    return df


def unregister_dataflow(name: str) -> None:
    """Remove a registered dataflow (unknown names raise MappingError)."""
    dataflow(name)
    del DATAFLOWS[name]


def dataflow(name: str) -> Dataflow:
    """The registered dataflow `name`; an unknown name lists the valid ones."""
    if not isinstance(name, str) or name not in DATAFLOWS:
        raise MappingError(f"unknown dataflow {name!r} (valid: {', '.join(sorted(DATAFLOWS))})")
    return DATAFLOWS[name]


def verdicts(cascade: Cascade, arch: Arch) -> dict[str, str | None]:
    """Every registered dataflow's verdict for this pair: None = supported, else the reason."""
    return {name: df.supports(cascade, arch) for name, df in sorted(DATAFLOWS.items())}
