"""The data every other part of `sim` passes around: mappings (how a cascade is scheduled), tile programs (what the
engine schedules), runs (what the engine returns) and results (what `sim.evaluate` returns). Plain frozen records."""
from sim.ir.mapping import FusionGroup, LevelNest, Loop, Mapping, MappingError
from sim.ir.program import Program, ProgramBuilder, ProgramError, Segment, SegmentBuilder, validate
from sim.ir.result import Result
from sim.ir.run import STALL_CAUSES, Run, Trace

__all__ = ["FusionGroup", "LevelNest", "Loop", "Mapping", "MappingError", "Program", "ProgramBuilder", "ProgramError",
           "Result", "Run", "STALL_CAUSES", "Segment", "SegmentBuilder", "Trace", "validate"]
