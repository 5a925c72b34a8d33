"""Tests for Theorem 4 and Corollary 1 (lowrank_ts.theory.flow_of_ranks).

Bounds are checked on >= 50 seeded random instances each (float64, numpy SVD as the
reference); the lower-bound construction is checked step by step against appendix F; the
paper's literal statements that fail are kept as tests demonstrating the failure.
"""

import math

import jax
import numpy as np
import pytest

from lowrank_ts import attention, spectral
from lowrank_ts.theory import flow_of_ranks as fr

E2 = math.e ** 2
# (d, h, L): L = d and L >> d, one head, many heads, d_h = 1 (h = d); few shapes keep jit cheap.
SHAPES = [(6, 1, 6), (6, 2, 30), (8, 4, 8), (8, 8, 40), (12, 3, 12), (12, 4, 60), (16, 2, 16),
          (16, 16, 16), (24, 6, 96), (24, 2, 24)]
REL = 1e-9  # float64 round-off allowance on bounds of O(1) quantities


def _spectrum(rng, d):
  kind = rng.integers(4)
  if kind == 0:  # exponential decay, random rate (down to ~e^-20)
    s = np.exp(-rng.uniform(0, 20 / d) * np.arange(d))
  elif kind == 1:  # random values, sorted
    s = np.sort(rng.uniform(1e-3, 1, d))[::-1]
  elif kind == 2:  # flat top then a cliff: columns of U can have norm ~ 1
    top = rng.integers(1, d + 1)
    s = np.where(np.arange(d) < top, 1.0, 10.0 ** -rng.uniform(1, 8))
  else:  # steep algebraic decay
    s = (1.0 + np.arange(d)) ** -rng.uniform(1, 6)
  return s / s[0]


def _u(rng, s, length):
  """U diag(s) V^T as appendix J, in numpy: spectral.matrix_with_spectrum compiles once per
  shape (seconds each on a loaded 2-core machine)."""
  d = s.shape[0]
  left = np.linalg.qr(rng.normal(size=(d, d)))[0]
  right = np.linalg.qr(rng.normal(size=(length, d)))[0]
  return (left * s) @ right.T


def _weights(rng, d, h):
  """Random weights on the hypotheses' boundary, then shrunk by a random factor <= 1."""
  kind = rng.integers(3)
  w = [rng.normal(size=(d, d)) for _ in range(3)]
  if kind == 1:  # W_V = -I: the residual partly cancels U
    w[2] = -np.eye(d)
  if kind == 2:  # every head's W_Q^T W_K aligned with the top direction of U
    w[0] = w[1] = np.tile(np.eye(d)[:1], (d, 1)) + 1e-3 * w[0]
  q, k, v = fr.theorem4_scale_weights(*w, h)
  c = rng.uniform(0.3, 1.0) if rng.integers(2) else 1.0
  return q * math.sqrt(c), k * math.sqrt(c), v


def _z(u, q, k, v, h, depth):
  with spectral.float64():
    return np.asarray(attention.residual_attention_layer(u, q, k, v, h, depth))


def _sv(x):
  return np.linalg.svd(x, compute_uv=False)


# ----------------------------------------------------------------------------- upper bound
def test_min_depth_is_the_smallest_depth_with_the_hypothesis():
  for h in (1, 2, 3, 8, 64):
    depth = fr.theorem4_min_depth(h)
    assert math.sqrt(depth) >= 2 * E2 * h > math.sqrt(depth - 1)
  assert fr.theorem4_min_depth(1) == 219


def test_scaled_weights_sit_on_the_hypotheses_boundary():
  rng = np.random.default_rng(0)
  for d, h, length in SHAPES[:5]:
    q, k, v = fr.theorem4_scale_weights(*[rng.normal(size=(d, d)) for _ in range(3)], h)
    u = _u(rng, _spectrum(rng, d), length)
    hyp = fr.theorem4_hypotheses(u, q, k, v, h, fr.theorem4_min_depth(h))
    assert hyp["satisfied"]
    # scaled exactly onto the boundary; float64 round-off only.
    assert abs(hyp["qk_ratio"] - 1) < 1e-12 and abs(hyp["v_norm"] - 1) < 1e-12
    assert hyp["max_column_norm"] <= 1 + 1e-12  # implied by sigma_1 = 1 (round-off)


