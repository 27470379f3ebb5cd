"""What a new user waits for: `python -m sim evaluate` in a fresh process, with an empty Numba cache (a fresh
install: the engine is compiled) and with the cache the first run left (every later run). Prints; never asserts.

    python benchmarks/first_run.py [--runs 3] [--cold-runs 1] [--dataflow fusemax:fusemax ...]

Each case is `dataflow:arch[:extra CLI flags]` on the CLI's default workload (MHA, 12 heads, 4096 tokens). Reported
per case: the median wall time of the whole process, cold and warm, with the CPU time it used (steadier on a shared
machine; on a cold cache, without the second process that compiles the scheduler beside it, see `sim.ir.jit`), and
for cold runs how long the process was silent on stderr before the engine said it was compiling (the engine prints
one line before it compiles).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("fusemax:fusemax", "flash2:h100", "flash2:h100:--causal", "gpu-unfused:h100", "flat:fusemax:--softmax=3pass")


def run_once(case: str, cache_dir: str) -> tuple[float, float, float | None]:
    """(wall and CPU seconds of the process, seconds until its first stderr line or None if it printed none)."""
    dataflow, arch, *extra = case.split(":")
    cmd = [sys.executable, "-m", "sim", "evaluate", "--arch", arch, "--dataflow", dataflow, "--quiet", *extra]
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first: list[float] = []
    lines: list[str] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            if not first:
                first.append(time.perf_counter() - t0)
            lines.append(line)

    reader = threading.Thread(target=read_stderr)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{''.join(lines)[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, (first[0] if first else None)


def _medians(runs: list[tuple]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    """Time each case cold (a new cache per run) and warm (reusing that cache); print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs per case")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold runs per case (each with a new cache)")
    parser.add_argument("--case", action="append", metavar="DATAFLOW:ARCH[:FLAGS]", help=f"default: {CASES}")
    args = parser.parse_args()
    print(f"python -m sim evaluate, whole process, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for case in args.case or CASES:
        colds, warms = [], []
        for _ in range(args.cold_runs):
            with tempfile.TemporaryDirectory() as cache:
                colds.append(run_once(case, cache))
                warms += [run_once(case, cache) for _ in range(args.runs)]
        said = [c[2] for c in colds if c[2] is not None]
        notice = f"notice after {statistics.median(said):4.2f} s" if said else "no notice on stderr"
        (cold, cold_cpu), (warm, warm_cpu) = _medians(colds), _medians(warms)
        print(f"  {case:<30} cold {cold:6.2f} s (CPU {cold_cpu:5.2f} s; {notice}); "
              f"warm {warm:5.2f} s (CPU {warm_cpu:4.2f} s; median of {len(warms)})")


if __name__ == "__main__":
    main()
