"""Roofline invariants over generated attention cascades and architecture variants: the bound is the largest
component, compulsory traffic is attributed exactly once, and more bandwidth or more PEs never raise it."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import accel
import sim
import workloads

from prop_strategies import FAST, SLOW, arch_factors, scaled

PRESETS = sorted(accel.PRESETS)


@st.composite
def roofline_case(draw):
    softmax = draw(st.sampled_from(["1pass", "2pass", "3pass"]))
    seq = draw(st.integers(1, 4096))
    shape = dict(batch=draw(st.integers(1, 4)), heads=draw(st.integers(1, 16)), seq=seq,
                 seq_kv=draw(st.integers(seq, 8192)), head_dim=draw(st.sampled_from([16, 64, 128, 256])),
                 causal=draw(st.booleans()), softmax=softmax)
    if softmax != "3pass":
        shape["key_tile"] = draw(st.integers(1, min(shape["seq_kv"], 512)))
    return workloads.attention("mha", **shape), accel.preset(draw(st.sampled_from(PRESETS)))


def check_roofline(case, factors):
    c, arch = case
    roof = sim.roofline(c, arch)
    parts = list(roof.unit_s.values()) + list(roof.level_s.values())
    assert all(p >= 0 for p in parts)
    assert roof.lower_bound_s == max(parts)
    assert sum(r.traffic_bytes for r in roof.rows) == workloads.compulsory_bytes(c) == roof.compulsory_bytes
    assert roof.flops == workloads.flops(c)
    for r in roof.rows:
        assert r.unfused_bytes >= r.traffic_bytes
    bandwidth, _, pes = factors
    bigger = sim.roofline(c, scaled(arch, bandwidth=bandwidth, pes=pes))
    assert bigger.lower_bound_s <= roof.lower_bound_s * (1 + 1e-12)
    for level, t in bigger.level_s.items():
        assert t <= roof.level_s[level] * (1 + 1e-12)


@settings(max_examples=FAST, deadline=None, suppress_health_check=list(HealthCheck))
@given(roofline_case(), arch_factors())
def test_roofline_invariants(case, factors):
    """lower bound = max component ≥ 0; compulsory bytes attributed once; FLOPs match; more bandwidth or PEs never
    raise the bound."""
    check_roofline(case, factors)


@pytest.mark.slow
@settings(max_examples=SLOW, deadline=None, suppress_health_check=list(HealthCheck))
@given(roofline_case(), arch_factors())
def test_roofline_invariants_slow(case, factors):
    check_roofline(case, factors)
