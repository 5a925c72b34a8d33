"""Frequency-aware synthetic series: the structures of calendar data that KernelSynth's GP
priors rarely give a model to copy.

Each series is one draw of a random *family* (:data:`FAMILIES`), a pure function of its numpy
stream ``default_rng([seed, i])``:

- ``seasonal``: a level, a trend (linear or damped), level shifts, and a seasonal profile of a
  period of :data:`PERIODS` (a random profile over the period, or a few harmonics), additive or
  multiplicative, repeating exactly or with noise and a slowly drifting amplitude;
- ``ets``: a local level / trend / season process with random smoothing weights (an
  innovations state-space model of the ETS class, additive errors);
- ``arima``: a stationary AR(2) or an integrated ARIMA(1,1,0) / (0,1,1) process, with drift;
- ``intermittent``: demand that occurs with probability 0.05-0.5 per step (sizes log-normal),
  zero otherwise;
- ``trend``: a piecewise-linear trend with level shifts and noise (the short yearly case).

The recursions run through ``scipy.signal.lfilter`` (linear filters), so a series of 1 000
steps costs well under a millisecond.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from lowrank_ts import checks

PERIODS = (4, 7, 12, 24, 52)
FAMILIES = ("seasonal", "ets", "arima", "intermittent", "trend")
FAMILY_WEIGHTS = (0.4, 0.2, 0.15, 0.1, 0.15)


def _trend(rng: np.random.Generator, length: int) -> np.ndarray:
  """A linear or damped trend in units of the level (slope up to +-1 % per step)."""
  t = np.arange(length, dtype=np.float64)
  slope = rng.normal(0.0, 0.004) * (rng.uniform() < 0.8)
  if rng.uniform() < 0.5:  # damped: phi^t summed
    phi = rng.uniform(0.9, 0.999)
    return slope * (1 - phi ** (t + 1)) / (1 - phi)
  return slope * t


def _shifts(rng: np.random.Generator, length: int, scale: float) -> np.ndarray:
  """Zero to two level shifts at random times, of up to ``scale`` each."""
  out = np.zeros(length)
  for _ in range(int(rng.integers(0, 3))):
    out[int(rng.integers(1, length)):] += rng.normal(0.0, scale)
  return out


def _profile(rng: np.random.Generator, period: int) -> np.ndarray:
  """One season of a zero-mean seasonal pattern of unit standard deviation."""
  if rng.uniform() < 0.5:  # a few harmonics: smooth cycles
    phase = np.arange(period) / period
    k = int(rng.integers(1, min(3, period // 2) + 1))
    profile = sum(rng.normal() * np.cos(2 * np.pi * (j + 1) * phase + rng.uniform(0, 2 * np.pi))
                  for j in range(k))
  else:  # a free profile: sharp, retail- or traffic-like shapes
    profile = rng.gamma(0.7, 1.0, period) if rng.uniform() < 0.5 else rng.normal(size=period)
  profile = profile - profile.mean()
  return profile / (profile.std() + 1e-12)


def _seasonal(rng: np.random.Generator, length: int) -> np.ndarray:
  period = int(rng.choice(PERIODS))
  season = np.resize(_profile(rng, period), length + period)[int(rng.integers(period)):][:length]
  exact = rng.uniform() < 0.4
  strength = rng.uniform(0.05, 0.5)
  if not exact:  # the amplitude drifts slowly
    season = season * np.exp(np.cumsum(rng.normal(0.0, 0.01, length)))
  base = 1.0 + _trend(rng, length) + _shifts(rng, length, 0.2) * (rng.uniform() < 0.3)
  noise = 0.0 if exact else rng.uniform(0.0, 0.3) * strength * rng.normal(size=length)
  if rng.uniform() < 0.5:  # multiplicative: the season scales with the level
    values = base * (1.0 + strength * season) + noise * base
  else:
    values = base + strength * season + noise
  return values


def _ets(rng: np.random.Generator, length: int) -> np.ndarray:
  """Local level (+ trend) (+ season): level_t = level_{t-1} + b_{t-1} + alpha e_t, ..."""
  sigma = rng.uniform(0.01, 0.1)
  e = rng.normal(0.0, sigma, length)
  alpha, beta = rng.uniform(0.05, 0.8), rng.uniform(0.0, 0.2) * (rng.uniform() < 0.5)
  slope = rng.normal(0.0, 0.003) + np.cumsum(beta * e)
  level = 1.0 + np.cumsum(np.concatenate([[slope[0]], slope[:-1]]) + alpha * e)
  values = level + e
  if rng.uniform() < 0.6:  # a season that evolves by gamma e_t per visit
    period = int(rng.choice(PERIODS))
    gamma = rng.uniform(0.0, 0.3)
    start = np.resize(_profile(rng, period) * rng.uniform(0.05, 0.4), length)
    visits = np.zeros(length)
    for offset in range(period):  # each season position is its own random walk
      visits[offset::period] = np.cumsum(gamma * e[offset::period])
    values = values + start + visits
  return values


def _arima(rng: np.random.Generator, length: int) -> np.ndarray:
  e = rng.normal(0.0, 1.0, length)
  if rng.uniform() < 0.5:  # stationary AR(2): roots inside the unit circle
    r1, r2 = rng.uniform(-0.9, 0.95, 2)
    values = signal.lfilter([1.0], [1.0, -(r1 + r2), r1 * r2], e)
  else:  # ARIMA(1,1,0) or (0,1,1) with drift
    if rng.uniform() < 0.5:
      diff = signal.lfilter([1.0], [1.0, -rng.uniform(-0.5, 0.8)], e)
    else:
      diff = signal.lfilter([1.0, rng.uniform(-0.8, 0.5)], [1.0], e)
    values = np.cumsum(diff + rng.normal(0.0, 0.2))
  return values


def _intermittent(rng: np.random.Generator, length: int) -> np.ndarray:
  occurs = rng.uniform(size=length) < rng.uniform(0.05, 0.5)
  sizes = np.round(rng.lognormal(rng.uniform(0.0, 2.0), rng.uniform(0.1, 1.0), length))
  return np.where(occurs, np.maximum(sizes, 1.0), 0.0)


def _piecewise_trend(rng: np.random.Generator, length: int) -> np.ndarray:
  knots = np.sort(rng.integers(0, length, int(rng.integers(0, 3))))
  slopes = rng.normal(0.0, 0.02, knots.shape[0] + 1)
  steps = np.full(length, slopes[0])
  for knot, slope in zip(knots, slopes[1:]):
    steps[knot:] = slope
  values = 1.0 + np.cumsum(steps) + _shifts(rng, length, 0.1) * (rng.uniform() < 0.3)
  return values + rng.uniform(0.0, 0.05) * rng.normal(size=length)


def clean_seasonal(rng: np.random.Generator, length: int, period: int) -> np.ndarray:
  """An exactly repeating season of ``period`` (a random profile, amplitude 10-50 % of the
  level) on a constant positive level: Seasonal Naive forecasts it exactly."""
  rng = checks.generator(rng)
  length = checks.positive_int(length, "length")
  period = checks.positive_int(period, "period")
  profile = _profile(rng, period) * rng.uniform(0.1, 0.5)
  season = np.resize(profile, length + period)[int(rng.integers(period)):][:length]
  return ((1.0 + season) * 10.0 ** rng.uniform(0, 3)).astype(np.float32)


_MAKERS = {"seasonal": _seasonal, "ets": _ets, "arima": _arima, "intermittent": _intermittent,
           "trend": _piecewise_trend}


def sample(rng: np.random.Generator, length: int, family: str | None = None) -> np.ndarray:
  """One series float32 [length] of ``family`` (default: one drawn with
  :data:`FAMILY_WEIGHTS`), scaled by a random positive factor and shifted by a random offset
  (so absolute level is not a cue)."""
  rng = checks.generator(rng)
  length = checks.positive_int(length, "length")
  if family is None:
    family = FAMILIES[int(rng.choice(len(FAMILIES), p=FAMILY_WEIGHTS))]
  elif family not in _MAKERS:
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
  values = _MAKERS[family](rng, length)
  scale = 10.0 ** rng.uniform(-1, 4)
  offset = 0.0 if family == "intermittent" else rng.normal(0.0, 0.5) * (rng.uniform() < 0.2)
  return ((values + offset) * scale).astype(np.float32)


def seasonal_synth(num_series: int, seed: int, length: int = 1024,
                   family: str | None = None) -> np.ndarray:
  """``num_series`` series float32 [num_series, length]; series ``i`` depends only on
  ``(seed, i)`` (and ``family``)."""
  num_series = checks.positive_int(num_series, "num_series")
  seed = checks.positive_int(seed, "seed", allow_zero=True)
  return np.stack([sample(np.random.default_rng([seed, i]), length, family)
                   for i in range(num_series)])
