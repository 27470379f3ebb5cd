"""The roofline: per-Einsum compute and compulsory-traffic bounds, and a total lower bound that really is one."""
import pytest

import accel
import sim
import workloads


@pytest.mark.parametrize("arch_name", ["fusemax", "flat", "h100", "a100"])
@pytest.mark.parametrize("softmax", ["1pass", "3pass"])
def test_lower_bound_is_the_largest_component(arch_name, softmax):
    """The lower bound is the max over unit busy times and level transfer times; each Einsum row's bound is the
    max of its own components; unit busy times add up over Einsums."""
    c = workloads.attention("mha", batch=2, heads=4, seq=1024, head_dim=64, softmax=softmax)
    arch = accel.preset(arch_name)
    roof = sim.roofline(c, arch)
    parts = list(roof.unit_s.values()) + list(roof.level_s.values())
    assert roof.lower_bound_s == pytest.approx(max(parts))
    for row in roof.rows:
        assert row.bound_s == pytest.approx(max(list(row.compute_s.values()) + list(row.traffic_s.values())))
    for u, busy in roof.unit_s.items():
        assert busy == pytest.approx(sum(r.compute_s.get(u, 0.0) for r in roof.rows))
    assert sum(r.traffic_bytes for r in roof.rows) == workloads.compulsory_bytes(c)
    assert roof.flops == workloads.flops(c)


def test_mac_bound_matches_hand_computation():
    """A GEMM on FuseMax's 2D array: 2·M·N·K / (2 · 65536 PEs · 0.94 GHz)."""
    c = workloads.gemm(4096, 4096, 4096)
    roof = sim.roofline(c, accel.preset("fusemax"))
    assert roof.unit_s["2d"] == pytest.approx(4096 ** 3 / (65536 * 940e6))
    assert roof.binding == "2d"


def test_binding_is_honoured_and_checked():
    """An explicit binding moves work; binding an Einsum to a unit that lacks one of its ops is an error."""
    c = workloads.attention("mha", batch=1, heads=1, seq=512, head_dim=64, softmax="3pass")
    flat = accel.preset("flat")
    roof = sim.roofline(c, flat, binding={"QK": "1d"})
    assert roof.rows[0].compute_s == {"1d": pytest.approx(512 * 512 * 64 / (256 * 940e6))}
    with pytest.raises(ValueError, match="unit 2d of flat cannot run op 'max'"):
        sim.roofline(c, flat, binding={"GM": "2d"})
    with pytest.raises(ValueError, match="unknown Einsum 'XX'"):
        sim.roofline(c, flat, binding={"XX": "2d"})


def test_str_is_a_readable_table():
    c = workloads.attention("mha", batch=1, heads=2, seq=256, head_dim=32)
    text = str(sim.roofline(c, accel.preset("h100")))
    assert "lower bound" in text and "BQK" in text and "total" in text and "HBM" in text


def test_default_job_writes_the_plot(tmp_path, capsys):
    """`python -m sim` prints both rooflines and saves a PNG (the README's main job)."""
    from sim.__main__ import main
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "on h100" in out and "on fusemax" in out
    assert "simulated on h100: " in out and "simulated on fusemax: " in out and "the roofline bound" in out
    png = tmp_path / "roofline_bert_4k.png"
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
