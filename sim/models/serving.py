"""`sim.inference`: a model serving one batch of requests on one device — prefill, then decode with the KV cache
growing — as time to first token, time per output token, tokens/s, J/token and memory.

Prefill runs the prompt through every layer (one simulation per layer kind: the model's layers are identical, a
DeepSeek-style model has two kinds), with the embedding lookup before and the final norm and LM head on each
sequence's last position after (decoders with a vocabulary). It produces the first token. Decode step i (i = 0,
…) feeds one token per sequence and attends to P = prompt + i + 1 cached keys (its own key included); N output
tokens take N − 1 steps. Every step is simulated exactly: its GEMMs, norms and heads do not depend on P and are
the same simulations each step (remembered, `choice`); its attention kernel is simulated at its own P, on the
attention dataflow chosen at the first step (the fastest there; a serving engine launches one kernel family).
MLA models run the absorbed form in prefill too, as DeepSeek-V3's reference inference does (`attn_impl="absorb"`).
Encoders and diffusion models (non-causal) produce one output per sequence: one forward, no decode.
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
from workloads.models.footprint import head_kernels, kv_bytes_per_token, layer_counts, weight_bytes
from workloads.models.kernels import Kernel, layer_kernels
from workloads.variants.cores import key_tile_size

from sim.ir import MappingError
from sim.ir.options import DEFAULT_OPTIONS, Options
from sim.models.choice import KernelRun, run_kernel
from sim.models.compose import LayerResult, compose
from sim.models.layers import kernel_pins
from sim.models.memory import Memory, check, memory

MAX_DECODE_STEPS = 1 << 14   # decode steps one call simulates (each is one attention simulation)


@dataclass(frozen=True)
class Inference:
    """One batch served on one device. `ttft_s`: prefill (the first token); `tpot_s`: the mean decode step (None
    without decode; with output_tokens=1, the step that would come next); `tokens_per_s`: batch × output tokens ÷
    (prefill + the decode steps); `energy_per_token_j`: the run's energy ÷ output tokens (None where the arch
    has no energy model); `memory_bytes`: weights + the KV cache at the end (`memory` says whether it fits);
    `prefill` and `decode` (one per simulated step, KV lengths `decode_kv`): the per-phase results."""
    model: str
    arch: str
    prompt: int
    batch: int
    output_tokens: int
    ttft_s: float
    tpot_s: float | None
    tokens_per_s: float
    energy_per_token_j: float | None
    memory_bytes: int
    memory: Memory
    prefill: LayerResult
    decode: tuple[LayerResult, ...]
    decode_kv: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def phases(self) -> FrozenDict:
        """The per-phase results: "prefill", and "decode" (one per step)."""
        return FrozenDict({"prefill": self.prefill, "decode": self.decode})

    def __str__(self) -> str:
        tpot = f"{self.tpot_s * 1e3:.4g} ms" if self.tpot_s is not None else "- (no decode)"
        energy = f"{self.energy_per_token_j:.4g} J" if self.energy_per_token_j is not None else "- (not modelled)"
        return "\n".join([f"{self.model} on {self.arch}: batch {self.batch}, prompt {self.prompt}, "
                          f"{self.output_tokens} output token{'s' * (self.output_tokens > 1)}",
                          f"  TTFT {self.ttft_s * 1e3:.4g} ms, TPOT {tpot}, {self.tokens_per_s:.4g} tokens/s, "
                          f"energy/token {energy}", f"  memory: {self.memory.note}"]
                         + [f"  note: {n}" for n in self.notes])


def resolve_model(model: Any) -> Model:
    """A model given by name or as a `workloads.Model`; MappingError otherwise (what `inference` accepts)."""
    if isinstance(model, str):
        try:
            return workloads.model(model)
        except CascadeError as err:
            raise MappingError(f"inference: {err}") from None
    if not isinstance(model, Model):
        raise MappingError(f"inference: model must be a model name or a workloads.Model, got {type(model).__name__}")
    return model


def _count(name: str, value: Any, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= limit:
        raise MappingError(f"inference: {name} must be an integer in [1, {limit}], got {str(value)[:40]!r}")
    return int(value)


def _check_request(m: Model, arch: Arch, prompt: Any, batch: Any, output_tokens: Any) -> tuple[int, int, int]:
    if not isinstance(arch, Arch):
        raise MappingError(f"inference: arch must be an accel.Arch, got {type(arch).__name__} (e.g. accel.preset('h100'))")
    prompt, batch = _count("prompt", prompt, 1 << 40), _count("batch", batch, 1 << 20)
    out = _count("output_tokens", output_tokens, MAX_DECODE_STEPS)
    if m.variant in ("na", "gna") and prompt != math.prod(m.spatial):
        raise MappingError(f"inference: {m.name} attends over its token layout {m.spatial} "
                           f"({math.prod(m.spatial)} tokens); prompt={prompt} must equal that")
    if not m.autoregressive and out != 1:
        raise MappingError(f"inference: {m.name} is not autoregressive (non-causal attention): it produces one output "
                           f"per sequence, so output_tokens must be 1, got {out}")
    return prompt, batch, out


def _form(m: Model) -> dict:
    return {"form": "absorbed"} if m.variant == "mla" else {}


def _layer(m: Model, batch: int, seq: int, seq_kv: int | None, dense: bool):
    if m.variant in ("na", "gna"):
        return m.layer(batch=batch)
    kw = {"dense": True} if dense else {}
    return m.layer(seq=seq, batch=batch, seq_kv=seq_kv, **kw, **_form(m))


def _runs(kernels, arch: Arch, constraints: MappingType[str, Any] | None, options: Options) -> list[KernelRun]:
    pins = kernel_pins(kernels, constraints, strict=False)
    return [run_kernel(k, arch, pins.get(k.name), options) for k in kernels]


def _model_result(m: Model, arch: Arch, groups: list[tuple[str, list[KernelRun], int]], flops: float,
                  options: Options, phase: str) -> LayerResult:
    """A whole phase: each group's kernel runs repeated over its layers, named `group.kernel`."""
    runs = [KernelRun(dataclasses.replace(r.kernel, name=f"{prefix}{r.kernel.name}"), r.dataflow, r.result,
                      r.launches * count) for prefix, group, count in groups for r in group]
    layers = ", ".join(f"{n} {p.rstrip('.')}" for p, _, n in groups if p)
    return compose(f"{m.name}.{phase}", flops, arch, runs, options, (f"{phase} of {m.name}: {layers}",))


