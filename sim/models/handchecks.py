"""The generated blocks of docs/models.md: hand checks of the layer and model path against figures worked out by
hand, the variants table and what runs where. `python -m sim.models.handchecks` rewrites them (a test checks that
the page is current).

Each block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->` in the page.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import accel
import workloads
from sim.ir import MappingError
from sim.models.compose import per_kernel
from sim.models.layers import evaluate
from sim.models.serving import inference
from sim.models.variants import report
from workloads.models.footprint import kv_bytes_per_token, model_parameters

PAGE = Path(__file__).resolve().parents[2] / "docs" / "models.md"
MARK = re.compile(r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def md_table(head: list[str], rows: list[list]) -> str:
    """A markdown table (floats to 4 significant digits)."""
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]) + "\n"


def llama_prefill() -> str:
    """Llama-3-8B prefill of 8K tokens on H100, kernel by kernel, against the GEMMs and attention alone."""
    h = accel.preset("h100")
    r = evaluate(workloads.model("llama3-8b").layer(seq=8192), h)
    ceiling = h.measured["tensor.bf16_flops_per_s"]
    rows = []
    for k, p in zip(per_kernel(r), r.parts):
        flops = workloads.flops(p.kernel.cascade)
        hand = flops / ceiling * 1e3 if p.kernel.kind == "linear" else None
        rows.append([k["kernel"], k["kind"], k["dataflow"], k["seconds"] * 1e3, f"{k['share']:.1%}",
                     "-" if hand is None else f"{hand:.4g}", k["binds"]])
    core = sum(p.seconds for p in r.parts if p.kernel.kind in ("linear", "attention"))
    return md_table(["kernel", "kind", "dataflow", "ms", "share", "ms at the measured 798 TFLOP/s", "binds"], rows) + (
        f"\nLayer: {r.latency_s * 1e3:.4g} ms; GEMMs + attention alone {core * 1e3:.4g} ms "
        f"({core / r.latency_s:.1%}). 32 layers: GEMMs + attention alone give "
        f"{8192 / (32 * core):,.0f} prefill tokens/s (the hand-assembled ~46K), the whole layer "
        f"{8192 / (32 * r.latency_s):,.0f} tokens/s: norms, RoPE, residuals and the SwiGLU activation as separate "
        f"streaming kernels cost {1 - core / r.latency_s:.1%} of the layer.\n")


def llama_decode() -> str:
    """Llama-3-8B decode at batch 1 against weights + KV bytes over the measured HBM bandwidth."""
    h = accel.preset("h100")
    run = inference("llama3-8b", h, prompt=8192, output_tokens=2)
    step = run.decode[0]
    bw = h.measured["HBM.bytes_per_s"]
    weights = run.memory.weight_bytes
    kv = run.memory.kv_cache_bytes
    bound = (weights + kv) / bw
    rows = [[k["kernel"], k["dataflow"], k["seconds"] * 1e3, k["dram_bytes"] / 1e6,
             k["dram_bytes"] / k["seconds"] / 1e12] for k in per_kernel(step) if k["share"] > 0.02]
    return (f"TPOT {run.tpot_s * 1e3:.4g} ms; weights {weights / 1e9:.4g} GB + KV cache {kv / 1e9:.4g} GB "
            f"({run.prompt + 1} tokens) over the measured {bw / 1e12:.3g} TB/s: {bound * 1e3:.4g} ms "
            f"(the simulation is {run.tpot_s / bound:.3g}× that). Kernels over 2% of the step:\n\n"
            + md_table(["kernel", "dataflow", "ms", "DRAM MB", "TB/s"], rows))


def deepseek_kv() -> str:
    """DeepSeek-V3's KV cache per token and parameters from its config."""
    m = workloads.model("deepseek-v3")
    per_layer = kv_bytes_per_token(m.layer(seq=1, seq_kv=16))
    hand = (m.mla["latent"] + m.mla["rope_dim"]) * 2
    return (f"Per layer: (C + E_R)·2 B = ({m.mla['latent']} + {m.mla['rope_dim']})·2 = {hand} B per token (config); "
            f"the decode layer's latent inputs: {per_layer:.0f} B. Over {m.layers} layers: "
            f"{m.layers * per_layer:,.0f} B per token (`Model.kv_cache_bytes_per_token()` = "
            f"{m.kv_cache_bytes_per_token():,}). Parameters counted from the layer cascades and the vocabulary: "
            f"{model_parameters(m) / 1e9:.4g} B (DeepSeek-V3 reports 671 B).\n")


def variants() -> str:
    """Llama-3-8B with each attention variant at 8K and 128K on H100."""
    rows = [[r["variant"], r["phase"], r["tokens"], r["layer_s"] * 1e3, r["model_s"] * 1e3,
             f"{r['attention_share']:.0%}", r["attention_dataflow"], f"{r['kv_bytes_per_token']:.0f}",
             f"{r['speedup_vs_gqa']:.3g}×"] for r in report(accel.preset("h100"))]
    return md_table(["variant", "phase", "tokens", "layer ms", "32 layers ms", "attention", "attention dataflow",
                     "KV B/token/layer", "vs GQA"], rows)


def local() -> str:
    """FLUX and HunyuanVideo layers with their neighborhood attention and with self-attention over the same layout."""
    h = accel.preset("h100")
    rows = []
    for name in ("flux", "hunyuanvideo"):
        m = workloads.model(name)
        full = {"window": m.spatial} if m.variant == "na" else {"window": m.spatial, "stride": (1,) * len(m.spatial)}
        local_r, dense_r = evaluate(m.layer(), h), evaluate(m.layer(**full), h)
        rows.append([name, f"{m.spatial}", f"{m.window}", dense_r.latency_s * 1e3, f"{dense_r.share('attention'):.0%}",
                     local_r.latency_s * 1e3, f"{local_r.share('attention'):.0%}",
                     f"{dense_r.latency_s / local_r.latency_s:.3g}×"])
    return md_table(["model", "layout", "window", "self-attention layer ms", "attention", "local layer ms",
                     "attention", "layer speedup"], rows)


def matrix() -> str:
    """Every zoo model's prefill layer on every preset: its time, or why it is refused."""
    rows = []
    for name in workloads.MODELS:
        m = workloads.model(name)
        kw = {} if m.variant in ("na", "gna") else {"seq": 1024, **({"form": "absorbed"} if m.variant == "mla" else {})}
        cells = []
        for arch in accel.PRESETS:
            try:
                cells.append(f"{evaluate(m.layer(**kw), accel.preset(arch)).latency_s * 1e3:.3g} ms")
            except MappingError as err:
                why = "fp16 only" if "fp16" in str(err) else "no rsqrt/GELU" if "rsqrt" in str(err) else "refused"
                cells.append(f"— ({why})")
        rows.append([name] + cells)
    return md_table(["model (prefill layer)"] + list(accel.PRESETS), rows)


BLOCKS = {"llama_prefill": llama_prefill, "llama_decode": llama_decode, "deepseek_kv": deepseek_kv,
          "variants": variants, "local": local, "matrix": matrix}


def render(text: str) -> str:
    """The page with every generated block rewritten."""
    return MARK.sub(lambda mt: mt.group(1) + BLOCKS[mt.group("name")]() + mt.group(4), text)


def main(argv=None) -> int:
    """Rewrite docs/models.md's generated blocks (`--check`: exit 1 if they are not current)."""
    argv = sys.argv[1:] if argv is None else argv
    text = PAGE.read_text()
    new = render(text)
    if "--check" in argv:
        return 0 if new == text else 1
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
