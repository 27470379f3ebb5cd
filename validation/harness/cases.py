"""A measured case (what to run, on which shapes, counted how) and the runner that turns one into a CSV row."""
from __future__ import annotations

import contextlib
import gc
import math
import re
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

from validation.errors import ValidationError
from validation.harness.counts import gbps, tflops
from validation.harness.devinfo import ClockReader, free_memory_bytes, utc_now
from validation.harness.timing import Budget, Timing, time_fn

PARAM_COLUMNS = ["batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "head_dim_v", "causal", "spatial",
                 "window", "stride", "dilation", "splits", "m", "n", "k", "copy_bytes", "extra"]
RESULT_COLUMNS = ["flops", "bytes", "time_ms", "min_ms", "p20_ms", "p80_ms", "max_ms", "reps", "timing_mode",
                  "buffer_sets", "first_call_s", "kernel", "tflops", "gbps", "status", "reason", "note", "sm_clock_mhz",
                  "mem_clock_mhz", "timestamp_utc"]
CASE_COLUMNS = ["suite", "case", "form", "dtype", "backend_requested", "backend_ran"]
STATUSES = ("ok", "unsupported", "oom", "error", "skipped")
MEMORY_SHARE_LIMIT = 0.9  # a case whose inputs and work exceed this share of the free device memory is skipped
ROTATION_L2_MULTIPLE = 3  # rotated input sets total at least this many L2 sizes, so timed calls miss in L2
MAX_ROTATION_SETS = 256


@dataclass(frozen=True)
class Env:
    """Where cases run: the torch device and what the runner knows of it."""

    device_type: str  # "cuda" or "cpu"
    quick: bool  # tiny shapes
    sm_count: int
    l2_bytes: int
    compute_capability: tuple[int, int] | None
    reps: int | None = None
    graphs: bool = True
    target_s: float = 0.25
    kernel_names: bool = False  # profile one call per ok case and record its longest kernel (or CPU op)

    @property
    def device(self) -> Any:
        """The torch device (GPU 0 or the CPU)."""
        import torch

        return torch.device("cuda", 0) if self.device_type == "cuda" else torch.device("cpu")


def _no_reason(env: Env) -> str | None:  # noqa: ARG001
    return None


@dataclass(frozen=True)
class Case:
    """One row to measure. `build(env)` returns the callable (compiling or preparing masks once); `make_inputs(env, gen)`
    returns one fresh random input set for it. `input_bytes` is one set's size (for L2 rotation), `work_bytes` the
    extra peak memory (outputs, temporaries) used to skip what cannot fit."""

    suite: str
    name: str
    form: str
    dtype: str
    backend: str
    params: dict
    flops: float
    bytes: float
    build: Callable[[Env], Callable[..., Any]]
    make_inputs: Callable[[Env, Any], tuple]
    input_bytes: int
    work_bytes: int = 0
    context: Callable[[], ContextManager] = contextlib.nullcontext
    supports: Callable[[Env], str | None] = _no_reason
    backend_ran: str = ""  # when the backend that runs is known to differ from the requested name
    skip_reason: str = ""  # set by a suite for a shape it decides not to run, with the reason


def torch_dtype(name: str) -> Any:
    """The torch dtype named `name` (`"bfloat16"` → `torch.bfloat16`)."""
    import torch

    return getattr(torch, name)


def randn(env: Env, gen: Any, shape: tuple[int, ...], dtype: str) -> Any:
    """Fresh standard-normal data (never zeros), generated in float32 then cast (fp8 cannot be sampled directly)."""
    import torch

    x = torch.randn(shape, generator=gen, device=env.device, dtype=torch.float32)
    return x.to(torch_dtype(dtype))


