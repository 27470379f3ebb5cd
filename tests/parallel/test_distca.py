"""Core attention disaggregation: the same attention work, cut into tasks that cover every causal pair once,
rebalanced over the devices — better balanced and not slower than colocated attention for skewed documents."""
from __future__ import annotations

import pytest

import accel
import workloads
from sim.ir import MappingError
from sim.parallel import core_attention

NODE = accel.preset("hgx-h100x8")
LLAMA = workloads.model("llama3-8b")
SKEWED = [16384, 4096, 2048, 2048, 1024, 1024, 512, 512, 512, 512]


@pytest.fixture(scope="module")
def skewed():
    return core_attention(LLAMA, NODE, SKEWED, devices=4, chunk=1024)


def test_tasks_cover_each_causal_pair_once(skewed):
    pairs = sum(workloads.flops(t.run.kernel.cascade) for t in skewed.tasks)
    whole = sum(workloads.flops(LLAMA.attention(seq=d, batch=1, causal=True)) for d in SKEWED)
    assert pairs == pytest.approx(whole, rel=1e-9)
    assert all(t.end - t.start <= 1024 for t in skewed.tasks)


def test_balance_and_speed(skewed):
    assert skewed.disaggregated.load_balance > skewed.colocated.load_balance
    assert skewed.disaggregated.load_balance > 0.9
    assert skewed.speedup > 1
    total = lambda r: sum(d.flops for d in r.devices)  # noqa: E731
    assert total(skewed.disaggregated) == pytest.approx(total(skewed.colocated), rel=1e-9)


@pytest.mark.parametrize("kw,fragment", [
    (dict(documents=[]), "non-empty list"), (dict(documents=[64, -1]), "documents[1] must be an integer"),
    (dict(documents=[64], devices=16), "devices must be an integer in [1, 8]"),
    (dict(documents=[64], chunk=0), "chunk must be an integer")])
def test_bad_inputs(kw, fragment):
    with pytest.raises(MappingError, match=None) as e:
        core_attention(LLAMA, NODE, **kw)
    assert fragment in str(e.value)
