"""Wall time of the FuseMax grids (validation.fusemax): the attention grid (120 points) and the end-to-end grid,
cold (a fresh process with an empty Numba cache: compiling included) and warm (median of in-process repeats), and
the engine's tile operations per second. Prints; never asserts.

    python benchmarks/fusemax_grid.py [--runs 3] [--cold-runs 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_pass() -> dict:
    """Time both grids once in this process; count ops simulated and described."""
    from validation import fusemax

    t0 = time.perf_counter()
    att_results = [(m, s, df, fusemax.attention_point(m, s, df)) for m in fusemax.MODELS for s in fusemax.SEQS
                   for df in fusemax.DATAFLOWS]
    t1 = time.perf_counter()
    att = [{"model": m, "seq": s, "dataflow": df, "arch": r.arch, "cycles": r.cycles, "energy_j": r.energy_j,
            "dram_bytes": r.dram_bytes, "util_2d": r.utilization["2d"], "util_1d": r.utilization["1d"]}
           for m, s, df, r in att_results]
    t2 = time.perf_counter()
    fusemax.end_to_end_grid(att)
    t3 = time.perf_counter()
    return {"attention_s": t1 - t0, "end_to_end_s": t3 - t2, "points": len(att_results),
            "ops_simulated": sum(int(r.run.ops_simulated) for *_, r in att_results),
            "ops_total": sum(int(r.run.ops_total) for *_, r in att_results)}


def cold(runs: int) -> list[dict]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True,
                                  check=True)
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["process_s"] = time.perf_counter() - t
            out.append(res)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_pass()))
        return
    c = cold(args.cold_runs)
    print(f"cold (fresh process, empty Numba cache), median of {len(c)}:")
    print(f"  attention grid ({c[0]['points']} points): {statistics.median(r['attention_s'] for r in c):.2f} s; "
          f"end-to-end grid: {statistics.median(r['end_to_end_s'] for r in c):.2f} s; "
          f"whole process incl. imports: {statistics.median(r['process_s'] for r in c):.2f} s")
    one_pass()  # warm-up in this process (compiles or loads the cache)
    w = [one_pass() for _ in range(args.runs)]
    att = statistics.median(r["attention_s"] for r in w)
    print(f"warm, median of {len(w)}:")
    print(f"  attention grid: {att:.2f} s; end-to-end grid: {statistics.median(r['end_to_end_s'] for r in w):.2f} s")
    print(f"  engine: {w[0]['ops_simulated']:,} tile ops simulated, {w[0]['ops_total']:,} described "
          f"({w[0]['ops_simulated'] / att:,.0f} simulated/s and {w[0]['ops_total'] / att:,.3g} described/s "
          f"over the whole attention grid, lowering and accounting included)")


if __name__ == "__main__":
    main()
