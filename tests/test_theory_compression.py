"""Theorem 3 / Theorem 5 (appendix D): the construction W~ = W U_r U_r^T, its bound with the
constant K(C) derived from the proof, the lower-bound construction, and the two errata."""

import math

import numpy as np
import pytest

from lowrank_ts import attention as attn
from lowrank_ts import spectral
from lowrank_ts.theory import compression as cp

# (d, N, L, h): L < N, L = N and L >> N; one, several and d heads.
UPPER_CONFIGS = [(4, 6, 3, 1), (8, 5, 40, 2), (12, 30, 30, 3), (12, 7, 90, 12),
                 (16, 24, 6, 4)]


def _orthonormal(rng, m, k):
  return np.linalg.qr(rng.normal(size=(m, k)))[0]


def _vocab(rng, d, n, rank_cut):
  """Xi = U diag(s) V^T [d, n] with a random spectrum scaled so sigma_{rank_cut+1} <= 1."""
  k = min(d, n)
  kind = rng.integers(3)
  if kind == 0:  # log-uniform decay over a random range
    s = np.exp(-np.sort(rng.uniform(0, rng.uniform(1, 12), k)))
  elif kind == 1:  # flat top then a cliff: sigma_{r+1} << sigma_r
    s = np.where(np.arange(k) < rank_cut, 1.0, 10.0 ** -rng.uniform(1, 6))
  else:  # uniform values, no decay to speak of
    s = np.sort(rng.uniform(0.05, 1, k))[::-1]
  s = s * rng.uniform(0.3, 3.0)
  if rank_cut < k and s[rank_cut] > 1:
    s = s / s[rank_cut]
  return _orthonormal(rng, d, k) @ np.diag(s) @ _orthonormal(rng, n, k).T


def _rank(rng, d, n):
  """A truncation rank 1 <= r < d that the vocabulary can supply (r <= N)."""
  return int(rng.integers(1, min(d - 1, n) + 1))


def _weights(rng, d):
  """W_Q, W_K, W_V with a random scale: from near-uniform to very peaked attention."""
  score_scale = 10 ** rng.uniform(-1, 1.5)
  w_q = rng.normal(size=(d, d)) * np.sqrt(score_scale) / d ** 0.25
  w_k = rng.normal(size=(d, d)) * np.sqrt(score_scale) / d ** 0.25
  w_v = rng.normal(size=(d, d)) * 10 ** rng.uniform(-1, 1)
  return w_q, w_k, w_v


def _errors(u, w_q, w_k, w_v, compressed, h):
  """Per-token (max column) and Frobenius norms of MH-Attention(W) - MH-Attention(W~)."""
  dense = [np.asarray(attn.to_dense(x)) for x in compressed[:3]]  # one compiled shape per d
  diff = np.asarray(attn.multi_head_attention(u, w_q, w_k, w_v, h)
                    - attn.multi_head_attention(u, *dense, h))
  return np.linalg.norm(diff, axis=0).max(), np.linalg.norm(diff)


# ----------------------------------------------------------------------------- construction
def test_construction_is_the_projection_and_the_shared_sketch_of_eq_19():
  rng = np.random.default_rng(0)
  d, n, r, h = 12, 30, 4, 3
  with spectral.float64():
    vocab = _vocab(rng, d, n, r)
    w_q, w_k, w_v = _weights(rng, d)
    basis = cp.vocabulary_basis(vocab, r)
    comp = cp.compress_attention(w_q, w_k, w_v, basis)
    proj = np.asarray(basis @ basis.T)
    s = np.linalg.svd(vocab, compute_uv=False)
    # float64 round-off on O(1)..O(10) entries.
    np.testing.assert_allclose(np.asarray(basis.T @ basis), np.eye(r), atol=1e-12)
    assert math.isclose(np.linalg.norm(vocab - proj @ vocab, 2), s[r], rel_tol=1e-9,
                        abs_tol=1e-12)  # Eckart–Young, round-off
    for w, sketch in ((w_q, comp.w_q), (w_k, comp.w_k), (w_v, comp.w_v)):
      assert isinstance(sketch, attn.SharedSketch) and sketch.w2.shape == (r, d)
      dense = np.asarray(attn.to_dense(sketch))
      np.testing.assert_allclose(dense, w @ proj, atol=1e-10)  # round-off, entries <= ~50
      assert np.linalg.matrix_rank(dense) == r
    # The sketch gives the same attention as the dense W~ (eq. 19 applied without forming W~).
    dense_out = attn.multi_head_attention(vocab, *(np.asarray(attn.to_dense(x)) for x in
                                                   comp[:3]), h)
    sketch_out = attn.multi_head_attention(vocab, comp.w_q, comp.w_k, comp.w_v, h)
    np.testing.assert_allclose(dense_out, sketch_out, atol=1e-10)  # float64 round-off