def _prefixes(m: Model) -> dict[bool, str]:
    counts = layer_counts(m)
    return {dense: ("layers." if len(counts) == 1 else "dense." if dense else f"{m.ffn}.") for dense in counts}


def _phase(m: Model, arch: Arch, batch: int, seq: int, seq_kv: int | None, options: Options,
           constraints: MappingType[str, Any] | None, kernels: dict[bool, tuple[Kernel, ...]] | None = None,
           attention: MappingType[bool, str] | None = None) -> tuple[LayerResult, dict[bool, str]]:
    """One forward over `seq` new tokens per sequence (`seq_kv` cached keys in decode): each layer kind's kernels
    (given, or from its layer) and the heads, composed; `attention` pins each layer kind's attention dataflow.
    Returns the phase and each layer kind's attention dataflow."""
    before, after = head_kernels(m, batch, seq)
    groups, flops, chosen = [("", _runs(before, arch, constraints, options), 1)], 0.0, {}
    for dense, count in layer_counts(m).items():
        ks = kernels[dense] if kernels is not None else layer_kernels(_layer(m, batch, seq, seq_kv, dense))
        pins = dict(constraints or {})
        if attention is not None and "attention" not in pins:
            pins["attention"] = {"dataflow": attention[dense]}
        runs = _runs(ks, arch, pins, options)
        chosen[dense] = next((r.dataflow for r in runs if r.kernel.kind == "attention"), "-")
        groups.append((_prefixes(m)[dense], runs, count))
        flops += count * sum(workloads.flops(k.cascade) for k in ks)
    groups.append(("", _runs(after, arch, constraints, options), 1))
    flops += sum(workloads.flops(k.cascade) for k in before + after)
    return _model_result(m, arch, groups, flops, options, "prefill" if seq_kv is None else f"decode@{seq_kv}"), chosen


