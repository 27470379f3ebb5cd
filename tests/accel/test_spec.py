"""Architecture specs: presets from the reference tables and a strict from_dict that names the bad path."""
import copy

import pytest

import accel
from accel import ArchError


@pytest.mark.parametrize("name", ["fusemax", "flat", "a100", "h100", "h200", "b200"])
def test_presets_load_and_round_trip(name):
    """Every preset parses strictly and survives to_dict → from_dict unchanged."""
    arch = accel.preset(name)
    assert accel.from_dict(accel.to_dict(arch)) == arch


def test_preset_facts():
    """Spot-check the reference tables: FuseMax 256×256 + 256 PEs at 940 MHz, 16 MiB; H100 132 SMs, 989 TF."""
    fm = accel.preset("fusemax")
    assert accel.pe_count(fm, accel.unit(fm, "2d")) == 65536 and accel.pe_count(fm, accel.unit(fm, "1d")) == 256
    assert accel.level(fm, "GlobalBuffer").capacity_bytes == 16 * 2 ** 20 and fm.clock_hz == 940e6
    assert accel.op_rate(accel.unit(fm, "2d"), "exp") == pytest.approx(1 / 6)
    assert accel.level(accel.preset("flat"), "GlobalBuffer").capacity_bytes == 32 * 2 ** 20
    h100 = accel.preset("h100")
    tensor = accel.unit(h100, "tensor")
    peak = 2 * accel.op_rate(tensor, "mac", "bf16") * accel.pe_count(h100, tensor) * h100.clock_hz
    assert peak == pytest.approx(989.4e12, rel=1e-3)
    assert accel.instances(h100, "SMEM") == 132


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ArchError, match="unknown preset 'h300'.*fusemax.*h100"):
        accel.preset("h300")


def _spec():
    return accel.to_dict(accel.preset("fusemax"))


def _mutate(path, value=None, delete=False):
    spec = _spec()
    node = spec
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return spec


BAD = [  # (spec, message fragment naming the path)
    (_mutate(["levels", 1, "capacity_bytes"], -5), r"arch.levels\[1\].capacity_bytes: expected a positive"),
    (_mutate(["levels", 0, "bandwith_bytes_per_s"], 1e9), r"arch.levels\[0\].bandwith_bytes_per_s: unknown key"),
    (_mutate(["clock_hz"], delete=True), r"arch.clock_hz: missing key"),
    (_mutate(["units", 0, "level"], "L3"), r"arch.units\[0\].level: unknown level 'L3'"),
    (_mutate(["units", 1, "name"], "2d"), r"arch.units\[1\].name: duplicate name '2d'"),
    (_mutate(["levels", 1, "name"], "DRAM"), r"arch.levels\[1\].name: duplicate level name 'DRAM'"),
    (_mutate(["units", 0, "pes"], [256, 0]), r"arch.units\[0\].pes\[1\]: expected a positive"),
    (_mutate(["units", 0, "ops_per_cycle"], {}), r"arch.units\[0\].ops_per_cycle: expected a non-empty mapping"),
    (_mutate(["levels", 0, "fanout"], 1.5), r"arch.levels\[0\].fanout: expected an integer"),
    (_mutate(["clock_hz"], "fast"), r"arch.clock_hz: expected a number"),
    (_mutate(["levels"], []), r"arch.levels: expected a non-empty list"),
    (_mutate(["measured"], {"L9.bytes_per_s": 1.0}), r"arch.measured.L9.bytes_per_s: must start with a level"),
    (_mutate(["units", 0, "energy_pj_per_op", "mac"], -1.0), r"energy_pj_per_op.mac: expected a non-negative"),
]


@pytest.mark.parametrize("spec, fragment", BAD)
def test_malformed_specs_name_the_path(spec, fragment):
    """Unknown, duplicate, missing and out-of-range keys raise ArchError (a ValueError) naming the path."""
    with pytest.raises(ArchError, match=fragment) as info:
        accel.from_dict(spec)
    assert isinstance(info.value, ValueError)


def test_register_preset_rejects_duplicates():
    spec = _spec()
    spec["name"] = "fusemax-copy"
    accel.register_preset("fusemax-copy-test", copy.deepcopy(spec))
    with pytest.raises(ArchError, match="already exists"):
        accel.register_preset("fusemax-copy-test", spec)
    del accel.PRESETS["fusemax-copy-test"]
