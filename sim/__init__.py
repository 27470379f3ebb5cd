"""How it runs: mapping, simulation, exploration and plots over (workload, architecture) pairs.

Subpackages, lowest first (each imports only those before it): `ir` (mappings, programs, runs, results),
`engine` (the schedulers), `bounds` (roofline, area, local-attention tile bounds), `dataflows` (the registry and
every built-in dataflow), `evaluation` (one evaluation: plan, lower, simulate, account), `models` (whole layers
kernel by kernel, and inference over whole models), `search` (explore, sweep), `report` (plots, gallery, command
line).
"""
from sim.ir import FusionGroup, LevelNest, Loop, Mapping, MappingError, Result
from sim.bounds import EinsumBound, Roofline, fully_block_sparse, gna_speedup_bound, roofline
from sim.dataflows import DATAFLOWS, Dataflow, Lowered, dataflow, register_dataflow, verdicts
from sim.models import Inference, LayerResult
from sim.models import TrainingStep, training_step
from sim.parallel.api import evaluate, inference
from sim.parallel.collective import collective
from sim.search.exploration import Exploration, explore
from sim.search.sweeps import Sweep, arch_variants, sweep

__all__ = ["DATAFLOWS", "Dataflow", "EinsumBound", "Exploration", "FusionGroup", "Inference", "LayerResult",
           "LevelNest", "Loop", "Lowered", "Mapping", "MappingError", "Result", "Roofline", "Sweep", "arch_variants",
           "collective", "dataflow", "evaluate", "explore", "fully_block_sparse", "gna_speedup_bound", "inference",
           "register_dataflow", "roofline", "sweep", "verdicts"]
__all__ += ["TrainingStep", "training_step"]
