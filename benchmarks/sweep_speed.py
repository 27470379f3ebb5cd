"""Sweep speed (prints, never asserts): `sim.sweep` of 1,000 FuseMax-class architecture variants (PE array × global
buffer × DRAM bandwidth) × one attention workload, in one process, with the default executor (a process pool per
sweep, one worker per CPU) and on a 2-worker Dask LocalCluster, with medians over repeats and the speedup over one
process (targets: ≤ 60 s on 2 cores, Dask ≥ 1.7× faster than one process).

Every cell explores the `fusemax` dataflow's space (the co-design question: the best FuseMax mapping on each
design); `--all-dataflows` explores every searched dataflow instead. Each run starts with an empty memo in every
process (the cells differ in their architecture, so a cell never reuses another's evaluations anyway).

    python benchmarks/sweep_speed.py [--cells 1000] [--repeat 3] [--all-dataflows]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accel  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from sim.search.candidates import clear_memo  # noqa: E402

ARRAYS = [(128, 64), (128, 128), (128, 256), (256, 64), (256, 128), (256, 256), (256, 512), (512, 256),
          (512, 512), (512, 1024)]
BUFFERS = [1 << 20, 2 << 20, 3 << 20, 4 << 20, 6 << 20, 8 << 20, 12 << 20, 16 << 20, 32 << 20, 64 << 20]
DRAM = [100e9, 200e9, 300e9, 400e9, 600e9, 800e9, 1.2e12, 1.6e12, 2.4e12, 3.2e12]
# Dask settings for sweep workers (docs/explore.md): both cost a FuseMax cell several percent of its time.
SWEEP_DASK_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                     "distributed.worker.profile.enabled": False}


def grid(cells: int) -> list:
    """The first `cells` variants of arrays × buffers × DRAM bandwidths (1,000 in all), built by arch_variants."""
    archs = sim.arch_variants(accel.preset("fusemax"), array=ARRAYS, buffer_bytes=BUFFERS, dram_bytes_per_s=DRAM)
    return archs[:cells]


def workload():
    """BERT-base attention (12 heads of 64) at 4K tokens, batch 8."""
    return workloads.attention("mha", batch=8, heads=12, seq=4096, head_dim=64)


def warm(executor) -> None:
    """Import the dataflows and load the compiled kernels in every worker (not part of the timing)."""
    sim.sweep(workload(), grid(4), dataflows=["fusemax"], executor=executor, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--all-dataflows", action="store_true")
    args = ap.parse_args()
    archs, w = grid(args.cells), workload()
    dataflows = None if args.all_dataflows else ["fusemax"]
    print(f"sweep speed: {len(archs)} variants × {w.name} {dict(w.sizes)}, dataflows "
          f"{'all searched' if dataflows is None else dataflows}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    medians, tables, last = {}, {}, None
    for label, make in executors():
        with make() as (ex, forget):
            times = []
            for _ in range(args.repeat):
                forget()
                t = time.perf_counter()
                last = sim.sweep(w, archs, dataflows=dataflows, executor=ex, progress=False)
                times.append(time.perf_counter() - t)
        medians[label], tables[label] = statistics.median(times), last.table.records()
        one = medians["one process"]
        print(f"  {label:>34}: median {medians[label]:.1f} s of {len(times)} "
              f"({medians[label] / len(archs) * 1e3:.0f} ms/cell), {one / medians[label]:.2f}× one process",
              flush=True)
    print(f"  tables identical across executors: {all(t == tables['one process'] for t in tables.values())}")
    ok = [r for r in tables["one process"] if r["status"] == "ok"]
    print(f"  {len(ok)} of {len(archs)} cells ran; latency × energy × area front of "
          f"{len(last.pareto.get(w.name, ()))} designs")


def executors():
    """(label, context manager giving (executor, a function that empties every worker's memo))."""
    yield "one process", inline
    yield "default pool (started per sweep)", default_pool
    yield "Dask LocalCluster, 1 worker", lambda: dask_cluster(1)
    yield "Dask LocalCluster, 2 workers", lambda: dask_cluster(2)
    yield "Dask, 2 workers, Dask's default configuration", lambda: dask_cluster(2, defaults=True)


@contextlib.contextmanager
def inline():
    with ThreadPoolExecutor(1) as ex:
        warm(ex)
        yield ex, clear_memo


@contextlib.contextmanager
def default_pool():
    """`executor=None`: sim.sweep starts (and stops) its own pool of os.cpu_count() processes on every call; the
    workers fork from this process, so emptying its memo empties theirs."""
    yield None, clear_memo


@contextlib.contextmanager
def dask_cluster(workers: int, defaults: bool = False):
    """A Dask LocalCluster of 1-thread workers, started once and warmed (a cluster is long-lived), configured as
    docs/explore.md recommends for sweeps (`defaults=True`: Dask's defaults): workers start without the nanny's
    `MALLOC_TRIM_THRESHOLD_=65536`, which fixes glibc's trim and mmap thresholds so that a cell's NumPy temporaries
    fault their pages in afresh, and without the statistical profiler, which samples the task thread every 10 ms."""
    import dask
    import distributed
    config = {} if defaults else SWEEP_DASK_CONFIG
    before = os.environ.get("MALLOC_TRIM_THRESHOLD_")  # the nanny leaks what it sets into this process
    try:
        with dask.config.set(config), \
                distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            ex = client.get_executor()
            warm(ex)
            yield ex, lambda: client.run(clear_memo)
    finally:
        if before is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = before


if __name__ == "__main__":
    main()
