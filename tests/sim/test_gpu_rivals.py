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


def test_rivals_match_a_pairwise_check_of_every_sm():
    """Dropping the SMs the most loaded one dominates before the pairwise check changes nothing."""
    rng = np.random.default_rng(7)
    for trial in range(200):
        sms, classes = int(rng.integers(2, 40)), int(rng.integers(1, 6))
        features = rng.integers(0, 4, size=(classes, 2))
        cta_class = rng.integers(0, classes, size=int(rng.integers(1, 200)))
        owner = rng.integers(0, sms, size=len(cta_class))
        worst = int(rng.integers(0, sms))
        sums = np.column_stack([np.bincount(owner, weights=features[cta_class, k], minlength=sms) for k in (0, 1)]
                               + [np.bincount(owner, minlength=sms)])
        beats = lambda a, b: (a >= b).all() and (a > b).any()  # noqa: E731
        distinct = {tuple(r): s for s, r in reversed(list(enumerate(sums)))}     # the first SM of each sum
        front = sorted(s for r, s in distinct.items() if r != tuple(sums[worst])
                       and not any(beats(np.array(o), np.array(r)) for o in list(distinct) + [tuple(sums[worst])]))
        expected = front if len(front) <= machine.MAX_RIVALS else []
        assert machine.rival_sms(owner, cta_class, features, sms, worst) == expected, trial
