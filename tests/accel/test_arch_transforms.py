"""accel.variant / accel.variants: the arch edits of sweeps, each rebuilt through the strict from_dict."""
import numpy as np
import pytest

import accel
from accel import ArchError
from accel.transforms import ALIASES

FUSEMAX, H100 = accel.preset("fusemax"), accel.preset("h100")


def test_the_aliases_keep_their_names():
    assert ALIASES == ("array", "buffer_bytes", "dram_bytes_per_s", "sms", "clock_hz")


def test_array_sets_2d_units_and_the_1d_units_beside_them():
    a = accel.variant(FUSEMAX, array=(128, 64))
    assert a.name == "fusemax/array=128x64"
    assert accel.unit(a, "2d").pes == (128, 64) and accel.unit(a, "1d").pes == (64,)
    b = accel.variant(FUSEMAX, array=512)
    assert accel.unit(b, "2d").pes == (512, 512) and accel.unit(b, "1d").pes == (512,)
    # An arch without a 2-D array keeps its 1-D units as they are.
    assert all(u.pes == v.pes for u, v in zip(accel.variant(H100, array=8).units, H100.units))


def test_buffer_bytes_is_the_first_bounded_level_below_the_outermost():
    assert accel.level(accel.variant(FUSEMAX, buffer_bytes=1 << 20), "GlobalBuffer").capacity_bytes == 1 << 20
    assert accel.level(accel.variant(H100, buffer_bytes=40 << 20), "L2").capacity_bytes == 40 << 20


def test_dram_bandwidth_scales_its_measured_ceiling():
    h = accel.variant(H100, dram_bytes_per_s=6.7e12)
    assert accel.level(h, "HBM").bandwidth_bytes_per_s == 6.7e12
    assert h.measured["HBM.bytes_per_s"] == pytest.approx(3.0e12 * 2)
    assert h.measured["tensor.bf16_flops_per_s"] == H100.measured["tensor.bf16_flops_per_s"]
    unlimited = accel.systolic(16, 16)
    assert accel.level(accel.variant(unlimited, dram_bytes_per_s=1e11), "DRAM").bandwidth_bytes_per_s == 1e11


def test_sms_scales_what_is_summed_over_sms():
    """Half the SMs: the SM fan-out, the bandwidths of the levels below it and the tensor ceiling halve; HBM stays."""
    h = accel.variant(H100, sms=66)
    assert accel.instances(h, "SMEM") == 66
    assert accel.level(h, "SMEM").bandwidth_bytes_per_s == accel.level(H100, "SMEM").bandwidth_bytes_per_s * 0.5
    assert h.measured["tensor.bf16_flops_per_s"] == H100.measured["tensor.bf16_flops_per_s"] * 0.5
    assert h.measured["HBM.bytes_per_s"] == H100.measured["HBM.bytes_per_s"]
    assert accel.level(h, "L2").bandwidth_bytes_per_s == accel.level(H100, "L2").bandwidth_bytes_per_s


def test_field_paths_and_clock():
    a = accel.variant(FUSEMAX, {"GlobalBuffer.capacity_bytes": 4 << 20, "2d.pes": (64, 64)}, clock_hz=1e9)
    assert a.name == "fusemax/GlobalBuffer.capacity_bytes=4194304/2d.pes=64x64/clock_hz=1000000000"
    assert accel.level(a, "GlobalBuffer").capacity_bytes == 4 << 20 and accel.unit(a, "2d").pes == (64, 64)
    assert a.clock_hz == 1e9 and accel.unit(a, "1d").pes == (256,)


def test_no_change_is_the_base_itself():
    assert accel.variant(FUSEMAX) is FUSEMAX and accel.variants(FUSEMAX) == [FUSEMAX]


