"""Content-dependent block-sparse attention: every (head, query block) attends its own set of key blocks, chosen from
the data — dynamic mask attention, and top-k block selection as in DeepSeek's sparse attention (DSA, DeepSeek-V3.2)
and MoBA (Lu et al., 2025), where each query block keeps the k key blocks its pooled scores rank highest.

The selection is data-dependent control computed outside the cascade (as MoH's router): `topk_blocks` computes a
keep table from Q and K; the builder takes a table ([H][QB][KB], or one [QB][KB] table shared by the heads) or,
for accounting without data, `top_k` with a deterministic table. Inputs are MHA's; the mask is one block table over
a (head, query) rank HM viewed as `split hm -> h, m`, so block rows run head by head (block size must divide M).
Selection is block-granular: a kept block is attended whole.
"""
from __future__ import annotations

import numpy as np

from workloads.build import cascade
from workloads.errors import CascadeError, quote
from workloads.ir import Cascade
from workloads.variants.cores import core, key_tile_size, positive
from workloads.variants.moa import MOA_INPUTS
from workloads.variants.registry import register_variant

MAX_TABLE = 1 << 20    # entries of the keep table (it is spelled out in the mask text)


def topk_blocks(q: np.ndarray, k: np.ndarray, block: int, top_k: int) -> tuple:
    """The keep table [H][QB][KB] of top-k block selection from Q [H,M,E] and K [H,P,E] (one batch element): each
    query block keeps the `top_k` key blocks whose mean key scores highest against its mean query (MoBA's gate;
    ties go to the earlier block)."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    if q.ndim != 3 or k.ndim != 3 or q.shape[0] != k.shape[0] or q.shape[2] != k.shape[2]:
        raise CascadeError(f"topk_blocks: need Q [H,M,E] and K [H,P,E], got shapes {q.shape} and {k.shape}")
    positive(block=block, top_k=top_k)
    pool = lambda x: np.stack([x[:, i:i + block].mean(axis=1) for i in range(0, x.shape[1], block)], axis=1)
    scores = np.einsum("hie,hje->hij", pool(q), pool(k))
    if top_k > scores.shape[2]:
        raise CascadeError(f"topk_blocks: top_k={top_k} > {scores.shape[2]} key blocks")
    order = np.argsort(-scores, axis=2, kind="stable")[:, :, :top_k]
    keep = np.zeros(scores.shape, dtype=np.int64)
    np.put_along_axis(keep, order, 1, axis=2)
    return tuple(tuple(tuple(int(x) for x in row) for row in head) for head in keep)


def strided_table(heads: int, q_blocks: int, kv_blocks: int, top_k: int) -> tuple:
    """A deterministic table for accounting: query block i of head h keeps key blocks (i + h + ⌊t·KB/k⌋) mod KB,
    t < k (spread over the keys, different per head, every row exactly k distinct blocks)."""
    return tuple(tuple(tuple(int(j in {(i + h + t * kv_blocks // top_k) % kv_blocks for t in range(top_k)})
                             for j in range(kv_blocks)) for i in range(q_blocks)) for h in range(heads))


def _table(keep, top_k, heads: int, q_blocks: int, kv_blocks: int) -> tuple:
    if (keep is None) == (top_k is None):
        raise CascadeError("dynamic: give either keep (a [H][QB][KB] or [QB][KB] 0/1 table) or top_k")
    if keep is None:
        positive(top_k=top_k)
        if top_k > kv_blocks:
            raise CascadeError(f"dynamic: top_k={top_k} > {kv_blocks} key blocks")
        return strided_table(heads, q_blocks, kv_blocks, top_k)
    arr = np.asarray(keep, dtype=object)
    if arr.shape == (q_blocks, kv_blocks):
        arr = np.broadcast_to(arr, (heads, q_blocks, kv_blocks))
    if arr.shape != (heads, q_blocks, kv_blocks):
        raise CascadeError(f"dynamic: keep must be [{heads}][{q_blocks}][{kv_blocks}] (heads × query blocks × key "
                           f"blocks) or [{q_blocks}][{kv_blocks}], got shape {arr.shape}")
    if not all(x in (0, 1) and not isinstance(x, float) for x in arr.ravel().tolist()):
        raise CascadeError("dynamic: keep entries must be 0/1 or True/False")
    table = arr.astype(bool)
    empty = np.argwhere(~table.any(axis=2))
    if len(empty):
        h, i = empty[0]
        raise CascadeError(f"dynamic: head {h}, query block {i} keeps no key block (a softmax over no keys is "
                           f"undefined)")
    return tuple(tuple(tuple(int(x) for x in row) for row in head) for head in table)


@register_variant("dynamic")
def dynamic(*, batch: int, heads: int, seq: int, head_dim: int, block: int, keep=None, top_k: int | None = None,
            seq_kv: int | None = None, head_dim_v: int | None = None, softmax: str = "1pass",
            key_tile: int | None = None, dtype: str = "fp16") -> Cascade:
    """Block-sparse attention with a keep table per (head, query block) of `block`×`block` blocks."""
    seq_kv = seq if seq_kv is None else seq_kv
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    positive(batch=batch, heads=heads, seq=seq, seq_kv=seq_kv, head_dim=head_dim, head_dim_v=head_dim_v,
             block=block)
    if seq % block:
        raise CascadeError(f"dynamic: block={block} must divide seq={seq} (query blocks may not straddle heads)")
    q_blocks, kv_blocks = seq // block, -(-seq_kv // block)
    if heads * q_blocks * kv_blocks > MAX_TABLE:
        raise CascadeError(f"dynamic: a keep table of {heads}×{q_blocks}×{kv_blocks} entries; at most {MAX_TABLE} "
                           f"(use larger blocks)")
    table = _table(keep, top_k, heads, q_blocks, kv_blocks)
    rows = tuple(row for head in table for row in head)
    sizes = {"B": batch, "H": heads, "M": seq, "HM": heads * seq, "P": seq_kv, "E": head_dim, "F": head_dim_v}
    text = (MOA_INPUTS + f"mask hm, p: blocks(q_block={block}, kv_block={block}, keep={rows})\n"
            + core(softmax, "b,h", "b,h"))
    if softmax != "3pass":
        sizes["P0"] = key_tile_size(key_tile, seq_kv)
    return cascade(text, sizes, name=f"dynamic_{softmax}", dtype=dtype)
