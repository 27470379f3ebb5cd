"""Time to simulate one collective with `sim.collective` (choice of algorithm, protocol and order included), in
milliseconds: median of fresh calls (the remembered choices and chunk shapes cleared before each). Prints; never asserts.

    python benchmarks/collectives_speed.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accel  # noqa: E402
import sim  # noqa: E402
from sim.dataflows.comm.choice import clear_caches  # noqa: E402

CASES = [("hgx-h100x8", 1, "all_reduce", 8), ("hgx-h100x8", 1, "all_reduce", 2 ** 30),
         ("hgx-h100x8", 1, "all_to_all", 2 ** 30), ("hgx-h100x8", 2, "all_reduce", 2 ** 30),
         ("hgx-h100x8", 16, "all_reduce", 2 ** 30), ("gb200-nvl72", 1, "all_reduce", 8),
         ("gb200-nvl72", 1, "all_reduce", 2 ** 30), ("gb200-nvl72", 1, "all_to_all", 2 ** 30)]


def median_ms(cluster: accel.Cluster, kind: str, nbytes: int, runs: int) -> float:
    """Median wall time of `runs` uncached calls."""
    times = []
    for _ in range(runs):
        clear_caches()
        start = time.perf_counter()
        sim.collective(kind, nbytes, cluster)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sim.collective("all_reduce", 8, accel.preset("hgx-h100x8"))   # compile the engine once
    for node, nodes, kind, nbytes in CASES:
        cluster = accel.cluster(node, nodes=nodes) if nodes > 1 else accel.preset(node)
        ms = median_ms(cluster, kind, nbytes, args.runs)
        print(f"{cluster.name:32s} {kind:12s} {nbytes:>12,d} B  {ms:9.1f} ms")


if __name__ == "__main__":
    main()
