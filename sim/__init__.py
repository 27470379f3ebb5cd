"""How it runs: mapping, simulation, exploration and plots over (workload, architecture) pairs."""
from .roofline import EinsumBound, Roofline, roofline

__all__ = ["EinsumBound", "Roofline", "roofline"]
