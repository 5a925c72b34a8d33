"""lowrank-ts evaluate on the m3-tourism benchmark: the published rows beside ours, fan
charts, statistical baselines with their fallback count, and the zero-shot-only options."""

import csv

import pytest

from lowrank_ts.cli import evaluate


def _dataset_rows(folder):
  with open(folder / "per_dataset.csv") as f:
    return list(csv.DictReader(f))


def test_m3_tourism_smoke_run_prints_the_published_rows(tmp_path, capsys):
  assert evaluate.main(["--model", "seasonal-naive", "--benchmark", "m3-tourism",
                        "--max-series", "3", "--out", str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert "| chronos-bolt-tiny | 0.780 | 1.030 |" in out  # the published relative scores
  rows = _dataset_rows(tmp_path)
  assert [r["num_series"] for r in rows[:-1]] == ["3"] * 6
  assert (tmp_path / "fan_charts.png").read_bytes()[:4] == b"\x89PNG"


def test_a_statistical_baseline_reports_its_fallbacks(tmp_path, capsys):
  assert evaluate.main(["--model", "auto-theta", "--benchmark", "m3-tourism", "--max-series",
                        "2", "--out", str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert "fell back to Seasonal Naive: " in out and "of 12 series" in out
  assert float(_dataset_rows(tmp_path)[-1]["relative_wql"]) > 0


@pytest.mark.parametrize("argv, name", [
    (["--model", "seasonal-naive", "--max-series", "3"],
     "--max-series applies to --benchmark m3-tourism only"),
    (["--model", "seasonal-naive", "--benchmark", "m3-tourism", "--max-series", "0"],
     "--max-series must be"),
    (["--model", "auto-ets", "--processes", "0"], "--processes must be"),
    (["--model", "auto-ets", "--posthoc-eps", "0.1"], "--posthoc-eps needs a model checkpoint"),
])
def test_bad_options_are_usage_errors_naming_them(tmp_path, capsys, argv, name):
  with pytest.raises(SystemExit) as exit_info:
    evaluate.main([*argv, "--out", str(tmp_path / "eval")])
  lines = capsys.readouterr().err.splitlines()
  assert exit_info.value.code == 2 and len(lines) == 1 and name in lines[0], lines
  assert not (tmp_path / "eval").exists()


def test_fallbacks_are_counted_in_the_order_evaluate_calls_the_forecaster():
  import types

  import numpy as np

  from lowrank_ts.data.benchmark import Task
  from lowrank_ts.evaluation import report

  def task(dataset, horizon):
    return Task(dataset, f"{dataset}/{horizon}", np.ones(5), np.ones(horizon), None, 1)
  tasks = [task("a", 2), task("b", 3), task("a", 2)]  # evaluate calls: [0, 2] (h 2), [1] (h 3)
  failed = types.SimpleNamespace(failures=[(1, "fit failed"), (2, "fit failed")])
  assert report.fallbacks_by_dataset(failed, tasks) == {"a": 1, "b": 1}
  assert report.fallbacks_by_dataset(object(), tasks) == {"a": 0, "b": 0}


def test_the_cli_names_of_the_statistical_baselines_are_the_modules():
  from lowrank_ts.evaluation import report, statistical

  assert set(report.STATISTICAL) == set(statistical.BASELINES)  # kept apart: no statsmodels import
