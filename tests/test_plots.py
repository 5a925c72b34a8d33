"""Tests for lowrank_ts.evaluation.plots: fan charts of three hand-made tasks write a PNG, the
series choice is spread over datasets and deterministic, bad arguments name themselves."""

import numpy as np
import pytest

from lowrank_ts.data.benchmark import Task
from lowrank_ts.evaluation import plots
from lowrank_ts.models.config import QUANTILE_LEVELS


def _tasks_and_rows():
  rng = np.random.default_rng(0)
  tasks, rows = [], []
  for dataset, series, length, horizon in [("m3-monthly", "M1", 60, 18),
                                           ("m3-monthly", "M2", 30, 18),
                                           ("tourism-yearly", "Y1", 12, 4)]:
    values = np.cumsum(rng.normal(size=length + horizon)) + 10.0
    task = Task(dataset, series, values[:length], values[length:], None, 1)
    median = np.full(horizon, values[length - 1])
    spread = np.asarray(QUANTILE_LEVELS)[:, None] - 0.5
    quantiles = median + 4.0 * spread * np.sqrt(np.arange(1, horizon + 1))
    tasks.append(task)
    rows.append({"dataset": dataset, "series": series, "quantiles": quantiles,
                 "target": task.target, "wql": 0.1234, "mase": 1.234})
  return tasks, rows


def test_writes_a_png(tmp_path):
  tasks, rows = _tasks_and_rows()
  path = tmp_path / "sub" / "fan.png"
  chosen = plots.fan_charts(tasks, rows, path, num_series=6, title="three series")
  assert chosen == [0, 1, 2]  # all of them, as there are fewer than num_series
  assert path.read_bytes()[:4] == b"\x89PNG"
  path2 = tmp_path / "short.png"
  assert plots.fan_charts(tasks, rows, str(path2), num_series=2, history=5) == [0, 2]
  assert path2.read_bytes()[:4] == b"\x89PNG"


def test_choose_series_spreads_over_datasets():
  datasets = ["a"] * 10 + ["b"] * 2 + ["c"] * 5
  assert plots.choose_series(datasets, 3) == [0, 10, 12]  # one per dataset
  assert plots.choose_series(datasets, 6) == [0, 9, 10, 11, 12, 16]  # two each, ends included
  assert plots.choose_series(datasets, 7) == [0, 4, 9, 10, 11, 12, 16]  # b exhausted
  assert plots.choose_series(datasets, 2) == [0, 12]  # fewer panels than datasets: a and c
  assert plots.choose_series(datasets, 100) == list(range(17))
  assert plots.choose_series(datasets, 6) == plots.choose_series(datasets, 6)


def test_bad_arguments_name_themselves(tmp_path):
  tasks, rows = _tasks_and_rows()
  png = tmp_path / "x.png"
  with pytest.raises(ValueError, match="num_series must be"):
    plots.fan_charts(tasks, rows, png, num_series=0)
  with pytest.raises(ValueError, match="num_series must be"):
    plots.fan_charts(tasks, rows, png, num_series=2.5)
  with pytest.raises(ValueError, match="history must be"):
    plots.fan_charts(tasks, rows, png, history=-1)
  with pytest.raises(ValueError, match=r"rows must have one row per task \(3\), got 2"):
    plots.fan_charts(tasks, rows[:2], png)
  with pytest.raises(ValueError, match="rows must follow the order of tasks"):
    plots.fan_charts(tasks, rows[::-1], png)
  with pytest.raises(ValueError, match=r"rows\[0\]\['quantiles'\] must have shape \(9, 18\)"):
    plots.fan_charts(tasks, [{**rows[0], "quantiles": rows[0]["quantiles"][:5]}] + rows[1:], png)
  with pytest.raises(ValueError, match="rows must be a sequence"):
    plots.fan_charts(tasks, None, png)
  with pytest.raises(ValueError, match=r"rows\[1\] must be a dict"):
    plots.fan_charts(tasks, [rows[0], 1, rows[2]], png)
  with pytest.raises(ValueError, match=r"rows\[2\] lacks \['wql'\]"):
    plots.fan_charts(tasks, rows[:2] + [{k: v for k, v in rows[2].items() if k != "wql"}], png)
  with pytest.raises(ValueError, match="tasks must be"):
    plots.fan_charts([], [], png)
  for bad in (tmp_path / "x.pdf", tmp_path / "x", 3):
    with pytest.raises(ValueError, match="path must be a file name ending in .png"):
      plots.fan_charts(tasks, rows, bad)
  assert not list(tmp_path.iterdir())
