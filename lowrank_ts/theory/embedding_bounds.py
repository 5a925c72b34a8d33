"""Theorem 1 (both statements), Corollary 2 and Theorem 2 (§2, appendices B and C) as functions.

The bounds are closed-form scalars; they are evaluated in NumPy float64 (vectorised over the
index ``j``) so that they never depend on whether JAX's float64 mode is on. The measured side
(singular values, counts) goes through :mod:`lowrank_ts.spectral`.

Theorem 1 (paper convention: Psi [d, L] = (phi_i(x_l)), x_l in [-1, 1]; Xi the d x [-1, 1]
quasimatrix). Its proof (appendix B) combines
  s_{j+1} <= 2 sqrt(d) delta_j (7),  sigma_{j+1} <= sqrt(dL) delta_j (8),
with the Chebyshev approximation bounds (9) on delta_j = max_i ||phi_i - P_{i,j}||_inf, P_{i,j}
the best polynomial of degree j - 1 (Trefethen, ATAP, Thms. 7.2 and 8.2). Thm. 7.2 only needs
phi_i^{(nu-1)} absolutely continuous and phi_i^{(nu)} of bounded variation V; the paper's
hypothesis (absolute continuity through phi_i^{(nu)}) is stronger, so both readings are covered.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import checks, embeddings, spectral

__all__ = [
  "COROLLARY2_CONSTANT",
  "bernstein_ellipse",
  "bernstein_ellipse_max",
  "bernstein_parameter",
  "chebyshev_error_bound_analytic",
  "chebyshev_error_bound_smooth",
  "corollary2_bound",
  "corollary2_ellipse_max",
  "corollary2_paper_form",
  "corollary2_rho",
  "count_above",
  "fitted_decay_rate",
  "quasimatrix_singular_values",
  "rounding_floor",
  "theorem1_s_bound_analytic",
  "theorem1_s_bound_smooth",
  "theorem1_sigma_bound_analytic",
  "theorem1_sigma_bound_smooth",
  "theorem2_bound",
  "theorem2_count",
  "theorem2_threshold",
]


def _indices(j: Any, name: str, low: int, high: int) -> np.ndarray:
  """Integer index (or array of them) with every entry in [low, high]."""
  arr = np.asarray(j)
  if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
    raise ValueError(f"{name} must be an integer or an integer array, got {j!r}")
  if arr.size == 0:
    raise ValueError(f"{name} must not be empty")
  if arr.min() < low or arr.max() > high:
    raise ValueError(f"{name} must lie in [{low}, {high}], got range [{arr.min()}, {arr.max()}]")
  return arr.astype(np.float64)


def _integer(value: Any, name: str, low: int) -> int:
  value = checks.positive_int(value, name, allow_zero=True)
  if value < low:
    raise ValueError(f"{name} must be >= {low}, got {value}")
  return value


def _rho(rho: Any) -> float:
  rho = checks.positive_float(rho, "rho")
  if rho <= 1:
    raise ValueError(f"rho must be > 1, got {rho}")
  return rho


# ----------------------------------------------------------------------------------------------
# Theorem 1
# ----------------------------------------------------------------------------------------------

def chebyshev_error_bound_smooth(V: float, nu: int, j: Any) -> np.ndarray:
  """eq. (9), first part: delta_j <= 2V / (pi nu (j - 1 - nu)^nu), for j > nu + 1.

  The error of the best degree-(j-1) polynomial approximation of a function on [-1, 1] whose
  nu-th derivative has total variation V (Trefethen, ATAP, Thm. 7.2 with n = j - 1).
  """
  V = checks.positive_float(V, "V")
  nu = _integer(nu, "nu", 1)
  jf = _indices(j, "j", nu + 2, np.iinfo(np.int64).max)
  return 2 * V / (math.pi * nu * (jf - 1 - nu) ** nu)


def chebyshev_error_bound_analytic(M: float, rho: float, j: Any) -> np.ndarray:
  """eq. (9), second part: delta_j <= 2M rho^{-j+1} / (rho - 1), for j >= 0.

  For functions analytic in the open Bernstein ellipse E_rho with |f| <= M there (Trefethen,
  ATAP, Thm. 8.2 with n = j - 1; for j = 0, delta_0 = ||f||_inf <= M <= 2M rho / (rho - 1)).
  """
  M = checks.positive_float(M, "M")
  rho = _rho(rho)
  jf = _indices(j, "j", 0, np.iinfo(np.int64).max)
  return 2 * M * rho ** (-jf + 1) / (rho - 1)


def _dims(d: Any, L: Any = None):
  d = _integer(d, "d", 2)  # Theorem 1: d > 1
  if L is None:
    return d
  return d, checks.positive_int(L, "L")


def theorem1_s_bound_smooth(V: float, nu: int, d: int, j: Any) -> np.ndarray:
  """Theorem 1.1: s_{j+1}(Xi) <= 4V sqrt(d) / (pi nu (j - 1 - nu)^nu), nu + 1 < j <= d - 1."""
  d = _dims(d)
  nu = _integer(nu, "nu", 1)
  _indices(j, "j", nu + 2, d - 1)
  return 2 * math.sqrt(d) * chebyshev_error_bound_smooth(V, nu, j)


def theorem1_sigma_bound_smooth(V: float, nu: int, d: int, L: int, j: Any) -> np.ndarray:
  """Theorem 1.1: sigma_{j+1}(Psi) <= 2V sqrt(dL) / (pi nu (j - 1 - nu)^nu), nu+1 < j <= d-1."""
  d, L = _dims(d, L)
  nu = _integer(nu, "nu", 1)
  _indices(j, "j", nu + 2, d - 1)
  return math.sqrt(d * L) * chebyshev_error_bound_smooth(V, nu, j)


def theorem1_s_bound_analytic(M: float, rho: float, d: int, j: Any) -> np.ndarray:
  """Theorem 1.2: s_{j+1}(Xi) <= 4M sqrt(d) rho^{-j+1} / (rho - 1), 0 <= j <= d - 1."""
  d = _dims(d)
  _indices(j, "j", 0, d - 1)
  return 2 * math.sqrt(d) * chebyshev_error_bound_analytic(M, rho, j)


def theorem1_sigma_bound_analytic(M: float, rho: float, d: int, L: int, j: Any) -> np.ndarray:
  """Theorem 1.2: sigma_{j+1}(Psi) <= 2M sqrt(dL) rho^{-j+1} / (rho - 1), 0 <= j <= d - 1."""
  d, L = _dims(d, L)
  _indices(j, "j", 0, d - 1)
  return math.sqrt(d * L) * chebyshev_error_bound_analytic(M, rho, j)


def bernstein_ellipse(rho: float, n: int = 2048) -> np.ndarray:
  """n points (complex128) on the boundary of the Bernstein ellipse E_rho: (w + 1/w)/2, |w|=rho.

  Its semi-axes are (rho + 1/rho)/2 and (rho - 1/rho)/2; foci at -1 and 1.
  """
  rho = _rho(rho)
  n = checks.positive_int(n, "n")
  w = rho * np.exp(2j * np.pi * np.arange(n) / n)
  return (w + 1 / w) / 2


def bernstein_parameter(z: Any) -> np.ndarray:
  """The rho of the Bernstein ellipse through z: |z + sqrt(z - 1) sqrt(z + 1)| (>= 1).

  A function analytic except at a pole p is analytic in E_rho for every rho < this value.
  """
  try:
    z = np.asarray(z, dtype=np.complex128)
  except (TypeError, ValueError):
    raise ValueError(f"z must be a number or an array of numbers, got {z!r}") from None
  w = z + np.sqrt(z - 1) * np.sqrt(z + 1)
  return np.maximum(np.abs(w), 1 / np.abs(w))


def bernstein_ellipse_max(fn: Callable, rho: float, n: int = 2048) -> float:
  """max |fn(z)| over n boundary points of E_rho: a numerical M of Theorem 1.2.

  ``fn`` maps complex points [n] to values [..., n] (e.g. all d components at once). For fn
  analytic on the closed ellipse the maximum modulus principle puts sup_{E_rho} |fn| on the
  boundary; sampling it underestimates the sup by O(max|fn'| * perimeter / n).
  """
  points = bernstein_ellipse(rho, n)
  if not callable(fn):
    raise ValueError(f"fn must be callable, got {fn!r}")
  return float(np.max(np.abs(np.asarray(fn(points)))))


@functools.lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
  return np.polynomial.legendre.leggauss(n)  # O(n^3): cached


def quasimatrix_singular_values(fn: Callable, n_nodes: int = 2048) -> np.ndarray:
  """Singular values s_j of the quasimatrix Xi = (phi_i(x)), x in [-1, 1] (Theorem 1).

  ``fn`` maps points x [n] (float64 numpy) to ``[d, n]``. Uses n-point Gauss-Legendre
  quadrature: s_j(Xi) = sigma_j(Phi(x_q) diag(sqrt(w_q))), exact when every phi_i phi_k is a
  polynomial of degree < 2n, and converging as n grows otherwise. Computed in float64.
  """
  if not callable(fn):
    raise ValueError(f"fn must be callable, got {fn!r}")
  n_nodes = checks.positive_int(n_nodes, "n_nodes")
  nodes, weights = _gauss_legendre(n_nodes)
  with spectral.float64():
    values = checks.matrix(fn(nodes), "fn(x)")
    if values.shape[1] != n_nodes:
      raise ValueError(f"fn must return [d, {n_nodes}], got {tuple(values.shape)}")
    weighted = values.astype(jnp.float64) * jnp.sqrt(jnp.asarray(weights))
    return np.asarray(spectral.singular_values(weighted))


def fitted_decay_rate(s: Any, floor: float, algebraic: bool, j_min: int = 1,
                      margin: float = 1e3) -> float:
  """Measured decay rate of sigma_{j+1} = s[j] over j >= j_min where s[j] > margin * floor.

  ``algebraic``: p in sigma_{j+1} ~ j^{-p} (least-squares slope of log s vs log j; compare with
  Theorem 1.1's nu). Otherwise: log rho in sigma_{j+1} ~ rho^{-j} (slope of log s vs j;
  compare with Theorem 1.2's log rho). NaN when fewer than 3 indices qualify.
  """
  checks.check_ndim(checks.as_float_array(s, "s"), "s", ndim=1)
  s = np.asarray(s, np.float64)  # not via JAX: float32 unless x64 is on
  floor = float(floor)
  j_min = checks.positive_int(j_min, "j_min")
  j = np.arange(s.shape[0])
  keep = (j >= j_min) & (s > margin * floor)
  if keep.sum() < 3:
    return float("nan")
  abscissa = np.log(j[keep]) if algebraic else j[keep].astype(np.float64)
  return float(-np.polyfit(abscissa, np.log(s[keep]), 1)[0])


# ----------------------------------------------------------------------------------------------
# Corollary 2 (Time-MoE)
# ----------------------------------------------------------------------------------------------

# corollary2_bound <= COROLLARY2_CONSTANT * corollary2_paper_form when max|w_i|, max|w_i v_i|
# <= 1: (4 beta/pi) a^2 <= (4 beta/pi) rho^2 = 4 beta/pi + 4 + pi/beta <= (pi + 2)(beta + 1/beta).
COROLLARY2_CONSTANT = math.pi + 2


def _beta_eff(beta: float, w_max: float) -> float:
  beta = checks.positive_float(beta, "beta")
  w_max = checks.positive_float(w_max, "w_max")
  return beta * max(1.0, w_max)


def corollary2_rho(beta: float, w_max: float = 1.0) -> float:
  """rho = 1 + pi / (2 beta max(1, max_i |w_i|)): the ellipse of Corollary 2's proof.

  With b_i = beta w_i the poles of phi_i are at (2m+1) pi i / b_i; every z in E_rho has
  |Im z| <= (rho - 1/rho)/2 < rho - 1, so |Im(b_i z)| < pi/2 and phi_i is analytic there.
  """
  return 1 + math.pi / (2 * _beta_eff(beta, w_max))


def corollary2_ellipse_max(beta: float, w_max: float = 1.0, wv_max: float = 1.0) -> float:
  """A proven M for Corollary 2: sup_{E_rho} |phi_i| <= max|w_i v_i| ((rho + 1/rho)/2)^2.

  On E_rho, |Im(b_i z)| < pi/2 gives Re(e^{-b_i z}) > 0, so |1 + e^{-b_i z}| > 1 and
  |phi_i(z)| = |w_i v_i z^2| / |1 + e^{-b_i z}| < |w_i v_i| |z|^2 <= wv_max a^2, a the
  semi-major axis (the paper's constant c can be taken as 0).
  """
  wv_max = checks.positive_float(wv_max, "wv_max")
  rho = corollary2_rho(beta, w_max)
  return wv_max * ((rho + 1 / rho) / 2) ** 2


def corollary2_bound(beta: float, d: int, L: int, j: Any, w_max: float = 1.0,
                     wv_max: float = 1.0) -> np.ndarray:
  """Corollary 2 with its constant: sigma_{j+1}(Psi) <= 2M sqrt(dL) rho^{-j+1} / (rho - 1).

  Theorem 1.2 with rho = ``corollary2_rho`` and M = ``corollary2_ellipse_max``, i.e.
  (4 beta_eff / pi) wv_max ((rho + 1/rho)/2)^2 sqrt(dL) rho^{-j+1}, 0 <= j <= d - 1, for
  phi_i(x) = swish_beta(w_i x)(v_i x) on x in [-1, 1] with |w_i| <= w_max, |w_i v_i| <= wv_max.
  With w_max, wv_max <= 1 it is <= COROLLARY2_CONSTANT * ``corollary2_paper_form``.

  Erratum: the paper writes phi_i(x) = w_i v_i x^2 / (1 + e^{-beta x}) and assumes only
  |w_i v_i| <= 1. The exponent is -beta w_i x; the poles then move to (2m+1) pi i / (beta w_i),
  and without |w_i| <= 1 no universal constant exists (pass w_max to get a valid bound).
  """
  rho = corollary2_rho(beta, w_max)
  M = corollary2_ellipse_max(beta, w_max, wv_max)
  return theorem1_sigma_bound_analytic(M, rho, d, L, j)


def corollary2_paper_form(beta: float, d: int, L: int, j: Any) -> np.ndarray:
  """The paper's O() expression sqrt(dL) (beta + 1/beta) (1 + pi/(2 beta))^{-j+1} (no constant)."""
  beta = checks.positive_float(beta, "beta")
  d, L = _dims(d, L)
  jf = _indices(j, "j", 0, d - 1)
  return math.sqrt(d * L) * (beta + 1 / beta) * (1 + math.pi / (2 * beta)) ** (-jf + 1)


# ----------------------------------------------------------------------------------------------
# Theorem 2 (residual MLP)
# ----------------------------------------------------------------------------------------------

def theorem2_bound(d: int, k: int, eps: float) -> float:
  """Theorem 2: min(d, (1 + eps^-2) k), the bound on |{j : sigma_j(Phi(X)) > eps ||W2|| ||W1 X||}|."""
  d = checks.positive_int(d, "d")
  k = checks.positive_int(k, "k")
  eps = checks.positive_float(eps, "eps")
  return float(min(d, (1 + eps ** -2) * k))


def theorem2_threshold(x_KxL: Any, w1_FxK: Any, w2_DxF: Any, eps: float) -> jax.Array:
  """Theorem 2's threshold eps ||W2||_2 ||W1 X||_2 (spectral norms).

  Computed without the large SVDs: ||W1 X||_2 = ||R X||_2 with W1 = Q R (reduced QR, R has
  min(d_f, k) rows), and ||W2||_2^2 = lambda_max of the smaller Gram matrix of W2.
  """
  x = checks.matrix(x_KxL, "x_KxL")
  w1 = checks.matrix(w1_FxK, "w1_FxK")
  w2 = checks.matrix(w2_DxF, "w2_DxF")
  eps = checks.positive_float(eps, "eps")
  if w1.shape[1] != x.shape[0]:
    raise ValueError(f"w1_FxK must have {x.shape[0]} columns (rows of x_KxL), got "
                     f"{tuple(w1.shape)}")
  if w2.shape[1] != w1.shape[0]:
    raise ValueError(f"w2_DxF must have {w1.shape[0]} columns (rows of w1_FxK), got "
                     f"{tuple(w2.shape)}")
  dtype = jnp.result_type(x.dtype, w1.dtype, w2.dtype)
  return eps * _norm_product(x.astype(dtype), w1.astype(dtype), w2.astype(dtype))


@jax.jit
def _norm_product(x, w1, w2):
  r = jnp.linalg.qr(w1, mode="r")
  norm_w1x = jnp.linalg.svd(r @ x, compute_uv=False)[0]
  gram = w2 @ w2.T if w2.shape[0] <= w2.shape[1] else w2.T @ w2
  norm_w2 = jnp.sqrt(jnp.max(jnp.linalg.eigvalsh(gram)))
  return norm_w2 * norm_w1x


def count_above(s: Any, threshold: Any) -> jax.Array:
  """|{j : s_j > threshold}| for singular values ``s`` [..., r] (Theorem 2's measured side)."""
  s = checks.as_float_array(s, "s")
  checks.check_ndim(s, "s", min_ndim=1)
  threshold = checks.as_float_array(threshold, "threshold")
  if threshold.shape not in ((), s.shape[:-1]):
    raise ValueError(f"threshold must be a scalar or have shape {tuple(s.shape[:-1])}, got "
                     f"{tuple(threshold.shape)}")
  return jnp.sum(s > threshold[..., None], axis=-1)


def theorem2_count(x_KxL: Any, w1_FxK: Any, w2_DxF: Any, w3_DxK: Any, eps: float,
                   activation: Callable = jax.nn.relu) -> int:
  """Theorem 2's measured count |{j : sigma_j(Phi(X)) > eps ||W2||_2 ||W1 X||_2}|.

  Phi(X) = W3 X + W2 omega(W1 X) (``embeddings.residual_mlp_embedding``), X ``[k, L]``.
  """
  phi_DxL = embeddings.residual_mlp_embedding(x_KxL, w1_FxK, w2_DxF, w3_DxK, activation)
  threshold = theorem2_threshold(x_KxL, w1_FxK, w2_DxF, eps)
  return int(count_above(spectral.singular_values(phi_DxL), threshold))


def rounding_floor(sigma_1: float, m: int, n: int, dtype=np.float64) -> float:
  """sigma_1 max(m, n) eps_machine: below it computed singular values are rounding noise.

  The tolerance of ``numpy.linalg.matrix_rank``; a backward-stable SVD of an m x n matrix
  returns each sigma_j within a small multiple of eps_machine sigma_1 of the exact value, so a
  bound is checked as ``sigma_hat_j <= bound_j + rounding_floor``.
  """
  sigma_1 = float(sigma_1)
  m = checks.positive_int(m, "m")
  n = checks.positive_int(n, "n")
  return sigma_1 * max(m, n) * float(np.finfo(dtype).eps)