def rotation_sets(input_bytes: int, env: Env, free: int | None, work_bytes: int) -> int:
    """Input sets to rotate through: total at least 3× L2 on GPUs (so timed calls miss in L2), few on the CPU."""
    if env.device_type != "cuda":
        return 2
    target = ROTATION_L2_MULTIPLE * env.l2_bytes
    n = max(1, min(MAX_ROTATION_SETS, math.ceil(target / max(1, input_bytes))))
    if free is not None:  # keep inputs + work under half the free memory
        n = max(1, min(n, int((free * 0.5 - work_bytes) // max(1, input_bytes))))
    return n


_UNSUPPORTED = re.compile(r"no available kernel|no viable backend|not supported|unsupported|not implemented|only supports|"
                          r"requires|is not available|no kernel", re.IGNORECASE)


def classify(exc: BaseException) -> str:
    """Status for an exception from a case: oom, unsupported (a backend refused) or error."""
    import torch

    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower():
        return "oom"
    if isinstance(exc, NotImplementedError) or _UNSUPPORTED.search(text):
        return "unsupported"
    return "error"


def _one_line(text: str, limit: int = 400) -> str:
    text = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _warnings_text(caught: list) -> str:
    seen: list[str] = []
    for w in caught:
        msg = _one_line(str(w.message), 200)
        if msg not in seen:
            seen.append(msg)
    return _one_line("; ".join(seen), 400)


def _first_tensor(out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return _first_tensor(out[0])
    return out


def _fmt_param(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return "x".join(str(x) for x in v)
    if isinstance(v, bool):
        return int(v)
    return v


def base_row(case: Case) -> dict:
    """The row's case, shape and count columns (every other column empty); unknown parameter names are refused."""
    row = {c: "" for c in CASE_COLUMNS + PARAM_COLUMNS + RESULT_COLUMNS}
    row.update(suite=case.suite, case=case.name, form=case.form, dtype=case.dtype, backend_requested=case.backend,
               flops=f"{case.flops:.17g}", bytes=f"{case.bytes:.17g}")  # exact: counts are integers
    unknown = set(case.params) - set(PARAM_COLUMNS)
    if unknown:
        raise ValidationError(f"case {case.name}: unknown parameter columns {sorted(unknown)}; known: {PARAM_COLUMNS}")
    row.update({k: _fmt_param(v) for k, v in case.params.items()})
    return row


def _sync(env: Env) -> None:
    if env.device_type == "cuda":
        import torch

        torch.cuda.synchronize()


def top_kernel(fn: Callable[..., Any], args: tuple, device_type: str) -> str:
    """Name of the kernel (CUDA) or operator (CPU) with the most self time in one profiled call: evidence of what ran."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activity = ProfilerActivity.CUDA if device_type == "cuda" else ProfilerActivity.CPU
    with profile(activities=[activity]) as prof:
        fn(*args)
        if device_type == "cuda":
            torch.cuda.synchronize()
    attr = "self_device_time_total" if device_type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr, 0) > 0]
    return _one_line(max(events, key=lambda e: getattr(e, attr)).key, 160) if events else ""


def _why_not_run(case: Case, env: Env, budget: Budget) -> tuple[str, str] | None:
    """(status, reason) for a case that is not attempted: budget used up, skipped by its suite, or unsupported."""
    if budget.exhausted():
        return "skipped", f"time budget: {budget.seconds:g} s used up"
    if case.skip_reason:
        return "skipped", case.skip_reason
    reason = case.supports(env)
    return ("unsupported", reason) if reason else None


def _timed(case: Case, env: Env, clocks: ClockReader, n_sets: int, row: dict) -> tuple[Timing, str, str] | str:
    """Build the case, check its first output, time it; (timing, SM clock, memory clock), or why the output is bad."""
    import torch

    gen = torch.Generator(device=env.device)
    gen.manual_seed(zlib.crc32(f"{case.suite}/{case.name}/{case.form}/{case.backend}".encode()))
    with case.context():
        arg_sets = [case.make_inputs(env, gen) for _ in range(n_sets)]
        _sync(env)
        t0 = time.perf_counter()  # build (block masks, compilation) + first call
        fn = case.build(env)
        out = _first_tensor(fn(*arg_sets[0]))
        _sync(env)
        row["first_call_s"] = f"{time.perf_counter() - t0:.4g}"
        if not bool(torch.isfinite(out.float()).all()):
            return "non-finite output"
        del out
        fn(*arg_sets[-1])  # second warm-up, on another buffer set
        timing = time_fn(fn, arg_sets, env.device_type, reps=env.reps, target_s=env.target_s,
                         min_reps=5 if env.device_type == "cpu" else 10, graphs=env.graphs)
        sm, mem = clocks.read()  # right after the timed calls, while the clocks are those of the load
        if env.kernel_names:
            row["kernel"] = top_kernel(fn, arg_sets[0], env.device_type)
    return timing, sm, mem


def _release_memory(env: Env, failed: bool) -> None:
    """Return cached device memory before the next case (after a failure, first drop what the traceback held)."""
    if env.device_type == "cuda":
        import torch

        if failed:
            gc.collect()
        torch.cuda.empty_cache()


def _finish(row: dict, status: str, reason: str = "") -> dict:
    row.update(status=status, reason=_one_line(reason))
    return row


def run_case(case: Case, env: Env, budget: Budget, clocks: ClockReader) -> dict:
    """Measure one case and return its row; never raises for a case's own failure (it becomes the row's status)."""
    row = base_row(case)
    row["timestamp_utc"] = utc_now()
    refused = _why_not_run(case, env, budget)
    if refused:
        return _finish(row, *refused)
    free = free_memory_bytes(env.device_type)
    need = case.input_bytes + case.work_bytes
    if free is not None and need > MEMORY_SHARE_LIMIT * free:
        return _finish(row, "skipped", f"does not fit memory: needs ~{need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free")
    n_sets = rotation_sets(case.input_bytes, env, free, case.work_bytes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            measured = _timed(case, env, clocks, n_sets, row)
            failure = ("error", measured) if isinstance(measured, str) else None
        except Exception as exc:  # noqa: BLE001 - every failure is recorded as the row's status, with its reason
            detail = _warnings_text(caught)
            failure = (classify(exc), f"{type(exc).__name__}: {_one_line(str(exc), 300)}"
                       + (f" [{detail}]" if detail else ""))
        wtext = _warnings_text(caught)
    _release_memory(env, failed=failure is not None)
    if failure:
        return _finish(row, *failure)
    timing, sm, mem = measured
    row.update(time_ms=f"{timing.median_ms:.6g}", min_ms=f"{timing.min_ms:.6g}", p20_ms=f"{timing.p20_ms:.6g}",
               p80_ms=f"{timing.p80_ms:.6g}", max_ms=f"{timing.max_ms:.6g}", reps=timing.reps,
               timing_mode=timing.mode, buffer_sets=n_sets, sm_clock_mhz=sm, mem_clock_mhz=mem,
               backend_ran=case.backend_ran or case.backend,
               tflops=f"{tflops(case.flops, timing.median_ms):.6g}" if case.flops else "",
               gbps=f"{gbps(case.bytes, timing.median_ms):.6g}" if case.bytes else "",
               note=_one_line("; ".join(x for x in (timing.note, wtext) if x)))
    return _finish(row, "ok")
