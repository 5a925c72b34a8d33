"""Forecast evaluation as Chronos reports it: WQL and MASE per dataset (:mod:`.metrics`), the
Seasonal Naive baseline (:mod:`.baselines`), forecasters scored on benchmark tasks
(:mod:`.scoring`) and the benchmark run with its tables (:mod:`.report`, the library of
``lowrank-ts evaluate``). The aggregate relative score is the geometric mean over
datasets of model / Seasonal Naive (< 1 beats it)."""

from lowrank_ts.evaluation.baselines import per_series, seasonal_naive, seasonal_naive_forecaster
from lowrank_ts.evaluation.metrics import (
  geometric_mean,
  mean_absolute_scaled_error,
  relative_scores,
  scaled_quantile_loss,
  seasonal_error,
  weighted_quantile_loss,
)
from lowrank_ts.evaluation.report import run
from lowrank_ts.evaluation.scoring import Forecaster, evaluate, model_forecaster, per_dataset

__all__ = ["Forecaster", "evaluate", "geometric_mean", "mean_absolute_scaled_error",
           "model_forecaster", "per_dataset", "per_series", "relative_scores", "run",
           "scaled_quantile_loss", "seasonal_error", "seasonal_naive", "seasonal_naive_forecaster",
           "weighted_quantile_loss"]
