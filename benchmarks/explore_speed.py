"""Explore speed (prints, never asserts): medians of `sim.explore` on BERT attention at 64K tokens on `fusemax`,
Llama-3-8B GQA causal prefill at 8K on `h100` and BERT-like MHA at 4K on `h100` (targets for the two GPU cases: ≤ 1 s
warm on 2 cores, with the best of an exhaustive search).

"cold" is an explore with an empty memo (Numba kernels compiled and every dataflow imported: a warm process);
"memo" repeats it (every evaluation memoized); "pool" is cold on a warmed 2-process pool. `--exhaustive` also
searches every combination of every supporting dataflow's space, without screening, and says whether the pruned
search found its best.

    python benchmarks/explore_speed.py [--repeat 3] [--exhaustive]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accel  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from sim.search import exploration, strategy  # noqa: E402
from sim.search.candidates import clear_memo  # noqa: E402


def cases():
    bert = workloads.attention("mha", batch=64, heads=12, seq=65536, head_dim=64)
    # Llama-3-8B: 32 query heads, 8 KV heads, head dim 128; causal prefill at 8K tokens.
    llama = workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=8192, head_dim=128, causal=True)
    bert4k = workloads.attention("mha", batch=1, heads=12, seq=4096, head_dim=64)
    return [("BERT 64K on fusemax", bert, accel.preset("fusemax")),
            ("Llama-3-8B GQA prefill 8K on h100", llama, accel.preset("h100")),
            ("BERT-like MHA 4K on h100", bert4k, accel.preset("h100"))]


def timed(fn, repeat: int, cold: bool = True):
    times, out = [], None
    for _ in range(repeat):
        if cold:
            clear_memo()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def exhaustive(w, arch):
    """Every combination of every supporting dataflow's space, no screening (the reference the search must match)."""
    limit, ratio = strategy.EXHAUSTIVE_LIMIT, exploration.SCREEN_RATIO
    strategy.EXHAUSTIVE_LIMIT, exploration.SCREEN_RATIO = 10 ** 9, float("inf")
    try:
        clear_memo()
        t = time.perf_counter()
        x = sim.explore(w, arch, budget=10 ** 6)
        return x, time.perf_counter() - t
    finally:
        strategy.EXHAUSTIVE_LIMIT, exploration.SCREEN_RATIO = limit, ratio


def describe(x) -> str:
    rows = x.table.records()
    n = {s: sum(r["status"] == s for r in rows) for s in ("ok", "pruned", "infeasible", "duplicate")}
    return (f"{len(rows)} candidates ({n['ok'] + n['pruned']} lowered: {n['ok']} simulated, {n['pruned']} pruned; "
            f"{n['infeasible']} infeasible)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exhaustive", action="store_true")
    args = ap.parse_args()
    warm = workloads.attention("mha", batch=1, heads=2, seq=1024, head_dim=64)
    for arch in ("fusemax", "h100"):                      # load the compiled kernels and import every dataflow
        sim.explore(warm, accel.preset(arch))
    print(f"explore speed ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}), medians of {args.repeat}")
    with ProcessPoolExecutor(2) as pool:
        for arch in ("fusemax", "h100"):
            sim.explore(warm, accel.preset(arch), executor=pool)
        for label, w, arch in cases():
            x, cold = timed(lambda: sim.explore(w, arch), args.repeat)
            _, memo = timed(lambda: sim.explore(w, arch), args.repeat, cold=False)
            _, pooled = timed(lambda: sim.explore(w, arch, executor=pool), args.repeat)
            print(f"  {label}: cold {cold:.2f} s, memo {memo:.3f} s, 2-process pool {pooled:.2f} s; {describe(x)}")
            print(f"    best: {x.best.dataflow} {dict(x.best.mapping.params)} {x.best.latency_s * 1e3:.5g} ms")
            if args.exhaustive:
                full, seconds = exhaustive(w, arch)
                same = (full.best.dataflow, dict(full.best.mapping.params)) == \
                    (x.best.dataflow, dict(x.best.mapping.params))
                print(f"    exhaustive: {seconds:.1f} s, {describe(full)}; best {full.best.dataflow} "
                      f"{dict(full.best.mapping.params)} {full.best.latency_s * 1e3:.5g} ms — "
                      + ("the same" if same else f"search is {x.best.latency_s / full.best.latency_s:.5f}× it"))


if __name__ == "__main__":
    main()
