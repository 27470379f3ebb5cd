"""Attention variants end to end (`python -m sim.models.variants [--arch h100] [--seqs 8192,131072]` prints them): Llama-3-8B's layer (Grattafiori et al., 2024: D = 4096, 32 query heads of 128,
SwiGLU 14336, RoPE, causal, bf16) with each variant's attention in place of its GQA, in prefill and in decode,
with the time in attention and the KV bytes each cached token costs.

| variant | attention | source |
|---|---|---|
| `mha` | 32 KV heads | Vaswani et al., 2017 |
| `gqa` | 8 KV heads (the model's own) | Ainslie et al., EMNLP 2023 |
| `mla` | latent 512 + RoPE key 64 per token, DeepSeek's per-head dims, query LoRA 1536; absorbed form | DeepSeek-V2, arXiv 2405.04434 |
| `sqa` | sSQA: 16 query heads, 16 KV heads | Filipek, arXiv 2510.01817, §3.3 |
| `moh` | 16 shared + top-8 of 16 routed heads, dense (every head computed, then gated, as MoH's code) | Jin et al., arXiv 2410.11842 |
| `sliding` | causal window of 4096 keys with 8 KV heads; prefill as causal 1-D neighborhood attention (the same mask), decode over the last 4096 keys (a rolling cache) | NATTEN (Hassani et al.); Mistral's rolling cache |
"""
from __future__ import annotations

import workloads
from accel import Arch
from workloads import Cascade

from sim.models.compose import LayerResult
from sim.models.layers import evaluate_layer
from workloads.models.footprint import kv_bytes_per_token

VARIANTS = ("mha", "gqa", "mla", "sqa", "moh", "sliding")
WINDOW = 4096            # the sliding window (keys per query, the query's own included)
MLA_DIMS = dict(latent=512, rope_dim=64, nope_dim=128, head_dim_v=128)   # DeepSeek-V3's config_671B.json
MLA_Q_LORA = 1536
MOH = dict(shared_heads=16, top_k=8)   # MoH-LLaMA3-8B: 16 shared heads, 8 of the other 16 routed


def attention(variant: str, *, seq: int, seq_kv: int | None, batch: int = 1) -> Cascade:
    """The variant's attention core at Llama-3-8B's widths (`seq_kv` None: prefill)."""
    m = workloads.model("llama3-8b")
    h, e, dt = m.heads, m.head_dim, m.dtype
    shape = dict(batch=batch, seq=seq, seq_kv=seq_kv, causal=True, dtype=dt)
    if variant == "gqa":
        return m.attention(seq=seq, seq_kv=seq_kv, batch=batch)
    if variant == "mha":
        return workloads.attention("mha", heads=h, head_dim=e, **shape)
    if variant == "mla":
        return workloads.attention("mla", heads=h, form="absorbed", **MLA_DIMS, **shape)
    if variant == "sqa":
        return workloads.attention("ssqa", heads=h, head_dim=e, **shape)
    if variant == "moh":
        return workloads.attention("moh", heads=h, head_dim=e, model_dim=m.model_dim, **MOH, **shape)
    if variant == "sliding":
        if seq_kv is None:
            return workloads.attention("na", batch=batch, heads=h, kv_heads=m.kv_heads, spatial=(seq,),
                                       window=(min(WINDOW, seq),), causal=True, head_dim=e, dtype=dt)
        return m.attention(seq=seq, seq_kv=min(seq_kv, WINDOW), batch=batch)
    raise workloads.CascadeError(f"unknown variant {variant!r} (valid: {', '.join(VARIANTS)})")


def layer(variant: str, *, seq: int, seq_kv: int | None = None, batch: int = 1):
    """Llama-3-8B's layer around the variant's attention."""
    m = workloads.model("llama3-8b")
    return workloads.layer(attention(variant, seq=seq, seq_kv=seq_kv, batch=batch), model_dim=m.model_dim,
                           ffn_kind="swiglu", ffn_dim=m.ffn_dim, rope=variant != "sliding" or seq_kv is not None,
                           q_lora=MLA_Q_LORA if variant == "mla" else None, name=f"llama3-8b-{variant}")


def row(variant: str, phase: str, tokens: int, r: LayerResult, decode: Cascade) -> dict:
    """One report row: the layer's time, its attention share, the 32-layer time, the KV bytes one cached token costs
    a layer and the layer's cache at this context (the sliding window caches its last W keys only)."""
    layers = workloads.model("llama3-8b").layers
    return {"variant": variant, "phase": phase, "tokens": tokens, "layer_s": r.latency_s,
            "model_s": layers * r.latency_s, "attention_share": r.share("attention"),
            "attention_dataflow": next((p.dataflow for p in r.parts if p.kernel.kind == "attention"), "-"),
            "kv_bytes_per_token": kv_bytes_per_token(decode),
            "kv_cache_bytes": kv_bytes_per_token(decode) * decode.sizes["P"] * decode.sizes["B"]}


def report(arch: Arch, seqs=(8192, 131072), variants=VARIANTS) -> list[dict]:
    """Every variant at every length: prefill of `seq` tokens and one decode step attending to `seq` cached keys;
    `speedup` is GQA's time over the variant's in the same phase and length."""
    rows = []
    for seq in seqs:
        for variant in variants:
            decode = layer(variant, seq=1, seq_kv=seq)
            rows.append(row(variant, "prefill", seq, evaluate_layer(layer(variant, seq=seq), arch), decode))
            rows.append(row(variant, "decode", seq, evaluate_layer(decode, arch), decode))
    base = {(r["phase"], r["tokens"]): r["layer_s"] for r in rows if r["variant"] == "gqa"}
    for r in rows:
        r["speedup_vs_gqa"] = base[(r["phase"], r["tokens"])] / r["layer_s"] if (r["phase"], r["tokens"]) in base \
            else None
    return rows


def main(argv=None) -> None:
    """Print the report for one arch as a table."""
    import argparse

    import accel
    ap = argparse.ArgumentParser(prog="python -m sim.models.variants", description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="h100", help="a preset name")
    ap.add_argument("--seqs", default="8192,131072", help="comma-separated lengths")
    args = ap.parse_args(argv)
    try:
        arch, seqs = accel.preset(args.arch), tuple(int(s) for s in args.seqs.split(","))
    except (ValueError, accel.ArchError) as err:
        ap.error(str(err))
    try:
        rows = report(arch, seqs)
    except ValueError as err:   # a length no variant builds at, or a kernel no dataflow runs
        ap.error(str(err))
    print(f"{'variant':<8} {'phase':<8} {'tokens':>7} {'layer ms':>9} {'attention':>9} {'KV B/tok':>8} {'vs GQA':>7}")
    for r in rows:
        print(f"{r['variant']:<8} {r['phase']:<8} {r['tokens']:>7} {r['layer_s'] * 1e3:>9.4g} "
              f"{r['attention_share']:>9.0%} {r['kv_bytes_per_token']:>8.0f} {r['speedup_vs_gqa']:>6.3g}×")


if __name__ == "__main__":
    main()
