"""The numpy references of the property-based theorem tests (tests/test_theory_properties_*.py).

Singular values on the measured side are numpy float64 (LAPACK), an independent reference;
spectral.singular_values / truncated_svd / eps_rank are themselves the subject of the
Eckart–Young test. Orthogonal factors are Haar distributed, from a drawn seed.
"""

import numpy as np

from lowrank_ts.theory import embedding_bounds as B


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