def _decode_kernels(m: Model, batch: int, kv: int, base: dict[bool, tuple[Kernel, ...]]) -> dict:
    """The decode layers' kernels at KV length `kv`: those of the first step with the attention core at `kv` (the
    only kernel that depends on it): the first step's core rebuilt with P = kv while its key tile stays the
    builder's default (`key_tile_size`), else built anew."""
    out = {}
    for dense, kernels in base.items():
        core = next(k.cascade for k in kernels if k.kind == "attention")
        sizes = {r: n for r, n in core.sizes.items() if r != "P1"}
        if sizes.get("P0", key_tile_size(None, kv)) == key_tile_size(None, kv):
            core = workloads.rebuild(core, sizes={**sizes, "P": kv})
        else:
            core = m.attention(seq=1, seq_kv=kv, batch=batch, **_form(m))
        out[dense] = tuple(dataclasses.replace(k, cascade=core) if k.kind == "attention" else k for k in kernels)
    return out


def _energy_modelled(arch: Arch) -> bool:
    return any(u.energy_pj_per_op for u in arch.units) or any(
        lv.read_energy_pj_per_byte or lv.write_energy_pj_per_byte for lv in arch.levels)


def inference(model: Any, arch: Arch, *, prompt: int, batch: int = 1, output_tokens: int = 1,
              memory_policy: str = "refuse", constraints: MappingType[str, Any] | None = None,
              options: Options | None = None) -> Inference:
    """Serve `batch` sequences of `prompt` tokens, generating `output_tokens` each (see the module docstring).
    A run whose weights and KV cache do not fit the device is refused naming the limit (`memory_policy="flag"`
    simulates it and records `memory.fits=False`); `constraints` pin kernels by name or kind, as for a layer."""
    m = resolve_model(model)
    prompt, batch, out = _check_request(m, arch, prompt, batch, output_tokens)
    options = DEFAULT_OPTIONS if options is None else options
    steps = tuple(prompt + i + 1 for i in range(max(out - 1, 1))) if m.autoregressive else ()
    per_token = kv_bytes_per_token(_layer(m, batch, 1, prompt + 1, False)) if steps else 0.0
    cached = prompt + out - 1
    mem = memory(m.name, arch, weight_bytes(m), int(math.ceil(batch * cached * per_token * m.layers)), batch, cached)
    check(mem, memory_policy)
    prefill, _ = _phase(m, arch, batch, prompt, None, options, constraints)
    decode: list[LayerResult] = []
    if steps:
        base = {dense: layer_kernels(_layer(m, batch, 1, steps[0], dense)) for dense in layer_counts(m)}
        first, chosen = _phase(m, arch, batch, 1, steps[0], options, constraints, kernels=base)
        decode.append(first)
        for kv in steps[1:]:
            decode.append(_phase(m, arch, batch, 1, kv, options, constraints, _decode_kernels(m, batch, kv, base),
                                 chosen)[0])
    return _record(m, arch, prompt, batch, out, mem, prefill, tuple(decode), steps)


def _record(m: Model, arch: Arch, prompt: int, batch: int, out: int, mem: Memory, prefill: LayerResult,
            decode: tuple[LayerResult, ...], steps: tuple[int, ...]) -> Inference:
    counted = decode[:out - 1]
    total = prefill.latency_s + sum(r.latency_s for r in counted)
    energy = prefill.energy_j + sum(r.energy_j for r in counted)
    tpot = sum(r.latency_s for r in decode) / len(decode) if decode else None
    notes = (f"KV cache {mem.kv_cache_bytes / max(batch * max(prompt + out - 1, 1), 1):.4g} B per token (all "
             f"layers)",) if steps else ("not autoregressive: one forward per sequence, no decode",)
    return Inference(m.name, arch.name, prompt, batch, out, prefill.latency_s, tpot, batch * out / total,
                     energy / (batch * out) if _energy_modelled(arch) else None, mem.total_bytes, mem, prefill,
                     decode, steps, notes)
