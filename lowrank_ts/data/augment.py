"""Missing-value augmentation (Chronos training): each point of a series becomes NaN with a
probability ``p ~ U(0, max_probability)`` drawn once per series (reference default 0.2)."""

from __future__ import annotations

import numpy as np

from lowrank_ts import checks


def drop_values(series: np.ndarray, rng: np.random.Generator,
                max_probability: float = 0.2) -> np.ndarray:
  """A float32 copy of the 1-D ``series`` with points set to NaN independently with one
  probability ``p ~ U(0, max_probability)``; NaN already present stays NaN."""
  series = checks.float_vector(series, "series", allow_nan=True)
  rng = checks.generator(rng)
  max_probability = checks.probability(max_probability, "max_probability")
  return _drop_values(series, rng, max_probability)


def _drop_values(series: np.ndarray, rng: np.random.Generator,
                 max_probability: float) -> np.ndarray:
  """:func:`drop_values` without argument checks (the training pipeline's hot path)."""
  p = rng.uniform(0.0, max_probability)
  out = series.astype(np.float32, copy=True)
  out[rng.uniform(size=out.shape[0]) < p] = np.nan
  return out

