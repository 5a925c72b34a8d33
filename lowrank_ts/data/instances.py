"""Training instances (Chronos / gluonts ``ExpectedNumInstanceSampler(num_instances=1,
min_past, min_future=prediction_length)`` + ``InstanceSplitter(dummy_value=NaN)``).

A split point ``t ~ U{min_past, len - prediction_length}`` cuts a series into the past
``series[:t]`` and the future ``series[t : t + prediction_length]``. The context is the last
``context_length`` past values, left-padded with NaN; the target is the future (NaN where
missing). A series is usable when ``len >= min_past + prediction_length`` and at most
``max_missing_fraction`` of it is missing (the reference's ``has_enough_observations``).

Short histories: with probability ``short_context_probability`` the context keeps only its last
``k`` values, ``k`` log-uniform in ``[min_past, short_context_max]`` (rounded), the rest masked
as missing, so that a model sees yearly- and quarterly-like histories of a few dozen values.
With ``max_target_zscore`` > 0 an instance whose target strays more than that many context
standard deviations from the context's mean (a constant or near-constant context before a
jump) is redrawn: a model that standardises its context (Chronos-Bolt) would see that target
magnified by up to 1 / eps, and one such row sets a batch's loss and gradient direction.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lowrank_ts import checks


@dataclasses.dataclass(frozen=True)
class InstanceConfig:
  """Lengths of a training instance (Chronos: 512 / 64 / 60 / 0.9)."""
  context_length: int = 512
  prediction_length: int = 64
  min_past: int = 60
  max_missing_fraction: float = 0.9
  short_context_probability: float = 0.0
  short_context_max: int = 64
  max_target_zscore: float = 0.0

  def __post_init__(self):
    checks.positive_int(self.context_length, "context_length")
    checks.positive_int(self.prediction_length, "prediction_length")
    checks.positive_int(self.min_past, "min_past")
    checks.probability(self.max_missing_fraction, "max_missing_fraction")
    checks.probability(self.short_context_probability, "short_context_probability")
    checks.positive_int(self.short_context_max, "short_context_max")
    if not isinstance(self.max_target_zscore, (int, float)) or not self.max_target_zscore >= 0:
      raise ValueError(f"max_target_zscore must be a number >= 0, got {self.max_target_zscore!r}")
    if self.short_context_probability and self.short_context_max < self.min_past:
      raise ValueError(f"short_context_max={self.short_context_max} must be >= min_past="
                       f"{self.min_past}")

  @property
  def min_length(self) -> int:
    return self.min_past + self.prediction_length


def is_usable(series: np.ndarray, config: InstanceConfig) -> bool:
  """Long enough for one instance and not more than ``max_missing_fraction`` missing."""
  return _is_usable(checks.float_vector(series, "series", allow_nan=True), config)


def _is_usable(series: np.ndarray, config: InstanceConfig) -> bool:
  return (series.shape[0] >= config.min_length
          and float(np.isnan(series).mean()) <= config.max_missing_fraction)


def split_at(series: np.ndarray, t: int, config: InstanceConfig):
  """``(context [context_length], target [prediction_length])`` float32 for split point ``t``."""
  series = checks.float_vector(series, "series", allow_nan=True)
  t = checks.positive_int(t, "t", allow_zero=True)
  if t + config.prediction_length > series.shape[0]:
    raise ValueError(f"t={t} leaves fewer than prediction_length={config.prediction_length} "
                     f"values of a series of length {series.shape[0]}")
  return _split_at(series, t, config)


def _split_at(series: np.ndarray, t: int, config: InstanceConfig):
  past = series[max(0, t - config.context_length):t]
  context = np.full(config.context_length, np.nan, np.float32)
  context[config.context_length - past.shape[0]:] = past
  target = series[t:t + config.prediction_length].astype(np.float32)
  return context, target


def sample_instance(series: np.ndarray, rng: np.random.Generator, config: InstanceConfig,
                    max_tries: int = 100):
  """A random ``(context, target)`` of a usable series whose context has an observed value
  (and whose target stays within ``max_target_zscore`` context deviations, when set).

  Raises ValueError when ``series`` is not usable (see :func:`is_usable`); returns None when
  ``max_tries`` split points all gave all-missing contexts (the reference filters those).
  """
  series = checks.float_vector(series, "series", allow_nan=True)
  rng = checks.generator(rng)
  max_tries = checks.positive_int(max_tries, "max_tries")
  if not _is_usable(series, config):
    raise ValueError(f"series of length {series.shape[0]} ({np.isnan(series).mean():.0%} "
                     f"missing) is not usable with {config}")
  return _sample_instance(series, rng, config, max_tries)


def _strays(observed: np.ndarray, target: np.ndarray, config: InstanceConfig) -> bool:
  """Whether ``target`` lies beyond ``max_target_zscore`` standard deviations of the observed
  context from its mean (always, for a constant context before a different target)."""
  finite = target[~np.isnan(target)]
  if not finite.size:
    return False
  center = observed.mean(dtype=np.float64)
  deviation = np.abs(finite - center).max()
  return bool(deviation > config.max_target_zscore * observed.std(dtype=np.float64))


def _sample_instance(series: np.ndarray, rng: np.random.Generator, config: InstanceConfig,
                     max_tries: int = 100):
  """:func:`sample_instance` of a series known to be usable, without argument checks."""
  for _ in range(max_tries):
    t = int(rng.integers(config.min_past, series.shape[0] - config.prediction_length + 1))
    context, target = _split_at(series, t, config)
    # Drawn only when enabled, so that configs without short contexts keep their streams.
    if config.short_context_probability and rng.uniform() < config.short_context_probability:
      low, high = np.log(config.min_past), np.log(config.short_context_max)
      keep = round(float(np.exp(rng.uniform(low, high))))
      context[:max(0, config.context_length - keep)] = np.nan
    observed = context[~np.isnan(context)]
    if observed.size and not (config.max_target_zscore and _strays(observed, target, config)):
      return context, target
  return None
