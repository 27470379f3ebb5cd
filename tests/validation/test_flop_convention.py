"""One FLOP convention where rows are compared: every harness case counts exactly `workloads.flops` of the cascade
`validation.compare` simulates for it (2 per MAC over the attended pairs, causal bottom-right aligned), the
harness's byte sizes of dtypes equal workloads', and its copy of NATTEN's predicate attends exactly the pairs of
workloads' Neighborhood mask."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import workloads
from validation.compare.match import Target, target
from validation.compare.points import DTYPES, read_points
from validation.harness.cases import Env, base_row
from validation.harness.counts import DTYPE_BYTES
from validation.harness.gna import dense_gna_mask
from validation.harness.measure import COLUMNS
from validation.harness.suites import SUITES
from workloads.masks import dense

QUICK = Env("cpu", True, 8, 32 * 2**20, None)
FULL = Env("cuda", False, 132, 50 * 2**20, (9, 0))   # the case lists of an H100 campaign (nothing is run)


def _points(env: Env, tmp_path: Path):
    """Every case of every suite as a measured Point (status ok, 1 ms), paired with its harness FLOP count."""
    cases = [case for suite in SUITES.values() for case in suite(env)]
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for case in cases:
            w.writerow({**{c: "" for c in COLUMNS}, **base_row(case), "status": "ok", "time_ms": "1",
                        "device_type": env.device_type, "device_name": "NVIDIA H100 80GB HBM3"})
    return list(zip(cases, read_points(path)))


@pytest.mark.parametrize("env", [QUICK, pytest.param(FULL, marks=pytest.mark.slow)], ids=["quick", "full"])
def test_harness_flops_are_the_simulators(env: Env, tmp_path: Path) -> None:
    """For every case compare simulates, the row's FLOPs (what converts its time to TFLOP/s) equal workloads.flops
    of the simulated cascade exactly; the rows compare does not simulate are the multi-kernel forms and ceilings."""
    compared = 0
    for case, point in _points(env, tmp_path):
        t = target(point)
        if isinstance(t, str):
            assert t.startswith("no model"), (case.name, t)
            continue
        assert isinstance(t, Target)
        cascade = t.build()
        assert float(workloads.flops(cascade)) == pytest.approx(case.flops, rel=1e-12), (case.name, case.form)
        compared += 1
    assert compared > (20 if env.quick else 300)


def test_dtype_sizes_agree() -> None:
    """Each torch dtype compare maps to a workloads dtype has the same element size on both sides."""
    for torch_name, name in DTYPES.items():
        assert DTYPE_BYTES[torch_name] == workloads.DTYPE_BYTES[name], torch_name


@pytest.mark.parametrize("spatial, window, stride, dilation, causal", [
    ((32,), (8,), (4,), (1,), (False,)), ((32,), (8,), (1,), (1,), (True,)), ((30,), (5,), (2,), (3,), (False,)),
    ((6, 8), (3, 4), (3, 2), (1, 1), (False, False)), ((8, 10), (3, 4), (1, 2), (2, 1), (True, False)),
    ((4, 4, 6), (2, 3, 3), (1, 1, 2), (1, 1, 1), (True, False, False)),
])
def test_gna_predicate_matches_workloads(spatial, window, stride, dilation, causal) -> None:
    """The harness's NATTEN predicate (it drives FlexAttention's mask on the device) is the same mask as workloads'
    Neighborhood (what the simulator counts)."""
    c = workloads.attention("gna", batch=1, heads=1, spatial=spatial, window=window, stride=stride,
                            dilation=dilation, causal=causal, head_dim=8)
    n = int(np.prod(spatial))
    (mask,) = c.masks
    assert (dense(mask, n, n) == dense_gna_mask(spatial, window, stride, dilation, causal)).all()
