"""A run's training metrics: ``WORKDIR/metrics.csv``, TensorBoard scalars and the loss plot.

:class:`RunLog` writes each logged step's row (loss, grad norm, lr, steps/s, cumulative wall
seconds ``elapsed_s``) to the CSV and as ``train/<name>`` scalars to event files in
``WORKDIR/tensorboard`` (tensorboardX). A resumed run continues both from the restored step:
the CSV first drops the rows a killed run logged after its last checkpoint, and the event
writer tells TensorBoard to purge those steps, since they will be logged again. Only the
primary process of a multi-host run writes (:func:`run_log`).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Mapping

import tensorboardX

from lowrank_ts import checks


class MetricsCSV:
  """``metrics.csv``: one row per logged step, flushed as it is written."""
  FIELDS = ("step", "loss", "grad_norm", "lr", "steps_per_s", "elapsed_s")

  def __init__(self, path: str, resume_step: int):
    """Appends to ``path``, first dropping rows after ``resume_step`` (logged by a run that was
    killed before its next checkpoint: they will be logged again)."""
    rows = []
    if os.path.exists(path):
      with open(path, newline="") as f:
        text = f.read()
      if not text.endswith("\n"):  # a row cut short by a kill: it is past the checkpoint
        text = text[:text.rfind("\n") + 1]
      rows = [r for r in csv.DictReader(io.StringIO(text, newline=""))
              if int(r["step"]) <= resume_step]
    self.elapsed = float(rows[-1].get("elapsed_s") or 0.0) if rows else 0.0
    with open(path + ".tmp", "w", newline="") as f:
      writer = csv.DictWriter(f, self.FIELDS, extrasaction="ignore", restval="")
      writer.writeheader()
      writer.writerows(rows)
    os.replace(path + ".tmp", path)
    self._file = open(path, "a", newline="")  # noqa: SIM115 (open for the whole run)
    self._writer = csv.DictWriter(self._file, self.FIELDS)

  def write(self, row: Mapping[str, float]) -> None:
    self._writer.writerow(row)
    self._file.flush()

  def close(self) -> None:
    self._file.close()


class TensorBoardScalars:
  """Scalars in a new event file of ``logdir`` (tensorboardX ``SummaryWriter``), from a run
  resumed at ``resume_step``: TensorBoard hides the steps after it that older files hold."""

  def __init__(self, logdir: str, resume_step: int = 0):
    if not isinstance(logdir, (str, os.PathLike)) or not str(logdir):
      raise ValueError(f"logdir must be a non-empty path, got {logdir!r}")
    resume_step = checks.positive_int(resume_step, "resume_step", allow_zero=True)
    # purge_step: a SessionLog.START at resume_step + 1, on which TensorBoard's reader drops
    # earlier-written events at or after that step. tensorboardX names files by the second:
    # the nanosecond suffix keeps two writers of one second apart and in order (the reader
    # loads files in name order). Events reach the file within flush_secs.
    self._writer = tensorboardX.SummaryWriter(
        logdir, purge_step=resume_step + 1, flush_secs=1,
        filename_suffix=f".{time.time_ns()}.{os.getpid()}")

  def write(self, step: int, values: Mapping[str, float]) -> None:
    """Scalars ``{tag: value}`` at ``step`` (non-finite values as they are)."""
    step = checks.positive_int(step, "step", allow_zero=True)
    if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
      raise ValueError(f"values must be a mapping of str tags to floats, got {values!r}")
    for tag, value in values.items():
      self._writer.add_scalar(tag, float(value), step)

  def close(self) -> None:
    self._writer.close()  # writes everything queued first


class RunLog:
  """The primary process's metrics sink: :class:`MetricsCSV` and :class:`TensorBoardScalars`
  in ``workdir``; ``elapsed`` is the training wall time logged before ``resume_step``."""

  def __init__(self, workdir: str, resume_step: int):
    self._csv = MetricsCSV(os.path.join(workdir, "metrics.csv"), resume_step)
    self._board = TensorBoardScalars(os.path.join(workdir, "tensorboard"), resume_step)
    self.elapsed = self._csv.elapsed

  def write(self, step: int, row: Mapping[str, float]) -> None:
    self._csv.write({"step": step, **row})
    self._board.write(step, {f"train/{k}": v for k, v in row.items()})

  def close(self) -> None:
    self._csv.close()
    self._board.close()


class NoLog:
  """Metrics sink of the non-primary processes of a multi-host run."""
  elapsed = 0.0

  def write(self, step: int, row: Mapping[str, float]) -> None:
    del step, row

  def close(self) -> None:
    pass


def run_log(workdir: str, resume_step: int, primary: bool) -> RunLog | NoLog:
  """Where a run resumed at ``resume_step`` logs: a :class:`RunLog` on the primary process."""
  return RunLog(workdir, resume_step) if primary else NoLog()


def plot_loss_curve(csv_path: str, png_path: str) -> None:
  """The logged loss against step (``metrics.csv`` -> PNG)."""
  import matplotlib  # lazily: plotting is optional and slow to import
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  with open(csv_path) as f:
    rows = list(csv.DictReader(f))
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows])
  ax.set_xlabel("step")
  ax.set_ylabel("training loss")
  fig.tight_layout()
  fig.savefig(png_path, dpi=100)
  plt.close(fig)
