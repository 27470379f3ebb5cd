"""Tensor-parallel layers conserve work: every kernel of a tp-device shard is either split exactly (its MAC FLOPs
and its operands ÷ tp, but for the operand every device reads or writes whole) or replicated exactly; the links
carry the two all-reduces. A trivial plan is the single-device result."""
from __future__ import annotations

import math

import pytest

import accel
import sim
import workloads
from workloads.dtypes import dtype_bytes
from workloads.models.kernels import layer_kernels
from sim.parallel.shard import tensor_shard

NODE = accel.preset("hgx-h100x8")
# Kernels every device runs whole: norms and residual adds (and MLA's latent down-projection, its norm and the
# RoPE key, which every device needs whole).
REPLICATED = {"attn_norm", "ffn_norm", "attn_residual", "ffn_residual", "attn_out_norm", "ffn_out_norm"}
MLA_REPLICATED = {"qkv_a", "q_norm", "kv_norm", "rope_k"}
COLUMN = {"qkv", "q_b", "gate_up", "up"}      # input activation read whole by every device
SPLIT_RANKS = {"H", "G", "S"}   # heads, KV heads, FFN hidden
ROW = {"o_proj", "down"}                      # output (partial sums) written whole by every device


def _kernels(layer):
    return {k.name: k.cascade for k in layer_kernels(layer)}


CASES = [("llama3-8b", dict(seq=1, seq_kv=512, batch=8), 4),
         ("bert", dict(seq=64, batch=2), 4),
         ("deepseek-v3", dict(seq=1, seq_kv=256, batch=4, form="absorbed", dense=True), 8)]


@pytest.mark.parametrize("name,shape,tp", CASES)
def test_each_kernel_split_or_replicated_exactly(name, shape, tp):
    m = workloads.model(name)
    whole, shard = _kernels(m.layer(**shape)), _kernels(tensor_shard(m, tp).layer(**shape))
    assert whole.keys() == shard.keys()
    replicated = REPLICATED | (MLA_REPLICATED if m.variant == "mla" else set())
    for k, c in whole.items():
        flops, per_device = workloads.flops(c), workloads.flops(shard[k])
        assert per_device * (1 if k in replicated else tp) == pytest.approx(flops, rel=1e-12), k
        bytes_whole, bytes_shard = workloads.compulsory_bytes(c), workloads.compulsory_bytes(shard[k])
        b = dtype_bytes(c.dtype)
        s = c.sizes
        if k in replicated:
            extra = bytes_whole
        elif k in COLUMN:
            extra = s["M"] * s["K"] * b
        elif k in ROW:
            extra = s["M"] * s["N"] * b
        else:   # a sub-cascade split by heads: its inputs without a head rank (RoPE's tables) are read whole
            extra = sum(math.prod(s[r] for r in c.tensors[t].ranks) * b for t in c.inputs
                        if not set(c.tensors[t].ranks) & SPLIT_RANKS)
        assert tp * bytes_shard == pytest.approx(bytes_whole + (tp - 1) * extra, rel=1e-12), k


def test_plan_sums_to_single_device_plus_collectives():
    m = workloads.model("llama3-8b")
    layer = m.layer(seq=1, seq_kv=512, batch=8)
    single = sim.evaluate(layer, NODE.device)
    r = sim.evaluate(layer, NODE, plan={"tp": 4})
    replicated = sum(workloads.flops(c) for k, c in _kernels(layer).items() if k in REPLICATED)
    assert sum(d.flops for d in r.devices) == pytest.approx(workloads.flops(layer) + 3 * replicated, rel=1e-9)
    assert [c.kind for c in r.collectives] == ["all_reduce", "all_reduce"]
    assert all(c.nbytes == 8 * m.model_dim * 2 and c.group == 4 for c in r.collectives)
    assert r.exposed_s > 0 and r.latency_s < single.latency_s
    assert r.latency_s == pytest.approx(r.devices[0].compute_s + r.exposed_s, rel=1e-6)


def test_trivial_plan_is_the_single_device_result(llama=None):
    layer = workloads.model("llama3-8b").layer(seq=1, seq_kv=512, batch=8)
    one = sim.evaluate(layer, NODE.device)
    for p in (None, {"tp": 1}, "tp=1,cp=1,ep=1,pp=1"):
        assert sim.evaluate(layer, NODE, plan=p) == one
        assert sim.evaluate(layer, NODE.device, plan=p) == one


def test_tpla_halves_the_kv_cache_per_device_mla_tp_does_not():
    ds = workloads.model("deepseek-v3")
    layer = ds.layer(seq=1, seq_kv=4096, batch=8, form="absorbed", dense=True)
    h800 = accel.preset("hgx-h800x8")
    one = sim.evaluate(layer, h800, plan="tp=2")
    tpla = sim.evaluate(layer, h800, plan="tp=2,attention=tpla")
    per_token = ds.mla["latent"] + ds.mla["rope_dim"]
    assert one.memory.kv_cache_bytes == 8 * 4096 * per_token * 2
    assert tpla.memory.kv_cache_bytes == 8 * 4096 * (ds.mla["latent"] // 2 + ds.mla["rope_dim"]) * 2


def test_expert_parallel_across_nodes_is_node_limited():
    """ep = 32 over 4 nodes: each token crosses to at most 4 nodes (once each, over the NICs between devices of one
    local index), then reaches its 8 experts over NVLink inside each node; the combine reverses the stages."""
    ds = workloads.model("deepseek-v3")
    layer = ds.layer(seq=1, seq_kv=256, batch=128, form="absorbed")
    r = sim.evaluate(layer, accel.cluster("hgx-h800x8", nodes=4), plan="ep=32")
    tokens = 128 // 32
    nic = [c for c in r.collectives if c.unit == "nic"]
    link = [c for c in r.collectives if c.unit == "link"]
    assert len(nic) == 2 * 8 and len(link) == 2 * 4
    assert {c.nbytes for c in nic if "dispatch" in c.name} == {tokens * 4 * ds.model_dim}
    assert {c.nbytes for c in link if "dispatch" in c.name} == {tokens * 8 * ds.model_dim}
    assert {c.nbytes for c in nic if "combine" in c.name} == {tokens * 4 * ds.model_dim * 2}
    assert all(c.group == 4 for c in nic) and all(c.group == 8 for c in link)