def test_eq5_upper_bound_holds_on_random_instances():
  rng = np.random.default_rng(1)
  tightest = 0.0
  for n in range(60):
    d, h, length = SHAPES[n % len(SHAPES)]
    s = _spectrum(rng, d)
    u = _u(rng, s, length)
    q, k, v = _weights(rng, d, h)
    depth = fr.theorem4_min_depth(h) * int(rng.choice([1, 1, 4, 100]))
    assert fr.theorem4_hypotheses(u, q, k, v, h, depth)["satisfied"]
    sz = _sv(_z(u, q, k, v, h, depth))
    bound = fr.theorem4_upper_bound(s, h, depth)
    ratio = sz / sz[0]
    assert np.all(ratio <= bound * (1 + REL)), (n, d, h, length, depth)
    tightest = max(tightest, float(np.max(ratio[1:] / bound[1:])))
  assert tightest > 0.3  # beyond k = 1 some instances come within ~2x of the bound


def test_eq26_absolute_bound_holds_for_every_depth_including_one():
  rng = np.random.default_rng(2)
  for n in range(60):
    d, h, length = SHAPES[n % len(SHAPES)]
    s = _spectrum(rng, d)
    u = _u(rng, s, length)
    q, k, v = _weights(rng, d, h)
    depth = int(rng.choice([1, 2, 9]))
    sz = _sv(_z(u, q, k, v, h, depth))
    assert np.all(sz <= fr.theorem4_singular_value_bound(s, h, depth) * (1 + REL)), n


def _mean_removing_instance(d, length, delta):
  """U = v 1^T/sqrt(L) + E with E 1 = 0 and sigma(E) = delta; W_Q = W_K = 0, W_V = -I.

  Then G = 11^T/L (uniform), Y = -U 11^T/L and Z = U + Y = E at D = 1.
  """
  rng = np.random.default_rng(0)
  left = np.linalg.qr(rng.normal(size=(d, d)))[0]
  right = np.linalg.qr(np.column_stack([np.ones(length), rng.normal(size=(length, d - 1))]))[0]
  right[:, 0] = np.abs(right[:, 0])  # the constant direction 1/sqrt(L)
  s = np.array([1.0] + [delta] * (d - 1))
  return s, (left * s) @ right.T


def test_eq5_needs_the_depth_hypothesis_counterexample_at_depth_one():
  d, length, h = 6, 12, 1
  s, u = _mean_removing_instance(d, length, delta=1e-3)
  zeros = np.zeros((d, d))
  sz = _sv(_z(u, zeros, zeros, -np.eye(d), h, 1))
  ratio = sz / sz[0]
  np.testing.assert_allclose(ratio[:d - 1], 1.0, rtol=1e-9)  # Z = E: flat spectrum (round-off)
  # Eq. (5)'s right-hand side evaluated at D = 1 (2 x eq. (26)) is 2 (1 + e^2) delta at k = 3
  # (delta = 1e-3), while the ratio is 1: the literal bound fails by ~60x.
  literal = 2 * fr.theorem4_singular_value_bound(s, h, 1)
  np.testing.assert_allclose(literal[2], 2 * (1 + np.e ** 2) * 1e-3, rtol=1e-12)  # float64
  assert ratio[2] > 50 * literal[2]
  with pytest.raises(ValueError, match="depth"):
    fr.theorem4_upper_bound(s, h, 1)
  # eq. (26) itself survives at D = 1.
  assert np.all(sz <= fr.theorem4_singular_value_bound(s, h, 1) * (1 + REL))


# ----------------------------------------------------------------------------- lower bound
def _construction(s, h, length, depth):
  c = fr.theorem4_lower_bound_construction(s, h, length, depth)
  with spectral.float64():
    g = np.asarray(attention.attention_weights(c.u, c.w_q, c.w_k, h))
    z = np.asarray(attention.residual_attention_layer(c.u, c.w_q, c.w_k, c.w_v, h, depth))
  return c, g, z


@pytest.mark.parametrize("d, h, length, depth", [(6, 2, 6, 1), (12, 3, 40, 4), (16, 4, 16, 1),
                                                 (16, 2, 64, 300), (8, 8, 20, 1)])
