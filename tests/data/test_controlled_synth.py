"""Tests for the series with one characteristic set at a time: each has the period, strength,
noise law, trend and stationarity it is asked for."""

import numpy as np
import pytest

from lowrank_ts.data import controlled_synth

ROUND_OFF = 1e-9  # float64 sin / sums over at most ~1e4 terms: far below this


@pytest.mark.parametrize("period", (4, 7, 12, 24, 52))
def test_the_season_has_its_period_and_its_strength(period):
  cycles, strength = 10, 2.5
  x = controlled_synth.series(np.random.default_rng(period), cycles * period, period=period,
                              strength=strength)
  np.testing.assert_allclose(x[period:], x[:-period], atol=ROUND_OFF)
  # unit variance over whole periods: the standard deviation is the strength
  assert abs(x.std() - strength) < ROUND_OFF and abs(x.mean()) < ROUND_OFF
  # one frequency: all the power at `cycles` cycles per series, none elsewhere
  power = np.abs(np.fft.rfft(x)) ** 2
  assert int(np.argmax(power)) == cycles
  assert power[np.arange(power.shape[0]) != cycles].max() < ROUND_OFF * power[cycles]


def test_noise_level_and_seasonal_to_noise_ratio():
  """Added noise is ``noise`` times unit-variance noise, independent of the season: the same
  stream with noise 0 gives the season alone."""
  length, strength, noise = 40_000, 3.0, 0.5
  clean = controlled_synth.series(np.random.default_rng(1), length, period=12,
                                  strength=strength)
  noisy = controlled_synth.series(np.random.default_rng(1), length, period=12,
                                  strength=strength, noise=noise)
  residual = noisy - clean
  # sample sd of N(0, noise^2) over n values: relative se 1 / sqrt(2n) = 0.0035; 5 se
  assert abs(residual.std() / noise - 1) < 5 / np.sqrt(2 * length)
  # correlation of independent series: se 1 / sqrt(n) = 0.005; 5 se
  assert abs(np.corrcoef(residual, clean)[0, 1]) < 5 / np.sqrt(length)
  assert abs(clean.std() / residual.std() - strength / noise) < 0.05 * strength / noise


@pytest.mark.parametrize("phi", (0.0, 0.5, 0.9, 0.99))
def test_ar1_noise_is_stationary_with_unit_variance_and_lag_one_correlation_phi(phi):
  draws, length = 4000, 30
  e = np.stack([controlled_synth.ar1_noise(np.random.default_rng([7, i]), length, phi)
                for i in range(draws)])
  # across draws, every time step has variance 1 (a start at 0 would give 1 - phi^(2t+2));
  # sample variance of 4000 unit normals: se sqrt(2 / 4000) = 0.022; 5 se
  np.testing.assert_allclose(e.var(axis=0), 1.0, atol=5 * np.sqrt(2 / draws))
  # lag-1 correlation across draws at each step: se (1 - phi^2) / sqrt(n) <= 0.016; 5 se
  lag1 = np.array([np.corrcoef(e[:, t], e[:, t + 1])[0, 1] for t in range(length - 1)])
  np.testing.assert_allclose(lag1, phi, atol=5 * (1 - phi ** 2) / np.sqrt(draws) + 1e-3)


def test_phi_one_is_a_random_walk():
  draws, length = 4000, 50
  e = np.stack([controlled_synth.ar1_noise(np.random.default_rng([8, i]), length, 1.0)
                for i in range(draws)])
  steps = np.diff(e, axis=1)
  np.testing.assert_allclose(steps.var(axis=0), 1.0, atol=5 * np.sqrt(2 / draws))
  # not stationary: var e_t = t + 1 (relative se sqrt(2 / 4000) = 0.022; 5 se)
  np.testing.assert_allclose(e.var(axis=0) / np.arange(1, length + 1), 1.0,
                             atol=5 * np.sqrt(2 / draws))


def test_the_trend_is_slope_times_t():
  x = controlled_synth.series(np.random.default_rng(0), 100, slope=-0.25)
  np.testing.assert_array_equal(x, -0.25 * np.arange(100.0))
  seasonal = controlled_synth.series(np.random.default_rng(0), 240, period=24, strength=1.0,
                                     slope=0.1)
  clean = controlled_synth.series(np.random.default_rng(0), 240, period=24, strength=1.0)
  np.testing.assert_allclose(seasonal - clean, 0.1 * np.arange(240.0), atol=ROUND_OFF)


def test_bad_arguments_name_themselves():
  rng = np.random.default_rng(0)
  for kwargs, name in ((dict(strength=1.0), "period"), (dict(period=2, strength=1.0), "period"),
                       (dict(noise=-1.0), "noise"), (dict(strength=float("nan")), "strength"),
                       (dict(slope=float("inf")), "slope"), (dict(phi=1.5), "phi")):
    with pytest.raises(ValueError, match=name):
      controlled_synth.series(rng, 10, **kwargs)
  with pytest.raises(ValueError, match="length"):
    controlled_synth.series(rng, 0)
  with pytest.raises(ValueError, match="rng"):
    controlled_synth.series(0, 10)
