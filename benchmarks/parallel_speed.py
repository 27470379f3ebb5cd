"""How long parallel plans take to evaluate: a TP decode layer, a ring-attention prefill layer, EP across nodes, and
`sim.inference` of Llama-3-8B under tp=8 (prefill plus decode steps, each a multi-device step on the engine with
its collectives lowered among the kernels). Prints medians; never asserts.

    python benchmarks/parallel_speed.py [--runs 5] [--tokens 33]

"cold" clears the remembered kernel results and collectives before each run (every kernel and collective simulated
again); "remembered" keeps them (the multi-device steps are scheduled again either way).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import accel
import sim
import workloads
from sim.models import choice
from sim.parallel import links


def cases(tokens: int) -> dict:
    """name → a call evaluating one plan."""
    node, nodes4 = accel.preset("hgx-h100x8"), accel.cluster("hgx-h800x8", nodes=4)
    llama, ds = workloads.model("llama3-8b"), workloads.model("deepseek-v3")
    return {
        "tp=8 decode layer": lambda: sim.evaluate(llama.layer(seq=1, seq_kv=8192, batch=32), node, plan="tp=8"),
        "cp=8 ring prefill 64K": lambda: sim.evaluate(llama.layer(seq=65536), node, plan="cp=8,cp_kind=zigzag"),
        "ep=32 over 4 nodes": lambda: sim.evaluate(ds.layer(seq=1, seq_kv=4096, batch=256, form="absorbed"), nodes4,
                                                   plan="ep=32,micro_batches=2"),
        f"inference tp=8, {tokens - 1} decode steps": lambda: sim.inference(
            "llama3-8b", node, prompt=4096, batch=8, output_tokens=tokens, plan="tp=8"),
    }


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    """Time each case cold and with remembered results; print the medians."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=33)
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"parallel plans, {args.runs} runs, load {load:.1f} on {os.cpu_count()} cores")
    for name, call in cases(args.tokens).items():
        call()                                              # compile and warm up
        cold, warm = [], []
        for _ in range(args.runs):
            choice.clear()
            links._planned.cache_clear()
            cold.append(timed(call))
            warm.append(timed(call))
        print(f"  {name}: cold median {statistics.median(cold):.3f} s, remembered {statistics.median(warm):.3f} s")


if __name__ == "__main__":
    main()
