"""How it runs: mapping, simulation, exploration and plots over (workload, architecture) pairs."""
from .dataflow import DATAFLOWS, Dataflow, Lowered, dataflow, register_dataflow, verdicts
from .evaluate import evaluate
from .gna import fully_block_sparse, gna_speedup_bound
from .mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from .result import Result
from .roofline import EinsumBound, Roofline, roofline

__all__ = ["DATAFLOWS", "Dataflow", "EinsumBound", "FusionGroup", "LevelNest", "Loop", "Lowered", "Mapping",
           "MappingError", "Result", "Roofline", "dataflow", "evaluate", "register_dataflow", "roofline", "verdicts"]
__all__ += ["fully_block_sparse", "gna_speedup_bound"]
from .explore import Exploration, explore  # noqa: E402  (the function shadows the module name: use `from sim.explore import ...`)
from .sweep import Sweep, arch_variants, sweep  # noqa: E402
__all__ += ["Exploration", "Sweep", "arch_variants", "explore", "sweep"]
