"""`sim.sweep`: `explore` over a workload × architecture grid — architecture parameter sweeps included — on any
`concurrent.futures.Executor`, as one table with Pareto fronts of latency, energy and area.

Each grid cell (one workload on one architecture) is one task: `explore` runs inside the worker, serially, and
sends back its `Exploration` (the candidates' full `Result`s are dropped to keep transfers small; `best` and
`pareto` keep theirs). The default executor is a local process pool (`os.cpu_count()` workers, at most one per
cell; a single cell runs in this process). A sweep that outgrows one machine runs on a Dask cluster unchanged:

    from dask.distributed import Client
    with Client("tcp://scheduler:8786") as client:          # or Client(LocalCluster(...))
        s = sim.sweep(workloads, archs, executor=client.get_executor())

The table is the same whatever the executor: rows are in grid order (workload-major) and every cell is
deterministic for its seed. Every cell searches the dataflows this process has (all registered ones by default):
built-in ones travel to workers by name (the worker imports their modules), others as `Dataflow` records, so
their functions must be importable in the worker.

Architecture sweeps: `arch_variants(base, array=[128, 256], buffer_bytes=[8 << 20, 16 << 20])` builds the grid
through the strict `accel.from_dict`; `sim.area` gives each architecture's area (PEs × area per PE + buffer bytes
× `sim.area.SRAM_UM2_PER_BYTE`).
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Mapping as MappingType, Sequence

import accel
from accel import Arch
from workloads import Cascade

from sim.bounds import area
from sim.dataflows.registry import Dataflow
from sim.search.exploration import Exploration, Table, explore, portable, progress_bar, resolve_dataflows

# ---- architecture variants -------------------------------------------------------------------------------------

ALIASES = ("array", "buffer_bytes", "dram_bytes_per_s", "sms", "clock_hz")


def arch_variants(base: Arch, axes: MappingType[str, Sequence] | None = None, **more: Sequence) -> list[Arch]:
    """Every combination of the axes' values applied to `base` (first axis slowest), each built by `from_dict`.

    Axes are aliases or field paths:
    - `array`: n or (rows, cols) — every unit with a 2-D PE array gets (rows, cols), every 1-D one (cols,);
    - `buffer_bytes`: the capacity of the first on-chip level that has one (FuseMax's global buffer, a GPU's L2);
    - `dram_bytes_per_s`: the outermost level's bandwidth (its measured ceiling, if any, scaled alike);
    - `sms`: the fan-out of the level above the SMs; levels below it, whose bandwidth is summed over their
      copies, and measured ceilings of units and levels below it scale alike;
    - `clock_hz`;
    - `"<level or unit>.<field>"`, e.g. `"GlobalBuffer.capacity_bytes"` or `"2d.pes"`.
    Variant names are `base/axis=value/...`.
    """
    grid = {**dict(axes or {}), **more}
    if not grid:
        return [base]
    names = list(grid)
    out = []
    for values in itertools.product(*(list(grid[n]) for n in names)):
        spec = accel.to_dict(base)
        label = [base.name]
        for name, value in zip(names, values):
            _apply(spec, name, value, base)
            label.append(f"{name}={_fmt(value)}")
        spec["name"] = "/".join(label)
        out.append(accel.from_dict(spec, path=f"variant {spec['name']}"))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _apply(spec: dict, name: str, value: Any, base: Arch) -> None:
    levels, units = spec["levels"], spec["units"]
    if name == "array":
        rows, cols = (value, value) if isinstance(value, int) else tuple(value)
        for u in units:
            if len(u["pes"]) == 2:
                u["pes"] = [rows, cols]
            elif len(u["pes"]) == 1 and any(len(v["pes"]) == 2 for v in units):
                u["pes"] = [cols]
        return
    if name == "buffer_bytes":
        lv = next((lv for lv in levels[1:] if lv["capacity_bytes"] is not None), None)
        if lv is None:
            raise accel.ArchError(f"arch {base.name}: no on-chip level with a capacity for buffer_bytes")
        lv["capacity_bytes"] = value
        return
    if name == "dram_bytes_per_s":
        outer = levels[0]
        _scale_measured(spec, [outer["name"]], value / outer["bandwidth_bytes_per_s"])
        outer["bandwidth_bytes_per_s"] = value
        return
    if name == "sms":
        k = next((k for k, lv in enumerate(levels) if lv.get("fanout", 1) > 1), None)
        if k is None:
            raise accel.ArchError(f"arch {base.name}: no level fans out to SMs (fanout > 1)")
        ratio = value / levels[k]["fanout"]
        levels[k]["fanout"] = value
        inner = [lv["name"] for lv in levels[k + 1:]]
        for lv in levels[k + 1:]:
            if lv["bandwidth_bytes_per_s"] is not None:
                lv["bandwidth_bytes_per_s"] *= ratio
        _scale_measured(spec, inner + [u["name"] for u in units if u["level"] in inner], ratio)
        return
    if name == "clock_hz":
        spec["clock_hz"] = value
        return
    head, _, field = name.partition(".")
    target = next((x for x in levels + units if x["name"] == head), None)
    if target is None or not field or field not in target:
        raise accel.ArchError(f"arch {base.name}: unknown sweep axis {name!r} (aliases: {', '.join(ALIASES)}; "
                              f"or '<level or unit>.<field>')")
    target[field] = list(value) if isinstance(value, tuple) else value


def _scale_measured(spec: dict, heads: list[str], ratio: float) -> None:
    spec["measured"] = {k: (v * ratio if k.split(".", 1)[0] in heads else v) for k, v in spec["measured"].items()}


# ---- the sweep -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sweep:
    table: Table                                  # one row per (workload, arch) cell, grid order
    explorations: tuple[Exploration, ...]         # the cells' explorations, same order

    @property
    def pareto(self) -> dict[str, tuple[dict, ...]]:
        """Per workload, the rows not dominated in (latency, energy, area), fastest first."""
        by_workload: dict[str, list[dict]] = {}
        for r in self.table.records():
            if r["status"] == "ok":
                by_workload.setdefault(r["workload"], []).append(r)
        return {w: tuple(front(rows, ("latency_s", "energy_j", "area_mm2"))) for w, rows in by_workload.items()}

    def __str__(self) -> str:
        lines = [f"sweep of {len(self.table)} cells"]
        for w, rows in self.pareto.items():
            lines.append(f"  {w}: Pareto front of {len(rows)} (latency, energy, area):")
            lines.extend(f"    {r['arch']}: {r['dataflow']} {r['latency_s'] * 1e3:.4g} ms, {r['energy_j'] * 1e3:.4g} mJ, "
                         f"{r['area_mm2']:.4g} mm²" for r in rows)
        return "\n".join(lines)


def front(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """Rows not dominated on `keys` (all minimized), sorted by them; equal points kept once (the first)."""
    points = sorted(({tuple(r[k] for k in keys): r for r in reversed(list(rows))}).items(), key=lambda kv: kv[0])
    out: list[tuple[tuple, dict]] = []
    for pt, r in points:
        if not any(all(q[i] <= pt[i] for i in range(len(keys))) for q, _ in out):
            out.append((pt, r))
    return [r for _, r in out]


def sweep(workloads: Cascade | Sequence[Cascade] | MappingType[str, Cascade],
          archs: Arch | Sequence[Arch] | MappingType[str, Arch], objective: str = "latency",
          dataflows: Sequence[str | Dataflow] | None = None, constraints: MappingType[str, Any] | None = None,
          budget: int | None = None, seed: int = 0, executor: Executor | None = None, progress: Any = None) -> Sweep:
    """`explore` every (workload, arch) cell on `executor` (default: a local process pool) and tabulate the best
    of each with its area. `progress`: None shows a bar on an interactive stderr; see `sim.explore.progress_bar`."""
    wl = _labelled(workloads, Cascade)
    ar = _labelled(archs, Arch)
    sendable = tuple(portable(df) for df in resolve_dataflows(dataflows))
    tasks = [(w, a, objective, sendable, dict(constraints or {}), budget, seed)
             for w in wl.values() for a in ar.values()]
    labels = [(wn, an) for wn in wl for an in ar]
    if progress is None:
        progress = sys.stderr.isatty() and len(tasks) > 1
    bar = progress_bar(progress, len(tasks), "sweep")
    own = executor is None and len(tasks) > 1 and (os.cpu_count() or 1) > 1
    pool = ProcessPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1)) if own else executor
    try:
        if pool is None:
            results = []
            for t in tasks:
                results.append(_cell(t))
                if bar is not None:
                    bar.update(1)
        else:
            futures: list[Future] = [pool.submit(_cell, t) for t in tasks]
            for f in as_completed(futures):
                if bar is not None:
                    bar.update(1)
            results = [f.result() for f in futures]
    finally:
        if own:
            pool.shutdown()
        if bar is not None:
            bar.close()
    rows = tuple(_row(wn, an, ar[an], x) for (wn, an), x in zip(labels, results))
    return Sweep(Table(rows), tuple(results))


def _labelled(items, kind) -> dict[str, Any]:
    if isinstance(items, kind):
        items = [items]
    if isinstance(items, MappingType):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        name = item.name
        k = 2
        while name in out:
            name, k = f"{item.name}#{k}", k + 1
        out[name] = item
    return out


def _cell(task: tuple) -> Exploration:
    """One grid cell, in a worker."""
    workload, arch, objective, dataflows, constraints, budget, seed = task
    x = explore(workload, arch, objective=objective, dataflows=dataflows, constraints=constraints, budget=budget,
                seed=seed)
    return dataclasses.replace(x, candidates=tuple(dataclasses.replace(c, result=None) for c in x.candidates))


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

