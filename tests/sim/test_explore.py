"""sim.explore: search over dataflows × mapping params — tables, pruning, memo, Pareto, determinism, acceptance."""
import csv
import math
from concurrent.futures import ProcessPoolExecutor

import pytest

import accel
import sim
import workloads
from sim.search.exploration import SPACES, canonical, content_hash, onchip_bytes, pareto
from sim.ir.program import ProgramBuilder

# ---- a toy tiled-attention dataflow (registered once; module-level functions so workers can import them) --------

TOY = "toy-tiled"


def toy_supports(c, a):
    if not {"M", "P", "E"} <= set(c.sizes):
        return "needs M, P and E ranks"
    if {u.name for u in a.units} != {"2d", "1d"}:
        return "needs a 2d and a 1d array"
    return None


def toy_plan(c, a, constraints):
    m, e = c.sizes["M"], c.sizes["E"]
    q, s = constraints.get("q_tile", min(256, m)), constraints.get("stages", 2)
    if m % q:
        raise sim.MappingError(f"q_tile={q} does not divide M={m}")
    if not 1 <= s <= 4:
        raise sim.MappingError(f"stages={s} outside 1..4")
    need = q * e * 2 + s * 256 * e * 4
    if need > a.levels[1].capacity_bytes:
        raise sim.MappingError(f"needs {need} bytes of buffer, {a.levels[1].capacity_bytes} available")
    return sim.Mapping(TOY, (), {}, {"q_tile": q, "stages": s})


