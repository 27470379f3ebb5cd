"""sim.explore on the built-in dataflows: the searches find what the papers' kernels do (FuseMax's own mapping or
better, FLAT's fusion granularity, FlashAttention-3-style tiling on long prefill, split-KV on long decode)."""
import pytest

import accel
import sim
import workloads


def require(*names):
    """The built-in dataflows import and include `names` (a rename in a dataflow module fails here, by name)."""
    missing = [n for n in names if n not in sim.DATAFLOWS]
    assert not missing, f"dataflow(s) {missing} are not registered"


def fusemax_models():
    """BERT, TrXL, T5, XLM as in the FuseMax evaluation (heads, head dim), at batch 64."""
    return {"bert": (12, 64), "trxl": (16, 64), "t5": (8, 64), "xlm": (16, 128)}


@pytest.mark.parametrize("seq", [4096, 65536])
@pytest.mark.parametrize("model", sorted(fusemax_models()))
def test_explore_matches_or_beats_the_hand_written_fusemax(model, seq):
    """On `fusemax`, explore's best is at least as fast as the `fusemax` dataflow's own mapping."""
    require("fusemax")
    heads, dim = fusemax_models()[model]
    w = workloads.attention("mha", batch=64, heads=heads, seq=seq, head_dim=dim)
    arch = accel.preset("fusemax")
    hand = sim.evaluate(w, arch, "fusemax")
    x = sim.explore(w, arch)
    assert x.best.latency_s <= hand.latency_s * (1 + 1e-12)


@pytest.mark.parametrize("seq,whole_head", [(1024, True), (16384, False), (65536, False)])
def test_flat_granularity_is_found(seq, whole_head):
    """On `flat` alone, explore picks head-granularity fusion (one block of all M query rows) at short sequences
    and row-granularity (blocks of fewer rows) at long ones."""
    require("flat")
    w = workloads.attention("mha", batch=64, heads=12, seq=seq, head_dim=64, softmax="3pass")
    x = sim.explore(w, accel.preset("flat"), dataflows=["flat"])
    rows = x.best.mapping.params["rows"]
    assert (rows == seq) == whole_head and seq % rows == 0


def test_h100_long_prefill_picks_fa3_style_tiling():
    """Long-sequence prefill on H100: a warpgroup ping-pong kernel (FlashAttention-3 or cuDNN) with 128-row Q
    tiles and ≥ 128-key KV tiles wins over FlashAttention-2 and unfused attention."""
    require("flash3", "flash2")
    w = workloads.attention("gqa", batch=1, heads=32, kv_heads=8, seq=8192, head_dim=128, causal=True)
    x = sim.explore(w, accel.preset("h100"))
    assert x.best.dataflow in ("flash3", "cudnn")
    p = x.best.mapping.params
    assert p["q_tile"] * (2 if x.best.dataflow == "cudnn" else 1) >= 128 and p["kv_tile"] >= 128


@pytest.mark.parametrize("batch,seq_kv", [(1, 65536), (2, 131072)])
def test_h100_long_decode_with_small_batch_picks_split_kv(batch, seq_kv):
    """Long-context decode with a small batch on H100: the best mapping splits the KV length (splits > 1)."""
    require("flash-decoding")
    w = workloads.attention("gqa", batch=batch, heads=32, kv_heads=8, seq=1, seq_kv=seq_kv, head_dim=128)
    x = sim.explore(w, accel.preset("h100"))
    assert x.best.mapping.params.get("splits", 1) > 1
