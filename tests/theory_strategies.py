"""What the property-based theorem tests (tests/test_theory_properties_*.py) draw: hypothesis
profiles, the spectra and the shapes (their numpy references: tests/theory_reference.py).

Hypothesis draws the theorems' ranges (d, L < d, L = d, L >> d, h, ranks, spectra: values
drawn directly -- with ties, plateaus and floors -- or exponential / algebraic decay at a drawn
rate, or a cliff) and shrinks a failure to a small instance; orthogonal factors come from a
drawn seed. Each assertion compares the measured quantity with the bound; every floating
tolerance is justified where it is used.

Shapes that reach jitted attention come from small pools (DIMS x divisors x two or three
lengths), since every new (d, L, h) costs an XLA compilation (~0.5 s on 2 cores); the pools are
shared, so the tests reuse each other's compilations.
"""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
