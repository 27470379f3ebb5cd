"""Blackwell as it is: b200 refuses the Hopper kernels (no wgmma on SM100) and runs the SM100 family —
tcgen05 MMA into tensor memory, Q 256 / KV 128 tiles, 2-CTA pairs, the exp split between the MUFU and the FMA
pipe — and its decode kernel."""
import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu import machine
from sim.dataflows.gpu.costs import _split_exps

B200, H100 = accel.preset("b200"), accel.preset("h100")


def mha(seq=4096, d=128, causal=False, **kw):
    return workloads.attention("mha", batch=kw.pop("batch", 2), heads=kw.pop("heads", 16), seq=seq, head_dim=d,
                               causal=causal, **kw)


def test_blackwell_is_told_apart_by_its_tensor_memory():
    """b200 has 512 TMEM columns per SM (256 KB); H100 and A100 have none."""
    assert machine.generation(B200) == "blackwell" and machine.sm_rates(B200).tmem_columns == 512
    assert machine.generation(H100) == "hopper" and machine.generation(accel.preset("a100")) == "ampere"


@pytest.mark.parametrize("dataflow", ["flash3", "cudnn"])
def test_hopper_kernels_refuse_blackwell(dataflow):
    """wgmma does not exist on SM100 as modelled: the Hopper kernels say so and name the Blackwell one."""
    why = sim.dataflow(dataflow).supports(mha(), B200)
    assert "tcgen05" in why and "flash-blackwell" in why
    with pytest.raises(sim.MappingError, match="Blackwell"):
        sim.evaluate(mha(), B200, dataflow=dataflow)


@pytest.mark.parametrize("dataflow", ["flash-blackwell", "decode-blackwell"])
def test_blackwell_kernels_refuse_hopper(dataflow):
    """tcgen05 kernels need tensor memory."""
    assert "tensor memory" in sim.dataflow(dataflow).supports(mha(), H100)


@pytest.mark.parametrize("d,causal", [(64, False), (128, True), (256, False)])
def test_flash_blackwell_runs_above_its_roofline(d, causal):
    """The SM100 kernel runs every head dim (Q 256 while TMEM holds two 128-row groups' S and O, else Q 128), at or
    above its roofline, faster than FlashAttention-2 on the same GPU, as one `fmha` kernel."""
    c = mha(d=d, causal=causal)
    r = sim.evaluate(c, B200, dataflow="flash-blackwell")
    assert r.mapping.params["q_tile"] == (256 if d <= 128 else 128) and r.mapping.params["kv_tile"] == 128
    assert r.latency_s >= sim.roofline(c, B200).lower_bound_s
    assert r.latency_s < sim.evaluate(c, B200, dataflow="flash2").latency_s
    assert list(r.kernels) == ["fmha"]


def test_tensor_memory_limits_the_tiles():
    """Two 128-row groups at value dim 256 need 2 × (128 + 256) = 768 TMEM columns: refused with what fits."""
    with pytest.raises(sim.MappingError, match="768 TMEM columns.*an SM has 512"):
        sim.evaluate(mha(d=256), B200, dataflow="flash-blackwell", constraints={"q_tile": 256})


def test_cta_pairs_halve_each_sms_kv_traffic():
    """A 2-CTA pair splits every K/V tile between its two SMs: L2 → SM traffic halves, HBM traffic does not."""
    c = mha(seq=8192)
    paired = sim.evaluate(c, B200, dataflow="flash-blackwell")
    alone = sim.evaluate(c, B200, dataflow="flash-blackwell", constraints={"cta_pair": False})
    l2 = lambda r: r.bytes_per_level["L2.read"]  # noqa: E731
    assert l2(paired) == pytest.approx(l2(alone) / 2, rel=0.05)
    assert paired.dram_bytes == pytest.approx(alone.dram_bytes, rel=0.05)


def test_the_exp_split_balances_mufu_and_fma():
    """Moving part of the exps to FMA-pipe polynomials leaves both pipes equally busy (or moves none when the
    SFU is already the less busy pipe); exps are conserved."""
    sm = machine.sm_rates(B200)
    sfu, fma = _split_exps(sm, 8192.0, 4 * 8192.0, 0.0, 0.0)
    assert 0 < sfu < 8192 and sfu / sm.sfu == pytest.approx(fma / sm.fma)
    assert _split_exps(sm, 10.0, 1e6, 0.0, 0.0) == (10.0, 1e6)


def test_decode_blackwell_streams_the_cache():
    """Llama-3-8B decode over a 32K cache on b200: split over the SMs, within 1.5× of the HBM roofline."""
    c = workloads.attention("gqa", batch=8, heads=32, kv_heads=8, seq=1, seq_kv=32768, head_dim=128)
    r = sim.evaluate(c, B200, dataflow="decode-blackwell")
    assert r.mapping.params["splits"] > 1 and list(r.kernels) == ["fmha", "combine"]
    assert sim.roofline(c, B200).lower_bound_s <= r.latency_s <= 1.5 * sim.roofline(c, B200).lower_bound_s


def test_explore_on_blackwell_never_runs_hopper_kernels():
    """explore's candidates on b200 are the kernels b200 supports; the best is a Blackwell or portable kernel."""
    x = sim.explore(mha(seq=2048), B200, budget=16)
    assert x.best.dataflow not in ("flash3", "cudnn")


def test_blackwell_breakdown_names_each_mechanism():
    """The exp split never costs time (it moves exps only while the SFU is the busier pipe), pairs never cost
    time, and every Blackwell mechanism is reported."""
    from sim.dataflows.gpu import breakdown
    r = breakdown.contributions(mha(seq=8192, d=64), B200, "flash-blackwell")
    assert set(r["adds"]) == set(breakdown.BLACKWELL_MECHANISMS)
    assert r["adds"]["exp_emulation"] <= 0 and r["adds"]["cta_pair"] <= 1e-9
