"""What keeps GPU evaluations fast without changing their numbers: the wave-at-a-time greedy dispatch equals the
one-heap-pop-per-CTA one, merged runs of CTAs keep the simulated SM's time, composed bodies equal bodies built op
by op, and the work listed grows with the sequence, never with the score elements (timings live in
benchmarks/gpu_speed.py)."""
import heapq

import numpy as np
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import fused, machine, programs
from sim.dataflows.gpu.pieces import Names, Piece, compose
from sim.engine import simulate
from sim.ir.options import DEFAULT_OPTIONS
from sim.ir.program import ProgramBuilder

H100 = accel.preset("h100")


def heap_dispatch(estimates, sms):
    """Greedy dispatch with one heap pop per CTA (the definition)."""
    heap = [(0.0, k) for k in range(sms)]
    owner, load = np.empty(len(estimates), np.int64), np.zeros(sms)
    for i, est in enumerate(estimates.tolist()):
        t, k = heapq.heappop(heap)
        owner[i], load[k] = k, t + est
        heapq.heappush(heap, (t + est, k))
    return owner, int(np.argmax(load))


@pytest.mark.parametrize("seed", range(6))
def test_wave_dispatch_is_the_greedy_dispatch(seed):
    """Random, tied and causal-like estimates: the same SM for every CTA and the same most loaded SM."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        sms, n = int(rng.integers(1, 40)), int(rng.integers(1, 400))
        kind = rng.integers(0, 3)
        est = (rng.integers(1, 4, n).astype(float) if kind == 0 else rng.random(n) * 9 if kind == 1
               else np.tile(np.arange(1.0, 9.0), n // 8 + 1)[:n])
        owner, worst = machine.critical_sm(est, sms)
        ref_owner, ref_worst = heap_dispatch(est, sms)
        assert (owner == ref_owner).all() and worst == ref_worst


@pytest.mark.parametrize("dataflow,seq,d", [("flash2", 32768, 128), ("flash3", 32768, 128), ("flash3", 32768, 256),
                                            ("cudnn", 32768, 128)])
def test_merged_runs_keep_the_time(monkeypatch, dataflow, seq, d):
    """Causal grids whose simulated SM has more than MAX_RUNS runs of CTAs: merging them (fused.regroup) moves the
    latency by less than 1% against listing every run in launch order."""
    c = workloads.attention("mha", batch=1, heads=24, seq=seq, head_dim=d, causal=True)
    merged = sim.evaluate(c, H100, dataflow=dataflow)
    monkeypatch.setattr(fused, "MAX_RUNS", 10 ** 9)
    listed = sim.evaluate(c, H100, dataflow=dataflow)
    assert len(listed.run.segments) > len(merged.run.segments)
    assert merged.latency_s == pytest.approx(listed.latency_s, rel=1e-2)
    assert merged.dram_bytes == pytest.approx(listed.dram_bytes, rel=1e-6)


def test_regroup_keeps_every_tile():
    """Merged runs carry the same CTAs and the same partially masked and full tiles in all."""
    rng = np.random.default_rng(1)
    runs = [(int(rng.integers(0, 3)), int(rng.integers(0, 50)), int(rng.integers(1, 132)), int(rng.integers(1, 4)))
            for _ in range(200)]
    merged = fused.regroup(runs, 32)
    assert len(merged) <= 32
    for k in (0, 1):
        assert sum(r[k] * r[3] for r in merged) == sum(r[k] * r[3] for r in runs)
    assert sum(r[3] for r in merged) == sum(r[3] for r in runs)


def test_composed_body_equals_the_builder():
    """A body composed from pieces (with a dependency on the previous piece and buffer traffic) has the arrays the
    op-by-op builder gives the same ops."""
    names = Names.of(("a", "b"), ("buf",), ("X.read",), ("t",))
    head, tile = Piece(names), Piece(names)
    head.op("a", 3, label="h")
    x = tile.op("a", 2, acquire={"buf": 4}, bytes={"X.read": 8.0}, back=["y", "h"])
    tile.op("b", 5, 1, deps=[x], release={"buf": 4}, tag="t", label="y")
    seg = compose("body", [head, tile], [1, 3])
    b = ProgramBuilder(["a", "b"], buffers={"buf": 8}, levels=["X.read"], tags=["t"])
    s = b.segment("body")
    prev = s.op("a", 3)
    for _ in range(3):
        x = s.op("a", 2, acquire={"buf": 4}, bytes={"X.read": 8.0}, deps=[prev])
        prev = s.op("b", 5, 1, deps=[x], release={"buf": 4}, tag="t")
    ref = s.build()
    for name in ("unit", "duration", "latency", "dep_ptr", "acq_ptr", "acq_buf", "acq_amount", "rel_ptr",
                 "rel_amount", "level_bytes", "tag"):
        assert np.array_equal(getattr(seg, name), getattr(ref, name)), name
    assert sorted(seg.dep_op.tolist()) == sorted(ref.dep_op.tolist())


@pytest.mark.parametrize("dataflow,causal", [("flash3", False), ("flash2", True), ("gpu-unfused", False)])
def test_work_listed_grows_with_the_sequence_not_its_square(dataflow, causal):
    """Four times the tokens (sixteen times the score elements): at most about four times the work of an evaluation
    — the ops listed, the ops simulated and the segments at SEGMENT_COST_OPS each, what the layout trades."""
    def work(seq: int) -> int:
        c = workloads.attention("mha", batch=1, heads=24, seq=seq, head_dim=128, causal=causal)
        df = sim.dataflow(dataflow)
        program = df.lower(c, H100, df.plan(c, H100, {}), DEFAULT_OPTIONS).program
        listed = sum(s.n_ops for s in program.segments)
        return listed + simulate(program).ops_simulated + len(program.segments) * programs.SEGMENT_COST_OPS
    assert work(65536) <= 5 * work(16384)
