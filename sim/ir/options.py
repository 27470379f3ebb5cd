"""`Options`: how faithfully to simulate — never *what* is simulated.

Three kinds of value are kept apart: mapping choices (`Mapping.params`, what `explore` searches), hardware facts
(fields of the `Arch`, e.g. a unit's fill/drain cycles) and these simulation options. Changing an option may change
a result only within the fidelity it names (e.g. coarser tile groups on the first fill of a block).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from workloads.frozen import FrozenDict

from sim.ir.mapping import MappingError


@dataclass(frozen=True)
class Options:
    """Simulation options for `sim.evaluate(..., options=Options(...))`.

    - `extrapolate`: extrapolate repeated segments once their schedule state repeats (exact; False simulates every
      iteration, e.g. for a full trace);
    - `trace`: record every simulated op's start and end (`Result.run.trace`);
    - `tile_group`: spatial lowerings lower this many consecutive tiles as one op (None: the smallest power of two
      that keeps a block body within the lowering's op limit);
    - `symmetric`: GPU lowerings simulate the most loaded SM only (False: every SM, for checks);
    - `calibration`: overrides of named calibrated constants (name → value), passed as data to the lowerings that
      declare them; unknown names are refused by those lowerings.
    """
    extrapolate: bool = True
    trace: bool = False
    tile_group: int | None = None
    symmetric: bool = True
    calibration: Mapping[str, float] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        for name in ("extrapolate", "trace", "symmetric"):
            if not isinstance(getattr(self, name), bool):
                raise MappingError(f"Options.{name} must be True or False, got {getattr(self, name)!r}")
        g = self.tile_group
        if g is not None and (isinstance(g, bool) or not isinstance(g, int) or g < 1):
            raise MappingError(f"Options.tile_group must be None or a positive integer, got {g!r}")
        if not isinstance(self.calibration, Mapping):
            raise MappingError(f"Options.calibration must be a mapping of constant name to number, "
                               f"got {type(self.calibration).__name__}")
        for k, v in self.calibration.items():
            if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)):
                raise MappingError(f"Options.calibration[{k!r}] must map a constant name to a number, got {v!r}")
        object.__setattr__(self, "calibration", FrozenDict(self.calibration))

    def constant(self, name: str, default: float) -> float:
        """The calibrated constant `name`: its override if given, else the shipped `default`."""
        return float(self.calibration.get(name, default))


DEFAULT_OPTIONS = Options()
