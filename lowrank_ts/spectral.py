"""Jitted spectral utilities: singular values, eps-rank (eq. 1), truncated SVD, random
matrices with a prescribed spectrum (appendix J), column angles (eq. 2 / appendix H) and the
sketching error of eq. (30).

All functions keep the dtype of their input. For float64, wrap the call in
``with lowrank_ts.spectral.float64():`` (or ``jax.enable_x64(True)``); nothing here sets a
global flag.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import jax
import jax.numpy as jnp

from lowrank_ts import checks


@contextlib.contextmanager
def float64():
  """Context manager enabling float64 arrays for the calls made inside it."""
  with jax.enable_x64(True):
    yield


@jax.jit
def _singular_values(x):
  return jnp.linalg.svd(x, compute_uv=False)


def singular_values(x: Any) -> jax.Array:
  """Singular values of ``x`` [..., m, n] in descending order, shape [..., min(m, n)]."""
  return _singular_values(checks.matrix(x, "x", batched=True))


@jax.jit
def _relative(s):
  top = s[..., :1]
  return jnp.where(top > 0, s / jnp.where(top > 0, top, 1), jnp.zeros_like(s))


def relative_spectrum(s: Any) -> jax.Array:
  """sigma_j / sigma_1 along the last axis of descending singular values ``s`` [..., r].

  A zero spectrum (zero matrix) maps to all zeros.
  """
  s = checks.as_float_array(s, "s")
  checks.check_ndim(s, "s", min_ndim=1)
  checks.check_nonempty(s, "s")
  return _relative(s)


@jax.jit
def _eps_rank_from_s(s, eps):
  # eq. (1): count sigma_j / sigma_1 > eps, i.e. sigma_j > eps * sigma_1 (strict). For the zero
  # matrix sigma_1 = 0 and no sigma_j is > 0, so the eps-rank is 0.
  return jnp.sum(s > eps * s[..., :1], axis=-1)


def eps_rank_from_singular_values(s: Any, eps: float) -> jax.Array:
  """eps-rank of eq. (1) from descending singular values ``s`` [..., r]; int array [...]."""
  s = checks.as_float_array(s, "s")
  checks.check_ndim(s, "s", min_ndim=1)
  checks.check_nonempty(s, "s")
  eps = checks.positive_float(eps, "eps")
  return _eps_rank_from_s(s, jnp.asarray(eps, s.dtype))


def eps_rank(x: Any, eps: float) -> jax.Array:
  """eps-rank of eq. (1): |{j : sigma_j(x) / sigma_1(x) > eps}| for x [..., m, n].

  Batched over leading dims. The zero matrix has eps-rank 0 for every eps.
  """
  x = checks.matrix(x, "x", batched=True)
  eps = checks.positive_float(eps, "eps")
  return _eps_rank_from_s(_singular_values(x), jnp.asarray(eps, x.dtype))


@jax.jit
def _svd(w):
  return jnp.linalg.svd(w, full_matrices=False)


def truncated_svd(w: Any, rank: int | None = None, eps: float | None = None):
  """Truncated SVD factors ``(a, b)`` with ``a`` [m, r], ``b`` [r, n] and ``w ≈ a @ b``.

  Give exactly one of ``rank`` (1 <= rank <= min(m, n)) or ``eps`` (> 0). With ``eps`` the
  rank is the eps-rank of eq. (1), so ``||w - a b||_2 = sigma_{r+1} <= eps ||w||_2`` (§5,
  Eckart–Young). The singular values are split evenly: a = U_r sqrt(S_r), b = sqrt(S_r) V_r^T,
  which keeps both factors equally scaled. Not jittable as a whole when ``eps`` is given (the
  rank is data dependent); the SVD itself is jitted.
  """
  w = checks.matrix(w, "w")
  if (rank is None) == (eps is None):
    raise ValueError("give exactly one of rank or eps")
  u, s, vt = _svd(w)
  if rank is not None:
    rank = checks.positive_int(rank, "rank", upper=min(w.shape))
  else:
    eps = checks.positive_float(eps, "eps")
    rank = int(_eps_rank_from_s(s, jnp.asarray(eps, s.dtype)))
  root = jnp.sqrt(s[:rank])
  return u[:, :rank] * root, root[:, None] * vt[:rank]


def matrix_with_spectrum(key: Any, s: Any, m: int, n: int, dtype=None) -> jax.Array:
  """A random m x n matrix U diag(s) V^T with the given singular values (appendix J.1).

  U [m, r] and V [n, r] have orthonormal columns from the QR decomposition of Gaussian
  matrices (signs fixed so the distribution is Haar); r = len(s) <= min(m, n). ``s`` must be
  non-negative; it is used in the given order (sort it descending for sigma_j = s_j).
  """
  key = checks.prng_key(key)
  s = checks.as_float_array(s, "s")
  checks.check_ndim(s, "s", ndim=1)
  checks.check_nonempty(s, "s")
  m = checks.positive_int(m, "m")
  n = checks.positive_int(n, "n")
  if s.shape[0] > min(m, n):
    raise ValueError(f"len(s)={s.shape[0]} must be <= min(m, n)={min(m, n)}")
  dtype = s.dtype if dtype is None else dtype
  return _matrix_with_spectrum(key, s.astype(dtype), m, n)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _matrix_with_spectrum(key, s, m, n):
  r = s.shape[0]
  key_u, key_v = jax.random.split(key)
  u = _haar_columns(key_u, m, r, s.dtype)
  v = _haar_columns(key_v, n, r, s.dtype)
  return (u * s) @ v.T


def _haar_columns(key, rows, cols, dtype):
  q, r = jnp.linalg.qr(jax.random.normal(key, (rows, cols), dtype))
  signs = jnp.where(jnp.diagonal(r) < 0, -1, 1).astype(dtype)
  return q * signs


@jax.jit
def _column_angles(x):
  norms = jnp.linalg.norm(x, axis=0)
  unit = x / norms
  cos = jnp.clip(jnp.abs(unit.T @ unit), 0.0, 1.0)
  # A vector makes angle 0 with itself; rounding in unit.T @ unit would otherwise leave
  # ~sqrt(machine eps) on the diagonal (NaN stays NaN for zero columns).
  same = jnp.eye(x.shape[1], dtype=bool) & jnp.isfinite(cos)
  return jnp.where(same, 0.0, jnp.arccos(cos))


def column_angles(x: Any) -> jax.Array:
  """Pairwise angles arccos(|x_i^T x_j| / (||x_i|| ||x_j||)) in [0, pi/2] (eq. 2, appendix H).

  ``x`` [d, L] holds one vector per column (the paper's convention); returns [L, L]. A zero
  column has no direction: its row and column of the result are NaN.
  """
  return _column_angles(checks.matrix(x, "x"))


@jax.jit
def _sketching_error(x, w):
  sketch_LxR = x.T @ w.T
  u, s, _ = jnp.linalg.svd(sketch_LxR, full_matrices=False)
  # orth(): keep the directions above the usual numerical-rank tolerance (as MATLAB's orth).
  tol = max(sketch_LxR.shape) * jnp.finfo(x.dtype).eps * s[0]
  basis = u * (s > tol)
  residual = x.T - basis @ (basis.T @ x.T)
  return jnp.linalg.norm(residual, ord=2)


def sketching_error(x: Any, w: Any) -> jax.Array:
  """Sketching error of eq. (30): ||orth(X^T W^T) orth(X^T W^T)^T X^T - X^T||_2.

  The distance from the row space of ``x`` [d, L] to that of the sketch ``w @ x`` with
  ``w`` [r, d]. It is >= sigma_{r+1}(x) for any w with r rows (Eckart–Young) and equals it
  when the rows of w span the leading r left singular vectors of x.
  """
  x = checks.matrix(x, "x")
  w = checks.matrix(w, "w")
  if w.shape[1] != x.shape[0]:
    raise ValueError(f"w must have {x.shape[0]} columns (rows of x), got shape {tuple(w.shape)}")
  dtype = jnp.result_type(x.dtype, w.dtype)
  return _sketching_error(x.astype(dtype), w.astype(dtype))
