"""`fusemax-bwd`: FlashAttention's backward on FuseMax's arrays — key/value-stationary, one pass over P and M, above
its roofline, slower than the forward, more DRAM traffic with smaller key blocks, refusals with the reason."""
from __future__ import annotations

import pytest

import accel
import sim
import workloads
from sim.ir.mapping import MappingError

FUSEMAX, H100 = accel.preset("fusemax"), accel.preset("h100")


def mha(**kw):
    return workloads.attention("mha", **{**dict(batch=1, heads=4, seq=2048, head_dim=64), **kw})


def test_runs_above_the_roofline_with_every_einsum_and_its_kernels():
    bc = workloads.backward(mha())
    r = sim.evaluate(bc, FUSEMAX, "fusemax-bwd")
    assert list(r.kernels) == ["preprocess", "key_blocks"]
    assert set(r.per_einsum) == {e.name for e in bc.einsums}
    assert r.latency_s >= sim.roofline(bc, FUSEMAX).lower_bound_s
    assert all(0.0 <= u <= 1.0 + 1e-9 for u in r.utilization.values())
    assert r.dram_bytes >= workloads.compulsory_bytes(bc)
    assert r.utilization["2d"] > 0.8          # the five products keep the 2D array busy


def test_backward_slower_than_forward():
    f = mha()
    assert sim.evaluate(workloads.backward(f), FUSEMAX, "fusemax-bwd").latency_s > \
        sim.evaluate(f, FUSEMAX, "fusemax").latency_s


def test_smaller_key_blocks_move_dq_partials_through_dram():
    bc = workloads.backward(mha())
    whole = sim.evaluate(bc, FUSEMAX, "fusemax-bwd")
    split = sim.evaluate(bc, FUSEMAX, "fusemax-bwd", constraints={"kv_block": 256})
    assert whole.mapping.params["kv_block"] == 2048
    assert split.dram_bytes > 4 * whole.dram_bytes
    assert split.latency_s >= whole.latency_s
    assert sim.dataflow("fusemax-bwd").space(bc, FUSEMAX)["kv_block"] == (256, 512, 1024, 2048)


@pytest.mark.parametrize("cascade,arch,fragment", [
    (lambda: workloads.backward(mha(causal=True)), FUSEMAX, "masked attention"),
    (lambda: workloads.backward(workloads.attention("gqa", batch=1, heads=4, kv_heads=2, seq=512, head_dim=64)),
     FUSEMAX, "grouped heads"),
    (lambda: workloads.backward(mha(dtype="bf16")), FUSEMAX, "modelled in fp16"),
    (lambda: workloads.backward(mha()), H100, "needs two memory levels"),
    (lambda: mha(), FUSEMAX, "is not a FlashAttention-form backward"),
])
def test_refusals_name_the_reason(cascade, arch, fragment):
    why = sim.dataflow("fusemax-bwd").supports(cascade(), arch)
    assert why is not None and fragment in why


def test_pins_are_checked():
    bc = workloads.backward(mha())
    with pytest.raises(MappingError, match="kv_block=300 must be a multiple of the key tile 256"):
        sim.evaluate(bc, FUSEMAX, "fusemax-bwd", constraints={"kv_block": 300})
    with pytest.raises(MappingError, match="unknown mapping parameter"):
        sim.evaluate(bc, FUSEMAX, "fusemax-bwd", constraints={"P0": 128})
