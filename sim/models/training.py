"""`sim.training_step`: one training step of a layer or a whole model on one device — forward, backward and the
optimizer update — with its activation memory with and without recomputation.

The forward runs the layer's kernels as `evaluate_layer` does. The backward runs, in reverse order, each kernel's
backward kernels on the whole-model path (`choice.run_kernel`: each on its fastest supporting dataflow):

| forward kernel | backward kernels |
|---|---|
| GEMM `Z[m,n] = A[m,k]·B[k,n]` (fused, grouped, the LM head) | dA = dZ·Bᵀ (an M×K×N GEMM) and dB = Aᵀ·dZ (K×N×M) |
| attention core | `workloads.backward(core)`, FlashAttention's form, on `flash2-bwd` / `flash3-bwd` |
| norm, RoPE, residual, activation, router, embedding, combine | `workloads.backward` of the kernel where a streaming dataflow runs it exactly (RoPE, residuals, activations); else one streaming pass that reads the kernel's inputs and its output's gradient and writes each input's gradient (`stream_kernel`: the bytes exactly, a stand-in cascade for the arithmetic; norms, whose derived backward re-reads a row) |

With `recompute=True` (full activation recomputation per layer, Korthikanti et al., "Reducing Activation
Recomputation in Large Transformer Models", MLSys 2023) each layer keeps only its input and runs its forward again
before its backward; without it every kernel keeps the token-indexed inputs its backward reads (the attention core
also its output and log-sum-exp, FlashAttention's saved tensors). The optimizer is mixed-precision Adam (ZeRO,
Rajbhandari et al., SC 2020, §3): `ADAM_STATE_BYTES` per parameter held, one streaming pass reading and writing
`ADAM_PASS_BYTES` per parameter. A step that does not fit the device's outermost memory is refused naming the limit.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping as MappingType

import workloads
from accel import Arch
from workloads import CascadeError, Model
from workloads.frozen import FrozenDict
from workloads.models.footprint import head_kernels, layer_counts, model_parameters, parameters
from workloads.models.kernels import Kernel, batched_gemm, layer_kernels
from workloads.models.parts import Layer
from workloads.models.streams import token_ranks

from sim.dataflows.gpu.backward import derivation
from sim.ir import MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.dataflows.registry import DATAFLOWS
from sim.models.choice import STREAMS, KernelRun, run_kernel
from sim.models.compose import LayerResult, compose
from sim.models.layers import kernel_pins

GB = 1e9
FP32_BYTES = 4
# Mixed-precision Adam (ZeRO §3): 16-bit weight (2) and gradient (2), fp32 master weight (4), momentum (4) and
# variance (4) per parameter; the update reads the gradient, master, momentum and variance (14 B) and writes
# master, momentum, variance and the 16-bit weight (14 B).
ADAM_STATE_BYTES = 16
ADAM_PASS_BYTES = 14
STREAM_ROW = 1024           # elements per row of a stand-in streaming cascade (its row fits any shared memory)
MAX_TOKENS = 1 << 40


@dataclass(frozen=True)
class TrainingStep:
    """One training step: `forward`, `backward` (with the recomputed forwards when `recompute`) and `optimizer`
    results; `step_s` their sum. Memory: `state_bytes` (weights, gradients, Adam states), `activation_bytes` at this
    step's setting and `activations` = {"stored": without recomputation, "recompute": with it}; `memory_bytes` the
    peak held, `capacity_bytes` the device's (None: not stated)."""
    workload: str
    arch: str
    batch: int
    seq: int
    recompute: bool
    forward: LayerResult
    backward: LayerResult
    optimizer: LayerResult
    step_s: float
    parameters: int
    state_bytes: int
    activation_bytes: int
    activations: FrozenDict
    memory_bytes: int
    capacity_bytes: int | None
    notes: tuple[str, ...] = ()

    @property
    def tokens_per_s(self) -> float:
        """Training tokens per second: batch × seq ÷ the step."""
        return self.batch * self.seq / self.step_s

    def __str__(self) -> str:
        act = self.activations
        return "\n".join([
            f"training step of {self.workload} on {self.arch}: batch {self.batch} × {self.seq} tokens, "
            f"recompute={self.recompute}",
            f"  {self.step_s * 1e3:.4g} ms (forward {self.forward.latency_s * 1e3:.4g}, backward "
            f"{self.backward.latency_s * 1e3:.4g}, optimizer {self.optimizer.latency_s * 1e3:.4g}), "
            f"{self.tokens_per_s:.4g} tokens/s",
            f"  memory {self.memory_bytes / GB:.4g} GB: states {self.state_bytes / GB:.4g} GB "
            f"({self.parameters} parameters × {ADAM_STATE_BYTES} B), activations {act['stored'] / GB:.4g} GB "
            f"stored / {act['recompute'] / GB:.4g} GB with recomputation"] + [f"  note: {n}" for n in self.notes])


