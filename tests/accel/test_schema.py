"""The schema derived from the dataclasses: defaults for optional keys, every problem at once, stated ranges,
NumPy numbers, levels outermost first, and clear errors when something that is not an arch reaches accel."""
import copy
import dataclasses
import math

import numpy as np
import pytest

import accel
from accel import ArchError
from accel.errors import MAX_LISTED
from accel.schema import keys

MINIMAL = {"name": "tiny", "clock_hz": 1e9,
           "levels": [{"name": "DRAM"}, {"name": "GB", "capacity_bytes": 1 << 20}],
           "units": [{"name": "pe", "level": "GB", "pes": [8, 8], "ops_per_cycle": {"mac": 1}}]}


def fusemax():
    return accel.to_dict(accel.preset("fusemax"))


def errors_of(spec) -> ArchError:
    with pytest.raises(ArchError) as info:
        accel.from_dict(spec)
    return info.value


# ---- the schema is the dataclasses ------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [accel.Arch, accel.Level, accel.Unit])
def test_required_keys_are_the_fields_without_defaults(cls):
    """Required/optional, defaults and order come from dataclasses.fields: nothing is restated."""
    fields = dataclasses.fields(cls)
    assert [k.name for k in keys(cls)] == [f.name for f in fields]
    assert [k.required for k in keys(cls)] == [f.default is dataclasses.MISSING for f in fields]
    for k in keys(cls):
        assert k.doc and (k.kind not in ("int", "real", "ints", "table") or (k.low is not None and k.high is not None))


def test_optional_keys_take_their_defaults():
    """A spec with only the required keys builds: DRAM unbounded and not a bottleneck, fanout 1, no energies."""
    a = accel.from_dict(MINIMAL)
    dram, gb = a.levels
    assert dram.capacity_bytes is None and dram.bandwidth_bytes_per_s is None and dram.fanout == 1
    assert gb.read_energy_pj_per_byte == 0.0 and gb.latency_cycles == 0
    u = a.units[0]
    assert u.count == 1 and dict(u.energy_pj_per_op) == {} and u.fill_drain_cycles is None
    assert accel.fill_drain(u) == 14 and dict(a.measured) == {} and a.notes == ""


def test_null_is_refused_where_the_key_has_no_null_meaning():
    spec = copy.deepcopy(MINIMAL)
    spec["levels"][0]["fanout"] = None
    assert "arch.levels[0].fanout: must not be null (omit the key for its default, 1)" in str(errors_of(spec))


# ---- every problem at once ---------------------------------------------------------------------------------------

def test_every_problem_is_reported_at_once():
    """One ArchError lists each problem with its path; `problems` holds them as (path, message)."""
    spec = fusemax()
    spec["clock_hz"] = "fast"
    spec["levels"][0]["fanout"] = 0
    spec["levels"][1]["bandwith_bytes_per_s"] = 1e9
    spec["units"][0]["pes"] = [256, 2.5]
    del spec["units"][1]["level"]
    err = errors_of(spec)
    paths = [p for p, _ in err.problems]
    assert paths == ["arch.clock_hz", "arch.levels[0].fanout", "arch.levels[1].bandwith_bytes_per_s",
                     "arch.units[0].pes[1]", "arch.units[1].level"]
    text = str(err)
    assert text.startswith("arch: 5 problems\n")
    assert "arch.levels[1].bandwith_bytes_per_s: unknown key (did you mean 'bandwidth_bytes_per_s'?)" in text
    assert "arch.units[1].level: missing key" in text


def test_a_single_problem_is_one_line():
    spec = fusemax()
    spec["levels"][1]["capacity_bytes"] = -5
    assert str(errors_of(spec)) == ("arch.levels[1].capacity_bytes: expected a positive number, got -5 "
                                    "(1 … 2^60 B)")


