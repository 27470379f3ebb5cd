"""GPU calibrated constants are data: `Options(calibration=...)` overrides them per evaluation, the shipped fits
live in `sim.dataflows.gpu.constants.CALIBRATED`, and names the model does not declare are refused."""
import pytest

import accel
import sim
import workloads
from sim.ir.options import Options
from sim.dataflows.gpu.constants import CALIBRATED

H100 = accel.preset("h100")
MHA = workloads.attention("mha", batch=4, heads=16, seq=2048, head_dim=128)


def test_shipped_fits_are_the_defaults():
    """Without overrides the lowerings use CALIBRATED (the same numbers as an explicit override with them)."""
    assert dict(CALIBRATED) == {"FA2_MMA_EFFICIENCY": 0.896, "STREAM_EFFICIENCY": 0.642}
    plain = sim.evaluate(MHA, H100, dataflow="flash2")
    same = sim.evaluate(MHA, H100, dataflow="flash2", options=Options(calibration=dict(CALIBRATED)))
    assert plain.latency_s == same.latency_s


def test_fa2_efficiency_override_changes_only_flash2():
    """A higher FA2 inner-loop efficiency makes compute-bound flash2 faster; flash3 does not read it."""
    opts = Options(calibration={"FA2_MMA_EFFICIENCY": 1.0})
    assert sim.evaluate(MHA, H100, dataflow="flash2", options=opts).latency_s < \
        0.95 * sim.evaluate(MHA, H100, dataflow="flash2").latency_s
    assert sim.evaluate(MHA, H100, dataflow="flash3", options=opts).latency_s == \
        sim.evaluate(MHA, H100, dataflow="flash3").latency_s


def test_stream_efficiency_override_changes_the_unfused_path():
    """The unfused math path's memory-bound kernels run at STREAM_EFFICIENCY of the sustained bandwidth."""
    slow = sim.evaluate(MHA, H100, dataflow="gpu-unfused", options=Options(calibration={"STREAM_EFFICIENCY": 0.3}))
    assert slow.latency_s > 1.3 * sim.evaluate(MHA, H100, dataflow="gpu-unfused").latency_s


@pytest.mark.parametrize("calibration,fragment", [
    ({"FA2_MMA_EFFICENCY": 0.9}, "unknown calibrated constant"),
    ({"FA2_MMA_EFFICIENCY": 1.5}, "must be a fraction"),
    ({"STREAM_EFFICIENCY": 0.0}, "must be a fraction"),
])
def test_bad_calibration_is_refused(calibration, fragment):
    """A misspelt name or an efficiency outside (0, 1] is a MappingError naming it, never silently ignored."""
    with pytest.raises(sim.MappingError, match=fragment):
        sim.evaluate(MHA, H100, dataflow="flash2", options=Options(calibration=calibration))
