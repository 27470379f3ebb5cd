"""Plans parse strictly from dicts, CLI strings and Plans, and say how many devices they use."""
from __future__ import annotations

import pytest

from sim.ir import MappingError
from sim.parallel import Plan, plan


def test_string_dict_and_plan_agree():
    assert plan("tp=2,cp=4") == plan({"tp": 2, "cp": 4}) == Plan(tp=2, cp=4) == plan(Plan(tp=2, cp=4))
    assert plan(None) == Plan() and Plan().trivial
    assert plan(" tp = 2 , attention = tpla ,") == Plan(tp=2, attention="tpla")


def test_devices_and_replicas():
    assert Plan(tp=2, cp=4).devices == 8 and Plan(tp=2, cp=4).replicas == 1
    assert Plan(ep=8).devices == 8 and Plan(ep=8).replicas == 8
    assert Plan(tp=2, ep=8).replicas == 4
    assert not Plan(disaggregation="prefill-decode").trivial


def test_string_form_round_trips():
    p = Plan(tp=2, cp=2, cp_kind="zigzag")
    assert plan(str(p)) == p


@pytest.mark.parametrize("bad", ["tp=0", "tp=-1", "tp=1.5", "foo=1", "tp", "tp=2,tp=2", "cp_kind=helix"])
def test_bad_strings_refused(bad):
    with pytest.raises(MappingError):
        plan(bad)
