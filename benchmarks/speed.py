"""Every speed target in one table: the target, the median before the speed work, the median now, and whether it is
met. Prints; never asserts.

    python benchmarks/speed.py [--repeat 3] [--sweep-repeat 1] [--json FILE] [--write-readme]

Each row reuses the measurement of its own script (first_run, gpu_speed, explore_speed, engine_throughput,
sweep_speed, models_speed; run those for the details), each step in a fresh process. "before" is read from
`speed_before.json`: medians measured on the same 2-core machine at the commit named there, or the figure the speed
report gave where a path did not exist yet.
`--write-readme` replaces the README's speed table (between its `speed:` markers) with this output, naming the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import accel  # noqa: E402
import sim  # noqa: E402

import engine_throughput  # noqa: E402
import explore_speed  # noqa: E402
import first_run  # noqa: E402
import gpu_speed  # noqa: E402
import sweep_speed  # noqa: E402

BEFORE = HERE / "speed_before.json"
README = HERE.parent / "README.md"
BEGIN, END = "<!-- speed:begin (python benchmarks/speed.py --write-readme) -->", "<!-- speed:end -->"


def first_evaluation(repeat: int) -> dict[str, float]:
    """Whole `python -m sim evaluate` processes: the slowest case cold (empty Numba cache) and warm."""
    cold, warm = [], []
    for case in first_run.CASES:
        with tempfile.TemporaryDirectory() as cache:
            cold.append(first_run.run_once(case, cache)[0])
            warm.append(statistics.median(first_run.run_once(case, cache)[0] for _ in range(repeat)))
    return {"first evaluation, empty Numba cache (s)": max(cold), "first evaluation, warm cache (s)": max(warm)}


def gpu_evaluations(repeat: int) -> dict[str, float]:
    """The slowest warm GPU evaluation over every prefill/local case and over every decode case (CPU seconds)."""
    prefill, decode = [], []
    for label, c, arch, df in gpu_speed.cases():
        if sim.dataflow(df).supports(c, arch) is None:
            seconds = gpu_speed.timed(c, arch, df, repeat)[1]
            (decode if df in gpu_speed.DECODE else prefill).append(seconds)
    return {"slowest GPU evaluation, prefill and local (ms)": max(prefill) * 1e3,
            "slowest GPU evaluation, decode (ms)": max(decode) * 1e3}


def explores(repeat: int) -> dict[str, float]:
    """`sim.explore` with an empty memo, seconds."""
    out = {}
    for label, w, arch in explore_speed.cases()[1:]:
        out[f"explore {label} (s)"] = explore_speed.timed(lambda: sim.explore(w, arch), repeat)[1]
    return out


def engine(repeat: int) -> dict[str, float]:
    """Ops per second of simulate() end to end and of the compiled kernel, on the engine benchmark's program."""
    import dataclasses
    from sim.engine.scheduler import _kernel_args, _schedule, simulate
    from sim.ir.program import validated

    n = 5_000_000
    program = engine_throughput.random_flat_program(n)
    simulate(program)
    whole = engine_throughput.timed(lambda: simulate(dataclasses.replace(program)), repeat)
    args = _kernel_args(validated(program).flat)
    kernel = engine_throughput.timed(lambda: _schedule(*args, True, False), repeat)
    return {"simulate() end to end (M ops/s)": n / statistics.median(t for t, _ in whole) / 1e6,
            "engine kernel (M ops/s)": n / statistics.median(t for t, _ in kernel) / 1e6}


def sweeps(repeat: int) -> dict[str, float]:
    """1,000 FuseMax-class variants × BERT 4K: one process, and the speedup of a 2-worker Dask cluster (configured
    as docs/explore.md recommends for sweeps, and with Dask's defaults)."""
    archs, w = sweep_speed.grid(1000), sweep_speed.workload()
    medians = {}
    for label, make in sweep_speed.executors():
        if label.startswith("default") or "1 worker" in label:
            continue
        with make() as (ex, forget):
            times = []
            for _ in range(repeat):
                forget()
                t = time.perf_counter()
                sim.sweep(w, archs, dataflows=["fusemax"], executor=ex, progress=False)
                times.append(time.perf_counter() - t)
        medians[label] = statistics.median(times)
    one = medians["one process"]
    return {"sweep of 1,000 variants, one process (s)": one,
            "Dask, 2 workers: speedup over one process (x)": one / medians["Dask LocalCluster, 2 workers"],
            DASK_DEFAULT: one / medians["Dask, 2 workers, Dask's default configuration"]}


