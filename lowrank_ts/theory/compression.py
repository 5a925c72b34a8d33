"""Theorem 3 and Theorem 5 (appendix D): attention is compressible on a low-rank vocabulary,
and incompressible on a high-rank input. Paper convention: tokens are columns, U in R^{d x L}.

Upper bound (Theorem 3.1 / Theorem 5, proof of Theorem 5). With the truncated SVD
Xi ≈ U_r S_r V_r^T of the vocabulary, W~ = W U_r U_r^T for W in {W_Q, W_K, W_V}; every head
(eq. 18) uses the row block W^(i) U_r U_r^T. In factored form this is exactly the shared
sketch of eq. (19): W~ = (W U_r)(U_r^T), see :func:`compress_attention`.

Constant of the bound, worked out from the proof (any C > 0, sigma = sigma_{r+1}(Xi) <= 1).
For a token x (a column of Xi), (I - P) x has norm <= sigma with P = U_r U_r^T, so every
score of head i moves by at most delta = C (2 C sigma + sigma^2) <= C (2C + 1) sigma; softmax
is 1-Lipschitz from l_inf to l_1 (its Jacobian diag(p) - p p^T maps v to a vector of l_1 norm
= the mean absolute deviation of v under p, <= max |v|). Writing column j of the error as
W_V U (p - p~) + W_V (I - P) U p~ gives, per head, ||.||_2 <= C sqrt(d_h) (C delta + sigma);
stacking the h heads of one token:

  ||(Y - Y~)(:, j)||_2 <= K(C) sqrt(d) sigma_{r+1},  K(C) = 2 C^4 + C^3 + C,     (per token)
  ||Y - Y~||_F        <= K(C) sqrt(d L) sigma_{r+1}.                             (all tokens)

ERRATUM (eq. 3 / eq. 10): the paper's Frobenius bound O(sqrt(d) sigma_{r+1}) "for any L"
has no sqrt(L). That is false: if U repeats one token L times the attention is uniform, the
error is (W_V - W~_V) x 1_L^T and its Frobenius (and 2-) norm grows as sqrt(L) for *every*
rank-r W~_V once rank(W_V Xi) > r (then some column x of Xi has (W_V - W~_V) x != 0). The proof's step
||sum_t a_t|| <= sqrt(L) max_t ||a_t|| should read L max_t ||a_t||. The L-uniform statement
is the per-token one above. N never enters; h does not either.

Lower bound (Theorem 3.2). U = [diag(sigma) | 0] in R^{d x L}, L >= d, and
W_Q^T W_K = kappa sigma_d^{-2} sqrt(d) I. Every rank-r W~_V errs by
||(W_V - W~_V) U G||_2 >= sigma_{r+1} / 4 for orthogonal W_V (the proof bounds the 2-norm,
which is <= the Frobenius norm the statement names). ERRATUM: the paper's kappa = log(4d)
gives the diagonal softmax weight 4d / (L - 1 + 4d) for the token with sigma_j = sigma_d,
which is < 1/2 as soon as L > 4d + 1 (eq. 15 fails), and for L >> d the error of the best
W~_V tends to 0. kappa = log(max(4d, L - 1)) makes both steps of eq. (15) hold for every
L >= d (diagonal e^k / (L - 1 + e^k) >= 1/2 since e^k >= L - 1; off-diagonal
1 / (L - 1 + e^k) <= e^-k <= 1/(4d)); it equals log(4d) whenever L <= 4d + 1.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_ts import attention, checks

__all__ = [
    "CompressedAttention",
    "IncompressibleAttention",
    "vocabulary_basis",
    "compress_attention",
    "compression_hypothesis_constant",
    "compression_error_constant",
    "compression_token_error_bound",
    "compression_error_bound",
    "incompressible_log_weight",
    "incompressible_attention",
    "compression_lower_bound",
    "best_value_approximation",
]


class CompressedAttention(NamedTuple):
  """The reduced projections W~ = W U_r U_r^T of the proof of Theorem 5, as eq. (19) sketches.

  Each of ``w_q``, ``w_k``, ``w_v`` is an :class:`attention.SharedSketch` with
  w1 = W U_r [d, r] and w2 = U_r^T [r, d] (the sketch shared by all heads); ``basis`` is
  U_r [d, r]. Use them directly in :func:`attention.attention` /
  :func:`attention.multi_head_attention`, or densify with :func:`attention.to_dense`.
  """
  w_q: attention.SharedSketch
  w_k: attention.SharedSketch
  w_v: attention.SharedSketch
  basis: jax.Array


class IncompressibleAttention(NamedTuple):
  """The lower-bound construction of Theorem 3: input ``u`` [d, L] and ``w_q``, ``w_k`` [d, d]
  with W_Q^T W_K = log_weight * sigma_d^{-2} sqrt(d) I (``log_weight`` is the kappa used)."""
  u: jax.Array
  w_q: jax.Array
  w_k: jax.Array
  log_weight: float


# ----------------------------------------------------------------------------- validation
def _square(w: Any, name: str, d: int) -> jax.Array:
  w = checks.matrix(w, name)
  if w.shape != (d, d):
    raise ValueError(f"{name} must have shape (d, d)={(d, d)}, got {tuple(w.shape)}")
  return w


def _sigma_next(value: Any, name: str = "sigma_next") -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
  value = float(value)
  if not (math.isfinite(value) and 0.0 <= value <= 1.0):
    raise ValueError(f"{name} must lie in [0, 1] (Theorem 3 needs sigma_(r+1) <= 1), got "
                     f"{value!r}")
  return value


def _spectrum(sigma: Any, name: str = "sigma") -> np.ndarray:
  """1 >= sigma_1 >= ... >= sigma_d > 0 as Theorem 3.2 requires; returned as numpy."""
  return checks.spectrum(sigma, name)


# ----------------------------------------------------------------------------- upper bound
@jax.jit
def _left_singular_vectors(x):
  """Left singular vectors of x [m, n], descending. For a wide x (n > m) the SVD acts on the
  triangular factor of x^T = Q R, since x = R^T Q^T has the left singular vectors of R^T:
  an m x m SVD after one QR is many times cheaper than LAPACK's wide SVD, with the same
  backward stability."""
  if x.shape[1] > x.shape[0]:
    x = jnp.linalg.qr(x.T, mode="r").T
  return jnp.linalg.svd(x, full_matrices=False)[0]


def vocabulary_basis(vocab: Any, rank: int) -> jax.Array:
  """U_r [d, r]: the leading r left singular vectors of the vocabulary Xi [d, N] (proof of
  Theorem 5), so ||(I - U_r U_r^T) Xi||_2 = sigma_{r+1}(Xi). Requires 1 <= r < d."""
  vocab = checks.matrix(vocab, "vocab")
  d = vocab.shape[0]
  rank = checks.positive_int(rank, "rank", upper=d - 1)
  if rank > min(vocab.shape):
    raise ValueError(f"rank={rank} must be <= min(d, N)={min(vocab.shape)}")
  return _left_singular_vectors(vocab)[:, :rank]


def compress_attention(w_q: Any, w_k: Any, w_v: Any, basis: Any) -> CompressedAttention:
  """W~ = W U_r U_r^T for W_Q, W_K, W_V [d, d] (proof of Theorem 5), as shared sketches.

  ``basis`` is U_r [d, r] with orthonormal columns, r < d (from :func:`vocabulary_basis`).
  Head-agnostic: head i of W~ is W^(i) U_r U_r^T, i.e. eq. (19) with W_1^(i) = W^(i) U_r and
  the shared W_2 = U_r^T. Stability: ||W~_Q^T W~_K||_2 <= ||W_Q^T W_K||_2 (also per head) and
  ||W~_V||_2 <= ||W_V||_2, since ||U_r U_r^T||_2 = 1.
  """
  basis = checks.matrix(basis, "basis")
  d, rank = basis.shape
  if rank >= d:
    raise ValueError(f"basis must have fewer columns than rows (r < d), got shape "
                     f"{tuple(basis.shape)}")
  ws = [_square(w, name, d) for w, name in ((w_q, "w_q"), (w_k, "w_k"), (w_v, "w_v"))]
  dtype = jnp.result_type(basis.dtype, *[w.dtype for w in ws])
  basis = basis.astype(dtype)
  sketches = [attention.SharedSketch(w.astype(dtype) @ basis, basis.T) for w in ws]
  return CompressedAttention(*sketches, basis)


def compression_hypothesis_constant(vocab: Any, w_q: Any, w_k: Any, w_v: Any,
                                    num_heads: int = 1) -> float:
  """The smallest C meeting the hypotheses of Theorem 5 (Theorem 3 with ``num_heads`` = 1).

  max( max_j ||x_j||_2, max_i ||W_Q^(i)T W_K^(i)||_2 / sqrt(d_h), max_i ||W_V^(i)||_2 /
  sqrt(d_h) ), with x_j the columns of ``vocab`` [d, N] and d_h = d / h.
  """
  vocab = checks.matrix(vocab, "vocab")
  d = vocab.shape[0]
  w_q, w_k, w_v = (_square(w, n, d) for w, n in ((w_q, "w_q"), (w_k, "w_k"), (w_v, "w_v")))
  checks.divides(num_heads, d, "num_heads", "d")
  return float(_hypothesis_constant(vocab, w_q, w_k, w_v, num_heads))


@functools.partial(jax.jit, static_argnames="num_heads")
def _hypothesis_constant(vocab, w_q, w_k, w_v, num_heads):
  d = vocab.shape[0]
  d_h = d // num_heads
  q_HxMxD = w_q.reshape(num_heads, d_h, d)
  k_HxMxD = w_k.reshape(num_heads, d_h, d)
  scores_HxDxD = jnp.einsum("hmi,hmj->hij", q_HxMxD, k_HxMxD)
  score_norm = jnp.max(jnp.linalg.norm(scores_HxDxD, ord=2, axis=(1, 2)))
  value_norm = jnp.max(jnp.linalg.norm(w_v.reshape(num_heads, d_h, d), ord=2, axis=(1, 2)))
  token_norm = jnp.max(jnp.linalg.norm(vocab, axis=0))
  return jnp.maximum(token_norm, jnp.maximum(score_norm, value_norm) / jnp.sqrt(d_h))


def compression_error_constant(c: float) -> float:
  """K(C) = 2 C^4 + C^3 + C: the constant of eq. (3) / eq. (10) derived in the module
  docstring from the proof of Theorem 5 (valid for every C > 0 and sigma_{r+1} <= 1)."""
  c = checks.positive_float(c, "c")
  return 2 * c ** 4 + c ** 3 + c


def compression_token_error_bound(c: float, d: int, sigma_next: float) -> float:
  """K(C) sqrt(d) sigma_{r+1}: bound on every column ||(Y - Y~)(:, j)||_2 (Theorems 3, 5).

  The corrected, L-uniform form of eq. (3) / eq. (10): it holds for any number of heads,
  any L and any input whose columns are columns of Xi. ``sigma_next`` = sigma_{r+1}(Xi).
  """
  d = checks.positive_int(d, "d")
  return compression_error_constant(c) * math.sqrt(d) * _sigma_next(sigma_next)


def compression_error_bound(c: float, d: int, sigma_next: float, seq_len: int) -> float:
  """K(C) sqrt(d L) sigma_{r+1}: bound on ||Y - Y~||_F over L = ``seq_len`` tokens.

  Eq. (3) / eq. (10) with the sqrt(L) the paper omits (see the erratum in the module
  docstring): the sum of L squared per-token bounds.
  """
  seq_len = checks.positive_int(seq_len, "seq_len")
  return compression_token_error_bound(c, d, sigma_next) * math.sqrt(seq_len)


# ----------------------------------------------------------------------------- lower bound
def incompressible_log_weight(d: int, seq_len: int) -> float:
  """kappa = log(max(4d, L - 1)): the score weight making eq. (15) hold for every L >= d.

  Equals the paper's log(4d) for L <= 4d + 1; the paper's value fails for larger L (see the
  module docstring).
  """
  d = checks.positive_int(d, "d")
  seq_len = checks.positive_int(seq_len, "seq_len")
  if seq_len < d:
    raise ValueError(f"seq_len={seq_len} must be >= d={d} (Theorem 3.2 needs L >= d)")
  return math.log(max(4 * d, seq_len - 1))


def incompressible_attention(sigma: Any, seq_len: int,
                             log_weight: float | None = None) -> IncompressibleAttention:
  """Lower-bound construction of Theorem 3: U = [diag(sigma) | 0] [d, L] and
  W_Q = W_K = sqrt(kappa sigma_d^{-2} sqrt(d)) I, so W_Q^T W_K = kappa sigma_d^{-2} sqrt(d) I.

  ``sigma`` holds 1 >= sigma_1 >= ... >= sigma_d > 0; L = ``seq_len`` >= d. ``log_weight``
  is kappa, by default :func:`incompressible_log_weight` (pass log(4d) for the paper's
  literal construction). The result has dtype float64 when x64 is enabled.
  """
  s = _spectrum(sigma)
  d = s.shape[0]
  kappa = incompressible_log_weight(d, seq_len) if log_weight is None else \
      checks.positive_float(log_weight, "log_weight")
  # Built in numpy: a fixed construction, no reason to compile anything per shape.
  dtype = np.dtype(jnp.result_type(float))
  u_DxL = np.zeros((d, seq_len), dtype)
  u_DxL[:, :d] = np.diag(s)
  w = math.sqrt(kappa * math.sqrt(d)) / s[-1] * np.eye(d, dtype=dtype)
  return IncompressibleAttention(jnp.asarray(u_DxL), jnp.asarray(w), jnp.asarray(w), kappa)


def compression_lower_bound(sigma: Any, rank: int) -> float:
  """sigma_{r+1} / 4, the right-hand side of eq. (4) (Theorem 3.2), for 1 <= r < d."""
  s = _spectrum(sigma)
  rank = checks.positive_int(rank, "rank", upper=s.shape[0] - 1)
  return float(s[rank]) / 4


def best_value_approximation(u: Any, w_q: Any, w_k: Any, w_v: Any, rank: int) -> jax.Array:
  """The rank-r W~_V [d, d] minimising ||(W_V - W~_V) U G||, G = softmax(U^T W_Q^T W_K U /
  sqrt(d)) (single head, §3), in both the 2- and the Frobenius norm.

  W~_V = P_r W_V with P_r the projector onto the leading r left singular vectors of W_V U G:
  W~_V U G is then the truncated SVD of W_V U G (Eckart–Young), and no rank-r matrix is
  closer. The minimum 2-norm error is sigma_{r+1}(W_V U G).
  """
  u = checks.matrix(u, "u")
  d = u.shape[0]
  w_v = _square(w_v, "w_v", d)
  rank = checks.positive_int(rank, "rank", upper=d)
  w_q, w_k = _square(w_q, "w_q", d), _square(w_k, "w_k", d)
  dtype = jnp.result_type(u.dtype, w_q.dtype, w_k.dtype, w_v.dtype)
  return _best_value(*(x.astype(dtype) for x in (u, w_q, w_k, w_v)), jnp.asarray(rank))


@jax.jit
def _best_value(u_DxL, w_q, w_k, w_v_DxD, rank):
  d = u_DxL.shape[0]
  g_LxL = attention.attention_weights(u_DxL, w_q, w_k, num_heads=1, scale=d ** -0.5)[0]
  left_DxD = _left_singular_vectors(w_v_DxD @ u_DxL @ g_LxL)
  # A mask instead of a slice keeps the rank a traced value: one compilation for every rank.
  left_DxD = left_DxD * (jnp.arange(left_DxD.shape[1]) < rank)
  return left_DxD @ (left_DxD.T @ w_v_DxD)
