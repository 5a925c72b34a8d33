"""Tests for lowrank_ts.theory.sketching: Theorem 6 (appendix E, proof E.1) and its errata."""

import math

import jax
import numpy as np
import pytest

from lowrank_ts import attention, spectral
from lowrank_ts.theory import sketching as sk

# (d, h, L): small and large h (d_h from 2 to 12), L = d and L >> d.
SHAPES = [(4, 2, 4), (6, 3, 30), (8, 2, 8), (8, 4, 16), (12, 2, 60), (12, 6, 12),
          (16, 4, 16), (16, 8, 64), (24, 3, 48), (24, 12, 24)]


def _spectrum(rng, d, kind):
  if kind == "uniform":
    s = np.sort(rng.uniform(1e-3, 1.0, d))[::-1]
  elif kind == "geometric":
    s = rng.uniform(0.2, 0.95) ** np.arange(d)
  elif kind == "flat":
    s = np.full(d, rng.uniform(0.1, 1.0))
  elif kind == "steps":
    s = np.repeat(np.sort(rng.uniform(1e-2, 1.0, d // 2))[::-1], 2)
  else:  # "unit-top": sigma_1 = 1, the rest random
    s = np.concatenate([[1.0], np.sort(rng.uniform(1e-4, 1.0, d - 1))[::-1]])
  return s


def _instances(seed):
  """50 instances: every shape with five kinds of spectra, C in [1, 10], and d~ at both ends of
  its range 1 <= d~ < d_h (two values per shape keep the number of jit compilations small)."""
  rng = np.random.default_rng(seed)
  for d, h, length in SHAPES:
    for n, kind in enumerate(("uniform", "geometric", "flat", "steps", "unit-top")):
      s = _spectrum(rng, d, kind)
      stability = float(rng.uniform(1.0, 10.0))
      d_tilde = 1 if n % 2 else d // h - 1
      yield s, h, length, stability, d_tilde


def _output(c, w_q=None, w_k=None, w_v=None):
  return np.asarray(attention.multi_head_attention(
      c.u, c.w_q if w_q is None else w_q, c.w_k if w_k is None else w_k,
      c.w_v if w_v is None else w_v, c.num_heads))


# ----------------------------------------------------------------------------- construction
def test_interleaving_and_input_spectrum():
  s = np.linspace(1.0, 0.1, 12)
  inter = sk.interleaved_spectrum(s, 3)
  for i in range(3):
    for j in range(4):
      assert inter[i, j] == s[j * 3 + i]  # sigma^(i)_j = sigma_{(j-1)h+i}, 1-based
  with spectral.float64():
    c = sk.theorem6_construction(s, 3, 20)
    # float64 SVD of a diagonal matrix: exact up to round-off.
    np.testing.assert_allclose(spectral.singular_values(c.u), s, rtol=1e-14)
  np.testing.assert_array_equal(c.w_v, np.eye(12))


@pytest.mark.parametrize("count,dim", [(1, 1), (5, 2), (8, 3), (24, 4), (40, 7)])
def test_separated_unit_vectors(count, dim):
  v = sk.separated_unit_vectors(count, dim)
  assert v.shape == (count, dim)
  np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-14)  # round-off
  gram = np.abs(v @ v.T)[~np.eye(count, dtype=bool)]
  assert gram.size == 0 or gram.max() < 1 - 1e-6  # pairwise non-parallel, well separated


def test_scores_structure_and_eq21():
  """U^T W̄^T W̄ U: ones on the diagonal, |.| < 1 off it, zero outside d x d; eq. (21)."""
  for s, h, length, stability, _ in _instances(0):
    d = s.shape[0]
    with spectral.float64():
      c = sk.theorem6_construction(s, h, length, stability)
      g = np.asarray(attention.attention_weights(c.u, c.w_q, c.w_k, h))
    w_bar = c.w_q[: d // h] / c.alpha
    scores = c.u.T @ w_bar.T @ w_bar @ c.u
    np.testing.assert_allclose(np.diag(scores)[:d], 1.0, rtol=1e-12)  # round-off of v/s*s
    off = np.abs(scores[:d, :d] - np.diag(np.diag(scores[:d, :d])))
    assert off.max() < 1
    assert not scores[d:].any() and not scores[:, d:].any()
    limit = sk.theorem6_limit_attention(d, length)
    for head in range(h):
      assert np.linalg.norm(g[head] - limit) <= c.eps  # eq. (21), exact inequality


# ----------------------------------------------------------------------------- claim 1
def test_claim1_holds_for_optimal_random_and_adversarial_value_matrices():
  rng = np.random.default_rng(1)
  for s, h, length, stability, d_tilde in _instances(1):
    d = s.shape[0]
    bound = sk.theorem6_value_lower_bound(s, h, d_tilde)
    assert bound == s[d_tilde] / 2
    with spectral.float64():
      c = sk.theorem6_construction(s, h, length, stability)
      y = _output(c)
      candidates = [np.asarray(sk.theorem6_best_value_approximation(c, d_tilde))]
      for _ in range(3):  # random rank-d~ W~_V at the norm limit ||W~_V||_F = C ||I||_F
        w = rng.normal(size=(d, d_tilde)) @ rng.normal(size=(d_tilde, d))
        candidates.append(w * stability * math.sqrt(d) / np.linalg.norm(w))
      for w in candidates:
        assert np.linalg.matrix_rank(w) <= d_tilde
        assert np.linalg.norm(w) <= stability * math.sqrt(d) * (1 + 1e-12)  # round-off
        error = np.linalg.norm(y - _output(c, w_v=w), 2)
        assert error >= bound


def test_claim1_optimum_is_within_the_proven_window():
  """The best rank-d~ W~_V errs by s_{d~+1}(U G), which lies in
  [sigma_{d~+1} - sigma_1 eps, sqrt(1 + d(L-d)/L^2) sigma_{d~+1} + sigma_1 eps]
  (Weyl, and s_k(U_D M) <= s_k(U_D) ||M||_2 for U G~ = U_D [I | 11^T/L]): the lower bound
  sigma_{d~+1}/2 is attained up to its factor 2 (and this is sharper than the paper's proof)."""
  for s, h, length, stability, d_tilde in _instances(2):
    d = s.shape[0]
    with spectral.float64():
      c = sk.theorem6_construction(s, h, length, stability)
      y = _output(c)
      w = sk.theorem6_best_value_approximation(c, d_tilde)
      error = np.linalg.norm(y - _output(c, w_v=w), 2)
    # 1e-12 relative: float64 round-off of the SVD and the attention.
    assert error >= (s[d_tilde] - s[0] * c.eps) * (1 - 1e-12)
    upper = math.sqrt(1 + d * (length - d) / length ** 2) * s[d_tilde] + s[0] * c.eps
    assert error <= upper * (1 + 1e-12)
    # sqrt(5/4) + 1/4 < 1.4 (d(L-d)/L^2 <= 1/4, sigma_1 eps <= sigma_d/4): within 2.8x the bound.
    assert error <= 2.8 * sk.theorem6_value_lower_bound(s, h, d_tilde)


def test_erratum_eq22_trailing_term_exceeds_the_papers_bound():
  """Eq. (22) claims E_trail <= (1 + C) eps = sigma_{d~+1}/2 for every admissible W~_V; with
  alpha tuned so that ||G - G~||_F = eps exactly and W~_V = -C sqrt(d) y y^T (rank 1,
  ||W~_V||_F = C ||W_V||_F), E_trail is ~1.6x larger. The statement itself still holds."""
  s, h, length, stability, d_tilde = np.ones(16), 4, 16, 10.0, 1
  d = s.shape[0]
  limit = sk.theorem6_limit_attention(d, length)
  with spectral.float64():
    c = sk.theorem6_construction(s, h, length, stability)

    def attention_at(alpha):
      scale = alpha / c.alpha
      return np.asarray(attention.attention_weights(c.u, c.w_q * scale, c.w_k * scale, h)[0])

    low, high = 0.1, c.alpha  # bisection for ||G(alpha) - G~||_F = eps
    for _ in range(60):
      mid = (low + high) / 2
      low, high = (mid, high) if np.linalg.norm(attention_at(mid) - limit) > c.eps else (low, mid)
    g = attention_at(high)
  assert np.linalg.norm(g - limit) <= c.eps
  trail = c.u @ (g - limit)
  y_dir = np.linalg.svd(trail)[0][:, 0]
  w = -stability * math.sqrt(d) * np.outer(y_dir, y_dir)
  e_trail = np.linalg.norm((np.eye(d) - w) @ trail, 2)
  assert e_trail > 1.5 * (1 + stability) * c.eps  # the paper's eq. (22) fails
  error = np.linalg.norm(c.u @ g - w @ c.u @ g, 2)
  assert error >= sk.theorem6_value_lower_bound(s, h, d_tilde)  # claim 1 does not


# ----------------------------------------------------------------------------- claim 2
def _dense_rows(sketch, d):
  """W_2^(i) of a SparseHeadSketch as numpy [h, r, d] (numpy: no jit compile per shape)."""
  values, cols = np.asarray(sketch.values), np.asarray(sketch.cols)
  dense = np.zeros(values.shape[:2] + (d,))
  for i in range(values.shape[0]):
    for t in range(values.shape[1]):
      np.add.at(dense[i, t], cols[i, t], values[i, t])
  return dense


def _dense(sketch, d):
  return np.einsum("hmr,hrd->hmd", np.asarray(sketch.w1), _dense_rows(sketch, d)).reshape(-1, d)


def test_claim2_holds_with_stable_sparse_sketches():
  """On 50 instances (dense forms of the sketches: one jit compile per shape); the sparse
  path itself is compared with the dense one in the next test."""
  for s, h, length, stability, d_tilde in _instances(3):
    d = s.shape[0]
    head_dim = d // h
    c = sk.theorem6_construction(s, h, length, stability)
    w_q, w_k, w_v = sk.theorem6_head_sketches(c, d_tilde)
    dense = [_dense(w, d) for w in (w_q, w_k, w_v)]
    with spectral.float64():
      error_HxDhxL = (_output(c) - _output(c, *dense)).reshape(h, head_dim, -1)
    bound = sk.theorem6_head_sketch_upper_bound(s, h, d_tilde)
    assert bound == 4 * math.sqrt(h) * s[h * d_tilde]
    assert np.linalg.norm(error_HxDhxL.reshape(d, -1), 2) <= bound
    per_head = sk.interleaved_spectrum(s, h)[:, d_tilde]  # sigma^(i)_{d~+1} = sigma_{hd~+i}
    for i in range(h):
      assert np.linalg.norm(error_HxDhxL[i], 2) <= 4 * per_head[i]  # last display of E.1
    # Ranks d~+1 (Q, K) and d~ (V), and the Frobenius stability of the statement.
    assert np.asarray(w_q.w1).shape == np.asarray(w_k.w1).shape == (h, head_dim, d_tilde + 1)
    assert np.asarray(w_v.w1).shape == (h, head_dim, d_tilde)
    for mat, ref in zip(dense, (c.w_q, c.w_k, c.w_v)):
      assert np.linalg.norm(mat) <= np.linalg.norm(ref) * (1 + 1e-12)  # round-off
    # ||W~_K^(i)||_F = ||alpha W̄_K||_F for every head (1e-12: round-off).
    heads_k = dense[1].reshape(h, head_dim, d)
    np.testing.assert_allclose(np.linalg.norm(heads_k, axis=(1, 2)),
                               np.linalg.norm(c.w_k[:head_dim]), rtol=1e-12)


@pytest.mark.parametrize("d,h,length,d_tilde", [(12, 3, 40, 2)])
def test_claim2_sparse_path_equals_dense(d, h, length, d_tilde):
  s = np.linspace(1.0, 0.05, d)
  c = sk.theorem6_construction(s, h, length)
  sketches = sk.theorem6_head_sketches(c, d_tilde)
  with spectral.float64():
    sparse = _output(c, *sketches)
    dense = _output(c, *(_dense(w, d) for w in sketches))
    for w in sketches:  # the library's densification agrees with ours (round-off)
      np.testing.assert_allclose(attention.to_dense(w, d), _dense(w, d), rtol=1e-12, atol=0)
  # Same products in another order: float64 round-off on scores of order alpha^2 ~ 1e2.
  np.testing.assert_allclose(sparse, dense, rtol=0, atol=1e-10)


def test_claim2_sparsity_pattern_and_erratum():
  """Q and V: every row of W_2^(i) has one non-zero. K: the last row of W_{K,2}^(i) has
  d - d~ > d_h non-zeros for EVERY head i, not only i = h as the statement says."""
  s, h, length, d_tilde = np.linspace(1, 0.05, 24), 4, 24, 2
  d, head_dim = 24, 6
  c = sk.theorem6_construction(s, h, length)
  w_q, w_k, w_v = sk.theorem6_head_sketches(c, d_tilde)
  assert ((_dense_rows(w_q, d) != 0).sum(-1) == 1).all()
  assert ((_dense_rows(w_v, d) != 0).sum(-1) == 1).all()
  nnz_k = (_dense_rows(w_k, d) != 0).sum(-1)
  assert (nnz_k[:, :d_tilde] == 1).all()
  assert (nnz_k[:, d_tilde] == d - d_tilde).all() and d - d_tilde > head_dim


def _steep_instance():
  """h = 4, a steep spectrum and v_1^(2) close to v_1^(1) (an admissible choice of vectors)."""
  d, h, d_tilde = 16, 4, 1
  s = 0.3 ** np.arange(d)
  v = sk.separated_unit_vectors(d, d // h)
  tilted = v[0] + 0.5 * v[1] if abs(v[0] @ v[1]) < 0.9 else v[0] + 0.5 * v[2]
  v[d // h] = tilted / np.linalg.norm(tilted)
  return s, h, d_tilde, v


def test_erratum_literal_absorbing_query_scale_breaks_claim2():
  """Paper: last row of W_{Q,R}^(1) = [0, 1/sigma_{d~+1}, 0...]. With the interleaved U that
  scales the absorbing query by sigma_{hd~+1}/sigma_{d~+1} = 0.3^3 and a kept token wins the
  arg-max; the corrected 1/sigma^(1)_{d~+1} satisfies the bound."""
  s, h, d_tilde, v = _steep_instance()
  with spectral.float64():
    c = sk.theorem6_construction(s, h, 16, vectors=v)
    w_q, w_k, w_v = sk.theorem6_head_sketches(c, d_tilde)
    literal = np.asarray(w_q.values).copy()
    assert w_q.cols[0, d_tilde, 0] == d_tilde
    literal[0, d_tilde, 0] = 1 / s[d_tilde]
    y = _output(c)
    corrected = np.linalg.norm(y - _output(c, w_q, w_k, w_v), 2)
    paper = np.linalg.norm(y - _output(c, w_q._replace(values=literal), w_k, w_v), 2)
  bound = sk.theorem6_head_sketch_upper_bound(s, h, d_tilde)
  assert corrected <= bound < paper / 10


def test_erratum_literal_key_scale_breaks_frobenius_equality():
  """Paper: last row of W_{K,R}^(i) = [1/sigma_1, ..., 1/sigma_d] (sorted sigma); with the
  interleaved U the identity ||W~_K^(i)||_F = ||alpha W̄_K||_F fails (head 1 exceeds it by 2%
  here, as 1/sigma^(1)_t = 1/sigma_{(t-1)h+1} >= 1/sigma_t)."""
  s, h, d_tilde = 0.9 ** np.arange(16), 4, 3
  c = sk.theorem6_construction(s, h, 16)
  _, w_k, _ = sk.theorem6_head_sketches(c, d_tilde)
  literal = np.asarray(w_k.values).copy()
  literal[:, d_tilde] = 1 / s[np.asarray(w_k.cols)[:, d_tilde]]
  dense = _dense(w_k._replace(values=literal), 16).reshape(h, 4, 16)
  ratio = np.linalg.norm(dense, axis=(1, 2)) / np.linalg.norm(c.w_k[:4])
  corrected = _dense(w_k, 16).reshape(h, 4, 16)
  corrected_ratio = np.linalg.norm(corrected, axis=(1, 2)) / np.linalg.norm(c.w_k[:4])
  np.testing.assert_allclose(corrected_ratio, 1.0, rtol=1e-12)  # the identity, float64
  # The literal one breaks it for head 1 by far more than float64 round-off (1e-12).
  assert abs(ratio[0] - 1) > 1e-3


def test_erratum_h1_absorbing_direction_ties():
  """h = 1: i' = mod(1, 1) + 1 = 1, the absorbing direction v_1^(1) is a kept direction, the
  softmax ties and the error is ~sigma_1/2; v_{d~+1}^(1) (what we use) meets the bound."""
  s, d_tilde = 0.2 ** np.arange(8), 2
  with spectral.float64():
    c = sk.theorem6_construction(s, 1, 8)
    w_q, w_k, w_v = sk.theorem6_head_sketches(c, d_tilde)
    w1 = np.asarray(w_q.w1).copy()
    w1[0, :, d_tilde] = c.alpha * c.vectors[0]  # the paper's v_1^(i'), i' = 1
    y = _output(c)
    paper = np.linalg.norm(y - _output(c, w_q._replace(w1=w1), w_k._replace(w1=w1), w_v), 2)
    corrected = np.linalg.norm(y - _output(c, w_q, w_k, w_v), 2)
  bound = sk.theorem6_head_sketch_upper_bound(s, 1, d_tilde)
  assert corrected <= bound < paper / 2


# ----------------------------------------------------------------------------- appendix J.2
@pytest.mark.parametrize("d,h,d_tilde", [(64, 1, 4), (64, 4, 4), (96, 6, 2)])
def test_random_sparse_sketch_pattern(d, h, d_tilde):
  w = np.asarray(sk.random_sparse_sketch(jax.random.key(d + h), d, h, d_tilde))
  assert w.shape == (h * d_tilde, d)
  assert ((w != 0).sum(1) == d // h).all()  # exactly d_h per row (N(0,1) is a.s. non-zero)
  assert (w != 0).sum() == d * d_tilde  # the same total for every h
  # the values: standard normal (mean/std of d d~ >= 192 draws, 5 standard errors)
  vals = w[w != 0]
  assert abs(vals.mean()) < 5 / math.sqrt(vals.size) and abs(vals.std() - 1) < 0.3


def test_effective_sketch_rank_and_eckart_young():
  s = np.array([1.0, 0.5, 0.25, 0.1])
  np.testing.assert_array_equal(sk.effective_sketch_rank([2, 1, 0.5, 0.3, 0.1, 0.0], s),
                                [0, 0, 1, 1, 3, 3])
  rng = np.random.default_rng(0)
  x = rng.normal(size=(12, 30))
  sx = np.linalg.svd(x, compute_uv=False)
  left = np.linalg.svd(x)[0]
  with spectral.float64():
    for r in (1, 3, 6):  # the optimal sketch has effective rank r, a random one at most r
      error = spectral.sketching_error(x, left[:, :r].T)  # = sigma_{r+1} up to round-off
      assert sk.effective_sketch_rank(error, sx * (1 + 1e-12)) == r
      assert sk.effective_sketch_rank(
          spectral.sketching_error(x, rng.normal(size=(r, 12))), sx) <= r


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call,name", [
    (lambda: sk.theorem6_construction([0.5, 1.0, 0.2, 0.1], 2, 4), r"^s must be non-increasing"),
    (lambda: sk.theorem6_construction([1.0, 0.5, 0.0, 0.0], 2, 4),
     r"^s must lie in \(0, 1\], got range \[0\.0, 1\.0\]"),
    (lambda: sk.theorem6_construction([2.0, 0.5, 0.2, 0.1], 2, 4),
     r"^s must lie in \(0, 1\], got range \[0\.1, 2\.0\]"),
    (lambda: sk.theorem6_construction([[1.0, 0.5]], 1, 4),
     r"^s must have 1 dimensions, got shape \(1, 2\)"),
    (lambda: sk.theorem6_construction(np.ones(6), 4, 6), "num_heads"),
    (lambda: sk.theorem6_construction(np.ones(4), 4, 4), "num_heads"),  # d_h = 1
    (lambda: sk.theorem6_construction(np.ones(4), 2, 3), "length"),
    (lambda: sk.theorem6_construction(np.ones(4), 2, 4, stability=0.5), "stability"),
    (lambda: sk.theorem6_construction(np.ones(4), 2, 4, vectors=np.ones((4, 2)) / 2 ** .5),
     "vectors"),
    (lambda: sk.theorem6_construction(np.ones(4), 2, 4, vectors=np.eye(4)), "vectors"),
    (lambda: sk.theorem6_value_lower_bound(np.ones(8), 2, 4), "d_tilde"),
    (lambda: sk.theorem6_value_lower_bound(np.ones(8), 2, 0), "d_tilde"),
    (lambda: sk.theorem6_head_sketch_upper_bound(np.ones(8), 3, 1), "num_heads"),
    (lambda: sk.theorem6_head_sketches(sk.theorem6_construction(np.ones(8), 2, 8), 4),
     "d_tilde"),
    (lambda: sk.theorem6_best_value_approximation(
        sk.theorem6_construction(np.ones(8), 2, 8), 5), "d_tilde"),
    (lambda: sk.separated_unit_vectors(3, 1),
     r"^dim=1 admits no 3 pairwise non-parallel unit vectors"),
    (lambda: sk.interleaved_spectrum([1.0, 0.5, 0.2], 2), "num_heads"),
    (lambda: sk.theorem6_limit_attention(5, 4), "length"),
    (lambda: sk.theorem6_alpha(0.0, 4, 4, 2, 0.5), r"^eps must be a finite number > 0, got 0\.0"),
    (lambda: sk.theorem6_alpha(0.1, 4, 4, 2, 1.0), "max_cos"),
    (lambda: sk.random_sparse_sketch(np.zeros(3), 8, 2, 1),
     r"^key must be a JAX PRNG key \(.*\), got dtype float32"),
    (lambda: sk.random_sparse_sketch(jax.random.key(0), 8, 3, 1), "num_heads"),
    (lambda: sk.effective_sketch_rank(0.1, [[1.0]]),
     r"^s must have 1 dimensions, got shape \(1, 1\)"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=name):
    call()
