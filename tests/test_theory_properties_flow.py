"""Property-based tests (hypothesis) of the theorem bounds, as corrected in paper_repro.md's
Errata: Theorem 4 eqs. (5), (26) and (6) and Corollary 1 (index of erratum 11, range of
erratum 13): flow-of-ranks.
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lowrank_ts import attention, spectral
from lowrank_ts.theory import flow_of_ranks as fr
from tests.theory_reference import _floor, _haar, _sv
from tests.theory_strategies import CHEAP, CI, EPS, REL, SEEDS, _divisors, _long, shapes, spectra

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