def test_stability_of_the_reduced_matrices_per_head():
  rng = np.random.default_rng(1)
  with spectral.float64():
    for d, n, _, h in UPPER_CONFIGS:
      for _ in range(2):
        r = _rank(rng, d, n)
        vocab = _vocab(rng, d, n, r)
        w_q, w_k, w_v = _weights(rng, d)
        comp = cp.compress_attention(w_q, w_k, w_v, cp.vocabulary_basis(vocab, r))
        q_t, k_t, v_t = (np.asarray(attn.to_dense(x)) for x in comp[:3])
        d_h = d // h
        for i in range(h):
          rows = slice(i * d_h, (i + 1) * d_h)
          orig = np.linalg.norm(w_q[rows].T @ w_k[rows], 2)
          # 1e-12 relative: round-off of the two spectral norms.
          assert np.linalg.norm(q_t[rows].T @ k_t[rows], 2) <= orig * (1 + 1e-12)
          assert np.linalg.norm(v_t[rows], 2) <= np.linalg.norm(w_v[rows], 2) * (1 + 1e-12)
        assert np.linalg.norm(q_t.T @ k_t, 2) <= np.linalg.norm(w_q.T @ w_k, 2) * (1 + 1e-12)
        assert np.linalg.norm(v_t, 2) <= np.linalg.norm(w_v, 2) * (1 + 1e-12)


# ----------------------------------------------------------------------------- upper bound
def test_corrected_upper_bound_holds_on_random_instances():
  """60 instances: per-token error <= K(C) sqrt(d) sigma and Frobenius <= K(C) sqrt(dL) sigma,
  for inputs made of vocabulary columns (with repeats), L < N, L = N, L >> N, 1..d heads."""
  rng = np.random.default_rng(2)
  ratios = []
  with spectral.float64():
    for d, n, seq_len, h in UPPER_CONFIGS:
      ranks = (_rank(rng, d, n), _rank(rng, d, n))  # two ranks per shape: fewer compilations
      for trial in range(12):
        r = ranks[trial % 2]
        vocab = _vocab(rng, d, n, r)
        w_q, w_k, w_v = _weights(rng, d)
        sigma = np.append(np.linalg.svd(vocab, compute_uv=False), np.zeros(d))[r]
        assert sigma <= 1 + 1e-12  # the hypothesis sigma_{r+1} <= 1 (round-off)
        sigma = min(sigma, 1.0)
        c = cp.compression_hypothesis_constant(vocab, w_q, w_k, w_v, h)
        comp = cp.compress_attention(w_q, w_k, w_v, cp.vocabulary_basis(vocab, r))
        u = vocab[:, rng.integers(0, n, seq_len)]
        token_err, frob_err = _errors(u, w_q, w_k, w_v, comp, h)
        token_bound = cp.compression_token_error_bound(c, d, sigma)
        assert token_err <= token_bound + 1e-12  # absolute round-off when sigma = 0
        assert frob_err <= cp.compression_error_bound(c, d, sigma, seq_len) + 1e-12
        if sigma > 1e-8:
          ratios.append(token_err / token_bound)
  # Not vacuous: some instance uses a visible part of the bound.
  assert max(ratios) > 1e-3


