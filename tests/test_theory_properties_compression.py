"""Property-based tests (hypothesis) of the theorem bounds, as corrected in paper_repro.md's
Errata: Theorem 3 / 5 (both halves; the Frobenius bound with sqrt(L), erratum 15; kappa of
erratum 16), Theorem 6 (both claims), and the low-rank attention parameterisations of
eqs. (19) / (20).
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lowrank_ts import attention, spectral
from lowrank_ts.theory import compression as cp
from lowrank_ts.theory import sketching as sk
from tests.theory_reference import _floor, _haar, _sv
from tests.theory_strategies import CI, SEEDS, _any_length, _long, shapes, spectra

# ----------------------------------------------------------------------------------------------
# Theorem 3 / Theorem 5: compressible on a low-rank vocabulary (upper bound, with sqrt(L))
# ----------------------------------------------------------------------------------------------

def _hypothesis_constant(vocab, w_q, w_k, w_v, h):
  """The smallest C of Theorem 5, measured independently in numpy: max(max_j ||x_j||,
  max_i ||W_Q^(i)T W_K^(i)||_2 / sqrt(d_h), max_i ||W_V^(i)||_2 / sqrt(d_h))."""
  d_h = vocab.shape[0] // h
  blocks = [slice(i * d_h, (i + 1) * d_h) for i in range(h)]
  qk = max(np.linalg.norm(w_q[b].T @ w_k[b], 2) for b in blocks)
  v = max(np.linalg.norm(w_v[b], 2) for b in blocks)
  return max(float(np.linalg.norm(vocab, axis=0).max()), max(qk, v) / math.sqrt(d_h))


@st.composite
def compression_instances(draw):
  """Theorem 5's range: Xi [d, N] (N < d or N > d) with sigma_{r+1}(Xi) <= 1, h heads, U made
  of columns of Xi. "random": Haar factors and Gaussian weights at drawn scales, hypothesis
  picks the tokens. "extremal": Xi = C [diag(s) | 0], every head's W_V^(i) = C sqrt(d_h) x
  (rows e_r, e_{r+1}, ...), W_Q = W_K = sqrt(C) d_h^(1/4) I and x_{r+1} repeated L times; the
  attention is uniform and the error is C sqrt(d) sigma_{r+1} per token, C / K(C) of the bound
  (close to 1 for small C), and sqrt(L) times that in Frobenius norm (erratum 15)."""
  d, h, length = draw(shapes(_any_length))
  n = draw(st.sampled_from([d - 1, 3 * d]))  # vocabulary smaller and larger than d
  k = min(d, n)
  kind = draw(st.sampled_from(["random", "extremal"]))
  rank = draw(st.integers(1, min(d - 1, n) if kind == "random" else k - 1))
  s = draw(spectra(k, floor=1e-10))
  rng = np.random.default_rng(draw(SEEDS))
  if kind == "random":
    s = s * 10.0 ** draw(st.floats(-1.0, 1.0))
    if rank < k and s[rank] > 1:  # the hypothesis sigma_{r+1}(Xi) <= 1
      s = s / s[rank]
    vocab = (_haar(rng, d, k) * s) @ _haar(rng, n, k).T
    score_scale = 10.0 ** draw(st.floats(-1.0, 1.0))
    w_q, w_k = (rng.standard_normal((d, d)) * math.sqrt(score_scale) / d ** 0.25 for _ in "qk")
    w_v = rng.standard_normal((d, d)) * 10.0 ** draw(st.floats(-1.0, 0.5))
    # L columns of Xi, repeats allowed (hypothesis can pick one token L times).
    tokens = draw(st.lists(st.integers(0, n - 1), min_size=length, max_size=length))
  else:
    d_h = d // h
    c = min(draw(st.floats(0.05, 2.0)), 1 / s[rank])  # sigma_{r+1}(Xi) = C s_{r+1} <= 1
    vocab = np.zeros((d, n))
    vocab[np.arange(k), np.arange(k)] = c * s
    w_q = w_k = math.sqrt(c) * d_h ** 0.25 * np.eye(d)
    w_v = np.tile(c * math.sqrt(d_h) * np.eye(d)[(rank + np.arange(d_h)) % d], (h, 1))
    tokens = [rank] * length
  return kind, vocab, rank, h, (w_q, w_k, w_v), vocab[:, tokens]


@CI
@given(instance=compression_instances())
def test_theorem3_compression_bound_with_sqrt_L(instance):
  """Per token ||(Y - Y~)(:, j)||_2 <= K(C) sqrt(d) sigma_{r+1} and ||Y - Y~||_F <=
  K(C) sqrt(dL) sigma_{r+1} (erratum 15), h heads, W~ = W U_r U_r^T; plus the statement's
  rank(W~) = r and the stability ||W~_Q^T W~_K||_2 <= ||W_Q^T W_K||_2, ||W~_V||_2 <= ||W_V||_2."""
  kind, vocab, rank, h, (w_q, w_k, w_v), u = instance
  d, length = u.shape
  sigma = min(float(np.append(_sv(vocab), 0.0)[rank]), 1.0)  # <= 1 up to round-off (1e-16)
  c = _hypothesis_constant(vocab, w_q, w_k, w_v, h)
  with spectral.float64():
    comp = cp.compress_attention(w_q, w_k, w_v, cp.vocabulary_basis(vocab, rank))
    q_t, k_t, v_t = (np.asarray(attention.to_dense(x)) for x in comp[:3])
    diff = np.asarray(attention.multi_head_attention(u, w_q, w_k, w_v, h)
                      - attention.multi_head_attention(u, q_t, k_t, v_t, h))
  # float64 round-off: scores are <= C^3 and carry ~d eps C^3 absolute error, which moves the
  # softmax columns by as much in l1 and the outputs (columns <= C^2 sqrt(d)) by ~d eps C^5
  # sqrt(d) per token; below 1e-12 K(C) sqrt(d) >= 2e-12 C^4 sqrt(d) for C < 1e3 (here < 1e2).
  slack = 1e-12 * cp.compression_error_constant(c)
  token_bound = cp.compression_token_error_bound(c, d, sigma)
  assert np.linalg.norm(diff, axis=0).max() <= token_bound + slack * math.sqrt(d)
  frob_bound = cp.compression_error_bound(c, d, sigma, length)
  assert np.linalg.norm(diff) <= frob_bound + slack * math.sqrt(d * length)
  # Stability (1e-12 relative: round-off of the spectral norms) and rank <= r; exactly r when
  # W U_r has full rank r, as a Gaussian W does almost surely (matrix_rank's tolerance is
  # d eps sigma_1). The extremal W_V has rank d_h only.
  assert np.linalg.norm(q_t.T @ k_t, 2) <= np.linalg.norm(w_q.T @ w_k, 2) * (1 + 1e-12)
  assert np.linalg.norm(v_t, 2) <= np.linalg.norm(w_v, 2) * (1 + 1e-12)
  ranks = [np.linalg.matrix_rank(x) for x in (q_t, k_t, v_t)]
  assert max(ranks) <= rank and (kind == "extremal" or min(ranks) == rank), ranks


# ----------------------------------------------------------------------------------------------
# Theorem 3.2: incompressible on a high-rank input (lower bound, kappa of erratum 16)
# ----------------------------------------------------------------------------------------------

@CI
@given(d=st.sampled_from([2, 5, 8]), multiple=st.sampled_from([1, 4, 40]), data=st.data())
def test_theorem3_lower_bound_every_rank(d, multiple, data):
  """For every r < d and every rank-r W~_V: ||(W_V - W~_V) U G||_2 >= sigma_{r+1}/4 (eq. 4;
  the 2-norm is <= the Frobenius norm it names). Eckart–Young reduces "every W~_V" to
  sigma_{r+1}(W_V U G) >= sigma_{r+1}/4. L from d to 40d + extra."""
  length = multiple * d + data.draw(st.sampled_from([0, 2]), label="extra")
  s = data.draw(spectra(d), label="s") * data.draw(st.floats(1e-3, 1.0), label="scale")
  rng = np.random.default_rng(data.draw(SEEDS, label="seed"))
  w_v = _haar(rng, d, d)  # any orthogonal W_V
  with spectral.float64():  # float64 construction: its scores reach kappa (sigma_1/sigma_d)^2
    con = cp.incompressible_attention(s, length)
    g = np.asarray(attention.attention_weights(con.u, con.w_q, con.w_k)[0])
  out = _sv(w_v @ np.asarray(con.u) @ g)
  floor = _floor(out[0], d, length)
  for r in range(1, d):
    assert out[r] >= cp.compression_lower_bound(s, r) - floor, r


# ----------------------------------------------------------------------------------------------
# Theorem 6: shared vs head-dependent sketches
# ----------------------------------------------------------------------------------------------

def _output(c, w_q, w_k, w_v):
  with spectral.float64():
    return np.asarray(attention.multi_head_attention(c.u, w_q, w_k, w_v, c.num_heads))


@CI
@given(shape=shapes(_long, min_head_dim=2), stability=st.floats(1.0, 10.0), data=st.data())
def test_theorem6_claim1_every_rank(shape, stability, data):
  """Every rank-d~ W~_V errs by >= sigma_{d~+1}/2, for every d~ < d_h. All heads share one G
  and W_V = I, so MH-Attention(U; W~_V) = W~_V U G has rank <= d~ and Eckart–Young reduces
  "every W~_V" to s_{d~+1}(Y) >= sigma_{d~+1}/2."""
  d, h, length = shape
  s = data.draw(spectra(d, floor=1e-6), label="s")
  c = sk.theorem6_construction(s, h, length, stability)
  with spectral.float64():
    g = np.asarray(attention.attention_weights(c.u, c.w_q, c.w_k, h))
  assert np.all(g == g[:1])  # identical heads: one G, bit for bit
  y_sv = _sv(_output(c, c.w_q, c.w_k, c.w_v))
  floor = _floor(y_sv[0], d, length)
  for d_tilde in range(1, d // h):
    assert y_sv[d_tilde] >= sk.theorem6_value_lower_bound(s, h, d_tilde) - floor, d_tilde


def _densify(sketch, d):
  """The dense [d, d] matrix of a SparseHeadSketch, in numpy (attention.to_dense runs
  op-by-op and compiles per shape; tests/test_theory_sketching.py checks that they agree)."""
  values, cols = np.asarray(sketch.values), np.asarray(sketch.cols)
  rows = np.zeros(values.shape[:2] + (d,))
  for i, t in np.ndindex(*values.shape[:2]):
    np.add.at(rows[i, t], cols[i, t], values[i, t])
  return np.einsum("hmr,hrd->hmd", np.asarray(sketch.w1), rows).reshape(-1, d)


@CI
@given(shape=shapes(_long, min_head_dim=2), stability=st.floats(1.0, 10.0), data=st.data())
def test_theorem6_claim2_head_sketches(shape, stability, data):
  """The sparse head-dependent sketches of rank d~ (Q, K: d~ + 1) err by <= 4 sigma^(i)_{d~+1}
  per head and <= 4 sqrt(h) sigma_{h d~ + 1} in all (errata 6-8 corrected)."""
  d, h, length = shape
  d_h = d // h
  d_tilde = data.draw(st.integers(1, d_h - 1), label="d_tilde")
  s = data.draw(spectra(d, floor=1e-6), label="s")
  c = sk.theorem6_construction(s, h, length, stability)
  dense = [_densify(w, d) for w in sk.theorem6_head_sketches(c, d_tilde)]
  err = (_output(c, c.w_q, c.w_k, c.w_v) - _output(c, *dense)).reshape(h, d_h, length)
  # Round-off of softmax on scores of size alpha^2 / sqrt(d_h) (alpha^2 < 1e3 here).
  tol = 1e-13 * c.alpha ** 2
  per_head = sk.interleaved_spectrum(s, h)[:, d_tilde]  # sigma^(i)_{d~+1} = sigma_{h d~ + i}
  for i in range(h):
    assert np.linalg.norm(err[i], 2) <= 4 * per_head[i] + tol, i
  bound = sk.theorem6_head_sketch_upper_bound(s, h, d_tilde)
  assert np.linalg.norm(err.reshape(d, length), 2) <= bound + tol


# ----------------------------------------------------------------------------------------------
# Low-rank attention (eqs. 19, 20): full-rank factorisations give the dense attention
# ----------------------------------------------------------------------------------------------

@settings(CI, max_examples=20)
@given(shape=shapes(lambda d: [16 * d] if d == 4 else [d], dims=(4, 6)),
       scales=st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3), seed=SEEDS)
def test_full_rank_sketches_equal_dense_attention(shape, scales, seed):
  """W = a b from truncated_svd at full rank: as a shared sketch (eq. 19, rank d) and as a
  per-head sketch (eq. 20, rank d_h per head) the attention equals the dense one."""
  d, h, length = shape
  d_h = d // h
  rng = np.random.default_rng(seed)
  u = rng.standard_normal((d, length))
  dense = [rng.standard_normal((d, d)) * 10.0 ** e / math.sqrt(d) for e in scales]
  with spectral.float64():
    ref = np.asarray(attention.multi_head_attention(u, *dense, h))
    shared = [attention.SharedSketch(*spectral.truncated_svd(w, rank=d)) for w in dense]
    heads = []
    for w in dense:
      factors = [spectral.truncated_svd(w[i * d_h:(i + 1) * d_h], rank=d_h) for i in range(h)]
      heads.append(attention.HeadSketch(np.stack([np.asarray(a) for a, _ in factors]),
                                        np.stack([np.asarray(b) for _, b in factors])))
    outs = [np.asarray(attention.multi_head_attention(u, *ws, h)) for ws in (shared, heads)]
    for w, sh, he in zip(dense, shared, heads):
      # The factorisations reproduce W to SVD round-off, ~d eps ||W||_2 (1e-15 here).
      for sketch in (sh, he):
        assert np.linalg.norm(np.asarray(attention.to_dense(sketch)) - w, 2) <= \
            1e-13 * np.linalg.norm(w, 2)
  # Weights within delta = 1e-13 relative move each score by <= (2 delta + d eps) ||W_Q||
  # ||W_K|| max|u_a|^2, each softmax column by as much in l1 (1-Lipschitz) and each output by
  # that times ||W_V|| max|u_a|, plus delta ||W_V|| max|u_a|: below tol.
  norms = [np.linalg.norm(w, 2) for w in dense]
  column = np.linalg.norm(u, axis=0).max()
  tol = 1e-12 * (1 + norms[0] * norms[1] * column ** 2) * norms[2] * column
  for out in outs:
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol)
