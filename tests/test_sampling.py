"""The cached jitted sampler: equals the uncached model, samples the softmax, is deterministic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.inference import sampling
from lowrank_ts.models import Chronos, ChronosConfig, T5Config, sampler
from lowrank_ts.models.t5 import T5


@pytest.fixture(scope="module")
def model():
  t5 = T5Config(vocab_size=4096, d_model=32, d_ff=48, num_layers=1, num_heads=4, d_kv=8,
                num_decoder_layers=2, initializer_factor=1.0)
  return Chronos(ChronosConfig(t5), rngs=nnx.Rngs(0))


@nnx.jit
def cached_decoder_logits(model, token_ids_BL, mask_BL, decoder_ids_BNT):
  """Logits ``[B, N, T, V]`` of ``N`` decoder sequences per series fed one token per step
  through the model's KV cache (teacher forcing): the sampler's path."""
  horizon = decoder_ids_BNT.shape[-1]
  encoder_BSD = model.encode(token_ids_BL, mask_BL)
  cache = model.init_decode_cache(encoder_BSD, mask_BL, decoder_ids_BNT.shape[1], horizon)

  def body(cache, step):
    token_BN1 = jax.lax.dynamic_slice_in_dim(decoder_ids_BNT, step, 1, axis=2)
    cache, logits_BN1V = model.decode_step(token_BN1, cache, step)
    return cache, logits_BN1V[:, :, 0]

  _, logits_TBNV = jax.lax.scan(body, cache, jnp.arange(horizon))
  return jnp.moveaxis(logits_TBNV, 0, 2)


def _inputs():
  ids = jax.random.randint(jax.random.key(1), (2, 20), 0, 4096)
  mask = jnp.arange(20)[None] >= jnp.array([[0], [5]])
  return ids, mask


def test_cached_decoding_equals_full_forward(model):
  ids, mask = _inputs()
  decoder_ids = jax.random.randint(jax.random.key(2), (2, 3, 6), 0, 4096).at[:, :, 0].set(0)
  cached = cached_decoder_logits(model, ids, mask, decoder_ids)
  forward = nnx.jit(lambda m, d: m(ids, mask, d))
  full = jnp.stack([forward(model, decoder_ids[:, n]) for n in range(3)], axis=1)
  # Same maths in a different order (cache einsums vs full-sequence attention), fp32.
  np.testing.assert_allclose(cached, full, atol=1e-5, rtol=1e-5)
  assert float(jnp.ptp(full)) > 1.0


def test_cached_prefix_then_steps_equals_full_forward(model):
  # Several positions per call (a prompt of 4 written into the cache at once, then one step
  # at a time), as a decoder with a forced prefix would use the same attention.
  ids, mask = _inputs()
  decoder_ids = jax.random.randint(jax.random.key(5), (2, 3, 6), 0, 4096).at[:, :, 0].set(0)

  @nnx.jit
  def prefix_then_steps(model):
    cache = model.init_decode_cache(model.encode(ids, mask), mask, 3, 6)
    cache, first = model.decode_step(decoder_ids[:, :, :4], cache, 0)
    cache, fifth = model.decode_step(decoder_ids[:, :, 4:5], cache, 4)
    _, sixth = model.decode_step(decoder_ids[:, :, 5:], cache, 5)
    return jnp.concatenate([first, fifth, sixth], axis=2)

  forward = nnx.jit(lambda m, d: m(ids, mask, d))
  full = jnp.stack([forward(model, decoder_ids[:, n]) for n in range(3)], axis=1)
  # fp32, same tolerance and reason as the one-step test above.
  np.testing.assert_allclose(prefix_then_steps(model), full, atol=1e-5, rtol=1e-5)


def test_sampling_is_deterministic_per_key(model):
  ids, mask = _inputs()
  a = sampling.sample(model, ids, mask, jax.random.key(0), num_samples=3, horizon=5)
  b = sampling.sample(model, ids, mask, jax.random.key(0), num_samples=3, horizon=5)
  c = sampling.sample(model, ids, mask, jax.random.key(1), num_samples=3, horizon=5)
  assert a.shape == (2, 3, 5) and a.dtype == jnp.int32
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert not np.any(np.asarray(a) == 1)  # EOS is suppressed


def test_greedy_sampling_follows_argmax(model):
  ids, mask = _inputs()
  tokens = sampling.sample(model, ids, mask, jax.random.key(0), num_samples=2, horizon=4,
                           top_k=1)
  # Re-feed the greedy path: every token is the argmax of its step's logits (EOS excluded).
  path = jnp.concatenate([jnp.zeros((2, 2, 1), jnp.int32), tokens], -1)
  logits = cached_decoder_logits(model, ids, mask, path).at[..., 1].set(-jnp.inf)
  np.testing.assert_array_equal(np.argmax(logits[:, :, :4], -1), tokens)
  top_p = sampling.sample(model, ids, mask, jax.random.key(3), num_samples=2, horizon=4,
                          top_k=None, top_p=1e-6)
  np.testing.assert_array_equal(top_p, tokens)  # a tiny nucleus holds only the argmax


def test_samples_follow_the_tempered_softmax():
  t5 = T5Config(vocab_size=6, d_model=16, d_ff=16, num_layers=1, num_heads=2, d_kv=8,
                initializer_factor=2.0)
  tiny = T5(t5, rngs=nnx.Rngs(3))
  ids, n = jnp.array([[2, 3, 4, 5]]), 20000
  tokens = sampling.sample(tiny, ids, None, jax.random.key(0), num_samples=n, horizon=1,
                           temperature=2.0, top_k=None, eos_token_id=None)
  logits = nnx.jit(lambda m: m(ids, None, jnp.zeros((1, 1), jnp.int32)))(tiny)[0, 0]
  probs = np.asarray(jax.nn.softmax(logits / 2.0))
  freq = np.bincount(np.asarray(tokens).ravel(), minlength=6) / n
  # 5 binomial standard deviations: fails with probability < 1e-5 for a correct sampler.
  np.testing.assert_array_less(np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / n))
  assert probs.max() - probs.min() > 0.05  # the distribution is not uniform


def test_warp_logits():
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  values, ids = sampler.warp_logits(logits, 1.0, 2, 1.0)
  np.testing.assert_array_equal(ids, [[0, 1]])
  values, ids = sampler.warp_logits(logits, 1.0, None, 0.7)  # 0.5 + 0.3 reach 0.7
  assert np.isfinite(values[0, :2]).all() and np.isinf(values[0, 2:]).all()
  values, _ = sampler.warp_logits(logits, 2.0, None, 1.0)
  # fp32 division by the temperature: round-off only.
  np.testing.assert_allclose(values, jnp.sort(logits / 2.0)[:, ::-1], rtol=1e-6)
  with pytest.raises(ValueError, match="logits_NV"):
    sampler.warp_logits(jnp.ones((2, 0)), 1.0, None, 1.0)
  with pytest.raises(ValueError, match="top_k"):
    sampler.warp_logits(logits, 1.0, 0, 1.0)


def test_sample_rejects_bad_input(model):
  ids, mask = _inputs()
  key = jax.random.key(0)
  for kwargs, match in ((dict(num_samples=0, horizon=2), "num_samples"),
                        (dict(num_samples=2, horizon=0), "horizon"),
                        (dict(num_samples=2, horizon=2, top_p=1.5), "top_p"),
                        (dict(num_samples=2, horizon=2, temperature=0.0), "temperature"),
                        (dict(num_samples=2, horizon=2, top_k=-1), "top_k")):
    with pytest.raises(ValueError, match=match):
      sampling.sample(model, ids, mask, key, **kwargs)
  with pytest.raises(ValueError, match=r"^key must be a JAX PRNG key \(.*\), got dtype int32"):
    sampling.sample(model, ids, mask, 3, num_samples=2, horizon=2)
  with pytest.raises(ValueError, match="token_ids_BL"):
    sampling.sample(model, ids[0], None, key, num_samples=2, horizon=2)
  with pytest.raises(ValueError, match="mask_BL"):
    sampling.sample(model, ids, mask[:, :3], key, num_samples=2, horizon=2)
  with pytest.raises(ValueError, match="model"):
    sampling.sample(object(), ids, mask, key, num_samples=2, horizon=2)


def test_longer_horizon_keeps_the_first_steps(model):
  # inference.programs relies on this to sample a bucketed number of steps and cut.
  ids, mask = _inputs()
  short = sampling.sample(model, ids, mask, jax.random.key(4), num_samples=3, horizon=3)
  longer = sampling.sample(model, ids, mask, jax.random.key(4), num_samples=3, horizon=5)
  np.testing.assert_array_equal(longer[..., :3], short)


def test_stacked_cross_attention_equals_the_general_path():
  # The decode path (a bias constant over the query axes: every path and head of a series is
  # one stacked product) against the general einsum (the same bias broadcast in full).
  from lowrank_ts.models import layers
  key = jax.random.key(7)
  q = jax.random.normal(key, (2, 3, 2, 4, 8))  # [B, N, L, H, K]
  cache = layers.CrossAttentionCache(jax.random.normal(jax.random.fold_in(key, 1), (2, 4, 8, 5)),
                                     jax.random.normal(jax.random.fold_in(key, 2), (2, 4, 5, 8)))
  bias = jnp.where(jnp.arange(5) < jnp.array([[5], [3]]), 0.0, -1e9)[:, None, None, None]
  stacked = layers._cross_attend(q, cache, bias)
  general = layers._cross_attend(q, cache, jnp.broadcast_to(bias, (2, 3, 4, 2, 5)))
  # fp32, the same products summed in another order.
  np.testing.assert_allclose(stacked, general, atol=1e-6, rtol=1e-5)
  assert stacked.shape == q.shape and float(jnp.ptp(stacked)) > 0.1
