"""Tests for lowrank_ts.data.kernel_synth: the bank, the lag-polynomial fold vs dense Gram
matrices, GP-sample statistics, determinism, retries, bad input."""

import collections

import numpy as np
import pytest

from lowrank_ts.data import kernel_synth as ks


def test_kernel_bank_is_the_reference_bank():
  kinds = collections.Counter(k.kind for k in ks.KERNEL_BANK)
  assert len(ks.KERNEL_BANK) == 33
  assert kinds == {"exp_sine_squared": 21, "dot_product": 3, "rbf": 3, "rational_quadratic": 3,
                   "white": 2, "constant": 1}
  periods = [k.param for k in ks.KERNEL_BANK if k.kind == "exp_sine_squared"]
  assert periods == [24, 48, 96, 168, 336, 672, 7, 14, 30, 60, 365, 730, 4, 26, 52, 4, 6, 12, 4,
                     40, 10]
  assert periods.count(4) == 3  # drawn uniformly over the 33 entries: period 4 is 3x as likely
  params = {kind: [k.param for k in ks.KERNEL_BANK if k.kind == kind] for kind in kinds}
  assert params["dot_product"] == [0, 1, 10]
  assert params["rbf"] == [0.1, 1, 10]
  assert params["rational_quadratic"] == [0.1, 1, 10]
  assert params["white"] == [0.1, 1]
  assert params["constant"] == [1]


def test_kernel_matrix_formulas_at_known_points():
  n = 1024
  x = np.linspace(0, 1, n)
  # ExpSineSquared with period 24 steps: lag 24 is a full period (k = 1), lag 12 half (k = e^-2).
  g = ks.kernel_matrix(ks.BankKernel("exp_sine_squared", 24.0), n)
  # 1e-12: the period p/n and the lag (j/(n-1)) differ by the factor n/(n-1), giving sin^2 ~ 1e-5;
  # so compare with the exact formula instead of the idealised 1.
  d = x[24] - x[0]
  assert g[0, 24] == pytest.approx(np.exp(-2 * np.sin(np.pi * d / (24 / n)) ** 2), rel=1e-12)
  assert g[0, 12] == pytest.approx(np.exp(-2.0), rel=1e-3)  # ~1e-4 from the same n/(n-1) factor
  assert ks.kernel_matrix(ks.BankKernel("dot_product", 10.0), n)[3, 7] == pytest.approx(
      100 + x[3] * x[7], rel=1e-15)
  rbf = ks.kernel_matrix(ks.BankKernel("rbf", 0.1), n)
  assert rbf[0, -1] == pytest.approx(np.exp(-50.0), rel=1e-12)  # |x - x'| = 1, l = 0.1
  rq = ks.kernel_matrix(ks.BankKernel("rational_quadratic", 0.1), n)
  assert rq[0, -1] == pytest.approx((1 + 1 / 0.2) ** -0.1, rel=1e-12)
  np.testing.assert_array_equal(ks.kernel_matrix(ks.BankKernel("white", 0.1), n), 0.1 * np.eye(n))
  np.testing.assert_array_equal(ks.kernel_matrix(ks.BankKernel("constant", 1.0), n), 1.0)


def test_lag_polynomial_fold_equals_dense_composition():
  n = 64
  rng = np.random.default_rng(0)
  seen_dot = 0
  for _ in range(200):
    comp = ks.draw_composition(rng, 5)
    seen_dot += comp.degree > 0
    coef = ks.composed_lag_polynomial(comp, n, comp.degree)
    dense = ks.composed_kernel_matrix(comp, n)
    # float64, <= 5 factors of magnitude <= 101: rounding ~1e-16 relative to the largest entry.
    np.testing.assert_allclose(ks.composed_gram(coef), dense, rtol=1e-12,
                               atol=1e-12 * np.abs(dense).max())
  assert seen_dot > 20  # the fold was exercised with DotProduct powers


def test_compositions_follow_the_recipe():
  rng = np.random.default_rng(1)
  comps = [ks.draw_composition(rng, 5) for _ in range(4000)]
  counts = collections.Counter(len(c.kernels) for c in comps)
  assert set(counts) == {1, 2, 3, 4, 5}
  # U{1..5}: 800 expected each, binomial sd ~25; 6 sd is a safe bound.
  assert all(abs(v - 800) < 150 for v in counts.values())
  products = np.concatenate([np.array(c.products, float) for c in comps if c.products])
  assert abs(products.mean() - 0.5) < 0.03  # ~6000 fair coin flips: sd 0.0065
  ids = np.concatenate([c.kernels for c in comps])
  assert ids.min() == 0 and ids.max() == 32


