"""`Plan`: how a layer or a model is split over the devices of a cluster — tensor (tp), context (cp), expert (ep)
and pipeline (pp) degrees and the options that pick among their forms — parsed strictly from a dict, a CLI string
(`"tp=2,cp=4,ep=8"`) or a `Plan`.

Degrees: `tp` splits heads and FFN columns (Megatron, Shoeybi et al., arXiv 1909.08053); `cp` splits the sequence
(`cp_kind`: ring attention, Liu et al., arXiv 2310.01889; striped, Brandon et al., arXiv 2311.09431; zig-zag, as
Llama 3's context parallelism; Ulysses, Jacobs et al., arXiv 2309.14509); `ep` spreads the routed experts
(DeepSeek-V3, arXiv 2412.19437); `pp` cuts a model's layers into stages (inference, one batch in flight);
`micro_batches` splits
each device's batch into interleaved micro-batches whose collectives overlap each other's kernels. `attention="tpla"` runs
MLA's latent sliced over the tp devices (TPLA, Tang et al., arXiv 2508.15881) instead of its heads.
`disaggregation`: `"prefill-decode"` runs prefill and decode on separate pools and moves the KV cache between them
(Zhong et al., DistServe, OSDI 2024); `"core-attention"` ships core attention as token-level tasks to attention
servers (DistCA, arXiv 2510.18121).

Devices a plan uses: `tp × cp × pp`, or `ep × pp` when `ep` is larger (the attention then runs `ep ÷ (tp × cp)`
data-parallel replicas, each on its share of the batch, as DeepSeek-V3 serves its MoE layers).
"""
from __future__ import annotations

import difflib
import numbers
from dataclasses import dataclass, fields
from typing import Any, Mapping

from workloads.errors import quote

from sim.ir import MappingError

DEGREES = ("tp", "cp", "ep", "pp", "micro_batches")
CHOICES = {"attention": ("tp", "tpla"), "cp_kind": ("ring", "striped", "zigzag", "ulysses"),
           "disaggregation": ("none", "prefill-decode", "core-attention")}
MAX_DEGREE = 1 << 16          # devices one plan may name along one degree (bounds every per-device loop)
MAX_MICRO_BATCHES = 8         # micro-batches interleaved in one step (DeepSeek-V3 overlaps two)
MAX_PLAN_CHARS = 256          # characters of a plan string parsed at most
MAX_KEYS = 16                 # entries of a plan dict read at most


