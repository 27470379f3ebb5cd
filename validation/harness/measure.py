"""GPU measurement harness: times attention, its variants, decode, local attention, GEMMs and the memory/compute
ceilings, writing one self-describing CSV row per case (plus FILE.meta.json).

    python -m validation.measure --suite attention|variants|decode|local|gemm|ceilings|all --device cuda|cpu \
        --out FILE.csv [--quick] [--reps N] [--time-budget-s S] [--no-graphs]

CSV columns (COLUMNS, in this order; empty where a column does not apply):
  case:    suite, case, form, dtype, backend_requested, backend_ran
  shape:   batch, heads, kv_heads, seq_q, seq_kv, head_dim, head_dim_v, causal (0/1), spatial, window, stride, dilation
           ("x"-joined per dimension), splits (split-KV chunks), m, n, k (C[m,n] = A[m,k]·B[k,n]), copy_bytes, extra
           ("key=value;..." for variant parameters)
  result:  flops (2 per MAC over the attended pairs; validation.harness.counts), bytes (compulsory: inputs read once, output written once),
           time_ms (median), min_ms, p20_ms, p80_ms, max_ms, reps, timing_mode (cuda_events | cuda_graph |
           perf_counter), buffer_sets (inputs rotated to defeat L2), first_call_s (build + compile + first call),
           kernel (with --kernel-names), tflops, gbps, status (ok | unsupported | oom | error | skipped), reason, note,
           sm_clock_mhz, mem_clock_mhz (read right after timing), timestamp_utc
  device:  device_type, device_name, sm_count, l2_bytes, total_mem_bytes, compute_capability, driver, cuda, cudnn,
           torch, triton, python, hostname

Standalone on purpose: imports only torch, numpy and the validation harness modules (never sim, accel or workloads),
so it runs on a device machine with just PyTorch. Each suite's module says where its shapes come from.
`--device cpu` or `--quick` uses tiny shapes that finish in seconds.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Callable

from validation.harness.cases import CASE_COLUMNS, PARAM_COLUMNS, RESULT_COLUMNS, STATUSES, Env, run_case
from validation.harness.devinfo import META_COLUMNS, ClockReader, collect, utc_now
from validation.harness.suites import SUITES
from validation.harness.timing import Budget

DEVICES = ("cuda", "cpu")
COLUMNS = CASE_COLUMNS + PARAM_COLUMNS + RESULT_COLUMNS + META_COLUMNS
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n"
                              f"valid suites: {', '.join(list(SUITES) + ['all'])}; valid devices: {', '.join(DEVICES)}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a positive number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (bad arguments exit 2 naming the valid suites and devices)."""
    p = _Parser(prog="python -m validation.measure", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", required=True, choices=list(SUITES) + ["all"], help="which suite to run")
    p.add_argument("--device", required=True, choices=DEVICES, help="cuda (GPU 0) or cpu")
    p.add_argument("--out", required=True, type=Path, help="CSV file to write (FILE.meta.json is written beside it)")
    p.add_argument("--quick", action="store_true", help="tiny shapes (always used with --device cpu)")
    p.add_argument("--reps", type=_positive_int, default=None, help="fixed repetitions per case (default: adaptive)")
    p.add_argument("--time-budget-s", type=_positive_float, default=None,
                   help="stop starting new cases after this many seconds; the rest get 'skipped: time budget' rows")
    p.add_argument("--no-graphs", action="store_true", help="never time short calls as CUDA-graph replays")
    p.add_argument("--kernel-names", action="store_true",
                   help="profile one call per ok case and record the longest kernel (CPU: operator) in 'kernel'")
    return p


def make_env(device: str, quick: bool, reps: int | None, graphs: bool, kernel_names: bool, meta: dict) -> Env:
    """The run's environment: device properties on CUDA (SMs, L2, compute capability), tiny shapes on the CPU."""
    import torch

    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        return Env("cuda", quick, props.multi_processor_count, int(getattr(props, "L2_cache_size", 50 * 2**20)),
                   (props.major, props.minor), reps, graphs, 0.02 if quick else 0.15, kernel_names)
    return Env("cpu", True, int(meta.get("sm_count") or 1), 32 * 2**20, None, reps, False, 0.02, kernel_names)


def run(suites: list[str], env: Env, out: Path, budget: Budget, meta: dict,
        log: Callable[[str], None] = print) -> list[dict]:
    """Run the suites' cases in order, streaming rows to `out` (so a killed run keeps what it measured)."""
    clocks = ClockReader(env.device_type)
    meta_cols = {k: meta.get(k, "") for k in META_COLUMNS}
    rows: list[dict] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for suite in suites:
            for case in SUITES[suite](env):
                row = run_case(case, env, budget, clocks)
                row.update(meta_cols)
                writer.writerow(row)
                fh.flush()
                rows.append(row)
                if row["status"] != "skipped" or not row["reason"].startswith("time budget"):
                    shown = f"{row['time_ms']} ms  {row['tflops'] or row['gbps']}" if row["status"] == "ok" \
                        else row["reason"][:100]
                    log(f"[{budget.elapsed_s():6.1f}s] {suite:9s} {case.name:38s} {case.form:22s} {case.backend:16s} {case.dtype:9s} "
                        f"{row['status']:11s} {shown}")
    return rows


def status_counts(rows: list[dict]) -> dict[str, int]:
    """Rows per status, in STATUSES order."""
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def _refusal(args: argparse.Namespace) -> str | None:
    """Why the run cannot start (no GPU for --device cuda, an --out that cannot be written), else None."""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        build = f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}"
        return f"--device cuda requested but no CUDA GPU is available ({build}); valid devices here: cpu"
    if args.out.is_dir():
        return f"--out {args.out}: is a directory; give a CSV file path"
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a"):
            pass
    except OSError as exc:
        return f"--out {args.out}: cannot be written ({exc.strerror or exc})"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites; 0 on success, 2 (with the reason on stderr) when the run cannot start."""
    args = build_parser().parse_args(argv)
    refused = _refusal(args)
    if refused:
        sys.stderr.write(f"python -m validation.measure: error: {refused}\n")
        return EXIT_USAGE
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    meta = collect(args.device)
    env = make_env(args.device, args.quick, args.reps, not args.no_graphs, args.kernel_names, meta)
    budget = Budget(args.time_budget_s)
    t0 = time.perf_counter()
    rows = run(suites, env, args.out, budget, meta)
    counts = status_counts(rows)
    meta_out = dict(meta, suites=suites, quick=env.quick, reps=args.reps, time_budget_s=args.time_budget_s,
                    graphs=env.graphs, kernel_names=env.kernel_names, columns=COLUMNS, status_counts=counts, rows=len(rows),
                    elapsed_s=round(time.perf_counter() - t0, 2), finished_utc=utc_now())
    args.out.with_suffix(".meta.json").write_text(json.dumps(meta_out, indent=2, default=str) + "\n")
    print(f"{args.out}: {len(rows)} rows, " + ", ".join(f"{k} {v}" for k, v in counts.items()) +
          f", {meta_out['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
