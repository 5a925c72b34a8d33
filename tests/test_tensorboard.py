"""Training metrics (lowrank_ts.training.metrics) written through tensorboardX and read back by
TensorBoard's own reader; the CSV and the event files agree across a resume."""

import csv

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from lowrank_ts.training import metrics


def _scalars(logdir):
  acc = event_accumulator.EventAccumulator(str(logdir))
  acc.Reload()
  return acc, {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}


def test_scalars_round_trip_through_tensorboard(tmp_path):
  values = {"train/loss": [2.5, 1.25, np.float32(0.1)], "train/lr": [1e-3, 5e-4, 0.0]}
  board = metrics.TensorBoardScalars(str(tmp_path))
  for i, step in enumerate((0, 10, 2**40)):  # a step past 32 bits: int64
    board.write(step, {k: v[i] for k, v in values.items()})
  board.close()
  _, scalars = _scalars(tmp_path)
  assert sorted(scalars) == sorted(values)
  for tag, expected in values.items():
    assert [e.step for e in scalars[tag]] == [0, 10, 2**40]
    # simple_value is a float32 field: exact after rounding to float32.
    np.testing.assert_array_equal([e.value for e in scalars[tag]], np.float32(expected))


def _row(step, loss):
  return {"loss": loss, "grad_norm": 1.0, "lr": 1e-3, "steps_per_s": 2.0,
          "elapsed_s": 0.5 * step}


def test_resumed_log_drops_the_steps_after_the_checkpoint_in_csv_and_tensorboard(tmp_path):
  killed = metrics.RunLog(str(tmp_path), resume_step=0)
  for step in range(1, 6):  # steps 4 and 5 were logged after the last checkpoint (3)
    killed.write(step, _row(step, loss=10.0 + step))
  killed.close()
  resumed = metrics.RunLog(str(tmp_path), resume_step=3)
  assert resumed.elapsed == 1.5  # the wall time logged at the restored step
  for step in (4, 5):
    resumed.write(step, _row(step, loss=float(step)))
  resumed.close()
  with open(tmp_path / "metrics.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
  assert [float(r["loss"]) for r in rows] == [11.0, 12.0, 13.0, 4.0, 5.0]
  # Two event files; TensorBoard purges the first one's steps after 3 (tensorboardX's
  # purge_step), so it shows each step once, with the resumed run's values.
  assert len(list((tmp_path / "tensorboard").iterdir())) == 2
  _, scalars = _scalars(tmp_path / "tensorboard")
  assert sorted(scalars) == [f"train/{k}" for k in sorted(_row(0, 0.0))]
  loss = scalars["train/loss"]
  assert [e.step for e in loss] == [1, 2, 3, 4, 5]
  assert [e.value for e in loss] == [11.0, 12.0, 13.0, 4.0, 5.0]


def test_non_primary_processes_write_nothing(tmp_path):
  log = metrics.run_log(str(tmp_path), resume_step=0, primary=False)
  log.write(1, _row(1, 1.0))
  log.close()
  assert log.elapsed == 0.0 and list(tmp_path.iterdir()) == []


def test_bad_arguments_name_the_argument(tmp_path):
  with pytest.raises(ValueError, match="logdir"):
    metrics.TensorBoardScalars("")
  with pytest.raises(ValueError, match="resume_step"):
    metrics.TensorBoardScalars(str(tmp_path), resume_step=-1)
  board = metrics.TensorBoardScalars(str(tmp_path))
  try:
    with pytest.raises(ValueError, match="step"):
      board.write(-1, {"a": 1.0})
    with pytest.raises(ValueError, match="values"):
      board.write(0, {1: 1.0})
  finally:
    board.close()
