"""Property-based tests (hypothesis) of the theorem bounds, as corrected in paper_repro.md's
Errata: Eckart–Young and the eps-rank (eq. 1), Theorem 1, Corollary 2, Theorem 3 / 5 (both
halves; the Frobenius bound with sqrt(L), erratum 15; kappa of erratum 16), Theorem 4 eqs. (5),
(26) and (6), Corollary 1 (index of erratum 11, range of erratum 13), Theorem 6 (both claims),
and the low-rank attention parameterisations of eqs. (19) / (20).

Hypothesis draws the theorems' ranges (d, L < d, L = d, L >> d, h, ranks, spectra: values
drawn directly -- with ties, plateaus and floors -- or exponential / algebraic decay at a drawn
rate, or a cliff) and shrinks a failure to a small instance; orthogonal factors come from a
drawn seed. Each assertion compares the measured quantity with the bound; every floating
tolerance is justified where it is used.

Shapes that reach jitted attention come from small pools (DIMS x divisors x two or three
lengths), since every new (d, L, h) costs an XLA compilation (~0.5 s on 2 cores); the pools are
shared, so the tests reuse each other's compilations. Singular values on the measured side are
numpy float64 (LAPACK), an independent reference; spectral.singular_values / truncated_svd /
eps_rank are themselves the subject of the Eckart–Young test.
"""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowrank_ts import attention, spectral
from lowrank_ts.theory import compression as cp
from lowrank_ts.theory import embedding_bounds as B
from lowrank_ts.theory import flow_of_ranks as fr
from lowrank_ts.theory import sketching as sk

