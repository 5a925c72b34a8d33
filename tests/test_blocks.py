"""Tests for lowrank_ts.blocks: the T5-layout residual block vs a numpy reference, the stack vs
repeated blocks, T5's RMS norm, the initialisation, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_ts import attention, blocks, spectral


def _numpy_rms(x, g, eps=1e-6):
  return g[:, None] * x / np.sqrt(np.mean(x ** 2, axis=0, keepdims=True) + eps)


def _numpy_block(p, x, h, c=1.0):
  """Reference written from the T5 encoder layer (pre-norm, no bias, ReLU), columns = tokens."""
  d = x.shape[0]
  d_h = d // h
  n = _numpy_rms(x, p.attn_norm_D)
  heads = []
  for i in range(h):
    rows = slice(i * d_h, (i + 1) * d_h)
    scores = (p.w_q_DxD[rows] @ n).T @ (p.w_k_DxD[rows] @ n) / np.sqrt(d_h)
    g = np.exp(scores - scores.max(axis=0))
    g /= g.sum(axis=0)  # softmax over the first index: columns sum to 1 (eq. 18)
    heads.append(p.w_v_DxD[rows] @ n @ g)
  mid = x + c * p.w_o_DxD @ np.vstack(heads)
  return mid + c * p.w_out_DxF @ np.maximum(p.w_in_FxD @ _numpy_rms(mid, p.mlp_norm_D), 0)


def _params(depth=3, d=8, d_ff=12, seed=0):
  # one shape everywhere: every new shape costs a compile (seconds each)
  with spectral.float64():
    p = blocks.init_encoder_stack(jax.random.key(seed), depth, d, d_ff, jnp.float64)
    rng = np.random.default_rng(seed)  # non-trivial norm gains, so their use is tested
    return p._replace(attn_norm_D=jnp.asarray(rng.uniform(0.5, 2, (depth, d))),
                      mlp_norm_D=jnp.asarray(rng.uniform(0.5, 2, (depth, d))))


def _layer(p, i):
  return jax.tree_util.tree_map(lambda a: np.asarray(a[i]), p)


def test_rms_norm_matches_numpy_and_t5_ops():
  from lowrank_ts.models import t5_ops
  rng = np.random.default_rng(0)
  x, g = rng.normal(size=(6, 5)), rng.uniform(0.5, 2, 6)
  with spectral.float64():
    ours = np.asarray(blocks.rms_norm(x, g))
  np.testing.assert_allclose(ours, _numpy_rms(x, g), rtol=1e-13)  # float64 round-off
  theirs = np.asarray(t5_ops.rms_norm(x.T.astype(np.float32), g.astype(np.float32))).T
  # the model code's [B, L, D] norm with fp32 statistics: float32 round-off.
  np.testing.assert_allclose(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("h, c", [(1, 1.0), (2, 1.0), (4, 0.3), (8, 1.0)])
def test_block_matches_numpy_reference(h, c):
  p = _params()
  x = np.random.default_rng(h).normal(size=(8, 7))
  with spectral.float64():
    ours = np.asarray(blocks.encoder_block(_layer(p, 0), x, h, residual_scale=c))
  # float64 on both sides: pure round-off.
  np.testing.assert_allclose(ours, _numpy_block(_layer(p, 0), x, h, c), rtol=1e-11, atol=1e-12)


def test_stack_returns_the_input_to_every_layer():
  p = _params()
  x = np.random.default_rng(1).normal(size=(8, 7))
  with spectral.float64():
    states = np.asarray(blocks.encoder_stack(p, x, 2, residual_scale=0.5))
  assert states.shape == (4, 8, 7)
  np.testing.assert_array_equal(states[0], x)
  for i in range(3):
    # scan vs the numpy reference, float64: round-off only.
    np.testing.assert_allclose(states[i + 1], _numpy_block(_layer(p, i), states[i], 2, 0.5),
                               rtol=1e-11, atol=1e-12)


def test_zero_mlp_output_leaves_the_attention_residual_layer():
  p = _params()
  p = p._replace(w_out_DxF=jnp.zeros_like(p.w_out_DxF))
  x = np.random.default_rng(2).normal(size=(8, 6))
  layer = _layer(p, 0)
  with spectral.float64():
    out = np.asarray(blocks.encoder_block(layer, x, 4, residual_scale=0.5))
    heads = attention.multi_head_attention(_numpy_rms(x, layer.attn_norm_D), layer.w_q_DxD,
                                           layer.w_k_DxD, layer.w_v_DxD, 4)
  expected = x + 0.5 * layer.w_o_DxD @ np.asarray(heads)  # Z = U + c W_O Y (Theorem 4 form)
  np.testing.assert_allclose(out, expected, rtol=1e-11, atol=1e-12)  # float64 round-off


def test_init_is_t5_fan_in_scaled():
  p = blocks.init_encoder_stack(jax.random.key(0), 3, 64, 256)
  assert p.w_q_DxD.shape == (3, 64, 64) and p.w_in_FxD.shape == (3, 256, 64)
  assert p.w_out_DxF.shape == (3, 64, 256) and p.w_out_DxF.dtype == jnp.float32
  np.testing.assert_array_equal(p.attn_norm_D, 1.0)
  for w, fan_in in ((p.w_q_DxD, 64), (p.w_v_DxD, 64), (p.w_in_FxD, 64), (p.w_out_DxF, 256)):
    # std of >= 12288 normal draws: relative standard error <= 1/sqrt(2 * 12288) ~ 0.6%; 5% is
    # over 7 standard errors.
    assert abs(float(jnp.std(w)) * np.sqrt(fan_in) - 1) < 0.05


def test_low_rank_input_gains_rank_through_one_block():
  p = _params()
  rng = np.random.default_rng(3)
  x = rng.normal(size=(8, 2)) @ rng.normal(size=(2, 7))  # rank 2
  with spectral.float64():
    out = np.asarray(blocks.encoder_block(_layer(p, 0), x, 2))
  assert np.linalg.matrix_rank(out) > 2


def test_bad_input_raises_naming_the_argument():
  p = _params()
  layer = _layer(p, 0)
  x = np.ones((8, 5))
  with pytest.raises(ValueError, match="num_heads"):
    blocks.encoder_block(layer, x, 3)
  with pytest.raises(ValueError, match="w_k_DxD"):
    blocks.encoder_block(layer._replace(w_k_DxD=np.ones((8, 7))), x, 2)
  with pytest.raises(ValueError, match="w_out_DxF"):
    blocks.encoder_block(layer._replace(w_out_DxF=np.ones((8, 5))), x, 2)
  with pytest.raises(ValueError, match="params"):
    blocks.encoder_block(dict(layer._asdict()), x, 2)
  with pytest.raises(ValueError, match="attn_norm_D"):
    blocks.encoder_stack(layer, x, 2)  # a single block is not a stack
  with pytest.raises(ValueError, match="x_DxL"):
    blocks.encoder_block(layer, np.ones(8), 2)
  with pytest.raises(ValueError, match="residual_scale"):
    blocks.encoder_stack(p, x, 2, residual_scale=0.0)
  with pytest.raises(ValueError, match="scale_D"):
    blocks.rms_norm(x, np.ones(3))
  with pytest.raises(ValueError, match="d_ff"):
    blocks.init_encoder_stack(jax.random.key(0), 1, 8, 0)
