"""A mapping that chooses its own key tile answers to the cascade re-split with that tile (`sim.ir.mapping.tiled`):
its roofline is that cascade's, and explore's roofline bounds use it (a larger tile on a larger array does fewer
per-tile Einsum points than the cascade's default tiling, so the default tiling's roofline is no bound for it)."""
import accel
import sim
import workloads
from sim.ir.mapping import tiled


def test_a_chosen_key_tile_is_bounded_by_its_own_roofline():
    arch = accel.variant(accel.preset("fusemax"), array=(512, 1024))
    c = workloads.attention("mha", batch=8, heads=12, seq=4096, head_dim=64)     # P0 = 256 by default
    r = sim.evaluate(c, arch, "fusemax")
    assert r.mapping.params["P0"] == 512
    own = tiled(c, r.mapping)
    assert own.sizes["P0"] == 512 and own.sizes["P1"] == 8
    assert r.latency_s >= sim.roofline(own, arch, binding=dict(r.mapping.binding)).lower_bound_s
    x = sim.explore(c, arch)
    assert not any("beat its roofline" in n for n in x.notes)


def test_a_mapping_without_tile_choices_simulates_the_given_cascade():
    c = workloads.attention("mha", batch=1, heads=2, seq=1024, head_dim=64)
    r = sim.evaluate(c, accel.preset("h100"), "flash3")
    assert tiled(c, r.mapping) is c