# CI profile: reproducible (derandomize, no example database), no per-example deadline (the
# first example of a shape pays a jit compilation), a fixed number of examples.
CI = settings(deadline=None, max_examples=30, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
CHEAP = settings(CI, max_examples=50)  # numpy-only properties, or jit shapes already compiled
EPS = float(np.finfo(np.float64).eps)
# Relative float64 allowance on bounds of O(1) quantities (as tests/test_theory_flow_of_ranks):
# the measured side is a few dozen float64 operations deep, i.e. ~1e-14 relative at worst.
REL = 1e-9
DIMS = (4, 6, 8)
SEEDS = st.integers(0, 2 ** 32 - 1)


def _divisors(d):
  return [h for h in range(1, d + 1) if d % h == 0]


def _long(d):
  return [d, 16 * d]  # Theorems 4 and 6 need d <= L: L = d and L >> d


def _any_length(d):
  return [d, 2, 16 * d]  # Theorem 3: any L >= 1, here L < d, L = d and L >> d


def _sv(x):
  return np.linalg.svd(np.asarray(x, np.float64), compute_uv=False)


def _floor(s_1, m, n):
  """A backward-stable SVD returns every sigma_j within a small multiple of max(m, n) eps
  sigma_1 of the exact value (B.rounding_floor); 4x that covers forming the matrix too."""
  return 4 * B.rounding_floor(s_1, m, n)


def _haar(rng, m, k):
  """m x k with orthonormal columns (Haar distributed)."""
  q, r = np.linalg.qr(rng.standard_normal((m, k)))
  return q * np.where(np.diag(r) < 0, -1.0, 1.0)


@st.composite
def spectra(draw, d, floor=1e-8):
  """1 = s_1 >= ... >= s_d >= floor > 0 (Theorems 4 / 6 normalise sigma_1 = 1)."""
  kind = draw(st.sampled_from(["values", "exponential", "algebraic", "cliff"]))
  j = np.arange(d)
  if kind == "values":  # hypothesis likes ties, 1.0 and the floor: plateaus and cliffs
    s = np.array(draw(st.lists(st.floats(floor, 1.0), min_size=d, max_size=d)))
  elif kind == "exponential":
    s = np.exp(-draw(st.floats(0.0, 4.0)) * j)
  elif kind == "algebraic":
    s = (1.0 + j) ** -draw(st.floats(0.0, 6.0))
  else:  # flat top, then one value below it
    s = np.where(j < draw(st.integers(1, d)), 1.0, draw(st.floats(floor, 1.0)))
  s = np.sort(np.maximum(s, floor))[::-1]
  return s / s[0]  # s / s[0] >= s >= floor, and s[0] / s[0] == 1 exactly


@st.composite
def shapes(draw, lengths, min_head_dim=1, dims=DIMS):
  """(d, h, L) from the shared pools; h | d with d / h >= min_head_dim."""
  d = draw(st.sampled_from(dims))
  h = draw(st.sampled_from([h for h in _divisors(d) if d // h >= min_head_dim]))
  return d, h, draw(st.sampled_from(lengths(d)))


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
# Theorem 4 and Corollary 1: flow-of-ranks
# ----------------------------------------------------------------------------------------------

WEIGHT_KINDS = ["gaussian", "value -I", "value +I", "scores aligned with U"]


@st.composite
def flow_instances(draw):
  """U [d, L] with sigma(U) = s (sigma_1 = 1), and weights within Theorem 4 (1)'s hypotheses:
  scaled onto ||W_Q^(i)T W_K^(i)||_2 = sqrt(d_h), ||W_V^(i)||_2 = 1, then shrunk by drawn
  factors in [0, 1]."""
  d, h, length = draw(shapes(_long))
  s = draw(spectra(d))
  rng = np.random.default_rng(draw(SEEDS))
  left = _haar(rng, d, d)
  u = (left * s) @ _haar(rng, length, d).T
  kind = draw(st.sampled_from(WEIGHT_KINDS))
  w = [rng.standard_normal((d, d)) for _ in range(3)]
  if kind == "value -I":  # the residual partly cancels U
    w[2] = -np.eye(d)
  elif kind == "value +I":
    w[2] = np.eye(d)
  elif kind == "scores aligned with U":  # every score peaks on U's top direction
    w[0] = np.tile(left[:, :1].T, (d, 1)) + 1e-3 * w[0]
    w[1] = np.tile(left[:, :1].T, (d, 1)) + 1e-3 * w[1]
  q, k, v = fr.theorem4_scale_weights(*w, h)
  qk_shrink = draw(st.floats(0.0, 1.0))
  v_shrink = draw(st.floats(0.0, 1.0))
  return s, u, (q * math.sqrt(qk_shrink), k * math.sqrt(qk_shrink), v * v_shrink), h


def _residual(u, weights, h, depth):
  with spectral.float64():
    return np.asarray(attention.residual_attention_layer(u, *weights, h, depth))


def _within_hypotheses(u, weights, h, depth):
  hyp = fr.theorem4_hypotheses(u, *weights, h, depth)
  # 1e-9: the scaled weights sit on the boundary up to float64 round-off.
  assert abs(hyp["sigma_1"] - 1) <= 1e-9 and hyp["d_le_L"]
  assert hyp["qk_ratio"] <= 1 + 1e-9 and hyp["v_norm"] <= 1 + 1e-9
  return hyp


DEPTHS = st.one_of(st.integers(1, 16), st.integers(1, 10 ** 6))


@CHEAP
@given(instance=flow_instances(), depth=DEPTHS)
def test_theorem4_eq26_for_every_depth(instance, depth):
  """sigma_k(Z) <= min_j sigma_{k-j+1} + e^2 h / sqrt(D) sigma_{floor((j-1)/h)+1}, all k, for
  D = 1 and a drawn D >= 1 (erratum 12: eq. (26) needs no depth hypothesis)."""
  s, u, weights, h = instance
  d, length = u.shape
  _within_hypotheses(u, weights, h, depth)
  for dd in sorted({1, depth}):
    sz = _sv(_residual(u, weights, h, dd))
    bound = fr.theorem4_singular_value_bound(s, h, dd)
    assert np.all(sz <= bound * (1 + REL) + _floor(sz[0], d, length)), (dd, sz, bound)


@CHEAP
@given(instance=flow_instances(), multiple=st.integers(1, 100))
def test_theorem4_eq5_with_the_depth_hypothesis(instance, multiple):
  """sigma_k(Z)/sigma_1(Z) <= 2 min_j (...) once sqrt(D) >= 2 e^2 h (Theorem 4 (1))."""
  s, u, weights, h = instance
  d, length = u.shape
  depth = fr.theorem4_min_depth(h) * multiple
  assert _within_hypotheses(u, weights, h, depth)["satisfied"]
  sz = _sv(_residual(u, weights, h, depth))
  bound = fr.theorem4_upper_bound(s, h, depth)
  assert np.all(sz / sz[0] <= bound * (1 + REL) + _floor(1.0, d, length)), (sz / sz[0], bound)


@CHEAP
@given(instance=flow_instances())
def test_corollary1_upper_bound_corrected_index(instance):
  """D = 1: sigma_k(Z) <= (1 + e^2 h) sigma_{floor((k-1)/(h+1))+1} (erratum 11's index)."""
  s, u, weights, h = instance
  d, length = u.shape
  _within_hypotheses(u, weights, h, 1)
  sz = _sv(_residual(u, weights, h, 1))
  bound = fr.corollary1_upper_bound(s, h)
  assert np.all(sz <= bound * (1 + REL) + _floor(sz[0], d, length)), (sz, bound)


@settings(CI, max_examples=100)
@given(d=st.integers(1, 48), data=st.data())
def test_corollary1_upper_bound_dominates_eq26_at_depth_one(d, data):
  """The proof of Corollary 1 (corrected): eq. (26) at D = 1, minimised over j, is <= the
  corollary's (1 + e^2 h) sigma_{floor((k-1)/(h+1))+1} for every spectrum, h | d, k. Pure
  index arithmetic, so any d: j = floor((hk+1)/(h+1)) makes both terms <= that sigma."""
  h = data.draw(st.sampled_from(_divisors(d)), label="h")
  s = data.draw(spectra(d, floor=1e-300), label="s")
  sharp = fr.theorem4_singular_value_bound(s, h, 1)
  # 4 eps relative: the two sides add the same float64 terms in different orders.
  assert np.all(sharp <= fr.corollary1_upper_bound(s, h) * (1 + 4 * EPS))


@CHEAP
@given(shape=shapes(_long), depth=DEPTHS, data=st.data())
def test_theorem4_lower_bound_construction_eq6(shape, depth, data):
  """Appendix F's construction (erratum 14): sigma_k(Z)/sigma_1(Z) >= eq. (6) for every
  i <= h and k with ceil(k/i) < d_h."""
  d, h, length = shape
  s = data.draw(spectra(d), label="s")
  c = fr.theorem4_lower_bound_construction(s, h, length, depth)
  sz = _sv(_residual(c.u, (c.w_q, c.w_k, c.w_v), h, depth))
  table = fr.theorem4_lower_bound(s, h, depth)
  ok = ~np.isnan(table)
  measured = np.broadcast_to(sz / sz[0], table.shape)
  assert np.all(measured[ok] >= table[ok] * (1 - REL) - _floor(1.0, d, length))


@CHEAP
@given(shape=shapes(_long), data=st.data())
def test_corollary1_lower_bound_corrected_range(shape, data):
  """D = 1, the construction: sigma_k(Z) >= (4/5) sigma_{ceil(k/h)} for k <= d - h
  (erratum 13's range and constant)."""
  d, h, length = shape
  s = data.draw(spectra(d), label="s")
  c = fr.theorem4_lower_bound_construction(s, h, length, 1)
  sz = _sv(_residual(c.u, (c.w_q, c.w_k, c.w_v), h, 1))
  low = fr.corollary1_lower_bound(s, h)
  ok = ~np.isnan(low)
  assert np.all(sz[ok] >= low[ok] * (1 - REL) - _floor(sz[0], d, length)), (sz, low)


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
