"""Whether a model and its KV cache fit the device's outermost memory, and what would.

Memory counts the weights (`workloads.models.footprint`) and the KV cache at the end of the run; activations and
workspace are not counted. An arch whose outermost level states no capacity (the spatial presets' DRAM) cannot
be checked: the answer is `None` with that reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from accel import Arch

from sim.ir import MappingError

GB = 1e9


@dataclass(frozen=True)
class Memory:
    """Bytes of weights and KV cache, the device's capacity (None: not stated), whether they fit (None: unknown),
    and the sentence that says so."""
    weight_bytes: int
    kv_cache_bytes: int
    capacity_bytes: int | None
    fits: bool | None
    note: str

    @property
    def total_bytes(self) -> int:
        """Weights + KV cache."""
        return self.weight_bytes + self.kv_cache_bytes


def memory(model: str, arch: Arch, weights: int, kv: int, batch: int, tokens: int) -> Memory:
    """The memory record of `model` with `kv` bytes of cache for `batch` sequences of `tokens` tokens."""
    level = arch.levels[0]
    cap = level.capacity_bytes
    need = weights + kv
    if cap is None:
        return Memory(weights, kv, None, None, f"{arch.name}'s {level.name} states no capacity: {need / GB:.4g} GB "
                                               f"needed ({weights / GB:.4g} GB weights + {kv / GB:.4g} GB KV cache)")
    if need <= cap:
        return Memory(weights, kv, cap, True, f"{need / GB:.4g} GB of {cap / GB:.4g} GB {level.name} "
                                              f"({weights / GB:.4g} GB weights + {kv / GB:.4g} GB KV cache)")
    if weights > cap:
        hint = "the weights alone do not fit one device"
    else:
        per_seq = kv / batch if batch else 0
        most = int((cap - weights) // per_seq) if per_seq else 0
        hint = (f"at most {most} sequence{'s' * (most != 1)} of {tokens} tokens fit" if most else
                f"not one sequence of {tokens} tokens fits beside the weights")
    return Memory(weights, kv, cap, False, f"{model} needs {need / GB:.4g} GB ({weights / GB:.4g} GB weights + "
                                           f"{kv / GB:.4g} GB KV cache for {batch} × {tokens} tokens) but {arch.name} "
                                           f"has {cap / GB:.4g} GB of {level.name}: {hint}")


def check(m: Memory, policy: str) -> None:
    """Refuse (policy "refuse") a run that does not fit; "flag" lets it run and records `fits=False`."""
    if policy not in ("refuse", "flag"):
        raise MappingError(f"inference: memory must be 'refuse' or 'flag', got {str(policy)[:40]!r}")
    if m.fits is False and policy == "refuse":
        raise MappingError(f"inference: {m.note} (memory='flag' simulates it anyway)")
