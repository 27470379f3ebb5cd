"""docs/design.md "Adding things", followed literally: a variant, an architecture from a YAML file and a dataflow with
its own search space, added from a test module; `sim.explore` finds the dataflow and searches its space."""
import math

import numpy as np
import pytest

import accel
import sim
import workloads
from sim.ir import ProgramBuilder

VARIANT, DATAFLOW = "tiny-mha", "tiny-tiled"

ARCH_YAML = """
name: tiny-array
clock_hz: 1e9
levels:
  - {name: DRAM, capacity_bytes: null, bandwidth_bytes_per_s: 64e9}
  - {name: GlobalBuffer, capacity_bytes: 1048576, bandwidth_bytes_per_s: null}
units:
  - {name: pe, level: GlobalBuffer, pes: [16, 16], ops_per_cycle: {mac: 1, add: 1, sub: 1, mul: 1, max: 1, exp: 0.25, div: 0.25}}
"""


@pytest.fixture
def tiny_variant():
    @workloads.register_variant(VARIANT)
    def tiny_mha(*, heads: int, seq: int, head_dim: int = 16):
        """MHA over the 3-pass softmax core, batch 1."""
        text = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]\n" + workloads.variants.core("3pass", "b,h", "b,h")
        return workloads.cascade(text, {"B": 1, "H": heads, "M": seq, "P": seq, "E": head_dim, "F": head_dim},
                                 name=VARIANT)
    yield tiny_mha
    del workloads.VARIANTS[VARIANT]


def tiled_supports(cascade, arch):
    if {e.name for e in cascade.einsums} != {"QK", "GM", "SN", "SD", "A", "AV"}:
        return "needs the 3-pass attention core"
    if [u.name for u in arch.units] != ["pe"]:
        return "needs one unit named 'pe'"
    return None


def tiled_plan(cascade, arch, constraints):
    unknown = set(constraints) - {"rows"}
    if unknown:
        raise sim.MappingError(f"{DATAFLOW}: unknown mapping parameter(s) {sorted(unknown)} (valid: ['rows'])")
    rows = constraints.get("rows", 16)
    if cascade.sizes["M"] % rows:
        raise sim.MappingError(f"{DATAFLOW}: rows={rows} must divide M={cascade.sizes['M']}")
    return sim.Mapping(DATAFLOW, (sim.FusionGroup(tuple(e.name for e in cascade.einsums)),),
                       {e.name: "pe" for e in cascade.einsums}, {"rows": rows})


def tiled_lower(cascade, arch, mapping, options=None):
    """Per block of `rows` query rows: load Q, K, V once, then every Einsum in order on the one unit; a block's
    cost grows with its rows (fewer, larger blocks amortize the load)."""
    rows, s = mapping.params["rows"], cascade.sizes
    blocks = s["B"] * s["H"] * s["M"] // rows
    counts = workloads.op_counts(cascade)
    pe = accel.unit(arch, "pe")
    pes = accel.pe_count(arch, pe)
    bw = arch.levels[0].bandwidth_bytes_per_s / arch.clock_hz
    load = (rows * s["E"] + s["P"] * (s["E"] + s["F"])) * 2
    b = ProgramBuilder(["dram", "pe"], [True, False], levels=["DRAM.read", "DRAM.write"],
                       tags=[e.name for e in cascade.einsums])
    seg = b.segment("block", repeat=blocks)
    prev = seg.op("dram", math.ceil(load / bw), bytes={"DRAM.read": load})
    for e in cascade.einsums:
        work = sum(n / accel.op_rate(pe, op) for op, n in counts[e.name].items()) / blocks
        prev = seg.op("pe", math.ceil(work / min(pes, rows * s["P"])), deps=[prev], tag=e.name)
    out = rows * s["F"] * 2
    seg.op("dram", math.ceil(out / bw), deps=[prev], bytes={"DRAM.write": out})
    actions = {f"pe.{op}": float(n) for ops in [workloads.total_ops(cascade)] for op, n in ops.items()}
    return sim.Lowered(b.build(), {"dram": "dram", "pe": "pe"}, actions, unit_levels={"dram": "DRAM"},
                       flops=workloads.flops(cascade))


def tiled_space(cascade, arch):
    return {"rows": tuple(r for r in (16, 32, 64, 128) if cascade.sizes["M"] % r == 0)}


@pytest.fixture
def tiny_dataflow():
    df = sim.register_dataflow(DATAFLOW, supports=tiled_supports, plan=tiled_plan, lower=tiled_lower,
                               space=tiled_space, doc="one block of query rows at a time on one array")
    yield df
    sim.dataflows.unregister_dataflow(DATAFLOW)


def test_adding_a_variant_an_arch_and_a_dataflow(tiny_variant, tiny_dataflow, tmp_path):
    c = workloads.attention(VARIANT, heads=2, seq=128)
    q, k, v = (np.random.default_rng(0).standard_normal((1, 2, 128, 16)) for _ in range(3))
    s = np.einsum("bhme,bhpe->bhmp", q, k)
    ref = np.einsum("bhmp,bhpf->bhmf", np.exp(s - s.max(-1, keepdims=True)) /
                    np.exp(s - s.max(-1, keepdims=True)).sum(-1, keepdims=True), v)
    assert np.allclose(workloads.execute(c, {"Q": q, "K": k, "V": v})[c.output], ref)

    path = tmp_path / "tiny.yaml"
    path.write_text(ARCH_YAML)
    arch = accel.load(path)
    assert arch.levels[0].bandwidth_bytes_per_s == 64e9        # exponent form read as a number

    assert sim.verdicts(c, arch)[DATAFLOW] is None
    x = sim.explore(c, arch)
    searched = sorted(r["params"]["rows"] for r in x.table.records() if r["dataflow"] == DATAFLOW and r["params"])
    assert searched == [16, 32, 64, 128]                        # its own space, all of it
    assert x.best.dataflow == DATAFLOW                          # the only dataflow that runs here
    best = min((r for r in x.table.records() if r["status"] == "ok"), key=lambda r: r["latency_s"])
    assert x.best.mapping.params["rows"] == best["params"]["rows"]
    assert x.best.latency_s >= sim.roofline(c, arch, binding=dict(x.best.mapping.binding)).lower_bound_s
