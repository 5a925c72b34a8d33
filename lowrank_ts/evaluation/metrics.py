"""The metrics Chronos reports, numpy float64 and NaN-aware.

- WQL (gluonts ``MeanWeightedSumQuantileLoss``): for each level q in 0.1..0.9,
  ``sum 2 |(y - yhat_q)(1[yhat_q >= y] - q)| / sum |y|`` over all series and steps of a dataset,
  then the mean over the 9 levels.
- MASE (gluonts ``MASE``): mean over series and steps of ``|y - yhat_0.5| / s``, ``s`` the
  series' seasonal error ``mean |z_t - z_{t-m}|`` over its history (m = 1 when the history is
  not longer than m).
- SQL (gluonts ``AverageMeanScaledQuantileLoss``), per series: the mean over levels and steps of
  ``2 |(y - yhat_q)(1[yhat_q >= y] - q)| / s``, ``s`` MASE's seasonal error. Unlike WQL it is
  defined series by series on one scale, so two forecasters can be compared series by series.
- The aggregate relative score: the geometric mean over datasets of model / baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowrank_ts import checks
from lowrank_ts.models.config import QUANTILE_LEVELS


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


def scaled_quantile_loss(target, quantiles, seasonal_errors,
                         levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """SQL of each series: target [N, H], quantiles [N, Q, H], seasonal_errors [N] -> float64 [N]
  (NaN targets are ignored; a series with none observed gets NaN)."""
  target, quantiles, levels = _check_forecast(target, quantiles, levels)
  scale = checks.float_array(np.atleast_1d(seasonal_errors), "seasonal_errors",
                             allow_nan=False, dtype=np.float64)
  if scale.shape != (target.shape[0],):
    raise ValueError(f"seasonal_errors must have shape ({target.shape[0]},), got {scale.shape}")
  if not (scale > 0).all():
    raise ValueError("seasonal_errors must be > 0 (a constant history has no SQL scale)")
  observed = ~np.isnan(target)
  y_N1H = np.where(observed, target, 0.0)[:, None]
  q_Q1 = np.asarray(levels)[:, None]
  loss_NH = (2 * np.abs((y_N1H - quantiles) * ((quantiles >= y_N1H) - q_Q1))).mean(axis=1)
  count = observed.sum(axis=1)
  with np.errstate(invalid="ignore"):  # 0 / 0 for a series with no observed target: NaN
    return (loss_NH * observed).sum(axis=1) / count / scale


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
