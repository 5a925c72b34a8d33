"""experiments/healing.py end to end at smoke size (3 fine-tuning steps; slow: the recipe's
data pipeline, five scorings)."""

import json

import pytest


@pytest.mark.slow  # builds the cpu-zeroshot pipeline three times and scores five models
def test_healing_smoke_run_writes_every_row(tmp_path):
  from experiments import healing
  assert healing.main(["--smoke", "--out", str(tmp_path)]) == 0
  record = json.loads((tmp_path / "healing.json").read_text())
  assert (tmp_path / "healing.png").stat().st_size > 10_000
  assert record["size"] == "smoke" and record["kind"].startswith("finding")
  rows = record["data"]["rows"]
  # Per ratio: truncated, then truncated + steps at the same ranks; then the dense control.
  assert [r["model"] for r in rows] == ["truncated", "truncated + 3 steps"] * 2 + [
      "dense + 3 steps (control)"]
  for truncated, healed in (rows[0:2], rows[2:4]):
    assert truncated["rank_ratio"] == healed["rank_ratio"] < 0.2  # ranks fixed while healing
    assert truncated["finetune"] is None and healed["finetune"]["steps"] == 3
    assert healed["finetune"]["held_out_loss_before"] > 0  # recorded, a finite loss
  assert rows[-1]["rank_ratio"] == 1.0