def test_upper_bound_constant_is_within_k_over_c_of_attained():
  """Xi = diag(sigma), W_V = C sqrt(d) I, one repeated token x_{r+1}: the per-token error is
  exactly C sqrt(d) sigma_{r+1}, so K(C) cannot be below C (our K(C)/C = 2C^3 + C^2 + 1)."""
  with spectral.float64():
    for d, r, c in ((4, 1, 1.0), (9, 4, 0.5), (16, 10, 2.0)):
      s = np.exp(-np.linspace(0, 3, d))
      vocab = c * np.diag(s)  # columns of norm <= C
      w_q = w_k = np.sqrt(c) * d ** 0.25 * np.eye(d)  # ||W_Q^T W_K|| = C sqrt(d)
      w_v = c * np.sqrt(d) * np.eye(d)
      assert math.isclose(cp.compression_hypothesis_constant(vocab, w_q, w_k, w_v), c)
      comp = cp.compress_attention(w_q, w_k, w_v, cp.vocabulary_basis(vocab, r))
      u = np.repeat(vocab[:, [r]], 5, axis=1)
      token_err, _ = _errors(u, w_q, w_k, w_v, comp, 1)
      sigma = c * s[r]
      np.testing.assert_allclose(token_err, c * np.sqrt(d) * sigma, rtol=1e-10)  # round-off
      assert token_err <= cp.compression_token_error_bound(c, d, min(sigma, 1.0))


def test_erratum_paper_frobenius_bound_without_sqrt_L_fails():
  """Eq. (3) claims ||Y - Y~||_F <= const(C) sqrt(d) sigma_{r+1} for every L. With one token
  repeated L times the attention is uniform and the error is (W_V - W~_V) x 1^T: its norm
  grows as sqrt(L) for *any* rank-r W~_V (here: the construction and random ones), so it
  passes K(C) sqrt(d) sigma_{r+1} (C = 1, K = 4) once L > 16 d."""
  rng = np.random.default_rng(3)
  d, r = 6, 2
  s = np.exp(-np.linspace(0, 2, d))
  vocab = np.diag(s)
  w_q = w_k = d ** 0.25 * np.eye(d)
  w_v = np.sqrt(d) * np.eye(d)
  with spectral.float64():
    c = cp.compression_hypothesis_constant(vocab, w_q, w_k, w_v)
    assert math.isclose(c, 1.0)
    paper_form = cp.compression_error_constant(c) * np.sqrt(d) * s[r]  # no sqrt(L)
    comp = cp.compress_attention(w_q, w_k, w_v, cp.vocabulary_basis(vocab, r))
    candidates = [np.asarray(attn.to_dense(comp.w_v))]
    candidates += [rng.normal(size=(d, r)) @ rng.normal(size=(r, d)) for _ in range(5)]
    for index, w_v_tilde in enumerate(candidates):
      # The column of Xi this W~_V handles worst: ||(W_V - W~_V) x_j|| >= sigma_{r+1}, since
      # ||(W_V - W~_V) Xi||_2 >= sigma_{r+1}(W_V Xi) = sqrt(d) sigma_{r+1} and Xi has d columns.
      cols = np.linalg.norm((w_v - w_v_tilde) @ vocab, axis=0)
      j = int(np.argmax(cols))
      assert cols[j] >= s[r] * (1 - 1e-12)  # round-off
      errs = []
      for seq_len in (1, 4, 16 * d, 64 * d):
        u = np.repeat(vocab[:, [j]], seq_len, axis=1)
        y = attn.attention(u, w_q, w_k, w_v)
        y_t = attn.attention(u, w_q, w_k, w_v_tilde)
        errs.append(np.linalg.norm(np.asarray(y - y_t)))
        # uniform attention: the error is exactly sqrt(L) times one column (round-off)
        np.testing.assert_allclose(errs[-1], np.sqrt(seq_len) * cols[j], rtol=1e-9)
        if index == 0:  # the construction obeys the corrected bound with its sqrt(L)
          assert errs[-1] <= cp.compression_error_bound(c, d, s[r], seq_len)
      assert errs[-1] > paper_form  # the L-free form is exceeded at L = 64 d


# ----------------------------------------------------------------------------- lower bound
def _haar_orthogonal(rng, d):
  q, r = np.linalg.qr(rng.normal(size=(d, d)))
  return q * np.sign(np.diag(r))


def _spectrum(rng, d):
  if rng.integers(2):
    return np.sort(rng.uniform(0.01, 1, d))[::-1]
  return np.exp(-np.linspace(0, rng.uniform(0, 8), d))


