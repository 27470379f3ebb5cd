"""What a sweep sends to an executor: a chunk of cells with the settings they share, pickled once for its token.

Dask's `Client.submit` (and `client.get_executor()`) names each task by a token of its arguments, and for objects it
has no rule for, `dask.base.tokenize` walks every field of every nested dataclass and pickles each leaf: for a
chunk of cascades and architectures that cost more client CPU than the cells themselves (7.5 s for 300 FuseMax
cells on 2 cores, where the workers computed for 18 s). A `Chunk` gives its token from one pickle of itself.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chunk:
    """Consecutive cells of a sweep and the settings every cell of it uses."""
    cells: tuple
    settings: Any

    def __dask_tokenize__(self) -> str:
        """A content token (equal chunks, equal tokens) from one pickle of the chunk."""
        return hashlib.sha1(pickle.dumps((self.cells, self.settings), protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()

    def __len__(self) -> int:
        return len(self.cells)


def cut(cells: list, settings: Any, tasks: int) -> list[Chunk]:
    """`cells` cut into at most `tasks` chunks of consecutive cells, each with `settings`."""
    size = max(1, -(-len(cells) // max(tasks, 1)))
    return [Chunk(tuple(cells[i:i + size]), settings) for i in range(0, len(cells), size)]
