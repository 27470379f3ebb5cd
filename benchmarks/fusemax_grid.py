"""Wall time of the FuseMax grids (validation.reproductions.fusemax): the attention grid (120 points, FLAT's found by
`sim.explore`) and the end-to-end grid, cold (a fresh process with an empty Numba cache: compiling included) and warm
(median of in-process repeats, the exploration memo cleared before each so every point is simulated again), and the
engine's tile operations per second. Prints; never asserts.

    python benchmarks/fusemax_grid.py [--runs 3] [--cold-runs 2] [--json FILE]

`--json` also writes the medians with the machine they were taken on (validation/figures renders them into
docs/fusemax.md).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    """What the timings were taken on: CPU model and count, Python, Numba, the load when the run started."""
    import numba

    model = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "numba": numba.__version__,
            "load_1min_at_start": load, "date": datetime.date.today().isoformat()}


def one_pass() -> dict:
    """Time both grids once in this process (memo cleared first); count ops simulated and described."""
    from sim.search.candidates import clear_memo
    from validation.reproductions import fusemax

    clear_memo()
    t0 = time.perf_counter()
    results = [(m, s, df, fusemax.attention_point(m, s, df)) for m in fusemax.MODELS for s in fusemax.SEQS
               for df in fusemax.DATAFLOWS]
    att = [fusemax.attention_row(m, s, df, r) for m, s, df, r in results]
    t1 = time.perf_counter()
    fusemax.end_to_end_grid(att)
    t2 = time.perf_counter()
    return {"attention_s": t1 - t0, "end_to_end_s": t2 - t1, "points": len(results),
            "ops_simulated": sum(int(r.run.ops_simulated) for *_, r in results),
            "ops_total": sum(int(r.run.ops_total) for *_, r in results)}


def cold(runs: int) -> list[dict]:
    """`runs` fresh processes, each with an empty Numba cache."""
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


def medians(runs: list[dict], keys: tuple[str, ...]) -> dict:
    """The median of each key over runs."""
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def report(c: list[dict], w: list[dict]) -> dict:
    """The benchmark's figures: cold and warm medians and the engine's rates."""
    warm = medians(w, ("attention_s", "end_to_end_s"))
    ops = w[0]
    return {"points": ops["points"], "cold_runs": len(c), "warm_runs": len(w),
            "cold": medians(c, ("attention_s", "end_to_end_s", "process_s")) if c else None, "warm": warm,
            "ops_simulated": ops["ops_simulated"], "ops_total": ops["ops_total"],
            "simulated_per_s": ops["ops_simulated"] / warm["attention_s"],
            "described_per_s": ops["ops_total"] / warm["attention_s"]}


def main() -> None:
    """Run the benchmark; print (and with --json write) the medians."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures and the machine as JSON")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_pass()))
        return
    where = machine()
    c = cold(args.cold_runs)
    one_pass()  # warm-up in this process (compiles or loads the cache)
    r = report(c, [one_pass() for _ in range(args.runs)])
    if r["cold"]:
        print(f"cold (fresh process, empty Numba cache), median of {r['cold_runs']}:")
        print(f"  attention grid ({r['points']} points): {r['cold']['attention_s']:.2f} s; end-to-end grid: "
              f"{r['cold']['end_to_end_s']:.2f} s; whole process incl. imports: {r['cold']['process_s']:.2f} s")
    print(f"warm, median of {r['warm_runs']}:")
    print(f"  attention grid: {r['warm']['attention_s']:.2f} s; end-to-end grid: {r['warm']['end_to_end_s']:.2f} s")
    print(f"  engine: {r['ops_simulated']:,} tile ops simulated, {r['ops_total']:,} described "
          f"({r['simulated_per_s']:,.0f} simulated/s and {r['described_per_s']:,.3g} described/s over the whole "
          f"attention grid, lowering and accounting included)")
    print(f"machine: {where['cpu']}, {where['cores']} cores, load {where['load_1min_at_start']}, {where['date']}")
    if args.json:
        args.json.write_text(json.dumps({"machine": where, **r}, indent=1) + "\n")


if __name__ == "__main__":
    main()
