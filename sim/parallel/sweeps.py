"""`plan_sweep`: serve models under parallel plans on clusters of several sizes — every (model, cluster, plan) cell
— on any `concurrent.futures.Executor`, as one table. A plan a cluster or a model refuses (too many devices, a
degree that does not divide the heads, weights that do not fit) is a row with status "refused" and the reason.

Cells go out in chunks of consecutive cells, as `sim.sweep` sends its own (a local process pool by default, one
chunk in this process; `client.get_executor()` of a Dask `Client` runs it on a Dask cluster unchanged). Rows are
in grid order (model-major, then cluster, then plan) whatever the executor: every cell is deterministic.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Sequence

from accel import Cluster
from workloads import Model, model as zoo_model

from sim.ir import MappingError
from sim.ir.tasks import Chunk, cut
from sim.parallel.api import inference
from sim.parallel.plans import plan as parse_plan
from sim.parallel.result import ParallelResult

TASKS_PER_SWEEP = 64        # chunks a sweep is cut into at most (load balance vs. per-task overhead)
MAX_CELLS = 100_000         # cells refused beyond (each serves a model)


@dataclass(frozen=True)
class PlanSweep:
    """One row per (model, cluster, plan) cell in grid order."""
    rows: tuple[dict, ...]

    def best(self, model: str, key: str = "tokens_per_s") -> dict | None:
        """The served row of `model` with the largest `key` (None when every plan was refused)."""
        served = [r for r in self.rows if r["model"] == model and r["status"] == "ok"]
        return max(served, key=lambda r: r[key]) if served else None

    def __str__(self) -> str:
        lines = [f"plan sweep of {len(self.rows)} cells"]
        for r in self.rows:
            figure = (f"{r['tokens_per_s']:.4g} tokens/s, TPOT {r['tpot_s'] * 1e3:.4g} ms" if r["status"] == "ok"
                      else f"refused: {r['reason'][:120]}")
            lines.append(f"  {r['model']} on {r['cluster']} with {r['plan']}: {figure}")
        return "\n".join(lines)


def plan_sweep(models: Sequence[str | Model], clusters: Sequence[Cluster], plans: Sequence[Any], *, prompt: int,
               batch: int = 1, output_tokens: int = 2, executor: Executor | None = None,
               progress: Any = None) -> PlanSweep:
    """`sim.inference` of every (model, cluster, plan) cell on `executor` (see the module docstring)."""
    ms = [zoo_model(m) if isinstance(m, str) else m for m in _listed(models, "models")]
    if not all(isinstance(m, Model) for m in ms):
        raise MappingError("plan_sweep: models must be model names or workloads.Model records")
    cs = _listed(clusters, "clusters")
    if not all(isinstance(c, Cluster) for c in cs):
        raise MappingError("plan_sweep: clusters must be accel.Cluster records (e.g. accel.cluster('hgx-h100x8', "
                           "nodes=2))")
    ps = [parse_plan(p) for p in _listed(plans, "plans")]
    cells = [(m, c, p) for m in ms for c in cs for p in ps]
    if len(cells) > MAX_CELLS:
        raise MappingError(f"plan_sweep: {len(cells)} cells is over {MAX_CELLS}")
    request = (prompt, batch, output_tokens)
    chunks = cut(cells, request, TASKS_PER_SWEEP)
    show = progress if progress is not None else sys.stderr.isatty() and len(chunks) > 1
    return PlanSweep(tuple(_run(chunks, executor, bool(show))))


def _listed(items: Any, what: str) -> list:
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise MappingError(f"plan_sweep: {what} must be a non-empty list, got {type(items).__name__}")
    return list(items)


def _run(chunks: list[Chunk], executor: Executor | None, show: bool) -> list[dict]:
    own = executor is None and len(chunks) > 1 and (os.cpu_count() or 1) > 1
    pool = ProcessPoolExecutor(max_workers=min(len(chunks), os.cpu_count() or 1)) if own else executor
    try:
        if pool is None:
            return [row for chunk in chunks for row in _cells(chunk)]
        futures = [pool.submit(_cells, chunk) for chunk in chunks]
        for done, _ in enumerate(as_completed(futures), 1):
            if show:
                print(f"\rplan sweep: {done}/{len(futures)} chunks", end="", file=sys.stderr)
        return [row for f in futures for row in f.result()]
    finally:
        if own:
            pool.shutdown()


def _cells(chunk: Chunk) -> list[dict]:
    """One chunk's cells, served in a worker."""
    cells, (prompt, batch, output_tokens) = chunk.cells, chunk.settings
    return [_cell(m, c, p, prompt, batch, output_tokens) for m, c, p in cells]


def _cell(m: Model, c: Cluster, p, prompt: int, batch: int, output_tokens: int) -> dict:
    row = {"model": m.name, "cluster": c.name, "devices": c.size, "plan": str(p), "plan_devices": p.devices}
    try:
        run = inference(m, c, prompt=prompt, batch=batch, output_tokens=output_tokens, plan=p)
    except MappingError as err:
        return {**row, "status": "refused", "reason": str(err), "ttft_s": None, "tpot_s": None,
                "tokens_per_s": None, "memory_bytes": None, "exposed_s": None}
    exposed = run.prefill.exposed_s if isinstance(run.prefill, ParallelResult) else 0.0   # one device: none
    return {**row, "status": "ok", "reason": "", "ttft_s": run.ttft_s, "tpot_s": run.tpot_s,
            "tokens_per_s": run.tokens_per_s, "memory_bytes": run.memory.total_bytes, "exposed_s": exposed}