def whole_model(repeat: int) -> dict[str, float]:
    """Llama-3-8B on H100: 8K prefill + 128 decode steps, kernel results cleared before each run."""
    from sim.models import choice

    arch = accel.preset("h100")
    run = lambda: sim.inference("llama3-8b", arch, prompt=8192, output_tokens=129)  # noqa: E731
    run()
    times = []
    for _ in range(repeat):
        choice.clear()
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return {"32-layer prefill + 128 decode steps (s)": statistics.median(times)}


DASK_DEFAULT = "Dask, 2 workers, Dask's default configuration (x)"   # reported under the table, not a target
# target name -> (target as text, predicate on the measured value)
TARGETS = {
    "first evaluation, empty Numba cache (s)": ("≤ 10", lambda v: v <= 10),
    "first evaluation, warm cache (s)": ("≤ 1.5", lambda v: v <= 1.5),
    "slowest GPU evaluation, prefill and local (ms)": ("≤ 20", lambda v: v <= 20),
    "slowest GPU evaluation, decode (ms)": ("≤ 10", lambda v: v <= 10),
    "explore Llama-3-8B GQA prefill 8K on h100 (s)": ("≤ 1", lambda v: v <= 1),
    "explore BERT-like MHA 4K on h100 (s)": ("≤ 1", lambda v: v <= 1),
    "simulate() end to end (M ops/s)": ("≥ 10", lambda v: v >= 10),
    "engine kernel (M ops/s)": ("≥ 30", lambda v: v >= 30),
    "sweep of 1,000 variants, one process (s)": ("≤ 60", lambda v: v <= 60),
    "Dask, 2 workers: speedup over one process (x)": ("≥ 1.7", lambda v: v >= 1.7),
    "32-layer prefill + 128 decode steps (s)": ("≤ 2", lambda v: v <= 2),
}


def table(now: dict[str, float], before: dict) -> str:
    """The markdown table of every target."""
    rows = ["| target | goal | before | now | met |", "|---|---|---|---|---|"]
    for name, (goal, ok) in TARGETS.items():
        old = before["medians"].get(name)
        value = now.get(name)
        rows.append(f"| {name} | {goal} | {'—' if old is None else f'{old:.3g}'} | "
                    f"{'—' if value is None else f'{value:.3g}'} | {'—' if value is None else ('yes' if ok(value) else 'no')} |")
    return "\n".join(rows)


def dask_note(now: dict[str, float]) -> str:
    """The Dask row's condition, and its figure under Dask's default worker environment."""
    if DASK_DEFAULT not in now:
        return ""
    return (f" The Dask workers run without the nanny's `MALLOC_TRIM_THRESHOLD_` and without the worker profiler, "
            f"as docs/explore.md recommends for sweeps; with Dask's defaults the speedup is {now[DASK_DEFAULT]:.2f}x.")


def machine() -> str:
    """The machine the figures were measured on, in words."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, " \
           f"load average {load:.1f} at the end"


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else the platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_readme(text: str) -> None:
    """Replace the README's speed block with `text`."""
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"{README} has no speed block ({BEGIN} ... {END})")
    head, rest = readme.split(BEGIN, 1)
    README.write_text(head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])


STEPS = {"first_evaluation": first_evaluation, "gpu_evaluations": gpu_evaluations, "explores": explores,
         "engine": engine, "whole_model": whole_model, "sweeps": sweeps}


def measure(step: str, repeat: int) -> dict[str, float]:
    """One step's figures, measured in a fresh process (as a user's run would be: no heap or caches left by the
    other steps)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--step", step, "--repeat", str(repeat), "--json", out.name],
                       check=True)
        return json.loads(Path(out.name).read_text())["medians"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sweep-repeat", type=int, default=1)
    ap.add_argument("--step", choices=sorted(STEPS), help="measure only this step, here (used by the full run)")
    ap.add_argument("--json", type=Path, default=None, help="write the measured values to this file")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    if args.step:
        now = STEPS[args.step](args.repeat)
    else:
        now = {}
        for step in STEPS:
            now.update(measure(step, args.sweep_repeat if step == "sweeps" else args.repeat))
            print(f"  measured {step}", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "medians": now}, indent=1) + "\n")
    if args.step:
        return
    text = f"{table(now, json.loads(BEFORE.read_text()))}\n\nMedians on {machine()}; before: " \
           f"{json.loads(BEFORE.read_text())['source']}.{dask_note(now)}"
    print(text)
    if args.write_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
