"""`sim.sweep`: `explore` over a workload × architecture grid — architecture variants included — on any
`concurrent.futures.Executor`, as one table with per-workload Pareto fronts of latency, energy and area.

Cells (one workload on one architecture) are sent in chunks of consecutive cells, so that per-task overhead stays
small next to the work even for thousands of cheap cells; `explore` runs inside the worker, serially, and sends back
its `Exploration` without the candidates' full `Result`s (`best` and `pareto` keep theirs). The default executor
is a local process pool (`os.cpu_count()` workers); a single chunk runs in this process. A sweep that outgrows one
machine runs on a Dask cluster unchanged:

    from dask.distributed import Client
    with Client("tcp://scheduler:8786") as client:          # or Client(LocalCluster(...))
        s = sim.sweep(workloads, archs, executor=client.get_executor())

The table is the same whatever the executor: rows are in grid order (workload-major) and every cell is
deterministic. Built-in dataflows travel to workers by name (the worker imports them), others as `Dataflow`
records, so their functions must be importable in the worker. Architecture grids: `arch_variants` (that is,
`accel.variants`); area: `sim.bounds.area`.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Mapping as MappingType, Sequence

import accel
from accel import Arch
from workloads import Cascade

from sim.bounds import area
from sim.dataflows.registry import Dataflow
from sim.ir.mapping import MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.ir.tasks import Chunk, cut
from sim.search.candidates import portable
from sim.search.exploration import check_run_settings, explore, resolve_dataflows
from sim.search.pareto import pareto
from sim.search.progress import progress_bar
from sim.search.records import Exploration, Table

FRONT_KEYS = ("latency_s", "energy_j", "area_mm2")
TASKS_PER_SWEEP = 64        # cells are sent in about this many chunks (load balance vs. per-task overhead)
MAX_CELLS = 1_000_000       # a grid larger than this is refused before anything runs


def arch_variants(base: Arch, axes: MappingType[str, Sequence] | None = None, **more: Sequence) -> list[Arch]:
    """The architecture grid of a sweep: `accel.variants(base, axes, **more)` (every combination of the axes'
    values, first axis slowest, each rebuilt through `accel.from_dict`; see `accel.transforms` for the axes)."""
    return accel.variants(base, axes, **more)


@dataclass(frozen=True)
class Sweep:
    """One row per (workload, arch) cell in grid order (`table`), and the cells' explorations (same order)."""
    table: Table
    explorations: tuple[Exploration, ...]

    def fronts(self, keys: Sequence[str] = FRONT_KEYS) -> dict[str, tuple[dict, ...]]:
        """Per workload, the rows not dominated on `keys` (all minimized; `sim.search.pareto`'s tie rule), fastest
        first. Fronts never mix workloads: one sequence length's points cannot dominate another's."""
        by_workload: dict[str, list[dict]] = {}
        for r in self.table.records():
            if r["status"] == "ok":
                by_workload.setdefault(r["workload"], []).append(r)
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence) or not keys:
            raise MappingError(f"sweep front: keys must be a non-empty list of column names, got {keys!r:.80}")
        for k in keys:
            if self.table.rows and k not in self.table.rows[0]:
                raise MappingError(f"sweep front: unknown column {k!r} (columns: {', '.join(self.table.columns())})")
        return {w: tuple(pareto(rows, key=lambda r: tuple(r[k] for k in keys))) for w, rows in by_workload.items()}

    @property
    def pareto(self) -> dict[str, tuple[dict, ...]]:
        """Per workload, the rows not dominated in (latency, energy, area), fastest first."""
        return self.fronts()

    def __str__(self) -> str:
        lines = [f"sweep of {len(self.table)} cells"]
        for w, rows in self.pareto.items():
            lines.append(f"  {w}: Pareto front of {len(rows)} (latency, energy, area):")
            lines.extend(f"    {r['arch']}: {r['dataflow']} {r['latency_s'] * 1e3:.4g} ms, {r['energy_j'] * 1e3:.4g} mJ, "
                         f"{r['area_mm2']:.4g} mm²" for r in rows)
        return "\n".join(lines)


def sweep(workloads: Cascade | Sequence[Cascade] | MappingType[str, Cascade],
          archs: Arch | Sequence[Arch] | MappingType[str, Arch], objective: str = "latency",
          dataflows: Sequence[str | Dataflow] | None = None, constraints: MappingType[str, Any] | None = None,
          budget: int | None = None, seed: int = 0, executor: Executor | None = None, progress: Any = None,
          *, options: Options | None = None) -> Sweep:
    """`explore` every (workload, arch) cell on `executor` (default: a local process pool) and tabulate the best of
    each with its area. `progress`: None shows a bar on an interactive stderr; see `sim.search.progress`."""
    wl = _labelled(workloads, Cascade, "workloads")
    ar = _labelled(archs, Arch, "archs")
    check_run_settings(seed, executor)
    if len(wl) * len(ar) > MAX_CELLS:
        raise MappingError(f"sweep: {len(wl)} workloads × {len(ar)} archs is over {MAX_CELLS} cells")
    sendable = tuple(portable(df) for df in resolve_dataflows(dataflows))
    settings = (objective, sendable, dict(constraints or {}), budget, seed, options or DEFAULT_OPTIONS)
    cells = [(w, a) for w in wl.values() for a in ar.values()]
    chunks = cut(cells, settings, TASKS_PER_SWEEP)
    if progress is None:
        progress = sys.stderr.isatty() and len(cells) > 1
    bar = progress_bar(progress, len(cells), "sweep")
    try:
        results = _run(chunks, executor, bar)
    finally:
        bar.close()
    labels = [(wn, an) for wn in wl for an in ar]
    rows = tuple(_row(wn, an, ar[an], x) for (wn, an), x in zip(labels, results))
    return Sweep(Table(rows), tuple(results))


