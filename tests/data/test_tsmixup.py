"""Tests for TSMixup, missing-value augmentation and the instance sampler."""

import numpy as np
import pytest

from lowrank_ts.data import augment, instances, tsmixup


def _missing_fraction(series: np.ndarray) -> float:
  return float(np.isnan(series).mean())


def _sources():
  rng = np.random.default_rng(0)
  return [rng.normal(5, 2, size=n).astype(np.float32) for n in (3000, 2500, 700, 4000)]


def test_tsmixup_is_a_convex_mix_of_mean_scaled_windows():
  sources = _sources()
  rng = np.random.default_rng(1)
  lengths, ks_seen = [], set()
  for seed in range(200):
    out = tsmixup.tsmixup(sources, np.random.default_rng(seed))
    lengths.append(out.shape[0])
    assert out.dtype == np.float32 and np.isfinite(out).all()
    # Replay the draws: k, l, (source, start) per component, Dirichlet weights.
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    length = int(rng.integers(128, 2049))
    ks_seen.add(k)
    windows = []
    for _ in range(k):
      s = sources[int(rng.integers(len(sources)))]
      start = int(rng.integers(0, s.shape[0] - length + 1)) if s.shape[0] > length else 0
      windows.append(s[start:start + length])
    w = rng.dirichlet(np.full(k, 1.5))
    common = min(x.shape[0] for x in windows)
    tails = [x[-common:] for x in windows]
    expected = sum(wi * (t / np.abs(t[~np.isnan(t)]).mean()) for wi, t in zip(w, tails))
    # The same float32 scaling and float64 weighting as tsmixup.mix, in the same order: only
    # the final cast to float32 differs, within u = 2^-24 relative.
    np.testing.assert_allclose(out, expected, rtol=2.0 ** -24, atol=0)
    # Mean-scaled inputs with convex weights keep the mean |value| near 1 (positive series).
    assert 0.5 < np.abs(out).mean() <= 1 + 1e-5
  assert ks_seen == {1, 2, 3}
  assert min(lengths) >= 128 and max(lengths) <= 2048


def test_tsmixup_same_rng_same_output_and_nan_aware_scaling():
  sources = _sources()
  a = tsmixup.tsmixup(sources, np.random.default_rng(5))
  b = tsmixup.tsmixup(sources, np.random.default_rng(5))
  np.testing.assert_array_equal(a, b)
  x = np.array([np.nan, 2.0, -4.0, np.nan])
  # float32 output: one rounding of 2/3 and 4/3 (relative 6e-8).
  np.testing.assert_allclose(tsmixup.mean_scale(x), [np.nan, 2 / 3, -4 / 3, np.nan], rtol=1e-7)
  np.testing.assert_array_equal(tsmixup.mean_scale(np.zeros(3)), np.zeros(3))  # scale 0 -> 1
  np.testing.assert_array_equal(tsmixup.mean_scale(np.full(2, np.nan)), np.full(2, np.nan))


def test_drop_values_rate_and_determinism():
  x = np.arange(20000, dtype=np.float32)
  rates = []
  for seed in range(40):
    out = augment.drop_values(x, np.random.default_rng(seed))
    assert out.dtype == np.float32 and out.shape == x.shape
    kept = ~np.isnan(out)
    np.testing.assert_array_equal(out[kept], x[kept])
    rates.append(_missing_fraction(out))
  np.testing.assert_array_equal(augment.drop_values(x, np.random.default_rng(3)),
                                augment.drop_values(x, np.random.default_rng(3)))
  rates = np.array(rates)
  # p ~ U(0, 0.2): rates within [0, 0.2] up to binomial noise (sd <= 0.003 at n = 20000).
  assert rates.min() >= 0 and rates.max() < 0.21
  assert 0.06 < rates.mean() < 0.14  # mean 0.1; sd of a 40-sample mean of U(0, .2) is 0.009
  assert _missing_fraction(augment.drop_values(x, np.random.default_rng(0), 0.0)) == 0


def test_instances_split_and_left_pad():
  cfg = instances.InstanceConfig(context_length=8, prediction_length=3, min_past=2)
  series = np.arange(20, dtype=np.float32)
  context, target = instances.split_at(series, 5, cfg)
  np.testing.assert_array_equal(context, [np.nan, np.nan, np.nan, 0, 1, 2, 3, 4])
  np.testing.assert_array_equal(target, [5, 6, 7])
  context, target = instances.split_at(series, 17, cfg)
  np.testing.assert_array_equal(context, np.arange(9, 17))
  np.testing.assert_array_equal(target, [17, 18, 19])
  splits = set()
  for seed in range(300):
    c, t = instances.sample_instance(series, np.random.default_rng(seed), cfg)
    splits.add(int(t[0]))
    assert c.shape == (8,) and t.shape == (3,)
  assert splits == set(range(2, 18))  # t ~ U{min_past, len - prediction_length}


def test_instances_usability_and_all_missing_contexts():
  cfg = instances.InstanceConfig(context_length=8, prediction_length=3, min_past=2)
  assert not instances.is_usable(np.ones(4), cfg)  # shorter than min_past + prediction_length
  assert instances.is_usable(np.ones(5), cfg)
  sparse = np.full(50, np.nan)
  sparse[:4] = 1.0
  assert not instances.is_usable(sparse, cfg)  # 92 % missing > 90 %
  gappy = np.full(20, np.nan)
  gappy[-2:] = 1.0  # 90 % missing: usable, but every context before t = 18 is all NaN
  assert instances.is_usable(gappy, cfg)
  assert instances.sample_instance(gappy, np.random.default_rng(0), cfg, max_tries=3) is None
  with pytest.raises(ValueError, match="not usable"):
    instances.sample_instance(np.ones(4), np.random.default_rng(0), cfg)


@pytest.mark.parametrize("call, name", [
    (lambda: tsmixup.tsmixup([], np.random.default_rng(0)), "sources"),
    (lambda: tsmixup.tsmixup([np.ones((2, 2))], np.random.default_rng(0)), "sources"),
    (lambda: tsmixup.tsmixup([np.ones(9)], 0), r"^rng must be a numpy\.random\.Generator, got int"),
    (lambda: tsmixup.tsmixup([np.ones(9)], np.random.default_rng(0), alpha=0), "alpha"),
    (lambda: tsmixup.tsmixup([np.ones(9)], np.random.default_rng(0), min_length=9,
                             max_length=8), "max_length"),
    (lambda: augment.drop_values(np.ones(3), np.random.default_rng(0), 1.5), "max_probability"),
    (lambda: augment.drop_values([[1.0]], np.random.default_rng(0)), "series"),
    (lambda: augment.drop_values(np.array([1, np.inf]), np.random.default_rng(0)), "series"),
    (lambda: instances.InstanceConfig(context_length=0), "context_length"),
    (lambda: instances.InstanceConfig(max_missing_fraction=2), "max_missing_fraction"),
    (lambda: instances.split_at(np.ones(5), 4, instances.InstanceConfig(prediction_length=3)),
     r"^t=4 leaves fewer than prediction_length=3 values"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=name):
    call()
