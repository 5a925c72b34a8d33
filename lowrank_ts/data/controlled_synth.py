"""Synthetic series whose characteristics are set one at a time: seasonal period and strength,
noise level, trend slope and stationarity (an AR(1) coefficient up to the unit root).

    x_t = slope t + strength sqrt(2) sin(2 pi t / period + phase) + noise e_t,  t = 0 ... T - 1,

with the phase uniform on [0, 2 pi) and ``e`` an AR(1) process: for 0 <= phi < 1,
``e_t = phi e_{t-1} + sqrt(1 - phi^2) z_t`` started from its stationary law (so every
``e_t`` has unit variance); for phi = 1 the random walk ``e_t = e_{t-1} + z_t``, ``e_0 = z_0``
(z i.i.d. N(0, 1)). Over whole periods (period >= 3) the season has unit variance, so
``strength / noise`` is the seasonal-to-noise ratio of standard deviations. Each series is a
pure function of its numpy stream.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from lowrank_ts import checks


def _non_negative(value, name: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"{name} must be a number >= 0, got {value!r}")
  value = float(value)
  if not math.isfinite(value) or value < 0:
    raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
  return value


def _finite(value, name: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"{name} must be a finite number, got {value!r}")
  value = float(value)
  if not math.isfinite(value):
    raise ValueError(f"{name} must be a finite number, got {value!r}")
  return value


def ar1_noise(rng: np.random.Generator, length: int, phi: float) -> np.ndarray:
  """The module docstring's ``e`` float64 [length]: stationary AR(1) of unit variance for
  0 <= phi < 1, the random walk for phi = 1."""
  rng = checks.generator(rng)
  length = checks.positive_int(length, "length")
  phi = checks.probability(phi, "phi")
  z = rng.standard_normal(length)
  if phi == 1.0:
    return np.cumsum(z)
  # direct form: y_n = c z_n + phi y_{n-1}, with y_{-1} = e_0 = z_0 entering as the state
  tail = signal.lfilter([math.sqrt(1.0 - phi * phi)], [1.0, -phi], z[1:], zi=[phi * z[0]])[0]
  return np.concatenate([z[:1], tail])


def series(rng: np.random.Generator, length: int, *, period: int | None = None,
           strength: float = 0.0, noise: float = 0.0, slope: float = 0.0,
           phi: float = 0.0) -> np.ndarray:
  """One series float64 [length] of the module docstring's form. ``period`` (an int >= 3) is
  required when ``strength`` > 0."""
  rng = checks.generator(rng)
  length = checks.positive_int(length, "length")
  strength = _non_negative(strength, "strength")
  noise = _non_negative(noise, "noise")
  slope = _finite(slope, "slope")
  phi = checks.probability(phi, "phi")
  if period is not None:
    period = checks.positive_int(period, "period")
    if period < 3:  # sin(pi t + phase) has variance 2 sin^2(phase), not 1
      raise ValueError(f"period must be >= 3, got {period}")
  elif strength > 0:
    raise ValueError("period is required when strength > 0")
  t = np.arange(length, dtype=np.float64)
  values = slope * t
  phase = rng.uniform(0.0, 2 * np.pi)  # drawn whether used or not: streams stay aligned
  if strength > 0:
    values = values + strength * math.sqrt(2.0) * np.sin(2 * np.pi * t / period + phase)
  if noise > 0:
    values = values + noise * ar1_noise(rng, length, phi)
  return values
