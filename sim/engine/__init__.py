"""The schedulers: `simulate` (list scheduling in program order, compiled with Numba, with exact periodic
extrapolation) and `simulate_reference` (the same schedule as a readable SimPy model, for checking)."""
from sim.engine.reference import simulate_reference
from sim.engine.scheduler import simulate

__all__ = ["simulate", "simulate_reference"]
