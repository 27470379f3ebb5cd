"""The model zoo: configurations build attention and layer cascades whose FLOPs, bytes, KV cache and arithmetic
intensity equal numbers worked out by hand from the published configurations (Llama 3, DeepSeek-V3, BERT-base,
HunyuanVideo and FLUX with NATTEN's settings)."""
import pytest

from workloads import CascadeError, compulsory_bytes, flops
from workloads.models.zoo import MODELS, arithmetic_intensity, kv_cache_bytes, model


def test_llama3_8b_decode_core():
    """Llama-3-8B decode core N = 8192 (per sequence): 134.2 M MAC-FLOP, 33.57 MB, AI 4.0; 4096 B/token/layer."""
    m = model("llama3-8b")
    c = m.attention(seq=1, seq_kv=8192)
    assert flops(c) == 2 * 32 * 8192 * 256 == 134_217_728
    assert compulsory_bytes(c) == 33_570_816
    assert round(arithmetic_intensity(c), 1) == 4.0
    assert kv_cache_bytes(c) == 8192 * 4096
    assert m.kv_cache_bytes_per_token() == 128 * 1024
    assert model("llama3-70b").kv_cache_bytes_per_token() == 320 * 1024


def test_llama3_8b_prefill_core_and_layers():
    """Llama-3-8B prefill core L = 8192: 549.8 G causal / 1.100 T dense, 167.8 MB; full layers 570.4 M (decode, B=1),
    36.5 G (B=64), 4.12 T (prefill, causal); weights 218.1 M params per layer."""
    m = model("llama3-8b")
    causal = m.attention(seq=8192)
    assert round(flops(causal) / 1e9, 1) == 549.8 and round(compulsory_bytes(causal) / 1e6, 1) == 167.8
    assert round(flops(m.attention(seq=8192, causal=False)) / 1e12, 3) == 1.100
    d, h, g, e, s = 4096, 32, 8, 128, 14336
    weights = d * h * e + d * g * 2 * e + h * e * d + 3 * d * s
    assert round(weights / 1e6, 1) == 218.1
    extra = lambda rows, rope_heads: rows * (2 * 2 * rope_heads * e + 2 * 2 * d)  # RoPE rotation + RMSNorm MACs
    decode = m.layer(seq=1, seq_kv=8192)   # RoPE rotates the query and the new token's key (before it is cached)
    assert flops(decode) == 2 * weights + 134_217_728 + extra(1, h + g)
    assert round((flops(decode) - extra(1, h + g)) / 1e6, 1) == 570.4
    assert round(flops(m.layer(seq=1, seq_kv=8192, batch=64)) / 1e9, 1) == 36.5
    prefill = m.layer(seq=8192)
    assert round(flops(prefill) / 1e12, 2) == 4.12
    # Compulsory bytes: the hand count's 604 MB, plus the RoPE table (2·M·E values, as cos/sin tables), minus the cache write
    # (not an output).
    rot, cache_write = 2 * 8192 * 128 * 2, 2 * 8192 * g * 2 * e
    assert round((compulsory_bytes(prefill) - rot + cache_write) / 1e6) == 604


def test_bert_core_matches_section_12():
    """BERT-base core, B = 64, L = 512, fused: 51.5 GFLOP, 201 MB, AI = L/b = 256."""
    c = model("bert").attention(seq=512, batch=64)
    assert round(flops(c) / 1e9, 1) == 51.5
    assert round(compulsory_bytes(c) / 1e6) == 201
    assert arithmetic_intensity(c) == 256.0


def test_deepseek_v3_mla_decode_and_cache():
    """DeepSeek-V3: 70,272 B/token KV cache for 61 layers; decode N = 32,768: core 278,528·N = 9.13 GFLOP (the reference
    rounds to 9.15) plus A1 + A4 (33.6 MFLOP)."""
    m = model("deepseek-v3")
    assert m.kv_cache_bytes_per_token() == 70_272
    c = m.attention(seq=1, seq_kv=32768)
    assert c.name.startswith("mla_absorbed")
    a1_a4 = 2 * 128 * 128 * 512 * 2
    assert round((flops(c) - a1_a4) / 1e9, 2) == 9.13 and round(a1_a4 / 1e6, 1) == 33.6
    assert kv_cache_bytes(c) == 32768 * 1152
    assert m.attention(seq=16).name.startswith("mla_naive")


def test_deepseek_v3_moe_layer_flops_per_token():
    """DeepSeek-V3 MoE: router 2·D·X + (k + 1 shared)·6·D·Se per token = 796.4 M FLOPs of FFN."""
    m = model("deepseek-v3")
    one, two = m.layer(seq=1, seq_kv=8), m.layer(seq=1, seq_kv=8, batch=2)
    per_token = flops(two) - flops(one)
    ffn = 2 * 7168 * 256 + 9 * 6 * 7168 * 2048
    assert round(ffn / 1e6, 1) == 796.4
    assert per_token > ffn  # plus projections and attention
    dense = m.layer(seq=1, seq_kv=8, dense=True)
    # dense SwiGLU (S = 18432) replaces router + 8 routed + 1 shared experts (+ the 2·X MACs renormalising the gates)
    assert flops(dense) - flops(one) == 6 * 7168 * 18432 - ffn - 2 * 256


def test_hunyuanvideo_and_flux_gna_cores():
    """HunyuanVideo GNA core 14.68 TFLOP, 2.83 GB, AI 5,184; FLUX 4K NA core 5.15 TFLOP."""
    h = model("hunyuanvideo").attention()
    assert round(flops(h) / 1e12, 2) == 14.68
    assert round(compulsory_bytes(h) / 1e9, 2) == 2.83 and arithmetic_intensity(h) == 5184.0
    assert round(flops(model("flux").attention()) / 1e12, 2) == 5.15


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_builds_attention_and_layer(name):
    """Every model builds a small attention core and a whole layer (local attention: seq = the layout's tokens)."""
    m = model(name)
    small = dict(spatial=(4, 4), window=(3, 3)) if m.variant in ("na", "gna") else {}
    if m.variant == "gna":
        small["stride"] = (2, 2)
    seq = 16 if small else 8
    assert flops(m.attention(seq=seq, **small)) > 0
    assert flops(m.layer(seq=seq, **small)) > 0


def test_unknown_model_lists_valid_names():
    with pytest.raises(CascadeError) as info:
        model("gpt-5")
    assert "llama3-8b" in str(info.value) and "hunyuanvideo" in str(info.value)
