"""Random tile programs for the engine tests: small, with every feature the schedulers must agree on."""

from __future__ import annotations

import numpy as np

from sim.ir.program import Program, ProgramBuilder, ProgramError


def random_program(seed: int, *, max_repeat: int = 6, max_ops: int = 8) -> Program:
    """Small random program: memory and compute units, deps to earlier ops and to the previous iteration,
    producer/consumer buffer pairs (op i acquires, op j >= i of the same iteration releases), barriers."""
    rng = np.random.default_rng(seed)
    n_units = int(rng.integers(1, 5))
    units = [f"u{u}" for u in range(n_units)]
    n_bufs = int(rng.integers(0, 3))
    buffers = {f"b{b}": int(rng.integers(1, 9)) for b in range(n_bufs)}
    b = ProgramBuilder(units=units, unit_is_memory=list(rng.random(n_units) < 0.4), buffers=buffers,
                       levels=["DRAM", "SRAM"], tags=["A", "B"], ticks_per_cycle=int(rng.integers(1, 4)))
    for s in range(int(rng.integers(1, 4))):
        seg = b.segment(f"s{s}", repeat=int(rng.integers(1, max_repeat + 1)), barrier=bool(rng.random() < 0.4))
        n = int(rng.integers(1, max_ops + 1))
        releases: list[dict[str, int]] = [{} for _ in range(n)]
        for i in range(n):
            acquire = {}
            for name, cap in buffers.items():
                if rng.random() < 0.3:
                    amount = int(rng.integers(1, cap + 1))
                    acquire[name] = amount
                    j = int(rng.integers(i, n))
                    releases[j][name] = releases[j].get(name, 0) + amount
            deps = sorted({int(d) for d in rng.integers(0, i, size=int(rng.integers(0, 3)))}) if i else []
            prev = sorted({int(d) for d in rng.integers(0, n, size=int(rng.integers(0, 2)))})
            seg.op(units[int(rng.integers(n_units))], int(rng.integers(0, 21)),
                   int(rng.integers(0, 11)) if rng.random() < 0.5 else 0, deps=deps, prev_deps=prev,
                   acquire=acquire, release=releases[i],
                   bytes={"DRAM": int(rng.integers(0, 100)), "SRAM": int(rng.integers(0, 100))},
                   tag=[None, "A", "B"][int(rng.integers(3))])
    try:
        return b.build()
    except ProgramError as e:  # deadlocking pattern: returned unvalidated so both simulators must reject it
        assert "deadlock" in str(e)
        return Program(units=b.units, unit_is_memory=b.unit_is_memory, buffers=b.buffers,
                       buffer_capacity=b.buffer_capacity, levels=b.levels, tags=b.tags,
                       ticks_per_cycle=b.ticks_per_cycle, segments=tuple(s.build() for s in b._segments))
