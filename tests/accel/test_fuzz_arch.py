"""Fuzzing arch specs and files beyond the hand-written cases: mutated preset dicts (NumPy scalars and range edges
among the values), mutated and generated YAML/JSON text, and arbitrary nested documents. Only ArchError may escape,
with a bounded message that names the path (and the source for text); whatever builds is a sound, frozen value."""
from __future__ import annotations

import copy
import json
import math
import pickle

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import accel
from accel import ArchError
from accel.errors import MAX_LISTED
from accel.rules import MAX_PES

fast = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
slow = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))

PRESET_DICTS = [accel.to_dict(accel.preset(name)) for name in sorted(accel.PRESETS)]
EDGES = [1e3, 1e11, 1e18, 1e-6, 1e6, 2 ** 20, 2 ** 24, 2 ** 32, 2 ** 60, 2 ** 60 + 1, 1e21, 5e-324, 1.7e308,
         float("inf"), float("-inf"), float("nan"), -0.0]
values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.sampled_from(EDGES), st.floats(),
    st.integers(0, 2 ** 40).map(np.int64), st.floats(0, 1e12).map(np.float64), st.floats(0, 1e6).map(np.float32),
    st.text(max_size=5), st.sampled_from(["DRAM", "GlobalBuffer", "SMEM", "2d", "200e9", "a.b", ""]),
    st.lists(st.integers(-1, 300), max_size=3), st.dictionaries(st.text(max_size=3), st.floats(), max_size=2),
    st.just({"mac": 1}), st.just([{"name": "L"}]))
MESSAGE_LIMIT = 400 * (MAX_LISTED + 2)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_spec(draw):
    """A preset dict with 1–4 values replaced, keys deleted or added, or list entries duplicated or swapped."""
    d = copy.deepcopy(draw(st.sampled_from(PRESET_DICTS)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(d))))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.integers(0, 4))
        if op == 0:
            parent[path[-1]] = copy.deepcopy(draw(values))
        elif op == 1:
            del parent[path[-1]]
        elif op == 2 and isinstance(parent, dict):
            parent[draw(st.sampled_from(["bogus", "fanout", "capacity_bytes", "count", "pes"]))] = \
                copy.deepcopy(draw(values))
        elif op == 3 and isinstance(parent, list) and len(parent) > 1:
            parent[0], parent[-1] = parent[-1], parent[0]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[0]))
    return d


def sound(arch: accel.Arch) -> None:
    """What every built Arch guarantees: frozen, hashable, pickles, round-trips exactly, levels outermost first,
    bounded machine-wide sizes and finite clock."""
    assert accel.from_dict(accel.to_dict(arch)) == arch
    assert hash(pickle.loads(pickle.dumps(arch))) == hash(arch)
    assert all(lv.capacity_bytes is not None for lv in arch.levels[1:])
    assert math.isfinite(arch.clock_hz) and arch.clock_hz >= 1e3
    for u in arch.units:
        assert 1 <= accel.pe_count(arch, u) <= MAX_PES
        assert all(r > 0 for r in u.ops_per_cycle.values())


def build_or_named_error(d) -> None:
    try:
        arch = accel.from_dict(d)
    except ArchError as err:
        text = str(err)
        assert text.startswith("arch") and len(text) < MESSAGE_LIMIT, text[:500]
        assert all(p.startswith("arch") for p, _ in err.problems)
        return
    sound(arch)


@fast
@given(mutated_spec())
def test_mutated_specs_build_soundly_or_name_the_path(d):
    build_or_named_error(d)


def load_or_named_error(text: str, fmt: str) -> None:
    try:
        arch = accel.loads(text, fmt, source=f"fuzz.{fmt}")
    except ArchError as err:
        message = str(err)
        assert message.startswith(f"fuzz.{fmt}") and len(message) < MESSAGE_LIMIT, message[:500]
        assert all(line.startswith(("  fuzz.", "  ... and")) for line in message.splitlines()[1:]), message[:500]
        return
    sound(arch)


CHARS = [":", "-", " ", "\n", "[", "]", "{", "}", ",", "&a", "*a", "!!", "'", '"', "#", "\t", "e9", "<<", "~", "é"]


@st.composite
def mutated_text(draw):
    """A mutated spec dumped as YAML or JSON, then with a few characters replaced."""
    fmt = draw(st.sampled_from(["yaml", "json"]))
    d = draw(mutated_spec())
    try:
        text = yaml.safe_dump(d, sort_keys=False) if fmt == "yaml" else json.dumps(d, default=float)
    except (yaml.YAMLError, TypeError, ValueError):
        text = repr(d)
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.integers(0, len(text)))
        text = text[:k] + draw(st.sampled_from(CHARS)) + text[k + 1:]
    return text, fmt


@fast
@given(mutated_text())
def test_mutated_files_load_soundly_or_name_the_file(case):
    load_or_named_error(*case)


documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20)


@fast
@given(documents, st.sampled_from(["yaml", "json"]))
def test_arbitrary_documents_give_only_arch_errors(doc, fmt):
    text = yaml.safe_dump(doc) if fmt == "yaml" else json.dumps(doc)
    load_or_named_error(text, fmt)


@fast
@given(st.text(max_size=300), st.sampled_from(["yaml", "json"]))
def test_arbitrary_text_gives_only_arch_errors(text, fmt):
    load_or_named_error(text, fmt)


@pytest.mark.slow
@slow
@given(st.one_of(mutated_text(), st.tuples(st.text(max_size=500), st.sampled_from(["yaml", "json"]))))
def test_files_fuzz_slow(case):
    load_or_named_error(*case)


@pytest.mark.slow
@slow
@given(mutated_spec())
def test_specs_fuzz_slow(d):
    build_or_named_error(d)
