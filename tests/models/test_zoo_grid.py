"""Every model of the zoo on every preset: its prefill and decode layers and an inference run each simulate, or
are refused with a reason that names the limit (memory) or the kernel no dataflow runs."""
import pytest

import accel
import sim
import workloads

PROMPT = 256
REFUSALS = ("runs on no dataflow", "of HBM")   # a kernel nothing runs; weights + KV cache beyond the device


def layers(m):
    if m.variant in ("na", "gna"):
        return {"prefill": m.layer()}
    form = {"form": "absorbed"} if m.variant == "mla" else {}
    return {"prefill": m.layer(seq=PROMPT, **form), "decode": m.layer(seq=1, seq_kv=PROMPT + 1, batch=4)}


def request(m):
    if m.variant in ("na", "gna"):
        import math
        return dict(prompt=math.prod(m.spatial), output_tokens=1)
    return dict(prompt=PROMPT, output_tokens=3 if m.autoregressive else 1)


@pytest.mark.parametrize("arch", sorted(accel.PRESETS))
@pytest.mark.parametrize("name", sorted(workloads.MODELS))
def test_every_model_on_every_preset_runs_or_says_why(name, arch):
    m, a = workloads.model(name), accel.preset(arch)
    outcomes = {}
    for phase, c in layers(m).items():
        try:
            r = sim.evaluate(c, a)
        except sim.MappingError as err:
            assert any(f in str(err) for f in REFUSALS) and name in str(err), str(err)
            outcomes[phase] = "refused"
            continue
        assert r.latency_s == pytest.approx(sum(r.kernels.values()), rel=1e-12)
        outcomes[phase] = "ran"
    try:
        run = sim.inference(m, a, **request(m))
    except sim.MappingError as err:
        assert any(f in str(err) for f in REFUSALS), str(err)
        return
    assert outcomes["prefill"] == "ran"
    assert run.ttft_s == pytest.approx(run.prefill.latency_s) and run.ttft_s > 0
    assert (run.tpot_s is None) == (not m.autoregressive)
    assert run.memory.fits in (True, None)
    assert run.tokens_per_s > 0


def test_what_runs_where():
    """GPUs run every model's layers (DeepSeek-V3 in MLA's absorbed form); the spatial arrays are FP16 designs
    without rsqrt, GELU or SiLU, so every whole layer is refused there; DeepSeek-V3 does not fit one device and
    Llama-3-70B fits only the B200."""
    fits = {}
    for arch in ("h100", "h200", "b200"):
        for name in ("llama3-70b", "deepseek-v3"):
            m = workloads.model(name)
            try:
                sim.inference(m, accel.preset(arch), prompt=PROMPT, output_tokens=2)
                fits[(name, arch)] = True
            except sim.MappingError as err:
                assert "of HBM" in str(err)
                fits[(name, arch)] = False
    assert fits == {("llama3-70b", "h100"): False, ("llama3-70b", "h200"): False, ("llama3-70b", "b200"): True,
                    ("deepseek-v3", "h100"): False, ("deepseek-v3", "h200"): False, ("deepseek-v3", "b200"): False}
