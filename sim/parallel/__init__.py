"""Many devices: collectives over a cluster's links, simulated on the engine (`collective`), and parallel plans
(tensor, context, expert parallelism, TPLA, disaggregation) applied to layers and models.

A layer above `sim.models`: single-device evaluations come from there; this package adds the links, the collectives
and the per-device programs that a plan implies.
"""
from sim.parallel.api import evaluate, inference
from sim.parallel.plans import Plan, plan
from sim.parallel.result import DeviceShare, ParallelResult
from sim.parallel.sweeps import PlanSweep, plan_sweep
from sim.parallel.distca import CoreAttention, core_attention
from sim.parallel.serving import ParallelInference
