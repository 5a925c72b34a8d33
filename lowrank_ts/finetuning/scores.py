"""WQL and MASE on the held-out values of a :class:`~lowrank_ts.data.holdout.Split`: a model's
forecasts and Seasonal Naive's, on the same windows with the same MASE scales.

WQL is pooled over every series and step (:func:`~lowrank_ts.evaluation.metrics.
weighted_quantile_loss`), MASE the mean over series and steps, each series scaled by the
seasonal error of its training part (NaN-aware; series without one are left out of MASE).
The model reads the training parts as they are (NaN = missing); Seasonal Naive
(:func:`~lowrank_ts.evaluation.baselines.seasonal_naive`, Gaussian quantiles) reads them with
missing values carried forward.
"""

from __future__ import annotations

import jax
import numpy as np

from lowrank_ts.data.holdout import Split
from lowrank_ts.evaluation import baselines, metrics
from lowrank_ts.evaluation.scoring import MEDIAN_ROW
from lowrank_ts.inference import forecasting
from lowrank_ts.models import registry


class HoldoutScorer:
  """Scores quantile forecasts ``[N, 9, horizon]`` of ``split``'s held-out values."""

  def __init__(self, split: Split, seasonality: int):
    if not split.horizon:
      raise ValueError("split has no held-out values to score")
    self.split, self.seasonality = split, seasonality
    self.held = np.stack(split.held).astype(np.float64)
    if not np.any(np.nan_to_num(self.held) != 0):
      raise ValueError("the held-out values are all zero or missing: WQL is undefined there "
                       "(fine-tune without a hold-out)")
    self.scales = np.array([metrics.seasonal_error(p.astype(np.float64), seasonality)
                            for p in split.train])
    self.contexts = forecasting.prepare_context(split.train)

  def score(self, quantiles_NQH: np.ndarray) -> dict[str, float | None]:
    """``{wql, mase}`` of quantiles ``[N, 9, horizon]``; MASE over the series whose training
    part has a seasonal error (None when none has: an exactly periodic history has no
    scale)."""
    scaled = self.scales > 0
    mase = (metrics.mean_absolute_scaled_error(
        self.held[scaled], quantiles_NQH[scaled, MEDIAN_ROW], self.scales[scaled])
        if scaled.any() else None)
    return {"wql": metrics.weighted_quantile_loss(self.held, quantiles_NQH), "mase": mase}

  def model(self, model: registry.ForecastModel, seed: int = 0) -> dict[str, float]:
    """The scores of ``model``'s forecasts (a fixed key: a sampled model's scores at two
    checkpoints differ by the parameters, not the draw)."""
    out = forecasting.forecast(model, self.contexts, self.split.horizon, jax.random.key(seed))
    return self.score(np.moveaxis(out["quantiles"], -1, 1))

  def seasonal_naive(self) -> dict[str, float]:
    """Seasonal Naive's scores (season :attr:`seasonality`)."""
    filled = [_carried_forward(p.astype(np.float64)) for p in self.split.train]
    return self.score(baselines.seasonal_naive_forecaster(
        filled, self.split.horizon, [self.seasonality] * len(filled)))


def _carried_forward(values: np.ndarray) -> np.ndarray:
  """Each missing value replaced by the last observed one before it (the first is observed)."""
  index = np.where(np.isfinite(values), np.arange(values.shape[0]), 0)
  return values[np.maximum.accumulate(index)]
