"""`sim.explore`: search registered dataflows × their mapping parameters for the best mapping of a (workload,
architecture) pair, with the latency × energy × on-chip-bytes trade-offs around it.

The search knows dataflows only through their protocol (`supports`, `plan` with pinned params, `lower`):

1. **Space.** A dataflow named in `SPACES` gives its own space: either a list of param dicts to pin (a listed
   space) or a dict of param → values (axes). Otherwise the axes are derived from its default plan: each scalar
   param of `plan(...).params` gets alternatives (ints: powers of two from v/16 to 16·v, divisors of the cascade's
   sizes in that range when v divides the size, and 1…8 for small knobs; bools: both; strings: `CHOICES[param]`).
   Each alternative is first tried alone; only params whose pins the planner honours ("knobs") are combined, over
   the values that were feasible alone. Params pinned by `constraints` stay fixed.
2. **Search.** Every supporting dataflow's default mapping is evaluated first; then each dataflow's space, best
   default first, skipping (with a note) dataflows whose default is over `SCREEN_RATIO` × the best default's
   objective. A space of at most `EXHAUSTIVE_LIMIT` combinations is searched exhaustively. A larger one by
   coordinate descent from the default (each knob in turn over all its values, the others at the current best,
   until a round changes nothing), then `RANDOM_SAMPLES` seeded random combinations; a listed space that does not
   fit is sampled (seeded). `budget` (default `DEFAULT_BUDGET`) caps the candidates (distinct param settings) of
   the whole exploration, shared evenly between the dataflows (what one leaves unused passes to the next).
3. **Pruning.** Candidates are planned, sorted by a lower bound on the objective and evaluated in batches of
   `BATCH`. A candidate whose bound is above the incumbent's objective cannot beat it and is recorded as "pruned"
   with the bound. Two bounds, cheapest first: the roofline of the mapping's binding (`sim.roofline(...)`; energy:
   compulsory bytes × the outermost level's energy per byte), then, after lowering, the program's own bound (the
   busiest unit's total busy time, which no schedule can beat; energy is exact before scheduling). If a simulated
   result ever beats its roofline bound, roofline pruning is switched off for the rest of the run and a note says so.
4. **Memo.** Evaluations are memoized in-process by a SHA-256 of a canonical repr of (workload, arch, mapping,
   dataflow functions), so repeated explores and sweeps reuse them.

On-chip bytes (the Pareto front's third axis) are the mapping's working set: the peak bytes its tile program holds in
on-chip buffers with acquires and releases applied in program order, summed over buffers — the smallest buffers the
program runs in without deadlock (0 for a lowering that models no buffers).

Determinism: for a given seed the table is the same whatever the executor, because batches have a fixed size and
the incumbent only changes between batches. The best candidate is the smallest (objective, dataflow, params)
among the evaluated ones, so exhaustive and pruned searches agree whenever the bounds hold.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import math
import random
import sys
import time
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping as MappingType, Sequence

import numpy as np

import workloads
from accel import Arch
from workloads import Cascade

from sim.dataflows.registry import DATAFLOWS, Dataflow, dataflow as get_dataflow
from sim.engine.scheduler import _simulate_validated, _workload_totals
from sim.evaluation import account, energy_breakdown
from sim.ir.options import DEFAULT_OPTIONS
from sim.ir.mapping import Mapping, MappingError
from sim.ir.program import Program, validate
from sim.ir.result import Result
from sim.bounds.rooflines import roofline

OBJECTIVES = ("latency", "energy", "edp")
DEFAULT_BUDGET = 256        # candidates per exploration
EXHAUSTIVE_LIMIT = 64       # a dataflow's space up to this many candidates is searched exhaustively
RANDOM_SAMPLES = 16         # seeded random candidates after coordinate descent converges
SCREEN_RATIO = 2.0          # a dataflow whose default is over this × the best default's objective is not searched
BATCH = 16                  # candidates evaluated between incumbent updates (fixed, for determinism)
MEMO_SIZE = 4096            # memoized evaluations kept per process
STATUSES = ("ok", "pruned", "infeasible", "unsupported", "duplicate")

# Dataflow name → callable(cascade, arch) -> either a list of param dicts to pin (a listed space), or a dict of
# param → values to combine (axes; searched like a derived space). Preferred over the derived space.
SPACES: dict[str, Callable[[Cascade, Arch], list[dict[str, Any]]]] = {}
# Categorical param name → its values, for derived spaces.
CHOICES: dict[str, tuple[Any, ...]] = {}


# ---- records ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One row of an exploration: a dataflow with params, what happened to it, and its metrics."""
    dataflow: str
    params: MappingType[str, Any]
    status: str                              # one of STATUSES
    reason: str = ""                         # why unsupported/infeasible/pruned/duplicate
    latency_s: float | None = None
    energy_j: float | None = None
    onchip_bytes: int | None = None
    bound: float | None = None               # the lower bound on the objective that was checked (objective units)
    result: Result | None = field(default=None, repr=False, compare=False)

    @property
    def edp(self) -> float | None:
        return None if self.latency_s is None or self.energy_j is None else self.latency_s * self.energy_j

    def value(self, objective: str) -> float | None:
        return {"latency": self.latency_s, "energy": self.energy_j, "edp": self.edp}[objective]

    def record(self) -> dict[str, Any]:
        return {"dataflow": self.dataflow, "params": dict(self.params), "status": self.status, "reason": self.reason,
                "latency_s": self.latency_s, "energy_j": self.energy_j, "edp": self.edp,
                "onchip_bytes": self.onchip_bytes, "bound": self.bound}


