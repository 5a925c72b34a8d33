"""The reference model's acceptance checks, on the validation sets only unless ``--benchmark``.

``python -m experiments.reference_model [--model DIR] [--workdir RUN] [--benchmark]`` writes
``figures/reference_model.{png,json}``:

- attention is used: cutting every attention matrix to rank 1 (post-hoc truncation at
  eps = 0.999, ``compress --eps 0.999 --mode paper``) raises validation relative WQL by >= 15 %;
- seasonality is copied: on clean seasonal series of period 12 and 24 (held-out seeds, 256
  values of history, horizon 24), the mean over series of the median forecast's largest
  absolute error over the cycle's peak-to-peak amplitude is <= 0.10;
- other frequencies: relative WQL per validation family, and on held-out synthetic families
  (clean seasonal of periods 4-24, trend, random walk, intermittent; :func:`family_tasks`),
  which ones beat Seasonal Naive;
- converged (with ``--workdir``): over the last quarter of the run's validation learning curve
  the fitted linear change is within twice the residual spread of the checkpoints;
- ``--benchmark``: the one scoring on M3 + Tourism, for the chosen model: relative WQL <= 0.80
  and MASE <= 1.00 (chronos-bolt-tiny's level), no dataset worse than Seasonal Naive.
"""

from __future__ import annotations

import csv
import os
import sys
import time

import numpy as np
from matplotlib import pyplot as plt

from experiments import common, precondition
from lowrank_ts.data import benchmark, seasonal_synth
from lowrank_ts.data.task import Task
from lowrank_ts.evaluation import metrics, report, scoring
from lowrank_ts.inference import forecasting

RANK1_COST = precondition.MIN_RANK1_COST
PERIODIC_ERROR = 0.10  # of the amplitude: a copied cycle is near-exact, a damped one is not
PERIODIC_SEED = 777  # validation's own stream tag for the periodic series
FAMILY_SEED = 888  # the held-out families' stream tag (neither validation's nor training's)


def validation_scores(model, tasks, baseline) -> report.Scores:
  return report.score(scoring.model_forecaster(model), tasks, baseline)


def per_dataset_relative(scores: report.Scores) -> dict[str, dict[str, float]]:
  """Model / Seasonal Naive per dataset and metric."""
  return {name: {m: scores.datasets[name][m] / scores.baseline[name][m] for m in ("wql", "mase")}
          for name in scores.datasets}


def periodic_errors(model, periods=(12, 24), series=20) -> dict[int, float]:
  """Per period: mean over series of max |median forecast - truth| / peak-to-peak amplitude."""
  out = {}
  for period in periods:
    values = np.stack([seasonal_synth.clean_seasonal(
        np.random.default_rng([PERIODIC_SEED, period, i]), 256 + 24, period)
        for i in range(series)])
    result = forecasting.forecast(model, values[:, :256], 24)
    median = np.asarray(result["quantiles"])[..., 4]
    amplitude = np.ptp(values[:, 256 - period:256], axis=1)
    out[period] = float((np.abs(median - values[:, 256:]).max(axis=1) / amplitude).mean())
  return out


def _random_walk(rng: np.random.Generator, length: int) -> np.ndarray:
  return (100.0 + np.cumsum(rng.normal(0.0, 1.0, length))) * 10.0 ** rng.uniform(-1, 3)


def family_tasks(series: int = 20, context: int = 256, horizon: int = 24) -> list[Task]:
  """Held-out synthetic families, ``series`` each: clean seasonal series of periods 4, 7, 12,
  24 (Seasonal Naive is exact on them), piecewise trends, random walks (where the naive
  forecast is optimal) and intermittent demand. Unscorable series (an all-zero target, a
  constant context) are left out."""
  makers = {f"clean-p{p}": (p, lambda rng, n, p=p: seasonal_synth.clean_seasonal(rng, n, p))
            for p in (4, 7, 12, 24)}
  makers["trend"] = (1, lambda rng, n: seasonal_synth.sample(rng, n, "trend"))
  makers["random-walk"] = (1, _random_walk)
  makers["intermittent"] = (1, lambda rng, n: seasonal_synth.sample(rng, n, "intermittent"))
  tasks = []
  for f, (name, (period, make)) in enumerate(makers.items()):
    for i in range(series):
      values = np.asarray(make(np.random.default_rng([FAMILY_SEED, f, i]), context + horizon),
                          np.float64)
      past, future = values[:context], values[context:]
      if np.any(future != 0) and np.ptp(past) > 0:
        tasks.append(Task(name, f"{name}-{i}", past, future, None, period))
  return tasks


def _pooled_wql(forecaster, tasks: list[Task]) -> float:
  """WQL pooled over ``tasks`` (one horizon), as :func:`scoring.per_dataset` pools it; no MASE,
  which an exactly periodic history cannot scale."""
  quantiles = forecaster([t.context for t in tasks], tasks[0].horizon,
                         [t.seasonality for t in tasks])
  return metrics.weighted_quantile_loss(np.stack([t.target for t in tasks]),
                                        np.asarray(quantiles, np.float64))


def family_comparison(model, series: int = 20) -> dict[str, dict]:
  """Per held-out family (:func:`family_tasks`): the model's WQL, Seasonal Naive's (the point
  forecast), their ratio (None where Seasonal Naive is exact) and whether the model is
  better."""
  tasks = family_tasks(series)
  ours, naive = scoring.model_forecaster(model), report.baseline_forecaster("validation")
  out = {}
  for name in dict.fromkeys(t.dataset for t in tasks):
    family = [t for t in tasks if t.dataset == name]
    m, n = _pooled_wql(ours, family), _pooled_wql(naive, family)
    out[name] = {"num_series": len(family), "wql": m, "naive_wql": n,
                 "relative_wql": m / n if n > 0 else None, "beats_seasonal_naive": bool(m < n)}
  return out


