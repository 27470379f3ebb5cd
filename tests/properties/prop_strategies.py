"""Hypothesis strategies shared by the property tests: small cascades, attention shapes, architecture variants
and tile programs. Every strategy draws tiny sizes so one example runs in milliseconds."""
from __future__ import annotations

import os

import numpy as np
from hypothesis import strategies as st

import accel
from sim.ir.program import Program, ProgramBuilder, ProgramError

# Example counts: the default run stays within the suite's budget; `pytest -m slow` runs the *_slow twins.
FAST = int(os.environ.get("CASCADESIM_PROPERTY_EXAMPLES", "80"))
SLOW = int(os.environ.get("CASCADESIM_PROPERTY_EXAMPLES_SLOW", "1000"))


# ---- generic cascades over a query rank M, a split-able rank P and a free rank N -----------------------------

# (name, unsplit text, split text): the split text reads P as p1, p0 everywhere; outputs keep their ranks, so a
# result over P is stored as [.., P1, P0] in the split cascade (padded, compared after trimming).
GENERIC = {
    "sum_of_product": ("input A[m,p], B[p,n]\nZ[m,n] = A[m,p] * B[p,n]",
                       "input A[m,p], B[p,n]\nsplit p -> p1, p0\nZ[m,n] = A[m,p1,p0] * B[p1,p0,n]"),
    "max": ("input A[m,p]\nZ[m] = max(p: A[m,p])",
            "input A[m,p]\nsplit p -> p1, p0\nZ[m] = max(p1, p0: A[m,p1,p0])"),
    "softmax_denominator": ("input A[m,p], B[p,n]\nG[m] = max(p: A[m,p])\nS[m,p] = exp(A[m,p] - G[m])\n"
                            "D[m] = S[m,p]\nZ[m,n] = S[m,p] * B[p,n] / D[m]",
                            "input A[m,p], B[p,n]\nsplit p -> p1, p0\nG[m] = max(p1, p0: A[m,p1,p0])\n"
                            "S[m,p1,p0] = exp(A[m,p1,p0] - G[m])\nD[m] = S[m,p1,p0]\n"
                            "Z[m,n] = S[m,p1,p0] * B[p1,p0,n] / D[m]"),
    "map_over_p": ("input A[m,p], B[p,n]\nZ[m,p] = exp(A[m,p]) * B[p,n]",
                   "input A[m,p], B[p,n]\nsplit p -> p1, p0\nZ[m,p1,p0] = exp(A[m,p1,p0]) * B[p1,p0,n]"),
}


@st.composite
def generic_case(draw, masks: bool = True):
    """(kind, sizes without P0, tile P0, mask line or '') for a GENERIC cascade."""
    kind = draw(st.sampled_from(sorted(GENERIC)))
    m = draw(st.integers(1, 5))
    p = draw(st.integers(1, 13))
    n = draw(st.integers(1, 3))
    tile = draw(st.integers(1, p))
    mask = ""
    if masks:
        choice = draw(st.sampled_from(["", "causal", "window"]))
        if choice == "causal":
            mask = "mask m, p: causal\n"
        elif choice == "window":
            mask = f"mask m, p: window(left={draw(st.integers(0, 4))}, right={draw(st.integers(0, 4))})\n"
    sizes = {"M": m, "P": p}
    if "n]" in GENERIC[kind][0] or "n," in GENERIC[kind][0]:
        sizes["N"] = n
    return kind, sizes, tile, mask


def with_mask(text: str, mask: str) -> str:
    head, rest = text.split("\n", 1)
    return f"{head}\n{mask}{rest}"


# ---- one small example per attention variant (the fuzzers mutate them; the dataflow checks run them) ----------

VARIANT_EXAMPLES = {
    "mha": dict(batch=1, heads=2, seq=5, head_dim=3, causal=True),
    "gqa": dict(batch=2, heads=4, kv_heads=2, seq=3, seq_kv=7, head_dim=3, softmax="2pass", causal=True),
    "mqa": dict(batch=1, heads=3, seq=1, seq_kv=6, head_dim=2, softmax="3pass"),
    "sqa": dict(batch=1, heads=8, query_heads=4, kv_heads=2, seq=4, head_dim=2),
    "ssqa": dict(batch=1, heads=8, seq=4, head_dim=2),
    "xsqa": dict(batch=1, heads=8, seq=4, head_dim=2),
    "ccgqa": dict(batch=1, seq=4, model_dim=16, heads=8, compression=2, kv_heads=2),
    "mla": dict(batch=1, seq=1, seq_kv=4, heads=2, latent=4, rope_dim=2, nope_dim=2, head_dim_v=3),
    "tpla": dict(batch=1, seq=1, seq_kv=4, devices=2),
    "moh": dict(batch=1, heads=4, seq=3, head_dim=2, model_dim=4, shared_heads=1, top_k=2, accounting="sparse"),
    "cca": dict(batch=1, seq=4, model_dim=16, heads=4, compression=2),
    "sliding": dict(batch=1, heads=2, seq=2, seq_kv=9, head_dim=2, left=3, right=1),
    "na": dict(batch=1, heads=2, spatial=(4, 5), window=(3, 3), head_dim=2),
    "gna": dict(batch=1, heads=2, spatial=(3, 4, 5), window=(2, 3, 3), stride=(1, 2, 3), dilation=(1, 1, 1),
                causal=(True, False, False), head_dim=2),
    "blocked": dict(batch=1, heads=2, spatial=7, block=3, keep=((1, 0, 0), (1, 1, 0), (0, 1, 1)), head_dim=2),
    "linear": dict(batch=1, heads=2, seq=4, head_dim=2, causal=True),
    "split_kv": dict(batch=1, heads=4, kv_heads=1, seq_kv=10, head_dim=2, splits=3),
    "moa": dict(batch=1, heads=3, seq=4, seq_kv=6, head_dim=2, spans=(1, 3, 6)),
    "dynamic": dict(batch=1, heads=2, seq=4, seq_kv=6, head_dim=2, block=2,
                    keep=(((1, 0, 1), (0, 1, 0)), ((0, 0, 1), (1, 1, 1)))),
}


