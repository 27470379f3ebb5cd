"""`sim.explore`: the one place a mapping search happens — registered dataflows × their own search spaces, for the
best mapping of a (workload, architecture) pair and the latency × energy × on-chip-bytes trade-offs around it.

The search knows dataflows only through their protocol (`supports`, `plan` with pinned params, `lower`, `space`):

1. **Defaults.** Every supporting dataflow's default plan is simulated (a strong incumbent early).
2. **Screening.** Dataflows are searched best default first; one whose default is over `SCREEN_RATIO` × the best
   objective found so far is not searched further (a note says so).
3. **Spaces.** Each searched dataflow's space (`sim.search.spaces`: its registered `space`, else axes derived from
   its default plan) is tried exhaustively when small, else by steepest descent (`sim.search.strategy`).
   `budget` caps the candidates (distinct requests) of the whole exploration, shared evenly between the searched
   dataflows (what one leaves unused passes to the next).
4. **Pruning and memo.** Candidates are bounded before they are simulated and evaluated in fixed batches
   (`sim.search.trials`); evaluations are memoized per process (`sim.search.candidates`).

On-chip bytes (the Pareto front's third axis) are the mapping's working set: the peak bytes its program holds in
on-chip buffers, in program order, summed over buffers (0 for a lowering that models no buffers).

Determinism: the table is the same whatever the executor. The best is the smallest (objective, dataflow, params)
among the simulated candidates, so exhaustive and pruned searches agree whenever the bounds hold.
"""
from __future__ import annotations

import time
from concurrent.futures import Executor
from typing import Any, Mapping as MappingType, Sequence

import numpy as np

from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import DATAFLOWS, Dataflow, dataflow as get_dataflow
from sim.ir.mapping import MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.search.pareto import pareto
from sim.search.progress import progress_bar
from sim.search.records import OBJECTIVES, Candidate, Exploration, params_key
from sim.search.strategy import search_space
from sim.search.trials import Trials

DEFAULT_BUDGET = 256        # candidates per exploration
# A dataflow whose default is over this × the best found so far is not searched. Measured by exhaustive search of
# the registered spaces (Llama-3-8B prefill at 2K and 8K, BERT-like MHA at 4K, GQA decode at 32K, on h100): the
# winning dataflow's default was always within 1.2× of the best default; a dataflow's own search gained at most
# 1.7× over its default (FlashAttention-2 on decode, still 9× behind flash-decoding).
SCREEN_RATIO = 1.5


def explore(workload: Cascade, arch: Arch, objective: str = "latency",
            dataflows: Sequence[str | Dataflow] | None = None, constraints: MappingType[str, Any] | None = None,
            budget: int | None = None, seed: int = 0, executor: Executor | None = None,
            progress: Any = None, *, options: Options | None = None) -> Exploration:
    """Search dataflows × mapping params for the least `objective` ("latency", "energy" or "edp"); see the module
    docstring. `dataflows`: names or records (default: every registered dataflow with `searched=True`);
    `constraints` pin params in every candidate; `executor` evaluates each batch of candidates in parallel;
    `progress`: see `sim.search.progress`; `options`: the simulation options of every evaluation. `seed` is kept
    for compatibility: the search is deterministic and draws nothing at random."""
    budget, constraints, options = _checked(workload, arch, objective, budget, constraints, options)
    check_run_settings(seed, executor)
    started = time.perf_counter()
    bar = progress_bar(progress, None, f"explore {workload.name} on {arch.name}")
    trials = Trials(workload, arch, objective, constraints, options, executor, bar)
    supported = []
    for df in resolve_dataflows(dataflows):
        reason = df.supports(workload, arch)
        if reason is None:
            supported.append(df)
        else:
            trials.rows.append(Candidate(df.name, {}, "unsupported", reason))
    defaults = {}
    for df in supported:
        trials.run(df, [{}], budget, prune=False)
        defaults[df.name] = trials.row_of(df, {})
    _search_spaces(trials, supported, defaults, budget)
    bar.close()
    return _finish(trials, time.perf_counter() - started)


