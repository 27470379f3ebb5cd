"""Generate `gemm_cycles.csv`: SCALE-Sim v3's compute cycles for a table of GEMMs on weight-, output- and
input-stationary systolic arrays (square and non-square; dimensions that do and do not divide the array).

SCALE-Sim (Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN Accelerators using
SCALE-Sim", ISPASS 2020; v3: Raj et al., 2025) is not a dependency of this project: install it in its own venv
(it pins an older NumPy) and run this script there; the CSV is committed and read by tests/sim/test_spatial_scalesim.py.

    python -m venv /work/scalesim-venv
    /work/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    /work/scalesim-venv/bin/python tests/data/scalesim/generate.py

The compute model is SCALE-Sim's own (`scalesim.compute.systolic_compute_{ws,os,is}`): its demand matrices have one
row per cycle of the array with every operand on time (no memory stalls), so their length is the GEMM's cycle count
at unlimited bandwidth. GEMM Z[M,N] = A[M,K] · B[K,N] maps to SCALE-Sim's operand matrices as ifmap = A (M × K),
filter = B (K × N), ofmap = Z (M × N).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from scalesim.compute.systolic_compute_is import systolic_compute_is
from scalesim.compute.systolic_compute_os import systolic_compute_os
from scalesim.compute.systolic_compute_ws import systolic_compute_ws
from scalesim.scale_config import scale_config

OUT = Path(__file__).with_name("gemm_cycles.csv")
COMPUTE = {"ws": systolic_compute_ws, "os": systolic_compute_os, "is": systolic_compute_is}
ARRAYS = [(32, 32), (128, 128), (256, 256), (128, 32), (32, 128), (256, 64)]
GEMMS = [  # (M, N, K): divisible and not; tall, wide, deep
    (256, 256, 256), (512, 256, 128), (1000, 500, 300), (500, 1000, 777), (1024, 64, 512),
    (384, 768, 768), (200, 300, 100), (64, 1024, 256), (1500, 128, 96), (130, 130, 130),
]
MAX_DEMAND_ROWS = 3_000_000   # keeps one point's demand matrix (rows × array side) within a few hundred MB


def compute_cycles(df: str, rows: int, cols: int, m: int, n: int, k: int) -> tuple[int, float, float]:
    """(cycles, average mapping efficiency, average compute utilization) of SCALE-Sim's compute model."""
    cfg = scale_config()
    cfg.set_arr_dims(rows=rows, cols=cols)
    cfg.set_dataflow(df)
    cfg.force_valid()
    ifmap = np.arange(m * k, dtype=np.int64).reshape(m, k)
    filt = np.arange(k * n, dtype=np.int64).reshape(k, n) + m * k
    ofmap = np.arange(m * n, dtype=np.int64).reshape(m, n) + m * k + k * n
    system = COMPUTE[df]()
    system.set_params(config_obj=cfg, ifmap_op_mat=ifmap, ofmap_op_mat=ofmap, filter_op_mat=filt)
    system.create_demand_matrices()
    demand = system.get_ifmap_demand_mat()
    return int(demand.shape[0]), float(system.get_avg_mapping_efficiency()), \
        float(system.get_avg_compute_utilization())


def estimated_rows(df: str, rows: int, cols: int, m: int, n: int, k: int) -> int:
    stationary = {"ws": (k, n, m), "os": (m, n, k), "is": (k, m, n)}[df]
    folds = -(-stationary[0] // rows) * -(-stationary[1] // cols)
    return folds * (2 * rows + cols + stationary[2])


def main() -> None:
    table = []
    for rows, cols in ARRAYS:
        for m, n, k in GEMMS:
            for df in COMPUTE:
                if estimated_rows(df, rows, cols, m, n, k) > MAX_DEMAND_ROWS:
                    continue
                cyc, eff, util = compute_cycles(df, rows, cols, m, n, k)
                table.append({"dataflow": df, "rows": rows, "cols": cols, "M": m, "N": n, "K": k, "cycles": cyc,
                              "mapping_efficiency": f"{eff:.4f}", "compute_utilization": f"{util:.4f}"})
                print(table[-1], file=sys.stderr)
    with open(OUT, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    print(f"{len(table)} rows -> {OUT}")


if __name__ == "__main__":
    main()
