"""The learning curve's cache: rows are reused only for the seed they were scored with, and a row
a kill cut short is dropped and scored again, never glued to the next. The checkpoints and the
scoring are stand-ins (a score that is a function of the step and the seed), so that the test
checks what is reused, in milliseconds."""

import csv

import pytest

from lowrank_ts.evaluation import checkpoint_scores as curve


@pytest.fixture
def scored(monkeypatch):
  """Stand-ins for the checkpoints (steps 2 and 4) and the scoring; returns the list of
  (step, seed) pairs scored."""
  calls = []
  monkeypatch.setattr(curve.checkpoints, "checkpoint_steps", lambda workdir: [2, 4])
  monkeypatch.setattr(curve.checkpoints, "checkpoint_loader", lambda workdir: lambda step: step)
  monkeypatch.setattr(curve.benchmark_lib, "tasks", lambda benchmark: [])
  monkeypatch.setattr(curve.scoring, "evaluate", lambda forecaster, tasks: [])
  monkeypatch.setattr(curve.scoring, "per_dataset", lambda rows: {})
  monkeypatch.setattr(curve.report, "baseline_forecaster", lambda benchmark: None)

  def score(step, tasks, baseline, seed):
    calls.append((step, seed))
    value = step + seed / 10
    return {"relative_wql": value, "relative_mase": value, "wql": value, "mase": value}

  monkeypatch.setattr(curve, "score", score)
  return calls


def _wql(rows):
  return [(int(r["step"]), float(r["relative_wql"])) for r in rows]


def test_rows_scored_with_another_seed_are_not_reused(tmp_path, scored):
  workdir = str(tmp_path)
  assert _wql(curve.learning_curve(workdir, seed=0, progress=False)) == [(2, 2.0), (4, 4.0)]
  assert _wql(curve.learning_curve(workdir, seed=3, progress=False)) == [(2, 2.3), (4, 4.3)]
  assert _wql(curve.learning_curve(workdir, seed=0, progress=False)) == [(2, 2.0), (4, 4.0)]
  assert scored == [(2, 0), (4, 0), (2, 3), (4, 3)]  # the third call scored nothing
  with open(curve.csv_path(workdir, "real"), newline="") as f:
    assert [(r["step"], r["seed"]) for r in csv.DictReader(f)] == [
        ("2", "0"), ("4", "0"), ("2", "3"), ("4", "3")]


def test_a_row_cut_short_is_scored_again_not_glued_to_the_next(tmp_path, scored):
  path = curve.csv_path(str(tmp_path), "real")
  with open(path, "w", newline="") as f:  # step 4's row cut off by a kill mid-write
    f.write("step,seed,elapsed_s,loss,relative_wql,relative_mase,wql,mase\r\n"
            "2,0,,,2.0,2.0,2.0,2.0\r\n4,0,,,4.0,4.")
  assert _wql(curve.learning_curve(str(tmp_path), seed=0, progress=False)) == [(2, 2.0),
                                                                             (4, 4.0)]
  assert scored == [(4, 0)]
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  assert [(r["step"], r["relative_mase"]) for r in rows] == [("2", "2.0"), ("4", "4.0")]


def test_rows_of_a_file_without_seeds_are_scored_again(tmp_path, scored):
  path = curve.csv_path(str(tmp_path), "real")
  with open(path, "w", newline="") as f:  # which seed scored these is unknown
    f.write("step,elapsed_s,loss,relative_wql,relative_mase,wql,mase\r\n"
            "2,,,9.0,9.0,9.0,9.0\r\n")
  assert _wql(curve.learning_curve(str(tmp_path), seed=0, progress=False)) == [(2, 2.0),
                                                                             (4, 4.0)]
  assert scored == [(2, 0), (4, 0)]
