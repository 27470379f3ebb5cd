"""Bad tile programs: the ProgramBuilder, `validate` and `sim.engine.simulate` refuse them with a ProgramError that
names the segment, op and field."""
from __future__ import annotations

import dataclasses

import numpy as np

from sim.engine import simulate, simulate_reference
from sim.ir.program import ProgramBuilder, ProgramError, validate


def _segment(**op):
    def call():
        b = ProgramBuilder(units=["pe"], buffers={"gb": 64}, levels=["DRAM"])
        b.segment("s").op("pe", **op)
        return b.build()
    return call


def _long():
    b = ProgramBuilder(units=["pe"])
    b.segment("s", repeat=2 ** 40).op("pe", 2 ** 23)
    return b.build()


def _many():
    b = ProgramBuilder(units=["pe"])
    b.segment("s", repeat=10 ** 10).op("pe", 1)
    return b.build()


def _changed(**fields):
    def call():
        b = ProgramBuilder(units=["pe"], buffers={"gb": 64})
        b.segment("s", repeat=2).op("pe", 3, acquire={"gb": 8}, release={"gb": 8})
        p = b.build()
        seg = dataclasses.replace(p.segments[0], **{k: v for k, v in fields.items() if k != "program"})
        return validate(dataclasses.replace(p, segments=(seg,), **fields.get("program", {})))
    return call


CASES = [
    ("program-fractional-duration", _segment(duration=2.5), ProgramError,
     "segment 's' op 0 field duration: expected an integer, got 2.5"),
    ("program-duration-not-a-number", _segment(duration="10"), ProgramError,
     "segment 's' op 0 field duration: expected an integer, got str"),
    ("program-duration-beyond-int64", _segment(duration=2 ** 64), ProgramError,
     "segment 's' op 0 field duration: 18446744073709551616 is outside"),
    ("program-acquire-not-a-mapping", _segment(duration=1, acquire=["gb"]), ProgramError,
     "segment 's' op 0 acquire: expected a mapping of buffer name to bytes, got list"),
    ("program-bytes-not-a-number", _segment(duration=1, bytes={"DRAM": None}), ProgramError,
     "segment 's' op 0 bytes 'DRAM': expected a number of bytes, got NoneType"),
    ("program-tick-overflow", _long, ProgramError,
     "the program's durations and latencies add up to more than 2^62 ticks"),
    ("program-nan-bytes", _changed(level_bytes=np.full((1, 0), 0.0), program={"levels": ("DRAM",)}), ProgramError,
     "field level_bytes: shape (1, 0), expected (1, 1)"),
    ("program-pointer-decreasing", _changed(acq_ptr=np.array([0, -1], np.int64)), ProgramError,
     "segment 's' field acq_ptr: must be non-decreasing, of length 2, starting at 0"),
    ("program-huge-buffer", _changed(program={"buffer_capacity": np.array([2 ** 62], np.int64)}), ProgramError,
     "capacity 4611686018427387904 of buffer 'gb' is outside [0, 2^61] bytes"),
    ("program-not-a-program", lambda: simulate("program"), ProgramError, "expected a sim.ir.Program, got str"),
    ("reference-too-many-ops", lambda: simulate_reference(_many()), ProgramError,
     "simulate_reference expands every iteration: 10,000,000,000 ops is beyond its limit"),
    ("simulate-trace-not-bool", lambda: simulate(_segment(duration=1)(), trace=1), ProgramError,
     "simulate: trace must be True or False, got int"),
]
