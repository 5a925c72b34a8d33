"""Restricted AutoARIMA on statsmodels (:func:`fit_arima`), one of the statistical baselines of
:mod:`.statistical`: a cheap Hyndman-Khandakar stepwise search.

Seasonal terms when m > 1 and >= 3 seasons; D = 1 if the STL seasonal strength is > 0.64 (R's
``nsdiffs(test="seas")``); d in {0, 1, 2} by repeated 5% KPSS tests on the seasonally
differenced series (R's ``ndiffs``); p, q in {0, 1, 2}, P, Q in {0, 1}; a constant (mean or
drift) allowed when d + D <= 1. Starts: (0,d,0)(0,D,0), (1,d,0)(1,D,0), (0,d,1)(0,D,1)
(non-seasonal: (2,d,2), (0,d,0), (1,d,0), (0,d,1)), with the constant when allowed; then the
first neighbour lowering AICc (p, q, P, Q each +-1, p and q together +-1, P and Q together
+-1, the constant toggled) becomes the model, until none does or :data:`ARIMA_MAX_FITS` fits.
Dropped for time: the (2,d,2)(1,D,1) start and p, q up to 5. Fits are conditional ML on the
differenced series (SARIMAX ``simple_differencing``, concentrated scale, a neighbour started
at its parent's optimum); the forecast is the full state-space model at those parameters
(Kalman filter: exact Gaussian intervals on the levels).
"""

from __future__ import annotations

import numpy as np
from statsmodels.tsa.seasonal import STL
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import kpss

from lowrank_ts import checks
from lowrank_ts.evaluation.statistical_fit import Fit, fitting, quantiles_from_intervals

ARIMA_MAX_FITS = 6
ARIMA_MAXITER = 50  # L-BFGS-B iterations per fit (statsmodels' default)


def seasonal_strength(y: np.ndarray, m: int) -> float:
  """``max(0, 1 - var(R) / var(S + R))`` of an STL decomposition (Wang, Smith & Hyndman 2006)."""
  parts = STL(y, period=m).fit()
  return max(0.0, 1.0 - float(np.var(parts.resid) / np.var(parts.seasonal + parts.resid)))


def _is_constant(x: np.ndarray, scale: np.ndarray) -> bool:
  """``x`` constant up to round-off relative to the values of ``scale``."""
  return bool(np.ptp(x) <= 1e-10 * max(1.0, float(np.abs(scale).max())))


def kpss_differences(x: np.ndarray, max_d: int = 2) -> int:
  """R's ``ndiffs``: difference while the 5% KPSS level test rejects (lags 4 (n/100)^(1/4))."""
  d = 0
  while d < max_d and x.shape[0] >= 5 and not _is_constant(x, x):
    if kpss(x, regression="c", nlags=max(1, int(4 * (x.shape[0] / 100) ** 0.25)))[1] >= 0.05:
      break
    x, d = np.diff(x), d + 1
  return d


def _integrate(y: np.ndarray, increments: np.ndarray, d: int, seasonal_d: int, m: int):
  """Future levels of ``y`` whose (d, D)-differenced future is ``increments``."""
  chain = [y] + ([y[m:] - y[:-m]] if seasonal_d else [])
  for _ in range(d):
    chain.append(np.diff(chain[-1]))
  future = np.asarray(increments, np.float64)
  for level in range(len(chain) - 2, -1, -1):
    lag = m if seasonal_d and level == 0 else 1
    path = list(chain[level])
    for step in future:
      path.append(path[-lag] + step)
    future = np.array(path[len(chain[level]):])
  return future


def _arima_fit(x, order, seasonal_order, trend, near=None):
  """Conditional ML on the differenced series (the scale concentrated out when there are
  other parameters), started from the parameters of the fit ``near`` where it has them (a
  neighbour in the search: its optimum is close, and that halves the iterations)."""
  k = order[0] + order[2] + seasonal_order[0] + seasonal_order[2] + (trend == "c")
  model = SARIMAX(x, order=order, seasonal_order=seasonal_order, trend=trend,
                  simple_differencing=True, concentrate_scale=k > 0)
  start = None
  if near is not None and k > 0:
    known = dict(zip(near.model.param_names, np.asarray(near.params)))
    start = np.array([known.get(name, 0.0) for name in model.param_names])
  return model.fit(start_params=start, disp=False, maxiter=ARIMA_MAXITER, cov_type="none")


