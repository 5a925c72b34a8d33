"""experiments.trained_all: the trained-model rows run through experiments.all's machinery,
with their own ledger markers, and a status that is not a PASS (UNINFORMATIVE included) fails."""

import json
import pathlib
import subprocess

from experiments import all as theory
from experiments import trained_all


def test_every_row_names_a_real_script_that_reads_the_shipped_default():
  root = pathlib.Path(__file__).resolve().parents[1]
  for _, _, name in trained_all.ROWS:
    assert (root / "experiments" / f"{name}.py").exists(), name
  assert not set(trained_all.ROWS) & set(theory.ROWS)


def test_runs_each_script_once_and_uninformative_is_not_a_pass(tmp_path, monkeypatch, capsys):
  calls = []

  def fake_run(cmd, capture_output, text):
    name = cmd[2].removeprefix("experiments.")
    calls.append((name, cmd[3:]))
    claims = [{"name": "precondition_model_relative_wql", "statistic": 1.2, "relation": "<=",
               "threshold": 1.0, "passed": False, "kind": "precondition"}]
    status = "UNINFORMATIVE" if name == "fig5" else "PASS"
    record = {"headline": name, "verdict": {"passed": status == "PASS", "status": status,
                                            "claims": claims}}
    (tmp_path / f"{name}.json").write_text(json.dumps(record))
    return subprocess.CompletedProcess(cmd, 0, "", "")

  monkeypatch.setattr(theory.subprocess, "run", fake_run)
  ledger = pathlib.Path(theory.REPRO).read_text()
  code = trained_all.main(["--seed", "1", "--out", str(tmp_path), "--smoke"])
  assert code == 1
  assert [name for name, _ in calls] == [name for _, _, name in trained_all.ROWS]
  assert "fig5 (UNINFORMATIVE)" in capsys.readouterr().out
  assert pathlib.Path(theory.REPRO).read_text() == ledger  # --out elsewhere: untouched


def test_rows_label_the_precondition_and_go_between_their_own_markers(tmp_path):
  record = {"headline": "h", "verdict": {"passed": False, "status": "UNINFORMATIVE", "claims": [
      {"name": "precondition_model_relative_wql", "statistic": 1.157, "relation": "<=",
       "threshold": 1.0, "passed": False, "kind": "precondition"}]}}
  results = {name: {"returncode": 0, "wall_s": 1.0, "record": record}
             for _, _, name in trained_all.ROWS}

  class Args:
    seed, size = 0, "default"

  rows = theory.ledger_rows(results, Args, trained_all.ROWS, "experiments.trained_all")
  assert "[precondition]" in rows and "**UNINFORMATIVE**" in rows
  assert "`python -m experiments.trained_all`" in rows
  path = tmp_path / "ledger.md"
  path.write_text(f"a\n{theory.BEGIN}\ntheory\n{theory.END}\n{trained_all.BEGIN}\nOLD-ROWS\n"
                  f"{trained_all.END}\nz\n")
  theory.write_ledger(rows, str(path), trained_all.BEGIN, trained_all.END)
  text = path.read_text()
  assert "theory" in text and "OLD-ROWS" not in text and rows in text
