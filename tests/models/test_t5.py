"""Flax T5 / Chronos: every named config builds, invariants, and bad input."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.models import (
  BOLT_CONFIGS,
  CHRONOS_CONFIGS,
  AttentionSpec,
  Chronos,
  ChronosConfig,
  ProjectionSpec,
  T5Config,
  named_config,
  t5_ops,
)
from lowrank_ts.models.tokenizer import MeanScaleUniformBins
from lowrank_ts.models.t5 import T5  # noqa: F811

# Published parameter counts (HF model cards: 8M, 20M, 46M, 200M, 710M).
PUBLISHED_MILLIONS = {"tiny": 8, "mini": 20, "small": 46, "base": 200, "large": 710}


def _n_params(abstract) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))


@pytest.mark.parametrize("name", sorted(CHRONOS_CONFIGS))
def test_every_chronos_config_builds(name):
  config = CHRONOS_CONFIGS[name]
  abstract = nnx.eval_shape(lambda: Chronos(config, rngs=nnx.Rngs(0)))
  size = name.removeprefix("chronos-t5-")
  if size in PUBLISHED_MILLIONS:
    # Model cards give sizes rounded to 1-2 significant digits (tiny 8.4M is "8M").
    assert abs(_n_params(abstract) / (PUBLISHED_MILLIONS[size] * 1e6) - 1) < 0.06
    assert abstract.shared.shape == (4096, config.t5.d_model)  # Chronos' published vocabulary
  assert abstract.shared.shape == (config.tokenizer.n_tokens, config.t5.d_model)


def test_mini_inner_dim_differs_from_d_model():
  t5 = CHRONOS_CONFIGS["chronos-t5-mini"].t5
  abstract = nnx.eval_shape(lambda: T5(t5, rngs=nnx.Rngs(0)))
  assert abstract.encoder.layers[0].self_attention.q.kernel.shape == (384, 512)
  assert abstract.encoder.layers[0].self_attention.o.kernel.shape == (512, 384)


def test_named_config_lookup():
  assert named_config("chronos-t5-small") is CHRONOS_CONFIGS["chronos-t5-small"]
  assert named_config("chronos-bolt-base") is BOLT_CONFIGS["chronos-bolt-base"]
  with pytest.raises(ValueError, match="name must be one of"):
    named_config("chronos-t5-huge")


@pytest.fixture(scope="module")
def small_model():
  t5 = T5Config(vocab_size=50, d_model=32, d_ff=48, num_layers=2, num_heads=4, d_kv=8,
                num_decoder_layers=2, relative_attention_max_distance=16, dropout_rate=0.5,
                initializer_factor=1.0)
  return T5(t5, rngs=nnx.Rngs(0, dropout=1))


def test_forward_shapes_dtypes_finite(small_model):
  ids = jnp.arange(24).reshape(2, 12) % 50
  logits = nnx.jit(lambda m, i, k, d: m(i, k, d))(small_model, ids, jnp.ones((2, 12), bool),
                                                   ids[:, :5])
  chex.assert_shape(logits, (2, 5, 50))
  chex.assert_type(logits, jnp.float32)
  chex.assert_tree_all_finite(logits)


def test_decoder_is_causal(small_model):
  """The logit at step t has zero gradient w.r.t. decoder inputs after t."""
  encoder = small_model.encode(jnp.ones((1, 6), jnp.int32))
  embeds = small_model.shared[...][jnp.array([[0, 3, 7, 9, 2]])]

  def logit_at(embeds_BTD, t):
    hidden = small_model.decoder(embeds_BTD, None, encoder)
    return small_model.lm_logits(hidden)[0, t].sum()

  grad_at = jax.jit(jax.grad(logit_at))
  for t in range(5):
    grad = grad_at(embeds, t)
    assert np.all(np.asarray(grad[0, t + 1:]) == 0.0)
    assert np.any(np.asarray(grad[0, : t + 1]) != 0.0)


def test_encoder_ignores_masked_positions(small_model):
  ids = jnp.array([[5, 6, 7, 8, 9, 10]])
  mask = jnp.array([[False, False, True, True, True, True]])
  changed = ids.at[0, :2].set(jnp.array([40, 41]))
  out_a = small_model.encode(ids, mask)[:, 2:]
  out_b = small_model.encode(changed, mask)[:, 2:]
  # Masked keys get finfo.min added, so their softmax weight is exactly 0.
  np.testing.assert_array_equal(np.asarray(out_a), np.asarray(out_b))


def test_dropout_only_in_training(small_model):
  ids = jnp.arange(12).reshape(2, 6)
  mask = jnp.ones((2, 6), bool)
  encode = nnx.jit(lambda m, i, k: m.encode(i, k))
  eval_a, eval_b = encode(small_model, ids, mask), encode(small_model, ids, mask)
  np.testing.assert_array_equal(np.asarray(eval_a), np.asarray(eval_b))
  training = nnx.view(small_model, deterministic=False)
  # nnx.jit carries the advanced dropout RNG state back, so two calls differ.
  train_a, train_b = encode(training, ids, mask), encode(training, ids, mask)
  assert not np.allclose(np.asarray(train_a), np.asarray(eval_a))
  assert not np.allclose(np.asarray(train_a), np.asarray(train_b))


def test_relative_bias_is_shared_by_layers(small_model):
  assert small_model.encoder.relative_attention_bias.shape == (32, 4)
  assert not hasattr(small_model.encoder.layers[1].self_attention, "relative_attention_bias")


def test_bucket_properties():
  rel = jnp.arange(-300, 301)
  both = np.asarray(t5_ops.relative_position_bucket(rel, True, 32, 128))
  causal = np.asarray(t5_ops.relative_position_bucket(rel, False, 32, 128))
  assert both.min() == 0 and both.max() == 31
  assert np.all(causal[rel >= 0] == 0)  # the future is one bucket (it is masked anyway)
  assert np.all(np.diff(causal[rel <= 0][::-1]) >= 0)  # monotone in distance
  assert both[300 + 5] == 16 + 5 and both[300 - 5] == 5  # exact near zero


def test_rms_norm_matches_formula():
  x = jax.random.normal(jax.random.key(0), (3, 4, 8))
  w = jnp.linspace(0.5, 2.0, 8)
  expected = x / np.sqrt(np.mean(np.asarray(x) ** 2, -1, keepdims=True) + 1e-6) * w
  # fp32 rsqrt vs numpy division: a few ulp.
  np.testing.assert_allclose(t5_ops.rms_norm(x, w), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_model=0), "d_model"),
    (dict(num_heads=2.5), "num_heads"),
    (dict(dropout_rate=1.0), "dropout_rate"),
    (dict(feed_forward_proj="swish"), "feed_forward_proj"),
    (dict(layer_norm_epsilon=-1.0), "layer_norm_epsilon"),
    (dict(relative_attention_num_buckets=2), "relative_attention_num_buckets"),
    (dict(encoder_attention=(AttentionSpec(4, 8),)), "encoder_attention"),
    (dict(encoder_attention=(AttentionSpec(4, 8), AttentionSpec(2, 8))), "n_heads"),
])
def test_t5_config_rejects_bad_values(kwargs, match):
  base = dict(vocab_size=10, d_model=8, d_ff=8, num_layers=2, num_heads=2, d_kv=4)
  base.update(kwargs)
  with pytest.raises(ValueError, match=match):
    T5Config(**base)


def test_specs_reject_bad_values():
  with pytest.raises(ValueError, match="kind"):
    ProjectionSpec("svd", 3)
  with pytest.raises(ValueError, match="rank"):
    ProjectionSpec("shared_sketch", 0)
  with pytest.raises(ValueError, match="rank"):
    ProjectionSpec("dense", 4)
  with pytest.raises(ValueError, match="d_kv"):
    AttentionSpec(2, 0)
  with pytest.raises(ValueError, match="kind must be one of"):
    CHRONOS_CONFIGS["chronos-t5-cpu"].t5.attention_specs("cross")


def test_chronos_config_rejects_bad_values():
  t5 = CHRONOS_CONFIGS["chronos-t5-cpu"].t5
  with pytest.raises(ValueError, match="tokenizer.n_tokens=100 must equal t5.vocab_size"):
    ChronosConfig(t5, MeanScaleUniformBins(n_tokens=100))
  with pytest.raises(ValueError, match="top_p"):
    ChronosConfig(t5, top_p=1.5)
  with pytest.raises(ValueError, match="eos_token_id must be < n_special_tokens"):
    MeanScaleUniformBins(eos_token_id=2)
  with pytest.raises(ValueError, match="tokenizer must be a MeanScaleUniformBins"):
    ChronosConfig(t5, tokenizer="bins")
  with pytest.raises(ValueError, match="prediction_length"):
    ChronosConfig(t5, prediction_length=0)
  with pytest.raises(ValueError, match="config must be a ChronosConfig"):
    Chronos(t5, rngs=nnx.Rngs(0))


def test_model_rejects_bad_inputs(small_model):
  with pytest.raises(ValueError, match="input_ids_BL"):
    small_model.encode(jnp.ones((4,), jnp.int32))
  with pytest.raises(ValueError, match="input_ids_BL"):
    small_model.encode(jnp.ones((2, 3)))
  with pytest.raises(ValueError, match="mask_BL"):
    small_model.encode(jnp.ones((2, 3), jnp.int32), jnp.ones((2, 4), bool))
  with pytest.raises(ValueError, match="encoder_BSD"):
    small_model.decode(jnp.ones((2, 3), jnp.int32), jnp.ones((3, 5, 32)))
  with pytest.raises(ValueError, match="embeds_BLD"):
    small_model.encode_embeds(jnp.ones((2, 3, 7)))


def test_ops_reject_bad_inputs():
  with pytest.raises(ValueError, match="weight_D"):
    t5_ops.rms_norm(jnp.ones((2, 3)), jnp.ones(4))
  with pytest.raises(ValueError, match="relative_position"):
    t5_ops.relative_position_bucket(jnp.ones(3), True)
  with pytest.raises(ValueError, match="num_buckets"):
    t5_ops.relative_position_bucket(jnp.arange(3), True, num_buckets=2)
  with pytest.raises(ValueError, match="q_BLHK"):
    t5_ops.attention_weights(jnp.ones((1, 2, 3)), jnp.ones((1, 2, 3, 4)), 0.0)
  with pytest.raises(ValueError, match="q_BLHK and k_BSHK"):
    t5_ops.attention_weights(jnp.ones((1, 2, 3, 4)), jnp.ones((1, 2, 3, 5)), 0.0)
  with pytest.raises(ValueError, match="weights_BHLS"):
    t5_ops.attend(jnp.ones((1, 3, 2, 2)), jnp.ones((1, 5, 3, 4)))
  with pytest.raises(ValueError, match="query_length"):
    t5_ops.relative_position_bias(jnp.ones((32, 2)), 0, 3, True)
  with pytest.raises(ValueError, match="mask_BL"):
    t5_ops.mask_bias(jnp.ones(3))


def test_config_is_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    CHRONOS_CONFIGS["chronos-t5-cpu"].t5.d_model = 3


def test_mask_helpers():
  bias = t5_ops.causal_bias(2, 3, query_offset=1)
  assert np.all(np.asarray(bias)[0, :2] == 0) and np.asarray(bias)[0, 2] < -1e30
  assert np.all(np.asarray(bias)[1] == 0)
  with pytest.raises(ValueError, match="key_length"):
    t5_ops.causal_bias(2, 0)
  with pytest.raises(ValueError, match="table_NH"):
    t5_ops.relative_position_bias(jnp.ones(32), 2, 2, True)
  with pytest.raises(ValueError, match=r"^eps must be a finite number > 0, got 0\.0"):
    t5_ops.rms_norm(jnp.ones((2, 3)), jnp.ones(3), eps=0.0)


def test_hidden_states_are_the_inputs_of_each_layer(small_model):
  """Entry 0 is the embedding, entry i + 1 depends on layers <= i only, the last one through
  the final norm is the stack's output."""
  embeds = small_model.shared[...][jnp.array([[5, 6, 7, 8, 9, 10]])]
  encoder = small_model.encoder
  hidden = encoder.hidden_states(embeds)
  assert len(hidden) == len(encoder.layers) + 1
  np.testing.assert_array_equal(np.asarray(hidden[0]), np.asarray(embeds))
  np.testing.assert_allclose(np.asarray(encoder.final_norm(hidden[-1])),
                             np.asarray(small_model.encode(jnp.array([[5, 6, 7, 8, 9, 10]]))),
                             rtol=1e-6, atol=1e-6)
  # Perturbing layer 1 leaves the inputs of layers 0 and 1 unchanged and changes the output.
  kernel = encoder.layers[1].ff.wo
  original = kernel[...]
  kernel[...] = original * 2.0
  try:
    perturbed = encoder.hidden_states(embeds)
  finally:
    kernel[...] = original
  for i in (0, 1):
    np.testing.assert_array_equal(np.asarray(perturbed[i]), np.asarray(hidden[i]))
  assert not np.allclose(np.asarray(perturbed[2]), np.asarray(hidden[2]))
