"""How it runs: mapping, simulation, exploration and plots over (workload, architecture) pairs.

Subpackages, lowest first (each imports only those before it): `ir` (mappings, programs, runs, results),
`engine` (the schedulers), `bounds` (roofline, area, local-attention tile bounds), `dataflows` (the registry and
every built-in dataflow), `evaluation` (one evaluation: plan, lower, simulate, account), `search` (explore,
sweep), `report` (plots, gallery, command line).
"""
from sim.ir import FusionGroup, LevelNest, Loop, Mapping, MappingError, Result
from sim.bounds import EinsumBound, Roofline, fully_block_sparse, gna_speedup_bound, roofline
from sim.dataflows import DATAFLOWS, Dataflow, Lowered, dataflow, register_dataflow, verdicts
from sim.evaluation import evaluate
from sim.search.exploration import Exploration, explore
from sim.search.sweeps import Sweep, arch_variants, sweep

__all__ = ["DATAFLOWS", "Dataflow", "EinsumBound", "Exploration", "FusionGroup", "LevelNest", "Loop", "Lowered",
           "Mapping", "MappingError", "Result", "Roofline", "Sweep", "arch_variants", "dataflow", "evaluate",
           "explore", "fully_block_sparse", "gna_speedup_bound", "register_dataflow", "roofline", "sweep",
           "verdicts"]