# ---- attention shapes ----------------------------------------------------------------------------------------

@st.composite
def attention_shape(draw, max_seq: int = 9):
    """Keyword arguments of `workloads.attention("mha"|"sliding", ...)` minus softmax/key_tile; P ≥ M so that no
    query row is fully masked."""
    m = draw(st.integers(1, max_seq))
    p = draw(st.integers(m, max_seq + 3))
    return {"batch": draw(st.integers(1, 2)), "heads": draw(st.integers(1, 2)), "seq": m, "seq_kv": p,
            "head_dim": draw(st.integers(1, 4)), "head_dim_v": draw(st.integers(1, 3))}


# ---- architectures -------------------------------------------------------------------------------------------

def scaled(arch: accel.Arch, *, bandwidth: float = 1.0, buffer: float = 1.0, pes: int = 1) -> accel.Arch:
    """A variant of `arch` built through `to_dict`/`from_dict`: every level's bandwidth × `bandwidth`, every
    bounded level's capacity × `buffer`, every unit's first array dimension × `pes` with its fill/drain kept (more
    PEs at the same pipeline depth: a longer skew would legitimately slow a one-tile workload down)."""
    fill = {u.name: accel.fill_drain(u) for u in arch.units}
    d = accel.to_dict(arch)
    for lv in d["levels"]:
        if lv["bandwidth_bytes_per_s"] is not None:
            lv["bandwidth_bytes_per_s"] *= bandwidth
        if lv["capacity_bytes"] is not None:
            lv["capacity_bytes"] = int(lv["capacity_bytes"] * buffer)
    for u in d["units"]:
        u["pes"][0] *= pes
        u["fill_drain_cycles"] = fill[u["name"]]
    d["measured"] = {k: v * (bandwidth if "bytes" in k else 1.0) for k, v in d["measured"].items()}
    return accel.from_dict(d)


def arch_factors():
    """(bandwidth, buffer, pes) growth factors, each ≥ 1."""
    return st.tuples(st.sampled_from([1.0, 1.5, 2.0, 8.0]), st.sampled_from([1.0, 2.0, 4.0]),
                     st.sampled_from([1, 2, 4]))


# ---- tile programs -------------------------------------------------------------------------------------------

@st.composite
def programs(draw, max_segments: int = 3, max_ops: int = 6, max_repeat: int = 8):
    """A small Program: memory and compute units, same- and previous-iteration deps, producer/consumer buffer
    pairs, barriers, latencies, bytes per level and tags. May deadlock (then it is returned unvalidated)."""
    n_units = draw(st.integers(1, 4))
    units = [f"u{u}" for u in range(n_units)]
    buffers = {f"b{b}": draw(st.integers(1, 8)) for b in range(draw(st.integers(0, 2)))}
    b = ProgramBuilder(units=units, unit_is_memory=draw(st.lists(st.booleans(), min_size=n_units,
                                                                 max_size=n_units)),
                       buffers=buffers, levels=["DRAM.read", "GB.read"], tags=["A", "B"],
                       ticks_per_cycle=draw(st.integers(1, 3)))
    for s in range(draw(st.integers(1, max_segments))):
        seg = b.segment(f"s{s}", repeat=draw(st.integers(1, max_repeat)), barrier=draw(st.booleans()))
        n = draw(st.integers(1, max_ops))
        releases: list[dict[str, int]] = [{} for _ in range(n)]
        for i in range(n):
            acquire = {}
            for name, cap in buffers.items():
                if draw(st.integers(0, 2)) == 0:
                    amount = draw(st.integers(1, cap))
                    acquire[name] = amount
                    j = draw(st.integers(i, n - 1))
                    releases[j][name] = releases[j].get(name, 0) + amount
            deps = sorted(set(draw(st.lists(st.integers(0, i - 1), max_size=2)))) if i else []
            prev = sorted(set(draw(st.lists(st.integers(0, n - 1), max_size=1))))
            seg.op(units[draw(st.integers(0, n_units - 1))], draw(st.integers(0, 20)), draw(st.integers(0, 6)),
                   deps=deps, prev_deps=prev, acquire=acquire, release=releases[i],
                   bytes={"DRAM.read": draw(st.integers(0, 64)), "GB.read": draw(st.integers(0, 64))},
                   tag=draw(st.sampled_from([None, "A", "B"])))
    try:
        return b.build()
    except ProgramError as e:
        assert "deadlock" in str(e), e
        return Program(units=b.units, unit_is_memory=b.unit_is_memory, buffers=b.buffers,
                       buffer_capacity=b.buffer_capacity, levels=b.levels, tags=b.tags,
                       ticks_per_cycle=b.ticks_per_cycle, segments=tuple(s.build() for s in b._segments))


def random_inputs(c, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t: rng.standard_normal(tuple(c.sizes[r] for r in c.tensors[t].ranks)) for t in c.inputs}
