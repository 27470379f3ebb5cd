"""Closed-form bounds that every simulation is checked against: the per-Einsum roofline (compute per unit,
compulsory traffic per level), chip area, and the tile-level bounds of block-sparse neighborhood attention."""
from sim.bounds.area import area_mm2
from sim.bounds.gna_tiles import fully_block_sparse, gna_speedup_bound, tile_visits
from sim.bounds.rooflines import EinsumBound, Roofline, roofline

__all__ = ["EinsumBound", "Roofline", "area_mm2", "fully_block_sparse", "gna_speedup_bound", "roofline",
           "tile_visits"]
