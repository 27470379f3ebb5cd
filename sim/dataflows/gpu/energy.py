"""GPU energy beyond a Result's dynamic joules: the board's static power over the run's time, and energy per token
and per FLOP.

`Result.energy_j` counts the dynamic energy of the work a lowering states — every useful op at its unit's energy
per op (tensor MACs by dtype, FMA-pipe and SFU ops with their register accesses) and every byte at its level's
energy per byte (shared memory, L2, HBM); the GPU presets name each figure and its source (`accel.gpus`). Static
power is not an arch field yet, so the GPU presets' figure (`accel.gpus.STATIC_POWER_W`, by preset name; a variant
`h100/sms=264` keeps its base's) is added here: `board_joules = energy_j + static W × latency`.
"""
from __future__ import annotations

from accel import Arch
from accel.gpus import STATIC_POWER_W, TDP_W


def static_power_w(arch: Arch) -> float | None:
    """The static power of a GPU preset (or a variant of one), None for other archs."""
    return STATIC_POWER_W.get(arch.name.split("/")[0])


def tdp_w(arch: Arch) -> float | None:
    """The board power limit of a GPU preset (or a variant of one), None for other archs."""
    return TDP_W.get(arch.name.split("/")[0])


def board_joules(result, arch: Arch) -> float:
    """A Result's dynamic energy plus the board's static power over its latency (dynamic only if none is stated)."""
    return result.energy_j + (static_power_w(arch) or 0.0) * result.latency_s


def board_watts(result, arch: Arch) -> float:
    """Average board power over the run."""
    return board_joules(result, arch) / result.latency_s


def per_token(result, arch: Arch, tokens: int) -> float:
    """Joules per token of `tokens` tokens (queries) processed."""
    return board_joules(result, arch) / tokens


def per_flop(result, arch: Arch, flops: float) -> float:
    """Joules per FLOP."""
    return board_joules(result, arch) / flops
