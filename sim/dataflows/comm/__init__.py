"""Collectives lowered to engine programs: all-reduce (ring, tree, NVLS), all-gather and reduce-scatter (ring),
all-to-all and send/recv (direct), chunked and pipelined, under NCCL's LL, LL128 or Simple protocol.

Interface for programs that run a collective beside other work (compute co-scheduled on the same engine):

    plan = plan_collective(kind, nbytes, cluster, devices, algorithm=None, protocol=None, chunks=None)
    units = comm_units(plan)                     # add these to the ProgramBuilder's units
    done = collective_ops(segment, plan, ticks_per_s=..., after=..., tag=...)   # device → its last op

`plan_collective` takes checked arguments (`sim.collective` checks and times them alone); `collective_ops` appends
the ops to a segment body, waiting for `after` (op indices, or device → op indices); ticks default to the cluster
device's GPU-program rate (`tick_rate`), so kernels and collectives share a program. The collective's kernel
occupies `cluster.comm_sms` SMs of each device for its whole time: compute beside it has the rest. Payload moves at
each link's and NIC's achievable rate (`accel.Link.efficiency`, `accel.Nic.efficiency` of the datasheet rate);
latency terms do not depend on it.

Modules: `protocols` (NCCL's protocols and latency terms, with sources), `plan` (`CommPlan`: steps, hops, chunks),
`transfers` (one chunk's transfers, per algorithm), `bounds` (the closed form
and bytes per unit), `choice` (NCCL's rule: the fastest candidate, simulated), `lowering` (the ops).
"""
from sim.dataflows.comm.bounds import bound_s, bound_ticks, unit_bytes
from sim.dataflows.comm.choice import candidates, choose, plan_collective
from sim.dataflows.comm.lowering import ORDERS, collective_ops, collective_program, comm_units
from sim.dataflows.comm.plan import ALGORITHMS, KINDS, MAX_CHUNKS, MAX_COMM_OPS, CommPlan, Hop, tick_rate
from sim.dataflows.comm.protocols import PROTOCOLS, Protocol

__all__ = ["ALGORITHMS", "KINDS", "MAX_CHUNKS", "MAX_COMM_OPS", "ORDERS", "PROTOCOLS", "CommPlan", "Hop", "Protocol", "bound_s",
           "bound_ticks", "candidates", "choose", "collective_ops", "collective_program", "comm_units", "plan_collective",
           "tick_rate", "unit_bytes"]
