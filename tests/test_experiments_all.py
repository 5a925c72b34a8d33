"""experiments.all: every row names a real script, and the ledger is rewritten only between
its markers."""

import argparse
import importlib

import pytest

from experiments import all as run_all


def test_every_row_names_an_experiment_module_with_main():
  for name in run_all.EXPERIMENTS:
    module = importlib.import_module(f"experiments.{name}")
    assert callable(module.main), name


def _record(passed):
  claim = {"name": "c", "statistic": 0.5, "threshold": 1.0, "relation": "<=", "passed": passed,
           "description": "d"}
  return {"headline": "h", "verdict": {"passed": passed, "claims": [claim]}}


def test_ledger_rows_and_markers(tmp_path):
  results = {name: {"returncode": 0, "wall_s": 1.0, "record": _record(True)}
             for name in run_all.EXPERIMENTS}
  results["fig15"] = {"returncode": 3, "wall_s": 1.0, "record": None}  # a crash
  args = argparse.Namespace(seed=0, size="default")
  rows = run_all.ledger_rows(results, args)
  table = [line for line in rows.splitlines() if line.startswith("| ")]
  assert len(table) == len(run_all.ROWS) + 1  # the header, then one row per result
  assert "crashed (exit 3)" in rows and "**FAIL**" in rows
  path = tmp_path / "ledger.md"
  path.write_text(f"head\n{run_all.BEGIN}\nSTALE ROWS\n{run_all.END}\ntail\n")
  run_all.write_ledger(rows, str(path))
  text = path.read_text()
  assert text.startswith("head\n") and text.endswith("tail\n") and "STALE ROWS" not in text
  path.write_text("no markers")
  with pytest.raises(ValueError, match="lacks the markers"):
    run_all.write_ledger(rows, str(path))
