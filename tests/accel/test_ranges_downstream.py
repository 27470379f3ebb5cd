"""The stated ranges are there so that every accepted arch gives finite numbers downstream: at the edges of each
numeric key's range the roofline is finite and positive, and representative dataflows simulate finite latencies
(a denormal clock once gave latency_s = inf; huge rates overflowed)."""
import math

import pytest

import accel
import sim
import workloads
from accel.schema import keys

ATTENTION = workloads.attention("mha", batch=1, heads=2, seq=256, head_dim=64)
GEMM = workloads.gemm(256, 256, 256)


def _edges():
    """(preset, path, value): each numeric key of each preset at the low and high end of its range."""
    out = []
    for name in sorted(accel.PRESETS):
        spec = accel.to_dict(accel.preset(name))
        for k in keys(accel.Arch):
            if k.kind == "real":
                out += [(name, (k.name,), v) for v in (k.low, k.high) if not k.above]
        for where, cls in (("levels", accel.Level), ("units", accel.Unit)):
            for i, _ in enumerate(spec[where]):
                out += [(name, (where, i, k.name), v) for k in keys(cls) if k.kind in ("int", "real")
                        for v in (k.low, k.high)]
    return out


def _with(name, path, value):
    spec = accel.to_dict(accel.preset(name))
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        return accel.from_dict(spec)
    except accel.ArchError:
        return None   # refused by a rule across keys (e.g. a capacity that breaks the level order): fine


def test_the_roofline_is_finite_at_every_range_edge():
    checked = 0
    for name, path, value in _edges():
        arch = _with(name, path, value)
        if arch is None:
            continue
        for c in (ATTENTION, GEMM):
            try:
                bound = sim.roofline(c, arch)
            except ValueError:
                continue   # a documented refusal (e.g. no unit runs an op)
            assert math.isfinite(bound.lower_bound_s) and bound.lower_bound_s > 0, (name, path, value)
        checked += 1
    assert checked > 100


EVALUATE = [("fusemax", "fusemax", ATTENTION), ("h100", "flash2", ATTENTION), ("h100", "gemm", GEMM),
            ("fusemax", "systolic-os", GEMM)]
EXTREMES = [(("clock_hz",), 1e3), (("clock_hz",), 1e11), (("levels", 0, "bandwidth_bytes_per_s"), 1e3),
            (("levels", 0, "bandwidth_bytes_per_s"), 1e18), (("units", 0, "ops_per_cycle", "mac"), 1e-6),
            (("units", 0, "ops_per_cycle", "mac"), 1e6)]


CASES = [(p, d, c, path, v) for p, d, c in EVALUATE for path, v in EXTREMES]


@pytest.mark.parametrize("preset, dataflow, cascade, path, value", CASES,
                         ids=[f"{p}-{d}-{path[-1]}={v:g}" for p, d, _, path, v in
                              (c.values if hasattr(c, "values") else c for c in CASES)])
def test_simulations_stay_finite_and_above_the_roofline_at_extreme_clocks_and_rates(preset, dataflow, cascade,
                                                                                    path, value):
    spec = accel.to_dict(accel.preset(preset))
    node = spec
    for key in path[:-1]:
        node = node[key]
    if path[-1] == "bandwidth_bytes_per_s":   # a measured ceiling may not beat the new peak
        spec["measured"] = {k: min(v, value) if k.endswith("bytes_per_s") else v for k, v in spec["measured"].items()}
    node[path[-1]] = value
    arch = accel.from_dict(spec)
    r = sim.evaluate(cascade, arch, dataflow=dataflow)
    assert math.isfinite(r.latency_s) and r.latency_s > 0
    assert r.latency_s >= sim.roofline(cascade, arch).lower_bound_s * (1 - 1e-9)