def _run(chunks: list[Chunk], executor: Executor | None, bar: Any) -> list[Exploration]:
    """The chunks' explorations in grid order: on `executor`, on an own process pool, or here."""
    own = executor is None and len(chunks) > 1 and (os.cpu_count() or 1) > 1
    pool = ProcessPoolExecutor(max_workers=min(len(chunks), os.cpu_count() or 1)) if own else executor
    try:
        if pool is None:
            out = []
            for chunk in chunks:
                out.extend(_cells(chunk))
                bar.update(len(chunk))
            return out
        futures = {pool.submit(_cells, chunk): len(chunk) for chunk in chunks}
        for f in as_completed(futures):
            bar.update(futures[f])
        return [x for f in futures for x in f.result()]
    finally:
        if own:
            pool.shutdown()


def _labelled(items: Any, kind: type, what: str) -> dict[str, Any]:
    if isinstance(items, kind):
        items = [items]
    if isinstance(items, MappingType):
        if not items:
            raise MappingError(f"sweep: {what} is empty; give at least one {kind.__name__}")
        bad = next((k for k, v in items.items() if not isinstance(v, kind)), None)
        if bad is not None:
            raise MappingError(f"sweep: {what}[{bad!r:.80}] must be {_noun(kind)}, got {type(items[bad]).__name__}")
        return dict(items)
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise MappingError(f"sweep: {what} must be a {kind.__name__}, a list of them or a name → {kind.__name__} "
                           f"mapping, got {type(items).__name__}")
    if not items:
        raise MappingError(f"sweep: {what} is empty; give at least one {kind.__name__}")
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            raise MappingError(f"sweep: {what}[{i}] must be {_noun(kind)}, got {type(item).__name__}")
        name, k = item.name, 2
        while name in out:
            name, k = f"{item.name}#{k}", k + 1
        out[name] = item
    return out


def _noun(kind: type) -> str:
    return "an accel.Arch (e.g. accel.preset('h100'))" if kind is Arch else "a workloads.Cascade"


def _cells(chunk: Chunk) -> list[Exploration]:
    """The cells of one chunk, explored in a worker."""
    cells, (objective, dataflows, constraints, budget, seed, options) = chunk.cells, chunk.settings
    out = []
    for workload, arch in cells:
        x = explore(workload, arch, objective=objective, dataflows=dataflows, constraints=constraints,
                    budget=budget, seed=seed, options=options)
        out.append(dataclasses.replace(x, candidates=tuple(dataclasses.replace(c, result=None)
                                                           for c in x.candidates)))
    return out


def _row(workload: str, arch_label: str, arch: Arch, x: Exploration) -> dict[str, Any]:
    counts = {s: sum(c.status == s for c in x.candidates) for s in ("ok", "pruned", "infeasible", "unsupported")}
    describe = {"area_mm2": area.area_mm2(arch),
                "pes": sum(accel.pe_count(arch, u) for u in arch.units),
                "onchip_capacity_bytes": sum(lv.capacity_bytes * accel.instances(arch, lv.name)
                                             for lv in arch.levels[1:] if lv.capacity_bytes is not None),
                "dram_bytes_per_s": arch.levels[0].bandwidth_bytes_per_s}
    tally = {f"candidates_{s}": n for s, n in counts.items()}
    if x.best is None:
        reasons = sorted({f"{c.dataflow}: {c.reason}" for c in x.candidates if c.status != "ok"})
        return {"workload": workload, "arch": arch_label, "status": "unsupported", "reason": "; ".join(reasons[:6]),
                "dataflow": None, "params": {}, "latency_s": None, "energy_j": None, "edp": None,
                "onchip_bytes": None, **describe, **tally}
    best = next(c for c in x.candidates if c.status == "ok" and c.dataflow == x.best.dataflow
                and dict(c.params) == dict(x.best.mapping.params))
    return {"workload": workload, "arch": arch_label, "status": "ok", "reason": "", "dataflow": x.best.dataflow,
            "params": dict(x.best.mapping.params), "latency_s": x.best.latency_s, "energy_j": x.best.energy_j,
            "edp": x.best.latency_s * x.best.energy_j, "onchip_bytes": best.onchip_bytes, **describe, **tally}
