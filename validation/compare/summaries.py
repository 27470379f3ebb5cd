"""Error summaries: median and max absolute errors per group of points, and the accuracy checks the report applies
(each with its threshold, for all and for held-out points)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

from validation.compare.points import PUBLIC_SUITE
from validation.compare.simulate import Compared

LONG_TOKENS = 1024


@dataclass(frozen=True)
class Summary:
    """n finite errors, their median and max absolute values and their signed median (> 0: the model is slower)."""

    n: int
    median_abs: float | None
    max_abs: float | None
    median: float | None

    def cells(self) -> list[str]:
        """n, median abs, max abs, signed median as table cells."""
        return [str(self.n), pct(self.median_abs), pct(self.max_abs), pct(self.median, signed=True)]

    def record(self) -> dict:
        """The summary as plain data (JSON)."""
        return {"n": self.n, "median_abs": self.median_abs, "max_abs": self.max_abs, "median": self.median}


def summarize(errors: Sequence[float | None]) -> Summary:
    """Summary of the finite errors (None and NaN are skipped)."""
    e = [x for x in errors if x is not None and math.isfinite(x)]
    if not e:
        return Summary(0, None, None, None)
    a = [abs(x) for x in e]
    return Summary(len(e), statistics.median(a), max(a), statistics.median(e))


def pct(x: float | None, signed: bool = False) -> str:
    """A fraction as a percentage cell ("–" for None)."""
    if x is None:
        return "–"
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def num(x: float | None, digits: int = 6) -> str:
    """A number with `digits` significant digits ("" for None)."""
    return "" if x is None else f"{x:.{digits}g}"


def by_group(compared: Sequence[Compared], key: Callable[[Compared], tuple],
             error: Callable[[Compared], float | None]) -> dict[tuple, Summary]:
    """Summaries of the ok points grouped by `key`, in sorted key order."""
    groups: dict[tuple, list] = {}
    for c in compared:
        if c.status == "ok":
            groups.setdefault(key(c), []).append(error(c))
    return {k: summarize(v) for k, v in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))}


def suite_backend(c: Compared) -> tuple:
    """The (suite, backend, dataflow) group of a point."""
    return (c.point.suite, c.point.backend, c.dataflow)


@dataclass(frozen=True)
class Check:
    """An accuracy target: the median absolute time error of the selected points must not exceed `threshold`."""

    name: str
    threshold: float
    select: Callable[[Compared], bool]


def _tokens(c: Compared) -> int:
    return c.point.seq_q or 0


CHECKS = (
    Check("flash attention (flash2), ≥ 1K tokens: median |time error|", 0.10,
          lambda c: c.dataflow == "flash2" and c.point.suite in (PUBLIC_SUITE, "attention")
          and _tokens(c) >= LONG_TOKENS),
    Check("cuDNN attention, ≥ 1K tokens: median |time error|", 0.10,
          lambda c: c.point.backend == "sdpa_cudnn" and c.point.suite == "attention" and _tokens(c) >= LONG_TOKENS),
    Check("decode (flash-decoding, mla-decode): median |time error|", 0.15,
          lambda c: c.point.suite == "decode" and c.dataflow in ("flash-decoding", "mla-decode")),
    Check("local attention (gna): median |time error|", 0.15,
          lambda c: c.point.suite == "local" and c.dataflow == "gna"),
)
RATIO_THRESHOLD = 0.10  # speedup ratios: median and max |ratio error|


def verdict(value: float | None, threshold: float) -> str:
    """pass / fail / no data."""
    if value is None:
        return "no data"
    return "pass" if value <= threshold else "fail"
