"""The streaming kernels against hand counts: the GPU pass takes launch + first-access latency + its bytes over the
calibrated share of the measured copy bandwidth; a decode-sized row runs on few SMs; the spatial stream takes its
DRAM time plus one tile's fill; masked (routed) tensors move only their kept points."""
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu.constants import CALIBRATED, HBM_LATENCY_S
from workloads.models.kernels import layer_kernels
from workloads.models.streams import kept_fraction, stream_bytes

H100 = accel.preset("h100")
ADD = "input X[b,m,d], R[b,m,d]\nY[b,m,d] = X[b,m,d] + R[b,m,d]"


def test_gpu_stream_time_is_its_bytes_over_the_calibrated_copy_bandwidth():
    c = workloads.cascade(ADD, {"B": 1, "M": 8192, "D": 4096}, dtype="bf16")
    r = sim.evaluate(c, H100, "gpu-elementwise")
    nbytes = 3 * 8192 * 4096 * 2
    assert r.dram_bytes == nbytes
    hand = H100.launch_overhead_s + HBM_LATENCY_S + nbytes / (H100.measured["HBM.bytes_per_s"]
                                                              * CALIBRATED["STREAM_EFFICIENCY"])
    assert r.latency_s == pytest.approx(hand, rel=1e-4)
    assert set(r.phases) == {"load", "launch"} and set(r.per_einsum) == {"Y"}
    assert r.utilization["hbm"] == pytest.approx(nbytes / (3.35e12 * r.latency_s), rel=1e-9)


def test_a_decode_row_runs_on_few_sms():
    c = workloads.cascade(ADD, {"B": 1, "M": 1, "D": 4096}, dtype="bf16")
    r = sim.evaluate(c, H100, "gpu-elementwise")
    assert "on 8 SMs" in r.notes[0]                      # 4096 elements in CTAs of 512
    assert r.latency_s == pytest.approx(H100.launch_overhead_s + HBM_LATENCY_S, rel=0.02)


def test_spatial_stream_takes_its_dram_time_and_one_tiles_fill():
    fusemax = accel.preset("fusemax")
    c = workloads.cascade(ADD, {"B": 64, "M": 1024, "D": 768})
    r = sim.evaluate(c, fusemax, "spatial-elementwise")
    nbytes = 3 * 64 * 1024 * 768 * 2
    dram = nbytes / (fusemax.levels[0].bandwidth_bytes_per_s / fusemax.clock_hz)
    assert r.dram_bytes == pytest.approx(nbytes, rel=1e-12) and dram <= r.cycles <= dram * 1.001
    assert r.energy_j > 0 and r.utilization["dram"] > 0.999


def test_routed_tensors_move_only_their_kept_points():
    """DeepSeek-V3's expert activation at 64 tokens: each token's 8 (token, expert) rows of Se, not all 256."""
    layer = workloads.model("deepseek-v3").layer(seq=64)
    act = next(k for k in layer_kernels(layer) if k.name == "experts_act").cascade
    assert kept_fraction(act, "EG") == pytest.approx(8 / 256)
    read, write = stream_bytes(act)
    rows = 64 * 8
    assert read == pytest.approx((2 * rows * 2048 + rows) * 2)     # EG and EU rows of Se, WT one per pair
    assert write == pytest.approx(rows * 2048 * 2)
    r = sim.evaluate(act, H100, "gpu-elementwise")
    assert r.dram_bytes == pytest.approx(read + write)