def test_messages_stay_bounded():
    """Thousands of problems, huge keys and values: the message lists MAX_LISTED and counts the rest."""
    spec = fusemax()
    spec["units"][0]["ops_per_cycle"] = {f"op{i}": -1.0 for i in range(200)}
    spec["units"][1]["ops_per_cycle"] = {"x" * 10 ** 6: "y" * 10 ** 6}
    spec["notes"] = [[[[[[[[["deep"]]]]]]]]]
    err = errors_of(spec)
    assert len(err.problems) >= 200 and f"... and {len(err.problems) - MAX_LISTED} more" in str(err)
    assert len(str(err)) < 200 * (MAX_LISTED + 2)


def test_deeply_nested_values_do_not_recurse():
    """A value nested 100 000 deep is shown abbreviated, not with a RecursionError."""
    deep = []
    for _ in range(100_000):
        deep = [deep]
    spec = fusemax()
    spec["levels"][0]["capacity_bytes"] = deep
    assert "arch.levels[0].capacity_bytes: expected an integer, got list [[[...]]]" in str(errors_of(spec))


# ---- ranges and numbers ------------------------------------------------------------------------------------------

RANGE = [  # (path, value, message fragment)
    (("clock_hz",), 5e-324, "arch.clock_hz: 5e-324 is out of range (1000 … 1e+11 Hz)"),
    (("clock_hz",), 1e12, "arch.clock_hz: 1e+12 is out of range (1000 … 1e+11 Hz)"),
    (("clock_hz",), float("inf"), "arch.clock_hz: expected a finite number, got inf"),
    (("clock_hz",), 10 ** 400, "arch.clock_hz: a 401-digit number is out of range"),
    (("levels", 0, "bandwidth_bytes_per_s"), 1e300, "bandwidth_bytes_per_s: 1e+300 is out of range"),
    (("levels", 0, "bandwidth_bytes_per_s"), 1e-300, "bandwidth_bytes_per_s: 1e-300 is out of range"),
    (("levels", 0, "bandwidth_bytes_per_s"), -1.0, "expected a positive number, got -1.0"),
    (("levels", 1, "capacity_bytes"), 2 ** 61, "capacity_bytes: 2305843009213693952 is out of range"),
    (("levels", 1, "fanout"), 2 ** 30, "fanout: 1073741824 is out of range (1 … 2^24)"),
    (("units", 0, "ops_per_cycle", "mac"), 1e-300, "ops_per_cycle.mac: 1e-300 is out of range"),
    (("units", 0, "ops_per_cycle", "mac"), -float("inf"), "ops_per_cycle.mac: expected a finite number, got -inf"),
    (("units", 0, "energy_pj_per_op", "mac"), float("inf"), "energy_pj_per_op.mac: expected a finite number"),
    (("units", 0, "energy_pj_per_op", "mac"), -1.0, "energy_pj_per_op.mac: expected a non-negative number"),
    (("units", 0, "pes"), [2 ** 21, 4], "pes[0]: 2097152 is out of range (1 … 2^20 PEs)"),
    (("measured",), {"DRAM.bytes_per_s": 0.0}, "measured.DRAM.bytes_per_s: expected a positive number, got 0.0"),
    (("launch_overhead_s",), 10.0, "launch_overhead_s: 10.0 is out of range (0 … 1 s)"),
    (("clock_hz",), "200e9", "expected a number, got str '200e9' (a number written as text: drop the quotes)"),
    (("clock_hz",), 1 + 2j, "expected a number, got complex"),
    (("clock_hz",), True, "expected a number, got bool True"),
    (("units", 0, "pes"), "256", "pes: expected a non-empty list of array dimensions"),
]


@pytest.mark.parametrize("path, value, fragment", RANGE, ids=[f"{'.'.join(map(str, p))}={v!r}"[:40]
                                                              for p, v, _ in RANGE])