def convergence(workdir: str) -> dict | None:
  """The last quarter of ``workdir``'s validation learning curve: fitted change and the
  residual spread (None without a curve of >= 8 checkpoints)."""
  path = os.path.join(workdir, "learning_curve_validation.csv")
  if not os.path.exists(path):
    return None
  with open(path, newline="") as f:
    rows = sorted(csv.DictReader(f), key=lambda r: int(r["step"]))
  if len(rows) < 8:
    return None
  last = rows[len(rows) - max(4, len(rows) // 4):]
  steps = np.array([int(r["step"]) for r in last], np.float64)
  wql = np.array([float(r["relative_wql"]) for r in last])
  slope, intercept = np.polyfit(steps, wql, 1)
  residual = wql - (slope * steps + intercept)
  return {"steps": steps.tolist(), "relative_wql": wql.tolist(),
          "fitted_change": float(slope * (steps[-1] - steps[0])),
          "residual_sd": float(residual.std(ddof=2))}


def main(argv: list[str] | None = None) -> int:
  args = common.parse_args(__doc__, argv, extra={
      "--model": {"default": None, "help": "a checkpoint folder (default: the shipped model)"},
      "--workdir": {"default": None, "help": "the model's training run (learning curve)"},
      "--benchmark": {"action": "store_true", "help": "score once on M3 + Tourism"}})
  start = time.time()
  model = report.load_model(args.model)
  tasks = benchmark.tasks("validation")
  baseline = scoring.per_dataset(scoring.evaluate(report.baseline_forecaster("validation"),
                                                  tasks))
  dense = validation_scores(model, tasks, baseline)
  cut = validation_scores(precondition.rank_one(model), tasks, baseline)
  data = {"model": args.model or "shipped default",
          "validation": {"aggregate": dense.aggregate, "per_dataset": per_dataset_relative(dense)},
          "rank1_validation": cut.aggregate,
          "periodic": periodic_errors(model),
          "families": family_comparison(model),
          "convergence": convergence(args.workdir) if args.workdir else None}
  verdict = common.Verdict()
  cost = cut.aggregate["wql"] / dense.aggregate["wql"] - 1
  verdict.check("rank1_cost", cost, ">=", RANK1_COST,
                "validation relative WQL lost when every attention matrix is cut to rank 1",
                "the issue's bar: a model that keeps its accuracy at rank 1 ignores attention")
  for period, err in data["periodic"].items():
    verdict.check(f"periodic_p{period}", err, "<=", PERIODIC_ERROR,
                  f"median forecast error / amplitude on clean period-{period} series",
                  "fixed before the run: a copied cycle is near-exact (Seasonal Naive: 0)")
  beats = sorted(k for k, v in data["families"].items() if v["beats_seasonal_naive"])
  verdict.finding("held_out_families_beaten", beats,
                  f"beats Seasonal Naive's WQL on held-out families {beats} of "
                  f"{sorted(data['families'])} (clean seasonal: Seasonal Naive is exact)")
  per = data["validation"]["per_dataset"]
  beaten = sorted(k for k, v in per.items() if v["wql"] < 1)
  verdict.finding("families_beaten", beaten,
                  f"beats Seasonal Naive's WQL on {len(beaten)} of {len(per)} validation sets")
  if data["convergence"]:
    conv = data["convergence"]
    verdict.check("converged", abs(conv["fitted_change"]), "<=", 2 * conv["residual_sd"],
                  "fitted change of validation WQL over the curve's last quarter",
                  "flat within its noise: the change is within twice the checkpoints' spread")
  if args.benchmark:
    scores = report.score(scoring.model_forecaster(model), benchmark.tasks("m3-tourism"),
                          naive=report.baseline_forecaster("m3-tourism"))
    data["benchmark"] = {"aggregate": scores.aggregate,
                         "per_dataset": per_dataset_relative(scores)}
    verdict.check("benchmark_wql", scores.aggregate["wql"], "<=", 0.80,
                  "M3 + Tourism relative WQL", "the issue: chronos-bolt-tiny's level (0.780)")
    verdict.check("benchmark_mase", scores.aggregate["mase"], "<=", 1.00,
                  "M3 + Tourism relative MASE", "the issue: no worse than Seasonal Naive")
    worst = max(v["wql"] for v in data["benchmark"]["per_dataset"].values())
    verdict.check("benchmark_worst_dataset", worst, "<=", 1.0,
                  "worst per-dataset relative WQL", "the issue: no dataset worse than SN")
  fig, ax = plt.subplots(figsize=(8, 3.5))
  names = sorted(per)
  ax.bar(range(len(names)), [per[n]["wql"] for n in names])
  ax.axhline(1.0, color="k", lw=0.8, ls=":")
  ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
  ax.set_ylabel("relative WQL (validation)")
  headline = (f"validation relative WQL {dense.aggregate['wql']:.3f}, rank-1 cost "
              f"{cost:+.1%}, periodic error {max(data['periodic'].values()):.3f}")
  return common.finish("reference_model", args, fig, data, {"rank1_eps": 0.999}, verdict,
                       start, headline)


if __name__ == "__main__":
  sys.exit(main())