def _stepwise(fit, fits: dict, seasonal: bool, allow_constant: bool) -> tuple:
  """The search of the module docstring over specs (p, q, P, Q, trend): ``fit(spec, near)``
  returns a spec's AICc and records it in ``fits``."""
  constant = "c" if allow_constant else "n"
  starts = ([(0, 0, 0, 0), (1, 0, 1, 0), (0, 1, 0, 1)] if seasonal else
            [(2, 2, 0, 0), (0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0)])
  for start in starts:
    fit((*start, constant))
  best = min(fits, key=lambda spec: fits[spec][0])
  moves = [(1, 0, 0, 0), (-1, 0, 0, 0), (0, 1, 0, 0), (0, -1, 0, 0), (1, 1, 0, 0), (-1, -1, 0, 0)]
  if seasonal:
    moves += [(0, 0, 1, 0), (0, 0, -1, 0), (0, 0, 0, 1), (0, 0, 0, -1), (0, 0, 1, 1),
              (0, 0, -1, -1)]
  improved = True
  while improved:
    improved = False
    neighbours = [tuple(a + b for a, b in zip(best[:4], move)) + best[4:] for move in moves]
    if allow_constant:
      neighbours.append(best[:4] + ("n" if best[4] == "c" else "c",))
    for spec in neighbours:
      p, q, sp, sq, _ = spec
      if spec in fits or not (0 <= p <= 2 and 0 <= q <= 2 and 0 <= sp <= 1 and 0 <= sq <= 1):
        continue
      if len(fits) >= ARIMA_MAX_FITS:
        return best
      if fit(spec, fits[best][1]) < fits[best][0]:
        best, improved = spec, True
        break
  return best


@fitting()
def fit_arima(context, seasonality: int) -> Fit:
  """The restricted AutoARIMA model of ``context`` float64 [T] (no NaN), module docstring."""
  y = checks.float_vector(context, "context", allow_nan=False, dtype=np.float64)
  m = checks.positive_int(seasonality, "seasonality")
  seasonal = m > 1 and y.shape[0] >= 3 * m
  seasonal_d = int(seasonal and seasonal_strength(y, m) > 0.64)
  z = y[m:] - y[:-m] if seasonal_d else y
  d = kpss_differences(z)
  x = np.diff(z, n=d)  # the fully differenced series (n=0: z itself)
  allow_constant = d + seasonal_d <= 1
  period = m if seasonal else 0
  if _is_constant(x, y):  # deterministic after differencing: extrapolate exactly, no spread
    return Fit(f"ARIMA(0,{d},0)(0,{seasonal_d},0)[{period}] deterministic",
               lambda h, levels: np.tile(
                   _integrate(y, np.full(h, x.mean()), d, seasonal_d, m), (len(levels), 1)))

  fits = {}  # (p, q, P, Q, trend) -> (AICc, result)

  def fit(spec, near=None):
    p, q, sp, sq, trend = spec
    try:
      result = _arima_fit(y, (p, d, q), (sp, seasonal_d, sq, period), trend, near)
      fits[spec] = (result.aicc if np.isfinite(result.aicc) else np.inf, result)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
      fits[spec] = (np.inf, None)  # as auto.arima: a model that cannot be fitted is skipped
    return fits[spec][0]

  best = _stepwise(fit, fits, seasonal, allow_constant)
  result = fits[best][1]
  if result is None:
    raise RuntimeError("no ARIMA candidate could be fitted")
  p, q, sp, sq, trend = best
  full = SARIMAX(y, order=(p, d, q), seasonal_order=(sp, seasonal_d, sq, period), trend=trend)
  params = np.r_[result.params, result.scale] if result.model.concentrate_scale else result.params
  state = full.filter(params, cov_type="none")

  def quantiles(horizon, levels):
    forecast = state.get_forecast(horizon)
    def interval(alpha):
      bounds = np.asarray(forecast.conf_int(alpha=alpha))
      return bounds[:, 0], bounds[:, 1]
    return quantiles_from_intervals(interval, np.asarray(forecast.predicted_mean), levels)
  drift = " with constant" if trend == "c" else ""
  return Fit(f"ARIMA({p},{d},{q})({sp},{seasonal_d},{sq})[{period}]{drift}", quantiles, result)
