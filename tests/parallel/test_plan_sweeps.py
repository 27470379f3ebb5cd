"""plan_sweep: models × cluster sizes × plans, the same table on any executor (a Dask cluster included); refused
cells carry the reason."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import accel
from sim.ir import MappingError
from sim.parallel import plan_sweep

CLUSTERS = [accel.preset("hgx-h100x8"), accel.cluster("hgx-h100x8", nodes=2)]
PLANS = ["tp=1", "tp=4", "tp=16"]
REQUEST = dict(prompt=64, batch=2, output_tokens=2)


def test_grid_order_and_refusals():
    s = plan_sweep(["llama3-8b"], CLUSTERS, PLANS, executor=ThreadPoolExecutor(2), **REQUEST)
    assert [(r["cluster"], r["plan"].split(",")[0]) for r in s.rows] == [
        (c.name, p) for c in CLUSTERS for p in PLANS]
    refused = [r for r in s.rows if r["status"] == "refused"]
    assert len(refused) == 2 and "needs 16 devices" in refused[0]["reason"]
    assert "does not divide llama3-8b's KV heads" in refused[1]["reason"]
    assert s.best("llama3-8b")["plan"].startswith("tp=4")


def test_same_table_on_dask_as_here():
    distributed = pytest.importorskip("distributed")
    here = plan_sweep(["llama3-8b"], CLUSTERS[:1], PLANS[:2], executor=ThreadPoolExecutor(1), **REQUEST)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        remote = plan_sweep(["llama3-8b"], CLUSTERS[:1], PLANS[:2], executor=client.get_executor(), **REQUEST)
    assert remote.rows == here.rows


@pytest.mark.parametrize("kw", [dict(models="llama3-8b"), dict(clusters=[accel.preset("h100")]),
                                dict(plans=["tp=zero"])])
def test_bad_grids_refused(kw):
    args = dict(models=["llama3-8b"], clusters=CLUSTERS[:1], plans=PLANS[:1], **REQUEST)
    args.update(kw)
    with pytest.raises(MappingError):
        plan_sweep(**args)
