"""docs/collectives.md is what `python -m validation.figures.collectives` renders now; a few of its rows keep the
bounds they state."""
from __future__ import annotations

import pytest

import accel
import sim
from validation.figures import collectives


@pytest.mark.slow
def test_collectives_doc_is_current():
    assert collectives.DOC.read_text() == collectives.render(), \
        "docs/collectives.md is stale: python -m validation.figures.collectives"


def test_the_sweep_is_nccl_tests_default_and_rows_render():
    assert collectives.SIZES[0] == 8 and collectives.SIZES[-1] == 8 * 2 ** 30 and len(collectives.SIZES) == 31
    row = collectives._row(8 * 2 ** 30, accel.preset("hgx-h100x8"))
    assert row.startswith("| 8 GiB |") and "nvls/Simple" in row and row.count("|") == 12


def test_the_stated_bounds_hold_at_the_largest_size():
    big = 8 * 2 ** 30
    one, two = accel.preset("hgx-h100x8"), accel.cluster("hgx-h100x8", nodes=2)
    assert sim.collective("all_reduce", big, one).bus_bandwidth_bytes_per_s <= 700e9
    assert sim.collective("all_gather", big, one).bus_bandwidth_bytes_per_s <= 450e9
    assert sim.collective("all_reduce", big, two).bus_bandwidth_bytes_per_s <= 400e9
