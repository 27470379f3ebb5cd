"""`sim.training_step`: forward + backward (+ recomputed forwards) + Adam update of a layer and a model through the
whole-model path, activation memory with and without recomputation, refusals naming the limit."""
from __future__ import annotations

import math

import pytest

import accel
import sim
import workloads
from sim.dataflows.gpu.backward import derivation
from sim.ir.mapping import MappingError
from sim.models.training import ADAM_PASS_BYTES, ADAM_STATE_BYTES, backward_kernels, stream_kernel
from workloads.models.kernels import layer_kernels

import sys
import pathlib
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "sim"))
import backward_standin  # noqa: E402

H100, A100 = accel.preset("h100"), accel.preset("a100")


@pytest.fixture(autouse=True)
def _backward(monkeypatch):
    """The checkout's `workloads.backward`, or the stand-in where it has none yet."""
    if derivation() is None:
        monkeypatch.setattr(workloads, "backward", backward_standin.backward, raising=False)


def llama_layer(seq=1024, batch=1):
    return workloads.model("llama3-8b").layer(seq=seq, batch=batch)


def test_layer_step_runs_every_kernel_forward_and_backward():
    layer = llama_layer()
    r = sim.training_step(layer, H100, seq=1024, batch=1, recompute=False)
    fwd = {k.name for k in layer_kernels(layer)}
    assert set(r.forward.kernels) >= fwd - {"attention"}
    names = set(r.backward.kernels)
    for k in layer_kernels(layer):
        if k.kind == "linear":
            assert {f"{k.name}.dX", f"{k.name}.dW"} <= names
    assert any(n.startswith("attention.bwd.dq_dk_dv") for n in names)
    assert "attention.bwd.sum_dk_dv" in names                     # grouped heads: the sharing heads summed
    assert math.isclose(r.step_s, r.forward.latency_s + r.backward.latency_s + r.optimizer.latency_s)
    assert r.backward.latency_s > r.forward.latency_s
    assert r.parameters == workloads.models.footprint.parameters(layer)


def test_backward_gemms_have_the_forward_gemms_shapes_transposed():
    k = next(k for k in layer_kernels(llama_layer()) if k.name == "down")
    dx, dw = backward_kernels(k, H100)
    m, n, kk = (k.cascade.sizes[r] for r in "MNK")
    assert (dx.cascade.sizes["M"], dx.cascade.sizes["N"], dx.cascade.sizes["K"]) == (m, kk, n)
    assert (dw.cascade.sizes["M"], dw.cascade.sizes["N"], dw.cascade.sizes["K"]) == (kk, n, m)
    assert workloads.flops(dx.cascade) == workloads.flops(dw.cascade) == workloads.flops(k.cascade)


def test_recompute_runs_the_forward_again_and_saves_memory_on_a_model():
    kw = dict(seq=1024, batch=4)
    stored = sim.training_step("bert", H100, recompute=False, **kw)
    again = sim.training_step("bert", H100, recompute=True, **kw)
    assert again.activations["recompute"] < again.activations["stored"] / 4
    assert again.activation_bytes == again.activations["recompute"]
    assert stored.activation_bytes == stored.activations["stored"]
    assert again.backward.latency_s > stored.backward.latency_s
    assert any(n.startswith("layers.recompute.") for n in again.backward.kernels)
    assert math.isclose(again.forward.latency_s, stored.forward.latency_s)
    assert again.memory_bytes == again.state_bytes + again.activation_bytes
    assert again.state_bytes == ADAM_STATE_BYTES * again.parameters


def test_optimizer_moves_the_adam_bytes():
    r = sim.training_step("t5", H100, seq=512, batch=2)
    hbm = sum(v for k, v in r.optimizer.bytes_per_level.items() if k.startswith("HBM"))
    assert math.isclose(hbm, 2 * ADAM_PASS_BYTES * r.parameters, rel_tol=2e-3)


def test_stream_stand_in_reads_and_writes_the_stated_bytes():
    k = stream_kernel("x", "norm", 3_000_000, 1_000_000, "bf16")
    c = k.cascade
    read = sum(workloads.elements(c, t) for t in c.inputs) * 2
    write = workloads.elements(c, c.output) * 2
    assert math.isclose(read, 3_000_000, rel_tol=2e-3) and math.isclose(write, 1_000_000, rel_tol=2e-3)


def test_a_model_that_does_not_fit_is_refused_naming_the_limit():
    with pytest.raises(MappingError, match=r"has 80 GB of HBM \(the states alone exceed it\)"):
        sim.training_step("llama3-8b", H100, seq=2048, batch=1)
    with pytest.raises(MappingError, match="recompute=True needs"):
        sim.training_step("xlm", A100, seq=4096, batch=64, recompute=False)


def test_str_reports_memory_with_and_without_recomputation():
    text = str(sim.training_step("t5", A100, seq=512, batch=2))
    assert "stored" in text and "with recomputation" in text and "tokens/s" in text


def test_elementwise_backward_is_the_derived_cascade_where_a_stream_runs_it():
    kernels = {k.name: k for k in layer_kernels(llama_layer())}
    (act,) = backward_kernels(kernels["act"], H100)
    assert act.form == "backward" and act.cascade == workloads.backward(kernels["act"].cascade)
    (norm,) = backward_kernels(kernels["attn_norm"], H100)
    assert norm.form == "backward stream"       # the derived norm backward re-reads its rows: not one stream