def test_lower_bound_construction_follows_appendix_f_step_by_step(d, h, length, depth):
  rng = np.random.default_rng(d + h + length)
  s = _spectrum(rng, d)
  c, g, z = _construction(s, h, length, depth)
  d_h = d // h
  np.testing.assert_allclose(_sv(c.u), s, rtol=1e-12)  # U = [diag(sigma) | 0]
  blocks = c.w_v.reshape(h, d_h, d)
  assert max(np.linalg.norm(b, 2) for b in blocks) <= 1.0
  g_ideal = fr.theorem4_ideal_attention(h, d, length)
  for i in range(h):
    rows = slice(i * d_h, (i + 1) * d_h)
    scores = (c.w_q[rows] @ c.u).T @ (c.w_k[rows] @ c.u) / math.sqrt(d_h)
    pattern = np.where(np.arange(length) < d, g_ideal[i], 0.0)  # P^(i): G~ on columns <= d
    np.testing.assert_allclose(scores, c.alpha * pattern, atol=1e-12 * c.alpha)  # T = alpha P
    assert np.linalg.norm(g[i] - g_ideal[i], 2) <= c.epsilon  # ||G - G~||_2 <= eps
  # Z with G~: its first d columns are the diagonal matrix of eq. (29).
  y_ideal = np.vstack([blocks[i] @ c.u @ g_ideal[i] for i in range(h)])
  z_ideal = c.u + y_ideal / math.sqrt(depth)
  j = np.arange(d) % d_h + 1
  eq29 = s + np.where(j < d_h, s[j - 1], 0.0) / math.sqrt(depth)
  np.testing.assert_allclose(z_ideal[:, :d], np.diag(eq29), atol=1e-15)
  # ||E||_2 <= h eps, ||Z_trail||_2 <= sqrt(d/L)/sqrt(D), sigma_1(Z) <= 16/5.
  e = (z - z_ideal) * math.sqrt(depth)
  assert np.linalg.norm(e, 2) <= h * c.epsilon
  assert np.linalg.norm(z_ideal[:, d:]) <= math.sqrt(d / length) / math.sqrt(depth) + 1e-15
  sz = _sv(z)
  assert sz[0] <= 16 / 5
  # sigma_k(Z) >= (4/5) xi_{i, ceil(k/i)} for every admissible i (the step before eq. (6)).
  table = fr.theorem4_lower_bound(s, h, depth)
  ok = ~np.isnan(table)
  assert np.all((sz[None, :] >= 0.8 * 4 * table)[ok])


def test_eq6_lower_bound_is_attained_on_random_instances():
  rng = np.random.default_rng(3)
  checked, closest = 0, np.inf
  for n in range(60):
    d, h, length = SHAPES[n % len(SHAPES)]
    s = _spectrum(rng, d)
    depth = int(rng.choice([1, 1, 2, 10, 1000]))
    _, _, z = _construction(s, h, length, depth)
    sz = _sv(z)
    table = fr.theorem4_lower_bound(s, h, depth)
    ok = ~np.isnan(table)
    assert np.all(((sz / sz[0])[None, :] >= table * (1 - REL))[ok]), (n, d, h, length, depth)
    checked += int(ok.sum())
    if ok.any():
      closest = min(closest, float(np.min(((sz / sz[0])[None, :] / table)[ok])))
  assert checked > 500  # the (i, k) pairs with ceil(k/i) < d_h were really exercised
  assert closest < 2.5  # the construction is within a small factor of eq. (6) (not vacuous)


