"""`sim.inference`: TTFT is the prefill, each decode step attends to one more cached key and is simulated exactly
(the attention core rebuilt at its KV length is the one the builder makes), tokens/s and memory follow from the
steps, and what does not fit a device is refused naming the limit."""
import pytest

import accel
import sim
import workloads
from sim.models import choice
from sim.models.serving import _decode_kernels
from workloads.models.footprint import model_parameters
from workloads.models.kernels import layer_kernels

H100 = accel.preset("h100")


def test_decode_steps_grow_the_kv_cache_and_make_the_figures():
    run = sim.inference("llama3-8b", H100, prompt=1000, batch=2, output_tokens=5)
    assert run.decode_kv == (1001, 1002, 1003, 1004)
    assert [r.workload for r in run.decode] == [f"llama3-8b.decode@{kv}" for kv in run.decode_kv]
    assert run.ttft_s == run.prefill.latency_s
    assert run.tpot_s == pytest.approx(sum(r.latency_s for r in run.decode) / 4)
    assert run.tokens_per_s == pytest.approx(2 * 5 / (run.ttft_s + 4 * run.tpot_s))
    per_token = 32 * 8 * 2 * 128 * 2                      # layers × KV heads × (K, V) × head dim × bf16
    assert run.memory.kv_cache_bytes == 2 * (1000 + 4) * per_token
    assert run.memory_bytes == model_parameters(workloads.model("llama3-8b")) * 2 + 2 * 1004 * per_token
    counted = run.prefill.energy_j + sum(r.energy_j for r in run.decode)
    assert run.energy_per_token_j is None if counted == 0 else run.energy_per_token_j == pytest.approx(counted / 10)
    assert run.decode[1].latency_s >= run.decode[0].latency_s * (1 - 1e-3)   # one more key, never much faster
    assert {"embed", "final_norm", "lm_head"} <= set(run.prefill.kernels)
    assert "layers.attention" in run.prefill.kernels


def test_one_output_token_still_reports_the_next_steps_time():
    run = sim.inference("llama3-8b", H100, prompt=512)
    assert run.decode_kv == (513,) and run.tpot_s == run.decode[0].latency_s
    assert run.tokens_per_s == pytest.approx(1 / run.ttft_s)


@pytest.mark.parametrize("name,prompt,steps", [("llama3-8b", 8190, 6), ("llama3-8b", 100, 200),
                                               ("deepseek-v3", 250, 10)])
def test_a_decode_step_simulates_exactly_the_layer_at_its_kv_length(name, prompt, steps):
    """The steps reuse the first step's kernels but the attention core, rebuilt at each KV length: identical to the
    core the layer builder makes there (across KV tiles, and where the key tile still grows with P)."""
    m = workloads.model(name)
    form = {"form": "absorbed"} if m.variant == "mla" else {}
    base = {False: layer_kernels(m.layer(seq=1, seq_kv=prompt + 1, batch=2, **form))}
    for kv in (prompt + 2, prompt + steps // 2, prompt + steps):
        at = _decode_kernels(m, 2, kv, base)[False]
        fresh = layer_kernels(m.layer(seq=1, seq_kv=kv, batch=2, **form))
        assert [k.cascade for k in at] == [k.cascade for k in fresh]


def test_repeated_layers_and_unchanged_kernels_are_one_simulation():
    choice.clear()
    sim.inference("llama3-8b", H100, prompt=300, output_tokens=9)
    info = choice.simulate.cache_info()
    kernels = len(layer_kernels(workloads.model("llama3-8b").layer(seq=300)))
    # prefill: each kernel's candidates once; decode: 8 attention cores + each other kernel's candidates once
    assert info.misses < 4 * kernels + 8 + 16


def test_what_does_not_fit_is_refused_or_flagged():
    with pytest.raises(sim.MappingError) as info:
        sim.inference("llama3-70b", H100, prompt=1024)
    assert "141.1 GB weights" in str(info.value) and "80 GB of HBM" in str(info.value)
    assert "weights alone do not fit" in str(info.value)
    with pytest.raises(sim.MappingError, match="at most 3 sequences of 131071 tokens fit"):
        sim.inference("llama3-8b", H100, prompt=131070, batch=8, output_tokens=2)
    run = sim.inference("llama3-70b", H100, prompt=64, output_tokens=2, memory_policy="flag")
    assert run.memory.fits is False and run.ttft_s > 0


def test_encoders_and_diffusion_models_have_no_decode():
    run = sim.inference("bert", H100, prompt=512, batch=8)
    assert run.tpot_s is None and run.decode == () and run.memory.kv_cache_bytes == 0
    assert run.tokens_per_s == pytest.approx(8 / run.ttft_s)
    with pytest.raises(sim.MappingError, match="not autoregressive"):
        sim.inference("bert", H100, prompt=512, output_tokens=2)
    with pytest.raises(sim.MappingError, match=r"token layout \(256, 256\) \(65536 tokens\)"):
        sim.inference("flux", H100, prompt=4096)


def test_mla_kv_cache_per_token_is_the_latent_row():
    """DeepSeek-V3 caches (C + ER)·2 B = 1152 B per token per layer, 70,272 B over 61 layers (config_671B.json)."""
    run = sim.inference("deepseek-v3", accel.preset("b200"), prompt=128, output_tokens=2, memory_policy="flag")
    assert run.memory.kv_cache_bytes == (128 + 1) * 61 * (512 + 64) * 2
    assert run.memory.fits is False
