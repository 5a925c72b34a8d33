"""experiments.all: every row names a real script, and the ledger is rewritten only between
its markers."""

import argparse
import pathlib
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


def test_main_runs_every_script_with_the_flags_and_fails_on_a_non_pass(tmp_path, monkeypatch,
                                                                         capsys):
  """experiments.all end to end, with the scripts replaced by a recorder: each is called
  once with --seed/--out/--smoke, its fresh json is read, a crash has no record, any status
  that is not a PASS makes the exit code 1, and a run outside figures/ leaves the ledger."""
  import json
  import subprocess
  calls = []

  def fake_run(cmd, capture_output, text):
    name = cmd[2].removeprefix("experiments.")
    calls.append((name, cmd[3:]))
    if name == "fig15":
      return subprocess.CompletedProcess(cmd, 3, "", "boom")  # a crash: no json
    record = _record(True)
    record["verdict"]["status"] = "PARTIAL" if name == "fig16" else "PASS"
    (tmp_path / f"{name}.json").write_text(json.dumps(record))
    return subprocess.CompletedProcess(cmd, 0, "", "")

  monkeypatch.setattr(run_all.subprocess, "run", fake_run)
  ledger = pathlib.Path(run_all.REPRO).read_text()
  code = run_all.main(["--seed", "3", "--out", str(tmp_path), "--smoke"])
  assert code == 1
  assert [name for name, _ in calls] == run_all.EXPERIMENTS
  assert all(flags == ["--seed", "3", "--out", str(tmp_path), "--smoke"] for _, flags in calls)
  out = capsys.readouterr().out
  assert f"{len(run_all.EXPERIMENTS) - 2}/{len(run_all.EXPERIMENTS)} experiments PASS" in out
  assert "fig15 (FAIL)" in out and "fig16 (PARTIAL)" in out
  assert pathlib.Path(run_all.REPRO).read_text() == ledger  # --out elsewhere: untouched
