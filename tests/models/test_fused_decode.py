"""The fused decode step (what the sampler runs) against the unfused reference
(T5.init_decode_cache / decode_step), for dense and low-rank attention; its maths functions."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.models import Chronos, ChronosConfig, T5Config, decode_ops, lowrank, sampler, t5_ops

# An untied LM head: with the tied embedding a random model's greedy path repeats its first token.
T5_SMALL = T5Config(vocab_size=4096, d_model=32, d_ff=48, num_layers=1, num_heads=4, d_kv=8,
                    num_decoder_layers=3, initializer_factor=1.0, tie_word_embeddings=False)
LAYOUTS = {
    "dense": T5_SMALL,
    "shared_sketch": lowrank.low_rank_t5(T5_SMALL, lowrank.ExplicitSchedule((3, 5, 2, 4)),
                                         "shared_sketch"),
    # q and k factorised, v and o dense: one fused matrix holds both kinds of factor.
    "head_sketch q, k": lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(3), "head_sketch",
                                            projections=("q", "k")),
    "reduced_head_size": lowrank.low_rank_t5(T5_SMALL, lowrank.ExplicitSchedule((2, 4, 3, 8)),
                                             "reduced_head_size"),
}
HORIZON, PATHS = 7, 3


def _inputs():
  ids = jax.random.randint(jax.random.key(1), (2, 20), 2, 4096)
  mask = jnp.arange(20)[None] >= jnp.array([[0], [6]])
  start = jax.random.randint(jax.random.key(2), (2, PATHS), 2, 4096)
  return ids, mask, start


def _greedy(logits_BNV, step):
  del step
  return jnp.argmax(logits_BNV.at[..., 1].set(-jnp.inf), axis=-1).astype(jnp.int32)


@nnx.jit
def _reference_greedy(model, ids, mask, start_BN):
  """Greedy tokens ``[B, N, HORIZON]`` through the unfused reference decoder."""
  cache = model.init_decode_cache(model.encode(ids, mask), mask, start_BN.shape[1], HORIZON)

  def body(carry, step):
    token_BN, cache = carry
    cache, logits = model.decode_step(token_BN[..., None], cache, step)
    next_BN = _greedy(logits[:, :, 0], step)
    return (next_BN, cache), next_BN

  _, tokens_TBN = jax.lax.scan(body, (start_BN, cache), jnp.arange(HORIZON))
  return jnp.moveaxis(tokens_TBN, 0, -1)


@nnx.jit
def _teacher_forced_logits(model, ids, mask, decoder_ids_BNT):
  """Logits ``[2, B, N, T, V]`` of the same decoder tokens fed one per step: fused, reference."""
  encoder = model.encode(ids, mask)
  paths, horizon = decoder_ids_BNT.shape[1:]

  def run(init, step_fn):
    def body(state, step):
      token = jax.lax.dynamic_slice_in_dim(decoder_ids_BNT, step, 1, axis=2)
      state, logits = step_fn(token, state, step)
      return state, logits[:, :, 0]
    _, logits_TBNV = jax.lax.scan(body, init(encoder, mask, paths, horizon), jnp.arange(horizon))
    return jnp.moveaxis(logits_TBNV, 0, 2)

  return jnp.stack([run(model.init_decode_state, model.fused_decode_step),
                    run(model.init_decode_cache, model.decode_step)])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_fused_greedy_decoding_equals_the_reference_token_for_token(layout):
  model = Chronos(ChronosConfig(LAYOUTS[layout]), rngs=nnx.Rngs(0))
  ids, mask, start = _inputs()
  fused = nnx.jit(functools.partial(sampler.decode, horizon=HORIZON, choose=_greedy))(
      model, ids, mask, start)
  reference = _reference_greedy(model, ids, mask, start)
  np.testing.assert_array_equal(fused, reference)
  changes = np.asarray(reference[..., 1:] != reference[..., :-1])
  assert changes.mean() > 0.5  # the paths move: each step's logits decide its token


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_fused_step_logits_equal_the_reference(layout):
  model = Chronos(ChronosConfig(LAYOUTS[layout]), rngs=nnx.Rngs(1))
  ids, mask, _ = _inputs()
  decoder_ids = jax.random.randint(jax.random.key(3), (2, PATHS, HORIZON), 2, 4096)
  fused, reference = _teacher_forced_logits(model, ids, mask, decoder_ids)
  # fp32; the fused q / k / v and cross k / v products sum the same terms, blocked differently.
  np.testing.assert_allclose(fused, reference, atol=1e-5, rtol=1e-5)
  assert float(jnp.ptp(reference)) > 1.0


def test_prepared_state_holds_one_factor_per_layer_and_every_step_bias():
  model = Chronos(ChronosConfig(LAYOUTS["shared_sketch"]), rngs=nnx.Rngs(0))
  ids, mask, _ = _inputs()
  state = model.init_decode_state(model.encode(ids, mask), mask, PATHS, HORIZON)
  # shared_sketch ranks (3, 5, 2, 4) -> decoder self-attention layers 0-2 get 3, 5, 2 per q/k/v
  assert [f.shape for f in state.qkv_factors] == [(32, 9), (32, 15), (32, 6)]
  assert state.self_bias.shape == (4, HORIZON, HORIZON)
  for index in (0, 3, HORIZON - 1):  # row `index` is the bias the reference builds per step
    np.testing.assert_array_equal(decode_ops.step_bias(state.self_bias, index, 1),
                                  model.decoder.position_bias(1, HORIZON, query_offset=index))


def test_cached_attention_equals_full_attention():
  key = jax.random.key(4)
  q = jax.random.normal(key, (2, 3, 4, 5, 8))  # [B, N, L, H, K]
  k, v = (jax.random.normal(jax.random.fold_in(key, i), (2, 3, 6, 5, 8)) for i in (1, 2))
  keys = decode_ops.write_cache(jnp.zeros((2, 3, 5, 9, 8)), k, 2)
  values = decode_ops.write_cache(jnp.zeros((2, 3, 5, 9, 8)), v, 2)
  np.testing.assert_array_equal(keys[..., 2:8, :], jnp.swapaxes(k, -3, -2))
  assert not np.any(np.asarray(keys[..., :2, :])) and not np.any(np.asarray(keys[..., 8:, :]))
  bias = jax.random.normal(jax.random.fold_in(key, 3), (5, 4, 6))  # [H, L, S]
  full_bias = jnp.full((5, 4, 9), -1e9).at[..., 2:8].set(bias)  # unwritten positions hidden
  cached = decode_ops.cached_attention(q, keys, values, full_bias)
  flat = lambda x: x.reshape(6, *x.shape[2:])  # noqa: E731
  weights = t5_ops.attention_weights(flat(q), flat(k), bias)
  full = t5_ops.attend(weights, flat(v)).reshape(q.shape)
  # fp32: the same sums, the hidden positions contributing exp(-1e9) = 0.
  np.testing.assert_allclose(cached, full, atol=1e-5, rtol=1e-5)


def test_fused_factors_split_back():
  a, b = jnp.ones((4, 2)), 2 * jnp.ones((4, 3))
  fused, widths = decode_ops.fuse_factors([a, b])
  assert fused.shape == (4, 5) and widths == (2, 3)
  x = jnp.arange(8.0).reshape(2, 4)
  parts = decode_ops.split_fused(x @ fused, widths)
  np.testing.assert_array_equal(parts[0], x @ a)
  np.testing.assert_array_equal(parts[1], x @ b)


def test_decode_ops_reject_bad_input():
  with pytest.raises(ValueError, match="factors"):
    decode_ops.fuse_factors([jnp.ones((4, 2)), jnp.ones((3, 2))])
  with pytest.raises(ValueError, match="sizes"):
    decode_ops.split_fused(jnp.ones((2, 5)), (2, 2))
  with pytest.raises(ValueError, match="new_LHK"):
    decode_ops.write_cache(jnp.zeros((2, 4, 9, 8)), jnp.zeros((2, 1, 3, 8)), 0)
  with pytest.raises(ValueError, match="q_LHK"):
    decode_ops.cached_attention(jnp.zeros((2, 1, 4, 7)), jnp.zeros((2, 4, 9, 8)),
                                jnp.zeros((2, 4, 9, 8)), 0.0)
