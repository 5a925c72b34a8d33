"""Classical statistical baselines on statsmodels: AutoETS, AutoTheta and a restricted AutoARIMA.

Each is a one-series function ``fn(context, horizon, seasonality) -> quantiles [9, horizon]`` at
:data:`~lowrank_ts.models.config.QUANTILE_LEVELS`, like :func:`.baselines.seasonal_naive`;
:class:`StatisticalForecaster` makes a parallel :data:`~.scoring.Forecaster` of one of them that
counts the series that fell back to Seasonal Naive. ``fit_ets`` / ``fit_theta`` / ``fit_arima``
return the selected model (:class:`Fit`; ``spec`` names it).

- AutoETS (:func:`fit_ets`): every candidate ``ETSModel`` fitted by ML, the lowest AICc kept.
  Error {A, M} x trend {N, A, Ad} x season {N, A, M}, as R's ``ets``: M error or season only if
  all values are > 0, a season only for m > 1 and >= 2 full seasons, no A error with M season
  (R's ``restrict``). Non-seasonal series: initial states estimated by ML. Seasonal ones: the
  heuristic initial states of statsmodels (Hyndman & Athanasopoulos, FPP3), 6x faster at
  similar accuracy (60 M3 monthly: WQL 0.088 vs 0.086 estimated, 0.111 Seasonal Naive), still
  counted in AICc (else 11 free seasonal states win on white noise). Quantiles: the analytic
  Gaussian for statsmodels' all-additive classes, else 1000 simulated paths (fixed seed).
- AutoTheta (:func:`fit_theta`): ``ThetaModel`` (theta = 2: SES plus half the OLS slope) on the
  series deseasonalised by classical decomposition (multiplicative if all values > 0) when
  m > 1, >= 2 seasons and R's ``thetaf`` 90% ACF test at lag m rejects. Interval (Hyndman &
  Billah 2003, R's ``thetaf``): Gaussian, variance ``sigma^2 (1 + (h - 1) alpha^2)`` on the
  adjusted series (sigma^2 the SES one-step variance), re-seasonalised like the point. Not
  ``prediction_intervals``: statsmodels 0.15 documents this IMA(1,1) variance but computes
  ``1 + (h - 1)(1 + (alpha - 1)^2)`` (the IMA(1,1) weight is ``1 + theta = alpha``, as its own
  SARIMAX confirms, see the tests) with sigma^2 of the raw, still seasonal series: intervals 2x
  and more too wide, WQL 0.128 against Seasonal Naive's 0.111 on 60 M3 monthly.
- Restricted AutoARIMA (:func:`fit_arima`), a cheap Hyndman-Khandakar stepwise search. Seasonal
  terms when m > 1 and >= 3 seasons; D = 1 if the STL seasonal strength is > 0.64 (R's
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

Fallback: a fit that raises or gives non-finite quantiles returns Seasonal Naive's quantiles (and
:class:`StatisticalForecaster` counts it). A constant history gets the flat forecast every model
degenerates to (not a fallback). NaNs: leading ones are dropped, the others linearly interpolated
(trailing ones repeat the last value, keeping the forecast origin).

CPU seconds per series in one process (processes=1), on the shared 2-core machine with a training
run beside it (load average ~3.7, so an idle machine is faster); every k-th series of each subset:

===========  ==========  ==========  ==========  ==========  ==========  ==========  ==========
baseline     M3 monthly  M3 quart.   M3 yearly   Tour. mon.  Tour. qu.   Tour. yea.  4140 series
             (100)       (30)        (30)        (20)        (20)        (30)        2 processes
===========  ==========  ==========  ==========  ==========  ==========  ==========  ==========
auto-ets     0.166       0.159       0.089       0.179       0.131       0.091       ~5 min
auto-theta   0.019       0.013       0.017       0.022       0.013       0.019       < 1 min
auto-arima   0.458       0.237       0.199       0.725       0.209       0.167       ~12 min
===========  ==========  ==========  ==========  ==========  ==========  ==========  ==========
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import multiprocessing
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import threadpoolctl
from scipy import stats
from statsmodels.tools.sm_exceptions import ModelWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.seasonal import STL, seasonal_decompose
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import acf, kpss

from lowrank_ts import checks
from lowrank_ts.evaluation import baselines
from lowrank_ts.models.config import QUANTILE_LEVELS

ETS_SIMULATIONS = 1000
ETS_ANALYTIC = ("ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA")  # statsmodels' exact-variance classes
ARIMA_MAX_FITS = 6
ARIMA_MAXITER = 50  # L-BFGS-B iterations per fit (statsmodels' default)


@dataclasses.dataclass(frozen=True)
class Fit:
  """A selected model: ``spec`` names it (``"MAdM"``, ``"ARIMA(0,1,1)(0,1,1)[12]"``, ``"theta
  mul"``), ``quantiles(horizon, levels)`` gives its predictive quantiles [len(levels), horizon],
  ``result`` is statsmodels' fitted results (ARIMA: of the differenced series; None when the
  differenced history is constant)."""
  spec: str
  quantiles: Callable[[int, Sequence[float]], np.ndarray]
  result: object = None


@functools.cache
def _blas() -> threadpoolctl.ThreadpoolController:
  """This process's BLAS libraries (found once: ~2 ms, against ~30 us for a limit)."""
  return threadpoolctl.ThreadpoolController()


