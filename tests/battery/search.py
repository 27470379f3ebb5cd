"""Bad requests to the search (`sim.explore`, `sim.sweep`, the Pareto front, the table, and `sim.arch_variants`,
which is `accel.variants`): each raises a `MappingError` (an `ArchError` for architecture axes) naming the argument,
what it got, and what would work."""
from __future__ import annotations

import math

import accel
import sim
import workloads
from accel import ArchError
from sim.ir.mapping import MappingError
from sim.search.pareto import pareto_front
from sim.search.progress import progress_bar


def tiny():
    return workloads.attention("mha", batch=1, heads=2, seq=1024, head_dim=64)


def explore(**kw):
    def call():
        args = {"workload": tiny(), "arch": accel.preset("fusemax"), **kw}
        return sim.explore(args.pop("workload"), args.pop("arch"), **args)
    return call


def sweep(workloads_=None, archs=None, **kw):
    def call():
        return sim.sweep(tiny() if workloads_ is None else workloads_,
                         accel.preset("fusemax") if archs is None else archs, **kw)
    return call


def variants(base="fusemax", axes=None, **more):
    return lambda: sim.arch_variants(accel.preset(base) if isinstance(base, str) else base, axes, **more)


def csv_to(path):
    return lambda: sim.explore(tiny(), accel.preset("fusemax"), dataflows=["fusemax"], budget=1).table.to_csv(path)


CASES = [
    ("explore-workload-is-a-name", explore(workload="mha"), MappingError,
     "explore: workload must be a workloads.Cascade, got str"),
    ("explore-arch-is-a-name", explore(arch="fusemax"), MappingError,
     "explore: arch must be an accel.Arch, got str (e.g. accel.preset('h100'))"),
    ("explore-constraints-not-a-mapping", explore(constraints=[("M1", 2)]), MappingError,
     "constraints must be a mapping of mapping parameter to value, got list"),
    ("explore-unknown-dataflow", explore(dataflows=["fusemx"]), MappingError, "unknown dataflow 'fusemx' (valid:"),
    ("explore-dataflows-not-a-list", explore(dataflows=3), MappingError,
     "dataflows must be a list of dataflow names or records, got int"),
    ("explore-dataflow-item", explore(dataflows=["fusemax", 3]), MappingError,
     "each item must be a dataflow name or record, got int"),
    ("explore-no-dataflows", explore(dataflows=[]), MappingError, "dataflows is empty: name at least one"),
    ("explore-bad-progress", explore(progress=3), MappingError,
     "progress must be None, True, False, a callable(done, total, label)"),
    ("explore-options-dict", explore(options={"trace": True}), MappingError,
     "explore: options must be sim.Options, got dict"),
    ("explore-float-budget", explore(budget=2.5), MappingError, "budget must be a positive number of candidates"),
    ("explore-objective-area", explore(objective="area"), MappingError,
     "objective must be one of latency, energy, edp, got 'area'"),
    ("explore-executor-name", explore(dataflows=["fusemax"], executor="pool"), MappingError,
     "executor must be a concurrent.futures.Executor"),
    ("explore-seed-text", explore(seed="x"), MappingError, "seed must be an integer, got 'x'"),
    ("sweep-no-workloads", sweep(workloads_=[]), MappingError, "sweep: workloads is empty"),
    ("sweep-no-archs", sweep(archs={}), MappingError, "sweep: archs is empty"),
    ("sweep-arch-name-in-list", sweep(archs=[accel.preset("fusemax"), "h100"]), MappingError,
     "sweep: archs[1] must be an accel.Arch (e.g. accel.preset('h100')), got str"),
    ("sweep-workloads-generator", sweep(workloads_=(w for w in [tiny()])), MappingError,
     "workloads must be a Cascade, a list of them or a name → Cascade mapping, got generator"),
    ("sweep-executor-name", sweep(executor="dask"), MappingError, "executor must be a concurrent.futures.Executor"),
    ("sweep-front-keys-text", lambda: sweep(dataflows=["fusemax"], executor=None)().fronts("latency_s"),
     MappingError, "keys must be a non-empty list of column names"),
    ("sweep-front-unknown-column", lambda: sweep(dataflows=["fusemax"], executor=None)().fronts(("speed",)),
     MappingError, "unknown column 'speed'"),
    ("variants-unknown-axis", variants(axes={"arry": [128]}), ArchError, "unknown sweep axis 'arry'"),
    ("variants-base-is-a-name", lambda: sim.arch_variants("fusemax", array=[128]), ArchError,
     "expected an accel.Arch, got str 'fusemax'"),
    ("pareto-nan", lambda: pareto_front([(1.0, math.nan)]), MappingError, "point 0 has a NaN coordinate"),
    ("pareto-ragged", lambda: pareto_front([(1, 2), (1, 2, 3)]), MappingError,
     "point 1 has 3 coordinates, point 0 has 2"),
    ("pareto-not-points", lambda: pareto_front(None), MappingError, "points must be a sequence of points"),
    ("progress-not-a-bar", lambda: progress_bar("yes", 3, "x"), MappingError, "progress must be None, True, False"),
    ("table-csv-to-a-directory", csv_to("/"), MappingError, "table: cannot write CSV to '/'"),
    ("table-csv-missing-folder", csv_to("/nonexistent-folder/x.csv"), MappingError,
     "cannot write CSV to '/nonexistent-folder/x.csv'"),
]
