"""The defaults of ``lowrank-ts finetune`` (learning rate, what trains) and the dense /
compressed / compressed + fine-tuned trade-off, measured on validation series only.

Command: ``python -m experiments.finetune_defaults [--steps 60] [--out figures/]``
Runtime: a few minutes on 2 CPU cores (``wall_time_s`` in the json).

Protocol, fixed before the run: the shipped model ``cpu-zeroshot`` (``--model``) and the
``val-real-M`` validation set (:mod:`lowrank_ts.data.validation`: held-out corpus series, never
a scored benchmark; horizon 18, season 12). Each series' context is the user's series:
:func:`lowrank_ts.finetuning.tuning.finetune` holds out its last 18 values for early stopping;
the task's target (18 later values, never seen by the fine-tuning) scores the result. Grid:
learning rate 1e-5 / 1e-4 / 1e-3 x trainable all / head+norms, ``--steps`` steps, evaluation
every ``steps // 10``. Score: test WQL and MASE of the fine-tuned model over the same series
scored by the shipped model (``< 1``: fine-tuning helped). Trade-off: the shipped model, its
post-hoc compression at attention size ratio 0.5 (``--mode efficient``), and that compressed
model fine-tuned with the grid's best setting (lowest test WQL): parameter bytes, forecast
seconds for the test windows (one call, after a warm-up call), test WQL. Writes
``finetune_defaults.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import jax
import numpy as np

from lowrank_ts.data import validation
from lowrank_ts.evaluation import metrics
from lowrank_ts.evaluation.scoring import MEDIAN_ROW
from lowrank_ts.finetuning import tuning
from lowrank_ts.inference import forecasting
from lowrank_ts.interop import resolve
from lowrank_ts.models import allocation, posthoc

DATASET = "val-real-M"
LEARNING_RATES = (1e-5, 1e-4, 1e-3)
TRAINABLES = ("all", "head+norms")


def target_scores(model, tasks, seconds: bool = False) -> dict:
  """Test WQL / MASE of ``model`` on the tasks' targets (contexts: the tasks' contexts)."""
  context = forecasting.prepare_context([t.context.astype(np.float32) for t in tasks])
  horizon = tasks[0].horizon
  forecasting.forecast(model, context[:2], horizon, jax.random.key(0))  # compile
  start = time.perf_counter()
  q = np.moveaxis(forecasting.forecast(model, context, horizon, jax.random.key(0))["quantiles"],
                  -1, 1)
  wall = time.perf_counter() - start
  target = np.stack([t.target for t in tasks])
  scales = np.array([metrics.seasonal_error(t.context, t.seasonality) for t in tasks])
  out = {"wql": metrics.weighted_quantile_loss(target, q),
         "mase": metrics.mean_absolute_scaled_error(target, q[:, MEDIAN_ROW], scales)}
  return {**out, "forecast_s": wall} if seconds else out


MODEL = "cpu-zeroshot"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--out", default="figures")
  parser.add_argument("--model", default=MODEL, help=f"the model measured (default {MODEL}, "
                      "the protocol's; any --model the command lines take)")
  args = parser.parse_args(argv)
  start = time.perf_counter()
  tasks = [t for t in validation.tasks() if t.dataset == DATASET]
  model = resolve.load_model(args.model, "--model")
  names = [t.series for t in tasks]
  series = [t.context.astype(np.float32) for t in tasks]
  season = tasks[0].seasonality
  common = dict(steps=args.steps, names=names, seasonality=season)
  runs = []
  kept = None
  for lr in LEARNING_RATES:
    for trainable in TRAINABLES:
      with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        tuned, report = tuning.finetune(model, series, tasks[0].horizon, learning_rate=lr,
                                        trainable=trainable, **common)
      if kept is None:
        kept = [t for t in tasks if t.series not in
                {r["series"] for r in report["series_left_out"]}]
        base = target_scores(model, kept)
      score = target_scores(tuned, kept)
      runs.append({"learning_rate": lr, "trainable": trainable,
                   "chosen_step": report["chosen_step"], "steps_run": report["steps_run"],
                   "holdout_before": report["before"], "holdout_after": report["after"],
                   "test": score, "test_relative_wql": score["wql"] / base["wql"],
                   "test_relative_mase": score["mase"] / base["mase"],
                   "train_seconds": report["train_seconds_this_call"]})
      print(json.dumps(runs[-1]), flush=True)
  best = min(runs, key=lambda r: r["test_relative_wql"])  # the defaults the grid supports
  compressed, _ = posthoc.compress_to(model, allocation.Request(None, 0.5, "uniform",
                                                                "efficient"),
                                      for_training=True)
  with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    healed, heal_report = tuning.finetune(compressed, series, tasks[0].horizon,
                                          learning_rate=best["learning_rate"],
                                          trainable=best["trainable"], **common)
  tradeoff = {}
  for label, m in (("dense", model), ("compressed", compressed),
                   ("compressed+fine-tuned", healed)):
    tradeoff[label] = {"parameter_bytes": posthoc.parameter_bytes(m),
                       **target_scores(m, kept, seconds=True)}
  tradeoff["compressed+fine-tuned"]["train_seconds"] = heal_report["train_seconds_this_call"]
  record = {"command": "python -m experiments.finetune_defaults " + " ".join(argv or []),
            "dataset": DATASET, "series": len(kept), "series_left_out": len(tasks) - len(kept),
            "steps": args.steps, "shipped_test": base, "grid": runs,
            "best": {k: best[k] for k in ("learning_rate", "trainable")}, "tradeoff": tradeoff,
            "wall_time_s": time.perf_counter() - start}
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "finetune_defaults.json"), "w") as f:
    json.dump(record, f, indent=1)
  print(json.dumps(tradeoff, indent=1))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
