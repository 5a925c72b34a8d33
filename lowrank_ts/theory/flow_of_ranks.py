"""Flow-of-ranks: Theorem 4 (upper bound eq. (5), lower-bound construction and eq. (6)) and
Corollary 1, in the paper's convention (tokens are columns, U in R^{d x L}).

The layer is Z = U + Y / sqrt(D), Y = MH-Attention(U; W_Q, W_K, W_V, h) of eq. (18)
(:func:`lowrank_ts.attention.residual_attention_layer`); ``sigma`` always denotes the singular
values 1 = sigma_1 >= ... >= sigma_d > 0 of U, as Theorem 4 requires, and d = len(sigma).

Bounds are numpy float64 arrays indexed by k - 1 (entry k - 1 bounds sigma_k(Z)).

Where this module departs from the printed text (appendix F), the docstrings say so:

- eq. (26), sigma_k(Z) <= sigma_{k-j+1} + e^2 h / sqrt(D) sigma_{floor((j-1)/h)+1}, holds for
  every D >= 1; only the normalisation by sigma_1(Z) in eq. (5) needs sqrt(D) >= 2 e^2 h
  (eq. (27)). :func:`theorem4_singular_value_bound` is eq. (26), :func:`theorem4_upper_bound`
  eq. (5).
- Corollary 1's upper bound is proved for the index floor((k-1)/(h+1)) + 1, not the printed
  floor((k+1)/(h+1)) + 1 (the proof's last step mis-evaluates ((hk+1)/(h+1) - 1)/h =
  (k-1)/(h+1)); the printed index is false (h = 1, k = 1 with W_V = 0 gives Z = U).
- Corollary 1's lower bound needs ceil(k/h) < d_h, i.e. k <= d - h; the printed range
  k <= d - d_h is wider when d_h < h, and there the construction violates it.
- The lower-bound construction needs ||W_Q^(i)T W_K^(i)||_2 ~ alpha sqrt(d_h) /
  (sigma_{d_h} sigma_d), far outside Theorem 4 (1)'s ||W_Q^(i)T W_K^(i)||_2 <= sqrt(d_h): the
  "tightness" of eq. (6) is shown with weights that the upper bound eq. (5) does not cover.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from lowrank_ts import checks

__all__ = [
    "theorem4_min_depth",
    "theorem4_singular_value_bound",
    "theorem4_upper_bound",
    "theorem4_hypotheses",
    "theorem4_scale_weights",
    "Theorem4Construction",
    "theorem4_lower_bound_construction",
    "theorem4_ideal_attention",
    "theorem4_lower_bound",
    "corollary1_upper_bound",
    "corollary1_lower_bound",
    "weyl_ratio_bound",
]

_E2 = math.e ** 2


# ----------------------------------------------------------------------------- validation
def _matrix64(x: Any, name: str) -> np.ndarray:
  checks.matrix(x, name)
  return np.asarray(x, dtype=np.float64)


def _spectrum(sigma: Any, name: str = "sigma") -> np.ndarray:
  """Theorem 4's singular values: 1-D, 1 = sigma_1 >= ... >= sigma_d > 0."""
  s = checks.spectrum(sigma, name)
  if abs(s[0] - 1.0) > 1e-12:  # relative_spectrum gives exactly 1; allow last-bit rounding
    raise ValueError(f"{name}[0] must be 1 (Theorem 4 normalises sigma_1 = 1), got {s[0]}")
  return s


def _head_dim(num_heads: Any, d: int) -> int:
  return checks.divides(num_heads, d, "num_heads", "d = len(sigma)")


def _at(s: np.ndarray, index: np.ndarray) -> np.ndarray:
  """sigma_index with the paper's 1-based index."""
  return s[np.asarray(index) - 1]


# ----------------------------------------------------------------------------- upper bound
def theorem4_min_depth(num_heads: int) -> int:
  """The smallest D with sqrt(D) >= 2 e^2 h, Theorem 4 (1)'s hypothesis (D >= 219 for h = 1)."""
  h = checks.positive_int(num_heads, "num_heads")
  depth = math.ceil((2 * _E2 * h) ** 2)
  while math.sqrt(depth) < 2 * _E2 * h:  # guard the float rounding of the square
    depth += 1
  return depth