def test_grid_order_is_first_axis_slowest_and_names_say_what_changed():
    grid = accel.variants(FUSEMAX, {"array": [128, 256]}, buffer_bytes=[1 << 20, 16 << 20])
    assert [a.name for a in grid] == ["fusemax/array=128/buffer_bytes=1048576", "fusemax/array=128/buffer_bytes=16777216",
                                      "fusemax/array=256/buffer_bytes=1048576", "fusemax/array=256/buffer_bytes=16777216"]
    assert [accel.unit(a, "2d").pes[0] for a in grid] == [128, 128, 256, 256]
    assert grid[3] == accel.variant(FUSEMAX, array=256, buffer_bytes=16 << 20)


def test_numpy_values_work():
    a = accel.variant(FUSEMAX, array=np.int64(128), clock_hz=np.float64(5e8))
    assert accel.unit(a, "2d").pes == (128, 128) and a.clock_hz == 5e8 and a.name == "fusemax/array=128/clock_hz=500000000"


def test_variants_are_validated_like_any_spec():
    """A variant that breaks a rule is refused by from_dict, naming the variant and the path."""
    with pytest.raises(ArchError, match=r"variant fusemax/array=0.units\[0\].pes\[0\]: expected a positive"):
        accel.variant(FUSEMAX, array=0)
    with pytest.raises(ArchError, match="level 'SMEM' holds 233472 bytes per instance, more than the outer level"):
        accel.variant(H100, buffer_bytes=64 << 10)


ONE_LEVEL = accel.from_dict({"name": "flat-memory", "clock_hz": 1e9, "levels": [{"name": "DRAM"}],
                             "units": [{"name": "pe", "level": "DRAM", "pes": [4], "ops_per_cycle": {"mac": 1}}]})


@pytest.mark.parametrize("call, fragment", [
    (lambda: accel.variant(FUSEMAX, nope=1), "arch fusemax: unknown sweep axis 'nope' (aliases: array, "
                                            "buffer_bytes, dram_bytes_per_s, sms, clock_hz; or '<level or unit>."
                                            "<field>' with a level or unit of DRAM, GlobalBuffer, 2d, 1d)"),
    (lambda: accel.variant(FUSEMAX, {"GlobalBuffer.colour": 1}), "unknown sweep axis 'GlobalBuffer.colour'"),
    (lambda: accel.variant(FUSEMAX, sms=4), "arch fusemax: no level fans out to SMs (fanout > 1)"),
    (lambda: accel.variant(H100, sms="many"), "sweep axis 'sms' needs a positive number, got 'many'"),
    (lambda: accel.variant(H100, dram_bytes_per_s=-1), "sweep axis 'dram_bytes_per_s' needs a positive number"),
    (lambda: accel.variant(FUSEMAX, array=(1, 2, 3)), "sweep axis 'array' needs n or (rows, cols), got (1, 2, 3)"),
    (lambda: accel.variant("fusemax", array=4), "accel.variant: expected an accel.Arch, got str 'fusemax'"),
    (lambda: accel.variant(FUSEMAX, [("array", 4)]), "accel.variant: changes must be a mapping"),
    (lambda: accel.variants(FUSEMAX, array=128), "accel.variants: axis 'array' needs a list of values, got int"),
    (lambda: accel.variants(FUSEMAX, array="128"), "axis 'array' needs a list of values, got str"),
    (lambda: accel.variants(FUSEMAX, array=[]), "accel.variants: axis 'array' has no values"),
    (lambda: accel.variants(FUSEMAX, array=range(1000), clock_hz=range(1000)),
     "accel.variants: a grid of 1000000 variants; at most 100000"),
    (lambda: accel.variants(FUSEMAX, {3: [1]}), "a sweep axis is named by text, got 3"),
    (lambda: accel.variant(ONE_LEVEL, buffer_bytes=1), "arch flat-memory: no on-chip level with a capacity for "
                                                       "buffer_bytes"),
])
def test_bad_axes_are_named(call, fragment):
    with pytest.raises(ArchError) as info:
        call()
    assert fragment in str(info.value)
