"""Invariants of `sim.evaluate` over every registered dataflow, on generated workloads and architecture variants:
cycles ≥ every unit's busy cycles and ≥ the roofline bound for the mapping's binding, utilizations in [0, 1],
outermost-level bytes ≥ compulsory bytes, lowered action counts = the cascade's op counts, more DRAM bandwidth /
a larger buffer / more PEs never makes the same mapping slower, and evaluation is deterministic.

Every registered dataflow is tested (the registry is parametrized), each on the workload families and presets it
supports; a new dataflow with no supported family fails `test_every_dataflow_has_a_supported_family`."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import accel
import sim
import workloads
from sim.dataflows.gpu.backward import derivation
from sim.dataflows.registry import DATAFLOWS
from sim.ir.mapping import MappingError

from prop_strategies import FAST, SLOW, VARIANT_EXAMPLES, arch_factors, scaled


ARCHS = {name: accel.preset(name) for name in sorted(accel.PRESETS)}
ARCHS["systolic16"] = accel.systolic(16, 16, buffer_bytes=2 ** 20, dram_bytes_per_s=50e9)


def _mha(softmax, causal):
    def make(pick):
        return workloads.attention("mha", batch=pick([1, 2]), heads=pick([1, 2, 3]), seq=pick([256, 512, 1024]),
                                   head_dim=pick([64, 32, 128]), causal=causal, softmax=softmax)
    return make


def _gqa(pick):
    return workloads.attention("gqa", batch=1, heads=4, kv_heads=pick([2, 1]), seq=pick([128, 384]), head_dim=64,
                               causal=pick([False, True]))


def _decode(pick):
    return workloads.attention("mha", batch=pick([1, 4]), heads=pick([8, 16]), seq=1, seq_kv=pick([2048, 8192]),
                               head_dim=pick([64, 128]))


def _mla(pick):
    return workloads.attention("mla", batch=pick([1, 2]), seq=1, seq_kv=pick([1024, 4096]))


def _na(pick):
    return workloads.attention("na", batch=1, heads=pick([1, 2]), spatial=(32, 32), window=pick([(7, 7), (9, 5)]),
                               head_dim=64)


def _gemm(pick):
    return workloads.gemm(pick([256, 64, 512]), pick([256, 64, 512]), pick([128, 64, 512]))


def _stream(pick):   # a residual add with a gain, as a layer's elementwise kernels stream it
    return workloads.cascade("input X[b,m,d], R[b,m,d], G[d]\nY[b,m,d] = X[b,m,d] * G[d] + R[b,m,d]",
                             {"B": pick([1, 2]), "M": pick([64, 512]), "D": pick([256, 1024])}, name="stream")


def _moa(pick):   # per-head causal windows (MoA)
    seq = pick([512, 1024])
    return workloads.attention("moa", batch=1, heads=4, seq=seq, head_dim=pick([64, 128]),
                               spans=(seq, seq // 4, pick([64, 300]), 1))


def _dynamic(pick):   # a keep table per (head, query block)
    return workloads.attention("dynamic", batch=1, heads=2, seq=pick([512, 1024]), head_dim=64,
                               block=pick([64, 128]), top_k=pick([1, 3]))


def _backward(pick):   # FlashAttention's backward of softmax MHA (the flash*-bwd dataflows' workloads)
    return derivation()(workloads.attention("mha", batch=1, heads=pick([2, 1]), seq=pick([256, 512]),
                                                  head_dim=pick([64, 128]), causal=pick([False, True])))


FAMILIES = {"mha-1pass": _mha("1pass", False), "mha-3pass": _mha("3pass", False),
            "mha-1pass-causal": _mha("1pass", True), "gqa": _gqa, "decode": _decode, "mla": _mla, "na": _na,
            "gemm": _gemm, "stream": _stream, "moa": _moa, "dynamic": _dynamic}
if derivation() is not None:
    FAMILIES["mha-bwd"] = _backward
PROBES = {fam: make(lambda options: options[0]) for fam, make in FAMILIES.items()}   # each family's first member
SUPPORTED = {df: [(fam, arch) for fam, c in PROBES.items() for arch, a in ARCHS.items()
                  if DATAFLOWS[df].supports(c, a) is None] for df in sorted(DATAFLOWS)}


def test_every_dataflow_has_a_supported_family():
    """Each registered dataflow supports at least one generated workload family on some preset."""
    waiting = {"flash2-bwd", "flash3-bwd"} if "mha-bwd" not in FAMILIES else set()   # until workloads.backward
    assert {df: pairs for df, pairs in SUPPORTED.items() if not pairs and df not in waiting} == {}


@st.composite
def request(draw, df):
    fam, arch = draw(st.sampled_from(SUPPORTED[df]))
    c = FAMILIES[fam](lambda options: draw(st.sampled_from(options)))
    return c, ARCHS[arch]


# (dataflow, level) pairs known to move fewer bytes than compulsory: mla-decode does not charge SMEM traffic for the
# absorbed projections' weights (WUK, WUV), which dominate its compulsory bytes.
LEVEL_UNDERCOUNT = {("mla-decode", "SMEM")}


def check_invariants(df, case, factors):
    c, arch = case
    if DATAFLOWS[df].supports(c, arch) is not None:
        return   # a family member outside the dataflow's support (e.g. a tile that does not divide)
    r = sim.evaluate(c, arch, df)
    # Cycles cover every unit's busy time; utilization in [0, 1].
    assert (r.run.busy_ticks <= r.run.ticks).all()
    assert all(0.0 <= u <= 1.0 + 1e-12 for u in r.utilization.values()), r.utilization
    # The roofline bound for the mapping's binding, or the default (fastest-unit) binding where the mapping binds an
    # Einsum to a unit that cannot run all its ops in the roofline's terms (GPU kernels bind everything to "tensor").
    try:
        bound = sim.roofline(c, arch, binding=r.mapping.binding)
    except MappingError:
        bound = sim.roofline(c, arch)   # e.g. GPU kernels bind every Einsum to the SM ("tensor")
    assert r.latency_s >= bound.lower_bound_s * (1 - 1e-9), (r.latency_s, bound.lower_bound_s, bound.binding)
    # Bytes across the outermost level, and across every level whose traffic the lowering models, cover the
    # compulsory bytes (every input byte passes each level on its way to the units; the output on its way back).
    compulsory = workloads.compulsory_bytes(c)
    assert r.dram_bytes >= compulsory * (1 - 1e-9)
    per_level: dict[str, float] = {}
    for key, n in r.bytes_per_level.items():
        per_level[key.split(".")[0]] = per_level.get(key.split(".")[0], 0.0) + n
    for level, n in per_level.items():
        if n and (df, level) not in LEVEL_UNDERCOUNT:
            assert n >= compulsory * (1 - 1e-9), (level, n, compulsory)
    # Lowered action counts equal the cascade's op counts, per op type.
    lowered = DATAFLOWS[df].lower(c, arch, r.mapping)
    compute = {k: v for k, v in lowered.actions.items() if "register" not in k}
    if compute:
        per_op: dict[str, float] = {}
        for key, n in compute.items():
            op = key.split(".", 1)[1]
            per_op[op] = per_op.get(op, 0) + n
        assert per_op == pytest.approx(workloads.total_ops(c))
    # Deterministic.
    again = sim.evaluate(c, arch, df)
    assert (again.cycles, again.dram_bytes, dict(again.utilization)) == (r.cycles, r.dram_bytes, dict(r.utilization))
    # More DRAM bandwidth, a larger buffer or more PEs never slows the same mapping down. (A systolic fold preloads
    # its stationary tile row by row, R cycles, so one small GEMM on a taller array is slower: SCALE-Sim's timing.)
    bandwidth, buffer, pes = factors
    pes = 1 if df.startswith("systolic-") else pes
    bigger = scaled(arch, bandwidth=bandwidth, buffer=buffer, pes=pes)
    if DATAFLOWS[df].supports(c, bigger) is None:
        faster = sim.evaluate(c, bigger, mapping=r.mapping)
        assert faster.cycles <= r.cycles * (1 + 1e-9), (factors, faster.cycles, r.cycles)


@pytest.mark.parametrize("df", sorted(DATAFLOWS))
@settings(max_examples=max(FAST // 5, 3), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), factors=arch_factors())
def test_evaluate_invariants(df, data, factors):
    """busy ≤ cycles, roofline ≤ latency, util ∈ [0, 1], DRAM ≥ compulsory, actions = op counts, determinism,
    and monotonicity in bandwidth, buffer and PEs — for every registered dataflow."""
    if not SUPPORTED[df]:
        pytest.skip(f"{df}: no supported family")
    check_invariants(df, data.draw(request(df)), factors)


@pytest.mark.slow
@pytest.mark.parametrize("df", sorted(DATAFLOWS))
@settings(max_examples=SLOW // 10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), factors=arch_factors())
def test_evaluate_invariants_slow(df, data, factors):
    if not SUPPORTED[df]:
        pytest.skip(f"{df}: no supported family")
    check_invariants(df, data.draw(request(df)), factors)


@pytest.mark.parametrize("df", ["flat", "unfused"])
def test_supported_request_plans(df):
    """A request `supports` accepts must plan and evaluate (here M = 768, a multiple of the 256-column tile)."""
    c = workloads.attention("mha", batch=1, heads=1, seq=768, head_dim=64, softmax="3pass")
    arch = accel.preset("flat")
    assert sim.dataflow(df).supports(c, arch) is None
    sim.evaluate(c, arch, df)


def test_gemm_l2_bytes_cover_compulsory():
    """Every operand byte leaves L2 at least once: L2 bytes ≥ compulsory bytes (regression: the Hopper GEMM
    lowering once divided L2 traffic by the multicast cluster even for tiles with no other reader, 0.38×)."""
    c = workloads.gemm(256, 256, 128)
    r = sim.evaluate(c, accel.preset("h100"), "gemm")
    l2 = sum(n for key, n in r.bytes_per_level.items() if key.startswith("L2."))
    assert l2 >= workloads.compulsory_bytes(c)


PIN_VALUES = st.sampled_from([0, -1, 1, 2, 3, 7, 64, 10 ** 9, 2.5, "a", None, True, False, (2, 2), (0, 1)])


def check_pinned(df, case, key, value):
    c, arch = case
    if DATAFLOWS[df].supports(c, arch) is not None:
        return
    keys = sorted(DATAFLOWS[df].plan(c, arch, {}).params)
    key = keys[key % len(keys)] if key >= 0 and keys else "bogus"   # some dataflows have no mapping choice
    try:
        r = sim.evaluate(c, arch, df, constraints={key: value})
    except (MappingError, workloads.CascadeError, accel.ArchError, sim.ir.ProgramError) as err:
        assert str(err)
        return
    assert r.cycles > 0 and all(0.0 <= u <= 1.0 + 1e-12 for u in r.utilization.values())


@pytest.mark.parametrize("df", sorted(DATAFLOWS))
@settings(max_examples=max(FAST // 5, 3), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), key=st.integers(-1, 12), value=PIN_VALUES)
def test_pinned_parameters_fail_cleanly(df, data, key, value):
    """Pinning any plan parameter (or an unknown one) to a bad or extreme value either evaluates to a sane result
    or raises a documented error — never ZeroDivisionError, TypeError or a crash deep in the engine."""
    if not SUPPORTED[df]:
        pytest.skip(f"{df}: no supported family")
    check_pinned(df, data.draw(request(df)), key, value)


@pytest.mark.slow
@pytest.mark.parametrize("df", sorted(DATAFLOWS))
@settings(max_examples=SLOW // 10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), key=st.integers(-1, 12), value=PIN_VALUES)
def test_pinned_parameters_fail_cleanly_slow(df, data, key, value):
    if not SUPPORTED[df]:
        pytest.skip(f"{df}: no supported family")
    check_pinned(df, data.draw(request(df)), key, value)


_DETERMINISM_SCRIPT = """
import accel, sim, workloads
c = workloads.attention("mha", batch=1, heads=2, seq=512, head_dim=64, causal=True)
c1 = workloads.attention("mha", batch=1, heads=2, seq=512, head_dim=64)
for df, cc, arch in (("flash2", c, "h100"), ("flash3", c, "h100"), ("fusemax", c1, "fusemax")):
    r = sim.evaluate(cc, accel.preset(arch), df)
    print(df, repr(r.cycles), repr(r.energy_j), repr(r.dram_bytes), sorted(r.utilization.items()))