def stream_kernel(name: str, kind: str, read: int, write: int, dtype: str, einsums=(), shares=()) -> Kernel:
    """A streaming kernel reading `read` and writing `write` bytes (read ≥ write): `Y[n,j] = A[n,j] · T[n]`, `T[n] =
    Σ_k B[n,k]`, rows of STREAM_ROW elements (one Einsum `Y = A·A` when nothing more is read)."""
    elem = workloads.DTYPE_BYTES[dtype]
    w = max(1, -(-write // elem))
    rows = max(1, -(-w // STREAM_ROW))
    j = -(-w // rows)
    k = -(-max(0, read - write) // elem // rows)
    if k:
        text = "input A[n,j], B[n,k]\nT[n] = B[n,k]\nY[n,j] = A[n,j] * T[n]"
        sizes = {"N": rows, "J": j, "K": k}
    else:
        text, sizes = "input A[n,j]\nY[n,j] = A[n,j] * A[n,j]", {"N": rows, "J": j}
    c = workloads.cascade(text, sizes, name=f"{name}.stream", dtype=dtype)
    return Kernel(name, kind, tuple(einsums), c, "backward stream", tuple(shares))


def _shares(k: Kernel) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The forward Einsums a backward kernel differentiates and its work's share of each (by their forward ops)."""
    if k.shares:
        return k.einsums, k.shares
    counts = workloads.op_counts(k.cascade)
    work = [sum(counts.get(e, {}).values()) for e in k.einsums]
    total = sum(work)
    return k.einsums, tuple(w / total if total else 1.0 / len(work) for w in work)


def _gemm_dims(c) -> tuple[int, int, int, int]:
    s = c.sizes
    return s.get("X", 1), s["M"], s["N"], s["K"]


def backward_kernels(k: Kernel, arch: Arch) -> tuple[Kernel, ...]:
    """The kernels that compute the gradients of one forward kernel on `arch` (see the module docstring)."""
    einsums, shares = _shares(k)
    rep = lambda name, kind, c, form: Kernel(name, kind, einsums, c, form, shares)  # noqa: E731
    c = k.cascade
    if k.form in ("fused GEMM", "grouped GEMM") or k.kind == "linear":
        x, m, n, kk = _gemm_dims(c)
        return (rep(f"{k.name}.dX", "linear", batched_gemm(x, m, kk, n, c.dtype), "backward GEMM"),
                rep(f"{k.name}.dW", "linear", batched_gemm(x, kk, n, m, c.dtype), "backward GEMM"))
    if k.kind == "attention":
        derive = derivation()
        if derive is None:
            raise MappingError("training_step: workloads.backward is not available (the attention backward needs it)")
        try:
            return (rep(f"{k.name}.bwd", "attention", derive(c), "backward"),)
        except CascadeError as err:
            raise MappingError(f"training_step: the backward of kernel {k.name}: {err}") from None
    derived = _streamed_backward(c, arch)
    if derived is not None:
        return (rep(f"{k.name}.bwd", k.kind, derived, "backward"),)
    read = sum(_bytes(c, t) for t in c.inputs) + _bytes(c, c.output)
    write = sum(_bytes(c, t) for t in c.inputs)
    return (stream_kernel(f"{k.name}.bwd", k.kind, read, write, c.dtype, einsums, shares),)


def _streamed_backward(c, arch: Arch):
    """`workloads.backward(c)` where a streaming dataflow runs it exactly on `arch`, else None."""
    derive = derivation()
    if derive is None:
        return None
    try:
        bc = derive(c)
    except CascadeError:
        return None
    return bc if any(DATAFLOWS[n].supports(bc, arch) is None for n in STREAMS if n in DATAFLOWS) else None


def _bytes(c, tensor: str) -> int:
    return workloads.elements(c, tensor) * workloads.DTYPE_BYTES[c.dtype]


def saved_bytes(k: Kernel) -> int:
    """Bytes one forward kernel keeps for its backward without recomputation: its token-indexed inputs (a tensor
    two kernels read is kept by each: no sharing between kernels is modelled); the attention core also its output
    and its fp32 row log-sum-exp."""
    c = k.cascade
    if k.form in ("fused GEMM", "grouped GEMM") or k.kind == "linear":
        x, m, _, kk = _gemm_dims(c)
        return x * m * kk * workloads.DTYPE_BYTES[c.dtype]     # the activation A; B is a weight
    tokens = token_ranks(c)
    kept = sum(_bytes(c, t) for t in c.inputs if set(c.tensors[t].ranks) & tokens)
    if k.kind == "attention":
        rows = workloads.elements(c, c.output) // c.sizes.get("F", 1)
        kept += _bytes(c, c.output) + rows * FP32_BYTES
    return kept


@dataclass(frozen=True)
class Stack:
    """What one step trains: the layer kinds (prefix, kernels, layer input bytes, count), the kernels before and
    after them (embedding; final norm and LM head over every token) and the parameters."""
    name: str
    kinds: tuple[tuple[str, tuple[Kernel, ...], int, int], ...]
    before: tuple[Kernel, ...]
    after: tuple[Kernel, ...]
    parameters: int
    dtype: str


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_TOKENS:
        raise MappingError(f"training_step: {name} must be an integer in [1, {MAX_TOKENS}], got {str(value)[:40]!r}")
    return int(value)


def _layer_input(layer: Layer) -> int:
    tokens = token_ranks(layer)
    return sum(_bytes(layer, t) for t in layer.inputs if set(layer.tensors[t].ranks) & tokens)


def stack(model_or_layer: Any, seq: int, batch: int) -> Stack:
    """The layers and heads one step trains (a layer: itself, sized as given; a model: each layer kind)."""
    if isinstance(model_or_layer, Layer):
        s = model_or_layer.sizes
        if (s.get("B"), s.get("M")) != (batch, seq):
            raise MappingError(f"training_step: layer {model_or_layer.name} is built for batch {s.get('B')} × seq "
                               f"{s.get('M')}, not batch={batch}, seq={seq} (build it with those sizes)")
        kernels = layer_kernels(model_or_layer)
        return Stack(model_or_layer.name, (("", kernels, _layer_input(model_or_layer), 1),), (), (),
                     parameters(model_or_layer), model_or_layer.dtype)
    m = model_or_layer
    if isinstance(m, str):
        try:
            m = workloads.model(m)
        except CascadeError as err:
            raise MappingError(f"training_step: {err}") from None
    if not isinstance(m, Model):
        raise MappingError(f"training_step: expected a model name, a workloads.Model or a layer "
                           f"(model.layer(...)), got {type(model_or_layer).__name__}")
    if m.variant in ("na", "gna") and seq != math.prod(m.spatial):
        raise MappingError(f"training_step: {m.name} attends over its token layout {m.spatial} "
                           f"({math.prod(m.spatial)} tokens); seq={seq} must equal that")
    counts = layer_counts(m)
    kinds = []
    for dense, count in counts.items():
        try:
            layer = m.layer(batch=batch) if m.variant in ("na", "gna") else \
                m.layer(seq=seq, batch=batch, **({"dense": True} if dense else {}))
        except CascadeError as err:
            raise MappingError(f"training_step: {err}") from None
        prefix = "layers." if len(counts) == 1 else "dense." if dense else f"{m.ffn}."
        kinds.append((prefix, layer_kernels(layer), _layer_input(layer), count))
    before, after = head_kernels(m, batch * seq, 1)     # the LM head over every token (training's loss)
    return Stack(m.name, tuple(kinds), before, after, model_parameters(m), m.dtype)


def _runs(kernels, arch: Arch, pins, options: Options, prefix: str = "", count: int = 1) -> list[KernelRun]:
    out = []
    for k in kernels:
        try:
            r = run_kernel(k, arch, pins.get(k.name), options)
        except MappingError as err:
            raise MappingError(f"training_step on {arch.name}: {err}") from None
        out.append(KernelRun(dataclasses.replace(k, name=f"{prefix}{k.name}"), r.dataflow, r.result,
                             r.launches * count))
    return out


def _flops(runs: list[KernelRun]) -> float:
    return sum(workloads.flops(r.kernel.cascade) * r.launches for r in runs if r.kernel.form != "backward stream")


def _phases(st: Stack, arch: Arch, recompute: bool, constraints, options: Options):
    """(forward runs, backward runs): the backward in reverse kernel order, each layer's forward again first when
    recomputing."""
    every = [k for _, ks, _, _ in st.kinds for k in ks] + list(st.before + st.after)
    pins = kernel_pins(tuple(every), constraints, strict=False)
    fwd = _runs(st.before, arch, pins, options)
    bwd_heads = [b for k in reversed(st.after) for b in backward_kernels(k, arch)]
    bwd = _runs(bwd_heads, arch, pins, options)
    for prefix, kernels, _, count in st.kinds:
        fwd += _runs(kernels, arch, pins, options, prefix, count)
    for prefix, kernels, _, count in reversed(st.kinds):
        if recompute:
            bwd += _runs(kernels, arch, pins, options, f"{prefix}recompute.", count)
        bwd += _runs([b for k in reversed(kernels) for b in backward_kernels(k, arch)], arch, pins, options, prefix,
                     count)
    fwd += _runs(st.after, arch, pins, options)
    bwd += _runs([b for k in reversed(st.before) for b in backward_kernels(k, arch)], arch, pins, options)
    return fwd, bwd


def activations(st: Stack) -> dict[str, int]:
    """Activation bytes held at the start of the backward: "stored" (every kernel keeps what its backward reads) and
    "recompute" (each layer keeps its input; one layer's recomputed activations live at a time)."""
    heads = sum(saved_bytes(k) for k in st.before + st.after)
    stored = sum(count * sum(saved_bytes(k) for k in ks) for _, ks, _, count in st.kinds)
    inputs = sum(count * inp for _, _, inp, count in st.kinds)
    one = max(sum(saved_bytes(k) for k in ks) for _, ks, _, _ in st.kinds)
    return {"stored": stored + heads, "recompute": inputs + one + heads}


def _fit(st: Stack, arch: Arch, acts: dict[str, int], recompute: bool) -> tuple[int, int | None]:
    level = arch.levels[0]
    cap = level.capacity_bytes
    states = st.parameters * ADAM_STATE_BYTES
    need = states + acts["recompute" if recompute else "stored"]
    if cap is not None and need > cap:
        hint = ("recompute=True needs " + f"{(states + acts['recompute']) / GB:.4g} GB" if not recompute else
                "the states alone exceed it" if states > cap else "use a smaller batch or shorter sequences")
        raise MappingError(f"training_step: {st.name} needs {need / GB:.4g} GB ({states / GB:.4g} GB of weights, "
                           f"gradients and Adam states at {ADAM_STATE_BYTES} B × {st.parameters} parameters + "
                           f"{(need - states) / GB:.4g} GB of activations) but {arch.name} has {cap / GB:.4g} GB of "
                           f"{level.name} ({hint})")
    return need, cap


def training_step(model_or_layer: Any, arch: Arch, *, seq: int, batch: int, recompute: bool = True,
                  constraints: MappingType[str, Any] | None = None, options: Options | None = None) -> TrainingStep:
    """One training step of a layer or a model on `arch` (see the module docstring); `constraints` pin kernels by
    name or kind, as for a layer."""
    if not isinstance(arch, Arch):
        raise MappingError(f"training_step: arch must be an accel.Arch, got {type(arch).__name__} "
                           f"(e.g. accel.preset('h100'))")
    if not isinstance(recompute, bool):
        raise MappingError(f"training_step: recompute must be True or False, got {str(recompute)[:40]!r}")
    options = DEFAULT_OPTIONS if options is None else options
    if not isinstance(options, Options):
        raise MappingError(f"training_step: options must be sim.Options, got {type(options).__name__}")
    seq, batch = _count("seq", seq), _count("batch", batch)
    st = stack(model_or_layer, seq, batch)
    acts = activations(st)
    need, cap = _fit(st, arch, acts, recompute)
    fwd, bwd = _phases(st, arch, recompute, constraints, options)
    opt = _runs([stream_kernel("adam", "optimizer", ADAM_PASS_BYTES * st.parameters,
                               ADAM_PASS_BYTES * st.parameters, "bf16")], arch, {}, options)
    notes = (f"Adam: {ADAM_STATE_BYTES} B per parameter held, {2 * ADAM_PASS_BYTES} B moved per parameter by the "
             f"update", "the loss and the logits' gradient are not modelled")
    results = [compose(f"{st.name}.{phase}", _flops(runs), arch, runs, options, ()) for phase, runs in
               (("forward", fwd), ("backward", bwd), ("optimizer", opt))]
    step = sum(r.latency_s for r in results)
    return TrainingStep(st.name, arch.name, batch, seq, recompute, *results, step, st.parameters,
                        st.parameters * ADAM_STATE_BYTES, acts["recompute" if recompute else "stored"],
                        FrozenDict(acts), need, cap, notes)
