"""AutoTheta on statsmodels (:func:`fit_theta`), one of the statistical baselines of
:mod:`.statistical`.

``ThetaModel`` (theta = 2: SES plus half the OLS slope) on the series deseasonalised by
classical decomposition (multiplicative if all values > 0) when m > 1, >= 2 seasons and R's
``thetaf`` 90% ACF test at lag m rejects. Interval (Hyndman & Billah 2003, R's ``thetaf``):
Gaussian, variance ``sigma^2 (1 + (h - 1) alpha^2)`` on the adjusted series (sigma^2 the SES
one-step variance), re-seasonalised like the point. Not ``prediction_intervals``: statsmodels
0.15 documents this IMA(1,1) variance but computes ``1 + (h - 1)(1 + (alpha - 1)^2)`` (the
IMA(1,1) weight is ``1 + theta = alpha``, as its own SARIMAX confirms, see the tests) with
sigma^2 of the raw, still seasonal series: intervals 2x and more too wide, WQL 0.128 against
Seasonal Naive's 0.111 on 60 M3 monthly.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import acf

from lowrank_ts import checks
from lowrank_ts.evaluation.statistical_fit import Fit, fitting


def theta_seasonality_test(y: np.ndarray, m: int) -> bool:
  """R's ``thetaf`` test: ``|r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)``."""
  r = acf(y, nlags=m, fft=False)
  return bool(abs(r[m]) > stats.norm.ppf(0.95) * np.sqrt((1 + 2 * np.sum(r[1:m] ** 2)) / len(y)))


@fitting()
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
