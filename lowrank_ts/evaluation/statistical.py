"""Classical statistical baselines on statsmodels: AutoETS, AutoTheta and a restricted AutoARIMA.

Each is a one-series function ``fn(context, horizon, seasonality) -> quantiles [9, horizon]`` at
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS`, like :func:`.baselines.seasonal_naive`;
:class:`StatisticalForecaster` makes a parallel :data:`~.scoring.Forecaster` of one of them that
counts the series that fell back to Seasonal Naive. ``fit_ets`` / ``fit_theta`` / ``fit_arima``
return the selected model (:class:`Fit`; ``spec`` names it).

One module per model family, each fit documented there: AutoETS (:mod:`.statistical_ets`),
AutoTheta (:mod:`.statistical_theta`) and the restricted AutoARIMA (:mod:`.statistical_arima`),
what they share in :mod:`.statistical_fit`; their public names are importable from here too.
This module cleans the histories, falls back to Seasonal Naive, and runs the fits over series,
in parallel processes for :class:`StatisticalForecaster`.

Fallback: a fit that raises or gives non-finite quantiles returns Seasonal Naive's quantiles (and
:class:`StatisticalForecaster` counts it). A constant history gets the flat forecast every model
degenerates to (not a fallback). NaNs: leading ones are dropped, the others linearly interpolated
(trailing ones repeat the last value, keeping the forecast origin).

Their CPU time per series is in benchmarks/README.md ("statistical baselines").
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from collections.abc import Callable, Sequence

import numpy as np

from lowrank_ts import checks
from lowrank_ts.evaluation import baselines
from lowrank_ts.evaluation.statistical_arima import (
  ARIMA_MAX_FITS,
  ARIMA_MAXITER,
  fit_arima,
  kpss_differences,
  seasonal_strength,
)
from lowrank_ts.evaluation.statistical_ets import ETS_ANALYTIC, ETS_SIMULATIONS, fit_ets
from lowrank_ts.evaluation.statistical_fit import Fit, fitting
from lowrank_ts.evaluation.statistical_theta import fit_theta, theta_seasonality_test
from lowrank_ts.models.config import QUANTILE_LEVELS

# The fits' public names, re-exported: callers import the baselines from this module alone.
__all__ = ["ARIMA_MAXITER", "ARIMA_MAX_FITS", "BASELINES", "ETS_ANALYTIC", "ETS_SIMULATIONS",
           "Fit", "StatisticalForecaster", "auto_arima", "auto_ets", "auto_theta",
           "check_levels", "clean_context", "fit_arima", "fit_ets", "fit_theta",
           "kpss_differences", "seasonal_strength", "theta_seasonality_test"]


# ----------------------------------------------------------------------------- one series

def clean_context(context, name: str = "context") -> np.ndarray:
  """float64 [T'] without NaN: leading NaNs dropped, the others linearly interpolated (trailing
  ones take the last observed value, so the forecast still starts after the last step)."""
  y = checks.float_vector(context, name, dtype=np.float64)
  observed = np.flatnonzero(~np.isnan(y))
  if observed.size == 0:
    raise ValueError(f"{name} must have at least one observed (non-NaN) value")
  y = y[observed[0]:].copy()
  missing = np.isnan(y)
  if missing.any():
    steps = np.arange(y.shape[0])
    y[missing] = np.interp(steps[missing], steps[~missing], y[~missing])
  return y


def check_levels(levels) -> tuple[float, ...]:
  """Increasing quantile levels in (0, 1), symmetric about 0.5 (each q with its 1 - q): the
  models give central intervals, whose two ends are the levels q and 1 - q."""
  try:
    levels = tuple(float(q) for q in levels)
  except (TypeError, ValueError):
    raise ValueError(f"levels must be a sequence of numbers, got {levels!r}") from None
  if not levels or not all(0 < q < 1 for q in levels) or (np.diff(levels) <= 0).any():
    raise ValueError(f"levels must be strictly increasing numbers in (0, 1), got {levels}")
  if not np.allclose(levels, [1 - q for q in reversed(levels)], rtol=0, atol=1e-9):
    raise ValueError(f"levels must be symmetric about 0.5 (q and 1 - q), got {levels}")
  return levels


def _forecast(fit: Callable[[np.ndarray, int], Fit], y: np.ndarray, horizon: int,
              seasonality: int, levels: tuple[float, ...]) -> tuple[np.ndarray, str | None]:
  """``(quantiles [Q, H], failure)`` for a clean history: the model's, or Seasonal Naive's
  with ``failure`` the reason when the fit raised or its quantiles are not finite."""
  if np.ptp(y) == 0:  # every model's forecast of a constant history: flat, zero spread
    return np.full((len(levels), horizon), y[-1]), None
  try:
    model = fit(y, seasonality)
    with fitting():
      quantiles = np.asarray(model.quantiles(horizon, levels), np.float64)
    if quantiles.shape != (len(levels), horizon) or not np.isfinite(quantiles).all():
      raise FloatingPointError(f"non-finite or misshapen quantiles {quantiles.shape}")
  except Exception as err:  # noqa: BLE001 -- any failed fit falls back, and is reported
    return baselines.seasonal_naive(y, horizon, seasonality, levels), f"{type(err).__name__}: {err}"
  # All three give monotone quantiles analytically (Gaussian intervals nested by construction;
  # ETS simulation quantiles are monotone in q); sorting only removes round-off inversions.
  return np.sort(quantiles, axis=0), None


_FITS = {"auto-ets": fit_ets, "auto-theta": fit_theta, "auto-arima": fit_arima}


def _forecast_chunk(name: str, contexts: list, horizon: int, seasonalities: list,
                    levels: tuple[float, ...]) -> tuple[np.ndarray, list]:
  """Quantiles [n, Q, H] and failures [n] of clean histories (module level: the spawned
  workers' unit)."""
  out = [_forecast(_FITS[name], y, horizon, m, levels) for y, m in zip(contexts, seasonalities)]
  return np.stack([q for q, _ in out]), [failure for _, failure in out]


def _one_series(name: str, context, horizon, seasonality, levels) -> np.ndarray:
  y = clean_context(context)
  horizon = checks.positive_int(horizon, "horizon")
  m = checks.positive_int(seasonality, "seasonality")
  return _forecast_chunk(name, [y], horizon, [m], check_levels(levels))[0][0]


def auto_ets(context, horizon: int, seasonality: int,
             levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """AutoETS quantiles [len(levels), horizon] of ``context`` float64 [T] (Seasonal Naive's if
  the fit fails)."""
  return _one_series("auto-ets", context, horizon, seasonality, levels)


def auto_theta(context, horizon: int, seasonality: int,
               levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """AutoTheta quantiles [len(levels), horizon] (Seasonal Naive's if the fit fails)."""
  return _one_series("auto-theta", context, horizon, seasonality, levels)


def auto_arima(context, horizon: int, seasonality: int,
               levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
  """Restricted AutoARIMA quantiles [len(levels), horizon] (Seasonal Naive's if it fails)."""
  return _one_series("auto-arima", context, horizon, seasonality, levels)


BASELINES = {"auto-ets": auto_ets, "auto-theta": auto_theta, "auto-arima": auto_arima}


# ----------------------------------------------------------------------------- forecaster

class StatisticalForecaster:
  """A :data:`~lowrank_ts.evaluation.scoring.Forecaster` of one of :data:`BASELINES`,
  ``forecaster(contexts, horizon, seasonalities) -> [N, 9, horizon]``, over ``processes``
  spawned workers in chunks of ``chunk_size`` series (1: in this process). The output does not
  depend on either: each series' forecast is a function of its own history.

  Accumulated over calls (make one per dataset for per-dataset counts): ``series`` forecast,
  ``fallbacks`` (those that got Seasonal Naive's quantiles), ``failures`` (``(i, reason)``, i
  counting series over all calls in order) and ``seconds`` (wall time in the calls).
  """

  def __init__(self, name: str, processes: int = 1, chunk_size: int = 32,
               levels: Sequence[float] = QUANTILE_LEVELS):
    if name not in BASELINES:
      raise ValueError(f"name must be one of {sorted(BASELINES)}, got {name!r}")
    self.name = name
    self.processes = checks.positive_int(processes, "processes")
    self.chunk_size = checks.positive_int(chunk_size, "chunk_size")
    self.levels = check_levels(levels)
    self.series, self.fallbacks, self.seconds = 0, 0, 0.0
    self.failures: list[tuple[int, str]] = []

  def __call__(self, contexts, horizon, seasonalities) -> np.ndarray:
    start = time.perf_counter()
    if isinstance(contexts, np.ndarray) and contexts.ndim == 2:
      contexts = list(contexts)
    if not isinstance(contexts, (list, tuple)) or not contexts:
      raise ValueError("contexts must be a non-empty list of 1-D histories")
    horizon = checks.positive_int(horizon, "horizon")
    if not hasattr(seasonalities, "__len__") or len(seasonalities) != len(contexts):
      raise ValueError(f"seasonalities must have one entry per context, got {seasonalities!r} "
                       f"for {len(contexts)} contexts")
    ys = [clean_context(c, f"contexts[{i}]") for i, c in enumerate(contexts)]
    ms = [checks.positive_int(m, f"seasonalities[{i}]") for i, m in enumerate(seasonalities)]
    bounds = range(0, len(ys), self.chunk_size)
    chunks = [(self.name, ys[a:a + self.chunk_size], horizon, ms[a:a + self.chunk_size],
               self.levels) for a in bounds]
    if self.processes == 1:
      parts = [_forecast_chunk(*chunk) for chunk in chunks]
    else:
      # spawn, not fork: the parent may hold JAX's threads, which fork would copy half-alive.
      context = multiprocessing.get_context("spawn")
      with concurrent.futures.ProcessPoolExecutor(min(self.processes, len(chunks)),
                                                  mp_context=context) as pool:
        parts = list(pool.map(_forecast_chunk, *zip(*chunks)))
    failures = [f for _, part in parts for f in part]
    self.failures += [(self.series + i, f) for i, f in enumerate(failures) if f is not None]
    self.fallbacks += sum(f is not None for f in failures)
    self.series += len(ys)
    self.seconds += time.perf_counter() - start
    return np.concatenate([q for q, _ in parts])
