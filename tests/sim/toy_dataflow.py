"""A toy tiled-attention dataflow for the search tests, registered only inside a test (`registered(...)`), so it
never changes the registry that other tests parametrize over. Module-level functions, so workers can import them.

Per (query block, key tile) it loads a K/V tile into a `stages`-deep buffer, then runs 2D work (the roofline's
share plus a fill cost shrinking with stages) and 1D work (its share plus a cost growing with the query block):
small query blocks and deep pipelines are fast until the buffer runs out.
"""
from __future__ import annotations

import contextlib
import math

import sim
from sim.dataflows.registry import unregister_dataflow
from sim.ir.program import ProgramBuilder

TOY = "toy-tiled"
KEY_TILE = 256
LOWERINGS = {"count": 0}      # lowerings done in this process (memo tests read it)


def toy_supports(c, a):
    if not {"M", "P", "E"} <= set(c.sizes):
        return "needs M, P and E ranks"
    if {u.name for u in a.units} != {"2d", "1d"}:
        return "needs a 2d and a 1d array"
    return None


def toy_plan(c, a, constraints):
    unknown = sorted(set(constraints) - {"q_tile", "stages"})
    if unknown:
        raise sim.MappingError(f"unknown pin {unknown[0]!r} (valid: q_tile, stages)")
    m, e = c.sizes["M"], c.sizes["E"]
    q, s = constraints.get("q_tile", min(256, m)), constraints.get("stages", 2)
    if m % q:
        raise sim.MappingError(f"q_tile={q} does not divide M={m}")
    if not 1 <= s <= 4:
        raise sim.MappingError(f"stages={s} outside 1..4")
    need = q * e * 2 + s * KEY_TILE * e * 4
    if need > a.levels[1].capacity_bytes:
        raise sim.MappingError(f"needs {need} bytes of buffer, {a.levels[1].capacity_bytes} available")
    return sim.Mapping(TOY, (), {}, {"q_tile": q, "stages": s})


def toy_lower(c, a, mapping, options=None):
    LOWERINGS["count"] += 1
    m, p, e = c.sizes["M"], c.sizes["P"], c.sizes["E"]
    q, s = mapping.params["q_tile"], mapping.params["stages"]
    heads = math.prod(v for k, v in c.sizes.items() if k in ("B", "H", "G", "R"))
    tile = KEY_TILE * e * 4
    iters = heads * (m // q) * max(1, p // KEY_TILE)
    roof = sim.roofline(c, a)
    share = {u: math.ceil(roof.unit_s[u] * a.clock_hz / iters) for u in ("2d", "1d")}
    bw = a.levels[0].bandwidth_bytes_per_s / a.clock_hz
    b = ProgramBuilder(["dma", "2d", "1d"], [True, False, False], {"kv": s * tile},
                       levels=["DRAM.read", "DRAM.write", "GlobalBuffer.read"], tags=["mm", "sm"])
    qo = 2 * heads * m * e * 2
    b.segment("q_and_out").op("dma", math.ceil(qo / bw), bytes={"DRAM.read": qo / 2, "DRAM.write": qo / 2})
    seg = b.segment("tiles", repeat=iters)
    ld = seg.op("dma", math.ceil(tile / bw), acquire={"kv": tile}, bytes={"DRAM.read": tile})
    mm = seg.op("2d", share["2d"] + KEY_TILE // s, deps=[ld], tag="mm", bytes={"GlobalBuffer.read": tile})
    seg.op("1d", share["1d"] + q // 16, deps=[mm], prev_deps=[2], release={"kv": tile}, tag="sm")
    return sim.Lowered(b.build(), {"dma": "hbm", "2d": "2d", "1d": "1d"},
                       {"2d.mac": heads * m * p * e * 2, "1d.add": heads * m * p}, phases=("mm", "sm"))


@contextlib.contextmanager
def registered(space=None, searched=True, lower=toy_lower):
    """The toy registered for the duration of the block (with an optional search space and lowering)."""
    df = sim.register_dataflow(TOY, supports=toy_supports, plan=toy_plan, lower=lower, space=space,
                               searched=searched, doc="test toy")
    try:
        yield df
    finally:
        unregister_dataflow(TOY)
