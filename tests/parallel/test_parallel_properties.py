"""Properties of every plan: more link (or NIC) bandwidth never makes it slower; communication never makes a step
faster than its compute alone; ring attention hides its transfers once blocks are large; causal balancing."""
from __future__ import annotations

import dataclasses

import pytest

import accel
import sim
import workloads

NODE = accel.preset("hgx-h100x8")


def faster_links(cluster, factor: float):
    link = dataclasses.replace(cluster.link, bytes_per_s=cluster.link.bytes_per_s * factor)
    nic = cluster.nic and dataclasses.replace(cluster.nic, bytes_per_s=cluster.nic.bytes_per_s * factor)
    return dataclasses.replace(cluster, link=link, nic=nic)


LLAMA = workloads.model("llama3-8b")
DS = workloads.model("deepseek-v3")
PLANS = [
    (LLAMA.layer(seq=1, seq_kv=512, batch=8), "tp=4", NODE),
    (LLAMA.layer(seq=1, seq_kv=512, batch=8), "tp=8", accel.cluster(NODE, nodes=2)),
    (DS.layer(seq=1, seq_kv=256, batch=16, form="absorbed"), "ep=8", NODE),
    (DS.layer(seq=1, seq_kv=256, batch=16, form="absorbed", dense=True), "tp=2,attention=tpla", NODE),
    (LLAMA.layer(seq=2048, batch=1), "cp=4", NODE),
    (LLAMA.layer(seq=2048, batch=1), "cp=4,cp_kind=zigzag", NODE),
    (LLAMA.layer(seq=2048, batch=1), "cp=4,cp_kind=ulysses", NODE),
    (workloads.model("bert").layer(seq=512, batch=2), "cp=4", NODE),
    (LLAMA.layer(seq=4096, batch=1), "cp=16,cp_kind=zigzag", accel.cluster(NODE, nodes=2)),
    (DS.layer(seq=1, seq_kv=256, batch=32, form="absorbed"), "ep=16,micro_batches=2", accel.cluster(NODE, nodes=2)),
]


@pytest.mark.parametrize("layer,plan,cluster", PLANS, ids=[p for _, p, _ in PLANS])
def test_more_bandwidth_never_slower(layer, plan, cluster):
    times = [sim.evaluate(layer, faster_links(cluster, f), plan=plan) for f in (0.25, 1.0, 4.0)]
    for slow, fast in zip(times, times[1:]):
        assert fast.latency_s <= slow.latency_s * (1 + 1e-9)
        assert fast.exposed_s <= slow.exposed_s + 1e-12
    for r in times:
        assert 0 <= r.exposed_s <= r.latency_s
        assert r.overlapped_s <= r.communication_s + 1e-15
        assert all(d.compute_s <= r.latency_s * (1 + 1e-9) for d in r.devices)


def test_ring_hides_transfers_once_blocks_are_large():
    """Non-causal ring attention: the exposed share of the step shrinks as the block grows (compute c², transfer
    c) and vanishes for large blocks."""
    bert = workloads.model("bert")
    shares = []
    for seq in (8 * 256, 8 * 4096):
        r = sim.evaluate(bert.layer(seq=seq, batch=1), NODE, plan="cp=8")
        shares.append(r.exposed_s / r.latency_s)
    assert shares[1] < shares[0]
    assert shares[1] < 0.01


def test_causal_balancing():
    layer = LLAMA.layer(seq=8192, batch=1)
    ring, zigzag, striped = (sim.evaluate(layer, NODE, plan=f"cp=8,cp_kind={k}")
                             for k in ("ring", "zigzag", "striped"))
    assert ring.load_balance < 0.95
    assert zigzag.load_balance > 0.97 and striped.load_balance > 0.99
    assert zigzag.latency_s < ring.latency_s and striped.latency_s < ring.latency_s
    # The plain ring's last device attends to every block; its first only to its own.
    computes = [d.compute_s for d in ring.devices]
    assert computes == sorted(computes)


def test_trivial_inference_is_single_device():
    one = sim.inference("llama3-8b", NODE.device, prompt=64, batch=2, output_tokens=3)
    assert sim.inference("llama3-8b", NODE, prompt=64, batch=2, output_tokens=3, plan={"tp": 1}) == one


def test_inference_under_tp_and_disaggregation():
    base = sim.inference("llama3-8b", NODE, prompt=256, batch=4, output_tokens=3, plan="tp=4")
    single = sim.inference("llama3-8b", NODE.device, prompt=256, batch=4, output_tokens=3)
    assert base.tpot_s < single.tpot_s and base.memory.weight_bytes < single.memory.weight_bytes
    split = sim.inference("llama3-8b", NODE, prompt=256, batch=4, output_tokens=3,
                          plan="tp=4,disaggregation=prefill-decode")
    assert split.kv_transfer is not None and split.kv_transfer.seconds > 0
    assert split.kv_transfer.nbytes == pytest.approx(base.memory.kv_cache_bytes * 256 / 258, rel=1e-6)
    assert split.tokens_per_s < base.tokens_per_s


def test_micro_batches_overlap_communication_with_the_other_micro_batch():
    layer = LLAMA.layer(seq=512, batch=8)
    one, two = (sim.evaluate(layer, NODE, plan=f"tp=8,micro_batches={k}") for k in (1, 2))
    assert two.exposed_s < 0.5 * one.exposed_s and two.overlapped_s > 0
    # the same work: two micro-batches of 4 sequences each compute what one batch of 8 does
    assert sum(d.flops for d in two.devices) == pytest.approx(sum(d.flops for d in one.devices), rel=1e-9)
    assert any(u.endswith(".comm") for u in two.run.units)


@pytest.mark.parametrize("plan", ["tp=8", "tp=4,disaggregation=prefill-decode"])
def test_more_link_bandwidth_never_slows_inference(plan):
    runs = [sim.inference("llama3-8b", faster_links(accel.cluster(NODE, nodes=2), f), prompt=64, batch=4,
                          output_tokens=2, plan=plan) for f in (0.5, 2.0)]
    assert runs[1].ttft_s <= runs[0].ttft_s * (1 + 1e-9) and runs[1].tpot_s <= runs[0].tpot_s * (1 + 1e-9)


@pytest.mark.slow
def test_docs_parallel_is_generated():
    from validation.reproductions import parallel
    text = parallel.render(parallel.ep_decode(), parallel.ring_sweep(), parallel.tpla_vs_mla(), parallel.distca(),
                           parallel.ep_layer())
    assert parallel.DOC.read_text() == text


def test_pipeline_stages_split_the_layers_and_add_their_sends():
    """pp = 2 with one batch in flight: the same work on twice the devices, each stage half the layers; the latency
    is tp's alone plus the activations' send between the stages; each device holds half the layers' weights."""
    cluster = accel.cluster(NODE, nodes=2)
    flat, piped = (sim.inference("llama3-8b", cluster, prompt=128, batch=2, output_tokens=2, plan=p)
                   for p in ("tp=8", "tp=8,pp=2"))
    hop = next(c for c in piped.prefill.collectives if c.name == "send_recv.stage")
    assert hop.unit == "nic" and hop.nbytes == 2 * 128 * LLAMA.model_dim * 2
    assert piped.ttft_s == pytest.approx(flat.ttft_s + hop.total_s, rel=1e-6)
    total = lambda r: sum(d.flops for d in r.devices)  # noqa: E731
    assert total(piped.prefill) == pytest.approx(total(flat.prefill), rel=1e-9)
    assert len(piped.prefill.devices) == 16
    assert piped.memory.weight_bytes < 0.6 * flat.memory.weight_bytes
