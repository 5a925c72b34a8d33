"""Theorem 1, Corollary 2 and Theorem 2 as property tests on random instances (seeded loops),
with L < d, L = d and L >> d; plus the Corollary 2 erratum and bad-input checks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_ts import embeddings as E
from lowrank_ts import spectral
from lowrank_ts.theory import embedding_bounds as B

N_INSTANCES = 60
# A few (d, L) shapes reused across instances keeps the number of jit compilations small.
SHAPES = [(6, 2), (6, 6), (6, 60), (24, 8), (24, 24), (24, 240)]


def _sigma(psi):
  with spectral.float64():
    return np.asarray(spectral.singular_values(np.asarray(psi, np.float64)))


def _check_sigma_bound(s, bound, d, L, j):
  """sigma_hat_{j+1} <= bound_j + rounding floor (bound [len(j)]) where j + 1 <= min(d, L)."""
  floor = B.rounding_floor(s[0], d, L)
  exists = j < len(s)  # sigma_{j+1} = 0 for j + 1 > min(d, L)
  assert np.all(s[j[exists]] <= np.asarray(bound)[exists] + floor), (d, L)


# ----------------------------------------------------------------------------------------------
# Theorem 1
# ----------------------------------------------------------------------------------------------

def test_theorem1_formulas():
  # closed forms in float64 on both sides: 1e-14 relative is a few ulps
  # hand-evaluated: V=3, nu=2, d=10, L=7, j=5: 2*3*sqrt(70) / (pi*2*2^2)
  assert math.isclose(B.theorem1_sigma_bound_smooth(3.0, 2, 10, 7, 5),
                      6 * math.sqrt(70) / (8 * math.pi), rel_tol=1e-14)
  assert math.isclose(B.theorem1_s_bound_smooth(3.0, 2, 10, 5), 12 * math.sqrt(10) / (8 * math.pi),
                      rel_tol=1e-14)
  # M=2, rho=3, d=5, L=4, j=2: 2*2*sqrt(20)*3^-1/2 and the s-version with 4M sqrt(d)
  assert math.isclose(B.theorem1_sigma_bound_analytic(2.0, 3.0, 5, 4, 2),
                      4 * math.sqrt(20) / 6, rel_tol=1e-14)
  assert math.isclose(B.theorem1_s_bound_analytic(2.0, 3.0, 5, 2), 8 * math.sqrt(5) / 6,
                      rel_tol=1e-14)
  np.testing.assert_allclose(B.chebyshev_error_bound_analytic(1.0, 2.0, np.arange(3)),
                             [4.0, 2.0, 1.0], rtol=1e-14)
  assert B.theorem1_sigma_bound_smooth(1.0, 1, 50, 50, np.arange(3, 50)).shape == (47,)


def _smooth_family(rng, d, nu):
  """phi_i = a_i (x - c_i)_+^nu / nu!: phi^(nu-1) absolutely continuous, phi^(nu) = a_i H(x-c_i)
  of total variation |a_i|, so V = max |a_i|."""
  a, c = rng.uniform(-1, 1, d), rng.uniform(-0.9, 0.9, d)
  return (lambda x: a[:, None] * np.maximum(x[None, :] - c[:, None], 0) ** nu
          / math.factorial(nu)), float(np.abs(a).max())


def test_theorem1_smooth_bounds_hold():
  rng = np.random.default_rng(0)
  for instance in range(N_INSTANCES):
    d, L = SHAPES[instance % len(SHAPES)]
    nu = 1 + instance % 3
    if d - 1 < nu + 2:
      nu = 1
    phi, V = _smooth_family(rng, d, nu)
    x = rng.uniform(-1, 1, L)
    j = np.arange(nu + 2, d)
    _check_sigma_bound(_sigma(phi(x)), B.theorem1_sigma_bound_smooth(V, nu, d, L, j), d, L, j)
    if instance % 6 == 0:
      # Gauss-Legendre with 512 nodes resolves these piecewise polynomials to ~1e-4 relative;
      # the bound is ~100x above s_{j+1} (see the experiment), so the check is not marginal.
      s = B.quasimatrix_singular_values(phi, 512)
      assert np.all(s[j] <= B.theorem1_s_bound_smooth(V, nu, d, j))


def _analytic_family(rng, d):
  """Cauchy kernels a/(z - x) with real poles |z| > 1, and a exp(b x): sup over E_rho is exact
  in closed form -- a / (|z| - (rho + 1/rho)/2) (nearest point: the vertex) and
  a exp(|b| (rho + 1/rho)/2)."""
  n_cauchy = d // 2
  a = rng.uniform(-1, 1, d)
  z = rng.choice([-1, 1], n_cauchy) * rng.uniform(1.05, 3.0, n_cauchy)
  b = rng.uniform(-3, 3, d - n_cauchy)

  def phi(x):
    return np.concatenate([a[:n_cauchy, None] / (z[:, None] - x[None, :]),
                           a[n_cauchy:, None] * np.exp(b[:, None] * x[None, :])])

  rho_max = float(np.min(B.bernstein_parameter(z)))
  def sup_on_ellipse(rho):
    semi_major = (rho + 1 / rho) / 2
    return max(np.max(np.abs(a[:n_cauchy]) / (np.abs(z) - semi_major)),
               np.max(np.abs(a[n_cauchy:]) * np.exp(np.abs(b) * semi_major)))
  return phi, rho_max, sup_on_ellipse


def test_theorem1_analytic_bounds_hold():
  rng = np.random.default_rng(1)
  for instance in range(N_INSTANCES):
    d, L = SHAPES[instance % len(SHAPES)]
    phi, rho_max, sup_on_ellipse = _analytic_family(rng, d)
    rho = 1 + rng.uniform(0.05, 0.95) * (rho_max - 1)
    M = sup_on_ellipse(rho)
    # the sampled maximum approaches the exact sup from below (2048 points: within 1e-3)
    sampled = B.bernstein_ellipse_max(phi, rho, 2048)
    assert M * (1 - 1e-3) <= sampled <= M * (1 + 1e-12)
    x = rng.uniform(-1, 1, L)
    j = np.arange(0, d)
    _check_sigma_bound(_sigma(phi(x)), B.theorem1_sigma_bound_analytic(M, rho, d, L, j), d, L, j)
    if instance % 6 == 0:
      # analytic integrands: Gauss-Legendre with 256 nodes is exact to rounding (1e-13)
      s = B.quasimatrix_singular_values(phi, 256)
      assert np.all(s[j] <= B.theorem1_s_bound_analytic(M, rho, d, j) + 1e-12 * s[0])


def test_quasimatrix_singular_values_exact_for_polynomials():
  # phi = (1, x): Gram matrix diag(2, 2/3) on [-1, 1]
  s = B.quasimatrix_singular_values(lambda x: np.stack([np.ones_like(x), x]), 8)
  np.testing.assert_allclose(s, [math.sqrt(2), math.sqrt(2 / 3)], rtol=1e-13)  # exact rule


def test_bernstein_parameter_and_ellipse():
  # float64 closed forms: 1e-14 relative is a few ulps
  assert math.isclose(float(B.bernstein_parameter(2.0)), 2 + math.sqrt(3), rel_tol=1e-14)
  assert math.isclose(float(B.bernstein_parameter(-2.0)), 2 + math.sqrt(3), rel_tol=1e-14)
  assert math.isclose(float(B.bernstein_parameter(0.5j)), 0.5 + math.sqrt(1.25), rel_tol=1e-14)
  pts = B.bernstein_ellipse(3.0, 64)
  # every boundary point has rho 3 (float64 round trip)
  np.testing.assert_allclose(B.bernstein_parameter(pts), 3.0, rtol=1e-12)


def test_fitted_decay_rate_recovers_exact_rates():
  # exact power/geometric sequences: the least-squares fit is exact up to float64 rounding
  j = np.arange(40)
  geometric = 3.0 * 1.7 ** -j
  assert math.isclose(B.fitted_decay_rate(geometric, 1e-30, False), math.log(1.7), rel_tol=1e-9)
  algebraic = np.concatenate([[1.0], 2.0 * j[1:] ** -2.5])
  assert math.isclose(B.fitted_decay_rate(algebraic, 1e-30, True), 2.5, rel_tol=1e-9)
  # values within margin * floor of the floor are ignored: only 2 remain -> NaN
  assert math.isnan(B.fitted_decay_rate(geometric, geometric[2] / 1e3 * 0.999, False, j_min=1))


def test_helpers_reject_bad_input():
  with pytest.raises(ValueError, match=r"^rho must be > 1, got 1\.0"):
    B.bernstein_ellipse(1.0)
  with pytest.raises(ValueError, match=r"^n must be >= 1, got 0"):
    B.bernstein_ellipse(2.0, 0)
  with pytest.raises(ValueError, match=r"^z must be a number or an array of numbers, got 'a pole'"):
    B.bernstein_parameter("a pole")
  with pytest.raises(ValueError, match=r"^s must have 1 dimensions, got shape \(2, 2\)"):
    B.fitted_decay_rate(np.ones((2, 2)), 0.0, True)
  with pytest.raises(ValueError, match="j_min"):
    B.fitted_decay_rate(np.ones(4), 0.0, True, j_min=0)
  with pytest.raises(ValueError, match="wv_max"):
    B.corollary2_ellipse_max(1.0, wv_max=0.0)
  with pytest.raises(ValueError, match=r"^m must be >= 1, got 0"):
    B.rounding_floor(1.0, 0, 3)


def test_theorem1_rejects_out_of_range_and_bad_input():
  with pytest.raises(ValueError, match="j must lie in"):
    B.theorem1_sigma_bound_smooth(1.0, 2, 10, 10, 3)  # needs j > nu + 1 = 3
  with pytest.raises(ValueError, match="j must lie in"):
    B.theorem1_sigma_bound_smooth(1.0, 2, 10, 10, 10)  # needs j <= d - 1
  with pytest.raises(ValueError, match="j must lie in"):
    B.theorem1_s_bound_analytic(1.0, 2.0, 10, np.array([0, 10]))
  with pytest.raises(ValueError, match="j must lie in"):
    B.theorem1_sigma_bound_analytic(1.0, 2.0, 10, 3, -1)
  with pytest.raises(ValueError, match="j must be an integer"):
    B.theorem1_sigma_bound_analytic(1.0, 2.0, 10, 3, 1.5)
  with pytest.raises(ValueError, match=r"^rho must be > 1, got 1\.0"):
    B.theorem1_sigma_bound_analytic(1.0, 1.0, 10, 3, 1)
  with pytest.raises(ValueError, match=r"^M must be a finite number > 0, got 0\.0"):
    B.theorem1_sigma_bound_analytic(0.0, 2.0, 10, 3, 1)
  with pytest.raises(ValueError, match=r"^V must be a finite number > 0, got -1\.0"):
    B.theorem1_sigma_bound_smooth(-1.0, 1, 10, 3, 4)
  with pytest.raises(ValueError, match=r"^nu must be >= 1, got 0"):
    B.theorem1_sigma_bound_smooth(1.0, 0, 10, 3, 4)
  with pytest.raises(ValueError, match=r"^nu must be an integer, got 1\.5"):
    B.theorem1_sigma_bound_smooth(1.0, 1.5, 10, 3, 4)
  with pytest.raises(ValueError, match=r"^d must be >= 2, got 1"):
    B.theorem1_s_bound_analytic(1.0, 2.0, 1, 0)  # Theorem 1 needs d > 1
  with pytest.raises(ValueError, match=r"^L must be >= 1, got 0"):
    B.theorem1_sigma_bound_analytic(1.0, 2.0, 4, 0, 1)
  with pytest.raises(ValueError, match=r"^fn must be callable, got 'f'"):
    B.bernstein_ellipse_max("f", 2.0)
  with pytest.raises(ValueError, match=r"^fn\(x\) must have 2 dimensions, got shape \(16,\)"):
    B.quasimatrix_singular_values(lambda x: x, 16)  # 1-D output: not [d, n]


# ----------------------------------------------------------------------------------------------
# Corollary 2 (Time-MoE)
# ----------------------------------------------------------------------------------------------

def _time_moe(x, w, v, beta):
  with spectral.float64():
    return np.asarray(E.time_moe_embedding(x, w, v, beta))


def test_corollary2_bound_holds_with_its_constant():
  rng = np.random.default_rng(2)
  for instance in range(N_INSTANCES):
    d, L = SHAPES[instance % len(SHAPES)]
    beta = float(np.exp(rng.uniform(np.log(0.1), np.log(10))))
    w = rng.uniform(-1, 1, d)
    v = rng.uniform(-1, 1, d)  # |w v| <= 1
    x = rng.uniform(-1, 1, L)
    j = np.arange(d)
    _check_sigma_bound(_sigma(_time_moe(x, w, v, beta)), B.corollary2_bound(beta, d, L, j), d, L,
                       j)
    # the explicit bound is within COROLLARY2_CONSTANT of the paper's O() expression
    ratio = B.corollary2_bound(beta, d, L, j) / B.corollary2_paper_form(beta, d, L, j)
    assert np.all(ratio <= B.COROLLARY2_CONSTANT * (1 + 1e-12))  # float64 rounding
    if instance % 5 == 0:
      # the proven M dominates the sampled sup of the actual phi_i on E_rho
      def phi(z, w=w, v=v, beta=beta):
        return np.asarray(E.swish(w[:, None] * z, beta)) * (v[:, None] * z)
      sampled = B.bernstein_ellipse_max(phi, B.corollary2_rho(beta))
      assert sampled <= B.corollary2_ellipse_max(beta)


def test_corollary2_erratum_pole_enters_ellipse_when_w_exceeds_one():
  # The paper's closed form w v x^2 / (1 + e^{-beta x}) drops w from the exponent. With it,
  # the poles of swish_beta(w x) are at +-i pi / (beta w): for |w| > 1 they can lie inside the
  # ellipse E_rho, rho = 1 + pi/(2 beta), used by the proof -- Theorem 1.2 does not apply.
  beta, w = 1.0, 3.0
  rho_pole = float(B.bernstein_parameter(1j * math.pi / (beta * w)))
  assert rho_pole < B.corollary2_rho(beta)  # 2.50 < 2.57: the pole is inside E_rho
  assert rho_pole > B.corollary2_rho(beta, w_max=w)  # the corrected rho keeps it outside
  # The closed form as printed makes every phi_i a multiple of one function: rank 1.
  rng = np.random.default_rng(3)
  x, wv = rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 8)
  literal = wv[:, None] * x ** 2 / (1 + np.exp(-beta * x))
  s = _sigma(literal)
  assert s[1] < 1e-14 * s[0]  # rank 1 to float64 rounding
  # ... while with w in the exponent (the actual Time-MoE) the rank is > 1, and the corrected
  # bound with w_max holds.
  w, v = rng.uniform(-3, 3, 8), rng.uniform(-1, 1, 8) / 3
  s = _sigma(_time_moe(x, w, v, beta))
  assert s[1] > 1e-6 * s[0]  # far above rounding (1e-16): a genuine second direction
  j = np.arange(8)
  _check_sigma_bound(s, B.corollary2_bound(beta, 8, 50, j, w_max=3.0), 8, 50, j)


def test_corollary2_rejects_bad_input():
  with pytest.raises(ValueError, match="beta"):
    B.corollary2_bound(0.0, 10, 10, 1)
  with pytest.raises(ValueError, match="w_max"):
    B.corollary2_bound(1.0, 10, 10, 1, w_max=-1.0)
  with pytest.raises(ValueError, match="j must lie in"):
    B.corollary2_bound(1.0, 10, 10, 10)
  with pytest.raises(ValueError, match="j must lie in"):
    B.corollary2_paper_form(1.0, 10, 10, -1)


# ----------------------------------------------------------------------------------------------
# Theorem 2 (residual MLP)
# ----------------------------------------------------------------------------------------------

ACTIVATIONS = [jax.nn.relu, jnp.tanh, jax.nn.silu, lambda x: x * jnp.sin(3 * x)]  # |w(x)| <= |x|


def test_theorem2_bound_holds():
  rng = np.random.default_rng(4)
  # (k, d_f, d, L): L < d, L = d, L >> d; one d_f each so the jit cache stays small
  shapes = [(2, 8, 10, 5), (3, 40, 12, 12), (4, 24, 16, 120)]
  for instance in range(N_INSTANCES):
    k, d_f, d, L = shapes[instance % len(shapes)]
    w1, w2, w3 = E.init_residual_mlp(jax.random.key(instance), k, d_f, d)
    w1 = w1 * float(np.exp(rng.uniform(-2, 2)))  # vary how nonlinear the activation acts
    x = rng.standard_normal((k, L)).astype(np.float32)
    act = ACTIVATIONS[(instance // len(shapes)) % len(ACTIVATIONS)]
    s = spectral.singular_values(E.residual_mlp_embedding(x, w1, w2, w3, activation=act))
    for eps in (0.1, 0.5, 1.0, 3.0):
      count = int(B.count_above(s, B.theorem2_threshold(x, w1, w2, eps)))
      assert count <= B.theorem2_bound(d, k, eps), (k, d, L, d_f, eps, instance)
    assert count == B.theorem2_count(x, w1, w2, w3, eps, activation=act)


def test_theorem2_count_and_threshold_match_numpy():
  rng = np.random.default_rng(5)
  w1, w2, w3 = (np.asarray(w, np.float64) for w in E.init_residual_mlp(jax.random.key(1), 3, 20,
                                                                        12))
  x = rng.standard_normal((3, 30))
  with spectral.float64():
    threshold = float(B.theorem2_threshold(x, w1, w2, 0.2))
    count = B.theorem2_count(x, w1, w2, w3, 0.2)
  ref_threshold = 0.2 * np.linalg.norm(w2, 2) * np.linalg.norm(w1 @ x, 2)
  assert math.isclose(threshold, ref_threshold, rel_tol=1e-10)  # float64 QR / Gram vs SVD
  phi = w3 @ x + w2 @ np.maximum(w1 @ x, 0)
  assert count == int(np.sum(np.linalg.svd(phi, compute_uv=False) > ref_threshold))
  assert count > 3  # the nonlinearity adds directions beyond rank(W3 X) = 3
  np.testing.assert_array_equal(np.asarray(B.count_above(np.array([[3.0, 2.0, 1.0]] * 2),
                                                         np.array([1.5, 0.5]))), [2, 3])


def test_theorem2_premise_matters():
  # |omega(x)| <= |x| is needed: an amplifying activation breaks the bound, so the property
  # test above can fail.
  rng = np.random.default_rng(6)
  w1, w2, w3 = E.init_residual_mlp(jax.random.key(7), 1, 64, 32)
  x = rng.standard_normal((1, 64)).astype(np.float32)
  count = B.theorem2_count(x, w1, w2, w3, 1.0, activation=lambda t: 100 * jnp.sin(7 * t))
  assert count > B.theorem2_bound(32, 1, 1.0)


def test_theorem2_bound_values_and_bad_input():
  assert B.theorem2_bound(768, 16, 0.5) == 80.0
  assert B.theorem2_bound(768, 16, 0.1) == 768.0
  w1, w2, w3 = E.init_residual_mlp(jax.random.key(0), 2, 5, 4)
  x = np.ones((2, 3))
  with pytest.raises(ValueError, match=r"^eps must be a finite number > 0, got 0\.0"):
    B.theorem2_bound(10, 2, 0.0)
  with pytest.raises(ValueError, match=r"^k must be >= 1, got 0"):
    B.theorem2_bound(10, 0, 0.5)
  with pytest.raises(ValueError, match=r"^eps must be a finite number > 0, got -1\.0"):
    B.theorem2_count(x, w1, w2, w3, -1.0)
  with pytest.raises(ValueError, match="w1_FxK"):
    B.theorem2_threshold(np.ones((3, 3)), w1, w2, 0.5)
  with pytest.raises(ValueError, match="w2_DxF"):
    B.theorem2_threshold(x, w1, np.ones((4, 6)), 0.5)
  with pytest.raises(ValueError, match="x_KxL"):
    B.theorem2_threshold(np.ones(3), w1, w2, 0.5)
  with pytest.raises(ValueError, match="threshold"):
    B.count_above(np.ones((2, 3)), np.ones(3))
