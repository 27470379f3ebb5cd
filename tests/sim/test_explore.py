"""sim.explore: tables, spaces, pruning, memo, Pareto, determinism — on a toy dataflow registered per test — and
acceptance on the built-in dataflows."""
import csv
import itertools
from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import given, settings, strategies as st

import accel
import sim
import workloads
from sim.ir.options import Options
from sim.ir.program import ProgramBuilder
from sim.search import candidates
from sim.search.candidates import clear_memo, onchip_bytes
from sim.search.spaces import derived_values, divisors
from sim.search.records import can_win, params_key

from toy_dataflow import LOWERINGS, TOY, registered, toy_lower


def mha(seq, heads=2, head_dim=64, batch=1):
    return workloads.attention("mha", batch=batch, heads=heads, seq=seq, head_dim=head_dim)


@pytest.fixture(scope="module")
def fusemax():
    return accel.preset("fusemax")


@pytest.fixture
def toy():
    with registered() as df:
        yield df


def small_space(c, a):
    return {"q_tile": (128, 512, 1024), "stages": (1, 3, 4)}


# ---- the record ---------------------------------------------------------------------------------------------------

def test_best_is_the_fastest_ok_row_and_table_lists_every_candidate(fusemax, toy, tmp_path):
    """`.best` is the ok row with the least latency; every row has a status and (unless ok) a reason; the table
    exports as records and CSV (params flattened to `param.<name>` columns)."""
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    rows = x.table.records()
    ok = [r for r in rows if r["status"] == "ok"]
    assert x.best.dataflow == TOY and x.best.latency_s == min(r["latency_s"] for r in ok)
    assert {r["status"] for r in rows} <= {"ok", "pruned", "infeasible", "duplicate"}
    assert all(r["reason"] for r in rows if r["status"] != "ok")
    assert all(r["bound"] <= r["latency_s"] * (1 + 1e-12) for r in ok)           # the bound is a lower bound
    assert all(r["bound"] > x.best.latency_s for r in rows if r["status"] == "pruned")
    assert any("stages=5 outside 1..4" in r["reason"] for r in rows)          # infeasible, with its reason
    assert len({params_key(r["params"]) for r in rows}) == len(rows)          # each setting tried once
    path = tmp_path / "table.csv"
    x.table.to_csv(path)
    with open(path) as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(rows) and {"param.q_tile", "param.stages", "status", "latency_s"} <= set(got[0])
    assert [float(g["latency_s"]) for g in got if g["status"] == "ok"] == [r["latency_s"] for r in ok]
    assert f"best: {TOY} q_tile={x.best.mapping.params['q_tile']}" in str(x)


def test_best_result_is_exactly_what_evaluate_gives(fusemax, toy):
    """The best row's Result equals a fresh `sim.evaluate` of its mapping."""
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    again = sim.evaluate(mha(4096), fusemax, mapping=x.best.mapping)
    assert (again.latency_s, again.energy_j, dict(again.bytes_per_level)) == \
        (x.best.latency_s, x.best.energy_j, dict(x.best.bytes_per_level))


def test_unsupported_dataflows_are_listed_with_their_reason(toy):
    x = sim.explore(mha(1024), accel.preset("h100"), dataflows=[TOY])
    assert x.best is None and x.pareto == ()
    (row,) = x.table.records()
    assert row["status"] == "unsupported" and "2d and a 1d array" in row["reason"]
    assert "nothing runs" in str(x) and "2d and a 1d array" in str(x)


def test_pinned_constraints_are_kept(fusemax, toy):
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY], constraints={"stages": 1})
    assert all(r["params"]["stages"] == 1 for r in x.table.records() if r["status"] != "infeasible")
    assert x.best.mapping.params["stages"] == 1
    assert len({r["params"]["q_tile"] for r in x.table.records()}) > 3        # the other axis is still searched


def test_deterministic_and_executor_independent(fusemax, toy):
    """Same inputs, same table — also when candidates are evaluated on a process pool."""
    w = mha(4096)
    a = sim.explore(w, fusemax, dataflows=[TOY]).table.records()
    clear_memo()
    b = sim.explore(w, fusemax, dataflows=[TOY]).table.records()
    with ProcessPoolExecutor(2) as pool:
        c = sim.explore(w, fusemax, dataflows=[TOY], executor=pool).table.records()
    assert a == b == c


# ---- the search ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("seq,heads,buffer", [(1024, 2, 16 << 20), (4096, 1, 1 << 20), (8192, 4, 4 << 20),
                                              (2048, 8, 16 << 20)])
