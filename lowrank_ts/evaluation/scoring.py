"""Scoring forecasters on benchmark tasks: per-series rows, then per-dataset WQL and MASE.

A forecaster is a callable ``forecaster(contexts, horizon, seasonalities) -> quantiles
[N, 9, horizon]`` for a batch of N series (``contexts`` a list of float64 [T_i] histories,
levels :data:`~lowrank_ts.models.config.QUANTILE_LEVELS`, row :data:`MEDIAN_ROW` the median);
:func:`evaluate` calls it once per group of tasks sharing a horizon. :func:`model_forecaster`
wraps any model of the registry; :mod:`.baselines` holds Seasonal Naive.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax
import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import metrics
from lowrank_ts.inference import forecasting
from lowrank_ts.models import registry
from lowrank_ts.models.config import QUANTILE_LEVELS

MEDIAN_ROW = QUANTILE_LEVELS.index(0.5)
Forecaster = Callable[[list, int, list], np.ndarray]


def model_forecaster(model: registry.ForecastModel, seed: int = 0,
                     num_samples: int | None = None) -> Forecaster:
  """A :data:`Forecaster` from any model, through
  :func:`lowrank_ts.inference.forecasting.forecast` with key ``fold_in(key(seed), call)`` (a
  deterministic model ignores it). ``num_samples`` is passed only when given (a model that does
  not sample refuses it at the first call)."""
  registry.check_model(model)
  seed = checks.seed(seed, "seed")
  options = {} if num_samples is None else {
      "num_samples": checks.positive_int(num_samples, "num_samples")}
  calls = itertools.count()

  def forecaster(contexts, horizon, seasonalities):
    del seasonalities  # the model infers seasonality from the context
    batch = forecasting.prepare_context([np.asarray(c, np.float32) for c in contexts])
    key = jax.random.fold_in(jax.random.key(seed), next(calls))
    out = forecasting.forecast(model, batch, horizon, key, **options)
    return np.moveaxis(out["quantiles"], -1, 1)  # [N, H, 9] -> [N, 9, H]
  return forecaster


def horizon_groups(tasks: Sequence[benchmark.Task]) -> list[list[int]]:
  """Indices of ``tasks`` per horizon, horizons in order of first appearance: the batches
  :func:`evaluate` hands the forecaster, one call each, in this order."""
  return [[i for i, t in enumerate(tasks) if t.horizon == horizon]
          for horizon in dict.fromkeys(t.horizon for t in tasks)]


def evaluate(forecaster: Forecaster, tasks: Sequence[benchmark.Task]) -> list[dict]:
  """Per-series rows ``{dataset, series, horizon, seasonality, seasonal_error, wql, mase,
  target, quantiles}``, in the order of ``tasks``."""
  if not callable(forecaster):
    raise ValueError(  # noqa: TRY004
        f"forecaster must be callable, got {type(forecaster).__name__}")
  if not tasks or not all(isinstance(t, benchmark.Task) for t in tasks):
    raise ValueError("tasks must be a non-empty sequence of benchmark.Task")
  quantiles = [None] * len(tasks)
  for group in horizon_groups(tasks):
    horizon = tasks[group[0]].horizon
    out = np.asarray(forecaster([tasks[i].context for i in group], horizon,
                                [tasks[i].seasonality for i in group]), np.float64)
    if out.shape != (len(group), len(QUANTILE_LEVELS), horizon):
      raise ValueError(f"forecaster returned shape {out.shape} for {len(group)} series of "
                       f"horizon {horizon}, expected {(len(group), len(QUANTILE_LEVELS), horizon)}")
    for i, q in zip(group, out):
      quantiles[i] = q
  rows = []
  for task, q in zip(tasks, quantiles):
    scale = metrics.seasonal_error(task.context, task.seasonality)
    rows.append({"dataset": task.dataset, "series": task.series, "horizon": task.horizon,
                 "seasonality": task.seasonality, "seasonal_error": scale,
                 "wql": metrics.weighted_quantile_loss(task.target, q),
                 "mase": metrics.mean_absolute_scaled_error(task.target, q[MEDIAN_ROW], scale),
                 "target": task.target, "quantiles": q})
  return rows


def per_dataset(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
  """Dataset-level WQL (pooled over its series) and MASE (mean over its series and steps)."""
  out = {}
  for name in dict.fromkeys(r["dataset"] for r in rows):
    mine = [r for r in rows if r["dataset"] == name]
    if len({r["horizon"] for r in mine}) != 1:
      raise ValueError(f"dataset {name} mixes horizons; give its series one horizon")
    target = np.stack([r["target"] for r in mine])
    quantiles = np.stack([r["quantiles"] for r in mine])
    scales = np.array([r["seasonal_error"] for r in mine])
    out[name] = {"num_series": len(mine),
                 "wql": metrics.weighted_quantile_loss(target, quantiles),
                 "mase": metrics.mean_absolute_scaled_error(target, quantiles[:, MEDIAN_ROW],
                                                            scales)}
  return out
