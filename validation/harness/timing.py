"""Timing of device work: CUDA events (or CUDA-graph replays) on GPUs, `time.perf_counter` on the CPU.

Every timed call takes its inputs from the next of several buffer sets (rotation), so that repeated calls over small
inputs do not measure the L2 cache. The caller has already run the function (warm-up, compilation, checks).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from validation.errors import ValidationError

GRAPH_BELOW_MS = 0.5  # eager calls shorter than this are timed as CUDA-graph replays (launch overhead would dominate)
GRAPH_CALLS = 16  # calls captured per graph; each replay's time is divided by this


@dataclass(frozen=True)
class Timing:
    """Spread of per-call times in milliseconds."""

    median_ms: float
    min_ms: float
    p20_ms: float
    p80_ms: float
    max_ms: float
    reps: int
    mode: str  # "cuda_events", "cuda_graph", "perf_counter"
    note: str = ""


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values (numpy's default method)."""
    if not sorted_values:
        raise ValidationError("no timing samples to summarize (at least one call must be timed)")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ms: Sequence[float], mode: str, note: str = "") -> Timing:
    """Median, min, p20, p80 and max of per-call samples."""
    s = sorted(samples_ms)
    return Timing(quantile(s, 0.5), s[0], quantile(s, 0.2), quantile(s, 0.8), s[-1], len(s), mode, note)


def choose_reps(estimate_ms: float, target_s: float, min_reps: int, max_reps: int) -> int:
    """Enough repetitions to fill about `target_s` of timing, within [min_reps, max_reps]."""
    if estimate_ms <= 0:
        return max_reps
    return int(min(max_reps, max(min_reps, math.ceil(target_s * 1e3 / estimate_ms))))


class Budget:
    """A wall-clock allowance; `None` or 0 seconds means unlimited."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = time.perf_counter()

    def elapsed_s(self) -> float:
        """Seconds since the budget started."""
        return time.perf_counter() - self.start

    def exhausted(self) -> bool:
        """Whether the allowance is used up (never, when unlimited)."""
        return bool(self.seconds) and self.elapsed_s() >= self.seconds


def _time_cpu(fn: Callable[..., Any], arg_sets: Sequence[tuple], reps: int) -> list[float]:
    samples = []
    for i in range(reps):
        args = arg_sets[i % len(arg_sets)]
        t0 = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def _time_cuda_events(torch: Any, fn: Callable[..., Any], arg_sets: Sequence[tuple], reps: int) -> list[float]:
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    torch.cuda.synchronize()
    for i in range(reps):
        args = arg_sets[i % len(arg_sets)]
        starts[i].record()
        fn(*args)
        ends[i].record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in zip(starts, ends)]


def _time_cuda_graph(torch: Any, fn: Callable[..., Any], arg_sets: Sequence[tuple], reps: int) -> tuple[list[float], int]:
    """Per-call times of graph replays (each replay's time / calls in it), and the calls per replay."""
    calls = max(GRAPH_CALLS, len(arg_sets))
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # one eager pass on the capture stream, as PyTorch's graph docs advise
        fn(*arg_sets[0])
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(calls):
            fn(*arg_sets[i % len(arg_sets)])
    graph.replay()
    replays = max(10, math.ceil(reps / calls))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
    torch.cuda.synchronize()
    for i in range(replays):
        starts[i].record()
        graph.replay()
        ends[i].record()
    torch.cuda.synchronize()
    samples = [s.elapsed_time(e) / calls for s, e in zip(starts, ends)]
    del graph
    return samples, calls


def estimate_ms(fn: Callable[..., Any], arg_sets: Sequence[tuple], device_type: str) -> float:
    """One synchronised call's wall time, for choosing the repetition count and the timing mode."""
    if device_type == "cuda":
        import torch

        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(*arg_sets[-1])
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    fn(*arg_sets[-1])
    return (time.perf_counter() - t0) * 1e3


def time_fn(fn: Callable[..., Any], arg_sets: Sequence[tuple], device_type: str, reps: int | None = None,
            target_s: float = 0.25, min_reps: int = 5, max_reps: int = 200, graphs: bool = True) -> Timing:
    """Time `fn(*args)` rotating over `arg_sets`; `reps=None` picks the count from a one-call estimate.

    On CUDA, calls shorter than GRAPH_BELOW_MS are captured GRAPH_CALLS at a time in a CUDA graph and each replay is
    timed; if capture fails the eager event timing is used and the failure is recorded in `note` (never silently).
    """
    est = estimate_ms(fn, arg_sets, device_type)
    n = reps if reps is not None else choose_reps(est, target_s, min_reps, max_reps)
    if device_type != "cuda":
        return summarize(_time_cpu(fn, arg_sets, n), "perf_counter")
    import torch

    note = ""
    if graphs and est < GRAPH_BELOW_MS:
        try:
            samples, calls = _time_cuda_graph(torch, fn, arg_sets, n)
            return summarize(samples, "cuda_graph", f"{calls} calls per graph replay; reps counts replays")
        except Exception as exc:  # capture refused (e.g. a host sync inside fn): say so and time eagerly
            torch.cuda.synchronize()
            note = f"cuda graph capture failed ({type(exc).__name__}: {str(exc)[:120]}); timed eagerly"
    return summarize(_time_cuda_events(torch, fn, arg_sets, n), "cuda_events", note)
