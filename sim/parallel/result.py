"""`ParallelResult`: a layer (or a model's phase) run under a parallel plan — per device: compute, link and NIC
busy time, exposed and overlapped communication, MAC FLOPs, HBM bytes and energy — with the collectives it
issued, the load balance across devices and each device's memory against its HBM."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.models.compose import LayerResult
from sim.models.memory import Memory
from sim.parallel.links import CollectiveRun
from sim.parallel.plans import Plan

ROUNDING_S = 1e-12    # a difference of engine times below a tick is rounding, not time


@dataclass(frozen=True)
class DeviceShare:
    """One device's part: `role` (e.g. "tp rank 1"), busy seconds of its compute unit, its communication seconds
    (its collectives' spans and its sends) and those overlapped with its compute, busy seconds of its NVLink and
    NIC egress, its kernels' MAC FLOPs, HBM
    bytes and energy (kernels' energy, plus static power over the time its compute waits), and the single-device
    result its kernels come from (`kernels`, shared by devices that run the same shard)."""
    device: int
    role: str
    compute_s: float
    comm_s: float
    overlapped_s: float
    link_s: float
    nic_s: float
    flops: float
    hbm_bytes: float
    energy_j: float
    kernels: LayerResult | None = None


@dataclass(frozen=True)
class ParallelResult:
    """A workload under a plan on a cluster. `latency_s`: the step's makespan on the engine (× repeated layers);
    `exposed_s`: what communication adds to it (the makespan minus that of the same step with free transfers);
    `devices`: one `DeviceShare` per device of the plan; `collectives`: what the links carried, per issue;
    `memory`: the most loaded device's weights and KV cache against its HBM; `run`: the engine run of one step (its
    units `d<i>.compute|comm|link|nic`, for the timeline) and `step_s` its makespan; `repeat`: identical steps the
    latency covers (layers)."""
    workload: str
    cluster: str
    plan: Plan
    latency_s: float
    exposed_s: float
    devices: tuple[DeviceShare, ...]
    collectives: tuple[CollectiveRun, ...]
    memory: Memory | None
    run: Any = None
    repeat: int = 1
    notes: tuple[str, ...] = ()
    step_s: float = 0.0

    @property
    def energy_j(self) -> float:
        """Energy of every device."""
        return sum(d.energy_j for d in self.devices)

    @property
    def flops(self) -> float:
        """MAC FLOPs of every device (replicated work counted on each device that does it)."""
        return sum(d.flops for d in self.devices)

    @property
    def communication_s(self) -> float:
        """Communication seconds of the device that communicates longest."""
        return max(d.comm_s for d in self.devices)

    @property
    def overlapped_s(self) -> float:
        """Communication seconds hidden behind compute: the longest communication less what is exposed."""
        hidden = self.communication_s - self.exposed_s
        return hidden if hidden > ROUNDING_S else 0.0

    @property
    def load_balance(self) -> float:
        """Mean ÷ max compute time over devices (1: perfectly balanced)."""
        busiest = max(d.compute_s for d in self.devices)
        return sum(d.compute_s for d in self.devices) / len(self.devices) / busiest if busiest else 1.0

    def __str__(self) -> str:
        lines = [f"{self.workload} on {self.cluster} with plan {self.plan}: {self.latency_s * 1e3:.4g} ms over "
                 f"{len(self.devices)} device{'s' * (len(self.devices) > 1)}",
                 f"  communication {self.communication_s * 1e3:.4g} ms per device ({self.exposed_s * 1e3:.4g} ms "
                 f"exposed, {self.overlapped_s * 1e3:.4g} ms overlapped), load balance {self.load_balance:.3f}"]
        lines += [f"  {c.name}: {c.kind} of {c.nbytes / 1e6:.4g} MB over {c.group} devices ({c.unit}), "
                  f"{c.seconds * 1e6:.4g} µs × {c.count}" for c in self.collectives]
        if self.memory is not None:
            lines.append(f"  memory per device: {self.memory.note}")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])
