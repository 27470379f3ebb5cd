"""Fuzzing the spatial dataflows over shapes, arrays, buffers, bandwidths and pins: every request is either refused
with a MappingError (bounded message) or simulated at or above its roofline with busy ≤ total, utilization in
[0, 1], the exact MACs of the (re-tiled) cascade, and an unchanged mapping."""
from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accel
import sim
import workloads
from sim.ir.mapping import MappingError

ATTENTION = ("unfused", "flat", "fusemax-cascade", "fusemax-arch", "fusemax")
SYSTOLIC = ("systolic-ws", "systolic-os", "systolic-is")
SIDES = (1, 3, 8, 16, 48, 64, 100, 128, 256)
MESSAGE_LIMIT = 600   # characters: a refusal names the problem, it does not dump data
FUZZ = settings(max_examples=int(os.environ.get("CASCADESIM_PROPERTY_EXAMPLES", "60")), deadline=None,
                suppress_health_check=list(HealthCheck))


@st.composite
def spatial_arch(draw, preset):
    d = accel.to_dict(accel.preset(preset))
    d["name"] = f"{preset}_fuzzed"
    rows, cols = draw(st.sampled_from(SIDES)), draw(st.sampled_from(SIDES))
    d["units"][0]["pes"] = [rows, cols]
    if len(d["units"]) > 1:
        d["units"][1]["pes"] = [draw(st.sampled_from(SIDES))]
    d["levels"][1]["capacity_bytes"] = draw(st.sampled_from([2 ** 10, 2 ** 14, 2 ** 18, 2 ** 22, 2 ** 25]))
    d["levels"][0]["bandwidth_bytes_per_s"] = draw(st.sampled_from([None, 1e9, 5e10, 4e11, 4e12]))
    d["units"][0]["fill_drain_cycles"] = draw(st.sampled_from([None, 0, 7, 1000]))
    return accel.from_dict(d)


@st.composite
def attention_request(draw):
    df = draw(st.sampled_from(ATTENTION))
    seq = draw(st.sampled_from([1, 7, 64, 100, 256, 300, 1024, 4096]))
    kv = draw(st.sampled_from([None, 1, 96, 512, 2048]))
    shape = dict(batch=draw(st.integers(1, 3)), heads=draw(st.integers(1, 4)), seq=seq, seq_kv=kv,
                 head_dim=draw(st.sampled_from([8, 64, 128])), head_dim_v=draw(st.sampled_from([None, 32])),
                 softmax="3pass" if df in ("flat", "unfused") else "1pass")
    if shape["softmax"] == "1pass":
        shape["key_tile"] = draw(st.sampled_from([None, 1, 32]))
    pins = draw(st.sampled_from([{}, {"M1": 1}, {"P0": 16}, {"rows": 64}, {"lookahead": 3}]))
    arch = draw(spatial_arch("flat" if df in ("flat", "unfused", "fusemax-cascade") else "fusemax"))
    return df, shape, pins, arch


def check(c, arch, df, pins):
    try:
        r = sim.evaluate(c, arch, df, constraints=pins)
    except MappingError as err:
        assert 0 < len(str(err)) <= MESSAGE_LIMIT, str(err)[:200]
        return None
    # A 1-pass result simulates the cascade re-split with the mapping's key tile: that is the roofline it answers to.
    simulated = workloads.retile(c, "P0", r.mapping.params["P0"]) if "P0" in r.mapping.params else c
    bound = sim.roofline(simulated, arch, binding=r.mapping.binding).lower_bound_s
    assert r.latency_s >= bound * (1 - 1e-9)
    assert (r.run.busy_ticks <= r.run.ticks).all()
    assert all(0.0 <= u <= 1.0 + 1e-9 for u in r.utilization.values()), r.utilization
    assert all(math.isfinite(v) for v in (r.latency_s, r.energy_j, r.dram_bytes))
    lowered = sim.dataflow(df).lower(c, arch, r.mapping)
    macs = sum(ops.get("mac", 0) for ops in workloads.op_counts(simulated).values())
    assert lowered.actions.get("2d.mac", 0) + lowered.actions.get("1d.mac", 0) == macs
    return r


@FUZZ
@given(attention_request())
def test_attention_requests_are_right_or_refused(request):
    df, shape, pins, arch = request
    try:
        c = workloads.attention("mha", **shape)
    except workloads.CascadeError:
        return
    r = check(c, arch, df, pins)
    if r is not None:
        assert all(r.mapping.params[k] == v for k, v in pins.items())


@FUZZ
@given(st.sampled_from(SYSTOLIC), st.sampled_from(SIDES), st.sampled_from(SIDES),
       st.tuples(*(st.sampled_from([1, 5, 64, 100, 333, 1024]) for _ in range(3))),
       st.sampled_from([2 ** 10, 2 ** 16, 2 ** 20, 2 ** 24]), st.sampled_from([None, 1e10, 4e11]))
def test_gemm_requests_are_right_or_refused(df, rows, cols, mnk, buffer, bandwidth):
    """At unlimited bandwidth an accepted GEMM takes exactly SCALE-Sim's ceil-fold cycles."""
    arch = accel.systolic(rows, cols, buffer_bytes=buffer, dram_bytes_per_s=bandwidth)
    m, n, k = mnk
    r = check(workloads.gemm(m, n, k), arch, df, {})
    if r is None or bandwidth is not None:
        return
    kind = df.split("-")[1]
    (a, b), streamed = {"ws": ((k, n), m), "os": ((m, n), k), "is": ((k, m), n)}[kind]
    folds = -(-a // rows) * -(-b // cols)
    mt = r.mapping.params.get("Mt", m)
    streams = [mt] * (m // mt) + ([m % mt] if m % mt else []) if kind == "ws" else [streamed]
    fold = sim.dataflows.spatial.systolic.fold_cycles
    assert r.cycles == sum(folds * fold(rows, cols, t, kind) for t in streams)