def test_pruned_search_finds_the_exhaustive_best(seq, heads, buffer, objective):
    """On a space small enough to be searched whole, the pruned search's best equals the best of simulating every
    combination of the space (no pruning), and it simulates fewer of them."""
    arch = sim.arch_variants(accel.preset("fusemax"), buffer_bytes=[buffer])[0]
    w = mha(seq, heads=heads)
    value = {"latency": lambda r: r.latency_s, "energy": lambda r: r.energy_j,
             "edp": lambda r: r.latency_s * r.energy_j}[objective]
    with registered(space=small_space):
        x = sim.explore(w, arch, objective=objective, dataflows=[TOY])
        everything = []
        for q, s in itertools.product((128, 256, 512, 1024), (1, 2, 3, 4)):
            try:
                everything.append(sim.evaluate(w, arch, TOY, constraints={"q_tile": q, "stages": s}))
            except sim.MappingError:
                pass                                         # infeasible for this buffer
    best = min(everything, key=lambda r: (value(r), params_key(r.mapping.params)))
    assert x.best.mapping.params == best.mapping.params and value(x.best) == value(best)
    statuses = [r["status"] for r in x.table.records()]
    assert statuses.count("ok") < len(everything)            # the bounds saved simulations


def test_large_space_descends_from_the_default_to_the_best(fusemax, toy):
    """A derived space over 64 combinations is searched by steepest descent: it reaches the best of the whole
    space here (deep pipeline, the smallest query block that divides M and fits) with fewer candidates."""
    w = mha(4096)
    x = sim.explore(w, fusemax, dataflows=[TOY])
    axes = {k: derived_values(v, w) for k, v in sim.dataflow(TOY).plan(w, fusemax, {}).params.items()}
    assert len(axes["q_tile"]) * len(axes["stages"]) > 64
    grid = []
    for q, s in itertools.product(axes["q_tile"], axes["stages"]):
        try:
            grid.append(sim.evaluate(w, fusemax, TOY, constraints={"q_tile": q, "stages": s}))
        except sim.MappingError:
            pass
    assert x.best.latency_s == min(r.latency_s for r in grid)
    assert len(x.table) < len(axes["q_tile"]) * len(axes["stages"])


def test_a_candidate_that_can_only_tie_and_lose_the_tie_cannot_win():
    """The best is the smallest (objective, dataflow, params key): a bound equal to the incumbent's objective
    prunes exactly the candidates that would lose the tie."""
    incumbent = (1.0, "b", params_key({"x": 1}))
    assert not can_win(1.0, "b", {"x": 2}, incumbent) and can_win(1.0, "b", {"x": 0}, incumbent)
    assert can_win(1.0, "a", {"x": 9}, incumbent) and not can_win(1.0, "c", {"x": 0}, incumbent)
    assert can_win(0.99, "z", {}, incumbent) and not can_win(1.01, "a", {}, incumbent)
    assert can_win(5.0, "a", {}, None)


def test_budget_caps_the_candidates(fusemax, toy):
    x = sim.explore(mha(8192), fusemax, dataflows=[TOY], budget=10)
    assert len(x.table) == 10
    assert x.table.records() == sim.explore(mha(8192), fusemax, dataflows=[TOY], budget=10).table.records()


def test_registered_space_is_searched(fusemax):
    """The dataflow's own space (values plus the default plan's) replaces the derived one."""
    with registered(space=lambda c, a: {"q_tile": (512, 1024), "stages": (3, 4)}):
        x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    seen = {(r["params"]["q_tile"], r["params"]["stages"]) for r in x.table.records()}
    assert seen == {(q, s) for q in (256, 512, 1024) for s in (2, 3, 4)}


def test_a_space_axis_the_plan_does_not_have_is_a_note(fusemax):
    with registered(space=lambda c, a: {"stages": (3,), "q_tlie": (64,)}):
        x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    assert any("space axis 'q_tlie' is not a param of the default mapping (q_tile, stages)" in n for n in x.notes)


@pytest.mark.parametrize("space,fragment", [
    (lambda c, a: [{"q_tile": 64}], "space must return a mapping"),
    (lambda c, a: {"q_tile": 64}, "axis 'q_tile' must map a param name to a sequence"),
    (lambda c, a: {"q_tile": ()}, "axis 'q_tile' has 0 values"),
    (lambda c, a: {"q_tile": ([1],)}, "axis 'q_tile' has an unhashable value"),
])
def test_a_malformed_space_is_refused_naming_the_dataflow(fusemax, space, fragment):
    with registered(space=space), pytest.raises(sim.MappingError) as e:
        sim.explore(mha(4096), fusemax, dataflows=[TOY])
    assert f"dataflow {TOY!r}" in str(e.value) and fragment in str(e.value)


