"""The attention dataflows of the FuseMax evaluation (FuseMax, MICRO 2024, §VI), registered with their search spaces:

| dataflow | cascade | hardware | module |
|---|---|---|---|
| `unfused` | 3-pass | FLAT's | `flat` — QK, softmax, AV each through DRAM |
| `flat` | 3-pass | FLAT's | `flat` — fused row blocks, spilling what does not fit (FLAT, ASPLOS 2023) |
| `fusemax-cascade` | 1-pass | FLAT's | `fusemax` — +Cascade |
| `fusemax-arch` | 1-pass | FuseMax's | `fusemax` — +Architecture: one tile at a time |
| `fusemax` | 1-pass | FuseMax's | `fusemax` — +Binding: both arrays interleaved |

Each lowering emits a tile program for `sim.engine` over the units "2d", "1d" and "dram" (built with
`sim.dataflows.spatial.body`); the shared arithmetic is in `common`, the cascade template check in `template`.
"""
from __future__ import annotations

from sim.dataflows.registry import register_dataflow
from sim.dataflows.spatial import flat, fusemax
from sim.dataflows.spatial.fusemax import BINDING_FLAT_1PASS, BINDING_FUSEMAX
from sim.dataflows.spatial.query_blocks import query_block
from sim.dataflows.spatial.flat import BINDING_3PASS

__all__ = ["BINDING_3PASS", "BINDING_FLAT_1PASS", "BINDING_FUSEMAX", "query_block"]

register_dataflow("unfused", supports=flat.supports, plan=flat.plan("unfused"), lower=flat.lower,
                  space=flat.space("unfused"),
                  doc="3-pass cascade in three phases (QK, softmax, AV), each through DRAM")
register_dataflow("flat", supports=flat.supports, plan=flat.plan("flat"), lower=flat.lower, space=flat.space("flat"),
                  doc="FLAT: 3-pass cascade fused at head or row granularity, spilling QK/SN when a block does not fit")
for _name, _doc in (("fusemax-cascade", "+Cascade: the 1-pass cascade on FLAT's hardware"),
                    ("fusemax-arch", "+Architecture: FuseMax hardware, one tile produced and consumed at a time"),
                    ("fusemax", "FuseMax: 1-pass cascade with two-level interleaving of the 2D and 1D arrays")):
    register_dataflow(_name, supports=fusemax.supports(_name), plan=fusemax.plan(_name), lower=fusemax.lower,
                      space=fusemax.space(_name), doc=_doc)