@contextlib.contextmanager
def _fitting():
  """One BLAS thread (OpenBLAS's threads made L-BFGS-B 3x and SARIMAX fits up to 20x slower on
  the shared 2-core machine) and statsmodels' fitting notices silenced (convergence, start
  parameters, KPSS table bounds, overflow in a diverging multiplicative fit): candidates are
  compared by AICc and the output is checked for finiteness."""
  with _blas().limit(limits=1), warnings.catch_warnings():
    warnings.simplefilter("ignore", ModelWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.filterwarnings("ignore", "kpss currently returns", FutureWarning)
    yield


def _quantiles_from_intervals(interval, median, levels) -> np.ndarray:
  """Quantiles [Q, H] from central intervals: level q < 0.5 is the lower end of the interval
  of coverage 1 - 2q (``interval(alpha=2q) -> (lower, upper)``), 1 - q its upper end."""
  out = np.empty((len(levels), len(median)))
  for i, q in enumerate(levels):
    if abs(q - 0.5) < 1e-12:
      out[i] = median
    elif q < 0.5:
      lower, upper = interval(2 * q)
      out[i], out[len(levels) - 1 - i] = lower, upper
  return out


# ----------------------------------------------------------------------------- AutoETS

def _ets_candidates(positive: bool, seasonal: bool) -> list[tuple]:
  """(error, trend, damped, season) of R's ``ets`` search with ``restrict=TRUE``."""
  errors = ("add", "mul") if positive else ("add",)
  seasons = (None, "add", "mul")[:(2 + positive) if seasonal else 1]
  return [(error, trend, damped, season) for error in errors
          for trend, damped in ((None, False), ("add", False), ("add", True))
          for season in seasons if not (error == "add" and season == "mul")]


def _ets_quantiles(result, horizon: int, levels: Sequence[float]) -> np.ndarray:
  n = int(result.nobs)
  if result.model.short_name in ETS_ANALYTIC:
    pred = result.get_prediction(start=n, end=n + horizon - 1)
    def interval(alpha):
      frame = pred.summary_frame(alpha=alpha)
      return frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()
    return _quantiles_from_intervals(interval, np.asarray(pred.predicted_mean), levels)
  # The default of simulate, with the errors drawn here so that the seed is explicit.
  errors = np.random.default_rng(0).standard_normal((horizon, ETS_SIMULATIONS))
  paths = result.simulate(horizon, anchor="end", repetitions=ETS_SIMULATIONS,
                          random_errors=errors * np.sqrt(result.scale))
  return np.quantile(np.asarray(paths), levels, axis=1)


@_fitting()
def fit_ets(context, seasonality: int) -> Fit:
  """The AutoETS model of ``context`` float64 [T] (no NaN) with the lowest AICc (module
  docstring); raises RuntimeError when no candidate fits."""
  y = checks.float_vector(context, "context", allow_nan=False, dtype=np.float64)
  m = checks.positive_int(seasonality, "seasonality")
  seasonal = m > 1 and y.shape[0] >= 2 * m
  heuristic = seasonal and y.shape[0] >= 10 + 2 * (m // 2)  # statsmodels' heuristic minimum
  best, best_aicc = None, np.inf
  for error, trend, damped, season in _ets_candidates(bool(y.min() > 0), seasonal):
    model = ETSModel(pd.Series(y), error=error, trend=trend, damped_trend=damped,
                     seasonal=season, seasonal_periods=m if season else None,
                     initialization_method="heuristic" if heuristic else "estimated")
    try:
      result = model.fit(disp=False)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
      continue  # as R's ets: a candidate that cannot be fitted is left out
    # Heuristic initial states are still read off the data: count them, as R's ets does its
    # estimated ones, or 11 free seasonal states make a seasonal model win on white noise.
    k = result.df_model + heuristic * (1 + (trend is not None) + (m - 1) * (season is not None))
    dof = result.nobs - k - 1
    if dof <= 0 or not np.isfinite(result.llf):
      continue  # AICc undefined: more parameters than the history supports
    aicc = -2 * result.llf + 2 * k + 2 * k * (k + 1) / dof
    if aicc < best_aicc:
      best, best_aicc = result, aicc
  if best is None:
    raise RuntimeError(f"no ETS candidate could be fitted to {y.shape[0]} values")
  return Fit(best.model.short_name, lambda h, levels: _ets_quantiles(best, h, levels), best)


# ----------------------------------------------------------------------------- AutoTheta

def theta_seasonality_test(y: np.ndarray, m: int) -> bool:
  """R's ``thetaf`` test: ``|r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)``."""
  r = acf(y, nlags=m, fft=False)
  return bool(abs(r[m]) > stats.norm.ppf(0.95) * np.sqrt((1 + 2 * np.sum(r[1:m] ** 2)) / len(y)))


@_fitting()
def fit_theta(context, seasonality: int) -> Fit:
  """The Theta method on ``context`` float64 [T] (no NaN), deseasonalised when the test says
  so; quantiles per the module docstring (Hyndman & Billah 2003)."""
  y = checks.float_vector(context, "context", allow_nan=False, dtype=np.float64)
  m = checks.positive_int(seasonality, "seasonality")
  seasonal = m > 1 and y.shape[0] >= 2 * m and theta_seasonality_test(y, m)
  result = ThetaModel(y, period=m if seasonal else None, deseasonalize=seasonal,
                      use_test=False, method="auto").fit()
  method = result.model.method  # "mul" may have become "add" on a non-positive seasonal
  adjusted = y
  if seasonal:
    season = seasonal_decompose(y, model=method, period=m).seasonal  # as ThetaModel does
    adjusted = y / season if method.startswith("mul") else y - season
  alpha = float(result.params["alpha"])
  ses = ExponentialSmoothing(adjusted, initial_level=adjusted[0],
                             initialization_method="known").fit(smoothing_level=alpha,
                                                                optimized=False)
  sigma2 = float(ses.sse) / max(adjusted.shape[0] - 1, 1)

  def quantiles(horizon, levels):
    parts = result.forecast_components(horizon)
    adjusted_forecast = 0.5 * parts["trend"].to_numpy() + parts["ses"].to_numpy()  # theta = 2
    scale = np.sqrt(sigma2 * (1 + np.arange(horizon) * alpha ** 2))
    out = adjusted_forecast + stats.norm.ppf(np.asarray(levels))[:, None] * scale
    season_h = parts["seasonal"].to_numpy()
    if not seasonal:
      return out
    return out * season_h if method.startswith("mul") else out + season_h
  return Fit(f"theta {method}" if seasonal else "theta", quantiles, result)


# ----------------------------------------------------------------------------- AutoARIMA

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


@_fitting()
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
    return _quantiles_from_intervals(interval, np.asarray(forecast.predicted_mean), levels)
  drift = " with constant" if trend == "c" else ""
  return Fit(f"ARIMA({p},{d},{q})({sp},{seasonal_d},{sq})[{period}]{drift}", quantiles, result)


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
    with _fitting():
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
