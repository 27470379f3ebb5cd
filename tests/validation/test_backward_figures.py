"""The backward figures: the committed backward.json and its docs/training.md block are current, and the held-out
forward+backward errors are what the docs state."""
from __future__ import annotations

import json
import math

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
    assert s["a100"]["max_abs"] < 0.10
    assert 0.10 < s["h100"]["median_abs"] < 0.20 and s["h100"]["max_abs"] < 0.21
    assert all(p["time_error"] < 0 for p in committed()["fwd_bwd"] if p["gpu"] == "h100")   # faster than measured


def test_backward_tflops_sit_beside_forward_for_every_table_shape():
    rows = committed()["tflops"]
    assert {(r["gpu"], r["backward"]) for r in rows} == {("a100", "flash2-bwd"), ("h100", "flash2-bwd"),
                                                       ("h100", "flash3-bwd")}
    assert all(len(r["fwd_tflops"]) == len(r["bwd_tflops"]) == 6 for r in rows)
