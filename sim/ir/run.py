"""The result of simulating a Program: an immutable record with a readable `__str__`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Run", "STALL_CAUSES", "Trace"]

STALL_CAUSES = ("dependency", "memory", "buffer")  # columns of Run.stall_ticks


@dataclass(frozen=True, eq=False)
class Trace:
    """Per simulated op, in program order (extrapolated iterations are not listed)."""

    start: np.ndarray  # int64, ticks
    end: np.ndarray  # int64, start + duration
    unit: np.ndarray  # int32
    tag: np.ndarray  # int32, -1 for none
    segment: np.ndarray  # int32
    iteration: np.ndarray  # int64
    op: np.ndarray  # int64, index in the segment body


@dataclass(frozen=True, eq=False)
class Run:
    """Totals of one simulation. Times are integer ticks; `cycles` divides by ticks_per_cycle.

    `stall_ticks[u, c]` is the idle time of unit u before its ops, charged to cause `STALL_CAUSES[c]`.
    `iterations_simulated[s]` and `period_ticks[s]` (0 = not extrapolated) say how much of segment s was simulated;
    `segment_end_ticks[s]` is when everything of segments 0..s is done (the latest result ready time).
    """

    ticks: int
    ticks_per_cycle: int
    units: tuple[str, ...]
    levels: tuple[str, ...]
    tags: tuple[str, ...]
    segments: tuple[str, ...]
    busy_ticks: np.ndarray  # int64[U]
    stall_ticks: np.ndarray  # int64[U, 3]
    level_bytes: np.ndarray  # float64[L]
    tag_busy_ticks: np.ndarray  # int64[T, U]
    ops_total: int
    ops_simulated: int
    iterations_simulated: np.ndarray  # int64[S]
    period_ticks: np.ndarray  # int64[S]
    segment_end_ticks: np.ndarray  # int64[S], non-decreasing
    trace: Trace | None = None

    @property
    def cycles(self) -> float:
        """Total time in cycles (ticks / ticks_per_cycle)."""
        return self.ticks / self.ticks_per_cycle

    @property
    def utilization(self) -> np.ndarray:
        """busy / total time per unit (0 for an empty run)."""
        return self.busy_ticks / self.ticks if self.ticks else np.zeros(len(self.units))

    def __str__(self) -> str:
        lines = [f"Run: {self.ticks:,} ticks = {self.cycles:,.1f} cycles; "
                 f"{self.ops_simulated:,} of {self.ops_total:,} ops simulated"]
        width = max([len(u) for u in self.units] + [4])
        lines.append(f"  {'unit':<{width}} {'busy':>12} {'util':>6} " + " ".join(f"{c:>12}" for c in STALL_CAUSES))
        for u, name in enumerate(self.units):
            stalls = " ".join(f"{int(x):>12,}" for x in self.stall_ticks[u])
            lines.append(f"  {name:<{width}} {int(self.busy_ticks[u]):>12,} {self.utilization[u]:>6.1%} {stalls}")
        if self.levels:
            lines.append("  bytes: " + ", ".join(f"{lvl} {b:,.0f}" for lvl, b in zip(self.levels, self.level_bytes)))
        for s, name in enumerate(self.segments):
            period = f", then periodic every {int(self.period_ticks[s]):,} ticks" if self.period_ticks[s] else ""
            lines.append(f"  segment {name!r}: {int(self.iterations_simulated[s]):,} iterations simulated{period}")
        return "\n".join(lines)
