"""The transfers of one chunk of a collective: who sends how many bytes on which unit, after which other
transfers of the same chunk, and which devices hold their result after it. The lowering lists these for every
chunk; the closed form reads them too, so both describe one schedule.

- ring: step s at ring position p forwards (adds to) what position p − 1 sent at step s − 1;
- tree (all-reduce): per node a chain reduces to the node's first device, a binary tree of nodes reduces to the
  root and broadcasts back, and the chain broadcasts; even chunks use the tree, odd ones its mirror image (NCCL's
  double binary tree: each node is interior in at most one of the two, so both halves of the data share the NICs);
- NVLS: every device pushes its chunk into the switch's reduction, then multicasts its reduced 1/G slice;
- direct: all-to-all sends 1/G of the buffer to every peer (nearest first); send/recv sends to the next device.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from sim.dataflows.comm.plan import CommPlan, Hop

__all__ = ["Transfer", "chunk_shapes", "chunk_transfers", "clear_cache"]

_CACHED = 64   # chunk shapes remembered: a choice lists each candidate's a few times (bound, bytes, lowering)


@dataclass(frozen=True)
class Transfer:
    """`nbytes` from `sender` over `hop`, after transfers `deps` of the same chunk (indices), its result held
    then by `receivers`; `stage` is its depth in the chunk's dependency graph (0: waits for nothing)."""
    sender: int
    hop: Hop
    nbytes: float
    deps: tuple[int, ...]
    receivers: tuple[int, ...]
    stage: int


class _Chunk:
    """Collects one chunk's transfers, each placed one stage after its deepest dependency."""

    def __init__(self) -> None:
        self.items: list[Transfer] = []

    def add(self, sender: int, hop: Hop, nbytes: float, deps=(), receivers=()) -> int:
        stage = 1 + max((self.items[d].stage for d in deps), default=-1)
        self.items.append(Transfer(sender, hop, nbytes, tuple(deps), tuple(receivers), stage))
        return len(self.items) - 1


def _ring(plan: CommPlan, k: int) -> list[Transfer]:
    chunk, g, hops = _Chunk(), plan.devices, plan.ring_hops()
    last: list[int | None] = [None] * len(g)
    for s in range(plan.steps):
        done = s == plan.steps - 1
        sent = [chunk.add(d, hops[p], plan.piece_bytes(k), () if s == 0 else (last[(p - 1) % len(g)],),
                          (g[(p + 1) % len(g)],) if done else ()) for p, d in enumerate(g)]
        last = sent
    return chunk.items


def _nvls(plan: CommPlan, k: int) -> list[Transfer]:
    chunk, g = _Chunk(), plan.devices
    pushed = [chunk.add(d, plan.hop(d, d), plan.piece_bytes(k)) for d in g]
    for d in g:
        chunk.add(d, plan.hop(d, d), plan.piece_bytes(k) / len(g), pushed, g)
    return chunk.items


def _direct(plan: CommPlan, k: int) -> list[Transfer]:
    chunk, g = _Chunk(), plan.devices
    peers = range(1, len(g)) if plan.kind == "all_to_all" else (1,)
    for i, d in enumerate(g):
        for j in peers:
            q = g[(i + j) % len(g)]
            chunk.add(d, plan.hop(d, q), plan.piece_bytes(k), (), (q,))
    return chunk.items


def _tree(plan: CommPlan, k: int) -> list[Transfer]:
    chunk, nodes, n = _Chunk(), plan.node_groups(), plan.piece_bytes(k)
    order = list(range(len(nodes))) if k % 2 == 0 else list(reversed(range(len(nodes))))  # tree position → node
    up: dict[int, list[int]] = {}
    for pos in reversed(range(len(nodes))):           # children (higher positions) before parents
        devs = nodes[order[pos]]
        deps: list[int] = []
        for j in range(len(devs) - 1, 0, -1):         # the chain reduces toward the node's first device
            deps = [chunk.add(devs[j], plan.hop(devs[j], devs[j - 1]), n, deps)]
        deps += [t for c in (2 * pos + 1, 2 * pos + 2) if c < len(nodes) for t in up[c]]
        if pos > 0:
            parent = nodes[order[(pos - 1) // 2]][0]
            deps = [chunk.add(devs[0], plan.hop(devs[0], parent, spread=True), n, deps)]
        up[pos] = deps
    held: dict[int, list[int]] = {0: up[0]}
    for pos in range(len(nodes)):                     # broadcast: parents before children
        devs = nodes[order[pos]]
        for c in (2 * pos + 1, 2 * pos + 2):
            if c < len(nodes):
                head = nodes[order[c]][0]
                held[c] = [chunk.add(devs[0], plan.hop(devs[0], head, spread=True), n, held[pos], (head,))]
        deps = held[pos]
        for j in range(1, len(devs)):
            deps = [chunk.add(devs[j - 1], plan.hop(devs[j - 1], devs[j]), n, deps, (devs[j],))]
    _mark_root(chunk, nodes[order[0]][0], up[0])
    return chunk.items


def _mark_root(chunk: _Chunk, root: int, reduced: list[int]) -> None:
    """The root's first device holds the sum when the transfers into it are done: mark them as received by it."""
    for t in reduced:
        chunk.items[t] = Transfer(**{**chunk.items[t].__dict__, "receivers": chunk.items[t].receivers + (root,)})


_BY_ALGORITHM = {"ring": _ring, "nvls": _nvls, "direct": _direct, "tree": _tree}


def chunk_transfers(plan: CommPlan, k: int) -> tuple[Transfer, ...]:
    """The transfers of chunk `k` (dependencies before dependents); chunks of one shape share them."""
    return _listed(dataclasses.replace(plan, order="wave"), plan.shape(k))


@functools.lru_cache(maxsize=_CACHED)
def _listed(plan: CommPlan, shape: tuple[int, bool]) -> tuple[Transfer, ...]:
    """A shape's transfers, from its representative chunk (the last one, or the first of its parity)."""
    parity, last = shape
    return tuple(_BY_ALGORITHM[plan.algorithm](plan, plan.chunks - 1 if last else parity))


def chunk_shapes(plan: CommPlan) -> dict[tuple[int, bool], tuple[int, int]]:
    """Chunks with equal transfers (`CommPlan.shape`): shape → (its first chunk, how many chunks have it)."""
    out: dict[tuple[int, bool], tuple[int, int]] = {}
    for k in sorted({0, 1, plan.chunks - 2, plan.chunks - 1} & set(range(plan.chunks))):
        out.setdefault(plan.shape(k), (k, 0))
    counts: dict[tuple[int, bool], int] = {}
    for key in out:
        parity, last = key
        if last:
            counts[key] = 1
        else:
            body = plan.chunks - 1
            counts[key] = (body + 1 - parity) // 2 if plan.algorithm == "tree" else body
    return {key: (first, counts[key]) for key, (first, _) in out.items()}


def clear_cache() -> None:
    """Forget the remembered chunk shapes (for timing fresh calls)."""
    _listed.cache_clear()
