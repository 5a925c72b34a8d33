"""Tests for lowrank_ts.evaluation.statistical: shapes and monotone quantiles, trend and season
extrapolation, model selection on constructed series, the Theta interval against statsmodels'
own IMA(1,1) variance, ARIMA's levels against the differenced fit, the Seasonal Naive fallback
and its count, NaN and constant histories, processes=2 == processes=1, bad input."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.statespace.sarimax import SARIMAX

from lowrank_ts.evaluation import baselines, statistical, statistical_arima, statistical_ets
from lowrank_ts.models.config import QUANTILE_LEVELS

NAMES = sorted(statistical.BASELINES)
PATTERN = np.array([1, 3, 5, 2, 0, -1, 4, 6, 2, 1, 0, 3.0])


def _seasonal(seed=0, n=72):
  """Trend x multiplicative season x 2% noise, monthly."""
  t = np.arange(n, dtype=np.float64)
  noise = np.exp(np.random.default_rng(seed).normal(0, 0.02, n))
  return (50 + t) * (1 + 0.4 * np.sin(2 * np.pi * t / 12)) * noise


def _trending(seed=0, n=40, sigma=0.1):
  return 3 + 2 * np.arange(n, dtype=np.float64) + np.random.default_rng(seed).normal(0, sigma, n)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("series, horizon, m", [(_seasonal(), 18, 12), (_trending(), 6, 1)],
                         ids=["seasonal", "trending"])
def test_quantiles_are_finite_sorted_and_spread(name, series, horizon, m):
  q = statistical.BASELINES[name](series, horizon, m)
  assert q.shape == (len(QUANTILE_LEVELS), horizon) and q.dtype == np.float64
  assert np.isfinite(q).all()
  assert (np.diff(q, axis=0) >= 0).all()
  assert (q[-1] - q[0] > 0).all()  # noisy histories: a real predictive spread at every step


@pytest.mark.parametrize("name", ["auto-ets", "auto-arima"])
def test_noiseless_trend_is_extrapolated(name):
  line = 3 + 2 * np.arange(40.0)
  q = statistical.BASELINES[name](line, 6, 1)
  # The line has zero one-step error for l0 = 3, b0 = 2 (ETS) and is exactly (0,1,0)+drift
  # (ARIMA), so the fit reproduces it to the optimiser's tolerance; 1e-6 of the scale (~1e-4)
  # is far below the 2-per-step miss of a forecast without the trend.
  np.testing.assert_allclose(q[4], 3 + 2 * np.arange(40, 46), atol=1e-6 * 80)


def test_noisy_trend_is_extrapolated_by_arima():
  sigma = 0.1
  fit = statistical.fit_arima(_trending(1, sigma=sigma), 1)
  assert fit.spec.endswith("with constant") and "(0,0,0)[0]" in fit.spec  # drift, no season
  median = fit.quantiles(6, QUANTILE_LEVELS)[4]
  # Level error ~sigma, drift error ~sigma / sqrt(sum (t - tbar)^2) ~ sigma / 73, so at h <= 6
  # the median is within a few sigma of the line; 5 sigma = 0.5 < the 2-per-step slope.
  np.testing.assert_allclose(median, 3 + 2 * np.arange(40, 46), atol=5 * sigma)


def test_periodic_series_repeats_its_season_in_seasonal_ets():
  periodic = 10 + np.tile(PATTERN, 5)
  fit = statistical.fit_ets(periodic, 12)
  assert fit.spec[-1] in "AM"  # a seasonal model
  # Exactly periodic: zero one-step error once the heuristic states hold the pattern, so only
  # round-off remains; 1e-6 of the scale leaves room for the optimiser.
  np.testing.assert_allclose(fit.quantiles(24, QUANTILE_LEVELS)[4], np.tile(PATTERN, 2) + 10,
                             atol=1e-6 * 16)


def test_selection_on_constructed_series():
  seasonal = _seasonal()
  assert statistical.fit_ets(seasonal, 12).spec[-1] == "M"  # multiplicative season
  assert statistical.fit_theta(seasonal, 12).spec == "theta mul"
  arima = statistical.fit_arima(seasonal, 12)
  assert arima.result.model.seasonal_order[1] == 1  # STL strength > 0.64: D = 1
  # White noise: the 90% ACF test still rejects for 10% of seeds (seed 0 does); seed 1 not.
  noise = np.random.default_rng(1).normal(0, 1, 72)
  assert statistical.fit_ets(noise, 12).spec == "ANN"
  assert statistical.fit_theta(noise, 12).spec == "theta"
  assert not statistical.theta_seasonality_test(noise, 12)


def test_theta_interval_is_the_ima11_variance_of_statsmodels_sarimax():
  y = _trending(2, sigma=3.0)
  fit = statistical.fit_theta(y, 1)
  q = fit.quantiles(8, QUANTILE_LEVELS)
  np.testing.assert_allclose(q[4], fit.result.forecast(8), rtol=1e-12)  # statsmodels' point
  alpha = float(fit.result.params["alpha"])
  sarimax = SARIMAX(y, order=(0, 1, 1)).filter(np.array([alpha - 1, 1.0]))
  variance = sarimax.get_forecast(8).var_pred_mean  # sigma^2 = 1: the multiplier itself
  half_width = (q[-1] - q[0]) / (2 * stats.norm.ppf(QUANTILE_LEVELS[-1]))
  # Same Gaussian formula on both sides: agreement to round-off (1e-9).
  np.testing.assert_allclose(half_width ** 2 / half_width[0] ** 2, variance / variance[0],
                             rtol=1e-9)


def test_arima_forecasts_levels_of_the_differenced_fit():
  y = _seasonal(3)
  fit = statistical.fit_arima(y, 12)
  (_, d, _), (_, seasonal_d, _, m) = fit.result.model.order, fit.result.model.seasonal_order
  levels = statistical_arima._integrate(y, np.asarray(fit.result.forecast(12)), d, seasonal_d, m)
  # Same parameters, same data: round-off here (2e-16); the diffuse start of the integrated
  # states has given up to 1e-7 relative with d + D = 2. A missed integration is off by O(1).
  np.testing.assert_allclose(fit.quantiles(12, QUANTILE_LEVELS)[4], levels, rtol=1e-6)


def _raise(*args, **kwargs):
  raise RuntimeError("fit failed on purpose")


@pytest.mark.parametrize("name, cls", [("auto-ets", ETSModel), ("auto-theta", ThetaModel),
                                       ("auto-arima", SARIMAX)])
def test_a_failed_fit_falls_back_to_seasonal_naive_and_is_counted(monkeypatch, name, cls):
  monkeypatch.setattr(cls, "fit", _raise)
  contexts = [_seasonal(s, 48) for s in range(3)]
  forecaster = statistical.StatisticalForecaster(name)
  out = forecaster(contexts, 6, [12, 12, 12])
  naive = np.stack([baselines.seasonal_naive(c, 6, 12) for c in contexts])
  np.testing.assert_array_equal(out, naive)
  assert forecaster.fallbacks == 3 and forecaster.series == 3
  assert [i for i, _ in forecaster.failures] == [0, 1, 2]
  assert "fit failed on purpose" in forecaster.failures[0][1]
  np.testing.assert_array_equal(statistical.BASELINES[name](contexts[0], 6, 12), naive[0])


def test_non_finite_quantiles_fall_back(monkeypatch):
  monkeypatch.setattr(statistical_ets, "_ets_quantiles",
                      lambda r, h, levels: np.full((9, h), np.nan))
  forecaster = statistical.StatisticalForecaster("auto-ets")
  y = _trending()
  out = forecaster([y, y], 4, [1, 1])
  np.testing.assert_array_equal(out[0], baselines.seasonal_naive(y, 4, 1))
  assert forecaster.fallbacks == 2 and "non-finite" in forecaster.failures[1][1]


@pytest.mark.parametrize("name", NAMES)
def test_constant_history_gives_a_flat_forecast_without_fallback(name):
  forecaster = statistical.StatisticalForecaster(name)
  out = forecaster([np.full(30, 7.5)], 5, [12])
  np.testing.assert_array_equal(out, np.full((1, 9, 5), 7.5))
  assert forecaster.fallbacks == 0


def test_nans_are_dropped_when_leading_and_interpolated_otherwise():
  y = np.array([np.nan, np.nan, 1.0, np.nan, 3.0, 4.0, np.nan])
  np.testing.assert_array_equal(statistical.clean_context(y), [1.0, 2.0, 3.0, 4.0, 4.0])
  history = _seasonal(4, 60)
  holes = np.concatenate([[np.nan] * 5, history])
  holes[20] = np.nan
  filled = np.concatenate([history[:15], [(history[14] + history[16]) / 2], history[16:]])
  np.testing.assert_array_equal(statistical.auto_theta(holes, 6, 12),
                                statistical.auto_theta(filled, 6, 12))


def test_two_processes_give_the_same_array_as_one():
  # ETS (its simulated quantiles draw random errors) over 3 chunks in 2 spawned workers.
  contexts = [_seasonal(s, 30 + 2 * s) / 10 for s in range(6)]
  one = statistical.StatisticalForecaster("auto-ets", processes=1, chunk_size=2)
  two = statistical.StatisticalForecaster("auto-ets", processes=2, chunk_size=2)
  np.testing.assert_array_equal(one(contexts, 5, [4] * 6), two(contexts, 5, [4] * 6))
  assert two.fallbacks == one.fallbacks and two.seconds > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"horizon": 0}, "horizon must be >= 1"),
    ({"seasonality": 0}, "seasonality must be >= 1"),
    ({"seasonality": 1.5}, "seasonality must be an integer"),
    ({"context": np.full(5, np.nan)}, "context must have at least one observed"),
    ({"context": np.ones((3, 4))}, "context must have 1 dimensions"),
    ({"context": [1.0, np.inf, 2.0]}, "context must not contain infinite values"),
    ({"context": "abc"}, "context must be an array of numbers"),
    ({"levels": (0.1, 0.5, 0.8)}, "levels must be symmetric about 0.5"),
    ({"levels": (0.9, 0.5, 0.1)}, "levels must be strictly increasing"),
    ({"levels": (0.0, 0.5, 1.0)}, "levels must be strictly increasing numbers in \\(0, 1\\)"),
])
def test_bad_input_names_the_argument(kwargs, match):
  args = {"context": _trending(), "horizon": 4, "seasonality": 1} | kwargs
  for fn in statistical.BASELINES.values():
    with pytest.raises(ValueError, match=match):
      fn(**args)


def test_bad_forecaster_arguments_name_the_argument():
  with pytest.raises(ValueError, match="name must be one of"):
    statistical.StatisticalForecaster("auto-prophet")
  with pytest.raises(ValueError, match="processes must be >= 1"):
    statistical.StatisticalForecaster("auto-ets", processes=0)
  with pytest.raises(ValueError, match="chunk_size must be >= 1"):
    statistical.StatisticalForecaster("auto-ets", chunk_size=0)
  forecaster = statistical.StatisticalForecaster("auto-theta")
  with pytest.raises(ValueError, match="seasonalities must have one entry per context"):
    forecaster([_trending()], 4, [1, 1])
  with pytest.raises(ValueError, match=r"contexts\[1\] must have at least one observed"):
    forecaster([_trending(), np.full(4, np.nan)], 4, [1, 1])
  with pytest.raises(ValueError, match="contexts must be a non-empty list"):
    forecaster([], 4, [])
  with pytest.raises(ValueError, match="context must not contain NaN"):
    statistical.fit_ets(np.array([1.0, np.nan, 2.0]), 1)
