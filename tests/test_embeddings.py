"""Tests of lowrank_ts.embeddings: lookup, patching, residual MLP, Time-MoE, Chebyshev."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_ts import embeddings as E
from lowrank_ts import spectral
from tests.helpers import FP32_U, rel_diff

# ----------------------------------------------------------------------------------------------
# Quantization
# ----------------------------------------------------------------------------------------------

def test_quantized_embedding():
  table = np.arange(12.0).reshape(4, 3)
  ids = np.array([[0, 3, 1], [2, 2, 0]])
  out = np.asarray(E.quantized_embedding(ids, table))
  assert out.shape == (2, 3, 3)  # [B, D, L]
  np.testing.assert_array_equal(out[0], table[[0, 3, 1]].T)
  with pytest.raises(ValueError, match="token_ids"):
    E.quantized_embedding(np.array([0, 4]), table)
  with pytest.raises(ValueError, match="token_ids"):
    E.quantized_embedding(np.array([0.0, 1.0]), table)
  with pytest.raises(ValueError, match="table_VxD"):
    E.quantized_embedding(np.array([0, 1]), np.ones(4))


# ----------------------------------------------------------------------------------------------
# Continuous embeddings
# ----------------------------------------------------------------------------------------------

def test_patch_series():
  x = np.arange(12.0)
  p = np.asarray(E.patch_series(x, 4))
  assert p.shape == (4, 3)
  np.testing.assert_array_equal(p[:, 1], [4, 5, 6, 7])  # column l = patch l
  pb = np.asarray(E.patch_series(np.stack([x, -x]), 3))
  assert pb.shape == (2, 3, 4)
  np.testing.assert_array_equal(pb[1, :, 0], [0, -1, -2])
  with pytest.raises(ValueError, match=r"^k=5 must divide the series length T=12"):
    E.patch_series(x, 5)
  with pytest.raises(ValueError, match=r"^k must be >= 1, got 0"):
    E.patch_series(x, 0)
  with pytest.raises(ValueError, match="series"):
    E.patch_series(np.float32(3), 1)


def test_residual_mlp_matches_numpy():
  rng = np.random.default_rng(0)
  w1, w2, w3 = E.init_residual_mlp(jax.random.key(0), 5, 40, 24)
  assert w1.shape == (40, 5) and w2.shape == (24, 40) and w3.shape == (24, 5)
  x = rng.standard_normal((5, 30)).astype(np.float32)
  w1_, w2_, w3_, x_ = (np.asarray(a, np.float64) for a in (w1, w2, w3, x))  # exact reference
  ref = w3_ @ x_ + w2_ @ np.tanh(w1_ @ x_)
  out = E.residual_mlp_embedding(x, w1, w2, w3, activation=jnp.tanh)
  # fp32 dots of 5, 40 and 5 terms, each within gamma_n = n u of exact: 50 u in all.
  assert rel_diff(out, ref) <= 50 * FP32_U
  batched = E.residual_mlp_embedding(np.stack([x, 2 * x]), w1, w2, w3)  # relu default
  ref_relu = w3_ @ (2 * x_) + w2_ @ np.maximum(w1_ @ (2 * x_), 0)
  assert rel_diff(batched[1], ref_relu) <= 50 * FP32_U  # the same 50 u
  # LeCun init: entry variance 1/fan_in (40*5 samples: 3 standard errors ~ 0.3 relative)
  assert abs(float(jnp.var(w1)) * 5 - 1) < 0.3


def test_residual_mlp_rejects_bad_input():
  w1, w2, w3 = E.init_residual_mlp(jax.random.key(0), 3, 8, 6)
  x = np.ones((3, 4))
  with pytest.raises(ValueError, match="w1_FxK"):
    E.residual_mlp_embedding(np.ones((2, 4)), w1, w2, w3)
  with pytest.raises(ValueError, match="w2_DxF"):
    E.residual_mlp_embedding(x, w1, np.ones((6, 7)), w3)
  with pytest.raises(ValueError, match="w3_DxK"):
    E.residual_mlp_embedding(x, w1, w2, np.ones((5, 3)))
  with pytest.raises(ValueError, match="x_KxL"):
    E.residual_mlp_embedding(np.ones(3), w1, w2, w3)
  with pytest.raises(ValueError, match="activation"):
    E.residual_mlp_embedding(x, w1, w2, w3, activation="relu")
  with pytest.raises(ValueError, match=r"^d_f must be >= 1, got 0"):
    E.init_residual_mlp(jax.random.key(0), 3, 0, 6)
  with pytest.raises(ValueError, match=r"^key must be a JAX PRNG key \(.*\), got dtype int32"):
    E.init_residual_mlp(3, 3, 4, 6)


def test_time_moe_embedding_and_swish():
  rng = np.random.default_rng(0)
  x, w, v = rng.uniform(-1, 1, 50), rng.uniform(-2, 2, 7), rng.uniform(-1, 1, 7)
  with spectral.float64():
    out = np.asarray(E.time_moe_embedding(x, w, v, beta=0.7))
  ref = (w[:, None] * x) * (v[:, None] * x) / (1 + np.exp(-0.7 * w[:, None] * x))
  np.testing.assert_allclose(out, ref, rtol=1e-12)  # float64 on both sides
  z = np.array([0.3 + 0.4j, -1.0 + 2.0j])
  # complex64 (x64 off) vs complex128 NumPy
  np.testing.assert_allclose(np.asarray(E.swish(z, 2.0)), z / (1 + np.exp(-2 * z)), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(E.swish(np.float32([-200.0, 200.0]))), [0.0, 200.0])
  with pytest.raises(ValueError, match="beta"):
    E.time_moe_embedding(x, w, v, beta=0.0)
  with pytest.raises(ValueError, match="w_D and v_D"):
    E.time_moe_embedding(x, w, v[:3])
  with pytest.raises(ValueError, match=r"^x_L must have 1 dimensions, got shape \(2, 2\)"):
    E.time_moe_embedding(np.ones((2, 2)), w, v)


def test_chebyshev_features_are_chebyshev_polynomials():
  x = np.linspace(-15, 15, 101)
  f = np.asarray(E.chebyshev_features(x, 6))
  assert f.shape == (6, 101)
  t = x / 15
  ref = np.stack([np.cos(j * np.arccos(t)) for j in range(1, 7)])  # T_j, j starts at 1
  np.testing.assert_allclose(f, ref, atol=1e-5)  # float32 recurrence vs float64 cosines


def test_chebyshev_embedding_has_rank_exactly_k():
  x = np.linspace(-15, 15, 400)
  for k in (1, 3, 16):
    with spectral.float64():
      emb = E.chebyshev_embedding(x, k, 40, jax.random.key(k))
      s = np.asarray(spectral.singular_values(emb))
      feats = np.asarray(E.chebyshev_features(x, k))
    assert emb.shape == (40, 400)
    # algebraic rank k: sigma_k well away from 0 (Chebyshev rows are well conditioned), the
    # rest at float64 rounding level (sigma_1 * 400 * eps ~ 1e-13 sigma_1)
    assert s[k - 1] / s[0] > 0.05
    assert np.all(s[k:] / s[0] < 1e-12)
    # orthonormal u_j: X^T X = F^T F (float64 products of O(k) terms)
    np.testing.assert_allclose(np.asarray(emb).T @ np.asarray(emb), feats.T @ feats, atol=1e-10)


def test_chebyshev_rejects_bad_input():
  x = np.linspace(-1, 1, 10)
  with pytest.raises(ValueError, match="k=9 must be <= d=8"):
    E.chebyshev_embedding(x, 9, 8, jax.random.key(0))
  with pytest.raises(ValueError, match=r"^k must be >= 1, got 0"):
    E.chebyshev_features(x, 0)
  with pytest.raises(ValueError, match="x_max"):
    E.chebyshev_features(x, 2, x_max=-1.0)
  with pytest.raises(ValueError, match=r"^x_L must have 1 dimensions, got shape \(2, 2\)"):
    E.chebyshev_features(np.ones((2, 2)), 2)
  with pytest.raises(ValueError, match=r"^key must be a JAX PRNG key, got str"):
    E.chebyshev_embedding(x, 2, 8, "key")
  assert math.isclose(float(E.chebyshev_features(np.float32([15.0]), 1)[0, 0]), 1.0)