def test_lower_bound_construction_has_the_stated_spectrum_and_weights():
  with spectral.float64():
    s = np.array([1.0, 0.5, 0.5, 0.1])
    for seq_len in (4, 17, 100):
      con = cp.incompressible_attention(s, seq_len)
      np.testing.assert_allclose(np.linalg.svd(con.u, compute_uv=False), s, rtol=1e-12)
      kappa = math.log(max(16, seq_len - 1))
      assert math.isclose(con.log_weight, kappa)
      np.testing.assert_allclose(np.asarray(con.w_q.T @ con.w_k),
                                 kappa / s[-1] ** 2 * 2.0 * np.eye(4), rtol=1e-12)  # sqrt(4)=2
    # For L <= 4d + 1 the corrected weight is the paper's log(4d).
    assert cp.incompressible_log_weight(4, 17) == math.log(16)


def test_lower_bound_holds_for_optimal_and_random_value_matrices():
  """54 instances, every r < d, L from d to 40 d: the best rank-r W~_V (Eckart–Young on
  W_V U G) and random ones err by >= sigma_{r+1}/4 in the 2-norm (<= the Frobenius norm of
  eq. 4); eq. (15) holds step by step."""
  rng = np.random.default_rng(4)
  worst = np.inf
  with spectral.float64():
    for d in (2, 5, 12):
      for seq_len in (d, 4 * d + 2, 40 * d):
        for _ in range(6):
          s = _spectrum(rng, d)
          con = cp.incompressible_attention(s, seq_len)
          g = np.asarray(attn.attention_weights(con.u, con.w_q, con.w_k)[0])
          off = g[:d, :d] - np.diag(np.diag(g[:d, :d]))
          # eq. (15), up to round-off
          assert np.diag(g)[:d].min() >= 0.5 - 1e-12 and off.max() <= 1 / (4 * d) + 1e-15
          w_v = _haar_orthogonal(rng, d)
          y = w_v @ con.u @ g  # Attention(U; W_Q, W_K, W_V), linear in W_V
          out_sv = np.linalg.svd(y, compute_uv=False)
          # Every rank-r W~_V errs by ||(W_V - W~_V) U G||_2 >= sigma_{r+1}(W_V U G) (Eckart–
          # Young), so this covers all W~_V at once, for every r < d.
          ratios = out_sv[1:d] / s[1:d]
          assert np.all(ratios >= 0.25)
          worst = min(worst, ratios.min())
          left = np.linalg.svd(y)[0]
          for r in sorted({1, d - 1, int(rng.integers(1, d))}):
            w_best = np.asarray(cp.best_value_approximation(con.u, con.w_q, con.w_k, w_v, r))
            assert np.linalg.matrix_rank(w_best, tol=1e-10) == r
            err = np.linalg.norm((w_v - w_best) @ con.u @ g, 2)
            np.testing.assert_allclose(err, out_sv[r], rtol=1e-8)  # attains the optimum
            assert err >= cp.compression_lower_bound(s, r)
            for scale in (0.1, 1.0, None):  # perturbed optima, then a purely random one
              if scale is None:
                w_rand = rng.normal(size=(d, r)) @ rng.normal(size=(r, d))
              else:
                basis = np.linalg.qr(left[:, :r] + scale * rng.normal(size=(d, r)))[0]
                w_rand = basis @ basis.T @ w_v
              err_rand = np.linalg.norm((w_v - w_rand) @ con.u @ g, 2)
              assert err_rand >= err * (1 - 1e-10)  # optimality, round-off
  # The construction attains its bound up to a factor 2: the best error is ~ sigma/2.
  assert 0.25 <= worst <= 0.6