def _checked(workload, arch, objective, budget, constraints, options) -> tuple[int, dict, Options]:
    if not isinstance(workload, Cascade):
        raise MappingError(f"explore: workload must be a workloads.Cascade, got {type(workload).__name__} "
                           f"(build one with workloads.attention(...) or workloads.cascade(...))")
    if not isinstance(arch, Arch):
        raise MappingError(f"explore: arch must be an accel.Arch, got {type(arch).__name__} "
                           f"(e.g. accel.preset('h100'))")
    if objective not in OBJECTIVES:
        raise MappingError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    budget = DEFAULT_BUDGET if budget is None else budget
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise MappingError(f"budget must be a positive number of candidates, got {budget!r:.80}")
    budget = int(budget)
    if constraints is not None and not isinstance(constraints, MappingType):
        raise MappingError(f"explore: constraints must be a mapping of mapping parameter to value, "
                           f"got {type(constraints).__name__}")
    options = DEFAULT_OPTIONS if options is None else options
    if not isinstance(options, Options):
        raise MappingError(f"explore: options must be sim.Options, got {type(options).__name__}")
    return budget, dict(constraints or {}), options


def check_run_settings(seed: Any, executor: Any) -> None:
    """Refuse a seed that is not an integer and an executor that is not a `concurrent.futures.Executor`."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise MappingError(f"seed must be an integer, got {seed!r:.80}")
    if executor is not None and not isinstance(executor, Executor):
        raise MappingError(f"executor must be a concurrent.futures.Executor (a process pool, or a Dask "
                           f"client.get_executor()), got {type(executor).__name__}")


def _search_spaces(trials: Trials, supported: list[Dataflow], defaults: dict[str, int | None], budget: int) -> None:
    """Search each dataflow's space, best default first, skipping those the screening rules out."""
    values = {df.name: trials.value(defaults[df.name]) for df in supported}
    order = sorted((df for df in supported if values[df.name] is not None), key=lambda df: (values[df.name], df.name))
    for k, df in enumerate(order):
        if values[df.name] > SCREEN_RATIO * trials.incumbent[0]:
            trials.notes.append(f"{df.name}: space not searched, its default is over {SCREEN_RATIO:g}× the best "
                                f"{trials.objective} found before it")
            continue
        left = budget - sum(trials.spent.values())
        share = trials.spent.get(df.name, 0) + max(0, left // (len(order) - k))
        search_space(trials, df, share, defaults[df.name])


def _finish(trials: Trials, seconds: float) -> Exploration:
    ok = [c for c in trials.rows if c.status == "ok"]
    best = min(ok, key=lambda c: (c.value(trials.objective), c.dataflow, params_key(c.params)), default=None)
    front = pareto(ok, key=lambda c: (c.latency_s, c.energy_j, c.onchip_bytes or 0))
    return Exploration(trials.workload.name, trials.arch.name, trials.objective, best.result if best else None,
                       tuple(c.result for c in front), tuple(trials.rows), tuple(trials.notes), seconds)


def resolve_dataflows(dataflows: Sequence[str | Dataflow] | None) -> list[Dataflow]:
    """Dataflow records for names (or records); None = every registered dataflow with `searched=True`, by name."""
    if dataflows is None:
        return [DATAFLOWS[n] for n in sorted(DATAFLOWS) if DATAFLOWS[n].searched]
    if isinstance(dataflows, (str, Dataflow)):
        dataflows = [dataflows]
    if not isinstance(dataflows, Sequence):
        raise MappingError(f"dataflows must be a list of dataflow names or records, got {type(dataflows).__name__}")
    if not dataflows:
        raise MappingError(f"dataflows is empty: name at least one (registered: {', '.join(sorted(DATAFLOWS))}) "
                           f"or pass None for every searched one")
    out = []
    for d in dataflows:
        if not isinstance(d, (str, Dataflow)):
            raise MappingError(f"dataflows: each item must be a dataflow name or record, got {type(d).__name__}")
        out.append(d if isinstance(d, Dataflow) else get_dataflow(d))
    return out
