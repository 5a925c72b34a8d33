"""Smoke runs of the embedding experiments (thm1, fig3, fig14): each writes its png and json
and its verdict passes."""

import json
import os

import pytest

from experiments import fig3, fig14, thm1


@pytest.mark.parametrize("module", [thm1, fig3, fig14], ids=["thm1", "fig3", "fig14"])
def test_smoke_run_passes(module, tmp_path):
  name = module.__name__.rsplit(".", 1)[-1]
  assert module.main(["--smoke", "--out", str(tmp_path), "--seed", "3"]) == 0
  png, path = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
  assert png.exists() and os.path.getsize(png) > 10_000  # a real figure, not an empty canvas
  with open(path) as f:
    record = json.load(f)
  assert record["experiment"] == name and record["size"] == "smoke" and record["seed"] == 3
  assert record["verdict"]["passed"]
  assert len(record["verdict"]["claims"]) >= 3
  assert all(c["passed"] for c in record["verdict"]["claims"])
  assert record["params"] and record["data"]
