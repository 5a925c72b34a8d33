"""Relative WQL / MASE of every kept checkpoint of a training run, against steps and wall time.

Each checkpoint's model (:func:`lowrank_ts.training.checkpoints.checkpoint_loader`) forecasts
the benchmark and is scored against Seasonal Naive (:mod:`.report`: the aggregate relative
score is the geometric mean over datasets of model / Seasonal Naive, < 1 beats it).
Rows go to ``WORKDIR/learning_curve_<benchmark>.csv`` with the training loss and the cumulative
training wall time ``elapsed_s`` logged at that step (``WORKDIR/metrics.csv``) and the sampling
``seed`` the scores used; steps already scored with the same seed are skipped, so an
interrupted evaluation continues where it stopped (the benchmark is in the file's name; rows of
other seeds stay in the file and are not reused). A row cut short by a kill (the file's last
line without its newline) or one that does not parse is dropped and scored again, never glued
to the next.
"""

from __future__ import annotations

import csv
import io
import os

from lowrank_ts import atomic, checks
from lowrank_ts.data import benchmark as benchmark_lib
from lowrank_ts.evaluation import report, scoring
from lowrank_ts.training import checkpoints

FIELDS = ("step", "seed", "elapsed_s", "loss", "relative_wql", "relative_mase", "wql", "mase")
SCORES = ("relative_wql", "relative_mase", "wql", "mase")


def _complete_rows(path: str) -> list[dict]:
  """The rows of a CSV written row by row, without a last line a kill cut short and without
  rows whose ``step`` is not an integer (the file's own checks follow)."""
  with open(path, newline="") as f:
    text = f.read()
  if not text.endswith("\n"):
    text = text[:text.rfind("\n") + 1]
  rows = []
  for row in csv.DictReader(io.StringIO(text, newline="")):
    try:
      row["step"] = int(row["step"])
    except (KeyError, TypeError, ValueError):
      continue
    rows.append(row)
  return rows


def _metrics_at(workdir: str) -> dict[int, dict]:
  path = os.path.join(workdir, "metrics.csv")
  if not os.path.exists(path):
    return {}
  return {r["step"]: r for r in _complete_rows(path)}


def _scored_rows(path: str) -> list[dict]:
  """The learning-curve rows of ``path`` that hold a seed and four scores (see module doc)."""
  rows = []
  for row in _complete_rows(path) if os.path.exists(path) else []:
    try:
      row["seed"] = int(row["seed"])
      for name in SCORES:
        row[name] = float(row[name])
    except (KeyError, TypeError, ValueError):  # a file without a seed column: scored again
      continue
    rows.append({name: "" if row.get(name) is None else row[name] for name in FIELDS})
  return rows


def score(model, tasks, baseline: dict, seed: int = 0) -> dict[str, float]:
  """Aggregate relative and absolute (geometric-mean) WQL / MASE of ``model`` on ``tasks``;
  ``baseline`` is the benchmark's Seasonal Naive's :func:`.scoring.per_dataset`
  (:func:`.report.baseline_forecaster`)."""
  scores = report.score(scoring.model_forecaster(model, seed=seed), tasks, baseline)
  return {"relative_wql": scores.aggregate["wql"], "relative_mase": scores.aggregate["mase"],
          **report.geometric_means(scores)}


def csv_path(workdir: str, benchmark: str) -> str:
  """Where :func:`learning_curve` keeps its rows."""
  return os.path.join(workdir, f"learning_curve_{benchmark}.csv")


def learning_curve(workdir: str, benchmark: str = "real", seed: int = 0,
                   progress: bool = True) -> list[dict]:
  """Scores every kept checkpoint of ``workdir`` not yet in its CSV with this ``seed``;
  returns the rows of this seed."""
  seed = checks.seed(seed, "seed")
  steps = checkpoints.checkpoint_steps(workdir)
  if not steps:
    raise ValueError(f"workdir {workdir!r} has no checkpoints")
  path = csv_path(workdir, benchmark)
  kept = _scored_rows(path)
  with atomic.output_file(path) as temporary, temporary.open("w", newline="") as f:
    writer = csv.DictWriter(f, FIELDS)  # the rows kept, without what a kill cut short
    writer.writeheader()
    writer.writerows(kept)
  done = {row["step"]: row for row in kept if row["seed"] == seed}
  tasks = benchmark_lib.tasks(benchmark)
  baseline = scoring.per_dataset(scoring.evaluate(report.baseline_forecaster(benchmark), tasks))
  logged = _metrics_at(workdir)
  load = checkpoints.checkpoint_loader(workdir)
  with open(path, "a", newline="") as f:
    writer = csv.DictWriter(f, FIELDS)
    for step in steps:
      if step in done:
        continue
      log = logged.get(step, {})
      row = {"step": step, "seed": seed, "elapsed_s": log.get("elapsed_s", ""),
             "loss": log.get("loss", ""), **score(load(step), tasks, baseline, seed)}
      writer.writerow(row)
      f.flush()
      done[step] = row
      if progress:
        print(f"step {step}: relative WQL {row['relative_wql']:.3f}, relative MASE "
              f"{row['relative_mase']:.3f}", flush=True)
  return [done[s] for s in sorted(done)]


def plot(rows: list[dict], png_path: str, title: str = "") -> None:
  """Relative WQL / MASE against training step and training wall minutes (PNG)."""
  import matplotlib  # lazily: plotting is optional and slow to import
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  steps = [int(r["step"]) for r in rows]
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
  for key, marker in (("relative_wql", "o-"), ("relative_mase", "s--")):
    values = [float(r[key]) for r in rows]
    axes[0].plot(steps, values, marker, ms=3, label=key.replace("_", " "))
    timed = [(float(r["elapsed_s"]) / 60, v) for r, v in zip(rows, values) if r["elapsed_s"]]
    if timed:
      axes[1].plot(*zip(*timed), marker, ms=3, label=key.replace("_", " "))
  for ax in axes:
    ax.axhline(1.0, color="k", lw=0.8, ls=":", label="Seasonal Naive")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
  axes[0].set_xlabel("training step")
  axes[1].set_xlabel("training wall time (min)")
  axes[0].set_ylabel("score / Seasonal Naive (geo. mean)")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(png_path, dpi=100)
  plt.close(fig)