@dataclass(frozen=True)
class Table:
    """Rows as plain records (dicts). `params` (a dict) is flattened to `param.<name>` columns in CSV."""
    rows: tuple[MappingType[str, Any], ...]

    def records(self) -> list[dict[str, Any]]:
        return [{k: (dict(v) if isinstance(v, MappingType) else v) for k, v in r.items()} for r in self.rows]

    def columns(self) -> list[str]:
        cols: list[str] = []
        params: set[str] = set()
        for r in self.rows:
            cols.extend(k for k in r if k != "params" and k not in cols)
            params.update(r.get("params", {}))
        return cols + [f"param.{p}" for p in sorted(params)]

    def to_csv(self, path) -> None:
        cols = self.columns()
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(cols)
            for r in self.rows:
                flat = {**{k: v for k, v in r.items() if k != "params"},
                        **{f"param.{k}": v for k, v in r.get("params", {}).items()}}
                writer.writerow(["" if flat.get(c) is None else _cell(flat[c]) for c in cols])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.records())

    def __str__(self) -> str:
        counts = {s: sum(r.get("status") == s for r in self.rows) for s in STATUSES}
        return f"table of {len(self.rows)} rows: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def _cell(v: Any) -> str:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


@dataclass(frozen=True)
class Exploration:
    workload: str
    arch: str
    objective: str
    best: Result | None                      # None when no candidate could run (the table says why)
    pareto: tuple[Result, ...]               # non-dominated in latency × energy × on-chip bytes, fastest first
    candidates: tuple[Candidate, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def table(self) -> Table:
        return Table(tuple(c.record() for c in self.candidates))

    def __str__(self) -> str:
        head = f"explore {self.workload} on {self.arch} ({self.objective}): {Table.__str__(self.table)}"
        if self.best is None:
            reasons = sorted({f"{c.dataflow}: {c.reason}" for c in self.candidates if c.status != "ok"})
            return "\n".join([head, "  nothing runs:", *(f"    {r}" for r in reasons[:12])])
        lines = [head, f"  best: {self.best.dataflow} "
                 + ", ".join(f"{k}={v}" for k, v in sorted(self.best.mapping.params.items())),
                 *("  " + line for line in str(self.best).splitlines()),
                 f"  pareto ({len(self.pareto)}): " + "; ".join(
                     f"{r.dataflow} {r.latency_s * 1e3:.4g} ms {r.energy_j * 1e3:.4g} mJ" for r in self.pareto[:6])]
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


# ---- canonical content hashes ------------------------------------------------------------------------------------

def canonical(x: Any) -> str:
    """A canonical text of frozen data (dataclasses, mappings sorted by key, sequences, numbers, arrays)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return f"{type(x).__qualname__}(" + ",".join(
            f"{f.name}={canonical(getattr(x, f.name))}" for f in dataclasses.fields(x)) + ")"
    if isinstance(x, MappingType):
        return "{" + ",".join(sorted(f"{canonical(k)}:{canonical(v)}" for k, v in x.items())) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in x) + "]"
    if isinstance(x, (set, frozenset)):
        return "{" + ",".join(sorted(canonical(v) for v in x)) + "}"
    if isinstance(x, np.ndarray):
        return f"array({x.dtype},{x.shape},{hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()})"
    if isinstance(x, np.generic):
        return repr(x.item())
    if callable(x):
        return f"{getattr(x, '__module__', '?')}.{getattr(x, '__qualname__', repr(x))}"
    return repr(x)


def content_hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(canonical(p).encode())
        h.update(b"\0")
    return h.hexdigest()


# ---- evaluation of one candidate (runs in a worker when an executor is given) --------------------------------------

_MEMO: OrderedDict[str, tuple] = OrderedDict()


def onchip_bytes(program: Program) -> int:
    """Peak bytes held per buffer with acquires and releases applied in program order, summed over buffers."""
    held = np.zeros(len(program.buffers), np.int64)
    peak = np.zeros(len(program.buffers), np.int64)
    for seg in program.segments:
        acq_op = np.repeat(np.arange(seg.n_ops), np.diff(seg.acq_ptr))
        rel_op = np.repeat(np.arange(seg.n_ops), np.diff(seg.rel_ptr))
        key = np.concatenate([acq_op * 2, rel_op * 2 + 1])
        order = np.argsort(key, kind="stable")
        buf = np.concatenate([seg.acq_buf, seg.rel_buf]).astype(np.int64)[order]
        delta = np.concatenate([seg.acq_amount, -seg.rel_amount])[order]
        for b in np.unique(buf):
            d = delta[buf == b]
            top, net = int(np.cumsum(d).max()), int(d.sum())
            peak[b] = max(peak[b], held[b] + top + max(0, (seg.repeat - 1) * net))
            held[b] += net * seg.repeat
    return int(peak.sum())


def _objective(objective: str, latency: float, energy: float) -> float:
    return {"latency": latency, "energy": energy, "edp": latency * energy}[objective]


def evaluate_mapping(df: Dataflow, workload: Cascade, arch: Arch, mapping: Mapping, objective: str = "latency",
                     incumbent: float | None = None, key: str | None = None) -> tuple:
    """Lower, bound, and (unless the bound cannot beat `incumbent`) simulate one mapping.

    Returns ("ok", result, onchip, bound) | ("pruned", reason, onchip, bound) | ("infeasible", reason, None, None),
    the same whether or not the memo (keyed by `key`) already knew the mapping.
    """
    memo = _MEMO.get(key) if key is not None else None
    if memo is None:
        memo = _lower_and_bound(df, workload, arch, mapping)
    if memo[0] == "infeasible":
        _remember(key, memo)
        return memo
    status, payload, onchip, (latency_lb, energy) = memo
    bound = _objective(objective, latency_lb, energy)
    if incumbent is not None and bound > incumbent:
        _remember(key, (status, payload if status == "ok" else None, onchip, (latency_lb, energy)))
        return ("pruned", "program bound (busiest unit) cannot beat the incumbent", onchip, bound)
    if status != "ok":
        try:
            lowered = payload if payload is not None else df.lower(workload, arch, mapping, DEFAULT_OPTIONS)
            run = _simulate_validated(lowered.program, extrapolate=True, trace=False)
            payload = account(workload, arch, mapping, lowered, run)
        except ValueError as e:      # e.g. a buffer deadlock found while scheduling
            memo = ("infeasible", f"{type(e).__name__}: {e}", None, None)
            _remember(key, memo)
            return memo
    _remember(key, ("ok", payload, onchip, (latency_lb, energy)))
    return ("ok", payload, onchip, bound)


def _lower_and_bound(df: Dataflow, workload: Cascade, arch: Arch, mapping: Mapping) -> tuple:
    """("lowered", Lowered, onchip, (latency bound, energy)) or ("infeasible", reason, None, None)."""
    try:
        lowered = df.lower(workload, arch, mapping, DEFAULT_OPTIONS)
        program = lowered.program
        validate(program)
        busy, level_bytes, _ = _workload_totals(program)
        latency_lb = float(busy.max(initial=0)) / program.ticks_per_cycle / arch.clock_hz
        energy = sum(energy_breakdown(arch, lowered.actions, dict(zip(program.levels, level_bytes))).values())
        return ("lowered", lowered, onchip_bytes(program), (latency_lb, energy))
    except ValueError as e:          # MappingError, ProgramError, ArchError: this candidate cannot run
        return ("infeasible", f"{type(e).__name__}: {e}", None, None)


def _remember(key: str | None, outcome: tuple) -> None:
    if key is not None:
        _MEMO[key] = outcome
        _MEMO.move_to_end(key)
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)


def _evaluate_task(task: tuple) -> tuple:
    df, *rest = task
    return evaluate_mapping(get_dataflow(df) if isinstance(df, str) else df, *rest)


def portable(df: Dataflow) -> str | Dataflow:
    """What to send to a worker: the name of a dataflow registered by a module of `sim` (the worker imports it
    by name; their closures do not pickle), else the record itself (its functions must be importable there)."""
    return df.name if DATAFLOWS.get(df.name) is df and getattr(df.lower, "__module__", "").startswith("sim.") else df


# ---- progress ----------------------------------------------------------------------------------------------------

class TextBar:
    """A tiny progress bar on stderr (used when tqdm is not installed)."""

    def __init__(self, total: int | None, label: str, stream=None) -> None:
        self.total, self.label, self.stream, self.done, self.start = total, label, stream or sys.stderr, 0, time.time()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.total:
            filled = int(30 * self.done / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done}"
        self.stream.write(f"\r{self.label} {bar} {time.time() - self.start:.1f}s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def progress_bar(progress: Any, total: int | None, label: str):
    """An object with update(n)/close(): None/False → none; True → tqdm if installed, else TextBar; a callable is
    called as progress(done, total, label); an object with update/close is used as is."""
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm import tqdm
            return tqdm(total=total, desc=label)
        except ImportError:
            return TextBar(total, label)
    if hasattr(progress, "update") and hasattr(progress, "close"):
        return progress
    if callable(progress):
        return _CallbackBar(progress, total, label)
    raise TypeError(f"progress must be None, a bool, a callable or a bar with update/close, got {progress!r}")


@dataclass
class _CallbackBar:
    fn: Callable[[int, int | None, str], Any]
    total: int | None
    label: str
    done: int = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        self.fn(self.done, self.total, self.label)

    def close(self) -> None:
        pass


# ---- the search ----------------------------------------------------------------------------------------------------

def explore(workload: Cascade, arch: Arch, objective: str = "latency",
            dataflows: Sequence[str | Dataflow] | None = None, constraints: MappingType[str, Any] | None = None,
            budget: int | None = None, seed: int = 0, executor: Executor | None = None,
            progress: Any = None) -> Exploration:
    """Search dataflows × mapping params for the best `objective` ("latency", "energy" or "edp"); see the module
    docstring. `executor` evaluates each batch of candidates in parallel (default: in this process)."""
    if objective not in OBJECTIVES:
        raise MappingError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    budget = DEFAULT_BUDGET if budget is None else budget
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise MappingError(f"budget must be a positive number of candidates, got {budget!r}")
    started = time.perf_counter()
    search = _Search(workload, arch, objective, dict(constraints or {}), seed, executor,
                     progress_bar(progress, None, f"explore {workload.name} on {arch.name}"))
    dfs = resolve_dataflows(dataflows)
    supported = []
    for df in dfs:
        reason = df.supports(workload, arch)
        if reason is None:
            supported.append(df)
        else:
            search.rows.append(Candidate(df.name, {}, "unsupported", reason))
    # Every default first (a strong incumbent early), then each dataflow's space, best default first.
    firsts = {df.name: search.begin(df, budget) for df in supported}
    supported.sort(key=lambda df: (search.value_of(firsts[df.name]), df.name))
    best_default = min((search.value_of(f) for f in firsts.values()), default=math.inf)
    searched = [df for df in supported if search.value_of(firsts[df.name]) <= SCREEN_RATIO * best_default]
    for df in supported:
        if df not in searched and firsts[df.name] is not None and firsts[df.name].mapping is not None:
            search.notes.append(f"{df.name}: space not searched, its default is over {SCREEN_RATIO:g}× the best "
                                f"default's {objective}")
    for k, df in enumerate(searched):
        left = budget - sum(search.spent.values())
        search.dataflow(df, search.spent[df.name] + max(0, left // (len(searched) - k)), firsts[df.name])
    if search.bar is not None:
        search.bar.close()
    return search.finish(time.perf_counter() - started)


def resolve_dataflows(dataflows: Sequence[str | Dataflow] | None) -> list[Dataflow]:
    """Dataflow records for names (or records); None = every registered dataflow, by name."""

    if dataflows is None:
        return [DATAFLOWS[n] for n in sorted(DATAFLOWS)]
    if isinstance(dataflows, (str, Dataflow)):
        dataflows = [dataflows]
    return [d if isinstance(d, Dataflow) else get_dataflow(d) for d in dataflows]


@dataclass
class _Planned:
    order: int
    params: dict[str, Any]           # what the row shows (the mapping's params, or the requested pins)
    mapping: Mapping | None
    key: str | None = None
    bound: float | None = None       # roofline-level bound on the objective
    roof_latency: float | None = None
    roof_energy: float | None = None
    requested: dict[str, Any] = field(default_factory=dict)


class _Search:
    def __init__(self, workload, arch, objective, constraints, seed, executor, bar) -> None:
        self.workload, self.arch, self.objective, self.constraints = workload, arch, objective, constraints
        self.seed, self.executor, self.bar = seed, executor, bar
        self.rows: list[Candidate] = []
        self.spent: dict[str, int] = {}
        self.requested: dict[str, set[str]] = {}     # dataflow → canonical pins already planned
        self.incumbent: tuple | None = None      # (value, dataflow, params text)
        self.trust_roofline = True
        self.notes: list[str] = []
        self.seen_mappings: dict[str, int] = {}  # mapping key → row index
        self.base_key = content_hash(workload, arch)
        self._roofs: dict[str, tuple[float, str] | None] = {}
        outer = arch.levels[0]
        self.energy_floor = (workloads.compulsory_bytes(workload) * min(outer.read_energy_pj_per_byte,
                                                                        outer.write_energy_pj_per_byte) * 1e-12)

    # -- per dataflow
    def begin(self, df: Dataflow, share: int) -> "_Planned | None":
        """Plan and evaluate the dataflow's default mapping (no pins beyond the constraints)."""
        self.spent[df.name] = 0
        self.requested[df.name] = set()
        (first,) = self.run(df, [{}], share, prune=False).values() or (None,)   # screening needs its value
        return first

    def value_of(self, p: "_Planned | None") -> float:
        if p is None or self.rows[p.order].status != "ok":
            return math.inf
        return self.rows[p.order].value(self.objective)

    def dataflow(self, df: Dataflow, share: int, first: "_Planned | None") -> None:
        if first is None or first.mapping is None:
            return
        space = SPACES[df.name](self.workload, self.arch) if df.name in SPACES else None
        if isinstance(space, MappingType) or space is None:
            self._axes_space(df, share, space, first)
        else:
            self._listed_space(df, share, space)

    def _listed_space(self, df: Dataflow, share: int, space: list[dict]) -> None:
        space = [dict(p) for p in space
                 if not any(k in self.constraints and self.constraints[k] != v for k, v in p.items())]
        room = share - self.spent[df.name]
        self.run(df, space if len(space) <= room else random.Random(self._seed(df)).sample(space, room), share)

    def _axes_space(self, df: Dataflow, share: int, axes: MappingType[str, Sequence] | None,
                    first: "_Planned") -> None:
        default = {k: v for k, v in first.mapping.params.items() if k not in self.constraints}
        if axes is None:
            values = {k: alternatives(k, v, self.workload) for k, v in sorted(default.items())}
        else:   # the listed values of each axis, plus the planner's default
            values = {k: sorted(set(vs) | {default[k]}, key=_order) for k, vs in sorted(axes.items())
                      if k in default}
        probes = [(k, alt) for k, vs in values.items() for alt in vs if alt != default[k]]
        probed = self.run(df, [{k: alt} for k, alt in probes], share)
        # A knob is a param whose pin the planner honours for some alternative; values that fail alone are dropped.
        feasible = {k: [v for v in vs if v == default[k]
                        or getattr(probed.get(canonical({k: v})), "mapping", None) is not None]
                    for k, vs in values.items()}
        knobs = {k: vs for k, vs in feasible.items() if len(vs) > 1}
        names = sorted(knobs)
        base = {k: default[k] for k in names}
        # The default and the probes, written as full knob assignments, are already done.
        seen = self.requested[df.name]
        seen.add(canonical(base))
        seen.update(canonical({**base, k: alt}) for k, alt in probes if k in knobs)
        size = math.prod(len(knobs[k]) for k in names)
        if size <= EXHAUSTIVE_LIMIT:
            self.run(df, [dict(zip(names, vs)) for vs in itertools.product(*(knobs[k] for k in names))], share)
            return
        current = dict(base)
        changed = True
        while changed and self.spent[df.name] < share:
            changed = False
            for k in names:
                self.run(df, [{**current, k: v} for v in knobs[k]], share)
                best = self._best_params(df)
                if best is not None and all(n in best for n in names) and any(best[n] != current[n] for n in names):
                    current = {n: best[n] for n in names}
                    changed = True
        rng = random.Random(self._seed(df))
        for _ in range(4):
            room = min(share, self.spent[df.name] + RANDOM_SAMPLES) - self.spent[df.name]
            if room <= 0:
                break
            self.run(df, [{k: rng.choice(knobs[k]) for k in names} for _ in range(room)],
                     self.spent[df.name] + room)

    def _seed(self, df: Dataflow) -> int:
        return int.from_bytes(hashlib.sha256(f"{self.seed}:{df.name}".encode()).digest()[:8], "little")

    @staticmethod
    def _honoured(p: "_Planned", pins: MappingType[str, Any]) -> bool:
        return p.mapping is not None and all(p.mapping.params.get(k) == v for k, v in pins.items())

    def _best_params(self, df: Dataflow) -> dict | None:
        ok = [c for c in self.rows if c.dataflow == df.name and c.status == "ok"]
        if not ok:
            return None
        return dict(min(ok, key=lambda c: (c.value(self.objective), canonical(c.params))).params)

    # -- planning, bounding, evaluating one list of requested pins
    def run(self, df: Dataflow, requests: Iterable[dict], share: int, prune: bool = True) -> dict[str, _Planned]:
        """Plan the requests not seen before (within the share), bound them, evaluate them in batches."""
        planned: list[_Planned] = []
        for req in requests:
            text = canonical(req)
            if text in self.requested[df.name]:
                continue
            if self.spent[df.name] >= share:
                break
            self.requested[df.name].add(text)
            self.spent[df.name] += 1
            planned.append(self._plan(df, req))
        live = [p for p in planned if p.mapping is not None and p.key is not None]
        live.sort(key=lambda p: (p.bound if p.bound is not None else -1.0, p.order))
        for start in range(0, len(live), BATCH):
            self._batch(df, live[start:start + BATCH], prune)
        if self.bar is not None:
            self.bar.update(len(planned))
        return {canonical(p.requested): p for p in planned}

    def _plan(self, df: Dataflow, req: dict) -> _Planned:
        order = len(self.rows)
        pins = {**self.constraints, **req}
        try:
            mapping = df.plan(self.workload, self.arch, pins)
        except ValueError as e:
            self.rows.append(Candidate(df.name, req, "infeasible", f"{type(e).__name__}: {e}"))
            return _Planned(order, req, None, requested=req)
        bad = [k for k, v in req.items() if mapping.params.get(k) != v]
        if bad:
            k = bad[0]
            self.rows.append(Candidate(df.name, req, "infeasible",
                                       f"plan did not honour {k}={req[k]!r} (gave {mapping.params.get(k)!r})"))
            return _Planned(order, req, None, requested=req)
        params = dict(mapping.params)
        key = content_hash(self.base_key, mapping, df.lower)
        if key in self.seen_mappings:
            first = self.rows[self.seen_mappings[key]]
            self.rows.append(dataclasses.replace(first, params=params, status="duplicate" if first.status == "ok"
                                                 else first.status,
                                                 reason=f"same mapping as row {self.seen_mappings[key]}"
                                                 + (f" ({first.reason})" if first.reason else "")))
            return _Planned(order, params, mapping, requested=req)
        self.seen_mappings[key] = order
        latency, energy = self._roofline(mapping), self.energy_floor
        self.rows.append(Candidate(df.name, params, "pending"))
        return _Planned(order, params, mapping, key, _objective(self.objective, latency, energy), latency, energy,
                        requested=req)

    def _roofline(self, mapping: Mapping) -> float:
        binding = canonical(mapping.binding)
        if binding not in self._roofs:
            try:
                self._roofs[binding] = roofline(self.workload, self.arch, binding=dict(mapping.binding)).lower_bound_s
            except ValueError:
                try:
                    self._roofs[binding] = roofline(self.workload, self.arch).lower_bound_s
                except ValueError:
                    self._roofs[binding] = 0.0
        return self._roofs[binding]

    def _batch(self, df: Dataflow, batch: list[_Planned], prune: bool) -> None:
        incumbent = None if self.incumbent is None or not prune else self.incumbent[0]
        tasks, todo = [], []
        for p in batch:
            if self.trust_roofline and incumbent is not None and p.bound > incumbent:
                self.rows[p.order] = Candidate(df.name, p.params, "pruned", "roofline bound cannot beat the incumbent",
                                               bound=p.bound)
                continue
            tasks.append((portable(df) if self.executor is not None else df, self.workload, self.arch, p.mapping,
                          self.objective, incumbent, p.key))
            todo.append(p)
        if self.executor is None or len(tasks) < 2:
            outcomes = [_evaluate_task(t) for t in tasks]
        else:
            outcomes = list(self.executor.map(_evaluate_task, tasks))
        for p, (status, payload, onchip, bound) in zip(todo, outcomes):
            if status == "ok":
                r: Result = payload
                self.rows[p.order] = Candidate(df.name, p.params, "ok", "", r.latency_s, r.energy_j, onchip, bound, r)
                self._audit(df, p, r)
                value = _objective(self.objective, r.latency_s, r.energy_j)
                entry = (value, df.name, canonical(p.params))
                if self.incumbent is None or entry < self.incumbent:
                    self.incumbent = entry
            elif status == "pruned":
                self.rows[p.order] = Candidate(df.name, p.params, "pruned", payload, onchip_bytes=onchip, bound=bound)
            else:
                self.rows[p.order] = Candidate(df.name, p.params, "infeasible", payload)

    def _audit(self, df: Dataflow, p: _Planned, r: Result) -> None:
        rel = 1e-9
        if self.trust_roofline and (r.latency_s < p.roof_latency * (1 - rel) or r.energy_j < p.roof_energy * (1 - rel)):
            self.trust_roofline = False
            self.notes.append(f"{df.name} {dict(p.params)} beat its roofline bound ({r.latency_s:.4g} s < "
                              f"{p.roof_latency:.4g} s or {r.energy_j:.4g} J < {p.roof_energy:.4g} J); roofline "
                              f"pruning switched off from here on")

    def finish(self, seconds: float) -> Exploration:
        ok = [c for c in self.rows if c.status == "ok"]
        best = min(ok, key=lambda c: (c.value(self.objective), c.dataflow, canonical(c.params))) if ok else None
        return Exploration(self.workload.name, self.arch.name, self.objective, best.result if best else None,
                           tuple(c.result for c in pareto(ok)), tuple(self.rows), tuple(self.notes), seconds)


def pareto(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Non-dominated candidates over (latency, energy, on-chip bytes), fastest first; identical points kept once."""
    points = sorted({(c.latency_s, c.energy_j, c.onchip_bytes or 0): c for c in reversed(candidates)}.items())
    front: list[tuple[tuple, Candidate]] = []
    for pt, c in points:
        if not any(all(q[i] <= pt[i] for i in range(3)) for q, _ in front):
            front.append((pt, c))
    return [c for _, c in front]


def alternatives(name: str, value: Any, workload: Cascade) -> list[Any]:
    """The values tried for one param of a derived space (see the module docstring)."""
    if isinstance(value, bool):
        return [value, not value]
    if isinstance(value, str):
        choices = list(CHOICES.get(name, ()))
        return choices if value in choices else [value, *choices]
    if isinstance(value, (int, np.integer)) and value > 0:
        v = int(value)
        lo, hi = max(1, v // 16), v * 16
        vals = {v} | {1 << i for i in range(hi.bit_length()) if lo <= 1 << i <= hi}
        if v <= 8:
            vals.update(range(1, 9))
        for s in set(workload.sizes.values()):
            if s % v == 0:
                vals.update(d for d in _divisors(s) if lo <= d <= hi)
        return sorted(vals)
    return [value]


def _order(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, repr(v))


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


# ---- spaces of the built-in dataflows (used only when a dataflow of that name is registered) -------------------------

def _gpu_attention(*, warps: bool = False, splits: bool = False):
    def axes(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
        space = {"q_tile": (64, 128, 256), "kv_tile": (32, 64, 128, 256), "stages": (1, 2, 3, 4),
                 "ctas_per_sm": (1, 2, 3, 4)}
        if warps:
            space["warps"] = (4, 8)
        if splits:   # decode: few query rows per CTA, the KV length split over CTAs
            space["q_tile"] = (16, 32, 64, 128)
            space["splits"] = (1, 2, 4, 8, 16, 32, 64, 128)
        return space
    return axes


def _gpu_gemm(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
    # Small tiles multiply the CTAs the lowering walks (slow) and never win on large GEMMs.
    return {"tile_m": (128, 256), "tile_n": (128, 256), "tile_k": (32, 64), "stages": (2, 3, 4),
            "ctas_per_sm": (1, 2), "cluster": (1, 2)}


SPACES.update({
    "flash2": _gpu_attention(warps=True), "flash3": _gpu_attention(), "cudnn": _gpu_attention(),
    "flash-decoding": _gpu_attention(splits=True), "mla-decode": _gpu_attention(splits=True),
    "gna": lambda c, a: {"stages": (1, 2, 3, 4), "ctas_per_sm": (1, 2, 3, 4)},
    "gemm": _gpu_gemm, "gpu-unfused": _gpu_gemm,
})


def _array_cols(arch: Arch) -> int:
    return max((u.pes[-1] for u in arch.units if len(u.pes) == 2), default=1)


def _spatial_1pass(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
    # Query block size (in M0-row subtiles) and the interleaving lookahead; `fill_drain` (a hardware fact) and
    # `group` (the simulation's tile grouping) are not mapping choices.
    n_sub = max(1, cascade.sizes.get("M", 1) // min(_array_cols(arch), cascade.sizes.get("M", 1)))
    return {"M1": tuple(_divisors(n_sub)), "lookahead": (1, 2, 4, 8)}


def _spatial_3pass(cascade: Cascade, arch: Arch) -> dict[str, tuple]:
    m = cascade.sizes.get("M", 1)
    m0 = min(_array_cols(arch), m)
    return {"rows": tuple(m0 << i for i in range(40) if m0 << i <= m)}   # query rows per fused block


SPACES.update({"fusemax": _spatial_1pass, "fusemax-arch": _spatial_1pass, "fusemax-cascade": _spatial_1pass,
               "flat": _spatial_3pass, "unfused": _spatial_3pass})