"""


@pytest.mark.slow
def test_results_are_identical_across_processes():
    """Two interpreters with different hash seeds give bit-identical cycles, energy, bytes and utilizations."""
    import os
    import subprocess
    import sys
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT], env=env, capture_output=True, text=True,
                              check=True, cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 3


def _every_variant():
    cascades = [workloads.attention(name, **kw) for name, kw in VARIANT_EXAMPLES.items() if name in workloads.VARIANTS]
    return cascades + [workloads.gemm(3, 5, 7), workloads.cascade("input X[m]\nY[m] = exp(X[m])", {"M": 5})]


@pytest.mark.parametrize("df", sorted(DATAFLOWS))
def test_verdicts_never_raise_and_supported_requests_run(df):
    """On every attention variant, a GEMM and a plain map, on every preset and a tiny systolic array, `supports`
    returns None or a reason (never raises), and whatever it accepts evaluates or raises a documented error."""
    archs = list(ARCHS.values()) + [accel.systolic(4, 4)]
    for c in _every_variant():
        for arch in archs:
            reason = DATAFLOWS[df].supports(c, arch)
            assert reason is None or (isinstance(reason, str) and reason), (c.name, arch.name, reason)
            if reason is None:
                try:
                    r = sim.evaluate(c, arch, df)
                except (MappingError, workloads.CascadeError, accel.ArchError) as err:
                    assert str(err)
                else:
                    assert r.cycles > 0
