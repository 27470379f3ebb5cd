"""Bad requests to the local and sparse attention variants (MoA, dynamic block tables, per-group windows) and to
the `gna` and `sparse` GPU dataflows: each raises its documented error naming what is wrong and what would work."""
from __future__ import annotations

import accel
import sim
import workloads
from sim.dataflows.gpu import gna
from workloads import CascadeError
from sim.ir.mapping import MappingError

H100 = accel.preset("h100")


def moa(**kw):
    return lambda: workloads.attention("moa", **{**dict(batch=1, heads=2, seq=64, head_dim=64, spans=(8, 64)),
                                                 **kw})


def dynamic(**kw):
    return lambda: workloads.attention("dynamic", **{**dict(batch=1, heads=2, seq=64, head_dim=64, block=16), **kw})


def window(left, right, rows=6):
    text = "input Q[hm,e], K[p,e]\nmask hm, p: window(left={}, right={})\nS[hm,p] = Q[hm,e] * K[p,e]\n"
    return lambda: workloads.cascade(text.format(left, right), {"HM": rows, "P": 4, "E": 1})


def evaluate(cascade, df, constraints=None):
    return lambda: sim.evaluate(cascade(), H100, df, constraints=constraints)


def gna_lower(masking):
    def call():
        c = workloads.attention("gna", batch=1, heads=2, spatial=(32, 32), window=(8, 8), head_dim=64)
        return gna.lower_with(c, H100, gna.plan(c, H100, {}), masking=masking)
    return call


MHA = lambda: workloads.attention("mha", batch=1, heads=2, seq=64, head_dim=64)  # noqa: E731
GQA_WINDOW = lambda: workloads.attention("sliding", batch=1, heads=4, kv_heads=2, seq=64, head_dim=64,  # noqa: E731
                                         left=8)

CASES = [
    ("moa-spans-count", moa(spans=(8,)), CascadeError, "1 spans for heads=2"),
    ("moa-span-zero", moa(spans=(0, 8)), CascadeError, "positive integers"),
    ("moa-spans-and-alpha", moa(alpha=(1, 1), beta=(0, 0)), CascadeError, "either spans"),
    ("moa-beta-negative", moa(spans=None, alpha=(1, 1), beta=(0.5, -1)), CascadeError, "finite numbers ≥ 0"),
    ("moa-alpha-nan", moa(spans=None, alpha=(float("nan"), 1), beta=(0, 0)), CascadeError, "finite numbers"),
    ("moa-alpha-not-list", moa(spans=None, alpha=3, beta=(0, 0)), CascadeError, "one entry per head"),
    ("moa-fewer-keys", moa(seq_kv=32), CascadeError, "leaves the first queries"),
    ("moa-too-many-heads", moa(heads=5000, spans=None, alpha=(1,) * 5000, beta=(0,) * 5000), CascadeError,
     "at most 4096"),
    ("moa-layers-shape", lambda: workloads.variants.moa.moa_layers([(1, 2, 3)], batch=1, heads=2, seq=8,
                                                                    head_dim=2), CascadeError, "expected (alpha"),
    ("dynamic-block-divides", dynamic(block=24, top_k=1), CascadeError, "must divide seq"),
    ("dynamic-no-table", dynamic(), CascadeError, "either keep"),
    ("dynamic-top-k-large", dynamic(top_k=5), CascadeError, "top_k=5 > 4 key blocks"),
    ("dynamic-table-shape", dynamic(keep=((1, 0),)), CascadeError, "heads × query blocks × key blocks"),
    ("dynamic-empty-row", dynamic(keep=((1, 0, 0, 0), (0, 0, 0, 0), (1, 1, 1, 1), (1, 0, 0, 1))), CascadeError,
     "query block 1 keeps no key block"),
    ("dynamic-bad-entry", dynamic(keep=((1, 0, 0, 0.5),) * 4), CascadeError, "0/1 or True/False"),
    ("dynamic-table-too-large", dynamic(seq=4096, block=2, top_k=1), CascadeError, "use larger blocks"),
    ("topk-blocks-shapes", lambda: workloads.variants.dynamic.topk_blocks([[1.0]], [[1.0]], 1, 1), CascadeError,
     "need Q [H,M,E] and K [H,P,E]"),
    ("window-groups-uneven", window("(1, 2, 3, 4)", "(0, 0, 0, 0)"), CascadeError, "do not split the 6 query rows"),
    ("window-groups-lengths", window("(1, 2)", "(0,)"), CascadeError, "equal, non-zero length"),
    ("window-groups-negative", window("(1, -2)", "(0, 0)"), CascadeError, "must be ≥ 0 integers"),
    ("window-groups-text", window("(1, 'a')", "(0, 0)"), CascadeError, "must be an integer"),
    ("sparse-no-mask", evaluate(MHA, "sparse"), MappingError, "needs one sliding-window or block-table mask"),
    ("sparse-grouped-heads-window", evaluate(lambda: workloads.attention(
        "moa", batch=1, heads=2, seq=64, head_dim=300, spans=(8, 64)), "sparse"), MappingError, "head dim 300"),
    ("sparse-unknown-pin", evaluate(moa(), "sparse", {"q_tiles": 64}), MappingError, "unknown mapping parameter"),
    ("sparse-huge-tile-grid", evaluate(dynamic(seq=65536, block=4096, top_k=1), "sparse",
                                       {"kv_tile": 1}), MappingError, "beyond"),
    ("gna-masking-switch", gna_lower("some"), MappingError, "masking='some' (valid: none, partial, natten)"),
]
