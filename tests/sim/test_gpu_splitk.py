"""Skinny GEMMs (decode's projections) split their K loop over CTAs so they fill the GPU and stream the weights near
the measured HBM bandwidth; square GEMMs are not split."""
import pytest

import accel
import sim
import workloads

H100 = accel.preset("h100")


@pytest.mark.parametrize("m,n,k", [(1, 6144, 4096), (1, 4096, 4096), (8, 4096, 14336)])
def test_skinny_gemms_stream_near_the_measured_bandwidth(m, n, k):
    r = sim.evaluate(workloads.gemm(m, n, k, dtype="bf16"), H100, "gemm")
    bound = (m * k + k * n + m * n) * 2 / H100.measured["HBM.bytes_per_s"]
    assert r.mapping.params["splits"] > 1
    assert bound <= r.latency_s <= 1.35 * bound
    assert list(r.kernels) == ["gemm", "gemm.reduce"] and sum(r.kernels.values()) == pytest.approx(r.latency_s)


def test_square_gemms_are_not_split():
    r = sim.evaluate(workloads.gemm(8192, 8192, 8192, dtype="bf16"), H100, "gemm")
    assert r.mapping.params["splits"] == 1 and list(r.kernels) == ["gemm"]


def test_a_split_that_does_not_divide_the_k_steps_is_refused():
    with pytest.raises(sim.MappingError, match="splits=3 must divide"):
        sim.evaluate(workloads.gemm(1, 4096, 4096, dtype="bf16"), H100, "gemm", constraints={"splits": 3})
