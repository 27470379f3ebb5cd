"""The GPU model's structure figures: what each modelled mechanism of FlashAttention-3, cuDNN-style and Blackwell
kernels adds per head dim (`sim.dataflows.gpu.breakdown`), Blackwell and FP8 predictions, and energy — the
board-power checks and J per token / pJ per FLOP of attention variants (`sim.dataflows.gpu.energy`). No GPU
measurement of these kernels is held in this project: every number here is a prediction.
"""
from __future__ import annotations

import accel
import sim
import workloads
from sim.dataflows.gpu import energy
from sim.dataflows.gpu.breakdown import contributions
from validation.data.fa2_public import HIDDEN, SEQS, TOKENS

HEAD_DIMS = (64, 128, 256)

KERNELS = (("flash3", "h100"), ("cudnn", "h100"), ("flash-blackwell", "b200"))
CASES = ((16384, False), (1024, True))       # long non-causal, and short causal (where the held-out errors peak)


def bench(seq: int, d: int, causal: bool) -> workloads.Cascade:
    """FlashAttention's benchmark shape: B·S = 16K tokens, hidden 2048, H = 2048 / D."""
    return workloads.attention("mha", batch=TOKENS // seq, heads=HIDDEN // d, seq=seq, head_dim=d, causal=causal)


def mechanisms() -> list[dict]:
    """Per kernel, head dim and case: TFLOP/s, unit occupancy, and what each mechanism adds."""
    rows = []
    for dataflow, preset in KERNELS:
        arch = accel.preset(preset)
        for d in HEAD_DIMS:
            for seq, causal in CASES:
                c = bench(seq, d, causal)
                r = contributions(c, arch, dataflow)
                rows.append({"dataflow": dataflow, "arch": preset, "head_dim": d, "seq": seq, "causal": causal,
                             "tflops": workloads.flops(c) / r["latency_s"] / 1e12, "busy": r["busy"],
                             "adds": r["adds"]})
    return rows


def newer_kernels() -> dict:
    """TFLOP/s of flash-blackwell on b200 (bf16 and FP8) and of flash3's FP8 forward on h100, benchmark shapes."""
    out = {}
    for label, dataflow, preset, dtype in (("flash-blackwell b200", "flash-blackwell", "b200", "bf16"),
                                           ("flash-blackwell b200 fp8", "flash-blackwell", "b200", "fp8"),
                                           ("flash3 h100 fp8", "flash3", "h100", "fp8")):
        arch = accel.preset(preset)
        out[label] = [{"head_dim": d, "causal": causal, "tflops": [
            sim.evaluate(workloads.attention("mha", batch=TOKENS // s, heads=HIDDEN // d, seq=s, head_dim=d,
                                             causal=causal, dtype=dtype), arch, dataflow=dataflow).tflops
            for s in SEQS]} for d in HEAD_DIMS for causal in (False, True)]
    return out


def _variants():
    """(label, cascade, tokens processed, {preset: dataflow})."""
    prefill = workloads.attention("mha", batch=1, heads=16, seq=8192, head_dim=128, causal=True)
    fp8 = workloads.attention("mha", batch=1, heads=16, seq=8192, head_dim=128, causal=True, dtype="fp8")
    gqa = workloads.attention("gqa", batch=8, heads=32, kv_heads=8, seq=1, seq_kv=32768, head_dim=128)
    mla = workloads.attention("mla", batch=8, seq=1, seq_kv=32768)
    return [("MHA prefill 8K causal, 16×128", prefill, 8192, {"h100": "flash3", "b200": "flash-blackwell"}),
            ("MHA prefill 8K causal, unfused", prefill, 8192, {"h100": "gpu-unfused", "b200": "gpu-unfused"}),
            ("MHA prefill 8K causal, FP8", fp8, 8192, {"h100": "flash3", "b200": "flash-blackwell"}),
            ("Llama-3-8B GQA decode, 32K cache", gqa, 8, {"h100": "flash-decoding", "b200": "decode-blackwell"}),
            ("DeepSeek MLA decode, 32K cache", mla, 8, {"h100": "mla-decode", "b200": "mla-decode"})]


def energies() -> dict:
    """Board power at full tensor load (an 8192³ bf16 GEMM) and streaming (decode over a 128K cache) per GPU, and
    the attention variants' board power, J per token and pJ per FLOP."""
    gemm = workloads.gemm(8192, 8192, 8192, dtype="bf16")
    stream = workloads.attention("gqa", batch=8, heads=32, kv_heads=8, seq=1, seq_kv=131072, head_dim=128)
    checks = {}
    for preset, stream_df in (("h100", "flash-decoding"), ("b200", "decode-blackwell"), ("a100", "flash-decoding")):
        arch = accel.preset(preset)
        g, s = sim.evaluate(gemm, arch, dataflow="gemm"), sim.evaluate(stream, arch, dataflow=stream_df)
        checks[preset] = {"tdp_w": energy.tdp_w(arch), "static_w": energy.static_power_w(arch),
                          "gemm_w": energy.board_watts(g, arch), "stream_w": energy.board_watts(s, arch)}
    rows = []
    for label, c, tokens, dataflows in _variants():
        for preset, dataflow in dataflows.items():
            arch = accel.preset(preset)
            r = sim.evaluate(c, arch, dataflow=dataflow)
            rows.append({"variant": label, "arch": preset, "dataflow": dataflow, "watts": energy.board_watts(r, arch),
                         "j_per_token": energy.per_token(r, arch, tokens),
                         "pj_per_flop": energy.per_flop(r, arch, workloads.flops(c)) * 1e12,
                         "dynamic_share": 1 - r.energy_breakdown.get("static", 0.0) / r.energy_j})
    return {"checks": checks, "variants": rows}


def figures() -> dict:
    """Every structure figure, as plain data (merged into gpu_report.json)."""
    return {"mechanisms": mechanisms(), "newer_kernels": newer_kernels(), "energy": energies()}


# ---- rendering (docs/gpu-model.md) ------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def render_mechanisms(gpu: dict) -> str:
    """The mechanisms table: TFLOP/s, occupancy and each mechanism's share per kernel, head dim and case."""
    lines = ["Generated from `validation/figures/gpu_report.json` (`python -m validation.figures`): latency with the "
             "mechanism ÷ latency without it − 1.", "",
             "| kernel | D | case | TFLOP/s | tensor / SFU / L2 busy | what each mechanism adds |", "|---|---|---|---|---|---|"]
    for r in gpu["mechanisms"]:
        case = f"{r['seq'] // 1024}K {'causal' if r['causal'] else 'non-causal'}"
        busy = " / ".join(f"{r['busy'].get(k, 0) * 100:.0f}%" for k in ("tensor", "sfu", "l2"))
        adds = ", ".join(f"{k} {_pct(v)}" for k, v in r["adds"].items()) or "—"
        lines.append(f"| {r['dataflow']} ({r['arch']}) | {r['head_dim']} | {case} | {r['tflops']:.0f} | {busy} | "
                     f"{adds} |")
    return "\n".join(lines)


def render_energy(gpu: dict) -> str:
    """Board-power checks and the attention variants' energy."""
    e = gpu["energy"]
    checks = "; ".join(f"{k}: full-load GEMM {v['gemm_w']:.0f} W ({v['gemm_w'] / v['tdp_w']:.2f} of {v['tdp_w']:.0f} "
                       f"W), streaming decode {v['stream_w']:.0f} W (static {v['static_w']:.0f} W)"
                       for k, v in e["checks"].items())
    lines = [f"Generated from `validation/figures/gpu_report.json` (`python -m validation.figures`). Board power "
             f"(dynamic + static): {checks}.", "",
             "| variant | GPU | dataflow | W | J/token | pJ/FLOP | dynamic share |", "|---|---|---|---|---|---|---|"]
    for r in e["variants"]:
        lines.append(f"| {r['variant']} | {r['arch']} | {r['dataflow']} | {r['watts']:.0f} | {r['j_per_token']:.3g} "
                     f"| {r['pj_per_flop']:.3g} | {r['dynamic_share'] * 100:.0f}% |")
    return "\n".join(lines)