@dataclass(frozen=True)
class Plan:
    """A parallel plan (see the module docstring). `Plan()` is the trivial plan: one device, nothing split."""
    tp: int = 1
    cp: int = 1
    ep: int = 1
    pp: int = 1
    attention: str = "tp"
    cp_kind: str = "ring"
    disaggregation: str = "none"
    micro_batches: int = 1

    def __post_init__(self) -> None:
        for name in DEGREES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_DEGREE:
                raise MappingError(f"plan: {name} must be an integer in [1, {MAX_DEGREE}], got {quote(value)}")
            object.__setattr__(self, name, int(value))
        for name, valid in CHOICES.items():
            if getattr(self, name) not in valid:
                raise MappingError(f"plan: {name} must be one of {', '.join(valid)}, got {quote(getattr(self, name))}")
        if self.micro_batches > MAX_MICRO_BATCHES:
            raise MappingError(f"plan: micro_batches must be at most {MAX_MICRO_BATCHES}, got {self.micro_batches}")
        if self.attention == "tpla" and self.tp == 1:
            raise MappingError("plan: attention='tpla' slices MLA's latent over the tp devices: it needs tp ≥ 2")
        if self.ep > 1 and self.ep % (self.tp * self.cp) and (self.tp * self.cp) % self.ep:
            raise MappingError(f"plan: ep={self.ep} and tp×cp={self.tp * self.cp} must divide one another (the "
                               f"expert group spans whole attention groups, or lies inside one)")

    @property
    def devices(self) -> int:
        """Devices the plan uses (see the module docstring)."""
        return max(self.tp * self.cp, self.ep) * self.pp

    @property
    def replicas(self) -> int:
        """Data-parallel attention replicas inside the expert group (1 unless ep > tp × cp)."""
        return max(self.ep // (self.tp * self.cp), 1)

    @property
    def trivial(self) -> bool:
        """Whether the plan splits nothing (one device, one micro-batch, no disaggregation)."""
        return self.devices == 1 and self.micro_batches == 1 and self.disaggregation == "none"

    def __str__(self) -> str:
        parts = [f"{k}={getattr(self, k)}" for k in DEGREES[:4]]
        parts += [f"micro_batches={self.micro_batches}"] if self.micro_batches > 1 else []
        parts += [f"{k}={getattr(self, k)}" for k, valid in CHOICES.items() if getattr(self, k) != valid[0]]
        return ",".join(parts)


FIELDS = tuple(f.name for f in fields(Plan))


def plan(value: Any) -> Plan:
    """A `Plan` from a Plan, None (the trivial plan), a dict `{"tp": 2, ...}` or a string `"tp=2,cp=4"`; unknown
    keys, non-positive or non-integer degrees and unknown options are refused naming them and the valid ones."""
    if value is None:
        return Plan()
    if isinstance(value, Plan):
        return value
    if isinstance(value, str):
        return Plan(**_keys(_parse(value)))
    if isinstance(value, Mapping):
        if len(value) > MAX_KEYS:
            raise MappingError(f"plan: {len(value)} entries; a plan has at most {len(FIELDS)} ({', '.join(FIELDS)})")
        return Plan(**_keys(dict(value)))
    raise MappingError(f"plan: expected a dict such as {{'tp': 2}}, a string such as 'tp=2,cp=4' or a sim.parallel.Plan, "
                       f"got {type(value).__name__}")


def _parse(text: str) -> dict[str, Any]:
    if len(text) > MAX_PLAN_CHARS:
        raise MappingError(f"plan: {len(text)} characters; a plan string has at most {MAX_PLAN_CHARS}")
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not raw:
            raise MappingError(f"plan: {quote(item)} is not key=value (e.g. 'tp=2,cp=4,ep=8')")
        if key in out:
            raise MappingError(f"plan: {quote(key)} is given twice")
        out[key] = _degree(key, raw) if key in DEGREES else raw
    return out


def _degree(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise MappingError(f"plan: {key} must be a positive integer, got {quote(raw)}") from None


def _keys(given: dict) -> dict:
    for key in given:
        if key not in FIELDS:
            near = difflib.get_close_matches(str(key), FIELDS, n=1) if len(str(key)) < 64 else []
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise MappingError(f"plan: unknown key {quote(key)}{hint} (valid: {', '.join(FIELDS)})")
    return given


def check_fits(p: Plan, cluster_size: int, cluster_name: str) -> None:
    """Refuse a plan that needs more devices than the cluster has, naming both."""
    if p.devices > cluster_size:
        raise MappingError(f"plan {p}: needs {p.devices} devices ({_formula(p)}) but {cluster_name} has "
                           f"{cluster_size}")


def _formula(p: Plan) -> str:
    inner = f"tp×cp={p.tp * p.cp}" if p.tp * p.cp >= p.ep else f"ep={p.ep}"
    return f"{inner} × pp={p.pp}"


def divides(name: str, size: int, degree_name: str, degree: int, where: str) -> None:
    """Refuse a degree that does not divide a dimension it splits (e.g. heads by tp)."""
    if size % degree:
        fits = [d for d in range(1, min(size, MAX_KEYS * 4) + 1) if size % d == 0]
        raise MappingError(f"plan: {degree_name}={degree} does not divide {where}'s {name} ({size}); "
                           f"{degree_name} may be {', '.join(map(str, fits[:12]))}")

