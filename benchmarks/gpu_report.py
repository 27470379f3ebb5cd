"""GPU model report: the FlashAttention-2 H100 table comparison, and FA3 / cuDNN-style predictions.

    python benchmarks/gpu_report.py            # H100
    python benchmarks/gpu_report.py h200       # predictions on another preset (the FA2 comparison is H100-only)

Shapes follow FlashAttention's benchmark (B·S = 16K tokens, hidden 2048, H = 2048/D); TFLOP/s use its convention
(4·B·S²·H·D, halved when causal). Fitted constants (sim/gpu.py) come from the D=128 non-causal row only.
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accel  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from sim.dataflows.gpu import kernels as gpu  # noqa: E402
from validation.fa2_public import FWD_FLASH2, FWD_STANDARD, SEQS  # noqa: E402

HEAD_DIMS = (64, 128, 256)


def bench(seq: int, d: int, causal: bool):
    return workloads.attention("mha", batch=16384 // seq, heads=2048 // d, seq=seq, head_dim=d, causal=causal)


def compare(arch, table, dataflow: str, title: str, fit_row=(128, False)) -> None:
    print(f"\n{title}  (predicted / published TFLOP/s, error)")
    print(f"{'config':<18}" + "".join(f"{s:>20}" for s in SEQS))
    held_out = []
    for (d, causal), values in table.items():
        cells = []
        for seq, text in zip(SEQS, values.split("/")):
            c = bench(seq, d, causal)
            pred = sim.evaluate(c, arch, dataflow=dataflow).tflops
            if dataflow == "gpu-unfused" and not gpu.unfused_fits(c, arch):
                cells.append(f"{'OOM':>9}/{text:<4}" + " " * 7)
                continue
            if text in ("-", "OOM"):
                cells.append(f"{pred:>9.0f}/{text:<4}" + " " * 7)
                continue
            err = pred / float(text) - 1
            if (d, causal) != fit_row:
                held_out.append(abs(err))
            cells.append(f"{pred:>9.0f}/{text:<4}({err:+5.1%})")
        tag = f"D={d} {'causal' if causal else 'non-causal'}" + (" *fit" if (d, causal) == fit_row else "")
        print(f"{tag:<18}" + "".join(f"{c:>20}" for c in cells))
    if held_out:
        print(f"held-out points: {len(held_out)}, median |error| {statistics.median(held_out):.1%}, "
              f"max {max(held_out):.1%}")


def predictions(arch, dataflow: str) -> None:
    print(f"\n{dataflow} predictions on {arch.name} (TFLOP/s)")
    print(f"{'config':<18}" + "".join(f"{s:>8}" for s in SEQS))
    for d in HEAD_DIMS:
        for causal in (False, True):
            row = [sim.evaluate(bench(seq, d, causal), arch, dataflow=dataflow).tflops for seq in SEQS]
            print(f"{f'D={d} ' + ('causal' if causal else 'non-causal'):<18}" + "".join(f"{x:>8.0f}" for x in row))


def main(name: str = "h100") -> None:
    arch = accel.preset(name)
    print(f"GPU model report — {arch.name}; FA2_MMA_EFFICIENCY={gpu.FA2_MMA_EFFICIENCY}, "
          f"STREAM_EFFICIENCY={gpu.STREAM_EFFICIENCY}")
    if name == "h100":
        compare(arch, FWD_FLASH2, "flash2", "FlashAttention-2 forward vs the FA3 paper's H100 figure")
        compare(arch, FWD_STANDARD, "gpu-unfused", "Standard (unfused PyTorch) vs the FA3 paper's H100 figure")
    for df in ("flash3", "cudnn"):
        if sim.dataflow(df).supports(bench(1024, 64, False), arch) is None:
            predictions(arch, df)
    gemm = sim.evaluate(workloads.gemm(8192, 8192, 8192, dtype="bf16"), arch, dataflow="gemm")
    print(f"\n8192³ bf16 GEMM: {gemm.tflops:.0f} TFLOP/s")
    c = workloads.attention("gna", batch=1, heads=24, spatial=(256, 256), window=(80, 80), stride=(16, 16),
                            head_dim=128)
    r = sim.evaluate(c, arch, dataflow="gna")
    mha = workloads.attention("mha", batch=1, heads=24, seq=65536, head_dim=128)
    dense = sim.evaluate(mha, arch, dataflow="flash3" if sim.dataflow("flash3").supports(mha, arch) is None
                         else "flash2")
    print(f"FLUX 256×256 GNA w=80 s=16: {r.latency_s * 1e3:.2f} ms ({r.tflops:.0f} TFLOP/s); dense "
          f"{dense.latency_s * 1e3:.2f} ms; speedup {dense.latency_s / r.latency_s:.2f} "
          f"(tile bound {sim.gna_speedup_bound(c, q_tile=(16, 8), kv_tile=(16, 8)):.2f})")


if __name__ == "__main__":
    main(*sys.argv[1:])
