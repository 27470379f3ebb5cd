"""GPU energy beyond a Result's dynamic joules: the board's static power over the run's time, and energy per token
and per FLOP.

`Result.energy_j` counts the dynamic energy of the work a lowering states — every useful op at its unit's energy
per op (tensor MACs by dtype, FMA-pipe and SFU ops with their register accesses) and every byte at its level's
energy per byte (shared memory, L2, HBM) — and the arch's static power over the latency (`Arch.static_power_w`,
the "static" entry of `Result.energy_breakdown`); the GPU presets name each figure and its source (`accel.gpus`).
So a Result's energy is the board's: `board_joules` is `energy_j`.
"""
from __future__ import annotations

from accel import Arch
from accel.gpus import TDP_W


def static_power_w(arch: Arch) -> float | None:
    """The arch's static power (None when it states none)."""
    return arch.static_power_w or None


def tdp_w(arch: Arch) -> float | None:
    """The board power limit of a GPU preset (or a variant of one), None for other archs."""
    return TDP_W.get(arch.name.split("/")[0])


def board_joules(result, arch: Arch) -> float:
    """A Result's energy: dynamic work plus the arch's static power over its latency."""
    return result.energy_j


def board_watts(result, arch: Arch) -> float:
    """Average board power over the run."""
    return board_joules(result, arch) / result.latency_s


def per_token(result, arch: Arch, tokens: int) -> float:
    """Joules per token of `tokens` tokens (queries) processed."""
    return board_joules(result, arch) / tokens


def per_flop(result, arch: Arch, flops: float) -> float:
    """Joules per FLOP."""
    return board_joules(result, arch) / flops
