"""Reproductions of published evaluations with the simulator: `fusemax` (the FuseMax paper's attention and end-to-end
grids, with FLAT found by `sim.explore`) and its figures (`fusemax_figures`)."""
