"""What a new user waits for: `python -m sim evaluate` in a fresh process, with an empty Numba cache (a fresh
install: the engine is compiled) and with the cache the first run left (every later run). Prints; never asserts.

    python benchmarks/first_run.py [--runs 3] [--cold-runs 1] [--dataflow fusemax:fusemax ...]

Each case is `dataflow:arch` on the CLI's default workload (MHA, 12 heads, 4096 tokens). Reported per case: the
median wall time of the whole process, cold and warm, and for cold runs how long the process was silent on stderr
before the engine said it was compiling (the engine prints one line before it compiles).
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
CASES = ("fusemax:fusemax", "flash2:h100", "gpu-unfused:h100", "flat:fusemax")


def run_once(dataflow: str, arch: str, cache_dir: str) -> tuple[float, float | None]:
    """(wall seconds of the process, seconds until its first stderr line or None if it printed none)."""
    cmd = [sys.executable, "-m", "sim", "evaluate", "--arch", arch, "--dataflow", dataflow, "--quiet"]
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
    rc = proc.wait()
    reader.join()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({rc}):\n{''.join(lines)[-2000:]}")
    return wall, (first[0] if first else None)


def main() -> None:
    """Time each case cold (a new cache per run) and warm (reusing that cache); print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs per case")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold runs per case (each with a new cache)")
    parser.add_argument("--dataflow", action="append", metavar="DATAFLOW:ARCH", help=f"default: {CASES}")
    args = parser.parse_args()
    print(f"python -m sim evaluate, whole process, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for case in args.dataflow or CASES:
        dataflow, arch = case.split(":")
        colds, silences, warms = [], [], []
        for _ in range(args.cold_runs):
            with tempfile.TemporaryDirectory() as cache:
                wall, silent = run_once(dataflow, arch, cache)
                colds.append(wall)
                silences.append(silent)
                warms += [run_once(dataflow, arch, cache)[0] for _ in range(args.runs)]
        said = [s for s in silences if s is not None]
        notice = f"notice after {statistics.median(said):5.2f} s" if said else "no notice on stderr"
        print(f"  {case:<20} cold {statistics.median(colds):6.2f} s ({notice}); "
              f"warm {statistics.median(warms):5.2f} s (median of {len(warms)})")


if __name__ == "__main__":
    main()
