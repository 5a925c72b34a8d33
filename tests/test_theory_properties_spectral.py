"""Property-based tests (hypothesis) of the theorem bounds, as corrected in paper_repro.md's
Errata: Eckart–Young and the eps-rank (eq. 1), Theorem 1 and Corollary 2 (sigma_{j+1}(Psi)
bounds, L < d, L = d, L >> d).
"""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lowrank_ts import spectral
from lowrank_ts.theory import embedding_bounds as B
from tests.theory_reference import _floor, _haar, _sv
from tests.theory_strategies import CHEAP, CI, EPS, SEEDS, spectra

# ----------------------------------------------------------------------------------------------
# Eckart–Young and the eps-rank of eq. (1) (lowrank_ts.spectral)
# ----------------------------------------------------------------------------------------------

@st.composite
def matrices(draw):
  """W = U diag(s) V^T [m, n] with a drawn spectrum (possibly with a zero tail) and scale."""
  m = draw(st.sampled_from([1, 5]))  # a row vector, and tall / wide matrices
  n = draw(st.sampled_from([3, 8]))
  k = min(m, n)
  s = draw(spectra(k, floor=1e-12))
  zeros = draw(st.integers(0, k - 1))  # rank-deficient W: an exact zero tail
  s[k - zeros:] = 0.0
  s = s * 10.0 ** draw(st.floats(-3.0, 3.0))
  seed = draw(SEEDS)
  rng = np.random.default_rng(seed)
  return (_haar(rng, m, k) * s) @ _haar(rng, n, k).T, s, seed


@CI
@given(instance=matrices(), eps=st.floats(1e-6, 1.0), t=st.floats(0.0, 1.0))
def test_eckart_young_and_eps_rank(instance, eps, t):
  w, s, seed = instance
  rng = np.random.default_rng([seed, 1])  # for the competitors below
  m, n = w.shape
  k = s.shape[0]
  norm = s[0]
  # Backward-stable SVD on both sides: the residual of a computed truncation is exact up to
  # ~max(m, n) eps ||W||_2; 16x that is still 1e-14 relative here.
  tol = 16 * max(m, n) * EPS * norm
  tail = np.append(s, 0.0)  # sigma_{r+1}, with sigma_{k+1} = 0
  with spectral.float64():
    for r in range(1, k + 1):
      a, b = (np.asarray(x) for x in spectral.truncated_svd(w, rank=r))
      assert a.shape == (m, r) and b.shape == (r, n)
      # Eckart–Young, attained: ||W - W_r||_2 = sigma_{r+1}.
      assert abs(np.linalg.norm(w - a @ b, 2) - tail[r]) <= tol, r
      # ... and optimal: every matrix of rank <= r (here W_r perturbed by t) errs by >= it.
      other = (a + t * rng.standard_normal((m, r))) @ (b + t * rng.standard_normal((r, n)))
      assert np.linalg.norm(w - other, 2) >= tail[r] - tol, r
    rank = int(spectral.eps_rank(w, eps))
    a, b = (np.asarray(x) for x in spectral.truncated_svd(w, eps=eps))
  # eq. (1): rank = |{j : sigma_j > eps sigma_1}|, strict. The computed sigma_j / sigma_1 are
  # within ~max(m, n) eps of the exact ratios: values closer than 1e-12 to eps may go either way
  # (and then eps_rank and truncated_svd, which take separate SVDs, may differ by one).
  ratio = s / s[0]
  low, high = np.sum(ratio > eps + 1e-12), np.sum(ratio > eps - 1e-12)
  assert low <= rank <= high and low <= a.shape[1] <= high
  assert a.shape[1] == rank or low < high
  assert a.shape == (m, a.shape[1]) and b.shape == (a.shape[1], n)
  # §5: truncating at the eps-rank guarantees ||W - W_r||_2 = sigma_{r+1} <= eps ||W||_2.
  assert np.linalg.norm(w - a @ b, 2) <= eps * norm + tol


# ----------------------------------------------------------------------------------------------
# Theorem 1 and Corollary 2: sigma_{j+1}(Psi) bounds, L < d, L = d, L >> d
# ----------------------------------------------------------------------------------------------

def _check_sigma_bound(psi, bound_fn, j):
  """sigma_{j+1}(Psi) <= bound_fn(j) + SVD floor wherever sigma_{j+1} exists (else it is 0)."""
  d, length = psi.shape
  s = _sv(psi)
  j = j[j < s.shape[0]]
  if j.size == 0:
    return
  bound = bound_fn(j)
  assert np.all(s[j] <= bound + _floor(s[0], d, length)), (s[j], bound)


DIM = st.integers(2, 12)
LENGTH = st.integers(1, 100)
UNIT = st.floats(-1.0, 1.0)


def _coefficients(d, elements=UNIT):
  """d values, free or all equal: equal rows make Psi rank one with sigma_1 = sqrt(dL) max|phi|,
  where the j = 0 bounds are within a small factor of the truth."""
  return st.one_of(st.lists(elements, min_size=d, max_size=d), elements.map(lambda v: [v] * d))


