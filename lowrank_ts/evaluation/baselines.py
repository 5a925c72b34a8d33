"""Seasonal Naive, the baseline of Chronos' relative scores, and :func:`per_series`, which makes a
:data:`~lowrank_ts.evaluation.scoring.Forecaster` of a one-series callable.

Seasonal Naive repeats the last season. Two versions:

- :func:`seasonal_naive` (the ``real`` / ``synthetic`` benchmarks' baseline): quantiles from a
  Gaussian with the in-sample seasonal-naive residual scale growing as
  ``sqrt(1 + floor((h - 1) / m))`` (Hyndman & Athanasopoulos, FPP3 5.5, as statsforecast's
  SeasonalNaive intervals);
- :func:`seasonal_naive_point` (the ``m3-tourism`` benchmark's baseline): the point forecast at
  every quantile level, as chronos-forecasting scores it — its published Seasonal Naive WQL is
  the weighted absolute error ``sum |y - yhat| / sum |y|`` that a point forecast gets
  (``tests/test_m3_tourism.py`` reproduces those numbers).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

import numpy as np

from lowrank_ts import checks
from lowrank_ts.evaluation.scoring import Forecaster
from lowrank_ts.models.config import QUANTILE_LEVELS


def _last_season(context, horizon: int, seasonality: int):
  """``(context float64, m, steps, point)``: the checked inputs, the season length used (1 when
  the context is not longer than ``seasonality``) and the last season repeated over the
  horizon."""
  context = checks.float_vector(context, "context", allow_nan=False, dtype=np.float64)
  horizon = checks.positive_int(horizon, "horizon")
  m = checks.positive_int(seasonality, "seasonality")
  if m >= context.shape[0]:
    m = 1
  steps = np.arange(horizon)
  return context, m, steps, context[context.shape[0] - m + steps % m]


def seasonal_naive(context, horizon: int, seasonality: int,
                   levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """Seasonal Naive quantiles [len(levels), horizon] (m = 1 when the context is not longer)."""
  context, m, steps, point = _last_season(context, horizon, seasonality)
  residuals = context[m:] - context[:-m]
  sigma = math.sqrt(float(np.mean(residuals ** 2))) if residuals.size else 0.0
  spread = sigma * np.sqrt(1 + steps // m)
  z = np.array([statistics.NormalDist().inv_cdf(q) for q in levels])
  return point[None, :] + z[:, None] * spread[None, :]


def seasonal_naive_point(context, horizon: int, seasonality: int,
                         levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """Seasonal Naive's point forecast at every level: [len(levels), horizon] (m = 1 when the
  context is not longer than m)."""
  point = _last_season(context, horizon, seasonality)[3]
  return np.repeat(point[None, :], len(levels), axis=0)


def per_series(fn: Callable[[np.ndarray, int, int], np.ndarray]) -> Forecaster:
  """A forecaster calling ``fn(context, horizon, seasonality) -> [9, horizon]`` per series."""
  if not callable(fn):
    raise ValueError(f"fn must be callable, got {type(fn).__name__}")  # noqa: TRY004

  def forecaster(contexts, horizon, seasonalities):
    return np.stack([fn(c, horizon, m) for c, m in zip(contexts, seasonalities)])
  return forecaster


seasonal_naive_forecaster = per_series(seasonal_naive)
seasonal_naive_point_forecaster = per_series(seasonal_naive_point)
