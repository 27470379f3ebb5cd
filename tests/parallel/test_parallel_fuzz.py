"""Random plans on random small layers: each is refused with a MappingError or gives a result whose invariants
hold (its latency covers every device's compute, exposed communication within the latency, balance in (0, 1])."""
from __future__ import annotations

import random

import pytest

import accel
import sim
import workloads
from sim.ir import MappingError

NODES = [accel.preset("hgx-h100x8"), accel.cluster("hgx-h800x8", nodes=2)]
LAYERS = [("llama3-8b", dict(seq=1, seq_kv=256, batch=8)), ("llama3-8b", dict(seq=512, batch=2)),
          ("bert", dict(seq=256, batch=4)), ("deepseek-v3", dict(seq=1, seq_kv=128, batch=16, form="absorbed")),
          ("deepseek-v3", dict(seq=1, seq_kv=128, batch=8, form="absorbed", dense=True))]
CASES = 40


def random_plan(rng: random.Random) -> dict:
    p = {"tp": rng.choice([1, 2, 3, 4, 8]), "cp": rng.choice([1, 1, 2, 4]), "ep": rng.choice([1, 1, 2, 8])}
    if rng.random() < 0.3:
        p["attention"] = "tpla"
    if rng.random() < 0.5:
        p["cp_kind"] = rng.choice(["ring", "striped", "zigzag", "ulysses"])
    if rng.random() < 0.3:
        p["micro_batches"] = 2
    return p


@pytest.mark.parametrize("case", range(CASES))
def test_random_plan_refused_or_consistent(case):
    rng = random.Random(case)
    name, shape = rng.choice(LAYERS)
    layer = workloads.model(name).layer(**shape)
    cluster, p = rng.choice(NODES), random_plan(rng)
    try:
        r = sim.evaluate(layer, cluster, plan=p)
    except MappingError as e:
        assert len(str(e)) < 600
        return
    if not hasattr(r, "devices"):
        assert r.latency_s > 0
        return
    assert all(d.compute_s <= r.latency_s * (1 + 1e-9) for d in r.devices)
    assert 0 <= r.exposed_s <= r.latency_s * (1 + 1e-9)
    assert 0 < r.load_balance <= 1 + 1e-12
    assert r.memory is None or r.memory.fits
    assert all(c.seconds >= 0 and c.nbytes >= 0 for c in r.collectives)
