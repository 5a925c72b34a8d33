"""Smoke runs of the Theorem 6 experiments (fig16, thm6): exit code 0, png + json written,
and every claim of the json verdict passes."""

import json

import pytest

from experiments import fig16, thm6


@pytest.mark.parametrize("name,module", [("fig16", fig16), ("thm6", thm6)])
def test_smoke_run_passes(tmp_path, name, module):
  assert module.main(["--smoke", "--out", str(tmp_path)]) == 0
  png, record = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
  assert png.stat().st_size > 0
  result = json.loads(record.read_text())
  assert result["verdict"]["passed"] is True
  assert result["verdict"]["claims"] and all(c["passed"] for c in result["verdict"]["claims"])
  assert result["size"] == "smoke" and result["seed"] == 0
