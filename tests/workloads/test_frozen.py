"""Frozen means frozen: cascades and their parts are immutable, hashable (equal cascades hash equal), pickle and
`dataclasses.replace` keep working, and no public record holds a mutable mapping."""
import dataclasses
import pickle

import numpy as np
import pytest

import workloads
from workloads import CascadeError
from workloads.frozen import FrozenDict
from workloads.models.zoo import MODELS

from properties.prop_strategies import VARIANT_EXAMPLES


def mha(**kw):
    shape = dict(batch=1, heads=2, seq=8, head_dim=4, causal=True)
    shape.update(kw)
    return workloads.attention("mha", **shape)


def test_sizes_and_tensors_cannot_be_changed():
    """`c.sizes["M"] = 7` and friends fail; the mappings are FrozenDicts."""
    c = mha()
    assert isinstance(c.sizes, FrozenDict) and isinstance(c.tensors, FrozenDict)
    with pytest.raises(TypeError):
        c.sizes["M"] = 7
    with pytest.raises(TypeError):
        c.tensors["Q"] = c.tensors["K"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.name = "other"
    with pytest.raises(AttributeError):
        c.sizes.update({"M": 7})


def test_equal_cascades_hash_equal_and_serve_as_keys():
    """Two builds of the same cascade are equal with equal hashes; a different size gives a different cascade."""
    a, b = mha(), mha()
    assert a is not b and a == b and hash(a) == hash(b)
    memo = {a: "first"}
    assert memo[b] == "first"
    assert mha(seq=16) != a and mha(seq=16) not in memo


@pytest.mark.parametrize("name", sorted(VARIANT_EXAMPLES))
def test_every_variant_is_hashable_and_pickles(name):
    """Every registered variant builds a hashable cascade that survives a pickle round trip (sweeps send
    cascades to worker processes) with an equal hash."""
    c = workloads.attention(name, **VARIANT_EXAMPLES[name])
    back = pickle.loads(pickle.dumps(c))
    assert back == c and hash(back) == hash(c)
    assert isinstance(back.sizes, FrozenDict) and isinstance(back.tensors, FrozenDict)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_layers_are_hashable(name):
    """Whole layers (masks with block tables included) hash; models themselves are hashable records."""
    m = workloads.model(name)
    small = dict(spatial=(4, 4), window=(3, 3), seq=16) if m.variant in ("na", "gna") else dict(seq=8)
    if m.variant == "gna":
        small["stride"] = (2, 2)
    c = m.layer(**small)
    assert hash(c) == hash(pickle.loads(pickle.dumps(c)))
    assert hash(m) == hash(workloads.model(name)) and isinstance(m.mla, FrozenDict)


def test_replace_refreezes_and_is_still_a_cascade():
    """`dataclasses.replace` with plain dicts gives a frozen, hashable cascade again."""
    c = mha()
    renamed = dataclasses.replace(c, name="renamed", sizes=dict(c.sizes))
    assert isinstance(renamed.sizes, FrozenDict) and renamed.sizes == c.sizes
    assert hash(renamed) != hash(c) or renamed != c


def test_records_hold_plain_values():
    """Masks built from NumPy values hold Python ints and booleans (so they compare and hash like the parser's)."""
    w = workloads.Window("M", "P", np.int64(3), np.int32(0))
    assert w == workloads.Window("M", "P", 3, 0) and type(w.left) is int
    b = workloads.Blocks("M", "P", np.int64(2), 2, np.array([[1, 0], [1, 1]]))
    assert b.keep == ((True, False), (True, True)) and hash(b) == hash(workloads.Blocks("M", "P", 2, 2,
                                                                                          ((1, 0), (1, 1))))


def test_op_costs_are_frozen():
    """An op's cost table cannot be edited after registration (it prices every point of every cascade)."""
    with pytest.raises(TypeError):
        workloads.OPS["exp"].cost["exp"] = 0


def test_retile_and_rebuild_work_on_data():
    """Retiling re-validates the cascade's own IR objects; it equals a fresh build at that tile."""
    c = mha(key_tile=2)
    assert workloads.retile(c, "P0", 4) == mha(key_tile=4)
    assert workloads.retile(c, "P0", 2) is c
    with pytest.raises(CascadeError, match="not the inner part of a split"):
        workloads.retile(c, "E0", 2)
    with pytest.raises(CascadeError, match="rank P0 has size 0"):
        workloads.retile(c, "P0", 0)
    assert workloads.rebuild(c) == c


def test_the_hash_is_cached_but_never_pickled():
    """A cascade's hash is computed once; pickles carry no cached hash (string hashes differ between the
    processes a sweep sends cascades to)."""
    c = mha()
    h = hash(c)
    assert c.__dict__["_hash"] == h
    back = pickle.loads(pickle.dumps(c))
    assert "_hash" not in back.__dict__ and back == c and hash(back) == h
    blocks = workloads.Blocks("M", "P", 1, 1, ((1, 0), (1, 1)))
    hash(blocks)
    assert "_hash" not in pickle.loads(pickle.dumps(blocks)).__dict__
