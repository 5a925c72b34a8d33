"""Tests for lowrank_ts.spectral: ours vs numpy, Eckart–Young, eq. (1) edge cases, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_ts import spectral


def _rng(seed=0):
  return np.random.default_rng(seed)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 7, 4), (1, 1)])
def test_singular_values_match_numpy(shape):
  x = _rng().normal(size=shape).astype(np.float32)
  ours = spectral.singular_values(x)
  ref = np.linalg.svd(x, compute_uv=False)
  assert ours.shape == ref.shape
  # float32 SVD: relative error of order 1e-6 * condition; 1e-5 * sigma_1 is ample.
  np.testing.assert_allclose(ours, ref, atol=1e-5 * ref.max(), rtol=0)


def test_singular_values_float64_matches_numpy_to_double_precision():
  x = _rng(1).normal(size=(30, 20))
  with spectral.float64():
    ours = spectral.singular_values(x)
    assert ours.dtype == jnp.float64
  # float64 round-off: ~1e-15 relative; 1e-12 leaves room for LAPACK driver differences.
  np.testing.assert_allclose(ours, np.linalg.svd(x, compute_uv=False), rtol=1e-12)


def test_import_sets_no_global_x64_flag():
  assert not jax.config.jax_enable_x64


def test_relative_spectrum_and_zero():
  s = spectral.relative_spectrum(jnp.array([[4.0, 2.0, 1.0], [0.0, 0.0, 0.0]]))
  np.testing.assert_array_equal(s, [[1.0, 0.5, 0.25], [0.0, 0.0, 0.0]])


def test_eps_rank_is_strict_inequality_of_eq1():
  s = jnp.array([1.0, 0.5, 0.1, 0.01])
  # sigma_j / sigma_1 > eps strictly: 0.1 is not counted at eps = 0.1.
  assert int(spectral.eps_rank_from_singular_values(s, 0.1)) == 2
  assert int(spectral.eps_rank_from_singular_values(s, 0.0999)) == 3
  assert int(spectral.eps_rank_from_singular_values(s, 1.0)) == 0
  assert int(spectral.eps_rank_from_singular_values(s, 1e-9)) == 4


def test_eps_rank_zero_matrix_is_zero_and_batched():
  x = np.zeros((3, 4, 5), np.float32)
  x[1] = _rng().normal(size=(4, 5))
  ranks = spectral.eps_rank(x, 1e-3)
  assert ranks.shape == (3,)
  assert ranks.tolist() == [0, 4, 0]


def test_eps_rank_matches_numpy_count():
  compared = 0
  for seed in range(20):
    rng = _rng(seed)
    s = np.sort(rng.uniform(0, 1, size=8))[::-1]
    x = np.asarray(spectral.matrix_with_spectrum(jax.random.key(seed), s, 10, 12))
    eps = float(rng.uniform(0.05, 0.95))
    ref_s = np.linalg.svd(x, compute_uv=False)
    # Skip instances where a singular value sits within float32 round-off of the threshold.
    if np.min(np.abs(ref_s / ref_s[0] - eps)) < 1e-4:
      continue
    assert int(spectral.eps_rank(x, eps)) == int(np.sum(ref_s / ref_s[0] > eps))
    compared += 1
  # A gap of 1e-4 around 8 values in (0, 1) excludes a seed with probability ~1.6e-3.
  assert compared >= 18


@pytest.mark.parametrize("shape", [(12, 8), (8, 12)])
def test_truncated_svd_eckart_young(shape):
  w = _rng(2).normal(size=shape)
  s = np.linalg.svd(w, compute_uv=False)
  with spectral.float64():
    for rank in range(1, min(shape)):
      a, b = spectral.truncated_svd(w, rank=rank)
      assert a.shape == (shape[0], rank) and b.shape == (rank, shape[1])
      err = np.linalg.norm(w - np.asarray(a @ b), 2)
      # Eckart–Young: the error is exactly sigma_{r+1}; float64 round-off only.
      np.testing.assert_allclose(err, s[rank], rtol=1e-10)
    a, b = spectral.truncated_svd(w, rank=min(shape))
    # Full rank reproduces w up to float64 round-off.
    np.testing.assert_allclose(np.asarray(a @ b), w, atol=1e-12)


def test_truncated_svd_by_eps_guarantee():
  for seed in range(50):
    rng = _rng(seed)
    m, n = [(4, 9), (9, 4), (12, 12)][seed % 3]  # few shapes: each new shape recompiles
    w = rng.normal(size=(m, n)) * np.exp(-rng.uniform(0, 3) * np.arange(n))
    eps = float(10 ** rng.uniform(-4, -0.1))
    with spectral.float64():
      a, b = spectral.truncated_svd(w, eps=eps)
      rank = int(spectral.eps_rank(w, eps))
      approx = np.asarray(a) @ np.asarray(b)
    assert a.shape[1] == rank
    norm = np.linalg.norm(w, 2)
    # the guarantee of §5 is exact; 1e-12 * ||w|| absorbs float64 round-off.
    assert np.linalg.norm(w - approx, 2) <= eps * norm + 1e-12 * norm


def test_truncated_svd_zero_matrix_by_eps_gives_empty_factors():
  a, b = spectral.truncated_svd(np.zeros((3, 4)), eps=0.1)
  assert a.shape == (3, 0) and b.shape == (0, 4)


def test_matrix_with_spectrum_has_that_spectrum_and_orthonormal_factors():
  s = np.exp(-np.linspace(0, 5, 16))
  with spectral.float64():
    x = spectral.matrix_with_spectrum(jax.random.key(3), s, 16, 64)
    assert x.dtype == jnp.float64
  # float64 QR + SVD round-off.
  np.testing.assert_allclose(np.linalg.svd(np.asarray(x), compute_uv=False), s, rtol=1e-10)
  y = spectral.matrix_with_spectrum(jax.random.key(4), s, 16, 64)
  assert not np.allclose(np.asarray(x, np.float32), np.asarray(y)), "keys must matter"


def test_column_angles():
  x = np.array([[1.0, 0.0, 1.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.0]])
  ang = np.asarray(spectral.column_angles(x))
  assert ang.shape == (5, 5)
  # float32 arccos near 1 loses ~sqrt(eps) = 3e-4.
  np.testing.assert_allclose(ang[0, 1], np.pi / 2, atol=1e-6)
  np.testing.assert_allclose(ang[0, 2], np.pi / 4, atol=1e-6)
  np.testing.assert_allclose(ang[0, 3], 0.0, atol=5e-4)  # antiparallel: |cos| = 1
  np.testing.assert_array_equal(np.diag(ang)[:4], 0.0)
  assert np.all(np.isnan(ang[4])) and np.all(np.isnan(ang[:, 4]))  # zero column
  finite = ang[:4, :4]
  assert finite.min() >= 0 and finite.max() <= np.pi / 2


def test_column_angles_match_numpy():
  x = _rng(5).normal(size=(6, 9))
  unit = x / np.linalg.norm(x, axis=0)
  ref = np.arccos(np.clip(np.abs(unit.T @ unit), 0, 1))
  np.fill_diagonal(ref, 0)
  with spectral.float64():
    # float64 arccos of |cos| computed two ways: round-off ~1e-8 near cos = 1.
    np.testing.assert_allclose(spectral.column_angles(x), ref, atol=1e-7)


def test_sketching_error_eckart_young_and_optimal_sketch():
  s = np.exp(-0.5 * np.arange(20))
  with spectral.float64():
    x = np.asarray(spectral.matrix_with_spectrum(jax.random.key(6), s, 20, 50))
    u = np.linalg.svd(x)[0]
    for r in (1, 3, 7):
      # the optimal sketch (leading left singular vectors) attains sigma_{r+1} exactly.
      np.testing.assert_allclose(spectral.sketching_error(x, u[:, :r].T), s[r], rtol=1e-8)
      for seed in range(5):
        w = _rng(seed).normal(size=(r, 20))
        # any r-row sketch errs by at least sigma_{r+1} (round-off margin 1e-10).
        assert float(spectral.sketching_error(x, w)) >= s[r] * (1 - 1e-10)
    # a full-rank sketch recovers the row space: error at round-off level.
    assert float(spectral.sketching_error(x, _rng(9).normal(size=(20, 20)))) < 1e-10


def test_sketching_error_matches_explicit_projection():
  rng = _rng(7)
  x, w = rng.normal(size=(8, 30)), rng.normal(size=(3, 8))
  q = np.linalg.qr(x.T @ w.T)[0]
  ref = np.linalg.norm(q @ q.T @ x.T - x.T, 2)
  with spectral.float64():
    # two float64 orthonormalisations of the same 3 columns.
    np.testing.assert_allclose(spectral.sketching_error(x, w), ref, rtol=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: spectral.singular_values(np.ones(3)), "x must have at least 2"),
    (lambda: spectral.singular_values(np.ones((0, 3))), "x must not be empty"),
    (lambda: spectral.singular_values("abc"), "x must be an array"),
    (lambda: spectral.eps_rank(np.ones((2, 2)), 0.0), "eps must be a finite number > 0"),
    (lambda: spectral.eps_rank(np.ones((2, 2)), -1), "eps must be"),
    (lambda: spectral.eps_rank(np.ones((2, 2)), float("nan")), "eps must be"),
    (lambda: spectral.eps_rank_from_singular_values(np.ones(()), 0.1), "s must have"),
    (lambda: spectral.truncated_svd(np.ones((3, 4)), rank=4), "rank must be <= 3"),
    (lambda: spectral.truncated_svd(np.ones((3, 4)), rank=0), "rank must be >= 1"),
    (lambda: spectral.truncated_svd(np.ones((3, 4))), "exactly one of rank or eps"),
    (lambda: spectral.truncated_svd(np.ones((3, 4)), rank=1, eps=0.1), "exactly one"),
    (lambda: spectral.truncated_svd(np.ones((2, 3, 4)), rank=1), "w must have 2 dim"),
    (lambda: spectral.matrix_with_spectrum(jax.random.key(0), np.ones(5), 4, 6),
     "len\\(s\\)=5 must be <= min\\(m, n\\)=4"),
    (lambda: spectral.matrix_with_spectrum(jax.random.key(0), np.ones(2), 0, 6), "m must be"),
    (lambda: spectral.matrix_with_spectrum(3, np.ones(2), 4, 6), "key must be a JAX PRNG"),
    (lambda: spectral.column_angles(np.ones((2, 2, 2))), "x must have 2 dim"),
    (lambda: spectral.sketching_error(np.ones((4, 5)), np.ones((2, 3))),
     "w must have 4 columns"),
])
def test_bad_input_names_the_argument(call, match):
  with pytest.raises(ValueError, match=match):
    call()
