"""Which named constants of the GPU model are fitted on which measured subset: the calibration/held-out split.

FIT_GROUPS states, per group, the constants, the dataflow they are fitted through and the subset of points they are
fitted on. Every other simulated point is "held-out", and its error is always reported separately. The same subsets
contain the points the shipped constants were fitted on (`sim.dataflows.gpu.constants.CALIBRATED`:
FA2_MMA_EFFICIENCY on the FlashAttention-2 H100 D=128 non-causal S=16K point, STREAM_EFFICIENCY on the "Standard"
D=128 non-causal S=8K point); the whole row is treated as calibration, so a run without `--fit` also keeps calibration
and held-out points apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from validation.compare.points import PUBLIC_SUITE

if TYPE_CHECKING:
    from validation.compare.simulate import Compared


@dataclass(frozen=True)
class Constant:
    """A calibrated constant of the GPU model (a key of `sim.dataflows.gpu.constants.CALIBRATED`) and its search
    bounds."""

    name: str
    lo: float
    hi: float


@dataclass(frozen=True)
class FitGroup:
    """Constants fitted together through one dataflow on one stated subset of points."""

    constants: tuple[Constant, ...]
    dataflow: str
    subset: str                                    # stated in the report
    select: Callable[["Compared"], bool]


def _flash2_d128(c: "Compared") -> bool:
    p = c.point
    return (c.dataflow == "flash2" and p.backend in ("flash2", "sdpa_flash", "flash_attn")
            and p.suite in (PUBLIC_SUITE, "attention")
            and p.head_dim == 128 and not p.causal)


def _math_d128(c: "Compared") -> bool:
    p = c.point
    return (c.dataflow == "gpu-unfused" and p.backend in ("standard", "sdpa_math")
            and p.suite in (PUBLIC_SUITE, "attention") and p.head_dim == 128 and not p.causal)


FIT_GROUPS: tuple[FitGroup, ...] = (
    FitGroup((Constant("FA2_MMA_EFFICIENCY", 0.3, 1.0),), "flash2",
             "FlashAttention-2 forward, D=128, non-causal, every sequence length (public flash2 rows; harness "
             "attention-suite sdpa_flash and flash_attn package rows: the same kernel)", _flash2_d128),
    FitGroup((Constant("STREAM_EFFICIENCY", 0.2, 1.0),), "gpu-unfused",
             "unfused (\"Standard\" / SDPA math) forward, D=128, non-causal, every sequence length", _math_d128),
)


def role(c: "Compared", groups: Sequence[FitGroup] = FIT_GROUPS) -> str:
    """"calibration" when the point is in a fit subset, else "held-out"."""
    return "calibration" if any(g.select(c) for g in groups) else "held-out"
