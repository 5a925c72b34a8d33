"""Theorem 6 (appendix E, proof in E.1): shared vs head-dependent sparse sketching.

Paper convention: tokens are columns, U in R^{d x L}; multi-head attention is eq. (18)
(:func:`attention.multi_head_attention`, scale 1/sqrt(d_h), softmax over the first index).
Indices below are 0-based in code and 1-based in the text; token k = i d_h + j is position j of
head block i.

Construction (E.1), for d = h d_h, L >= d, 1 >= sigma_1 >= ... >= sigma_d > 0:
  sigma^(i)_j = sigma_{(j-1)h+i} (interleaving), U = [blockdiag(diag sigma^(1), ...,
  diag sigma^(h)) | 0], W_V = I, W_Q^(i) = W_K^(i) = alpha W̄ for every head, where column k of
  W̄ in R^{d_h x d} is v_k / U_kk for unit vectors v_k in R^{d_h} with |v_k^T v_l| < 1 (k != l).
  Then U^T W̄^T W̄ U has ones on the diagonal of its leading d x d block, |.| < 1 elsewhere in
  it and zeros outside, so for large alpha the attention G tends to
  G~ = [[I_d, 1/L], [0, 1/L]] (eq. 21). d unit vectors in R^{d_h} pairwise non-parallel need
  d_h >= 2 (or d = 1); d~ < d_h with d~ >= 1 forces d_h >= 2 anyway.

alpha is explicit here: every non-constant column of the score matrices (of G and of every
softmax(T~^(i)) of claim 2) has a unique maximum a = alpha^2 / sqrt(d_h) and every other entry
<= a c, c = max(max_{k != l} v_k^T v_l, 0) < 1 (or a score 0 <= a c); the column then differs from its limit by at most
sqrt(2) (L - 1) e^{-a (1 - c)} in the 2-norm, so
  alpha^2 = sqrt(d_h) log(sqrt(2 d) (L - 1) / eps) / (1 - c)
gives ||G - G~||_F <= eps (eq. 21) and eq. (25).

Claim 1: every rank-d~ W~_V errs by >= sigma_{d~+1}/2. Proof used here (the paper's eq. (22)
does not hold, see ERRATA): all heads share G and W_V = I, so the error is
||(I - W~_V) U G||_2 >= s_{d~+1}(U G) >= s_{d~+1}(U G~) - ||U (G - G~)||_2
>= sigma_{d~+1} - sigma_1 eps >= 3/4 sigma_{d~+1} (Eckart–Young, Weyl; U G~ (U G~)^T >= U_D^2).
The best rank-d~ W~_V (:func:`theorem6_best_value_approximation`) errs by s_{d~+1}(U G) in
[sigma_{d~+1} - sigma_1 eps, sqrt(1 + d(L-d)/L^2) sigma_{d~+1} + sigma_1 eps], inside
[0.75, 1.37] sigma_{d~+1} (s_k(U_D M) <= s_k(U_D) ||M||_2, M = [I | 11^T/L]): the bound is
attained up to its factor 2. The norm bound C is not needed for the statement (every rank-d~
W~_V obeys it); it enters the construction only through eps.

Claim 2 (:func:`theorem6_head_sketches`): head i keeps its d~ leading tokens in W_V and in the
first d~ rows of W_Q, W_K; a (d~+1)-st query/key direction sends the attention of every other
token of the block d to an "absorbing" token whose value row is dropped. Per head the error is
<= 4 sigma^(i)_{d~+1} = 4 sigma_{h d~ + i} <= 4 sigma_{h d~ + 1}; stacked, <= 4 sqrt(h)
sigma_{h d~ + 1}.

ERRATA (E.1), each checked in tests/test_theory_sketching.py:
- eps: "sigma^(i)_{d+1}" means sigma^(i)_{d~+1}; eps depends on d~ while the statement fixes
  U, W before "for any d~ < d_h": we take the minimum over d~ < d_h (:func:`theorem6_epsilon`).
- eq. (22): ||stack_i A_i||_2 <= max_i ||A_i||_2 is false (the stack is >=), and
  ||W~_V||_2 <= C does not follow from ||W~_V||_F <= C ||I||_F = C sqrt(d); a W~_V with
  ||W~_V||_F = C sqrt(d) makes E_trail exceed (1 + C) eps. Claim 1 still holds (proof above).
- W_{Q,R}^(1): the last row's entry 1/sigma_{d~+1} must be 1/sigma^(1)_{d~+1} = 1/U_{d~+1,d~+1};
  likewise the last row of W_{K,R}^(i) holds 1/U_kk (the interleaved diagonal), not 1/sigma_k.
  Literally, the absorbing query is scaled by sigma_{h d~+1}/sigma_{d~+1} < 1 and can lose the
  arg-max to a kept token: the error then is ~sigma_1, far above 4 sqrt(h) sigma_{h d~+1}.
- h = 1: i' = mod(i, h) + 1 = i, so the absorbing direction v_1^(i') = v_1^(1) equals the
  first kept direction; the softmax ties and token 1 keeps weight 1/2 (error ~sigma_1/2). We
  use v_{d~+1}^(1) (any direction not among the kept ones works).
- T~^(1): "the (j+1)st element for j > d~" means the (d~+1)-st (the absorbing token); the final
  display of E.1 writes W_Q, W_K for W~_Q, W~_K.
- Sparsity: the last row of W_{K,2}^(i) has d - d~ > d_h non-zeros for every head i (h >= 2),
  not only for i = h; all other rows of W_{Q/K/V,2}^(i) have exactly one non-zero.

Appendix J.2 (Fig. 16): :func:`random_sparse_sketch` draws W_{2,h} = [W^(1); ...; W^(h)],
W^(i) in R^{d~ x d}, every row with exactly d_h = d/h non-zeros at uniformly random distinct
columns and N(0, 1) values, so nnz(W_{2,h}) = h d~ d_h = d d~ for every h;
:func:`effective_sketch_rank` maps a sketching error (eq. 30) to the largest j with
error <= sigma_{j+1}, the rank of an optimal sketch that is no better.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import attention, checks

__all__ = [
  "Theorem6Construction",
  "effective_sketch_rank",
  "interleaved_spectrum",
  "random_sparse_sketch",
  "separated_unit_vectors",
  "theorem6_alpha",
  "theorem6_best_value_approximation",
  "theorem6_construction",
  "theorem6_epsilon",
  "theorem6_head_sketch_upper_bound",
  "theorem6_head_sketches",
  "theorem6_limit_attention",
  "theorem6_value_lower_bound",
]


class Theorem6Construction(NamedTuple):
  """The input and weights of the proof of Theorem 6 (E.1), float64 numpy arrays.

  u [d, L]; w_q = w_k [d, d] stack alpha W̄ for every head; w_v = I_d; ``vectors`` [d, d_h]
  holds v_k (row k, token k = i d_h + j); ``diagonal`` [d] is diag(U_D) (the interleaved
  spectrum, block by block); ``alpha`` and ``eps`` as in eq. (21).
  """
  u: np.ndarray
  w_q: np.ndarray
  w_k: np.ndarray
  w_v: np.ndarray
  num_heads: int
  vectors: np.ndarray
  diagonal: np.ndarray
  alpha: float
  eps: float


# ----------------------------------------------------------------------------- validation
def _spectrum(s: Any, name: str = "s") -> np.ndarray:
  """1 >= s_1 >= ... >= s_d > 0 as Theorem 6 requires; returned as float64 numpy."""
  return checks.spectrum(s, name)


def _head_dim(d: int, num_heads: int) -> int:
  head_dim = checks.divides(num_heads, d, "num_heads", "d = len(s)")
  if head_dim < 2:
    raise ValueError(f"num_heads={num_heads} leaves d_h = {head_dim}; Theorem 6 needs "
                     "d_h >= 2 (d~ < d_h, and pairwise non-parallel unit vectors in R^d_h)")
  return head_dim


def _d_tilde(d_tilde: int, head_dim: int) -> int:
  return checks.positive_int(d_tilde, "d_tilde", upper=head_dim - 1)


# ----------------------------------------------------------------------------- construction
def interleaved_spectrum(s: Any, num_heads: int) -> np.ndarray:
  """sigma^(i)_j = sigma_{(j-1)h+i} of E.1 as an [h, d_h] array (row i is sigma^(i+1))."""
  s = _spectrum(s)
  head_dim = checks.divides(num_heads, s.shape[0], "num_heads", "d = len(s)")
  return s.reshape(head_dim, num_heads).T


def separated_unit_vectors(count: int, dim: int) -> np.ndarray:
  """``count`` deterministic unit vectors in R^dim, pairwise |v^T w| < 1 (E.1), [count, dim].

  Vector n lies in the coordinate plane p = n mod floor(dim/2) at angle pi m / n_p (m its
  index in that plane, n_p the vectors the plane holds): vectors in different planes are
  orthogonal, and within a plane max |cos| = cos(pi / n_p). Needs dim >= 2 unless count = 1.
  """
  count = checks.positive_int(count, "count")
  dim = checks.positive_int(dim, "dim")
  out = np.zeros((count, dim))
  if dim == 1:
    if count > 1:
      raise ValueError(f"dim=1 admits no {count} pairwise non-parallel unit vectors")
    out[0, 0] = 1.0
    return out
  planes = dim // 2
  for n in range(count):
    plane, m = n % planes, n // planes
    in_plane = len(range(plane, count, planes))
    theta = math.pi * m / in_plane
    out[n, 2 * plane], out[n, 2 * plane + 1] = math.cos(theta), math.sin(theta)
  return out


def theorem6_epsilon(s: Any, num_heads: int, stability: float) -> float:
  """eps of E.1, min over d~ < d_h of min{(1+C)^-1 sigma_{d~+1}/2,
  min_i sigma^(i)_{d~+1} / (2 ||W_V U||_2 + 2 sigma_1), 1} (= sigma_{d_h}/(2(1+C)),
  sigma_d/(4 sigma_1) or 1), so that one construction serves every d~ (see ERRATA)."""
  s = _spectrum(s)
  head_dim = _head_dim(s.shape[0], num_heads)
  c = checks.positive_float(stability, "stability")
  if c < 1:
    raise ValueError(f"stability must be >= 1 (Theorem 6's C), got {c}")
  # ||W_V U||_2 = sigma_1 (W_V = I); min_i sigma^(i)_{d~+1} is smallest at d~ = d_h - 1.
  return min(s[head_dim - 1] / (2 * (1 + c)), s[-1] / (4 * s[0]), 1.0)


def theorem6_alpha(eps: float, d: int, length: int, head_dim: int, max_cos: float) -> float:
  """alpha of eq. (21), explicit: alpha^2 = sqrt(d_h) log(sqrt(2d)(L-1)/eps) / (1 - c) with
  c = max(max_cos, 0), which gives ||G - G~||_F <= eps (module docstring)."""
  eps = checks.positive_float(eps, "eps")
  d = checks.positive_int(d, "d")
  length = checks.positive_int(length, "length")
  head_dim = checks.positive_int(head_dim, "head_dim")
  if not (isinstance(max_cos, (int, float, np.floating)) and max_cos < 1):
    raise ValueError(f"max_cos must be a number < 1 (non-parallel vectors), got {max_cos!r}")
  c = max(float(max_cos), 0.0)
  log_ratio = max(math.log(math.sqrt(2 * d) * max(length - 1, 1) / eps), 0.0)
  return math.sqrt(math.sqrt(head_dim) * log_ratio / (1 - c))


def theorem6_construction(s: Any, num_heads: int, length: int, stability: float = 1.0,
                          vectors: Any = None) -> Theorem6Construction:
  """U, W_Q, W_K, W_V of the proof of Theorem 6 (E.1), as float64 numpy arrays.

  ``s`` [d] with 1 >= s_1 >= ... >= s_d > 0, ``num_heads`` = h dividing d with d_h >= 2,
  ``length`` = L >= d, ``stability`` = C >= 1. ``vectors`` [d, d_h]: the unit vectors v_k
  (any with |v_k^T v_l| < 1); default :func:`separated_unit_vectors`. Call the attention in
  ``spectral.float64()``: the scores are of order log(d L / eps) / (1 - c).
  """
  s = _spectrum(s)
  d = s.shape[0]
  head_dim = _head_dim(d, num_heads)
  length = checks.positive_int(length, "length")
  if length < d:
    raise ValueError(f"length={length} must be >= d={d} (Theorem 6 needs L >= d)")
  eps = theorem6_epsilon(s, num_heads, stability)
  if vectors is None:
    v = separated_unit_vectors(d, head_dim)
  else:
    checks.matrix(vectors, "vectors")
    v = np.asarray(vectors, dtype=np.float64)
    if v.shape != (d, head_dim):
      raise ValueError(f"vectors must have shape (d, d_h)={(d, head_dim)}, got {v.shape}")
    if not np.allclose(np.linalg.norm(v, axis=1), 1.0, rtol=0, atol=1e-12):
      raise ValueError("vectors must have unit rows")
  off_diagonal = (v @ v.T)[~np.eye(d, dtype=bool)]
  if off_diagonal.size and np.abs(off_diagonal).max() >= 1 - 1e-12:
    raise ValueError("vectors must be pairwise non-parallel, got max |v^T w| = "
                     f"{np.abs(off_diagonal).max()}")
  # Scores v_k^T v_l enter with their sign; only the largest one competes with the diagonal.
  alpha = theorem6_alpha(eps, d, length, head_dim,
                         float(off_diagonal.max()) if off_diagonal.size else 0.0)
  diagonal = interleaved_spectrum(s, num_heads).reshape(-1)  # block i holds sigma^(i)
  u = np.zeros((d, length))
  u[:, :d] = np.diag(diagonal)
  w_bar = v.T / diagonal  # [d_h, d], column k = v_k / U_kk
  w_qk = np.tile(alpha * w_bar, (num_heads, 1))
  return Theorem6Construction(u, w_qk, w_qk.copy(), np.eye(d), int(num_heads), v, diagonal,
                              alpha, eps)


def theorem6_limit_attention(d: int, length: int) -> np.ndarray:
  """G~ = [[I_d, 1_{d x (L-d)}/L], [0, 1_{(L-d) x (L-d)}/L]] of eq. (21), [L, L]."""
  d = checks.positive_int(d, "d")
  length = checks.positive_int(length, "length")
  if length < d:
    raise ValueError(f"length={length} must be >= d={d}")
  g = np.zeros((length, length))
  g[:d, :d] = np.eye(d)
  g[:, d:] = 1.0 / length
  return g


# ----------------------------------------------------------------------------- claim 1
def theorem6_value_lower_bound(s: Any, num_heads: int, d_tilde: int) -> float:
  """sigma_{d~+1}/2, claim 1 of Theorem 6 (any rank-d~ W~_V, 1 <= d~ < d_h)."""
  s = _spectrum(s)
  d_tilde = _d_tilde(d_tilde, _head_dim(s.shape[0], num_heads))
  return float(s[d_tilde]) / 2


def theorem6_best_value_approximation(construction: Theorem6Construction,
                                      d_tilde: int) -> jax.Array:
  """The rank-d~ W~_V [d, d] closest in claim 1: P W_V, P the projector onto the leading d~
  left singular vectors of Y = MH-Attention(U; W_Q, W_K, W_V, h). All heads of the
  construction share one G, so MH-Attention(U; W_Q, W_K, W~_V, h) = P Y, the truncated SVD of
  Y (Eckart–Young); its error s_{d~+1}(Y) is the least any rank-d~ W~_V achieves."""
  c = construction
  d = c.u.shape[0]
  d_tilde = _d_tilde(d_tilde, d // c.num_heads)
  y = attention.multi_head_attention(c.u, c.w_q, c.w_k, c.w_v, c.num_heads)
  left = jnp.linalg.svd(y, full_matrices=False)[0][:, :d_tilde]
  return left @ (left.T @ c.w_v)


# ----------------------------------------------------------------------------- claim 2
def theorem6_head_sketches(construction: Theorem6Construction, d_tilde: int):
  """(W~_Q, W~_K, W~_V) of claim 2 as :class:`attention.SparseHeadSketch` (E.1, corrected).

  Head i (0-based), kept tokens K_i = {i d_h + t : t < d~}:
  - W~_V: w1 = [I_d~; 0], row t of W_{V,2}^(i) = e_{i d_h + t}; rank d~.
  - W~_Q, W~_K: w1 = alpha [v_k / U_kk for k in K_i | v_abs], rows t < d~ of W_2^(i) as for V;
    the last row of W_{Q,2}^(i) is e_a / U_aa for the absorbing token a (d~ for i = 0, else 0),
    the last row of W_{K,2}^(i) is sum over k not in K_i of e_k / U_kk (d - d~ non-zeros).
    v_abs = v_1^(i') with i' = i+1 mod h (the paper's choice), v_{d~+1}^(1) when h = 1.
  """
  c = construction
  d, head_dim, h = c.u.shape[0], c.u.shape[0] // c.num_heads, c.num_heads
  d_tilde = _d_tilde(d_tilde, head_dim)
  v = np.asarray(c.vectors)
  diag = np.asarray(c.diagonal)
  r = d_tilde + 1
  nnz = d - d_tilde
  cols_q = np.zeros((h, r, 1), np.int32)
  vals_q = np.zeros((h, r, 1))
  cols_k = np.zeros((h, r, nnz), np.int32)
  vals_k = np.zeros((h, r, nnz))
  w1_qk = np.zeros((h, head_dim, r))
  cols_v = np.zeros((h, d_tilde, 1), np.int32)
  vals_v = np.ones((h, d_tilde, 1))
  w1_v = np.zeros((h, head_dim, d_tilde))
  for i in range(h):
    kept = i * head_dim + np.arange(d_tilde)
    cols_q[i, :d_tilde, 0] = cols_k[i, :d_tilde, 0] = cols_v[i, :, 0] = kept
    vals_q[i, :d_tilde, 0] = vals_k[i, :d_tilde, 0] = 1.0
    absorbing = d_tilde if i == 0 else 0
    cols_q[i, d_tilde, 0] = absorbing
    vals_q[i, d_tilde, 0] = 1.0 / diag[absorbing]
    others = np.setdiff1d(np.arange(d), kept)
    cols_k[i, d_tilde] = others
    vals_k[i, d_tilde] = 1.0 / diag[others]
    v_abs = v[((i + 1) % h) * head_dim] if h > 1 else v[d_tilde]
    w1_qk[i, :, :d_tilde] = c.alpha * (v[kept] / diag[kept, None]).T
    w1_qk[i, :, d_tilde] = c.alpha * v_abs
    w1_v[i, :d_tilde, :] = np.eye(d_tilde)
  # float64 numpy arrays: they stay float64 inside spectral.float64().
  return (attention.SparseHeadSketch(w1_qk, cols_q, vals_q),
          attention.SparseHeadSketch(w1_qk.copy(), cols_k, vals_k),
          attention.SparseHeadSketch(w1_v, cols_v, vals_v))


def theorem6_head_sketch_upper_bound(s: Any, num_heads: int, d_tilde: int) -> float:
  """4 sqrt(h) sigma_{h d~ + 1}, claim 2 of Theorem 6 (1 <= d~ < d_h)."""
  s = _spectrum(s)
  d_tilde = _d_tilde(d_tilde, _head_dim(s.shape[0], num_heads))
  return 4 * math.sqrt(num_heads) * float(s[num_heads * d_tilde])


# ----------------------------------------------------------------------------- appendix J.2
def random_sparse_sketch(key: Any, d: int, num_heads: int, d_tilde: int,
                         dtype=None) -> jax.Array:
  """W_{2,h} [h d~, d] of appendix J.2: h stacked blocks W_{2,h}^(i) in R^{d~ x d}, each row
  with exactly d_h = d/h non-zeros at distinct uniformly random columns, values N(0, 1).

  "exactly d_h non-zero entries" is read per row of each block, so the total d d~ is the
  same for every h (as J.2 requires); h = 1 is a dense Gaussian sketch. Drawn with numpy from
  a generator seeded by ``key`` (no jit compilation per h, which dominated small runs).
  """
  key = checks.prng_key(key)
  d = checks.positive_int(d, "d")
  head_dim = checks.divides(num_heads, d, "num_heads", "d")
  d_tilde = checks.positive_int(d_tilde, "d_tilde", upper=d)
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  rng = np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel().tolist())
  rows = num_heads * d_tilde
  # The first d_h entries of an independent random permutation of the columns, per row.
  cols_RxN = np.argsort(rng.random((rows, d)), axis=1)[:, :head_dim]
  w_RxD = np.zeros((rows, d))
  w_RxD[np.arange(rows)[:, None], cols_RxN] = rng.standard_normal((rows, head_dim))
  return jnp.asarray(w_RxD, jnp.result_type(float) if dtype is None else dtype)


def effective_sketch_rank(error: Any, s: Any) -> np.ndarray:
  """The largest j >= 0 with error <= sigma_{j+1} (Fig. 16's vertical rules), i.e. the rank
  of an optimal sketch (error sigma_{j+1}, Eckart–Young) that the sketch matches; 0 when
  error > sigma_1. ``s`` [d] descending singular values; ``error`` any shape."""
  s = checks.as_float_array(s, "s")
  checks.check_ndim(s, "s", ndim=1)
  checks.check_nonempty(s, "s")
  s = np.asarray(s, dtype=np.float64)
  error = np.asarray(error, dtype=np.float64)
  count = np.sum(s[None, :] >= error.reshape(-1, 1), axis=1)  # |{k : sigma_k >= error}|
  return np.maximum(count - 1, 0).reshape(error.shape)
