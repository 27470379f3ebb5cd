"""GPU evaluation speed (prints, never asserts): the median wall time of a warm `sim.evaluate` per GPU dataflow and
sequence length, next to the medians recorded before the speed work (`gpu_speed_before.json`, if present).

Targets on 2 cores: every GPU dataflow ≤ 20 ms per evaluation at 1K–128K tokens, decode ≤ 10 ms; no evaluation's
cost grows with the number of score elements (the `ops` column: ops the engine simulated, which must not grow with
the sequence length's square).

    python benchmarks/gpu_speed.py [--repeat 5] [--only SUBSTRING] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accel  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402

BEFORE = Path(__file__).with_name("gpu_speed_before.json")
SEQS = (1024, 4096, 16384, 65536, 131072)
PREFILL = ("flash2", "flash3", "cudnn", "gpu-unfused", "flash-blackwell")
DECODE = ("flash-decoding", "mla-decode")


def prefill(seq: int, causal: bool) -> workloads.Cascade:
    """24 heads of dimension 128 (FLUX/Llama-scale), batch 1."""
    return workloads.attention("mha", batch=1, heads=24, seq=seq, head_dim=128, causal=causal)


def decode(dataflow: str, seq_kv: int) -> workloads.Cascade:
    """One token over a `seq_kv` cache: Llama-3-8B GQA (32 heads, 8 KV heads) or DeepSeek MLA (128 heads)."""
    if dataflow == "mla-decode":
        return workloads.attention("mla", batch=8, seq=1, seq_kv=seq_kv)
    return workloads.attention("gqa", batch=8, heads=32, kv_heads=8, seq=1, seq_kv=seq_kv, head_dim=128)


def local(seq: int, stride: int) -> workloads.Cascade:
    """1-D neighborhood attention, window 2048 (the GNA paper's 1-D case at other lengths)."""
    return workloads.attention("gna", batch=1, heads=24, spatial=(seq,), window=(min(2048, seq),),
                               stride=(stride,), head_dim=128)


def cases():
    """(label, cascade, arch, dataflow) for every case the script times."""
    out = []
    for arch in ("h100", "b200"):
        a = accel.preset(arch)
        for df in PREFILL:
            for causal in (False, True):
                for seq in SEQS:
                    out.append((f"{arch} {df} {'causal' if causal else 'dense'} {seq // 1024}K",
                                prefill(seq, causal), a, df))
        for df in DECODE:
            for seq in SEQS:
                out.append((f"{arch} {df} {seq // 1024}K", decode(df, seq), a, df))
        for stride in (1, 256):
            for seq in SEQS[1:]:
                out.append((f"{arch} gna 1-D s={stride} {seq // 1024}K", local(seq, stride), a, "gna"))
        out.append((f"{arch} gemm 8192^3", workloads.gemm(8192, 8192, 8192, dtype="bf16"), a, "gemm"))
    return out


def timed(c, arch, dataflow: str, repeat: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of `repeat` warm evaluations (after one untimed), and the ops the engine
    simulated. CPU time is the steadier figure on a shared machine."""
    r = sim.evaluate(c, arch, dataflow=dataflow)
    wall, cpu = [], []
    for _ in range(repeat):
        t, p = time.perf_counter(), time.process_time()
        sim.evaluate(c, arch, dataflow=dataflow)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - p)
    return statistics.median(wall), statistics.median(cpu), r.run.ops_simulated


def main(argv=None) -> None:
    """Time every case and print it next to the recorded medians."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="", help="time only the cases whose label contains this")
    ap.add_argument("--json", type=Path, default=None, help="write the medians (seconds) to this file")
    args = ap.parse_args(argv)
    before = json.loads(BEFORE.read_text())["medians_s"] if BEFORE.exists() else {}
    print(f"GPU evaluation speed ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}), warm medians of "
          f"{args.repeat}; before = {BEFORE.name}")
    print(f"{'case':<36}{'before':>10}{'now':>10}{'now wall':>10}{'ops':>9}   (CPU-time medians)")
    medians = {}
    for label, c, arch, df in cases():
        if args.only not in label:
            continue
        why = sim.dataflow(df).supports(c, arch) if df in sim.DATAFLOWS else "not registered"
        if why is not None:
            print(f"{label:<36}{'':>10}{'refused':>10}  {why[:70]}")
            continue
        wall, seconds, ops = timed(c, arch, df, args.repeat)
        medians[label] = seconds
        old = f"{before[label] * 1e3:.1f} ms" if label in before else "-"
        print(f"{label:<36}{old:>10}{seconds * 1e3:>7.1f} ms{wall * 1e3:>7.1f} ms{ops:>9}", flush=True)
    if medians:
        worst = max(medians, key=medians.get)
        print(f"slowest: {worst} {medians[worst] * 1e3:.1f} ms")
    if args.json:
        record = {"cpus": os.cpu_count(), "load": os.getloadavg()[0], "what": "CPU-time medians", "medians_s": medians}
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
