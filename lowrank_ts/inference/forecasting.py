"""Forecasts of any model of the registry: ``{"mean": [B, H], "quantiles": [B, H, 9]}`` at
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS`.

Mirrors chronos-forecasting's pipelines: contexts are series left-padded with NaN (ragged
lengths and missing values allowed); each model uses the last ``context_length`` values and
forecasts horizons beyond its ``prediction_length`` in chunks (see the model's ``forecast``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lowrank_ts import checks, embeddings
from lowrank_ts.models import registry
from lowrank_ts.models.config import QUANTILE_LEVELS


def prepare_context(context: Any) -> np.ndarray:
  """float32 ``[B, T]`` with NaN for missing values, from a ``[T]`` / ``[B, T]`` array or a
  list of 1-D series of different lengths (left-padded with NaN)."""
  if isinstance(context, (list, tuple)):
    return embeddings.left_pad_and_stack(list(context))
  arr = checks.float_array(context, "context")
  if arr.ndim == 1:
    arr = arr[None]
  checks.check_ndim(arr, "context", ndim=2)
  return arr


def forecast(model: registry.ForecastModel, context: Any, horizon: int, key: Any = None,
             **options) -> dict[str, np.ndarray]:
  """``{"mean": [B, H], "quantiles": [B, H, 9]}`` at levels 0.1 ... 0.9 for any model.

  Chronos samples (it needs a PRNG ``key``; ``options``: num_samples, temperature, top_k,
  top_p); Chronos-Bolt is deterministic and takes neither.
  """
  registry.check_model(model)
  horizon = checks.positive_int(horizon, "horizon")
  out = model.forecast(prepare_context(context), horizon, key, **options)
  batch = out["mean"].shape[0]
  if out["mean"].shape != (batch, horizon) or out["quantiles"].shape != (
      batch, horizon, len(QUANTILE_LEVELS)):
    raise AssertionError(f"{type(model).__name__}.forecast returned mean {out['mean'].shape} "
                         f"and quantiles {out['quantiles'].shape}")  # a bug, not user input
  return out
