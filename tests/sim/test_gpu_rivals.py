"""The simulated SM of an uneven grid is the slowest of those the work estimate cannot rank, not merely the most
loaded by estimate: an estimate that put a MoA head's window CTA above the full-causal head's last CTA made the
kernel 12.5% too fast (and 2× the PEs then made it 14% slower)."""
import numpy as np

import accel
import sim
import workloads
from sim.dataflows.gpu import machine

H100 = accel.preset("h100")


def moa():
    return workloads.attention("moa", batch=1, heads=4, seq=512, head_dim=64, spans=(512, 128, 64, 1))


def test_the_slowest_rival_is_simulated():
    r = sim.evaluate(moa(), H100, "sparse")
    causal = workloads.attention("moa", batch=1, heads=4, seq=512, head_dim=64, spans=(512, 512, 512, 512))
    full = sim.evaluate(causal, H100, "sparse", mapping=r.mapping)
    # The MoA grid holds the full-causal head's CTAs, one per SM: it is no faster than that head's slowest CTA.
    assert r.cycles >= 0.99 * full.cycles


def test_rivals_are_the_undominated_sms():
    # Four SMs, one CTA each: features (partial, full) per class; class 2 is dominated by class 3.
    features = np.array([[1, 0], [1, 3], [0, 1], [1, 1]])
    pattern = np.array([0, 1, 2, 3])
    estimates = np.array([1.0, 3.0, 1.5, 3.5])           # the estimate ranks class 3 first
    p = machine.place(estimates, pattern, 1, 4, features=features)
    assert p.runs[0][0] == 3
    assert [runs[0][0][0] for runs in p.rivals] == [1]   # class 1 has more full tiles: it may be slower


def test_equal_ctas_have_no_rivals():
    p = machine.place(np.array([2.0]), np.zeros(8, int), 4, 132, features=np.array([[0, 4]]))
    assert p.rivals == ()