def test_searched_false_is_explored_only_when_named(fusemax):
    with registered(searched=False):
        assert TOY not in {r["dataflow"] for r in sim.explore(mha(1024), fusemax, budget=8).table.records()}
        assert sim.explore(mha(1024), fusemax, dataflows=[TOY]).best.dataflow == TOY


def test_screening_skips_a_dataflow_far_behind_with_a_note(fusemax):
    """On fusemax at 64K, the 3-pass baseline's default is several times the best: it is noted, not searched."""
    w = workloads.attention("mha", batch=1, heads=2, seq=65536, head_dim=64)
    x = sim.explore(w, fusemax)
    rows = x.table.records()
    best = x.best.latency_s
    for r in rows:
        if r["status"] == "ok" and r["latency_s"] > 2 * best:
            assert sum(q["dataflow"] == r["dataflow"] for q in rows) == 1
            assert any(n.startswith(f"{r['dataflow']}: space not searched") for n in x.notes)


def test_derived_values():
    """Ints: powers of two from v/16 to 16v, divisors of the sizes v divides, 1..8 for small v; bools both."""
    w = mha(768)                                           # M = P = 768: 3 · 256
    assert derived_values(256, w) == [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096]
    assert derived_values(2, w) == [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32]
    assert derived_values(True, w) == [True, False] and derived_values("row", w) == ["row"]
    assert divisors(36) == [1, 2, 3, 4, 6, 9, 12, 18, 36] and divisors(36, 3, 12) == [3, 4, 6, 9, 12]
    assert divisors(2 ** 40, 1 << 10, 1 << 12) == [1 << 10, 1 << 11, 1 << 12]


# ---- memo ------------------------------------------------------------------------------------------------------

def test_memo_repeats_without_lowering_and_gives_the_same_table(fusemax, toy):
    w = mha(16384, heads=4)
    clear_memo()
    before = LOWERINGS["count"]
    first = sim.explore(w, fusemax, dataflows=[TOY])
    lowered = LOWERINGS["count"] - before
    again = sim.explore(w, fusemax, dataflows=[TOY])
    assert lowered == sum(r["status"] in ("ok", "pruned") for r in first.table.records())
    assert LOWERINGS["count"] - before == lowered                 # every evaluation came from the memo
    assert again.table.records() == first.table.records()


def test_memo_never_changes_a_table(fusemax, toy):
    """A memo filled by other explorations (another objective simulated candidates this one prunes) gives the
    same table as a cold run: a remembered result is still pruned when its bound cannot beat the incumbent."""
    w = mha(4096)
    clear_memo()
    cold = sim.explore(w, fusemax, dataflows=[TOY]).table.records()
    for objective in ("energy", "edp"):
        sim.explore(w, fusemax, dataflows=[TOY], objective=objective)
    assert sim.explore(w, fusemax, dataflows=[TOY]).table.records() == cold


def test_memo_key_is_the_frozen_inputs(fusemax, toy):
    """Options and the dataflow record are part of the key: other options or a re-registered name re-evaluate."""
    w = mha(2048)
    sim.explore(w, fusemax, dataflows=[TOY])
    before = LOWERINGS["count"]
    sim.explore(w, fusemax, dataflows=[TOY], options=Options(extrapolate=False))
    assert LOWERINGS["count"] > before


def test_reregistered_name_never_returns_the_old_numbers(fusemax):
    """A dataflow re-registered under the same name with another lowering gets fresh evaluations."""
    def slower(c, a, mapping, options=None):
        lowered = toy_lower(c, a, mapping)
        b = ProgramBuilder(["dma", "2d", "1d"], [True, False, False], levels=list(lowered.program.levels))
        b.segment("extra").op("2d", 10 ** 6)
        program = lowered.program
        merged = type(program)(**{**program.__dict__, "segments": program.segments + b.build().segments})
        return sim.Lowered(merged, lowered.unit_keys, lowered.actions, phases=lowered.phases)
    w = mha(2048)
    with registered():
        fast = sim.explore(w, fusemax, dataflows=[TOY], budget=4).best.latency_s
    with registered(lower=slower):
        slow = sim.explore(w, fusemax, dataflows=[TOY], budget=4).best.latency_s
    assert slow >= 10 ** 6 / fusemax.clock_hz > 10 * fast       # the extra 10⁶-cycle op alone takes this long


def test_memo_is_bounded(fusemax, toy, monkeypatch):
    """The memo keeps at most MEMO_SIZE outcomes (least recently used go first), and lowered programs at most
    LOWERED_MEMO_SIZE."""
    monkeypatch.setattr(candidates, "MEMO_SIZE", 5)
    monkeypatch.setattr(candidates, "LOWERED_MEMO_SIZE", 2)
    clear_memo()
    x = sim.explore(mha(8192), fusemax, dataflows=[TOY])
    assert sum(r["status"] in ("ok", "pruned") for r in x.table.records()) > 5
    assert len(candidates._MEMO) == 5 and len(candidates._LOWERED) <= 2


