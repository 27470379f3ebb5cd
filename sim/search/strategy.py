"""How one dataflow's space is searched, from its default mapping.

A space of at most `EXHAUSTIVE_LIMIT` combinations is tried whole. A larger one is searched by steepest descent
from the default: the whole neighbourhood of the current point (every axis at each of its other values, the
others kept) is tried as one batch, and the point moves to the best neighbour only on a strict improvement of the
objective (on a tie it stays, so a plateau of equal values cannot drift it into a corner); steps repeat until no
neighbour improves or the dataflow's share of the budget is spent. The search is local: a large space's best is
the best the descent reaches. Moving to the best neighbour rather than along one axis at a time costs more
candidates per step but does not lock in an early move on one axis (e.g. more CTAs per SM) that rules out a
better setting of another (larger tiles no longer fit); and a whole neighbourhood is one batch an executor can
spread over its workers.
"""
from __future__ import annotations

import itertools
from typing import Any

from sim.dataflows.registry import Dataflow
from sim.search.spaces import search_axes, space_size
from sim.search.trials import Trials

EXHAUSTIVE_LIMIT = 64       # a space of up to this many combinations is searched exhaustively


def search_space(trials: Trials, df: Dataflow, share: int, default_row: int) -> None:
    """Search `df`'s space within `share` candidates, starting from the default mapping's row."""
    first = trials.rows[default_row]
    if first.status not in ("ok", "pruned"):
        return   # the default could not run: there is no point to start from
    axes, notes = search_axes(df, trials.workload, trials.arch, first.params, trials.constraints)
    trials.notes.extend(notes)
    if not axes:
        return
    names = sorted(axes)
    base = {k: first.params[k] for k in names}
    trials.alias(df, base, default_row)          # the default, written as a full assignment, is done
    if space_size(axes) <= EXHAUSTIVE_LIMIT:
        trials.run(df, [dict(zip(names, vs)) for vs in itertools.product(*(axes[k] for k in names))], share)
        return
    _descend(trials, df, share, axes, base, trials.value(default_row))


def _descend(trials: Trials, df: Dataflow, share: int, axes: dict[str, list[Any]], point: dict[str, Any],
             value: float | None) -> None:
    """Steepest descent with strict improvement (see the module docstring)."""
    while trials.spent.get(df.name, 0) < share:
        around = [{**point, k: v} for k in sorted(axes) for v in axes[k] if v != point[k]]
        trials.run(df, around, share)
        best = None
        for pins in around:
            v = trials.value(trials.row_of(df, pins))
            if v is not None and (value is None or v < value) and (best is None or v < best[1]):
                best = (pins, v)
        if best is None:
            return
        point, value = best
