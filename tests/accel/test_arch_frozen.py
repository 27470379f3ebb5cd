"""Frozen means frozen: archs are immutable, hashable values that pickle, and `to_dict` gives plain data back."""
import pickle

import pytest

import accel
from workloads.frozen import FrozenDict

PRESETS = sorted(accel.PRESETS)


def _plain_only(value):
    """Whether a value is built from dict, list, str, numbers and None only."""
    if isinstance(value, dict):
        return type(value) is dict and all(_plain_only(v) for v in value.values())
    if isinstance(value, list):
        return all(_plain_only(v) for v in value)
    return value is None or isinstance(value, (str, int, float))


@pytest.mark.parametrize("name", PRESETS)
def test_presets_are_hashable_values(name):
    """Two parses of one spec are equal and hash equal; a pickled copy is the same value."""
    a, b = accel.preset(name), accel.preset(name)
    assert a == b and hash(a) == hash(b) and a is not b
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a and hash(copy) == hash(a)
    assert {a: 1}[b] == 1


@pytest.mark.parametrize("name", PRESETS)
def test_tables_are_frozen(name):
    """measured, ops_per_cycle and energy_pj_per_op are FrozenDicts; item assignment and attribute writes fail."""
    a = accel.preset(name)
    assert isinstance(a.measured, FrozenDict)
    with pytest.raises(TypeError):
        a.measured["HBM.bytes_per_s"] = 1.0
    for u in a.units:
        assert isinstance(u.ops_per_cycle, FrozenDict) and isinstance(u.energy_pj_per_op, FrozenDict)
        assert isinstance(u.pes, tuple)
        with pytest.raises(TypeError):
            u.ops_per_cycle["mac"] = 2.0
    with pytest.raises(AttributeError):
        a.clock_hz = 1.0
    assert isinstance(a.levels, tuple) and isinstance(a.units, tuple)


@pytest.mark.parametrize("name", PRESETS)
def test_to_dict_is_plain_and_round_trips_exactly(name):
    """to_dict returns plain dicts and lists with every key, and from_dict(to_dict(a)) == a exactly."""
    a = accel.preset(name)
    d = accel.to_dict(a)
    assert _plain_only(d)
    assert accel.from_dict(d) == a
    assert accel.to_dict(accel.from_dict(d)) == d


def test_changing_the_input_dict_does_not_change_the_arch():
    """from_dict keeps no reference into its input: editing the dict afterwards leaves the Arch as it was."""
    d = accel.to_dict(accel.preset("fusemax"))
    a = accel.from_dict(d)
    d["units"][0]["ops_per_cycle"]["mac"] = 99
    d["units"][0]["pes"][0] = 1
    d["measured"]["DRAM.bytes_per_s"] = 1.0
    assert accel.op_rate(accel.unit(a, "2d"), "mac") == 1 and accel.unit(a, "2d").pes == (256, 256)
    assert dict(a.measured) == {}


def test_direct_construction_freezes_too():
    """Records built directly (not through from_dict) still hold FrozenDicts and tuples, so they hash."""
    u = accel.Unit(name="pe", level="GB", pes=[4, 4], ops_per_cycle={"mac": 1.0})
    lv = accel.Level(name="GB", capacity_bytes=1024)
    a = accel.Arch(name="x", clock_hz=1e9, levels=[lv], units=[u], measured={"pe.flops_per_s": 1.0})
    assert isinstance(u.ops_per_cycle, FrozenDict) and u.pes == (4, 4) and isinstance(a.levels, tuple)
    assert hash(a) == hash(accel.Arch(name="x", clock_hz=1e9, levels=(lv,), units=(u,),
                                      measured=FrozenDict({"pe.flops_per_s": 1.0})))


def test_presets_are_not_changed_by_parsing():
    """preset() parses the registered spec without editing it (no deep copy needed, none made)."""
    spec = accel.PRESETS["h100"]
    before = pickle.dumps(spec)
    accel.preset("h100")
    assert pickle.dumps(spec) == before
