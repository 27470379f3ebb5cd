"""GPU dataflows give the physically right number or refuse: regressions of wrong numbers found on common paths
(causal decode, FLOPs of causal decode, score-side extras, idle SMs, huge grids)."""
import pytest

import accel
import sim
import workloads
from workloads.variants.cores import core

H100 = accel.preset("h100")


def gqa_decode(seq: int, causal: bool, seq_kv: int = 32768):
    return workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=seq, seq_kv=seq_kv, head_dim=128,
                               causal=causal)


@pytest.mark.parametrize("dataflow,make", [
    ("flash-decoding", lambda causal: gqa_decode(1, causal)),
    ("mla-decode", lambda causal: workloads.attention("mla", batch=1, seq=1, seq_kv=32768, causal=causal)),
])
def test_causal_decode_of_one_token_is_non_causal(dataflow, make):
    """One query token sees every key (bottom-right aligned causal mask): causal decode costs exactly what
    non-causal does, reports the same TFLOP/s, and stays within 3x of its roofline (was 24x slower)."""
    plain = sim.evaluate(make(False), H100, dataflow=dataflow)
    causal = sim.evaluate(make(True), H100, dataflow=dataflow)
    assert causal.latency_s == plain.latency_s and causal.dram_bytes == plain.dram_bytes
    assert causal.tflops == pytest.approx(plain.tflops, rel=1e-12)
    bound = sim.roofline(make(True), H100).lower_bound_s
    assert bound <= causal.latency_s <= 3 * bound


@pytest.mark.parametrize("seq", [2, 4, 16])
def test_chunked_prefill_and_speculative_decode(seq):
    """A few query tokens mask only keys of the last tile: causal is within 1% of non-causal, never above it,
    never below its roofline; TFLOP/s count the attended pairs (workloads.flops)."""
    plain = sim.evaluate(gqa_decode(seq, False), H100, dataflow="flash-decoding")
    causal = sim.evaluate(gqa_decode(seq, True), H100, dataflow="flash-decoding")
    assert plain.latency_s * 0.99 <= causal.latency_s <= plain.latency_s
    assert causal.latency_s >= sim.roofline(gqa_decode(seq, True), H100).lower_bound_s
    assert causal.tflops * 1e12 * causal.latency_s == pytest.approx(workloads.flops(gqa_decode(seq, True)))


def test_decode_is_near_the_hbm_roofline():
    """Llama-3-8B-style decode over a 32K cache streams K/V: within 1.5x of the HBM-bound roofline."""
    c = gqa_decode(1, True)
    r = sim.evaluate(c, H100, dataflow="flash-decoding")
    assert r.latency_s <= 1.5 * sim.roofline(c, H100).lower_bound_s
    assert r.dram_bytes >= workloads.compulsory_bytes(c)


def test_explore_does_not_pick_the_unfused_path_for_decode():
    """With causal decode right, explore's best for one decode step is a fused decode kernel."""
    best = sim.explore(gqa_decode(1, True), H100, budget=24).best
    assert best.dataflow in ("flash-decoding", "flash2", "flash3", "cudnn")


def score_cascade(scores: str, inputs: str = "", softmax: str = "1pass", **sizes):
    text = f"input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]{inputs}\n" + core(softmax, "b,h", "b,h", scores=scores)
    shape = {"B": 1, "H": 12, "M": 4096, "P": 4096, "E": 64, "F": 64, **sizes}
    if softmax != "3pass":
        shape.setdefault("P0", 256)
    return workloads.cascade(text, shape, name="scores")


ALIBI = score_cascade("S0[{q},m,{p}] = Q[{q},m,e] * K[{kv},{p},e]\n{S}[{q},m,{p}] = S0[{q},m,{p}] + BIAS[h,m,{p}]",
                      ", BIAS[h,m,p]")
SIGMOID = workloads.cascade("""input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]
QK[b,h,m,p] = Q[b,h,m,e] * K[b,h,p,e]
SG[b,h,m,p] = sigmoid(QK[b,h,m,p] - 8.0)
AV[b,h,m,f] = SG[b,h,m,p] * V[b,h,p,f]""", {"B": 1, "H": 12, "M": 4096, "P": 4096, "E": 64, "F": 64}, name="sigmoid")
MHA = workloads.attention("mha", batch=1, heads=12, seq=4096, head_dim=64)


@pytest.mark.parametrize("dataflow", ["flash2", "flash3", "cudnn", "gpu-unfused", "flash-decoding"])
def test_alibi_bias_bytes_are_read(dataflow):
    """An additive bias input BIAS[h,m,p] on the scores is read: DRAM traffic covers it and the result is at or
    above its own roofline (it was 25 MB and below the roofline: the bias was dropped)."""
    r = sim.evaluate(ALIBI, H100, dataflow=dataflow)
    assert r.dram_bytes >= workloads.compulsory_bytes(ALIBI)
    assert r.latency_s >= sim.roofline(ALIBI, H100).lower_bound_s
    assert r.latency_s > sim.evaluate(MHA, H100, dataflow=dataflow).latency_s
    assert set(r.per_einsum) <= {e.name for e in ALIBI.einsums} and "BQK" in r.per_einsum   # the bias add


