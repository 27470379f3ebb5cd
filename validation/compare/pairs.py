"""Speedup pairs: for every two measured points that differ only in the fields a rule varies, speedup = time of the
baseline / time of the variant, measured and simulated; the ratio error = simulated / measured speedup − 1. The FLOP
counts cancel, so the same error holds for throughput ratios."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from validation.compare.points import DTYPES, PUBLIC_SUITE, Point
from validation.compare.simulate import Compared

KEY_FIELDS = ("device", "suite", "backend", "form", "dtype", "pass_", "batch", "heads", "kv_heads", "seq_q", "seq_kv",
              "head_dim", "head_dim_v", "causal", "layout", "window", "stride", "dilation", "m", "n", "k")


@dataclass(frozen=True)
class PairRule:
    """Which measured points pair as (baseline, variant), and the fields allowed to differ between them."""

    name: str
    base: Callable[[Point], bool]
    variant: Callable[[Point], bool]
    vary: tuple[str, ...]          # fields that may differ between baseline and variant


def _is(field: str, *values) -> Callable[[Point], bool]:
    return lambda p: getattr(p, field) in values


PAIR_RULES: tuple[PairRule, ...] = (
    PairRule("causal speedup (non-causal time / causal time)", lambda p: not p.causal and not p.window,
             lambda p: p.causal and not p.window, ("causal",)),
    PairRule("D=128 vs D=64 (time D64 / time D128, same hidden size)", _is("head_dim", 64), _is("head_dim", 128),
             ("head_dim", "head_dim_v", "heads", "kv_heads")),
    PairRule("D=256 vs D=128 (time D128 / time D256, same hidden size)", _is("head_dim", 128), _is("head_dim", 256),
             ("head_dim", "head_dim_v", "heads", "kv_heads")),
    PairRule("flash vs unfused (FA2 / Standard, SDPA flash / math)", _is("backend", "standard", "sdpa_math"),
             _is("backend", "flash2", "sdpa_flash"), ("backend",)),
    PairRule("cuDNN vs flash (time flash / time cuDNN)", _is("backend", "sdpa_flash"), _is("backend", "sdpa_cudnn"),
             ("backend",)),
    PairRule("FlashAttention-3 vs -2 (time FA2 / time FA3, the packages)", _is("backend", "flash_attn"),
             _is("backend", "flash_attn3"), ("backend",)),
    PairRule("GQA/MQA vs MHA (time MHA / time GQA)", lambda p: p.kv_heads is not None and p.kv_heads == p.heads,
             lambda p: p.kv_heads is not None and p.heads is not None and p.kv_heads < p.heads, ("kv_heads",)),
    PairRule("GNA vs dense (time dense flash / time local)",
             lambda p: p.form == "dense_sdpa" and p.backend == "sdpa_flash", _is("form", "gna_flex", "gna_natten"),
             ("form", "backend", "window", "stride", "dilation")),
    PairRule("split-KV vs SDPA flash at decode (time SDPA / time split-KV)",
             lambda p: p.suite == "decode" and p.backend == "sdpa_flash", _is("backend", "split_kv_torch"),
             ("backend", "form")),
    PairRule("decode: 4 query tokens vs 1 (time q1 / time q4)", lambda p: p.suite == "decode" and p.seq_q == 1,
             lambda p: p.suite == "decode" and p.seq_q == 4, ("seq_q",)),
    PairRule("MLA absorbed vs naive prefill SDPA (time naive / time absorbed)", _is("form", "mla_naive_sdpa"),
             _is("form", "mla_absorbed_sdpa"), ("form", "kv_heads", "head_dim", "head_dim_v")),
)


@dataclass(frozen=True)
class Pair:
    """A (baseline, variant) pair of compared points under one rule, with measured and simulated speedups."""

    rule: str
    base: Compared
    variant: Compared

    @property
    def label(self) -> str:
        """What changes from the baseline to the variant."""
        b, v = self.base.point, self.variant.point
        if b.case == v.case:
            text = f"{b.case}: {b.backend} → {v.backend}"
        elif b.backend == v.backend:
            text = f"{b.backend}: {b.case} → {v.case}"
        else:
            text = f"{b.backend}/{b.case} → {v.backend}/{v.case}"
        return f"{text} [{b.dtype}]" if b.suite != PUBLIC_SUITE else text

    @property
    def short(self) -> str:
        """The baseline alone (the rule names the variant): for bar-chart ticks."""
        b = self.base.point
        if b.suite == PUBLIC_SUITE:
            return b.case
        return f"{b.case} {b.backend.removeprefix('sdpa_')} {DTYPES.get(b.dtype, b.dtype)}"

    @property
    def short_variant(self) -> str:
        """The variant alone, for ticks where one baseline has several variants."""
        v = self.variant.point
        return v.case if v.suite == PUBLIC_SUITE else \
            f"{v.case} {v.backend.removeprefix('sdpa_')} {DTYPES.get(v.dtype, v.dtype)}"

    @property
    def measured(self) -> float:
        """Measured speedup: baseline time / variant time."""
        return self.base.point.measured_ms / self.variant.point.measured_ms

    def _sim(self, attr: str) -> float | None:
        b, v = getattr(self.base, attr), getattr(self.variant, attr)
        return b / v if b and v else None

    @property
    def simulated(self) -> float | None:
        """Simulated speedup (None without both simulated times)."""
        return self._sim("sim_ms")

    @property
    def simulated_fit(self) -> float | None:
        """Simulated speedup with the refitted constants."""
        return self._sim("sim_ms_fit")

    @property
    def error(self) -> float | None:
        """Ratio error: simulated / measured speedup − 1."""
        s = self.simulated
        return s / self.measured - 1.0 if s else None

    @property
    def error_fit(self) -> float | None:
        """Ratio error with the refitted constants."""
        s = self.simulated_fit
        return s / self.measured - 1.0 if s else None


def pairs(compared: Sequence[Compared], rules: Sequence[PairRule] = PAIR_RULES) -> list[Pair]:
    """Every (baseline, variant) pair of measured points that the rules allow."""
    measured = [c for c in compared if c.point.measured_ms]
    out: list[Pair] = []
    for rule in rules:
        keep = tuple(f for f in KEY_FIELDS if f not in rule.vary)
        buckets: dict[tuple, list] = {}
        for c in measured:
            buckets.setdefault(tuple(getattr(c.point, f) for f in keep), []).append(c)
        for bucket in buckets.values():
            for b in bucket:
                if rule.base(b.point):
                    out += [Pair(rule.name, b, v) for v in bucket if v is not b and rule.variant(v.point)]
    return out
