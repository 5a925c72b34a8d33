"""Smoke run of experiments/fig15.py (Theorem 3, appendix J.1): exits 0, writes png + json,
and the json verdict passes with every claim recorded."""

import json

from experiments import fig15


def test_fig15_smoke(tmp_path):
  assert fig15.main(["--smoke", "--out", str(tmp_path)]) == 0
  png, path = tmp_path / "fig15.png", tmp_path / "fig15.json"
  assert png.exists() and png.stat().st_size > 0
  record = json.loads(path.read_text())
  assert record["verdict"]["passed"]
  names = {c["name"] for c in record["verdict"]["claims"]}
  assert {"slope_vs_sigma_bulk_min", "slope_vs_d_min", "erratum_paper_log4d_fails",
          "erratum_sqrt_L_slope"} <= names
  assert all(c["passed"] for c in record["verdict"]["claims"])
  assert record["seed"] == 0 and record["size"] == "smoke"