@pytest.mark.parametrize("dataflow", ["flash2", "flash3", "gpu-unfused"])
def test_sigmoid_attention_is_its_own_kernel(dataflow):
    """Sigmoid attention has no row max, sum or rescale: fused kernels drop that FMA work (the unfused path swaps
    its softmax kernel for an elementwise sigmoid of the same bytes), the sigmoid runs on the SFU, and it is at or
    above its roofline; kernels that only run softmax refuse it."""
    r = sim.evaluate(SIGMOID, H100, dataflow=dataflow)
    assert r.latency_s >= sim.roofline(SIGMOID, H100).lower_bound_s
    mha = sim.evaluate(MHA, H100, dataflow=dataflow)
    assert r.per_einsum["SG"]["hbm" if dataflow == "gpu-unfused" else "sfu"] > 0
    if dataflow != "gpu-unfused":
        fma = lambda res: sum(v.get("fma", 0) for v in res.per_einsum.values())  # noqa: E731
        assert fma(r) < fma(mha)
    assert set(r.per_einsum) == {"QK", "SG", "AV"}
    assert "sigmoid" in sim.dataflow("cudnn").supports(SIGMOID, H100)


def test_soft_capping_and_scaling_are_costed():
    """Gemma-2-style soft-capping (c·tanh(s/c)) and an explicit scale run on the SFU and FMA pipes of the fused
    kernel: they cost more than plain attention, never less than the roofline."""
    capped = score_cascade("S0[{q},m,{p}] = Q[{q},m,e] * K[{kv},{p},e]\n"
                           "S1[{q},m,{p}] = tanh(S0[{q},m,{p}] * 0.02)\n{S}[{q},m,{p}] = S1[{q},m,{p}] * 50.0")
    for dataflow in ("flash2", "flash3"):
        r = sim.evaluate(capped, H100, dataflow=dataflow)
        assert r.latency_s > sim.evaluate(MHA, H100, dataflow=dataflow).latency_s
        assert r.latency_s >= sim.roofline(capped, H100).lower_bound_s
        assert r.per_einsum["S1"]["sfu"] > 0 and r.per_einsum["BQK"]["fma"] > 0


@pytest.mark.parametrize("dtype", ["fp8", "fp32", "int8"])
def test_unmodelled_dtypes_are_refused(dtype):
    """fp32 and int8 attention, and FP8 on kernels without an FP8 forward, are refused with the reason, never
    returned as a number (FP8 runs on flash3 and flash-blackwell: tests/sim/test_gpu_fp8.py)."""
    c = workloads.attention("mha", batch=1, heads=12, seq=1024, head_dim=64, dtype=dtype)
    for name in ("flash2", "cudnn", "gpu-unfused", "flash-decoding") + (() if dtype == "fp8" else ("flash3",)):
        assert f"dtype {dtype} is not modelled" in sim.dataflow(name).supports(c, H100)
    assert "not modelled" in sim.dataflow("gemm").supports(workloads.gemm(512, 512, 512, dtype=dtype), H100)


@pytest.mark.parametrize("ctas", [64, 128, 132, 200, 264, 1000])
def test_more_sms_is_never_slower(ctas):
    """HBM and L2 go to the SMs that run CTAs: twice the SMs never slows a kernel (it did for 128 CTAs)."""
    c = workloads.attention("mha", batch=1, heads=ctas, seq=128, seq_kv=8192, head_dim=128)
    big = accel.variant(H100, sms=264)
    for dataflow in ("flash2", "flash3"):
        assert sim.evaluate(c, big, dataflow=dataflow).latency_s <= sim.evaluate(c, H100, dataflow=dataflow).latency_s


def test_a_few_ctas_cannot_saturate_hbm():
    """Decode without splits (8 CTAs for 8 KV heads) is far from the HBM bound: an SM's outstanding loads limit
    what it draws; splitting the KV over the SMs (the default plan) fixes it."""
    c = gqa_decode(1, False)
    unsplit = sim.evaluate(c, H100, dataflow="flash-decoding", constraints={"splits": 1})
    split = sim.evaluate(c, H100, dataflow="flash-decoding")
    assert unsplit.latency_s > 3 * split.latency_s and split.mapping.params["splits"] > 1


def test_huge_grids_are_bounded():
    """10^6 heads (8·10^6 equal CTAs) are placed in closed form and run as one repeated segment; the same grid
    with unequal (causal) CTAs is refused before any per-CTA list is built."""
    c = workloads.attention("mha", batch=1, heads=10 ** 6, seq=1024, head_dim=64)
    r = sim.evaluate(c, H100, dataflow="flash2")
    assert len(r.run.segments) <= 8 and r.run.ops_simulated < 10_000
    assert r.latency_s >= sim.roofline(c, H100).lower_bound_s
    causal = workloads.attention("mha", batch=1, heads=10 ** 6, seq=1024, head_dim=64, causal=True)
    with pytest.raises(sim.MappingError, match="unequal CTAs is too large"):
        sim.evaluate(causal, H100, dataflow="flash2")