@CHEAP
@given(d=DIM, length=LENGTH, data=st.data())
def test_theorem1_analytic_sigma_bound(d, length, data):
  """Theorem 1.2 on Cauchy kernels a/(z - x) (real poles |z| > 1) and a exp(b x), with the
  exact M = sup_{E_rho} |phi_i|: a / (|z| - (rho + 1/rho)/2) and a exp(|b| (rho + 1/rho)/2)
  (the vertex of the ellipse is the nearest point to a real pole, and maximises e^{bz})."""
  n_cauchy = data.draw(st.integers(0, d), label="n_cauchy")
  a = np.array(data.draw(_coefficients(d), label="a"))
  z = np.array(data.draw(st.lists(st.floats(1.05, 3.0), min_size=n_cauchy, max_size=n_cauchy),
                         label="|z|"))
  z = z * np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n_cauchy,
                                      max_size=n_cauchy), label="sign z"))
  b = np.array(data.draw(_coefficients(d - n_cauchy, st.floats(-3.0, 3.0)), label="b"))
  x = np.array(data.draw(st.lists(UNIT, min_size=length, max_size=length), label="x"))
  rho_max = float(np.min(B.bernstein_parameter(z))) if n_cauchy else 50.0  # else: entire
  rho = 1 + data.draw(st.floats(0.02, 0.98), label="rho fraction") * (rho_max - 1)
  semi_major = (rho + 1 / rho) / 2
  sups = np.concatenate([np.abs(a[:n_cauchy]) / (np.abs(z) - semi_major),
                         np.abs(a[n_cauchy:]) * np.exp(np.abs(b) * semi_major)])
  m = max(float(sups.max()), np.finfo(np.float64).tiny)  # M > 0 even when every a_i = 0
  psi = np.concatenate([a[:n_cauchy, None] / (z[:, None] - x[None, :]),
                        a[n_cauchy:, None] * np.exp(b[:, None] * x[None, :])])
  _check_sigma_bound(psi, lambda j: B.theorem1_sigma_bound_analytic(m, rho, d, length, j),
                     np.arange(d))


@CHEAP
@given(nu=st.integers(1, 3), extra=st.integers(1, 9), length=LENGTH, data=st.data())
def test_theorem1_smooth_sigma_bound(nu, extra, length, data):
  """Theorem 1.1 on phi_i = a_i (x - c_i)_+^nu / nu!: phi_i^(nu-1) absolutely continuous and
  phi_i^(nu) = a_i H(x - c_i) of total variation <= |a_i|, so V = max |a_i|."""
  d = nu + 2 + extra  # the statement needs nu + 1 < j <= d - 1
  a = np.array(data.draw(_coefficients(d), label="a"))
  c = np.array(data.draw(_coefficients(d), label="c"))
  x = np.array(data.draw(st.lists(UNIT, min_size=length, max_size=length), label="x"))
  v = max(float(np.abs(a).max()), np.finfo(np.float64).tiny)
  psi = a[:, None] * np.maximum(x[None, :] - c[:, None], 0) ** nu / math.factorial(nu)
  _check_sigma_bound(psi, lambda j: B.theorem1_sigma_bound_smooth(v, nu, d, length, j),
                     np.arange(nu + 2, d))


@CHEAP
@given(d=DIM, length=LENGTH, beta=st.floats(0.1, 10.0), data=st.data())
def test_corollary2_sigma_bound_with_w_in_the_exponent(d, length, beta, data):
  """Corollary 2 as corrected (erratum 2): phi_i = swish_beta(w_i x)(v_i x) with |w_i| up to 3
  (beta -> beta max(1, max|w_i|)) and the proven M = max|w_i v_i| ((rho + 1/rho)/2)^2."""
  w = np.array(data.draw(_coefficients(d, st.floats(-3.0, 3.0)), label="w"))
  v = np.array(data.draw(_coefficients(d), label="v"))
  x = np.array(data.draw(st.lists(UNIT, min_size=length, max_size=length), label="x"))
  tiny = np.finfo(np.float64).tiny  # the bound's arguments must be > 0; Psi = 0 then anyway
  w_max, wv_max = max(float(np.abs(w).max()), tiny), max(float(np.abs(w * v).max()), tiny)
  # Time-MoE's Psi[i, l] = swish_beta(w_i x_l) (v_i x_l) (E.time_moe_embedding) in numpy: the
  # op-by-op JAX version compiles per (d, L) shape, seconds over the drawn shapes.
  wx = w[:, None] * x[None, :]
  psi = wx / (1 + np.exp(-beta * wx)) * (v[:, None] * x[None, :])
  _check_sigma_bound(psi, lambda j: B.corollary2_bound(beta, d, length, j, w_max, wv_max),
                     np.arange(d))
