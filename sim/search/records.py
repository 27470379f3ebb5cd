"""What a search returns: one `Candidate` per setting tried, the `Table` of them as plain records (CSV export),
and the `Exploration` of one (workload, architecture) pair."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping as MappingType

from sim.ir.mapping import MappingError
from sim.ir.result import Result

OBJECTIVES = ("latency", "energy", "edp")
STATUSES = ("ok", "pruned", "infeasible", "unsupported", "duplicate")
MAX_REASONS_SHOWN = 12      # distinct reasons `str(Exploration)` lists when nothing runs


def params_key(params: MappingType[str, Any]) -> str:
    """A deterministic total order on param settings (ties between equal objectives break on it)."""
    return repr(sorted(params.items()))


def can_win(bound: float, dataflow: str, params: MappingType[str, Any],
            incumbent: tuple[float, str, str] | None) -> bool:
    """Whether a candidate whose objective is at least `bound` can still be the best: the best is the smallest
    (objective, dataflow, params key), so a candidate that can at most tie the incumbent and would lose the tie
    cannot either."""
    return incumbent is None or (bound, dataflow, params_key(params)) < incumbent


def objective_value(objective: str, latency_s: float, energy_j: float) -> float:
    """The value minimized for `objective` ("latency", "energy" or "edp" = latency × energy)."""
    if objective == "latency":
        return latency_s
    if objective == "energy":
        return energy_j
    if objective == "edp":
        return latency_s * energy_j
    raise MappingError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


@dataclass(frozen=True)
class Candidate:
    """One row of an exploration: a dataflow with params, what happened to it, and its metrics.

    `status` is one of `STATUSES`; `reason` says why for every status but "ok"; `bound` is the lower bound on the
    objective that was checked against the incumbent (objective units); `onchip_bytes` is the mapping's working set
    (simulated rows only)."""
    dataflow: str
    params: MappingType[str, Any]
    status: str
    reason: str = ""
    latency_s: float | None = None
    energy_j: float | None = None
    onchip_bytes: int | None = None
    bound: float | None = None
    result: Result | None = field(default=None, repr=False, compare=False)

    @property
    def edp(self) -> float | None:
        """Energy-delay product (J·s), when simulated."""
        return None if self.latency_s is None or self.energy_j is None else self.latency_s * self.energy_j

    def value(self, objective: str) -> float | None:
        """The row's value for `objective` (None unless simulated)."""
        if self.latency_s is None or self.energy_j is None:
            return None
        return objective_value(objective, self.latency_s, self.energy_j)

    def record(self) -> dict[str, Any]:
        """The row as a plain dict (what `Table` holds)."""
        return {"dataflow": self.dataflow, "params": dict(self.params), "status": self.status, "reason": self.reason,
                "latency_s": self.latency_s, "energy_j": self.energy_j, "edp": self.edp,
                "onchip_bytes": self.onchip_bytes, "bound": self.bound}


@dataclass(frozen=True)
class Table:
    """Rows as plain records (dicts). `params` (a dict) is flattened to `param.<name>` columns in CSV."""
    rows: tuple[MappingType[str, Any], ...]

    def records(self) -> list[dict[str, Any]]:
        """The rows as fresh dicts (params as plain dicts)."""
        return [{k: (dict(v) if isinstance(v, MappingType) else v) for k, v in r.items()} for r in self.rows]

    def columns(self) -> list[str]:
        """Column names in first-seen order, then one `param.<name>` column per param name (sorted)."""
        cols: list[str] = []
        params: set[str] = set()
        for r in self.rows:
            cols.extend(k for k in r if k != "params" and k not in cols)
            params.update(r.get("params", {}))
        return cols + [f"param.{p}" for p in sorted(params)]

    def to_csv(self, path) -> None:
        """Write the table as CSV (empty cells for None; lists and dicts as JSON)."""
        cols = self.columns()
        try:
            with open(path, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(cols)
                for r in self.rows:
                    flat = {**{k: v for k, v in r.items() if k != "params"},
                            **{f"param.{k}": v for k, v in r.get("params", {}).items()}}
                    writer.writerow(["" if flat.get(c) is None else _cell(flat[c]) for c in cols])
        except (OSError, TypeError) as e:
            raise MappingError(f"table: cannot write CSV to {str(path)[:200]!r}: "
                               f"{getattr(e, 'strerror', None) or e}") from None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def __str__(self) -> str:
        counts = {s: sum(r.get("status") == s for r in self.rows) for s in STATUSES}
        return f"table of {len(self.rows)} rows: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def _cell(v: Any) -> str:
    if isinstance(v, (list, tuple, dict)) or isinstance(v, MappingType):
        return json.dumps(v if not isinstance(v, MappingType) else dict(v), sort_keys=True, default=str)
    return str(v)


@dataclass(frozen=True)
class Exploration:
    """The outcome of `sim.explore` on one (workload, architecture) pair.

    `best` is the simulated candidate with the least objective (ties: the smallest dataflow name, then params), or
    None when nothing could run (`candidates` say why); `pareto` holds the simulated results not dominated in
    latency × energy × on-chip bytes (`sim.search.pareto`'s rule), fastest first; `notes` explain what the search
    skipped; `seconds` is its wall time."""
    workload: str
    arch: str
    objective: str
    best: Result | None
    pareto: tuple[Result, ...]
    candidates: tuple[Candidate, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def table(self) -> Table:
        """Every candidate as a `Table` row."""
        return Table(tuple(c.record() for c in self.candidates))

    def __str__(self) -> str:
        head = f"explore {self.workload} on {self.arch} ({self.objective}): {self.table}"
        if self.best is None:
            reasons = sorted({f"{c.dataflow}: {c.reason}" for c in self.candidates if c.status != "ok"})
            return "\n".join([head, "  nothing runs:", *(f"    {r}" for r in reasons[:MAX_REASONS_SHOWN])])
        lines = [head, f"  best: {self.best.dataflow} "
                 + ", ".join(f"{k}={v}" for k, v in sorted(self.best.mapping.params.items())),
                 *("  " + line for line in str(self.best).splitlines()),
                 f"  pareto ({len(self.pareto)}): " + "; ".join(
                     f"{r.dataflow} {r.latency_s * 1e3:.4g} ms {r.energy_j * 1e3:.4g} mJ" for r in self.pareto[:6])]
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
