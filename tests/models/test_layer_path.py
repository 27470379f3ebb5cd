"""A whole layer simulated kernel by kernel: its time is the sum of its kernels' (plus the modelled gaps, none),
never below its roofline; it computes exactly the layer's work (MACs conserved by every stand-in, the combine's adds
the only extra work); its mapping replays it; pins choose dataflows and refusals say which kernel and why."""
import math

import pytest

import accel
import sim
import workloads
from sim.models import evaluate_layer, per_kernel
from sim.models.compose import GAP_S, LAYER, LayerResult
from sim.models.endtoend import fusemax_layer
from workloads.models.kernels import layer_kernels
from workloads.models.moe import MoE

H100, B200, A100 = accel.preset("h100"), accel.preset("b200"), accel.preset("a100")

CASES = [
    ("llama3-8b", dict(seq=2048), H100),
    ("llama3-8b", dict(seq=1, seq_kv=4096, batch=8), B200),
    ("bert", dict(seq=1024, batch=4), A100),
    ("deepseek-v3", dict(seq=1024, form="absorbed"), H100),
    ("deepseek-v3", dict(seq=1, seq_kv=2048, batch=16, dense=True), H100),
    ("flux", dict(spatial=(64, 64), window=(17, 17)), H100),
]


def touched_bound(name, kw, arch):
    """The layer's roofline, for an MoE layer built with only the experts its tokens touch (the same routed pairs,
    a smaller router): a lower bound that does not count untouched experts' weights as compulsory."""
    m = workloads.model(name)
    c = m.layer(**kw)
    if m.ffn != "moe" or kw.get("dense"):
        return c, sim.roofline(c, arch).lower_bound_s
    tokens = c.sizes["T"]
    touched = min(m.moe.experts, -(-tokens * m.moe.top_k // m.moe.top_k) * m.moe.top_k)
    small = workloads.layer(m.attention(seq=kw["seq"], seq_kv=kw.get("seq_kv"), batch=kw.get("batch", 1),
                                        form=kw.get("form", "absorbed")),
                            model_dim=m.model_dim, ffn_kind="moe", rope=True, q_lora=None, name=m.name,
                            moe=MoE(experts=touched, top_k=m.moe.top_k))
    return c, sim.roofline(small, arch).lower_bound_s


@pytest.mark.parametrize("name,kw,arch", CASES, ids=[f"{c[0]}-{c[2].name}-{i}" for i, c in enumerate(CASES)])
def test_layer_time_is_its_kernels_sum_and_above_its_roofline(name, kw, arch):
    c, bound = touched_bound(name, kw, arch)
    r = sim.evaluate(c, arch)
    assert isinstance(r, LayerResult) and r.dataflow == LAYER
    assert r.latency_s == pytest.approx(sum(r.kernels.values()) + GAP_S * (len(r.parts) - 1), rel=1e-12)
    assert r.latency_s == pytest.approx(sum(p.seconds for p in r.parts), rel=1e-12)
    assert r.latency_s >= bound * (1 - 1e-9)
    assert r.cycles == pytest.approx(r.latency_s * arch.clock_hz)
    assert set(r.per_einsum) <= {e.name for e in c.einsums}
    assert r.dram_bytes == pytest.approx(sum(p.result.dram_bytes * p.launches for p in r.parts))
    for key, u in r.utilization.items():
        assert 0 <= u <= 1 + 1e-9, (key, u)


@pytest.mark.parametrize("name,kw", [("llama3-8b", dict(seq=512)), ("deepseek-v3", dict(seq=512)),
                                     ("deepseek-v3", dict(seq=1, seq_kv=64, batch=40)), ("bert", dict(seq=256))])
def test_kernels_conserve_the_layers_work(name, kw):
    """Σ kernel MACs = the layer's MACs exactly; every other op is conserved too, except the adds of the routed
    experts' combine (k·D per token), the work the expert split adds."""
    c = workloads.model(name).layer(**kw)
    ks = layer_kernels(c)
    once = [e for k in ks if k.form not in ("combine", "grouped GEMM") for e in k.einsums]
    grouped = {e for k in ks if k.form == "grouped GEMM" for e in k.einsums}   # one kernel per expert load
    assert sorted(once + sorted(grouped)) == sorted(e.name for e in c.einsums)
    total: dict[str, int] = {}
    for k in ks:
        for op, n in workloads.total_ops(k.cascade).items():
            total[op] = total.get(op, 0) + n
    expected = dict(workloads.total_ops(c))
    combine = [k for k in ks if k.form == "combine"]
    for k in combine:
        expected["add"] = expected.get("add", 0) + math.prod(k.cascade.sizes.values())
    assert total == expected


def test_moe_kernels_read_only_touched_experts():
    """Decode at batch 4 routes 4 tokens × 8 experts: 32 experts touched, one token each; their weights only."""
    c = workloads.model("deepseek-v3").layer(seq=1, seq_kv=64, batch=4)
    r = sim.evaluate(c, H100)
    gate_up = r.part("experts_gate_up")
    assert gate_up.kernel.cascade.sizes["X"] == 32 and gate_up.kernel.cascade.sizes["M"] == 1
    weights = 32 * 7168 * 2 * 2048 * 2
    assert gate_up.result.dram_bytes >= weights and gate_up.result.dram_bytes < 1.1 * weights
    assert any("touch 32 of 256 routed experts" in n for n in r.notes)


def test_the_layer_mapping_replays_the_same_result():
    c = workloads.model("llama3-8b").layer(seq=1, seq_kv=1024)
    r = sim.evaluate(c, H100)
    again = sim.evaluate(c, H100, mapping=r.mapping)
    assert again.latency_s == r.latency_s and dict(again.kernels) == dict(r.kernels)
    assert r.mapping.params["attention"]["dataflow"] == r.part("attention").dataflow


def test_pins_choose_a_kernels_dataflow_and_mapping():
    c = workloads.model("llama3-8b").layer(seq=1024)
    r = sim.evaluate(c, H100, constraints={"attention": {"dataflow": "flash2", "q_tile": 64},
                                           "linear": {"dataflow": "gemm", "tile_n": 128}})
    att = r.part("attention")
    assert att.dataflow == "flash2" and att.result.mapping.params["q_tile"] == 64
    assert all(p.result.mapping.params["tile_n"] == 128 for p in r.parts if p.kernel.kind == "linear")
    with pytest.raises(sim.MappingError, match="no kernel or kernel kind 'attn'"):
        sim.evaluate(c, H100, constraints={"attn": {"dataflow": "flash2"}})
    with pytest.raises(sim.MappingError, match="pinned dataflow gemm cannot run it"):
        sim.evaluate(c, H100, constraints={"attention": {"dataflow": "gemm"}})


def test_a_kernel_no_dataflow_runs_is_refused_naming_it_and_what_would_run():
    with pytest.raises(sim.MappingError) as info:
        sim.evaluate(workloads.model("deepseek-v3").layer(seq=256), H100)
    text = str(info.value)
    assert "kernel attention" in text and "form='absorbed'" in text
    with pytest.raises(sim.MappingError, match="kernel attn_out_norm .* runs on no dataflow of fusemax.*rsqrt"):
        sim.evaluate(workloads.model("bert").layer(seq=256), accel.preset("fusemax"))


def test_per_kernel_rows_say_time_bytes_energy_and_the_binding_unit():
    r = sim.evaluate(workloads.model("bert").layer(seq=256, batch=2), accel.preset("h100"))
    rows = per_kernel(r)
    assert [row["kernel"] for row in rows] == [p.kernel.name for p in r.parts]
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    att = next(row for row in rows if row["kind"] == "attention")
    assert att["binds"] in r.part("attention").result.utilization and att["dram_bytes"] > 0


def test_fusemax_scope_is_linear_layers_plus_attention_on_the_same_arrays():
    fusemax = accel.preset("fusemax")
    r = fusemax_layer("bert", fusemax, seq=1024, batch=64, softmax="1pass", attention={"dataflow": "fusemax"})
    assert {p.kernel.kind for p in r.parts} == {"linear", "attention"}
    assert r.workload.endswith("[linear+attention]")
    att = sim.evaluate(workloads.attention("mha", batch=64, heads=12, seq=1024, head_dim=64), fusemax, "fusemax")
    assert r.part("attention").result.cycles == att.cycles
    gemms = [workloads.gemm(64 * 1024, n, k) for n, k in ((3 * 768, 768), (768, 768), (3072, 768), (768, 3072))]
    best = [min((sim.evaluate(g, fusemax, df) for df in ("systolic-ws", "systolic-os", "systolic-is")),
                key=lambda x: x.cycles) for g in gemms]
    assert r.cycles == pytest.approx(att.cycles + sum(b.cycles for b in best), rel=1e-12)
    assert r.energy_j == pytest.approx(att.energy_j + sum(b.energy_j for b in best), rel=1e-12)
