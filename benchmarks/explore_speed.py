"""Explore speed (prints, never asserts): candidates evaluated per second, and the time of `sim.explore` for BERT
attention at 64K tokens on `fusemax` and Llama-3-8B GQA prefill at 8K on `h100` (issue target: each under 5 s
warm on 2 cores).

"cold" is the first explore of a workload in this process (Numba kernels already compiled and loaded, memo
empty); "memo" repeats it (every evaluation memoized); "pool" is cold on a warmed 2-process pool.

    python benchmarks/explore_speed.py
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accel  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from sim.search.candidates import clear_memo  # noqa: E402


def cases():
    bert = workloads.attention("mha", batch=64, heads=12, seq=65536, head_dim=64)
    # Llama-3-8B: 32 query heads, 8 KV heads, head dim 128; causal prefill at 8K tokens.
    llama = workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=8192, head_dim=128, causal=True)
    return [("BERT 64K on fusemax", bert, accel.preset("fusemax")),
            ("Llama-3-8B GQA prefill 8K on h100", llama, accel.preset("h100"))]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    warm = workloads.attention("mha", batch=1, heads=2, seq=1024, head_dim=64)
    for arch in ("fusemax", "h100"):                      # load the compiled kernels and import every dataflow
        sim.explore(warm, accel.preset(arch))
    print(f"explore speed ({os.cpu_count()} CPUs)")
    with ProcessPoolExecutor(2) as pool:
        for arch in ("fusemax", "h100"):
            sim.explore(warm, accel.preset(arch), executor=pool, seed=1)
        for label, w, arch in cases():
            clear_memo()
            x, cold = timed(lambda: sim.explore(w, arch))
            _, memo = timed(lambda: sim.explore(w, arch))
            clear_memo()
            _, pooled = timed(lambda: sim.explore(w, arch, executor=pool))
            rows = x.table.records()
            evaluated = sum(r["status"] in ("ok", "pruned") for r in rows)
            print(f"  {label}: cold {cold:.2f} s, memo {memo:.3f} s, 2-process pool {pooled:.2f} s; "
                  f"{len(rows)} candidates ({sum(r['status'] == 'ok' for r in rows)} simulated, "
                  f"{sum(r['status'] == 'pruned' for r in rows)} pruned), {evaluated / cold:.1f} evaluated/s cold")
            print(f"    best: {x.best.dataflow} {dict(x.best.mapping.params)} {x.best.latency_s * 1e3:.4g} ms")


if __name__ == "__main__":
    main()