def test_refusal_reasons_are_bounded(fusemax):
    """A planner that refuses with a huge message gives a row whose reason is cut to MAX_REASON characters."""
    def verbose_plan(c, a, constraints):
        raise sim.MappingError("no: " + "x" * 100_000)
    sim.register_dataflow("toy-verbose", supports=lambda c, a: None, plan=verbose_plan, lower=toy_lower)
    try:
        (row,) = sim.explore(mha(1024), fusemax, dataflows=["toy-verbose"]).table.records()
    finally:
        sim.dataflows.registry.unregister_dataflow("toy-verbose")
    assert row["status"] == "infeasible" and row["reason"].startswith("MappingError: no: xxx")
    assert len(row["reason"]) == candidates.MAX_REASON


# ---- on-chip bytes, Pareto, progress ----------------------------------------------------------------------------

def reference_onchip(program):
    """Brute force: walk every iteration's events in program order (acquires of an op before its releases)."""
    held = {b: 0 for b in range(len(program.buffers))}
    peak = dict(held)
    for seg in program.segments:
        for _ in range(seg.repeat):
            for i in range(seg.n_ops):
                for lo, hi, buf, amt, sign in ((seg.acq_ptr[i], seg.acq_ptr[i + 1], seg.acq_buf, seg.acq_amount, 1),
                                               (seg.rel_ptr[i], seg.rel_ptr[i + 1], seg.rel_buf, seg.rel_amount, -1)):
                    for e in range(lo, hi):
                        held[buf[e]] += sign * int(amt[e])
                        peak[buf[e]] = max(peak[buf[e]], held[buf[e]])
    return sum(peak.values())


def test_onchip_bytes_is_the_program_order_peak():
    b = ProgramBuilder(["u"], buffers={"x": 100, "y": 50, "z": 10})
    s = b.segment("s", repeat=3)
    s.op("u", 1, acquire={"x": 30, "y": 10})
    s.op("u", 1, acquire={"x": 20}, release={"x": 50, "y": 10})
    t = b.segment("t", repeat=2)
    t.op("u", 1, acquire={"z": 4, "y": 40})
    t.op("u", 1, release={"y": 40})
    t.op("u", 1, release={"z": 2})
    program = b.build()
    assert onchip_bytes(program) == reference_onchip(program) == 50 + 40 + 6


@given(st.lists(st.tuples(st.integers(1, 3), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40),
                                                             st.integers(0, 2), st.integers(0, 40)), min_size=1,
                                                    max_size=6)), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None)
def test_onchip_bytes_equals_a_brute_force_walk(segments):
    """Random multi-segment programs (acquires and releases on three buffers, repeats): the vectorized peak equals
    walking every iteration's events."""
    b = ProgramBuilder(["u"], buffers={"x": 1 << 40, "y": 1 << 40, "z": 1 << 40})
    names = ("x", "y", "z")
    for k, (repeat, ops) in enumerate(segments):
        seg = b.segment(f"s{k}", repeat=repeat)
        held = dict.fromkeys(names, 0)
        for acq_buf, acq, rel_buf, rel in ops:
            a, r = names[acq_buf], names[rel_buf]
            held[a] += acq
            rel = min(rel, held[r])                         # never release more than this iteration holds
            held[r] -= rel
            seg.op("u", 1, acquire={a: acq} if acq else None, release={r: rel} if rel else None)
    program = b.build()
    assert onchip_bytes(program) == reference_onchip(program)


def test_exploration_pareto_is_the_non_dominated_simulated_rows(fusemax, toy):
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY], objective="edp")
    ok = [r for r in x.table.records() if r["status"] == "ok"]
    pts = {(r.latency_s, r.energy_j) for r in x.pareto}
    for r in ok:
        p = (r["latency_s"], r["energy_j"])
        dominated = any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in ((o["latency_s"], o["energy_j"])
                                                                          for o in ok))
        assert dominated or p in pts or any(q == p for q in pts)
    assert [r.latency_s for r in x.pareto] == sorted(r.latency_s for r in x.pareto)


def test_progress_callback_sees_every_candidate(fusemax, toy):
    calls = []
    x = sim.explore(mha(2048), fusemax, dataflows=[TOY], progress=lambda d, t, l: calls.append((d, t, l)))
    assert calls[-1] == (len(x.table), None, "explore mha_1pass on fusemax")
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)
