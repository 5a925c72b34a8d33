"""Forecast evaluation as Chronos reports it: WQL and MASE per dataset, and the aggregate
relative score (geometric mean over datasets of model / Seasonal Naive).

- WQL (gluonts ``MeanWeightedSumQuantileLoss``): for each level q in 0.1..0.9,
  ``sum 2 |(y - yhat_q)(1[yhat_q >= y] - q)| / sum |y|`` over all series and steps of a dataset,
  then the mean over the 9 levels.
- MASE (gluonts ``MASE``): mean over series and steps of ``|y - yhat_0.5| / s``, ``s`` the
  series' seasonal error ``mean |z_t - z_{t-m}|`` over its history (m = 1 when the history is
  not longer than m).
- Seasonal Naive: repeat the last season; quantiles from a Gaussian with the in-sample
  seasonal-naive residual scale growing as ``sqrt(1 + floor((h - 1) / m))`` (Hyndman &
  Athanasopoulos, FPP3 5.5, as statsforecast's SeasonalNaive intervals).

Plugging in a model: a forecaster is a callable ``forecaster(contexts, horizon, seasonalities)
-> quantiles [N, 9, horizon]`` for a batch of N series (``contexts`` a list of float64 [T_i]
histories, levels :data:`QUANTILE_LEVELS`, row 4 the median); :func:`evaluate` calls it once per
group of tasks sharing a horizon. :func:`per_series` adapts a one-series callable
``(context, horizon, seasonality) -> [9, horizon]``; :func:`model_forecaster` wraps a Chronos
or Chronos-Bolt model (``lowrank_ts.forecast``).

CLI: ``python -m lowrank_ts.evaluate --model seasonal-naive|DIR [--benchmark real|synthetic]
[--out DIR] [--seed S] [--num-samples N] [--posthoc-eps EPS]`` writes ``per_series`` and
``per_dataset`` tables as CSV and markdown; ``DIR`` is a Hugging Face format checkpoint folder
(``lowrank_ts.hf.save``); ``--posthoc-eps`` compresses its attention first (truncated SVD).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import pathlib
import statistics
from collections.abc import Callable, Sequence

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import benchmark

QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MEDIAN_ROW = 4
Forecaster = Callable[[list, int, list], np.ndarray]


def seasonal_error(history, seasonality: int) -> float:
  """``mean |z_t - z_{t-m}|`` over the history (NaN-aware); m = 1 if len(history) <= m."""
  history = checks.float_vector(history, "history", dtype=np.float64)
  m = checks.positive_int(seasonality, "seasonality")
  if m >= history.shape[0]:
    m = 1
  if history.shape[0] < 2:
    raise ValueError("history must have at least 2 values for a seasonal error")
  return float(np.nanmean(np.abs(history[m:] - history[:-m])))


def _check_forecast(target, quantiles, levels):
  target = checks.float_array(target, "target", dtype=np.float64)
  quantiles = checks.float_array(quantiles, "quantiles", allow_nan=False, dtype=np.float64)
  if target.ndim not in (1, 2):
    raise ValueError(f"target must be [H] or [N, H], got shape {target.shape}")
  if target.ndim == 1:
    target, quantiles = target[None], quantiles[None]
  levels = tuple(float(q) for q in levels)
  if not levels or not all(0 < q < 1 for q in levels):
    raise ValueError(f"levels must be quantile levels in (0, 1), got {levels}")
  if quantiles.shape != (target.shape[0], len(levels), target.shape[1]):
    raise ValueError(f"quantiles must have shape {(target.shape[0], len(levels), target.shape[1])}"
                     f" ([N, levels, H] for target [N, H]), got {quantiles.shape}")
  return target, quantiles, levels


def weighted_quantile_loss(target, quantiles, levels: Sequence[float] = QUANTILE_LEVELS) -> float:
  """WQL of one dataset: target [N, H] (or [H]), quantiles [N, Q, H] (or [Q, H]); NaN targets
  are ignored."""
  target, quantiles, levels = _check_forecast(target, quantiles, levels)
  observed = ~np.isnan(target)
  y = np.where(observed, target, 0.0)
  denominator = np.abs(y).sum()
  if denominator == 0:
    raise ValueError("target must have a non-zero observed value for WQL")
  losses = []
  for i, q in enumerate(levels):
    pred = quantiles[:, i]
    loss = 2 * np.abs((y - pred) * ((pred >= y) - q)) * observed
    losses.append(loss.sum() / denominator)
  return float(np.mean(losses))


def mean_absolute_scaled_error(target, median, seasonal_errors) -> float:
  """MASE of one dataset: target / median [N, H] (or [H]), seasonal_errors [N] (or scalar)."""
  target = checks.float_array(target, "target", dtype=np.float64)
  median = checks.float_array(median, "median", allow_nan=False, dtype=np.float64)
  scale = checks.float_array(np.atleast_1d(seasonal_errors), "seasonal_errors",
                                    allow_nan=False, dtype=np.float64)
  target, median = np.atleast_2d(target), np.atleast_2d(median)
  if target.ndim != 2 or median.shape != target.shape:
    raise ValueError(f"median must have the shape of target {target.shape}, got {median.shape}")
  if scale.shape != (target.shape[0],):
    raise ValueError(f"seasonal_errors must have shape ({target.shape[0]},), got {scale.shape}")
  if not (scale > 0).all():
    raise ValueError("seasonal_errors must be > 0 (a constant history has no MASE scale)")
  scaled = np.abs(target - median) / scale[:, None]
  return float(np.nanmean(scaled))


def seasonal_naive(context, horizon: int, seasonality: int,
                   levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """Seasonal Naive quantiles [len(levels), horizon] (m = 1 when the context is not longer)."""
  context = checks.float_vector(context, "context", allow_nan=False, dtype=np.float64)
  horizon = checks.positive_int(horizon, "horizon")
  m = checks.positive_int(seasonality, "seasonality")
  if m >= context.shape[0]:
    m = 1
  steps = np.arange(horizon)
  point = context[context.shape[0] - m + steps % m]
  residuals = context[m:] - context[:-m]
  sigma = math.sqrt(float(np.mean(residuals ** 2))) if residuals.size else 0.0
  spread = sigma * np.sqrt(1 + steps // m)
  z = np.array([statistics.NormalDist().inv_cdf(q) for q in levels])
  return point[None, :] + z[:, None] * spread[None, :]


def per_series(fn: Callable[[np.ndarray, int, int], np.ndarray]) -> Forecaster:
  """A :data:`Forecaster` calling ``fn(context, horizon, seasonality) -> [9, horizon]`` per
  series."""
  if not callable(fn):
    raise ValueError(f"fn must be callable, got {type(fn).__name__}")

  def forecaster(contexts, horizon, seasonalities):
    return np.stack([fn(c, horizon, m) for c, m in zip(contexts, seasonalities)])
  return forecaster


seasonal_naive_forecaster = per_series(seasonal_naive)


def model_forecaster(model, seed: int = 0, num_samples: int | None = None) -> Forecaster:
  """A :data:`Forecaster` from a Chronos (sampled, key ``fold_in(key(seed), call)``) or
  Chronos-Bolt model, through :func:`lowrank_ts.forecast.forecast`."""
  import jax

  from lowrank_ts import embeddings, forecast
  from lowrank_ts.models import Chronos, ChronosBolt

  if not isinstance(model, (Chronos, ChronosBolt)):
    raise ValueError(f"model must be a Chronos or ChronosBolt model, got {type(model).__name__}")
  seed = checks.positive_int(seed, "seed", allow_zero=True)
  kwargs = {} if num_samples is None else {
      "num_samples": checks.positive_int(num_samples, "num_samples")}
  calls = itertools.count()

  def forecaster(contexts, horizon, seasonalities):
    del seasonalities  # the model infers seasonality from the context
    batch = embeddings.left_pad_and_stack([np.asarray(c, np.float32) for c in contexts])
    if isinstance(model, ChronosBolt):
      out = forecast.forecast(model, batch, horizon)
    else:
      key = jax.random.fold_in(jax.random.key(seed), next(calls))
      out = forecast.forecast(model, batch, horizon, key, **kwargs)
    return np.moveaxis(out["quantiles"], -1, 1)  # [N, H, 9] -> [N, 9, H]
  return forecaster


def evaluate(forecaster: Forecaster, tasks: Sequence[benchmark.Task]) -> list[dict]:
  """Per-series rows ``{dataset, series, horizon, seasonality, seasonal_error, wql, mase,
  target, quantiles}``, in the order of ``tasks``."""
  if not callable(forecaster):
    raise ValueError(f"forecaster must be callable, got {type(forecaster).__name__}")
  if not tasks or not all(isinstance(t, benchmark.Task) for t in tasks):
    raise ValueError("tasks must be a non-empty sequence of benchmark.Task")
  quantiles = [None] * len(tasks)
  for horizon in dict.fromkeys(t.horizon for t in tasks):
    group = [i for i, t in enumerate(tasks) if t.horizon == horizon]
    out = np.asarray(forecaster([tasks[i].context for i in group], horizon,
                                [tasks[i].seasonality for i in group]), np.float64)
    if out.shape != (len(group), len(QUANTILE_LEVELS), horizon):
      raise ValueError(f"forecaster returned shape {out.shape} for {len(group)} series of "
                       f"horizon {horizon}, expected {(len(group), len(QUANTILE_LEVELS), horizon)}")
    for i, q in zip(group, out):
      quantiles[i] = q
  rows = []
  for task, q in zip(tasks, quantiles):
    scale = seasonal_error(task.context, task.seasonality)
    rows.append({"dataset": task.dataset, "series": task.series, "horizon": task.horizon,
                 "seasonality": task.seasonality, "seasonal_error": scale,
                 "wql": weighted_quantile_loss(task.target, q),
                 "mase": mean_absolute_scaled_error(task.target, q[MEDIAN_ROW], scale),
                 "target": task.target, "quantiles": q})
  return rows


def per_dataset(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
  """Dataset-level WQL (pooled over its series) and MASE (mean over its series and steps)."""
  out = {}
  for name in dict.fromkeys(r["dataset"] for r in rows):
    mine = [r for r in rows if r["dataset"] == name]
    target = np.stack([r["target"] for r in mine]) if len({r["horizon"] for r in mine}) == 1 \
        else None
    if target is None:
      raise ValueError(f"dataset {name} mixes horizons; give its series one horizon")
    quantiles = np.stack([r["quantiles"] for r in mine])
    scales = np.array([r["seasonal_error"] for r in mine])
    out[name] = {"num_series": len(mine),
                 "wql": weighted_quantile_loss(target, quantiles),
                 "mase": mean_absolute_scaled_error(target, quantiles[:, MEDIAN_ROW], scales)}
  return out


def geometric_mean(values: Sequence[float]) -> float:
  """``exp(mean(log(values)))`` of positive numbers (how Chronos aggregates over datasets)."""
  array = np.asarray(values, np.float64) if not isinstance(values, (str, bytes)) else None
  if array is None or array.ndim != 1 or not array.size or not (
      np.isfinite(array).all() and (array > 0).all()):
    raise ValueError(f"values must be a non-empty 1-D sequence of finite numbers > 0, got "
                     f"{values!r}")
  return float(np.exp(np.mean(np.log(array))))


def relative_scores(model: dict[str, dict[str, float]],
                    baseline: dict[str, dict[str, float]]) -> dict[str, float]:
  """Geometric mean over datasets of model / baseline for ``wql`` and ``mase``."""
  if set(model) != set(baseline) or not model:
    raise ValueError("model and baseline must score the same non-empty set of datasets")
  out = {}
  for metric in ("wql", "mase"):
    ratios = np.array([model[d][metric] / baseline[d][metric] for d in model])
    if not (np.isfinite(ratios).all() and (ratios > 0).all()):
      raise ValueError(f"{metric} ratios must be finite and > 0, got {ratios}")
    out[metric] = geometric_mean(ratios)
  return out


# ----------------------------------------------------------------------------------------------
# Tables and CLI
# ----------------------------------------------------------------------------------------------

def _write_table(rows: list[dict], columns: list[str], path: pathlib.Path) -> None:
  """``path.csv`` and ``path.md`` with ``columns`` of ``rows`` (floats to 4 significant)."""
  def fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)
  with open(path.with_suffix(".csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({c: r[c] for c in columns} for r in rows)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
  path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def run(model: str, benchmark_name: str, out: pathlib.Path, seed: int = 0,
        num_samples: int | None = None, posthoc_eps: float | None = None) -> dict[str, float]:
  """Evaluates ``model`` (``seasonal-naive`` or a checkpoint folder) on a benchmark; writes the
  tables to ``out``. Returns the aggregate relative WQL / MASE against Seasonal Naive, plus
  ``attention_size_ratio`` when ``posthoc_eps`` compresses the model first (truncated SVD at
  that eps-rank, :func:`lowrank_ts.models.posthoc.compress`)."""
  extra = {}
  if model == "seasonal-naive":
    if posthoc_eps is not None:
      raise ValueError("posthoc_eps needs a model checkpoint, not seasonal-naive")
    forecaster = seasonal_naive_forecaster
  elif isinstance(model, str) and (pathlib.Path(model) / "config.json").exists():
    from lowrank_ts import hf
    loaded = hf.load(model)
    if posthoc_eps is not None:
      from lowrank_ts.models import posthoc
      loaded, report = posthoc.compress(loaded, posthoc_eps)
      extra["attention_size_ratio"] = report.attention_size_ratio
    forecaster = model_forecaster(loaded, seed=seed, num_samples=num_samples)
  else:
    raise ValueError(f"model must be seasonal-naive or a checkpoint folder with a config.json, "
                     f"got {model!r}")
  tasks = benchmark.tasks(benchmark_name)
  rows = evaluate(forecaster, tasks)
  base_rows = rows if model == "seasonal-naive" else evaluate(seasonal_naive_forecaster, tasks)
  scores, base = per_dataset(rows), per_dataset(base_rows)
  aggregate = relative_scores(scores, base)
  out.mkdir(parents=True, exist_ok=True)
  _write_table(rows, ["dataset", "series", "horizon", "seasonality", "wql", "mase"],
               out / "per_series")
  table = [{"dataset": d, "num_series": s["num_series"], "wql": s["wql"], "mase": s["mase"],
            "relative_wql": s["wql"] / base[d]["wql"],
            "relative_mase": s["mase"] / base[d]["mase"]} for d, s in scores.items()]
  table.append({"dataset": "aggregate (geometric mean)", "num_series": len(rows),
                "wql": geometric_mean([s["wql"] for s in scores.values()]),
                "mase": geometric_mean([s["mase"] for s in scores.values()]),
                "relative_wql": aggregate["wql"], "relative_mase": aggregate["mase"]})
  _write_table(table, ["dataset", "num_series", "wql", "mase", "relative_wql", "relative_mase"],
               out / "per_dataset")
  return {**aggregate, **extra}


def main(argv=None):
  parser = argparse.ArgumentParser(description="WQL / MASE against Seasonal Naive.")
  parser.add_argument("--model", required=True,
                      help="seasonal-naive, or a checkpoint folder (lowrank_ts.hf.save)")
  parser.add_argument("--benchmark", default="real", choices=["real", "synthetic"])
  parser.add_argument("--out", default=None, help="default: runs/eval/<model>-<benchmark>")
  parser.add_argument("--seed", type=int, default=0, help="sampling seed (Chronos)")
  parser.add_argument("--num-samples", type=int, default=None, help="default: the model's")
  parser.add_argument("--posthoc-eps", type=float, default=None,
                      help="compress attention first: truncated SVD at this eps-rank")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out or f"runs/eval/{pathlib.Path(args.model).name}-{args.benchmark}")
  try:
    aggregate = run(args.model, args.benchmark, out, args.seed, args.num_samples,
                    args.posthoc_eps)
  except ValueError as err:
    parser.error(str(err))
  print((out / "per_dataset.md").read_text())
  size = (f" (attention size ratio {aggregate['attention_size_ratio']:.3f})"
          if "attention_size_ratio" in aggregate else "")
  print(f"relative WQL {aggregate['wql']:.3f}, relative MASE {aggregate['mase']:.3f}{size}; "
        f"tables in {out}/")


if __name__ == "__main__":
  main()
