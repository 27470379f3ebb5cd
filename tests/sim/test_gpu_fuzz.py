"""Fuzzed GPU architectures and shapes: every GPU dataflow either refuses with a MappingError (or the arch parser
with an ArchError) or returns a finite result at or above its roofline — no raw exception, no ProgramError from a
lowering, no inf or NaN, whatever the rates, capacities, SM counts and nulls the schema allows."""
from __future__ import annotations

import copy
import os
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import accel
import sim
import workloads
from accel import ArchError
from sim.ir.mapping import MappingError

GPU_DATAFLOWS = ("flash2", "flash3", "cudnn", "gpu-unfused", "flash-decoding", "mla-decode", "gna", "gemm",
                 "flash-blackwell", "decode-blackwell")
FACTORS = st.sampled_from([1e-3, 0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3])


@st.composite
def gpu_archs(draw):
    """A GPU preset with its clock, bandwidths, capacities, op rates and SM count scaled, some bandwidths null."""
    d = copy.deepcopy(accel.to_dict(accel.preset(draw(st.sampled_from(["a100", "h100", "b200"])))))
    d["clock_hz"] *= draw(FACTORS)
    for lv in d["levels"]:
        if lv["bandwidth_bytes_per_s"] is not None:
            lv["bandwidth_bytes_per_s"] = None if draw(st.booleans()) and draw(st.booleans()) else \
                lv["bandwidth_bytes_per_s"] * draw(FACTORS)
        if lv["name"] in ("L2", "SMEM", "TMEM") and draw(st.booleans()):
            lv["capacity_bytes"] = max(1, int(lv["capacity_bytes"] * draw(FACTORS)))
    for u in d["units"]:
        factor = draw(FACTORS)
        u["ops_per_cycle"] = {op: rate * factor for op, rate in u["ops_per_cycle"].items()}
    d["measured"] = {k: v * draw(FACTORS) for k, v in d["measured"].items()} if draw(st.booleans()) else {}
    d["launch_overhead_s"] = draw(st.sampled_from([0.0, 1e-9, 2e-6, 1e-3]))
    d["levels"][1]["fanout"] = draw(st.sampled_from([1, 7, 132, 1024]))
    return accel.from_dict(d)


def workload(kind: str, seq: int):
    if kind == "gemm":
        return workloads.gemm(seq, seq, 256)
    if kind == "mla":
        return workloads.attention("mla", batch=1, seq=1, seq_kv=seq, heads=16)
    if kind == "gna":
        return workloads.attention("gna", batch=1, heads=2, spatial=(seq // 16, 16), window=(8, 8), head_dim=64)
    return workloads.attention("gqa", batch=2, heads=8, kv_heads=2, seq=1 if kind == "decode" else seq,
                               seq_kv=seq, head_dim=64, causal=kind == "causal")


@settings(max_examples=int(os.environ.get("CASCADESIM_GPU_FUZZ", "40")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data(), kind=st.sampled_from(["prefill", "causal", "decode", "mla", "gna", "gemm"]),
       seq=st.sampled_from([256, 1024, 4096]))
def test_fuzzed_gpus_refuse_or_give_sane_numbers(data, kind, seq):
    try:
        arch = data.draw(gpu_archs())
    except ArchError:
        return   # a combination the schema refuses (documented there)
    c = workload(kind, seq)
    for name in GPU_DATAFLOWS:
        df = sim.dataflow(name)
        why = df.supports(c, arch)
        if why is not None:
            assert isinstance(why, str) and why
            continue
        try:
            r = sim.evaluate(c, arch, name)
        except MappingError as err:
            pytest.fail(f"{name} accepted {c.name} on {arch.name} but evaluate refused it: {err}")
        assert math.isfinite(r.latency_s) and r.latency_s > 0, (name, r.latency_s)
        assert r.latency_s >= sim.roofline(c, arch).lower_bound_s * (1 - 1e-9), name
        assert all(0 <= u <= 1 + 1e-9 for u in r.utilization.values()), (name, r.utilization)
