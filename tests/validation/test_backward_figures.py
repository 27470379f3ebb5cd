"""The backward figures: the committed backward.json and its docs/training.md block are current, and the held-out
forward+backward errors are what the docs state."""
from __future__ import annotations

import json
import math

from sim.dataflows.gpu import backward_costs
from validation.figures import backward


def committed() -> dict:
    return json.loads(backward.JSON_PATH.read_text())


def test_held_out_points_are_current():
    fresh = {(p["gpu"], p["seq"], p["head_dim"], p["causal"]): p["sim_ms"] for p in backward.fwd_bwd_points()}
    old = {(p["gpu"], p["seq"], p["head_dim"], p["causal"]): p["sim_ms"] for p in committed()["fwd_bwd"]}
    assert fresh.keys() == old.keys() and len(fresh) == 46
    assert all(math.isclose(fresh[k], old[k], rel_tol=1e-9) for k in fresh)


def test_docs_block_is_rendered_from_the_json():
    assert backward.render(committed()) in backward.DOC_PATH.read_text()


def test_errors_are_as_documented():
    s = committed()["summary"]
    assert s["a100"]["median_abs"] < 0.08 and s["a100"]["max_abs"] < 0.10
    assert s["h100"]["median_abs"] < 0.05 and s["h100"]["max_abs"] < 0.10
    implied = committed()["implied_summary"]["h100"]
    assert implied["points"] == 24 and implied["median_abs"] < 0.08 and implied["max_abs"] < 0.15


def test_each_fa2_mechanism_is_stated_and_none_is_the_idealized_loop():
    rec = committed()
    assert set(rec["without"]) == set(backward_costs.FA2_MECHANISMS) | {"none"}
    # the idealized loop (every step waiting only for its data, stores hidden, no fill) is 15% too fast on H100
    none = rec["without"]["none"]["h100"]
    assert none["median_abs"] > 0.15 and none["mean_signed"] < -0.15
    for name in backward_costs.FA2_MECHANISMS:     # each mechanism adds time: without it the H100 error is worse
        assert rec["without"][name]["h100"]["mean_signed"] < rec["summary"]["h100"]["mean_signed"]


def test_implied_backward_is_the_difference_of_the_two_held_passes():
    rows = {(r["gpu"], r["pass"], r["seq"], r["head_dim"], r["causal"]): r["time_ms"]
            for r in backward.measured_rows("fwd") + backward.measured_rows("fwd_bwd") if r["kernel"] == "flash2"}
    for p in committed()["implied_backward"]:
        key = (p["seq"], p["head_dim"], p["causal"])
        both = rows[("H100 SXM5", "fwd_bwd", *key)] - rows[("H100 SXM5", "fwd", *key)]
        assert p["gpu"] == "h100" and math.isclose(p["implied_ms"], both, rel_tol=1e-12)


def test_backward_tflops_sit_beside_forward_for_every_table_shape():
    rows = committed()["tflops"]
    assert {(r["gpu"], r["backward"]) for r in rows} == {("a100", "flash2-bwd"), ("h100", "flash2-bwd"),
                                                       ("h100", "flash3-bwd")}
    assert all(len(r["fwd_tflops"]) == len(r["bwd_tflops"]) == 6 for r in rows)