def test_eq6_table_marks_the_admissible_pairs():
  s = np.exp(-np.arange(12.0))
  table = fr.theorem4_lower_bound(s, 3, 1)  # d_h = 4
  for i in range(1, 4):
    for k in range(1, 13):
      m = -(-k // i)
      if m < 4:
        assert table[i - 1, k - 1] == pytest.approx(0.25 * (s[(i - 1) * 4 + m - 1] + s[m - 1]))
      else:
        assert np.isnan(table[i - 1, k - 1])


# ----------------------------------------------------------------------------- Corollary 1
def test_corollary1_upper_bound_corrected_index_holds_on_random_instances():
  rng = np.random.default_rng(4)
  for n in range(60):
    d, h, length = SHAPES[n % len(SHAPES)]
    s = _spectrum(rng, d)
    u = _u(rng, s, length)
    q, k, v = _weights(rng, d, h)
    sz = _sv(_z(u, q, k, v, h, 1))
    sharp = fr.theorem4_singular_value_bound(s, h, 1)
    cor = fr.corollary1_upper_bound(s, h)
    assert np.all(sz <= sharp * (1 + REL)) and np.all(sharp <= cor * (1 + REL)), n


def _rank_one_plus_delta(rng, d, length, delta):
  left = np.linalg.qr(rng.normal(size=(d, d)))[0]
  right = np.linalg.qr(rng.normal(size=(length, d)))[0]
  s = np.array([1.0] + [delta] * (d - 1))
  return s, (left * s) @ right.T


@pytest.mark.parametrize("h", [1, 2, 3])
def test_corollary1_printed_upper_index_fails(h):
  """Printed: sigma_k(Z) <= O(h) sigma_{floor((k+1)/(h+1))+1}. At k = h that index is 2, but a
  rank-one U (sigma_2 = delta -> 0) gives h heads h new directions: sigma_h(Z) stays fixed, so
  sigma_h(Z) / sigma_2 grows like 1/delta and no universal constant exists."""
  d, length = 2 * h, 2 * h
  k, printed_index = h, (h + 1) // (h + 1) + 1
  assert printed_index == 2
  rng = np.random.default_rng(10 + h)
  q, kk, v = fr.theorem4_scale_weights(*[rng.normal(size=(d, d)) for _ in range(3)], h)
  ratios = []
  for delta in (1e-6, 1e-9):
    s, u = _rank_one_plus_delta(np.random.default_rng(h), d, length, delta)
    sz = _sv(_z(u, q, kk, v, h, 1))
    ratios.append(sz[k - 1] / ((1 + E2 * h) * s[printed_index - 1]))
    assert sz[k - 1] <= fr.corollary1_upper_bound(s, h)[k - 1]  # corrected index holds
  assert ratios[0] > 1  # the printed bound with the explicit constant 1 + e^2 h fails ...
  assert ratios[1] > 500 * ratios[0]  # ... and the violation grows ~1/delta (1000x here)


def test_corollary1_printed_upper_index_fails_trivially_for_one_head():
  # h = 1, k = 1: printed index floor(2/2) + 1 = 2; W_V = 0 gives Z = U, sigma_1(Z) = 1.
  s = np.array([1.0, 1e-8, 1e-8])
  u = np.hstack([np.diag(s), np.zeros((3, 2))])
  zeros = np.zeros((3, 3))
  sz = _sv(_z(u, zeros, zeros, zeros, 1, 1))
  assert sz[0] == pytest.approx(1.0) and sz[0] > 1e6 * (1 + E2) * s[1]


def test_corollary1_lower_bound_on_the_construction():
  rng = np.random.default_rng(5)
  checked = 0
  for n in range(50):
    d, h, length = SHAPES[n % len(SHAPES)]
    s = _spectrum(rng, d)
    _, _, z = _construction(s, h, length, 1)
    sz = _sv(z)
    low = fr.corollary1_lower_bound(s, h)
    ok = ~np.isnan(low)
    assert np.all((sz >= low * (1 - REL))[ok]), n
    m = -(-np.arange(1, d + 1) // h)
    assert np.all(((sz / sz[0]) >= 0.25 * s[np.minimum(m, d) - 1] * (1 - REL))[ok])
    checked += int(ok.sum())
  assert checked > 100


def test_corollary1_printed_lower_range_fails_when_heads_exceed_head_dim():
  """Printed range k <= d - d_h. With d = 8, h = 4, d_h = 2 it allows k = 6, where
  ceil(6/4) = 2 = d_h: the construction's sigma_6(Z) ~ sigma_4 << sigma_2 = sigma_{ceil(k/h)}."""
  d, h, k = 8, 4, 6
  assert k <= d - d // h and -(-k // h) == d // h
  s = np.array([1.0, 0.9, 0.8, 1e-6, 1e-6, 1e-7, 1e-7, 1e-8])
  _, _, z = _construction(s, h, 16, 1)
  sz = _sv(z)
  assert sz[k - 1] < 1e-5 * s[1]  # no universal constant c with sigma_6(Z) >= c sigma_2
  assert np.isnan(fr.corollary1_lower_bound(s, h)[k - 1])  # outside the corrected range


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("sigma, match", [
    ([1.0, 0.5, 0.7, 0.1], "non-increasing"),
    ([0.9, 0.5, 0.2, 0.1], r"sigma\[0\]"),
    ([1.0, 0.5, 0.2, 0.0], r"^sigma must lie in \(0, 1\], got range \[0.0, 1.0\]"),
    ([1.0, 1.5, 0.2, 0.1], r"^sigma must lie in \(0, 1\], got range \[0.1, 1.5\]"),
    ([[1.0, 0.5], [0.2, 0.1]], r"^sigma must have 1 dimensions, got shape \(2, 2\)"),
    ([], r"^sigma must not be empty"),
])
def test_bad_sigma_raises(sigma, match):
  for fn in (lambda s: fr.theorem4_singular_value_bound(s, 1, 1),
             lambda s: fr.theorem4_lower_bound(s, 1, 1),
             lambda s: fr.theorem4_lower_bound_construction(s, 1, 8, 1),
             lambda s: fr.corollary1_upper_bound(s, 1),
             lambda s: fr.corollary1_lower_bound(s, 1)):
    with pytest.raises(ValueError, match=match):
      fn(sigma)


def test_bad_arguments_raise_naming_them():
  s = np.array([1.0, 0.5, 0.25, 0.125])
  with pytest.raises(ValueError, match="num_heads"):
    fr.theorem4_upper_bound(s, 3, 10**6)
  with pytest.raises(ValueError, match="depth"):
    fr.theorem4_upper_bound(s, 2, fr.theorem4_min_depth(2) - 1)
  with pytest.raises(ValueError, match="depth"):
    fr.theorem4_singular_value_bound(s, 1, 0)
  with pytest.raises(ValueError, match="length"):
    fr.theorem4_lower_bound_construction(s, 2, 3, 1)
  with pytest.raises(ValueError, match="num_heads"):
    fr.corollary1_lower_bound(s, 0)
  with pytest.raises(ValueError, match=r"^w_k must have d=4 columns, got shape \(3, 3\)"):
    fr.theorem4_scale_weights(np.eye(4), np.eye(3), np.eye(4), 2)
  with pytest.raises(ValueError, match=r"and of w_v must be non-zero to be rescaled$"):
    fr.theorem4_scale_weights(np.eye(4), np.eye(4), np.zeros((4, 4)), 2)
  with pytest.raises(ValueError, match=r"^u must have 2 dimensions, got shape \(4,\)"):
    fr.theorem4_hypotheses(np.ones(4), np.eye(4), np.eye(4), np.eye(4), 1, 1)


def test_weyl_ratio_bound_holds_on_random_perturbations_and_is_attained_at_k_equal_d():
  rng = np.random.default_rng(11)
  d, length = 12, 30
  sigma = np.sort(rng.uniform(0.01, 1.0, d))[::-1]
  sigma[0] = 1.0
  left = np.linalg.qr(rng.normal(size=(d, d)))[0]
  right = np.linalg.qr(rng.normal(size=(length, d)))[0]
  x = (left * sigma) @ right.T
  for e_norm in (1e-3, 0.1, 0.4):
    e = rng.normal(size=(d, length))
    e *= e_norm / np.linalg.norm(e, 2)
    s = np.linalg.svd(x + e, compute_uv=False)
    # Weyl is exact; 1e-12 relative covers float64 round-off of a 12 x 30 SVD
    assert np.all(s / s[0] <= fr.weyl_ratio_bound(sigma, e_norm) * (1 + 1e-12))
  # attained: E = e u_d v_d^T - e u_1 v_1^T raises sigma_d by e and lowers sigma_1 by e
  e_norm = 0.01
  e = e_norm * (np.outer(left[:, -1], right[:, -1]) - np.outer(left[:, 0], right[:, 0]))
  s = np.linalg.svd(x + e, compute_uv=False)
  assert s[-1] / s[0] == pytest.approx(fr.weyl_ratio_bound(sigma, e_norm)[-1], rel=1e-12)
  assert np.isinf(fr.weyl_ratio_bound(sigma, 1.0)).all()  # e >= sigma_1: nothing is left
  with pytest.raises(ValueError, match="perturbation_norm must be finite and >= 0"):
    fr.weyl_ratio_bound(sigma, -1.0)