def test_erratum_paper_log_4d_weight_fails_for_long_inputs():
  """With the paper's W_Q^T W_K = log(4d) sigma_d^-2 sqrt(d) I the diagonal softmax weight of
  the token with sigma_j = sigma_d is 4d/(L - 1 + 4d) < 1/2 for L > 4d + 1, and for L >> d
  the best rank-r W~_V errs by less than sigma_{r+1}/4: eq. (15) and eq. (4) fail."""
  d = 8
  s = np.exp(-np.linspace(0, 2, d))
  w_v = np.eye(d)
  with spectral.float64():
    for seq_len, diag_expected in ((4 * d + 1, 0.5), (4 * d + 9, 32 / 72), (32 * d, 32 / 287)):
      con = cp.incompressible_attention(s, seq_len, log_weight=math.log(4 * d))
      g = np.asarray(attn.attention_weights(con.u, con.w_q, con.w_k)[0])
      np.testing.assert_allclose(g[d - 1, d - 1], diag_expected, rtol=1e-10)  # round-off
    # Only the tokens with sigma_j close to sigma_d lose their weight, so take r = d - 1.
    r = d - 1
    w_best = np.asarray(cp.best_value_approximation(con.u, con.w_q, con.w_k, w_v, r))
    err = np.linalg.norm((w_v - w_best) @ con.u @ g, 2)
    assert err < 0.6 * cp.compression_lower_bound(s, r)  # below sigma_d / 4, by a clear margin
    fixed = cp.incompressible_attention(s, 32 * d)
    g = np.asarray(attn.attention_weights(fixed.u, fixed.w_q, fixed.w_k)[0])
    w_best = np.asarray(cp.best_value_approximation(fixed.u, fixed.w_q, fixed.w_k, w_v, r))
    assert np.linalg.norm((w_v - w_best) @ fixed.u @ g, 2) >= cp.compression_lower_bound(s, r)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
  eye = np.eye(4)
  with pytest.raises(ValueError, match="rank"):
    cp.vocabulary_basis(np.ones((4, 6)), 4)  # r must be < d
  with pytest.raises(ValueError, match="vocab"):
    cp.vocabulary_basis(np.ones(4), 1)
  with pytest.raises(ValueError, match="basis"):
    cp.compress_attention(eye, eye, eye, np.eye(4))
  with pytest.raises(ValueError, match=r"^w_k must have shape \(d, d\)=\(4, 4\), got \(4, 3\)"):
    cp.compress_attention(eye, np.ones((4, 3)), eye, np.eye(4)[:, :2])
  with pytest.raises(ValueError, match="num_heads"):
    cp.compression_hypothesis_constant(np.ones((4, 5)), eye, eye, eye, num_heads=3)
  with pytest.raises(ValueError, match=r"^w_v must have shape \(d, d\)=\(4, 4\), got \(5, 5\)"):
    cp.compression_hypothesis_constant(np.ones((4, 5)), eye, eye, np.ones((5, 5)))
  with pytest.raises(ValueError, match=r"^c must be a finite number > 0, got 0\.0"):
    cp.compression_error_constant(0.0)
  with pytest.raises(ValueError, match="sigma_next"):
    cp.compression_token_error_bound(1.0, 4, 1.5)
  with pytest.raises(ValueError, match="seq_len"):
    cp.compression_error_bound(1.0, 4, 0.5, 0)
  with pytest.raises(ValueError, match="seq_len"):
    cp.incompressible_attention([1.0, 0.5, 0.2], 2)  # L < d
  with pytest.raises(ValueError, match=r"^sigma must be non-increasing"):
    cp.incompressible_attention([0.5, 1.0], 3)  # not descending
  with pytest.raises(ValueError, match=r"^sigma must lie in \(0, 1\], got range \[0.5, 1.5\]"):
    cp.incompressible_attention([1.5, 0.5], 3)  # not in (0, 1]
  with pytest.raises(ValueError, match=r"^sigma must lie in \(0, 1\], got range \[0.0, 1.0\]"):
    cp.compression_lower_bound([1.0, 0.0], 1)
  with pytest.raises(ValueError, match="rank"):
    cp.compression_lower_bound([1.0, 0.5], 2)  # r must be < d
  with pytest.raises(ValueError, match="log_weight"):
    cp.incompressible_attention([1.0, 0.5], 3, log_weight=-1.0)
  with pytest.raises(ValueError, match=r"^w_v must have shape \(d, d\)=\(4, 4\), got \(4, 3\)"):
    cp.best_value_approximation(np.ones((4, 5)), eye, eye, np.ones((4, 3)), 1)
