"""Every GPU Result says which kernels ran and for how long, in launch order; the fused attention kernel is
`fmha` in every family, and the kernels' times add up to the latency."""
import pytest

import accel
import sim
import workloads

H100, B200 = accel.preset("h100"), accel.preset("b200")
MHA = workloads.attention("mha", batch=1, heads=8, seq=2048, head_dim=128, causal=True)
DECODE = workloads.attention("gqa", batch=4, heads=32, kv_heads=8, seq=1, seq_kv=16384, head_dim=128)
CASES = [
    ("flash2", MHA, H100, ["fmha"]), ("flash3", MHA, H100, ["fmha"]), ("cudnn", MHA, H100, ["fmha"]),
    ("flash-blackwell", MHA, B200, ["fmha"]), ("flash2", MHA, B200, ["fmha"]),
    ("flash-decoding", DECODE, H100, ["fmha", "combine"]), ("decode-blackwell", DECODE, B200, ["fmha", "combine"]),
    ("mla-decode", workloads.attention("mla", batch=8, seq=1, seq_kv=8192), H100,
     ["q_absorb", "fmha", "combine", "o_absorb"]),
    ("gna", workloads.attention("gna", batch=1, heads=4, spatial=(64, 64), window=(16, 16), head_dim=64), H100,
     ["permute", "fmha", "unpermute"]),
    ("gpu-unfused", MHA, H100, ["copy_qkv", "qk", "mask_build", "mask", "softmax", "pv", "copy_o"]),
    ("gemm", workloads.gemm(2048, 2048, 2048), H100, ["gemm"]),
]


@pytest.mark.parametrize("dataflow,c,arch,kernels", CASES, ids=[f"{c[0]}-{c[2].name}" for c in CASES])
def test_every_gpu_result_names_its_kernels(dataflow, c, arch, kernels):
    """The kernels in launch order, each with a positive time, summing to the latency."""
    r = sim.evaluate(c, arch, dataflow=dataflow)
    assert list(r.kernels) == kernels
    assert all(t > 0 for t in r.kernels.values())
    assert sum(r.kernels.values()) == pytest.approx(r.latency_s, rel=1e-9)
