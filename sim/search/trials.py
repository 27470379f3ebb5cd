"""`Trials`: the candidates one exploration has tried — it plans requested pins, bounds them, evaluates them in
fixed-size batches against the incumbent, and keeps one `Candidate` row per distinct request.

Bounds, cheapest first: the roofline of the mapping's binding (energy: compulsory bytes × the outermost level's
cheapest energy per byte), then, after lowering, the program bound (`sim.search.candidates`). A candidate that
cannot be the best is "pruned": its bound exceeds the incumbent's objective, or equals it and the candidate would
lose the tie (the best is the smallest (objective, dataflow, params)). If a simulated result ever beats its roofline bound, roofline
pruning is switched off for the rest of the run, with a note. The incumbent changes only between batches, so the
rows are the same whatever the executor.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Iterable, Mapping as MappingType

import workloads
from accel import Arch
from workloads import Cascade
from workloads.frozen import FrozenDict, freeze

from sim.bounds.rooflines import roofline
from sim.ir.mapping import tiled
from sim.dataflows.registry import Dataflow
from sim.ir.mapping import Mapping
from sim.ir.options import Options
from sim.search.candidates import Outcome, evaluate_task, portable, reason_of
from sim.search.records import Candidate, can_win, objective_value, params_key

BATCH = 16                  # candidates evaluated between incumbent updates (fixed, for determinism)
AUDIT_TOLERANCE = 1e-9      # relative slack when checking a result against its roofline bound


@dataclass
class Planned:
    """One request after planning: its row, the mapping (None if planning refused it) and its roofline bound."""
    order: int
    params: FrozenDict
    mapping: Mapping | None
    fresh: bool = False                      # a mapping no earlier row had (it will be evaluated)
    bound: float = 0.0
    roof_latency: float = 0.0
    roof_energy: float = 0.0


class Trials:
    """The rows and the incumbent of one exploration (see the module docstring)."""

    def __init__(self, workload: Cascade, arch: Arch, objective: str, constraints: MappingType[str, Any],
                 options: Options, executor: Executor | None, bar: Any) -> None:
        self.workload, self.arch, self.objective = workload, arch, objective
        self.constraints, self.options, self.executor, self.bar = FrozenDict(constraints), options, executor, bar
        self.rows: list[Candidate] = []
        self.notes: list[str] = []
        self.spent: dict[str, int] = {}
        self.requested: dict[str, dict[FrozenDict, int]] = {}     # dataflow → pins → row
        self.incumbent: tuple[float, str, str] | None = None      # (value, dataflow, params key)
        self.trust_roofline = True
        self._mappings: dict[Mapping, int] = {}
        self._duplicates: list[tuple[int, int]] = []               # (row, the earlier row with its mapping)
        self._roofs: dict[FrozenDict, float] = {}
        outer = arch.levels[0]
        self._energy_floor = workloads.compulsory_bytes(workload) * 1e-12 * min(
            outer.read_energy_pj_per_byte, outer.write_energy_pj_per_byte)

    # -- what is known
    def value(self, row: int | None) -> float | None:
        """The objective of a row, if it was simulated."""
        return None if row is None or self.rows[row].status != "ok" else self.rows[row].value(self.objective)

    def row_of(self, df: Dataflow, pins: MappingType[str, Any]) -> int | None:
        """The row of a request made before, if any."""
        return self.requested.get(df.name, {}).get(freeze(pins))

    def alias(self, df: Dataflow, pins: MappingType[str, Any], row: int) -> None:
        """Record that requesting `pins` would give `row` (so it is not planned again)."""
        self.requested.setdefault(df.name, {})[freeze(pins)] = row

    # -- trying requests
    def run(self, df: Dataflow, requests: Iterable[MappingType[str, Any]], share: int, prune: bool = True) -> None:
        """Plan the requests not made before (within the dataflow's `share` of the budget), bound them, and
        evaluate the fresh ones in batches, lowest bound first."""
        seen = self.requested.setdefault(df.name, {})
        planned: list[Planned] = []
        for req in map(freeze, requests):            # frozen like Mapping.params, to compare with them
            if req in seen:
                continue
            if self.spent.get(df.name, 0) >= share:
                break
            self.spent[df.name] = self.spent.get(df.name, 0) + 1
            p = self._plan(df, req)
            seen[req] = p.order
            planned.append(p)
        live = sorted((p for p in planned if p.fresh), key=lambda p: (p.bound, p.order))
        for start in range(0, len(live), BATCH):
            self._batch(df, live[start:start + BATCH], prune)
        self._resolve_duplicates()
        self.bar.update(len(planned), note=df.name)

    def _resolve_duplicates(self) -> None:
        """A request whose mapping an earlier row has gets that row's outcome, marked as a duplicate."""
        for row, first in self._duplicates:
            was = self.rows[first]
            self.rows[row] = dataclasses.replace(
                was, params=self.rows[row].params, status="duplicate" if was.status == "ok" else was.status,
                reason=f"same mapping as row {first}" + (f" ({was.reason})" if was.reason else ""), result=None)
        self._duplicates.clear()

    def _plan(self, df: Dataflow, req: FrozenDict) -> Planned:
        order = len(self.rows)
        try:
            mapping = df.plan(self.workload, self.arch, {**self.constraints, **req})
        except ValueError as e:
            self.rows.append(Candidate(df.name, req, "infeasible", reason_of(e)))
            return Planned(order, req, None)
        bad = [k for k, v in req.items() if mapping.params.get(k) != v]
        if bad:
            self.rows.append(Candidate(df.name, req, "infeasible", f"plan did not honour {bad[0]}={req[bad[0]]!r} "
                                       f"(gave {mapping.params.get(bad[0])!r})"))
            return Planned(order, req, None)
        params = FrozenDict(mapping.params)
        if mapping in self._mappings:
            self.rows.append(Candidate(df.name, params, "pending"))
            self._duplicates.append((order, self._mappings[mapping]))
            return Planned(order, params, mapping)
        self._mappings[mapping] = order
        self.rows.append(Candidate(df.name, params, "pending"))
        latency = self._roofline(mapping)
        energy = self._energy_floor + self.arch.static_power_w * latency   # static power over the roofline time
        return Planned(order, params, mapping, True, objective_value(self.objective, latency, energy), latency, energy)

    def _roofline(self, mapping: Mapping) -> float:
        """The roofline of the cascade the mapping simulates (its own key tile, if it chooses one) and binding."""
        cascade = tiled(self.workload, mapping)
        key = (cascade, FrozenDict(mapping.binding))
        if key not in self._roofs:
            self._roofs[key] = _roofline_s(cascade, self.arch, key[1])
        return self._roofs[key]

    def _batch(self, df: Dataflow, batch: list[Planned], prune: bool) -> None:
        incumbent = self.incumbent if prune else None
        todo = []
        for p in batch:
            if self.trust_roofline and not can_win(p.bound, df.name, p.params, incumbent):
                self.rows[p.order] = Candidate(df.name, p.params, "pruned", "roofline bound cannot beat the "
                                               "incumbent", bound=p.bound)
            else:
                todo.append(p)
        sendable = portable(df) if self.executor is not None else df
        tasks = [(sendable, self.workload, self.arch, p.mapping, self.options, self.objective, incumbent)
                 for p in todo]
        if self.executor is None or len(tasks) < 2:
            outcomes = [evaluate_task(t) for t in tasks]
        else:
            outcomes = list(self.executor.map(evaluate_task, tasks))
        for p, outcome in zip(todo, outcomes):
            self._record(df, p, outcome)

    def _record(self, df: Dataflow, p: Planned, out: Outcome) -> None:
        if out.status != "ok":
            self.rows[p.order] = Candidate(df.name, p.params, out.status, out.reason, bound=out.bound)
            return
        r = out.result
        self.rows[p.order] = Candidate(df.name, p.params, "ok", "", r.latency_s, r.energy_j, out.onchip_bytes,
                                       out.bound, r)
        self._audit(df, p, r.latency_s, r.energy_j)
        entry = (objective_value(self.objective, r.latency_s, r.energy_j), df.name, params_key(p.params))
        if self.incumbent is None or entry < self.incumbent:
            self.incumbent = entry

    def _audit(self, df: Dataflow, p: Planned, latency: float, energy: float) -> None:
        slack = 1 - AUDIT_TOLERANCE
        if self.trust_roofline and (latency < p.roof_latency * slack or energy < p.roof_energy * slack):
            self.trust_roofline = False
            self.notes.append(f"{df.name} {dict(p.params)} beat its roofline bound ({latency:.4g} s < "
                              f"{p.roof_latency:.4g} s or {energy:.4g} J < {p.roof_energy:.4g} J); roofline "
                              f"pruning switched off from here on")


def _roofline_s(workload: Cascade, arch: Arch, binding: FrozenDict) -> float:
    """The roofline of a binding; the default binding's if the roofline cannot take it; 0 (no bound) if neither."""
    for kwargs in ({"binding": dict(binding)}, {}):
        try:
            return roofline(workload, arch, **kwargs).lower_bound_s
        except ValueError:
            continue
    return 0.0