def toy_lower(c, a, mapping):
    """Per (query block, key tile): load a K/V tile (held in a `stages`-deep buffer), 2D work (the roofline's share
    plus a fill cost shrinking with stages), 1D work (its share plus a cost growing with the query block)."""
    m, p, e = c.sizes["M"], c.sizes["P"], c.sizes["E"]
    q, s = mapping.params["q_tile"], mapping.params["stages"]
    heads = math.prod(v for k, v in c.sizes.items() if k in ("B", "H", "G", "R"))
    tile = 256 * e * 4
    iters = heads * (m // q) * max(1, p // 256)
    roof = sim.roofline(c, a)
    share = {u: math.ceil(roof.unit_s[u] * a.clock_hz / iters) for u in ("2d", "1d")}
    bw = a.levels[0].bandwidth_bytes_per_s / a.clock_hz
    b = ProgramBuilder(["dma", "2d", "1d"], [True, False, False], {"kv": s * tile},
                       levels=["DRAM.read", "DRAM.write", "GlobalBuffer.read"], tags=["mm", "sm"])
    qo = 2 * heads * m * e * 2
    b.segment("q_and_out").op("dma", math.ceil(qo / bw), bytes={"DRAM.read": qo / 2, "DRAM.write": qo / 2})
    seg = b.segment("tiles", repeat=iters)
    ld = seg.op("dma", math.ceil(tile / bw), acquire={"kv": tile}, bytes={"DRAM.read": tile})
    mm = seg.op("2d", share["2d"] + 256 // s, deps=[ld], tag="mm", bytes={"GlobalBuffer.read": tile})
    seg.op("1d", share["1d"] + q // 16, deps=[mm], prev_deps=[2], release={"kv": tile}, tag="sm")
    return sim.Lowered(b.build(), {"dma": "hbm", "2d": "2d", "1d": "1d"},
                       {"2d.mac": heads * m * p * e * 2, "1d.add": heads * m * p}, phases=("mm", "sm"))


if TOY not in sim.DATAFLOWS:
    sim.register_dataflow(TOY, supports=toy_supports, plan=toy_plan, lower=toy_lower, doc="test toy")


def mha(seq, heads=2, head_dim=64, batch=1):
    return workloads.attention("mha", batch=batch, heads=heads, seq=seq, head_dim=head_dim)


@pytest.fixture(scope="module")
def fusemax():
    return accel.preset("fusemax")


# ---- the record ---------------------------------------------------------------------------------------------------

def test_best_is_the_fastest_ok_row_and_table_lists_every_candidate(fusemax, tmp_path):
    """`.best` is the ok row with the least latency; the table has one row per candidate with a status, and
    exports as records and CSV (params flattened to `param.<name>` columns)."""
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    rows = x.table.records()
    ok = [r for r in rows if r["status"] == "ok"]
    assert x.best is not None and x.best.dataflow == TOY
    assert x.best.latency_s == min(r["latency_s"] for r in ok)
    assert {r["status"] for r in rows} <= {"ok", "pruned", "infeasible", "duplicate"}
    assert all(r["reason"] for r in rows if r["status"] in ("pruned", "infeasible"))
    assert all(r["bound"] is not None for r in rows if r["status"] == "pruned")
    assert any("stages=5 outside 1..4" in r["reason"] for r in rows)          # infeasible, with its reason
    path = tmp_path / "table.csv"
    x.table.to_csv(path)
    with open(path) as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(rows) and {"param.q_tile", "param.stages", "status", "latency_s"} <= set(got[0])
    assert "toy-tiled" in str(x) and "best" in str(x)


def test_unsupported_dataflows_are_listed_with_their_reason(fusemax):
    """Every registered dataflow appears; those that cannot run the pair say why."""
    x = sim.explore(mha(1024), accel.preset("h100"), dataflows=[TOY])
    assert x.best is None
    (row,) = x.table.records()
    assert row["status"] == "unsupported" and "2d and a 1d array" in row["reason"]
    assert "nothing runs" in str(x)


def test_pinned_constraints_are_kept(fusemax):
    """A constraint pins a param in every candidate."""
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY], constraints={"stages": 1})
    assert all(r["params"].get("stages", 1) == 1 for r in x.table.records())
    assert x.best.mapping.params["stages"] == 1


def test_deterministic_and_executor_independent(fusemax):
    """Same seed, same table — also when candidates are evaluated on a process pool."""
    w = mha(4096)
    a = sim.explore(w, fusemax, dataflows=[TOY], seed=3).table.records()
    b = sim.explore(w, fusemax, dataflows=[TOY], seed=3).table.records()
    with ProcessPoolExecutor(2) as pool:
        c = sim.explore(w, fusemax, dataflows=[TOY], seed=3, executor=pool).table.records()
    assert a == b == c


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("seq,heads,buffer", [(1024, 2, 16 << 20), (4096, 1, 1 << 20), (8192, 4, 4 << 20),
                                              (2048, 8, 16 << 20)])
def test_pruned_search_finds_the_exhaustive_best(seq, heads, buffer, objective):
    """Evaluating every candidate of the space without pruning gives the same best as the pruned search."""
    arch = sim.arch_variants(accel.preset("fusemax"), buffer_bytes=[buffer])[0]
    w = mha(seq, heads=heads)
    x = sim.explore(w, arch, objective=objective, dataflows=[TOY])
    assert any(r["status"] == "pruned" for r in x.table.records())
    value = {"latency": lambda r: r.latency_s, "energy": lambda r: r.energy_j,
             "edp": lambda r: r.latency_s * r.energy_j}[objective]
    everything = [sim.evaluate(w, arch, TOY, constraints=r["params"]) for r in x.table.records()
                  if r["status"] in ("ok", "pruned")]
    best = min(everything, key=lambda r: (value(r), canonical(r.mapping.params)))
    assert x.best.mapping.params == best.mapping.params
    assert value(x.best) == value(best)


def test_budget_caps_the_candidates_and_search_stays_deterministic(fusemax):
    """With a budget smaller than the space, at most `budget` candidates are planned; the seed fixes them."""
    x = sim.explore(mha(8192), fusemax, dataflows=[TOY], budget=10, seed=1)
    assert len(x.table) <= 10
    assert x.table.records() == sim.explore(mha(8192), fusemax, dataflows=[TOY], budget=10, seed=1).table.records()
    with pytest.raises(sim.MappingError):
        sim.explore(mha(1024), fusemax, dataflows=[TOY], budget=0)
    with pytest.raises(sim.MappingError):
        sim.explore(mha(1024), fusemax, dataflows=[TOY], objective="area")


def test_listed_space_hook_is_preferred(fusemax, monkeypatch):
    """A `SPACES` entry (a list of pins) replaces the derived space."""
    monkeypatch.setitem(SPACES, TOY, lambda c, a: [{"q_tile": 512, "stages": 3}, {"q_tile": 1024, "stages": 1}])
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    seen = [(r["params"]["q_tile"], r["params"]["stages"]) for r in x.table.records()]
    assert sorted(seen) == [(256, 2), (512, 3), (1024, 1)]


def test_axes_space_hook(fusemax, monkeypatch):
    """A `SPACES` entry that is a dict of axes is combined exhaustively when small (plus the default)."""
    monkeypatch.setitem(SPACES, TOY, lambda c, a: {"q_tile": (512, 1024), "stages": (3, 4)})
    x = sim.explore(mha(4096), fusemax, dataflows=[TOY])
    seen = {(r["params"]["q_tile"], r["params"]["stages"]) for r in x.table.records() if r["status"] != "infeasible"}
    assert seen == {(q, s) for q in (256, 512, 1024) for s in (2, 3, 4)}


def test_memo_makes_a_repeat_fast_and_identical(fusemax):
    """Evaluations are memoized by content hash; a repeat gives the same table."""
    w = mha(16384, heads=4)
    first = sim.explore(w, fusemax, dataflows=[TOY])
    again = sim.explore(w, fusemax, dataflows=[TOY])
    assert again.table.records() == first.table.records()
    assert again.seconds < first.seconds


def test_content_hash_is_canonical():
    """Dict order does not change the hash; a size does."""
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash(mha(1024)) == content_hash(mha(1024)) != content_hash(mha(2048))


def test_onchip_bytes_is_the_program_order_peak():
    """Peak of bytes held per buffer (acquires before releases of the same op), over iterations, summed."""
    b = ProgramBuilder(["u"], buffers={"x": 100, "y": 50})
    s = b.segment("s", repeat=3)
    s.op("u", 1, acquire={"x": 30, "y": 10})
    s.op("u", 1, acquire={"x": 20}, release={"x": 50, "y": 10})
    assert onchip_bytes(b.build()) == 50 + 10


def test_pareto_keeps_only_non_dominated():
    """Non-dominated over (latency, energy, on-chip bytes)."""
    from sim.search.exploration import Candidate
    cs = [Candidate("d", {"i": i}, "ok", "", lat, en, on) for i, (lat, en, on) in
          enumerate([(1, 5, 1), (2, 4, 1), (3, 4, 1), (1, 5, 2), (4, 1, 9)])]
    assert [c.params["i"] for c in pareto(cs)] == [0, 1, 4]


def test_progress_callback_sees_every_candidate(fusemax):
    """`progress` may be a callable(done, total, label)."""
    calls = []
    x = sim.explore(mha(2048), fusemax, dataflows=[TOY], progress=lambda d, t, l: calls.append(d))
    assert calls and calls[-1] == len(x.table)


# ---- acceptance on the real dataflows ------------------------------------------------------------------------------

def require(*names):
    """The built-in dataflows import and include `names` (a rename in a dataflow module fails here, by name)."""
    missing = [n for n in names if n not in sim.DATAFLOWS]
    assert not missing, f"dataflow(s) {missing} are not registered"


def fusemax_models():
    """BERT, TrXL, T5, XLM (fusemax-and-flat.md §5) at batch 64."""
    return {"bert": (12, 64), "trxl": (16, 64), "t5": (8, 64), "xlm": (16, 128)}


@pytest.mark.parametrize("seq", [4096, 65536])
@pytest.mark.parametrize("model", sorted(fusemax_models()))
def test_explore_matches_or_beats_the_hand_written_fusemax(model, seq):
    """On `fusemax`, explore's best is at least as fast as the `fusemax` dataflow's own mapping."""
    require("fusemax")
    heads, dim = fusemax_models()[model]
    w = workloads.attention("mha", batch=64, heads=heads, seq=seq, head_dim=dim)
    arch = accel.preset("fusemax")
    hand = sim.evaluate(w, arch, "fusemax")
    x = sim.explore(w, arch)
    assert x.best.latency_s <= hand.latency_s * (1 + 1e-12)


@pytest.mark.parametrize("seq,granularity", [(1024, "head"), (16384, "row"), (65536, "row")])
def test_flat_granularity_is_found(seq, granularity):
    """On `flat` alone, explore picks head-granularity fusion at short and row-granularity at long sequences.
    (At 256K every block spills and the model makes the whole-head block faster by 0.01%, fewer K/V re-reads.)"""
    require("flat")
    w = workloads.attention("mha", batch=64, heads=12, seq=seq, head_dim=64, softmax="3pass")
    x = sim.explore(w, accel.preset("flat"), dataflows=["flat"])
    assert x.best.mapping.params["granularity"] == granularity


def test_h100_long_prefill_picks_fa3_style_tiling(request):
    """Long-sequence prefill on H100: a warpgroup ping-pong kernel (FlashAttention-3 or cuDNN) with 128-row Q
    tiles and ≥ 128-key KV tiles wins over FlashAttention-2 and unfused attention."""
    require("flash3", "flash2")
    w = workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=8192, head_dim=128, causal=True)
    x = sim.explore(w, accel.preset("h100"))
    assert x.best.dataflow in ("flash3", "cudnn")
    p = x.best.mapping.params
    assert p["q_tile"] * (2 if x.best.dataflow == "cudnn" else 1) >= 128 and p["kv_tile"] >= 128


@pytest.mark.parametrize("batch,seq_kv", [(1, 65536), (2, 131072)])
def test_h100_long_decode_with_small_batch_picks_split_kv(batch, seq_kv):
    """Long-context decode with a small batch on H100: the best mapping splits the KV length (splits > 1)."""
    require("flash-decoding")
    w = workloads.attention("gqa", batch=batch, heads=32, kv_heads=8, seq=1, seq_kv=seq_kv, head_dim=128)
    x = sim.explore(w, accel.preset("h100"))
    assert x.best.mapping.params.get("splits", 1) > 1
