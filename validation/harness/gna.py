"""Generalized Neighborhood Attention (GNA) mask predicate, exactly as NATTEN's kernels define it.

Sources: Hassani et al., "Neighborhood Attention Transformer" (CVPR 2023) for neighborhood attention and its
border-shifted windows; Hassani et al., "Generalized Neighborhood Attention: Multi-dimensional Sparse Attention at the
Speed of Light" (2025) for the stride, and NATTEN's mask code for dilation and per-dimension causality. Per dimension,
independently, a key is attended iff the rule holds in every dimension. Tokens are flattened row-major (last spatial
dimension fastest).

The harness keeps its own copy of the predicate on purpose (it runs on a device machine with only torch and numpy);
`tests/validation/test_flop_convention.py` checks that it attends exactly the pairs of `workloads`' Neighborhood mask.

`gna_mask` is written once over an array module `xp` (numpy or torch) so the same code builds a dense boolean mask on
the host (tests, small checks) and serves as FlexAttention's `mask_mod` on the device (where indices are 0-d tensors
and the parameters may be captured tensors, so one compiled kernel serves several windows and strides).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from validation.errors import ValidationError


def _where(xp: Any, cond: Any, a: Any, b: Any) -> Any:
    return xp.where(cond, a, b)


def gna_dim_ok(xp: Any, qc: Any, kc: Any, length: Any, window: Any, stride: Any, dilation: Any, causal: Any) -> Any:
    """The 1-D rule on coordinates `qc` (query) and `kc` (key) of one dimension; returns a boolean array.

    Dilation `d` splits the coordinates into `d` interleaved groups (`c % d`); the rule applies within a group on `c // d`,
    whose length is `ceil((length - group) / d)`.
    """
    group = qc % dilation
    same_group = (kc % dilation) == group
    i = qc // dilation
    j = kc // dilation
    n = (length - group + dilation - 1) // dilation  # tokens in this dilation group
    w, s = window, stride
    # non-causal: the window is centred on the stride group's leader and shifted at borders to keep exactly w keys
    w_left = w // 2
    w_right = w // 2 + (w % 2 - 1)
    leader = _where(xp, (i // s) * s + s // 2 < n - 1, (i // s) * s + s // 2, n - 1)
    start = _where(xp, leader - w_left > 0, leader - w_left, 0)
    start = start + _where(xp, leader + w_right >= n, n - w_right - leader - 1, 0)
    nc_ok = (j >= start) & (j < start + w)
    # causal: from the group's last query back w keys, up to and including the query itself
    c_leader = _where(xp, (i // s) * s + s - 1 < n - 1, (i // s) * s + s - 1, n - 1)
    c_start = _where(xp, c_leader - w + 1 > 0, c_leader - w + 1, 0)
    c_ok = (j >= c_start) & (j <= i)
    return same_group & _where(xp, causal, c_ok, nc_ok)


def unflatten(xp: Any, idx: Any, spatial: Sequence[Any]) -> list[Any]:
    """Row-major coordinates of flattened token indices `idx` in a grid of shape `spatial`."""
    coords = []
    inner = 1
    for length in reversed(list(spatial)):
        coords.append((idx // inner) % length)
        inner = inner * length
    return coords[::-1]


def gna_mask(q_idx: Any, kv_idx: Any, spatial: Sequence[Any], window: Sequence[Any], stride: Sequence[Any],
             dilation: Sequence[Any], causal: Sequence[Any], xp: Any = np) -> Any:
    """True where flattened query `q_idx` attends flattened key `kv_idx` (broadcasting, like any elementwise op)."""
    qs = unflatten(xp, q_idx, spatial)
    ks = unflatten(xp, kv_idx, spatial)
    ok = None
    for d in range(len(spatial)):
        dim_ok = gna_dim_ok(xp, qs[d], ks[d], spatial[d], window[d], stride[d], dilation[d], causal[d])
        ok = dim_ok if ok is None else ok & dim_ok
    return ok


def check_gna(spatial: Sequence[int], window: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> str | None:
    """None when NATTEN accepts the configuration, else the reason (stride ≤ window, window·dilation ≤ input)."""
    lens = {len(spatial), len(window), len(stride), len(dilation)}
    if len(lens) != 1:
        return f"spatial/window/stride/dilation must have the same rank, got {spatial}, {window}, {stride}, {dilation}"
    for d, (n, w, s, dl) in enumerate(zip(spatial, window, stride, dilation)):
        if min(n, w, s, dl) < 1:
            return f"dim {d}: all sizes must be >= 1"
        if s > w:
            return f"dim {d}: stride {s} > window {w} (NATTEN needs stride ≤ window in every dimension)"
        if w * dl > n:
            return f"dim {d}: window {w} x dilation {dl} > input {n} (NATTEN needs window·dilation ≤ input)"
    return None


def dense_gna_mask(spatial: Sequence[int], window: Sequence[int], stride: Sequence[int], dilation: Sequence[int] | None = None,
                   causal: Sequence[bool] | None = None) -> np.ndarray:
    """The full [N, N] boolean mask (N = prod(spatial)) for small grids, built on the host with numpy."""
    nd = len(spatial)
    dilation = tuple(dilation) if dilation is not None else (1,) * nd
    causal = tuple(causal) if causal is not None else (False,) * nd
    reason = check_gna(spatial, window, stride, dilation)
    if reason is not None:
        raise ValidationError(reason)
    n = int(np.prod(spatial))
    idx = np.arange(n, dtype=np.int64)
    return gna_mask(idx[:, None], idx[None, :], spatial, window, stride, dilation, causal, xp=np)


def flex_mask_mod(spatial: Sequence[int], window: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                  causal: Sequence[bool], device: Any, rank: int = 3) -> Any:
    """A FlexAttention `mask_mod(b, h, q_idx, kv_idx)` for this GNA configuration.

    The parameters are captured as int64 tensors (not Python constants) and lower ranks are padded to `rank` dimensions
    with leading size-1 dimensions (window 1, stride 1: always true), so every mask of one token count shares one
    compiled kernel instead of recompiling per window, stride or rank.
    """
    import torch

    pad = rank - len(spatial)
    if pad < 0:
        raise ValidationError(f"a {len(spatial)}-D layout has more than the {rank} dimensions one compiled mask serves")
    rows = [[1] * pad + list(spatial), [1] * pad + list(window), [1] * pad + list(stride), [1] * pad + list(dilation),
            [0] * pad + [int(c) for c in causal]]
    params = torch.tensor(rows, dtype=torch.int64, device=device)

    def mask_mod(b, h, q_idx, kv_idx):  # noqa: ARG001 - FlexAttention's signature
        return gna_mask(q_idx, kv_idx, [params[0, d] for d in range(rank)], [params[1, d] for d in range(rank)],
                        [params[2, d] for d in range(rank)], [params[3, d] for d in range(rank)],
                        [params[4, d] != 0 for d in range(rank)], xp=torch)

    return mask_mod


def _dim_counts(length: int, window: int, stride: int, dilation: int, causal: bool) -> np.ndarray:
    """Keys attended by each coordinate of one dimension (exactly `window` unless causal)."""
    c = np.arange(length, dtype=np.int64)
    if not causal:
        return np.full(length, window, dtype=np.int64)
    group = c % dilation
    i = c // dilation
    n = (length - group + dilation - 1) // dilation
    leader = np.minimum((i // stride) * stride + stride - 1, n - 1)
    start = np.maximum(leader - window + 1, 0)
    return i - start + 1


def gna_pairs(spatial: Sequence[int], window: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
              causal: Sequence[bool]) -> int:
    """Attended (query, key) pairs of the whole mask. The mask is a product over dimensions, so the count is the
    product of per-dimension sums; non-causal it is N·prod(window)."""
    total = 1
    for n, w, s, d, c in zip(spatial, window, stride, dilation, causal):
        total *= int(_dim_counts(n, w, s, d, c).sum())
    return total
