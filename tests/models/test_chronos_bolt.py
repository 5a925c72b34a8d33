"""Chronos-Bolt pieces: instance norm, patching, quantile loss, configs, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.inference import forecasting
from lowrank_ts.models import BOLT_CONFIGS, BoltConfig, ChronosBolt
from lowrank_ts.models.chronos_bolt import instance_norm, patchify, quantile_loss
from lowrank_ts.models.config import QUANTILE_LEVELS
from tests.helpers import FP32_U, rel_diff

# Published sizes in millions: ../shared/reference-facts.md, "Chronos-Bolt" (the Hugging Face
# model pages of amazon/chronos-bolt-{tiny,mini,small,base}: 8.6M, 21.2M, 47.8M, 205M).
PUBLISHED_MILLIONS = {"tiny": 8.6, "mini": 21.2, "small": 47.8, "base": 205.3}


def _bolt_parameter_count(config) -> int:
  """The parameter count from its definition: T5 encoder/decoder layers (bias-free q, k, v, o;
  RMS-norm weights; ReLU FF), the relative-position tables, the final norms, the 2-row shared
  embedding, and the two biased residual blocks (patch 2k -> d_ff -> d, d -> d_ff -> Q H)."""
  t5 = config.t5
  d, ff, inner = t5.d_model, t5.d_ff, t5.num_heads * t5.d_kv
  encoder = t5.num_layers * (4 * d * inner + 2 * d * ff + 2 * d)
  decoder = t5.num_decoder_layers * (8 * d * inner + 2 * d * ff + 3 * d)
  shared = 2 * t5.relative_attention_num_buckets * t5.num_heads + 2 * d + t5.vocab_size * d
  features, out = 2 * config.input_patch_size, len(config.quantiles) * config.prediction_length
  embedding = features * ff + ff + ff * d + d + features * d + d
  head = d * ff + ff + ff * out + out + d * out + out
  return encoder + decoder + shared + embedding + head


@pytest.mark.parametrize("name", sorted(BOLT_CONFIGS))
def test_every_bolt_config_builds(name):
  abstract = nnx.eval_shape(lambda: ChronosBolt(BOLT_CONFIGS[name], rngs=nnx.Rngs(0)))
  n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
  assert n == _bolt_parameter_count(BOLT_CONFIGS[name])
  size = name.removeprefix("chronos-bolt-")
  if size in PUBLISHED_MILLIONS:
    # The pages round to 3 significant digits: within 0.6 % (0.05 / 8.6 at tiny); 1 % margin.
    assert abs(n / (PUBLISHED_MILLIONS[size] * 1e6) - 1) < 0.01


def test_instance_norm_statistics():
  x = jnp.array([[1.0, jnp.nan, 3.0, 5.0], [2.0, 2.0, 2.0, 2.0], [jnp.nan] * 4])
  normed, loc, scale = instance_norm(x)
  # fp32 means of small integers: exact up to the default rtol 1e-7.
  np.testing.assert_allclose(loc[:, 0], [3.0, 2.0, 0.0])
  # population std of (1, 3, 5); constant series get eps; all-missing get 1. fp32 sqrt.
  np.testing.assert_allclose(scale[:, 0], [np.sqrt(8 / 3), 1e-5, 1.0], rtol=1e-6)
  assert np.isnan(normed[0, 1]) and np.all(np.isnan(normed[2]))


def test_patchify_left_pads_with_nan():
  patches = patchify(jnp.arange(5.0)[None], 4)
  assert patches.shape == (1, 2, 4)
  assert np.all(np.isnan(patches[0, 0, :3])) and patches[0, 0, 3] == 0.0
  np.testing.assert_array_equal(patches[0, 1], [1.0, 2.0, 3.0, 4.0])


def test_quantile_loss_is_zero_at_target_and_pinball_otherwise():
  target = jnp.array([[1.0, 2.0]])
  levels = jnp.array([0.1, 0.9])
  exact = jnp.broadcast_to(target[:, None], (1, 2, 2))
  assert float(quantile_loss(exact, target, jnp.ones((1, 2)), levels)) == 0.0
  # prediction 1 above the target: level q costs 2 * 1 * (1 - q); mean over levels, sum over h.
  loss = quantile_loss(exact + 1.0, target, jnp.ones((1, 2)), levels)
  # fp32 arithmetic on 0.1 / 0.9: round-off only.
  np.testing.assert_allclose(float(loss), 2 * (2 * 0.9 + 2 * 0.1) / 2, rtol=1e-6)
  masked = quantile_loss(exact + 1.0, target, jnp.array([[1.0, 0.0]]), levels)
  np.testing.assert_allclose(float(masked), float(loss) / 2, rtol=1e-6)  # same round-off


@pytest.fixture(scope="module")
def bolt():
  return ChronosBolt(BOLT_CONFIGS["chronos-bolt-cpu"], rngs=nnx.Rngs(0))


def test_forward_shape_and_equivariance(bolt):
  context = jax.random.normal(jax.random.key(0), (2, 40))
  forward = nnx.jit(lambda m, c: m(c))
  out = forward(bolt, context)
  assert out.shape == (2, 9, 64)
  # Instance norm makes forecasts equivariant to affine maps of the input.
  shifted = forward(bolt, 3.0 * context + 7.0)
  # Both sides are ~7 (|out| <= 0.15): each carries ~1 ulp of 7 from the de-normalisation, and
  # the network's round-off enters only at 0.15/7 of its size; 8 u allows 8 such roundings.
  assert rel_diff(shifted, 3.0 * np.asarray(out, np.float64) + 7.0) <= 8 * FP32_U


def test_bolt_rejects_bad_input(bolt):
  with pytest.raises(ValueError, match="context_BT"):
    bolt(jnp.ones(10))
  with pytest.raises(ValueError, match="mask_BT"):
    bolt(jnp.ones((2, 10)), jnp.ones((2, 9), bool))
  with pytest.raises(ValueError, match="target_BH"):
    bolt.loss({"context": jnp.ones((2, 10)), "target": jnp.ones((2, 65))})
  with pytest.raises(ValueError, match="levels_Q"):
    quantile_loss(jnp.ones((1, 2, 3)), jnp.ones((1, 3)), jnp.ones((1, 3)), jnp.ones(3))
  with pytest.raises(ValueError, match="x_BT"):
    patchify(jnp.ones(3), 2)
  with pytest.raises(ValueError, match="context_BT"):
    instance_norm(jnp.ones(3))


def test_bolt_config_rejects_bad_values():
  t5 = BOLT_CONFIGS["chronos-bolt-cpu"].t5
  with pytest.raises(ValueError, match="quantiles"):
    BoltConfig(t5, quantiles=(0.5, 0.1))
  with pytest.raises(ValueError, match="input_patch_stride"):
    BoltConfig(t5, input_patch_stride=8)
  with pytest.raises(ValueError, match="vocab_size"):
    BoltConfig(t5, use_reg_token=False)
  with pytest.raises(ValueError, match="config must be a BoltConfig"):
    ChronosBolt(t5, rngs=nnx.Rngs(0))


def test_factorised_bolt_equals_its_dense_export():
  from lowrank_ts.interop import hf
  from lowrank_ts.models import lowrank
  t5 = dataclasses.replace(BOLT_CONFIGS["chronos-bolt-cpu"].t5, num_layers=1,
                           num_decoder_layers=1)
  t5 = lowrank.low_rank_t5(t5, lowrank.UniformSchedule(3), "head_sketch", ("q", "v", "o"))
  factored = ChronosBolt(dataclasses.replace(BOLT_CONFIGS["chronos-bolt-cpu"], t5=t5),
                         rngs=nnx.Rngs(1))
  dense = hf.from_tensors(hf.dense_config(factored.config), hf.to_tensors(factored))
  context = jax.random.normal(jax.random.key(0), (2, 40)).cumsum(-1)
  forward = nnx.jit(lambda m, c: m(c))
  # fp32, factor products vs dense matmuls: summation order only, each product within
  # gamma_n = n u of exact for n <= d_model + rank = 67 terms, 4 chained (q, scores, v, o),
  # both sides: 2 * 4 * 67 u = 3.2e-5 relative to the outputs' scale.
  assert rel_diff(forward(factored, context), forward(dense, context)) <= 2 * 4 * 67 * FP32_U


def test_forecast_interpolates_non_standard_quantile_levels():
  """A model trained on other levels reports the 9 standard ones by linear interpolation,
  clamped outside its range: numpy's interp, level by level, is the reference."""
  levels = (0.05, 0.25, 0.5, 0.75, 0.85)
  t5 = dataclasses.replace(BOLT_CONFIGS["chronos-bolt-cpu"].t5, num_layers=1,
                           num_decoder_layers=1)
  config = dataclasses.replace(BOLT_CONFIGS["chronos-bolt-cpu"], t5=t5, quantiles=levels,
                               prediction_length=8)
  model = ChronosBolt(config, rngs=nnx.Rngs(2))
  context = np.asarray(jax.random.normal(jax.random.key(1), (2, 40)).cumsum(-1))
  q = np.asarray(forecasting.predict(model, context, 8), np.float64)  # [B, 5, H]
  out = forecasting.forecast(model, context, 8)
  expected = np.stack([np.apply_along_axis(lambda v: np.interp(level, levels, v), 1, q)
                       for level in QUANTILE_LEVELS], -1)
  # float64 interpolation of float32 values on both sides (one product and one sum).
  np.testing.assert_allclose(out["quantiles"], expected, rtol=1e-6)
  np.testing.assert_array_equal(out["quantiles"][..., 8], q[:, 4])  # 0.9 > 0.85: clamped
  np.testing.assert_array_equal(out["mean"], q[:, 2])  # the mean is the median
  assert not np.allclose(out["quantiles"][..., 0], q[:, 0])  # 0.1 is interpolated, not copied