def test_values_outside_the_stated_range_are_refused(path, value, fragment):
    """Extreme but finite rates and clocks are refused by stated ranges before they overflow downstream."""
    spec = fusemax()
    node = spec
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    assert fragment in str(errors_of(spec))


def _numeric_paths(spec):
    """Every numeric leaf of a spec dict: (path, value)."""
    out = []
    for i, lv in enumerate(spec["levels"]):
        out += [(("levels", i, k), v) for k, v in lv.items() if isinstance(v, (int, float)) and v is not None]
    for i, u in enumerate(spec["units"]):
        out += [(("units", i, k), v) for k, v in u.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        out += [(("units", i, "pes", j), v) for j, v in enumerate(u["pes"])]
        for table in ("ops_per_cycle", "energy_pj_per_op"):
            out += [(("units", i, table, op), v) for op, v in u[table].items()]
    out += [(("measured", k), v) for k, v in spec["measured"].items()]
    out += [((k,), spec[k]) for k in ("clock_hz", "launch_overhead_s")]
    return out


@pytest.mark.parametrize("name", ["fusemax", "h100"])
def test_numpy_scalars_are_accepted_for_every_numeric_field(name):
    """np.int64 for integers and np.float64/np.float32 for reals give the same Arch as Python numbers."""
    spec = accel.to_dict(accel.preset(name))
    paths = _numeric_paths(spec)
    assert len(paths) > 20
    for cast in (np.int64, np.float64):
        d = copy.deepcopy(spec)
        for path, v in paths:
            node = d
            for k in path[:-1]:
                node = node[k]
            if math.isfinite(v) and (cast is np.float64 or float(v).is_integer()):
                node[path[-1]] = cast(v)
        assert accel.from_dict(d) == accel.preset(name)


def test_names_are_checked():
    """Level and unit names may not contain dots (they head `measured` keys and sweep field paths) or spaces."""
    spec = fusemax()
    spec["levels"][1]["name"] = "Global.Buffer"
    spec["units"][0]["name"] = "two d"
    spec["units"][1]["ops_per_cycle"] = {"": 1}
    err = errors_of(spec)
    assert "arch.levels[1].name: expected a non-empty name without spaces or dots" in str(err)
    assert "arch.units[0].name: expected a non-empty name without spaces or dots" in str(err)
    assert "arch.units[1].ops_per_cycle.: expected a non-empty name without spaces" in str(err)


# ---- levels outermost first ----------------------------------------------------------------------------------

def test_levels_listed_innermost_first_are_refused():
    """Reversed FuseMax (DRAM unbounded but last) and reversed H100 (registers first) name the rule."""
    spec = fusemax()
    spec["levels"].reverse()
    assert "arch.levels[1].capacity_bytes: level 'DRAM' is unbounded (null) but is not the outermost level; levels " \
           "go outermost first" in str(errors_of(spec))
    h100 = accel.to_dict(accel.preset("h100"))
    h100["levels"].reverse()
    assert "level 'L2' holds 50000000 bytes per instance, more than the outer level levels[0] 'RF'" in \
        str(errors_of(h100))


def test_a_bounded_dram_listed_last_is_refused():
    """Without the unbounded tell-tale, the outermost level holding less than an inner one is still caught."""
    spec = fusemax()
    spec["levels"][0]["capacity_bytes"] = 80 * 10 ** 9
    spec["levels"].reverse()
    assert "level 'DRAM' holds 80000000000 bytes per instance, more than the outer level levels[0] " \
           "'GlobalBuffer'" in str(errors_of(spec))


def test_a_register_file_larger_than_its_shared_memory_is_allowed():
    """Peers below the outermost with no fan-out between (an SM's RF beside its SMEM) may grow inward; across a
    fan-out they may not."""
    for name in ("a100", "h100", "h200", "b200"):
        a = accel.preset(name)
        assert accel.level(a, "RF").capacity_bytes > accel.level(a, "SMEM").capacity_bytes
    h100 = accel.to_dict(accel.preset("h100"))
    h100["levels"][1]["capacity_bytes"] = 100_000   # L2 below one SM's shared memory, across the SM fan-out
    assert "level 'SMEM' holds 233472 bytes per instance, more than the outer level levels[1] 'L2'" in \
        str(errors_of(h100))


def test_machine_wide_sizes_are_bounded():
    spec = fusemax()
    spec["levels"][0]["fanout"] = 2 ** 24
    spec["units"][0]["count"] = 2 ** 20
    assert "arch.units[0]: 1152921504606846976 PEs in the machine" in str(errors_of(spec))   # 2^16 × 2^20 × 2^24


# ---- something that is not an arch ---------------------------------------------------------------------------

H100 = accel.preset("h100")
TENSOR = accel.unit(H100, "tensor")
NOT_AN_ARCH = [
    (lambda: accel.level("h100", "L2"), "accel.level: expected an accel.Arch, got str 'h100' (a preset name? use "
                                        "accel.preset('h100'))"),
    (lambda: accel.unit("h100", "tensor"), "accel.unit: expected an accel.Arch, got str"),
    (lambda: accel.instances(None, "SMEM"), "accel.instances: expected an accel.Arch, got NoneType"),
    (lambda: accel.path_to({"name": "x"}, "L2"), "accel.path_to: expected an accel.Arch, got dict"),
    (lambda: accel.pe_count(H100, "tensor"), "accel.pe_count: expected an accel.Unit, got str 'tensor' (a unit "
                                             "name? use accel.unit(arch, 'tensor'))"),
    (lambda: accel.pe_count("h100", TENSOR), "accel.pe_count: expected an accel.Arch"),
    (lambda: accel.unit_instances(H100, None), "accel.unit_instances: expected an accel.Unit"),
    (lambda: accel.op_rate("tensor", "mac"), "accel.op_rate: expected an accel.Unit"),
    (lambda: accel.op_rate(TENSOR, 3), "accel.op_rate: expected a op name (str), got int"),
    (lambda: accel.fill_drain(H100), "accel.fill_drain: expected an accel.Unit, got Arch"),
    (lambda: accel.to_dict("h100"), "accel.to_dict: expected an accel.Arch, got str"),
    (lambda: accel.level(H100, ["L2"]), "accel.level: expected a level name (str), got list"),
    (lambda: accel.preset(H100), "accel.preset: a preset is named by text, got Arch"),
    (lambda: accel.preset(["h100"]), "accel.preset: a preset is named by text, got list"),
    (lambda: accel.from_dict(H100), "arch: expected a mapping, got Arch (already an accel.Arch: use it as it is)"),
    (lambda: accel.register_preset(7, {}), "accel.register_preset: a preset is named by text, got int"),
    (lambda: accel.from_dict({}, path=3), "accel.from_dict: path names the spec in messages (str), got int"),
]


@pytest.mark.parametrize("call, fragment", NOT_AN_ARCH, ids=[f[1].split(":")[0] + str(i)
                                                             for i, f in enumerate(NOT_AN_ARCH)])
def test_something_that_is_not_an_arch_gets_an_arch_error(call, fragment):
    with pytest.raises(ArchError) as info:
        call()
    assert fragment in str(info.value)


def test_unknown_preset_suggests_the_nearest():
    with pytest.raises(ArchError, match=r"unknown preset 'h10' \(did you mean 'h100'\?\)"):
        accel.preset("h10")


def test_a_measured_bandwidth_above_the_peak_is_refused():
    """A measured ceiling is what the hardware reaches: above the level's own peak it is a typo, not a number."""
    h100 = accel.to_dict(accel.preset("h100"))
    h100["levels"][0]["bandwidth_bytes_per_s"] = 1e12
    assert "arch.measured.HBM.bytes_per_s: 3e+12 B/s is above the peak bandwidth of level 'HBM' (1e+12 B/s)" in \
        str(errors_of(h100))