def _weyl_min(s: np.ndarray, h: int, coeff: float) -> np.ndarray:
  """min_{1<=j<=k} sigma_{k-j+1} + coeff * sigma_{floor((j-1)/h)+1}, for k = 1..d."""
  d = s.shape[0]
  k = np.arange(1, d + 1)[:, None]
  j = np.arange(1, d + 1)[None, :]
  valid = j <= k
  first = _at(s, np.where(valid, k - j + 1, 1))
  second = _at(s, (j - 1) // h + 1)
  return np.min(np.where(valid, first + coeff * second, np.inf), axis=1)


def theorem4_singular_value_bound(sigma: Any, num_heads: int, depth: int) -> np.ndarray:
  """Eq. (26): sigma_k(Z) <= min_{1<=j<=k} sigma_{k-j+1} + e^2 h/sqrt(D) sigma_{floor((j-1)/h)+1}.

  Absolute (not relative to sigma_1(Z)) and valid for *every* D >= 1 under the hypotheses
  ||W_Q^(i)T W_K^(i)||_2 <= sqrt(d_h), ||W_V^(i)||_2 <= 1: the proof uses sqrt(D) >= 2 e^2 h
  only in eq. (27). This is the bound that survives at D = 1 (Corollary 1). Returns [d].
  """
  s = _spectrum(sigma)
  h = checks.positive_int(num_heads, "num_heads")
  _head_dim(h, s.shape[0])
  depth = checks.positive_int(depth, "depth")
  return _weyl_min(s, h, _E2 * h / math.sqrt(depth))


def theorem4_upper_bound(sigma: Any, num_heads: int, depth: int) -> np.ndarray:
  """Eq. (5): sigma_k(Z)/sigma_1(Z) <= 2 min_{1<=j<=k} (sigma_{k-j+1}
  + e^2 h/sqrt(D) sigma_{floor((j-1)/h)+1}) for k = 1..d; returns [d].

  Theorem 4 (1) needs sqrt(D) >= 2 e^2 h (for sigma_1(Z) >= 1/2, eq. (27)); a smaller ``depth``
  raises. Without it eq. (5) is false (at D = 1, W_V = -I and a mean-free U plus a constant
  column direction give Z = U (I - 11^T/L), whose top singular value can be tiny).
  """
  s = _spectrum(sigma)
  h = checks.positive_int(num_heads, "num_heads")
  _head_dim(h, s.shape[0])
  depth = checks.positive_int(depth, "depth")
  if math.sqrt(depth) < 2 * _E2 * h:
    raise ValueError(f"depth={depth} must satisfy sqrt(depth) >= 2 e^2 num_heads, i.e. depth >= "
                     f"{theorem4_min_depth(h)} (Theorem 4 (1))")
  return 2 * _weyl_min(s, h, _E2 * h / math.sqrt(depth))


def _head_blocks(w: Any, name: str, num_heads: int, d: int) -> np.ndarray:
  w = _matrix64(w, name)
  if w.shape[1] != d:
    raise ValueError(f"{name} must have d={d} columns, got shape {w.shape}")
  rows = checks.divides(num_heads, w.shape[0], "num_heads", f"rows of {name}")
  return w.reshape(num_heads, rows, d)


def _qk_norms(q: np.ndarray, k: np.ndarray) -> np.ndarray:
  """||W_Q^(i)T W_K^(i)||_2 per head from blocks [h, d_h, d], via QR (no d x d product)."""
  _, r_q = np.linalg.qr(np.swapaxes(q, 1, 2))
  _, r_k = np.linalg.qr(np.swapaxes(k, 1, 2))
  return np.linalg.svd(r_q @ np.swapaxes(r_k, 1, 2), compute_uv=False)[:, 0]


def _row_block_norms(v: np.ndarray) -> np.ndarray:
  """||W_V^(i)||_2 per head from blocks [h, d_h, d]."""
  return np.sqrt(np.linalg.eigvalsh(v @ np.swapaxes(v, 1, 2))[:, -1].clip(min=0))


def theorem4_hypotheses(u: Any, w_q: Any, w_k: Any, w_v: Any, num_heads: int,
                        depth: int) -> dict:
  """Measures Theorem 4 (1)'s hypotheses on dense weights (each [d, d]) and U [d, L].

  Returns floats ``sigma_1`` (of U; must be 1), ``max_column_norm`` (<= 1 follows),
  ``qk_ratio`` = max_i ||W_Q^(i)T W_K^(i)||_2 / sqrt(d_h) (<= 1), ``v_norm`` =
  max_i ||W_V^(i)||_2 (<= 1), ``depth_ratio`` = sqrt(D) / (2 e^2 h) (>= 1), ``d_le_L`` and
  ``satisfied`` (all of them, with 1e-9 relative slack for round-off).
  """
  u = _matrix64(u, "u")
  d, length = u.shape
  h = checks.positive_int(num_heads, "num_heads")
  d_h = checks.divides(h, d, "num_heads", "d (rows of u)")
  depth = checks.positive_int(depth, "depth")
  q = _head_blocks(w_q, "w_q", h, d)
  k = _head_blocks(w_k, "w_k", h, d)
  v = _head_blocks(w_v, "w_v", h, d)
  out = {
      "sigma_1": float(np.linalg.norm(u, 2)),
      "max_column_norm": float(np.linalg.norm(u, axis=0).max()),
      "qk_ratio": float(_qk_norms(q, k).max() / math.sqrt(d_h)),
      "v_norm": float(_row_block_norms(v).max()),
      "depth_ratio": math.sqrt(depth) / (2 * _E2 * h),
      "d_le_L": bool(d <= length),
  }
  slack = 1 + 1e-9
  out["satisfied"] = bool(abs(out["sigma_1"] - 1) <= 1e-9 and out["qk_ratio"] <= slack
                          and out["v_norm"] <= slack and out["depth_ratio"] >= 1
                          and out["d_le_L"])
  return out


def theorem4_scale_weights(w_q: Any, w_k: Any, w_v: Any, num_heads: int):
  """Rescales dense weights head by head onto the boundary of Theorem 4 (1)'s hypotheses.

  W_V^(i) <- W_V^(i) / ||W_V^(i)||_2 and W_Q^(i), W_K^(i) <- c_i W_Q^(i), c_i W_K^(i) with
  c_i^2 = sqrt(d_h) / ||W_Q^(i)T W_K^(i)||_2, so ||W_Q^(i)T W_K^(i)||_2 = sqrt(d_h) and
  ||W_V^(i)||_2 = 1 (the largest weights the theorem allows, directions unchanged).
  Returns (w_q, w_k, w_v) as float64 numpy arrays [d, d].
  """
  w_q = _matrix64(w_q, "w_q")
  d = w_q.shape[1]
  h = checks.positive_int(num_heads, "num_heads")
  q = _head_blocks(w_q, "w_q", h, d)
  k = _head_blocks(w_k, "w_k", h, d)
  v = _head_blocks(w_v, "w_v", h, d)
  d_h = q.shape[1]
  qk = _qk_norms(q, k)
  vn = _row_block_norms(v)
  if np.any(qk == 0) or np.any(vn == 0):
    raise ValueError("every head of w_q^T w_k and of w_v must be non-zero to be rescaled")
  c = np.sqrt(math.sqrt(d_h) / qk)[:, None, None]
  return ((q * c).reshape(-1, d), (k * c).reshape(-1, d),
          (v / vn[:, None, None]).reshape(-1, d))


# ----------------------------------------------------------------------------- lower bound
class Theorem4Construction(NamedTuple):
  """Appendix F's lower-bound instance: U = [diag(sigma) | 0] and weights [d, d] (float64).

  ``alpha`` is the score magnitude (the scaled scores are alpha P^(i)); ``epsilon`` =
  sqrt(D) sigma_d / (5h) is the target for ||G^(i) - G~^(i)||_2 that alpha guarantees.
  """
  u: np.ndarray
  w_q: np.ndarray
  w_k: np.ndarray
  w_v: np.ndarray
  alpha: float
  epsilon: float


def theorem4_lower_bound_construction(sigma: Any, num_heads: int, length: int,
                                      depth: int) -> Theorem4Construction:
  """The lower-bound construction of Theorem 4 (2) (appendix F), reconstructed.

  With d_h = d / h and head i's block B_i = {(i-1)d_h + 1, ..., i d_h}:

  - U = [diag(sigma_1..sigma_d) | 0_{d x (L-d)}] (needs L >= d);
  - W_V^(i) = [I_{d_h-1} 0; 0 0] in R^{d_h x d}: every head reads coordinates 1..d_h-1;
  - W_Q^(i) = alpha sqrt(d_h) [diag(sigma_1^-1..sigma_{d_h}^-1) | 0], so the query of token
    a <= d_h is alpha sqrt(d_h) e_a (the sqrt(d_h) cancels eq. (18)'s 1/sqrt(d_h));
  - W_K^(i): column b in B_i is sigma_b^-1 e_{b-(i-1)d_h}, column b not in B_i is
    sigma_b^-1 e_{d_h}. (The printed W_K has a (d_h - 1)-row block holding a d_h x d_h
    diagonal; this is the matrix that gives the printed T^(i) = alpha P^(i).)

  Then the scaled scores are alpha P^(i) with P^(i)(1:d_h, B_i) = I_{d_h} and P^(i)(d_h, b) = 1
  for b <= (i-1)d_h and i d_h < b <= d (printed as "k < (i-1)d_h" and "k > i d_h"), zero
  elsewhere; columns b > d are zero, so softmax spreads them uniformly. Every column b <= d
  has one entry alpha and L - 1 zeros, so ||G - G~||_2 <= ||G - G~||_F
  = sqrt(d L (L-1)) / (e^alpha + L - 1); alpha = log(sqrt(d L (L-1)) / epsilon) makes this
  <= epsilon = sqrt(D) sigma_d / (5h).
  """
  s = _spectrum(sigma)
  d = s.shape[0]
  h = checks.positive_int(num_heads, "num_heads")
  d_h = _head_dim(h, d)
  length = checks.positive_int(length, "length")
  if length < d:
    raise ValueError(f"length={length} must be >= d={d} (Theorem 4 needs d <= L)")
  depth = checks.positive_int(depth, "depth")
  epsilon = math.sqrt(depth) * s[-1] / (5 * h)
  alpha = math.log(max(math.sqrt(d * length * (length - 1)) / epsilon, 1.0))
  u = np.zeros((d, length))
  u[np.arange(d), np.arange(d)] = s
  w_q = np.zeros((h, d_h, d))
  w_k = np.zeros((h, d_h, d))
  w_v = np.zeros((h, d_h, d))
  for i in range(h):
    w_q[i, np.arange(d_h), np.arange(d_h)] = alpha * math.sqrt(d_h) / s[:d_h]
    block = np.arange(i * d_h, (i + 1) * d_h)
    w_k[i, np.arange(d_h), block] = 1 / s[block]
    outside = np.setdiff1d(np.arange(d), block)
    w_k[i, d_h - 1, outside] = 1 / s[outside]
    w_v[i, np.arange(d_h - 1), np.arange(d_h - 1)] = 1.0
  return Theorem4Construction(u, w_q.reshape(d, d), w_k.reshape(d, d), w_v.reshape(d, d),
                              alpha, epsilon)


def theorem4_ideal_attention(num_heads: int, d: int, length: int) -> np.ndarray:
  """G~^(i) of appendix F, the alpha -> infinity limit of the construction's attention.

  [h, L, L]; column b of head i is e_{b-(i-1)d_h} for b in B_i, e_{d_h} for b <= d outside
  B_i, and the uniform 1/L for b > d (columns sum to 1, the softmax convention of eq. (18)).
  """
  h = checks.positive_int(num_heads, "num_heads")
  d = checks.positive_int(d, "d")
  d_h = checks.divides(h, d, "num_heads", "d")
  length = checks.positive_int(length, "length")
  if length < d:
    raise ValueError(f"length={length} must be >= d={d}")
  g = np.zeros((h, length, length))
  g[:, :, d:] = 1 / length
  for i in range(h):
    for b in range(d):
      row = b - i * d_h if i * d_h <= b < (i + 1) * d_h else d_h - 1
      g[i, row, b] = 1.0
  return g


def theorem4_lower_bound(sigma: Any, num_heads: int, depth: int) -> np.ndarray:
  """Eq. (6) for the construction: entry [i-1, k-1] is
  (1/4)(sigma_{(i-1)d_h + ceil(k/i)} + sigma_{ceil(k/i)} / sqrt(D)), a lower bound on
  sigma_k(Z)/sigma_1(Z), for every head count i <= h with ceil(k/i) < d_h; NaN elsewhere.

  Returns [h, d]. Take ``np.nanmax(..., axis=0)`` for the best bound per k (all-NaN columns
  have no bound). The printed statement's index (i-1)d_h + ceil(k/i) is what the proof's
  xi_{i,j} ordering gives (i ceil(k/i) >= k diagonal entries of Z_lead are >= xi).
  """
  s = _spectrum(sigma)
  d = s.shape[0]
  h = checks.positive_int(num_heads, "num_heads")
  d_h = _head_dim(h, d)
  depth = checks.positive_int(depth, "depth")
  i = np.arange(1, h + 1)[:, None]
  k = np.arange(1, d + 1)[None, :]
  m = -(-k // i)  # ceil(k / i)
  ok = m < d_h
  safe_m = np.where(ok, m, 1)
  value = 0.25 * (_at(s, (i - 1) * d_h + safe_m) + _at(s, safe_m) / math.sqrt(depth))
  return np.where(ok, value, np.nan)


# ----------------------------------------------------------------------------- Corollary 1
def corollary1_upper_bound(sigma: Any, num_heads: int) -> np.ndarray:
  """Corollary 1 (D = 1), upper bound with explicit constant: for k = 1..d,

      sigma_k(Z) <= (1 + e^2 h) sigma_{floor((k-1)/(h+1)) + 1}.

  From eq. (26) at D = 1 with j = floor((hk+1)/(h+1)): sigma_{k-j+1} = sigma_{ceil((k+h)/(h+1))}
  and sigma_{floor((j-1)/h)+1} = sigma_{floor((k-1)/(h+1))+1}, the larger of the two. The
  printed index floor((k+1)/(h+1)) + 1 is an arithmetic slip and is false (see module
  docstring); floor((k-1)/(h+1)) + 1 is the best any j in eq. (26) gives. Returns [d].
  """
  s = _spectrum(sigma)
  h = checks.positive_int(num_heads, "num_heads")
  _head_dim(h, s.shape[0])
  k = np.arange(1, s.shape[0] + 1)
  return (1 + _E2 * h) * _at(s, (k - 1) // (h + 1) + 1)


def corollary1_lower_bound(sigma: Any, num_heads: int) -> np.ndarray:
  """Corollary 1 (D = 1), lower bound for the construction of Theorem 4 (2):

      sigma_k(Z) >= (4/5) sigma_{ceil(k/h)}   for k <= d - h (i.e. ceil(k/h) < d_h),

  and sigma_k(Z)/sigma_1(Z) >= (1/4) sigma_{ceil(k/h)} (eq. (6) with i = h). NaN for larger k:
  the printed range k <= d - d_h is the same when d_h >= h but wider when d_h < h, where the
  construction's sigma_k(Z) can be sigma_{2 d_h} << sigma_{d_h}. Returns [d].
  """
  s = _spectrum(sigma)
  h = checks.positive_int(num_heads, "num_heads")
  d_h = _head_dim(h, s.shape[0])
  k = np.arange(1, s.shape[0] + 1)
  m = -(-k // h)
  ok = m < d_h
  return np.where(ok, 0.8 * _at(s, np.where(ok, m, 1)), np.nan)



# ----------------------------------------------------------------------------- yardstick
def weyl_ratio_bound(sigma: Any, perturbation_norm: float) -> np.ndarray:
  """What Weyl's inequality alone gives for Z = U + E with ||E||_2 <= ``perturbation_norm``:

      sigma_k(Z) / sigma_1(Z) <= (sigma_k + e) / (sigma_1 - e),   e = ||E||_2,

  (inf where e >= sigma_1). A bound on sigma_k(Z)/sigma_1(Z) that is >= this at every k says
  nothing the norm of the perturbation did not already imply: checking it cannot fail for a
  Z with that ||E||. ``sigma`` [d] are U's singular values (non-increasing). Returns [d].
  """
  s = checks.spectrum(sigma, "sigma")
  e = float(perturbation_norm)
  if not math.isfinite(e) or e < 0:
    raise ValueError(f"perturbation_norm must be finite and >= 0, got {perturbation_norm}")
  denominator = s[0] - e
  if denominator <= 0:
    return np.full(s.shape, np.inf)
  return (s + e) / denominator
