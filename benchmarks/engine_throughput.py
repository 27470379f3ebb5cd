"""Throughput of the schedulers, in ops per second. Prints; never asserts.

    python benchmarks/engine_throughput.py [--ops 5000000] [--runs 5]

- engine, cold: a fresh process with an empty Numba cache (compile included), then a fresh process reusing the cache;
- engine, warm: median of several runs on a random program that cannot be extrapolated (one segment, repeat 1),
  end to end on a program not validated before (a new Program object each run), with the split into validation
  (structure, flattening, the compiled checks and totals) and the compiled scheduling kernel; and end to end on a
  program validated before (as every ProgramBuilder program is: `validate` remembers it);
- engine on a periodic double-buffered pipeline repeated 10^7 times (ops described per second);
- the SimPy reference on a small random program.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.engine.scheduler import _kernel_args, _schedule, simulate  # noqa: E402
from sim.ir.program import Program, ProgramBuilder, Segment, validate, validated  # noqa: E402


def random_flat_program(n_ops: int, seed: int = 0) -> Program:
    """One segment of `n_ops` ops on 8 units (2 memory), random durations 1..20 and latencies 0..9, each op
    depending on 1-2 recent ops; every 4th op acquires 1..4 bytes of a 6-byte buffer that the op 3 later frees."""
    rng = np.random.default_rng(seed)
    i = np.arange(n_ops)
    n_deps = np.where(i == 0, 0, np.where(i == 1, 1, rng.integers(1, 3, n_ops)))
    dep_ptr = np.concatenate([[0], np.cumsum(n_deps)]).astype(np.int64)
    owner = np.repeat(i, n_deps)
    dep_op = (owner - 1 - rng.integers(0, 16, len(owner)) % np.maximum(owner, 1)).astype(np.int32)
    acquirer = (i % 4 == 0) & (i + 3 < n_ops)
    amount = rng.integers(1, 5, n_ops)
    releaser = np.zeros(n_ops, bool)
    releaser[i[acquirer] + 3] = True
    rel_amount = np.zeros(n_ops, np.int64)
    rel_amount[i[acquirer] + 3] = amount[acquirer]
    seg = Segment(
        name="random", repeat=1, barrier=False,
        unit=rng.integers(0, 8, n_ops).astype(np.int32),
        duration=rng.integers(1, 21, n_ops).astype(np.int64), latency=rng.integers(0, 10, n_ops).astype(np.int64),
        dep_ptr=dep_ptr, dep_op=dep_op, dep_prev=np.zeros(len(dep_op), bool),
        acq_ptr=np.concatenate([[0], np.cumsum(acquirer)]).astype(np.int64),
        acq_buf=np.zeros(int(acquirer.sum()), np.int32), acq_amount=amount[acquirer].astype(np.int64),
        rel_ptr=np.concatenate([[0], np.cumsum(releaser)]).astype(np.int64),
        rel_buf=np.zeros(int(releaser.sum()), np.int32), rel_amount=rel_amount[releaser],
        level_bytes=np.zeros((n_ops, 1)), tag=np.full(n_ops, -1, np.int32),
    )
    return Program(units=tuple(f"u{u}" for u in range(8)), unit_is_memory=(True, True) + (False,) * 6,
                   buffers=("sram",), buffer_capacity=np.array([6], np.int64), levels=("DRAM",), tags=(),
                   ticks_per_cycle=1, segments=(seg,))


def pipeline_program(repeat: int) -> Program:
    """Load Q and K tiles (DMA) into a 2-slot buffer, QK on the PE array, softmax on the vector unit, store."""
    b = ProgramBuilder(units=["dma", "pe", "vec"], unit_is_memory=[True, False, False], buffers={"sram": 2},
                       levels=["DRAM"], tags=["QK", "softmax"])
    s = b.segment("blocks", repeat=repeat)
    ld = s.op("dma", 40, 10, acquire={"sram": 1}, bytes={"DRAM": 4096})
    qk = s.op("pe", 64, 8, deps=[ld], tag="QK")
    sm = s.op("vec", 30, 2, deps=[qk], prev_deps=[2], release={"sram": 1}, tag="softmax")
    s.op("dma", 10, 10, deps=[sm], bytes={"DRAM": 1024})
    return b.build()


def timed(fn, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each run: on a shared machine the process's CPU time is the steadier figure."""
    times = []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t, time.process_time() - c))
    return times


def line(label: str, fn, runs: int, ops: int) -> float:
    """Print the median wall and CPU seconds of `fn` and the ops per second they give; return the wall median."""
    times = timed(fn, runs)
    wall, cpu = (statistics.median(x[i] for x in times) for i in (0, 1))
    print(f"{label:<44} {wall:7.3f} s = {ops / wall:12,.0f} ops/s   (CPU {cpu:6.3f} s = {ops / cpu:12,.0f} ops/s)")
    return wall


def cold(n_ops: int, cache_dir: str) -> float:
    """Seconds for import + build + first simulate in a fresh process with the given Numba cache directory."""
    code = ("import time; t=time.perf_counter(); import sys; sys.path.insert(0, %r); "
            "from benchmarks.engine_throughput import random_flat_program; from sim.engine import simulate; "
            "p = random_flat_program(%d); t1=time.perf_counter(); simulate(p); "
            "print(time.perf_counter() - t1)") % (str(ROOT), n_ops)
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run every measurement of the module docstring and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.ops

    with tempfile.TemporaryDirectory() as cache:
        first = cold(n, cache)
        cached = cold(n, cache)
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'engine cold, compile included':<44} {first:7.3f} s = {n / first:12,.0f} ops/s")
    print(f"{'engine cold, Numba cache reused':<44} {cached:7.3f} s = {n / cached:12,.0f} ops/s")

    program = random_flat_program(n)
    run = simulate(program)  # warm up (compile or load from cache)
    print(f"warm, medians of {args.runs} ({n:,} ops, {run.ticks:,} ticks):")
    line("engine, simulate() end to end", lambda: simulate(dataclasses.replace(program)), args.runs, n)
    line("  of which validation (checks + flatten)", lambda: validate(dataclasses.replace(program)), args.runs, n)
    kernel_args = _kernel_args(validated(program).flat)
    line("  of which the compiled kernel", lambda: _schedule(*kernel_args, True, False), args.runs, n)
    line("engine, simulate() of a validated program", lambda: simulate(program), args.runs, n)
    line("engine, with trace", lambda: simulate(program, trace=True), args.runs, n)

    periodic = pipeline_program(10_000_000)
    prun = simulate(periodic)
    line(f"engine, periodic pipeline x 10^7 ({prun.ops_simulated} simulated)", lambda: simulate(periodic),
                args.runs, prun.ops_total)
    periodic_small = pipeline_program(250_000)
    line("engine, same pipeline x 250,000 in full", lambda: simulate(periodic_small, extrapolate=False), args.runs,
         periodic_small.ops_total)

    from sim.engine.reference import simulate_reference

    small = random_flat_program(20_000, seed=1)
    line(f"SimPy reference ({small.ops_total:,} ops, one run)", lambda: simulate_reference(small), 1, small.ops_total)


if __name__ == "__main__":
    main()