def test_samples_are_cholesky_factor_times_noise():
  # White(1) alone: the sample is iid N(0, 1 + 1e-10): check mean and variance over 40 x 256.
  n = 256
  coef = ks.lag_polynomial(ks.BankKernel("white", 1.0), n, 0)
  z = np.random.default_rng(2).standard_normal((40, n))
  samples = np.stack([ks._prior_sample(coef, zi, 1e-10) for zi in z])
  np.testing.assert_allclose(samples, z, rtol=1e-9)  # L = I (1 + 1e-10)^(1/2)
  # Any kernel: feeding unit vectors recovers the factor L, and L L' = K + jitter mean(diag K) I.
  rng = np.random.default_rng(3)
  for _ in range(5):
    comp = ks.draw_composition(rng, 5)
    coef = ks.composed_lag_polynomial(comp, 48, comp.degree)
    chol = np.stack([ks._prior_sample(coef, e, 1e-6) for e in np.eye(48)], axis=1)
    gram = ks.composed_kernel_matrix(comp, 48)
    gram += 1e-6 * np.mean(np.diag(gram)) * np.eye(48)
    assert np.allclose(np.triu(chol, 1), 0)  # lower triangular
    # float64 Cholesky backward error ~ n eps |K|; 1e-10 relative to the largest entry is ample.
    np.testing.assert_allclose(chol @ chol.T, gram, atol=1e-10 * np.abs(gram).max())


def test_same_seed_same_series_and_prefix_independent():
  a, info = ks.kernel_synth(6, seed=7, length=128, return_info=True)
  b = ks.kernel_synth(6, seed=7, length=128)
  c = ks.kernel_synth(3, seed=7, length=128)
  d = ks.kernel_synth(6, seed=8, length=128)
  assert a.shape == (6, 128) and a.dtype == np.float32 and np.isfinite(a).all()
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a[:3], c)  # series i depends on (seed, i) only
  assert not np.allclose(a, d)
  assert len(info["compositions"]) == 6 and (info["jitter"] > 0).all()


def test_workers_do_not_change_the_output():
  one = ks.kernel_synth(4, seed=11, length=64)
  two, info = ks.kernel_synth(4, seed=11, length=64, workers=2, return_info=True)
  np.testing.assert_array_equal(one, two)  # BLAS pinned to one thread in every process
  assert len(info["compositions"]) == 4


def test_failed_factorisations_climb_the_ladder_then_redraw(monkeypatch):
  calls = []
  real = ks._prior_sample

  def flaky(coef, z, jitter):
    calls.append(jitter)
    return None if len(calls) <= len(ks.JITTER_LADDER) else real(coef, z, jitter)

  monkeypatch.setattr(ks, "_prior_sample", flaky)
  out, info = ks.kernel_synth(1, seed=0, length=32, return_info=True)
  assert calls[:len(ks.JITTER_LADDER)] == list(ks.JITTER_LADDER)
  assert info["redraws"][0] == 1 and info["jitter"][0] == ks.JITTER_LADDER[0]
  assert np.isfinite(out).all()


@pytest.mark.parametrize("kwargs, name", [
    ({"num_series": 0, "seed": 0}, "num_series"),
    ({"num_series": 2, "seed": -1}, "seed"),
    ({"num_series": 2, "seed": 0, "length": 1}, "length"),
    ({"num_series": 2, "seed": 0, "max_kernels": 0}, "max_kernels"),
    ({"num_series": 2.5, "seed": 0}, "num_series"),
    ({"num_series": 2, "seed": 0, "workers": 0}, "workers"),
])
def test_bad_input_names_the_argument(kwargs, name):
  with pytest.raises(ValueError, match=name):
    ks.kernel_synth(**kwargs)
  with pytest.raises(ValueError, match="kernel"):
    ks.kernel_matrix("rbf", 8)
  with pytest.raises(ValueError, match="kind"):
    ks.kernel_matrix(ks.BankKernel("matern", 1.0), 8)
