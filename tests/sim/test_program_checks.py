"""sim.ir program validation: each malformed field is named (builder and validate), the compiled checks agree with
the readable ones on mutated programs, programs are immutable and validated once, the int64 ranges are refused
rather than wrapped, and the kernels compile once for one signature, announcing it on stderr."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_programs import random_program
from sim.engine.reference import simulate_reference
from sim.engine.scheduler import _kernel_args, _schedule, simulate
from sim.ir import checks, jit
from sim.ir.diagnostics import check_header, explain
from sim.ir.program import MAX_TICKS, Program, ProgramBuilder, ProgramError, Segment, validate, validated

JIT = not numba.config.DISABLE_JIT


def readable_verdict(p: Program) -> str | None:
    """The readable checks alone: the message of the first problem, or None."""
    try:
        check_header(p)
        explain(p)
    except ProgramError as e:
        return str(e)
    return None


def fast_verdict(p: Program) -> str | None:
    try:
        validate(p)
    except ProgramError as e:
        return str(e)
    return None


def _valid_programs(n: int):
    out = []
    seed = 0
    while len(out) < n:
        p = random_program(5000 + seed)
        seed += 1
        if readable_verdict(p) is None:
            out.append(p)
    return out


def _mutations(rng: np.random.Generator, seg: Segment, p: Program) -> dict:
    """One random corruption of a segment's fields (some leave it valid, most do not)."""
    n = seg.n_ops
    i = int(rng.integers(n))

    def at(name, value, index=None):
        arr = getattr(seg, name).copy()
        if len(arr) == 0:
            return {}
        arr[int(rng.integers(len(arr))) if index is None else index] = value
        return {name: arr}

    big = int(rng.choice([MAX_TICKS, MAX_TICKS // 2 + 1, 2 ** 63 - 1]))
    options = [
        lambda: at("unit", rng.choice([-1, len(p.units), 2 ** 31 - 1])),
        lambda: at("tag", rng.choice([-2, len(p.tags)])),
        lambda: at("duration", rng.choice([-1, big])),
        lambda: at("latency", rng.choice([-5, big])),
        lambda: {"level_bytes": np.where(rng.random(seg.level_bytes.shape) < 0.2,
                                         rng.choice([np.nan, np.inf, -1.0]), seg.level_bytes)},
        lambda: at("dep_op", rng.choice([-1, i, n, n + 3])),
        lambda: at("dep_prev", not bool(seg.dep_prev[0])) if len(seg.dep_prev) else {},
        lambda: at("dep_ptr", int(rng.integers(-2, len(seg.dep_op) + 3))),
        lambda: at("acq_ptr", int(rng.integers(-2, len(seg.acq_buf) + 3))),
        lambda: at("rel_ptr", int(rng.integers(-2, len(seg.rel_buf) + 3))),
        lambda: at("acq_amount", int(rng.choice([-1, 0, 1, 3, 9, 2 ** 40]))),
        lambda: at("rel_amount", int(rng.choice([-1, 0, 1, 3, 9, 2 ** 62]))),
        lambda: at("acq_buf", int(rng.choice([-1, 0, len(p.buffers)]))),
        lambda: at("rel_buf", int(rng.choice([-1, 0, len(p.buffers)]))),
        lambda: {"repeat": int(rng.choice([0, 1, 7, 10 ** 6, 2 ** 62, 2 ** 62 + 1]))},
        lambda: {"dep_op": seg.dep_op[:-1], "dep_prev": seg.dep_prev[:-1]} if len(seg.dep_op) else {},
        lambda: {"duration": seg.duration.astype(np.float64)},
        lambda: {"unit": seg.unit[:-1]} if n > 1 else {},
    ]
    return options[int(rng.integers(len(options)))]()


@pytest.mark.parametrize("seed", range(12))
def test_compiled_checks_agree_with_readable_checks(seed):
    """Random corruptions of valid programs: the fast path rejects exactly what the readable checks reject, with
    the readable message (never the 'internal error' one), and accepts the rest."""
    rng = np.random.default_rng(seed)
    rejected = 0
    for p in _valid_programs(25):
        s = int(rng.integers(len(p.segments)))
        changes = _mutations(rng, p.segments[s], p)
        for _ in range(int(rng.integers(0, 2))):  # sometimes a second corruption
            changes.update(_mutations(rng, p.segments[s], p))
        segs = list(p.segments)
        segs[s] = dataclasses.replace(segs[s], **changes)
        mutated = dataclasses.replace(p, segments=tuple(segs))
        expected = readable_verdict(mutated)
        assert fast_verdict(mutated) == expected
        rejected += expected is not None
        if expected is None and mutated.ops_total <= 2000:  # still valid: the engine must run it exactly
            assert simulate(mutated, extrapolate=False).ticks == simulate_reference(mutated).ticks
    assert rejected > 10


def test_header_corruptions_are_refused():
    p = random_program(7)
    cases = {
        "buffer_capacity": (np.array([2 ** 61 + 1] * len(p.buffers), np.int64), "outside [0, 2^61]"),
        "ticks_per_cycle": (True, "ticks_per_cycle must be an int >= 1"),
        "unit_is_memory": (None, "unit_is_memory must be a tuple of bool"),
        "segments": ([], "program.segments must be a tuple of Segment"),
    }
    for name, (value, message) in cases.items():
        if name == "buffer_capacity" and not p.buffers:
            continue
        with pytest.raises(ProgramError, match=message.replace("[", r"\[").replace("^", r"\^")):
            validate(dataclasses.replace(p, **{name: value}))
    with pytest.raises(ProgramError, match="expected a sim.ir.Program, got dict"):
        validate({})


def test_programs_are_immutable_and_validated_once():
    """Segment arrays are read-only (a view is copied, so its base cannot change it either); validate remembers
    the program object, and the totals it sums equal the run's."""
    b = ProgramBuilder(units=["u"])
    b.segment("s", repeat=3).op("u", 4)
    p = b.build()
    with pytest.raises(ValueError, match="read-only"):
        p.segments[0].duration[0] = -1
    base = np.arange(4, dtype=np.int64)
    seg = dataclasses.replace(p.segments[0], duration=base[:1])
    base[0] = -7
    assert seg.duration.tolist() == [0] and not seg.duration.flags.writeable
    assert validated(p) is validated(p)
    run = simulate(p)
    assert run.busy_ticks.tolist() == [12] and validated(p).busy_ticks.tolist() == [12]
    run.busy_ticks[0] = 0  # a Run's arrays are its own: changing them leaves the program's totals alone
    assert simulate(p).busy_ticks.tolist() == [12]
    for copied in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert not copied.segments[0].duration.flags.writeable and not copied.buffer_capacity.flags.writeable
        assert simulate(copied).ticks == 12


def test_tick_range_is_refused_not_wrapped():
    """2^40 iterations of 2^23 ticks could run 2^63 ticks: refused, though each number fits in int64."""
    b = ProgramBuilder(units=["u"])
    b.segment("long", repeat=2 ** 40).op("u", 2 ** 22, 2 ** 22)
    with pytest.raises(ProgramError, match=r"segment 'long': the program's durations and latencies add up to "
                                           r"more than 2\^62 ticks"):
        b.build()
    ok = ProgramBuilder(units=["u"])
    ok.segment("long", repeat=2 ** 40).op("u", 2 ** 20, 2 ** 20)
    run = simulate(ok.build())
    assert run.ticks == 2 ** 60 + 2 ** 20 and run.busy_ticks.tolist() == [2 ** 60]
    huge = ProgramBuilder(units=["u"])
    huge.segment("r", repeat=2 ** 62 + 1).op("u", 0)
    with pytest.raises(ProgramError, match=r"field repeat: 4611686018427387905 is beyond the engine's limit"):
        huge.build()


@pytest.mark.parametrize("call, message", [
    (lambda s: s.op("u", 2.5), "op 0 field duration: expected an integer, got 2.5"),
    (lambda s: s.op("u", "3"), "op 0 field duration: expected an integer, got str"),
    (lambda s: s.op("u", True), "op 0 field duration: expected an integer, got bool"),
    (lambda s: s.op("u", 2 ** 64), r"op 0 field duration: 18446744073709551616 is outside"),
    (lambda s: s.op("u", 1, None), "op 0 field latency: expected an integer, got NoneType"),
    (lambda s: s.op("u", 1, deps=5), "op 0 field deps: expected op indices, got int"),
    (lambda s: s.op("u", 1, prev_deps=[2 ** 40]), "op 0 field prev_deps: 1099511627776 is outside"),
    (lambda s: s.op("u", 1, acquire=["b"]), "op 0 acquire: expected a mapping of buffer name to bytes, got list"),
    (lambda s: s.op("u", 1, acquire={"b": 0.5}), "op 0 acquire 'b': expected an integer, got 0.5"),
    (lambda s: s.op("u", 1, bytes={"L": "many"}), "op 0 bytes 'L': expected a number of bytes, got str"),
    (lambda s: s.op("u", 1, bytes=3), "op 0 bytes: expected a mapping of level name to bytes, got int"),
])
def test_builder_refuses_non_integers_by_name(call, message):
    s = ProgramBuilder(units=["u"], buffers={"b": 4}, levels=["L"]).segment("s")
    with pytest.raises(ProgramError, match=message):
        call(s)


def test_builder_accepts_integral_floats_and_numpy_ints():
    b = ProgramBuilder(units=["u"], buffers={"b": np.int64(4)}, levels=["L"])
    s = b.segment("s")
    s.op("u", 3.0, np.int32(2), acquire={"b": np.int64(2)}, release={"b": 2.0}, bytes={"L": np.float32(1.5)})
    run = simulate(b.build())
    assert run.ticks == 5 and run.level_bytes.tolist() == [1.5]


def test_simulate_refuses_non_bool_flags():
    p = random_program(3)
    with pytest.raises(ProgramError, match="simulate: trace must be True or False, got str"):
        simulate(p, trace="yes")


# ---------------------------------------------------------------------------------------------------------------
# Errors of malformed programs, by the builder and by validate


def _one_op_segment(**overrides) -> Segment:
    fields = dict(
        name="s", repeat=1, barrier=False, unit=np.zeros(1, np.int32), duration=np.ones(1, np.int64),
        latency=np.zeros(1, np.int64), dep_ptr=np.zeros(2, np.int64), dep_op=np.zeros(0, np.int32),
        dep_prev=np.zeros(0, bool), acq_ptr=np.zeros(2, np.int64), acq_buf=np.zeros(0, np.int32),
        acq_amount=np.zeros(0, np.int64), rel_ptr=np.zeros(2, np.int64), rel_buf=np.zeros(0, np.int32),
        rel_amount=np.zeros(0, np.int64), level_bytes=np.zeros((1, 0)), tag=np.full(1, -1, np.int32),
    )
    fields.update(overrides)
    return Segment(**fields)


def _program(*segments: Segment, **overrides) -> Program:
    fields = dict(units=("u",), unit_is_memory=(False,), buffers=("x",), buffer_capacity=np.array([4], np.int64),
                  levels=(), tags=(), ticks_per_cycle=1, segments=segments)
    fields.update(overrides)
    return Program(**fields)


def _builder() -> ProgramBuilder:
    return ProgramBuilder(units=["dma", "pe"], unit_is_memory=[True, False], buffers={"sp": 4},
                          levels=["DRAM"], tags=["mm"])


def test_error_unknown_unit_name():
    with pytest.raises(ProgramError, match=r"segment 's' op 0 unit: unknown name 'tpu'.*\['dma', 'pe'\]"):
        _builder().segment("s").op("tpu", 1)


def test_error_unknown_buffer_level_and_tag_names():
    s = _builder().segment("s")
    with pytest.raises(ProgramError, match="acquire: unknown name 'l2'"):
        s.op("pe", 1, acquire={"l2": 1})
    with pytest.raises(ProgramError, match="bytes: unknown name 'HBM'"):
        s.op("pe", 1, bytes={"HBM": 1})
    with pytest.raises(ProgramError, match="tag: unknown name 'qk'"):
        s.op("pe", 1, tag="qk")


def test_error_dependency_on_a_later_op():
    with pytest.raises(ProgramError, match="op 0 field deps: dependency on op 3, which is not an earlier op"):
        _builder().segment("s").op("pe", 1, deps=[3])
    seg = _one_op_segment(dep_ptr=np.array([0, 1], np.int64), dep_op=np.zeros(1, np.int32),
                          dep_prev=np.zeros(1, bool))
    with pytest.raises(ProgramError, match="segment 's' op 0 field dep_op: same-iteration dependency on op 0"):
        simulate(_program(seg))


def test_error_previous_iteration_dep_out_of_range():
    b = _builder()
    b.segment("s", repeat=2).op("pe", 1, prev_deps=[5])
    with pytest.raises(ProgramError, match=r"segment 's' op 0 field dep_op: index 5 out of range \[0, 1\)"):
        b.build()


def test_error_negative_duration_and_latency():
    b = _builder()
    s = b.segment("s")
    s.op("pe", 1)
    s.op("pe", -1)
    with pytest.raises(ProgramError, match="segment 's' op 1 field duration: negative value -1"):
        b.build()
    with pytest.raises(ProgramError, match="op 0 field latency: negative value -2"):
        simulate(_program(_one_op_segment(latency=np.array([-2], np.int64))))


def test_error_acquire_exceeds_capacity():
    b = _builder()
    b.segment("s").op("dma", 1, acquire={"sp": 5})
    with pytest.raises(ProgramError, match="op 0 field acq_amount: acquire of 5 bytes exceeds the capacity of "
                                           "buffer 'sp' \\(4 bytes\\)"):
        b.build()


def test_error_deadlock():
    """Each iteration acquires 3 of 4 bytes and never releases: iteration 1 can never get space."""
    b = _builder()
    s = b.segment("leak", repeat=3)
    s.op("dma", 1)
    s.op("dma", 1, acquire={"sp": 3})
    with pytest.raises(ProgramError, match="deadlock: segment 'leak' iteration 1 op 1 waits for space in buffer "
                                           "'sp' that no earlier op releases"):
        b.build()


def test_error_over_release():
    """The second iteration releases 2 bytes that were never acquired again."""
    b = _builder()
    b.segment("init").op("dma", 1, acquire={"sp": 2})
    b.segment("s", repeat=2).op("pe", 1, release={"sp": 2})
    with pytest.raises(ProgramError, match="over-release: segment 's' iteration 1 op 0 field rel_amount releases 2"):
        b.build()


def test_error_repeat_and_empty_body():
    with pytest.raises(ProgramError, match="segment 's' field repeat: must be an int >= 1, got 0"):
        simulate(_program(_one_op_segment(repeat=0)))
    b = _builder()
    b.segment("nothing")
    with pytest.raises(ProgramError, match="segment 'nothing': body has no ops"):
        b.build()


def test_error_wrong_dtype_length_and_index():
    with pytest.raises(ProgramError, match="field duration: expected a int64 array, got float64"):
        simulate(_program(_one_op_segment(duration=np.ones(1))))
    with pytest.raises(ProgramError, match=r"field latency: shape \(2,\), expected \(1,\)"):
        simulate(_program(_one_op_segment(latency=np.zeros(2, np.int64))))
    with pytest.raises(ProgramError, match=r"op 0 field unit: index 3 out of range \[0, 1\)"):
        simulate(_program(_one_op_segment(unit=np.array([3], np.int32))))
    with pytest.raises(ProgramError, match="field acq_ptr: must be non-decreasing"):
        simulate(_program(_one_op_segment(acq_ptr=np.array([0, 1, 1], np.int64))))
    with pytest.raises(ProgramError, match="unit_is_memory has 2 entries for 1 units"):
        simulate(_program(unit_is_memory=(False, True)))
    with pytest.raises(ProgramError, match="duplicate segment name 's'"):
        simulate(_program(_one_op_segment(), _one_op_segment()))


# ---------------------------------------------------------------------------------------------------------------
# Compilation


@pytest.mark.skipif(not JIT, reason="compiles with Numba")
def test_kernels_compile_once_for_one_signature():
    """After simulating programs with every feature, each kernel has exactly its declared signature, and a call
    with another dtype mix is refused instead of compiled a second time."""
    for seed in range(5):
        try:
            simulate(random_program(seed), trace=bool(seed % 2))
        except ProgramError:
            pass
    for k in (_schedule, checks.check_contents):
        assert k.compiled_signatures == [k.signature.args]
    args = list(_kernel_args(validated(random_program(1)).flat))
    args[4] = args[4].astype(np.int32)  # duration as int32
    with pytest.raises(TypeError, match="No matching definition"):
        _schedule(*args, True, False)


def _triple(x):
    return 3 * x


@pytest.mark.skipif(not JIT, reason="compiles with Numba")
def test_compiling_is_announced_once_and_a_cache_load_is_silent(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(jit._Notice, "shown", False)
    first = jit.Kernel(_triple, numba.types.int64(numba.types.int64))
    assert first(2) == 6
    assert capfd.readouterr().err == jit.COMPILING_NOTICE + "\n"
    monkeypatch.setattr(jit._Notice, "shown", False)
    again = jit.Kernel(_triple, numba.types.int64(numba.types.int64))  # a new process would do the same
    assert again(3) == 9
    assert capfd.readouterr().err == ""
    assert any(tmp_path.rglob("*.nbi"))


_COLD_RUN = """
import sys, time
import accel, sim, workloads
from sim.ir import jit
sim.evaluate(workloads.attention("mha", batch=1, heads=2, seq=256, head_dim=64), accel.preset("fusemax"),
             dataflow="fusemax")
ahead = jit._Ahead.current
print(None if ahead is None else ahead.state)
"""


@pytest.mark.skipif(not JIT, reason="compiles with Numba")
def test_a_cold_cache_compiles_the_scheduler_in_a_second_process_and_a_warm_one_starts_none(tmp_path):
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _COLD_RUN], env=env, capture_output=True, text=True,
                              timeout=600, check=True)
    cold = run()
    assert cold.stdout.strip() == "{'sim.engine.scheduler:_schedule': 'done'}"
    assert cold.stderr.count(jit.COMPILING_NOTICE) == 1
    warm = run()
    assert (warm.stdout.strip(), warm.stderr) == ("None", "")


@pytest.mark.skipif(not JIT, reason="compiles with Numba")
def test_a_failed_second_process_is_not_waited_for_and_a_forked_one_is_ignored(monkeypatch):
    missing = jit.Kernel(_triple, numba.types.int64(numba.types.int64))
    missing.key = "no_such_module_here:kernel"
    ahead = jit._Ahead([missing])           # the second process fails to import it and exits
    monkeypatch.setattr(jit._Ahead, "current", ahead)
    jit._Ahead.wait_for(missing)
    assert ahead.ended and ahead.state[missing.key] == "queued"
    monkeypatch.setattr(ahead, "ended", False)
    monkeypatch.setattr(ahead, "owner", -1)  # as in a process forked from the one that started it
    jit._Ahead.wait_for(missing)              # returns at once instead of waiting for a process it cannot hear


_ANY = st.one_of(st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True), st.none(),
                 st.booleans(), st.text(max_size=3), st.lists(st.integers(-3, 3), max_size=3),
                 st.dictionaries(st.sampled_from(["b", "L", "x"]), st.integers(-9, 2 ** 63), max_size=2),
                 st.sampled_from([np.int64(3), np.float32(2.5), np.int32(-1), np.bool_(True), np.nan]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.fixed_dictionaries({}, optional={k: _ANY for k in (
    "duration", "latency", "deps", "prev_deps", "acquire", "release", "bytes", "tag")}), min_size=1, max_size=4),
    _ANY)
def test_builder_fuzz_raises_only_program_errors(ops, repeat):
    """Any values for any op argument (and the repeat): ProgramError or a program the engine runs like the
    reference; never another exception."""
    b = ProgramBuilder(units=["u"], buffers={"b": 8}, levels=["L"], tags=["x"])
    try:
        s = b.segment("s", repeat=repeat)
        for op in ops:
            s.op("u", **{"duration": 1, **op})
        p = b.build()
    except ProgramError:
        return
    if p.ops_total <= 1000:
        assert simulate(p).ticks == simulate_reference(p).ticks


def test_a_shared_body_is_checked_once_but_every_segment_is_checked():
    """Segments renamed from one body (a CTA repeated) pass once their body did; a segment that shares some of
    that body's arrays but not all, or has a bad repeat count, is still refused."""
    b = ProgramBuilder(units=["u"], buffers={}, levels=["L"], tags=["x"])
    b.segment("s", repeat=2).op("u", 3)
    p = b.build()
    body = p.segments[0]
    again = dataclasses.replace(p, segments=(body, body.renamed("t", 5, False), body.renamed("v", 1, True)))
    validate(again)
    assert simulate(again).ticks == simulate_reference(again).ticks
    wrong = dataclasses.replace(body, name="w", duration=np.array([3.0]))   # shares `unit`, not `duration`
    with pytest.raises(ProgramError, match="duration"):
        validate(dataclasses.replace(p, segments=(body, wrong)))
    with pytest.raises(ProgramError, match="repeat"):
        validate(dataclasses.replace(p, segments=(body, body.renamed("r", 0, False))))
