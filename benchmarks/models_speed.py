"""How long a whole model takes to evaluate: `sim.inference` of a 32-layer model's prefill plus its decode steps
(Llama-3-8B on H100 by default: an 8K prompt, 128 output tokens). Prints medians; never asserts.

    python benchmarks/models_speed.py [--runs 5] [--model llama3-8b] [--arch h100] [--prompt 8192] [--tokens 129]

Warm: the engine compiled and the process warmed up by one run. "cold results" clears the remembered kernel
results before each run (every kernel simulated again: the figure to compare with the 2 s target); "remembered"
keeps them (a repeated query). The machine's load is printed beside the figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import accel
import sim
from sim.models import choice


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    """Time the inference run cold (results cleared) and with remembered results; print the medians."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="llama3-8b")
    ap.add_argument("--arch", default="h100")
    ap.add_argument("--prompt", type=int, default=8192)
    ap.add_argument("--tokens", type=int, default=129, help="output tokens (129: 128 decode steps)")
    args = ap.parse_args()
    arch = accel.preset(args.arch)
    run = lambda: sim.inference(args.model, arch, prompt=args.prompt, output_tokens=args.tokens)  # noqa: E731
    result = run()                                                       # compile and warm up
    cold, warm = [], []
    for _ in range(args.runs):
        choice.clear()
        cold.append(timed(run))
        warm.append(timed(run))
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.model} on {args.arch}: prefill {args.prompt} + {len(result.decode)} decode steps, "
          f"{args.runs} runs, load {load:.1f} on {os.cpu_count()} cores")
    print(f"  cold results: median {med(cold, 0):.3f} s wall, {med(cold, 1):.3f} s CPU (target < 2 s)")
    print(f"  remembered:   median {med(warm, 0):.3f} s wall, {med(warm, 1):.3f} s CPU")
    print(f"  TTFT {result.ttft_s * 1e3:.4g} ms, TPOT {result.tpot_s * 1e3:.4g} ms, "
          f"{result.tokens_per_s:.4g} tokens/s")


if __name__ == "__main__":
    main()
