"""Core attention disaggregation (DistCA, arXiv 2510.18121) of one prefill layer over documents of mixed lengths.

Core attention softmax(QKᵀ)V grows with the square of a document's length; the rest of the layer (norms,
projections, FFN) with its tokens. The documents are concatenated and cut into `devices` equal token ranges, so
every device has the same linear work; a document's causal attention is cut into token-level tasks (query chunks
of at most `chunk` tokens, never across a device's range, each attending to its whole causal prefix). Two
schedules of the same tasks on the same GPUs:

- `colocated`: each task runs on the device holding its queries, after receiving the part of its K/V prefix held
  by earlier devices (context parallelism within documents): the devices' attention work differs with the
  documents they hold.
- `disaggregated`: the tasks are rebatched over the devices as attention servers to balance their simulated times
  (longest first, onto the least loaded); a task away from its queries' device receives its queries and its K/V
  prefix and returns its output. Ping-pong: each device's tasks form two micro-batches by query position; one
  micro-batch's transfers overlap the other's compute, as the engine schedules them.

Each task runs as its own attention kernel (rebatching tasks into one launch, as DistCA does, would save their
launches); a device's bytes of one phase move as one send over its NVLink, timed by `sim.dataflows.comm`.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

from workloads import Model
from workloads.dtypes import dtype_bytes
from workloads.models.kernels import Kernel

from sim.ir import MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.models.choice import KernelRun, run_kernel
from sim.models.layers import evaluate_layer
from sim.parallel.links import timed
from sim.parallel.outcome import result, shares, work
from sim.parallel.plans import Plan
from sim.parallel.result import ParallelResult
from sim.parallel.schedule import Step, schedule
from sim.parallel.shard import overlap_device

MAX_DOCUMENTS = 4096        # documents one call takes
MAX_TASKS = 1 << 14         # attention tasks one call simulates
PHASES = 2                  # ping-pong micro-batches


@dataclass(frozen=True)
class Task:
    """Queries [start, end) of one document (keys [0, end)): on device `home`, run on `server` in `phase`."""
    doc: int
    start: int
    end: int
    home: int
    phase: int
    run: KernelRun
    server: int = -1


@dataclass(frozen=True)
class CoreAttention:
    """The two schedules (`colocated`, `disaggregated`: `ParallelResult`s whose `load_balance` compares the
    devices' compute) and the tasks as the disaggregated schedule placed them."""
    colocated: ParallelResult
    disaggregated: ParallelResult
    tasks: tuple[Task, ...]

    @property
    def speedup(self) -> float:
        """Colocated latency ÷ disaggregated latency."""
        return self.colocated.latency_s / self.disaggregated.latency_s


def core_attention(m: Model, cluster, documents: Sequence[int], *, devices: int | None = None, chunk: int = 1024,
                   options: Options = DEFAULT_OPTIONS) -> CoreAttention:
    """One prefill layer of `m` over `documents` (token counts) on the first `devices` GPUs of `cluster` (default:
    one node), colocated and with core attention disaggregated (see the module docstring)."""
    docs, n = _checked(m, cluster, documents, devices, chunk)
    per = -(-sum(docs) // n)
    linear = [_linear(m, min(per, sum(docs) - d * per), cluster.device if n == 1 else overlap_device(cluster, True),
                      options) for d in range(n)]
    tasks = _tasks(m, docs, per, chunk, overlap_device(cluster, n > 1), options)
    layout = (docs, per)
    colocated = _schedule(m, cluster, layout, linear, [dataclasses.replace(t, server=t.home) for t in tasks],
                          "colocated")
    served = _rebatch(tasks, n)
    return CoreAttention(colocated, _schedule(m, cluster, layout, linear, served, "disaggregated"), tuple(served))


def _checked(m: Model, cluster, documents: Any, devices: Any, chunk: Any) -> tuple[list[int], int]:
    if not m.causal or m.variant != "gqa":
        raise MappingError(f"core_attention: {m.name} is not a causal GQA/MHA decoder (DistCA's setting)")
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence) or not documents:
        raise MappingError("core_attention: documents must be a non-empty list of token counts")
    if len(documents) > MAX_DOCUMENTS:
        raise MappingError(f"core_attention: {len(documents)} documents; at most {MAX_DOCUMENTS}")
    n = cluster.devices_per_node if devices is None else devices
    for name, v, top in [("devices", n, cluster.devices_per_node), ("chunk", chunk, 1 << 20)] + [
            (f"documents[{i}]", d, 1 << 24) for i, d in enumerate(documents)]:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= top:
            raise MappingError(f"core_attention: {name} must be an integer in [1, {top}], got {str(v)[:40]!r}"
                               + (" (modelled inside one node)" if name == "devices" else ""))
    if sum(documents) < n:
        raise MappingError(f"core_attention: {sum(documents)} tokens for {n} devices; give at least one each")
    tasks = sum(-(-d // chunk) for d in documents) + n * len(documents)
    if tasks > MAX_TASKS:
        raise MappingError(f"core_attention: about {tasks} attention tasks of {chunk} tokens; at most {MAX_TASKS} "
                           f"(use a larger chunk or fewer documents)")
    return [int(d) for d in documents], int(n)


def _linear(m: Model, tokens: int, device, options: Options) -> tuple[list[KernelRun], list[KernelRun]]:
    """The layer's kernels around attention on `tokens` tokens (one packed sequence): (before, after)."""
    runs = evaluate_layer(m.layer(seq=tokens, batch=1), device, options=options).parts
    at = next(i for i, r in enumerate(runs) if r.kernel.kind == "attention")
    return list(runs[:at]), list(runs[at + 1:])


def _tasks(m: Model, docs: list[int], per: int, chunk: int, device, options: Options) -> list[Task]:
    """Every document's query chunks, cut at `chunk` tokens and at the devices' token ranges."""
    out, offset = [], 0
    for i, length in enumerate(docs):
        start = 0
        while start < length:
            home = (offset + start) // per
            end = min(start + chunk, length, (home + 1) * per - offset)
            core = m.attention(seq=end - start, seq_kv=end, batch=1, causal=True)
            run = run_kernel(Kernel("attention", "attention", (), core), device, None, options)
            out.append(Task(i, start, end, home, 0, run))
            start = end
        offset += length
    return _phased(out)


def _phased(tasks: list[Task]) -> list[Task]:
    """Each device's tasks in two micro-batches: its first and second halves of attention time, in query order."""
    out = []
    for d in sorted({t.home for t in tasks}):
        mine = [t for t in tasks if t.home == d]
        total, acc = sum(t.run.seconds for t in mine), 0.0
        for t in mine:
            out.append(Task(t.doc, t.start, t.end, t.home, int(acc >= total / PHASES), t.run))
            acc += t.run.seconds
    return out


def _rebatch(tasks: list[Task], n: int) -> list[Task]:
    """Tasks onto servers, longest first onto the least loaded (per phase, so both micro-batches balance)."""
    out = []
    for ph in range(PHASES):
        load = [0.0] * n
        for t in sorted((t for t in tasks if t.phase == ph), key=lambda t: (-t.run.seconds, t.doc, t.start)):
            s = min(range(n), key=lambda k: (load[k], k != t.home, k))
            load[s] += t.run.seconds
            out.append(Task(t.doc, t.start, t.end, t.home, t.phase, t.run, s))
    return out


def _elsewhere(t: Task, layout: tuple[list[int], int], device: int) -> int:
    """Tokens of the task's key prefix [0, end) held by devices other than `device`."""
    docs, per = layout
    lo = sum(docs[:t.doc])
    hi = lo + t.end
    mine = max(0, min(hi, (device + 1) * per) - max(lo, device * per))
    return (hi - lo) - mine


def _traffic(m: Model, tasks: list[Task], layout, n: int) -> tuple[dict, dict]:
    """Bytes each server receives (queries shipped to it, K/V held elsewhere) and returns (outputs), per phase."""
    size = dtype_bytes(m.dtype)
    kv, q = 2 * m.kv_heads * m.head_dim * size, m.heads * m.head_dim * size
    received = {(d, ph): 0 for d in range(n) for ph in range(PHASES)}
    returned = dict(received)
    for t in tasks:
        away = t.server != t.home
        received[t.server, t.phase] += _elsewhere(t, layout, t.server) * kv + away * (t.end - t.start) * q
        returned[t.server, t.phase] += away * (t.end - t.start) * q
    return received, returned


def _schedule(m: Model, cluster, layout, linear, tasks: list[Task], label: str) -> ParallelResult:
    """The layer's step: every device's linear kernels, then per phase its tasks' inputs arriving over its link,
    its tasks, their outputs leaving; the rest of the layer once every output is home."""
    n = len(linear)
    step, runs = Step(n), {d: list(linear[d][0]) for d in range(n)}
    received, returned = _traffic(m, tasks, layout, n)
    pre = {d: _chain(step, d, linear[d][0], ()) for d in range(n)}
    ready = tuple(h for h in pre.values() if h is not None)
    last, back = dict(pre), []
    for ph in range(PHASES):
        for d in range(n):
            arrive = step.add(d, "link", _send_s(received[d, ph], cluster, n), f"{label}.in#{ph}", ready)
            mine = [t.run for t in tasks if t.server == d and t.phase == ph]
            runs[d] += mine
            last[d] = _chain(step, d, mine, tuple(h for h in (last[d], arrive) if h is not None)) or last[d]
            back.append(step.add(d, "link", _send_s(returned[d, ph], cluster, n), f"{label}.out#{ph}",
                                 (last[d],) if last[d] is not None else ()))
    for d in range(n):
        runs[d] += linear[d][1]
        _chain(step, d, linear[d][1], tuple(back) + ((last[d],) if last[d] is not None else ()))
    s = schedule(step, cluster.device.clock_hz)
    devices = shares(s, cluster.device, [f"device {d}" for d in range(n)], [work(runs[d]) for d in range(n)],
                     [None] * n)
    docs, _ = layout
    most = max(received.values())
    issued = (timed(f"{label}.in", "send_recv", most, cluster, (0, 1)),) if most and n > 1 else ()
    return result(f"{m.name} prefill layer, {len(docs)} documents, {label}", cluster, Plan(), s, devices, issued,
                  None, (f"{len(tasks)} attention tasks; {PHASES} ping-pong micro-batches; each task its own kernel",))


def _send_s(nbytes: int, cluster, n: int) -> float:
    return timed("distca", "send_recv", nbytes, cluster, (0, 1)).seconds if nbytes and n > 1 else 0.0


def _chain(step: Step, d: int, runs: list[KernelRun], after: tuple) -> int | None:
    last = None
    for r in runs:
        last = step.add(d, "compute", r.seconds, r.kernel.name, after if last is None else (last,))
    return last
