"""Smoke runs of the flow-of-ranks experiments (fig17: Theorem 4 / appendix J.3; depth: section
4 through a stack of blocks): each exits 0, writes its png and json, and every claim passes."""

import json

import pytest

from experiments import depth, fig17

CLAIMS = {
    "fig17": {"a_no_decrease", "a_growth", "b_hypotheses", "b_eq5", "b_eq26_depth1", "c_eq6"},
    "depth": {"a_final_above_input", "b_no_decrease_with_depth", "c_no_decrease_with_heads",
              "c_growth_with_heads"},
}


@pytest.mark.parametrize("module", [fig17, depth], ids=["fig17", "depth"])
def test_smoke_run_passes(module, tmp_path):
  name = module.__name__.rsplit(".", 1)[-1]
  assert module.main(["--smoke", "--out", str(tmp_path)]) == 0
  png, path = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
  assert png.exists() and png.stat().st_size > 10_000  # a drawn figure, not an empty canvas
  record = json.loads(path.read_text())
  assert record["experiment"] == name and record["size"] == "smoke"
  assert record["verdict"]["passed"]
  assert {c["name"] for c in record["verdict"]["claims"]} == CLAIMS[name]
  assert all(c["passed"] for c in record["verdict"]["claims"])
  assert record["params"] and record["data"]
