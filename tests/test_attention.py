"""Tests for lowrank_ts.attention: ours vs a numpy reference, low-rank forms vs dense, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_ts import attention as attn
from lowrank_ts import spectral


def numpy_multi_head(u, w_q, w_k, w_v, h, scale=None):
  """Independent reference for eq. (18), written from the paper with plain loops."""
  d_h = w_q.shape[0] // h
  dv = w_v.shape[0] // h
  scale = d_h ** -0.5 if scale is None else scale
  out = []
  for i in range(h):
    q = w_q[i * d_h:(i + 1) * d_h] @ u
    k = w_k[i * d_h:(i + 1) * d_h] @ u
    v = w_v[i * dv:(i + 1) * dv] @ u
    scores = (u.T @ w_q[i * d_h:(i + 1) * d_h].T @ w_k[i * d_h:(i + 1) * d_h] @ u) * scale
    assert np.allclose(scores, q.T @ k * scale)
    g = np.exp(scores - scores.max(axis=0, keepdims=True))
    g /= g.sum(axis=0, keepdims=True)  # columns sum to 1
    out.append(v @ g)
  return np.vstack(out)


def _weights(rng, d, rows=None, n=3):
  rows = d if rows is None else rows
  return [rng.normal(size=(rows, d)) / np.sqrt(d) for _ in range(n)]


@pytest.mark.parametrize("d, L, h", [(8, 5, 1), (8, 5, 2), (12, 20, 3), (16, 4, 16)])
def test_multi_head_matches_numpy(d, L, h):
  rng = np.random.default_rng(d + L + h)
  u = rng.normal(size=(d, L))
  w_q, w_k, w_v = _weights(rng, d)
  with spectral.float64():
    ours = attn.multi_head_attention(u, w_q, w_k, w_v, h)
  # float64 on both sides: differences are pure round-off.
  np.testing.assert_allclose(ours, numpy_multi_head(u, w_q, w_k, w_v, h), atol=1e-12)


def test_single_head_attention_uses_1_over_sqrt_d_and_column_softmax():
  rng = np.random.default_rng(0)
  d, L = 6, 9
  u = rng.normal(size=(d, L))
  w_q, w_k, w_v = _weights(rng, d)
  with spectral.float64():
    ours = attn.attention(u, w_q, w_k, w_v)
    g = attn.attention_weights(u, w_q, w_k, 1)
  np.testing.assert_allclose(ours, numpy_multi_head(u, w_q, w_k, w_v, 1, d ** -0.5),
                             atol=1e-12)  # float64 round-off
  np.testing.assert_allclose(np.asarray(g).sum(axis=1), 1.0, atol=1e-12)  # columns sum to 1
  assert g.shape == (1, L, L)


def test_rectangular_projections_inner_dim_differs_from_d():
  # rows = h * d_h may differ from d (as in chronos-t5-mini: 512 vs 384).
  rng = np.random.default_rng(1)
  d, L, h = 6, 7, 2
  u = rng.normal(size=(d, L))
  w_q, w_k, w_v = _weights(rng, d, rows=10)
  with spectral.float64():
    ours = attn.multi_head_attention(u, w_q, w_k, w_v, h)
  assert ours.shape == (10, L)
  np.testing.assert_allclose(ours, numpy_multi_head(u, w_q, w_k, w_v, h), atol=1e-12)


def _sketches(rng, d, h, r, nnz):
  d_h = d // h
  shared = attn.SharedSketch(rng.normal(size=(d, r)), rng.normal(size=(r, d)))
  head = attn.HeadSketch(rng.normal(size=(h, d_h, r)), rng.normal(size=(h, r, d)))
  sparse = attn.SparseHeadSketch(rng.normal(size=(h, d_h, r)),
                                 rng.integers(0, d, size=(h, r, nnz)),
                                 rng.normal(size=(h, r, nnz)))
  return shared, head, sparse


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_low_rank_forms_equal_dense_with_multiplied_factors(kind):
  rng = np.random.default_rng(2)
  d, L, h, r = 12, 10, 3, 2
  u = rng.normal(size=(d, L)) / np.sqrt(d)
  ws = [_sketches(rng, d, h, r, nnz=4)[kind] for _ in range(3)]
  with spectral.float64():
    dense = [np.asarray(attn.to_dense(w, d)) for w in ws]
    assert all(x.shape == (d, d) for x in dense)
    assert np.linalg.matrix_rank(dense[0]) <= (r if kind == 0 else h * r)
    ours = attn.multi_head_attention(u, *ws, h)
    ref = attn.multi_head_attention(u, *dense, h)
    # float64: the factored and dense products differ only by summation order.
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    np.testing.assert_allclose(ref, numpy_multi_head(u, *dense, h), atol=1e-12)


def test_full_rank_factorisation_of_dense_weights_is_exact():
  # A dense W factored by its SVD at full rank (shared sketch, eq. 19) and per head
  # (eq. 20) gives back the dense attention.
  rng = np.random.default_rng(3)
  d, L, h = 8, 6, 2
  d_h = d // h
  u = rng.normal(size=(d, L))
  dense = _weights(rng, d)
  with spectral.float64():
    shared = [attn.SharedSketch(*spectral.truncated_svd(w, rank=d)) for w in dense]
    head = []
    for w in dense:
      factors = [spectral.truncated_svd(w[i * d_h:(i + 1) * d_h], rank=d_h) for i in range(h)]
      head.append(attn.HeadSketch(jnp.stack([a for a, _ in factors]),
                                  jnp.stack([b for _, b in factors])))
    ref = attn.multi_head_attention(u, *dense, h)
    for ws in (shared, head):
      # float64 SVD round-off only.
      np.testing.assert_allclose(attn.multi_head_attention(u, *ws, h), ref, atol=1e-10)


def test_sparse_sketch_with_dense_columns_equals_head_sketch():
  rng = np.random.default_rng(4)
  d, h, r = 6, 2, 3
  head = attn.HeadSketch(rng.normal(size=(h, d // h, r)), rng.normal(size=(h, r, d)))
  cols = np.broadcast_to(np.arange(d), (h, r, d))
  sparse = attn.SparseHeadSketch(head.w1, cols, head.w2)
  u = rng.normal(size=(d, 5))
  with spectral.float64():
    # identical sums in a different order: round-off only.
    np.testing.assert_allclose(attn.project(sparse, u), attn.project(head, u), atol=1e-12)
    np.testing.assert_allclose(attn.to_dense(sparse, d), attn.to_dense(head), atol=1e-12)


def test_sparse_sketch_repeated_columns_accumulate():
  w1 = np.ones((1, 1, 1))
  sparse = attn.SparseHeadSketch(w1, np.array([[[2, 2]]]), np.array([[[1.0, 3.0]]]))
  np.testing.assert_array_equal(attn.to_dense(sparse, 3), [[0.0, 0.0, 4.0]])
  u = np.arange(6.0).reshape(3, 2)
  np.testing.assert_array_equal(attn.project(sparse, u), [4 * u[2]])


def test_residual_layer():
  rng = np.random.default_rng(5)
  d, L, h, depth = 8, 9, 4, 16
  u = rng.normal(size=(d, L))
  w = _weights(rng, d)
  with spectral.float64():
    z = attn.residual_attention_layer(u, *w, h, depth)
  # Z = U + Y / sqrt(D) (Theorem 4); float64 round-off.
  np.testing.assert_allclose(z, u + numpy_multi_head(u, *w, h) / 4.0, atol=1e-12)


def test_attention_is_jittable_and_differentiable():
  rng = np.random.default_rng(6)
  u = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
  ws = [jnp.asarray(w, jnp.float32) for w in _weights(rng, 4)]
  f = jax.jit(lambda u, *w: attn.multi_head_attention(u, *w, num_heads=2).sum())
  grads = jax.grad(f, argnums=(0, 1, 2, 3))(u, *ws)
  chex.assert_tree_all_finite(grads)
  chex.assert_equal_shape([grads[0], u])
  # The gradients are right: reverse mode against central finite differences in float64
  # (check_grads' default tolerance for float64, step 1e-4 for a smooth function).
  from jax.test_util import check_grads
  with spectral.float64():
    args = (jnp.asarray(u, jnp.float64), *(jnp.asarray(w, jnp.float64) for w in ws))
    check_grads(lambda u, *w: attn.multi_head_attention(u, *w, num_heads=2).sum(), args,
                order=1, modes=["rev"], eps=1e-4)


@pytest.mark.parametrize("call, match", [
    (lambda u, w: attn.multi_head_attention(u, w, w, w, 3), "num_heads=3 must divide"),
    (lambda u, w: attn.multi_head_attention(u, w, w, w, 0), "num_heads must be >= 1"),
    (lambda u, w: attn.multi_head_attention(u[0], w, w, w, 1), "u must have 2 dim"),
    (lambda u, w: attn.multi_head_attention(u, w[:, :3], w, w, 1), "w_q must have d=4 col"),
    (lambda u, w: attn.multi_head_attention(u, w, w[:2], w, 1), "same number of rows"),
    (lambda u, w: attn.multi_head_attention(u, w, w, w, 2, scale=-1.0), "scale must be"),
    (lambda u, w: attn.residual_attention_layer(u, w, w, w, 2, 0), "depth must be >= 1"),
    (lambda u, w: attn.residual_attention_layer(u, w, w, w[:2], 2, 1), "w_v must map back"),
    (lambda u, w: attn.multi_head_attention(
        u, attn.SharedSketch(np.ones((4, 2)), np.ones((3, 4))), w, w, 1), "rank r must agree"),
    (lambda u, w: attn.multi_head_attention(
        u, attn.HeadSketch(np.ones((2, 2, 1)), np.ones((2, 1, 4))), w, w, 4),
     "per-head sketch with 2 heads"),
    (lambda u, w: attn.multi_head_attention(
        u, attn.HeadSketch(np.ones((2, 2, 1)), np.ones((2, 2, 4))), w, w, 2),
     "w_q.w2 must have shape"),
    (lambda u, w: attn.multi_head_attention(
        u, attn.SparseHeadSketch(np.ones((2, 2, 1)), np.full((2, 1, 1), 4), np.ones((2, 1, 1))),
        w, w, 2), "w_q.cols must lie in \\[0, 4\\)"),
    (lambda u, w: attn.multi_head_attention(
        u, attn.SparseHeadSketch(np.ones((2, 2, 1)), np.ones((2, 1, 1)), np.ones((2, 1, 1))),
        w, w, 2), "w_q.cols must be integer"),
])
def test_bad_input_names_the_argument(call, match):
  u = np.ones((4, 5))
  w = np.ones((4, 4))
  with pytest.raises(ValueError, match=match):
    call(u, w)
