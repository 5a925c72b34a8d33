"""Relative WQL / MASE of every kept checkpoint of a training run, against steps and wall time.

``python -m lowrank_ts.learning_curve --workdir DIR [--benchmark real|synthetic] [--seed S]
[--export FOLDER]``

For each checkpoint of ``DIR`` (see :func:`lowrank_ts.train.load_model`) the model forecasts
the benchmark and is scored against Seasonal Naive (:mod:`lowrank_ts.evaluate`: the aggregate
relative score is the geometric mean over datasets of model / Seasonal Naive, < 1 beats it).
Rows go to ``DIR/learning_curve_<benchmark>.csv`` with the training loss and the cumulative
training wall time ``elapsed_s`` logged at that step (``DIR/metrics.csv``); steps already in
the CSV are skipped, so an interrupted evaluation continues where it stopped. A plot against
steps and wall minutes goes to ``DIR/learning_curve_<benchmark>.png``. ``--export`` writes the
latest checkpoint as a Hugging Face folder (``lowrank_ts.hf.save``) that
``python -m lowrank_ts.evaluate --model FOLDER`` and chronos-forecasting can load.
"""

from __future__ import annotations

import argparse
import csv
import os

from lowrank_ts import evaluate, train
from lowrank_ts.data import benchmark as benchmark_lib

FIELDS = ("step", "elapsed_s", "loss", "relative_wql", "relative_mase", "wql", "mase")


def _metrics_at(workdir: str) -> dict[int, dict]:
  path = os.path.join(workdir, "metrics.csv")
  if not os.path.exists(path):
    return {}
  with open(path, newline="") as f:
    return {int(r["step"]): r for r in csv.DictReader(f)}


def score(model, tasks, baseline: dict, seed: int = 0) -> dict[str, float]:
  """Aggregate relative and absolute (geometric-mean) WQL / MASE of ``model`` on ``tasks``."""
  scores = evaluate.per_dataset(evaluate.evaluate(evaluate.model_forecaster(model, seed=seed),
                                                  tasks))
  relative = evaluate.relative_scores(scores, baseline)
  return {"relative_wql": relative["wql"], "relative_mase": relative["mase"],
          "wql": evaluate.geometric_mean([s["wql"] for s in scores.values()]),
          "mase": evaluate.geometric_mean([s["mase"] for s in scores.values()])}


def learning_curve(workdir: str, benchmark: str = "real", seed: int = 0,
                   progress: bool = True) -> list[dict]:
  """Scores every kept checkpoint of ``workdir`` not yet in its CSV; returns all rows."""
  steps = train.checkpoint_steps(workdir)
  if not steps:
    raise ValueError(f"workdir {workdir!r} has no checkpoints")
  path = os.path.join(workdir, f"learning_curve_{benchmark}.csv")
  done = {}
  if os.path.exists(path):
    with open(path, newline="") as f:
      done = {int(r["step"]): r for r in csv.DictReader(f)}
  tasks = benchmark_lib.tasks(benchmark)
  baseline = evaluate.per_dataset(evaluate.evaluate(evaluate.seasonal_naive_forecaster, tasks))
  logged = _metrics_at(workdir)
  load = train.checkpoint_loader(workdir)
  new = not os.path.exists(path)
  with open(path, "a", newline="") as f:
    writer = csv.DictWriter(f, FIELDS)
    if new:
      writer.writeheader()
    for step in steps:
      if step in done:
        continue
      log = logged.get(step, {})
      row = {"step": step, "elapsed_s": log.get("elapsed_s", ""), "loss": log.get("loss", ""),
             **score(load(step), tasks, baseline, seed)}
      writer.writerow(row)
      f.flush()
      done[step] = row
      if progress:
        print(f"step {step}: relative WQL {row['relative_wql']:.3f}, relative MASE "
              f"{row['relative_mase']:.3f}", flush=True)
  return [done[s] for s in sorted(done)]


def plot(rows: list[dict], png_path: str, title: str = "") -> None:
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


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--benchmark", default="real", choices=["real", "synthetic"])
  parser.add_argument("--seed", type=int, default=0, help="sampling seed (Chronos)")
  parser.add_argument("--export", default=None, help="write the latest checkpoint here (HF)")
  args = parser.parse_args(argv)
  try:
    rows = learning_curve(args.workdir, args.benchmark, args.seed)
    config = train.read_config(args.workdir)
  except ValueError as err:
    parser.error(str(err))
  png = os.path.join(args.workdir, f"learning_curve_{args.benchmark}.png")
  plot(rows, png, f"{config.model} on the {args.benchmark} benchmark")
  best = min(rows, key=lambda r: float(r["relative_wql"]))
  print(f"best relative WQL {float(best['relative_wql']):.3f} at step {best['step']}; "
        f"last {float(rows[-1]['relative_wql']):.3f} at step {rows[-1]['step']}; plot {png}")
  if args.export:
    from lowrank_ts import hf
    hf.save(train.load_model(args.workdir), args.export)
    print(f"exported step {rows[-1]['step']} to {args.export}")


if __name__ == "__main__":
  main()
