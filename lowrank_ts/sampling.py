"""Jitted autoregressive decoding for Chronos with a key/value cache.

The encoder runs once per series and each cross-attention layer's keys and values are
computed once per series, then shared by all ``num_samples`` sample paths: the samples are
laid out as the query axis of cross-attention (``[B, N, ...]`` queries against ``[B, S, ...]``
keys), so nothing is repeated per sample. (The reference expands the encoder output to
``B * N`` rows and recomputes cross-attention K/V for every sample.) Self-attention keys and
values are kept in a preallocated ``[B, N, T, H, K]`` cache written at each step; the
whole encoder + decode loop (``lax.scan``) is one ``jax.jit`` call.

Sampling follows Hugging Face ``generate`` as Chronos calls it: EOS is suppressed (exactly
``horizon`` new tokens), then temperature, top-k and top-p (nucleus) in that order, then a
categorical draw. Deterministic for a given PRNG key.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from lowrank_ts import checks
from lowrank_ts.models import t5_ops
from lowrank_ts.models.t5 import T5


def warp_logits(logits_NV: jax.Array, temperature, top_k: int | None, top_p):
  """``(values_NK, token_ids_NK)``: the candidate logits after temperature / top-k / top-p.

  Candidates outside the top-k or the nucleus get ``-inf``; ``top_k=None`` keeps the whole
  vocabulary (then sorted). top-p keeps the smallest prefix of the sorted candidates whose
  probability reaches ``top_p`` (at least one).
  """
  logits_NV = jnp.asarray(logits_NV)
  if logits_NV.ndim < 1 or logits_NV.shape[-1] == 0:
    raise ValueError(f"logits_NV must have a non-empty vocabulary axis, got shape "
                     f"{tuple(logits_NV.shape)}")
  if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
    raise ValueError(f"top_k must be None or an integer >= 1, got {top_k!r}")
  logits_NV = logits_NV.astype(jnp.float32) / temperature
  k = logits_NV.shape[-1] if top_k is None else min(top_k, logits_NV.shape[-1])
  values_NK, ids_NK = jax.lax.top_k(logits_NV, k)
  probs_NK = jax.nn.softmax(values_NK, axis=-1)
  mass_before_NK = jnp.cumsum(probs_NK, axis=-1) - probs_NK
  keep = (mass_before_NK < top_p) | (jnp.arange(k) == 0)
  return jnp.where(keep, values_NK, -jnp.inf), ids_NK


def _cross_kv(model: T5, encoder_BSD):
  """Cross-attention keys ``[B, H, K, S]`` and values ``[B, H, S, K]`` of every decoder layer,
  computed once per series and laid out so that each decode step's products are plain
  batched matmuls (no per-step transposes of the encoder-length tensors)."""
  out = []
  for layer in model.decoder.layers:
    k_BSHK = layer.cross_attention.k(encoder_BSD)
    v_BSHK = layer.cross_attention.v(encoder_BSD)
    out.append((jnp.transpose(k_BSHK, (0, 2, 3, 1)), jnp.transpose(v_BSHK, (0, 2, 1, 3))))
  return out


def _decode_step(model: T5, token_BN, step, caches, cross_kv, cross_bias_B11S):
  """One decoder step for ``[B, N]`` tokens at position ``step``; returns logits, caches."""
  stack = model.decoder
  h_BND = model.shared[...][token_BN]
  length = caches[0][0].shape[3]
  position_HT = stack.position_bias(1, length, query_offset=step)[:, 0]
  new_caches = []
  layers = zip(stack.layers, caches, cross_kv, strict=True)
  for layer, (k_cache, v_cache), (k_cross, v_cross) in layers:
    attn = layer.self_attention
    normed = layer.self_norm(h_BND)
    q_BNHK = attn.q(normed)
    # Caches are [B, N, H, T, K]: the step's scores and weighted values are batched
    # matrix-vector products over contiguous [T, K] blocks.
    k_cache = jax.lax.dynamic_update_index_in_dim(k_cache, attn.k(normed), step, axis=3)
    v_cache = jax.lax.dynamic_update_index_in_dim(v_cache, attn.v(normed), step, axis=3)
    new_caches.append((k_cache, v_cache))
    scores_BNHT = jnp.einsum("bnhk,bnhtk->bnht", q_BNHK, k_cache) + position_HT
    weights_BNHT = jax.nn.softmax(scores_BNHT.astype(jnp.float32), axis=-1)
    h_BND = h_BND + attn.o(jnp.einsum("bnht,bnhtk->bnhk", weights_BNHT.astype(v_cache.dtype),
                                      v_cache))
    cross = layer.cross_attention
    q_BNHK = cross.q(layer.cross_norm(h_BND))
    # T5 attention is unscaled; fp32 softmax, as t5_ops.attention_weights.
    scores_BNHS = jnp.einsum("bnhk,bhks->bnhs", q_BNHK, k_cross) + cross_bias_B11S
    weights_BNHS = jax.nn.softmax(scores_BNHS.astype(jnp.float32), axis=-1)
    h_BND = h_BND + cross.o(jnp.einsum("bnhs,bhsk->bnhk", weights_BNHS.astype(v_cross.dtype),
                                       v_cross))
    h_BND = h_BND + layer.ff(layer.ff_norm(h_BND))
  return model.lm_logits(stack.final_norm(h_BND)), new_caches


def _run(model: T5, token_ids_BL, mask_BL, start_BN, horizon, choose, keep_logits):
  """Encodes once, then scans ``horizon`` decode steps from ``start_BN``;
  ``choose(logits, step)`` picks the next tokens. Returns tokens ``[B, N, T]`` (and logits
  ``[B, N, T, V]`` when ``keep_logits``)."""
  encoder_BSD = model.encode(token_ids_BL, mask_BL)
  cross_kv = _cross_kv(model, encoder_BSD)
  cross_bias = t5_ops.mask_bias(mask_BL)
  batch, num_samples = start_BN.shape
  caches = []
  for layer in model.decoder.layers:
    spec = layer.self_attention.q
    shape = (batch, num_samples, spec.n_heads, horizon, spec.d_kv)
    caches.append((jnp.zeros(shape, encoder_BSD.dtype), jnp.zeros(shape, encoder_BSD.dtype)))
  def body(carry, step):
    token_BN, caches = carry
    logits_BNV, caches = _decode_step(model, token_BN, step, caches, cross_kv, cross_bias)
    next_BN = choose(logits_BNV, step)
    return (next_BN, caches), ((next_BN, logits_BNV) if keep_logits else next_BN)

  _, out = jax.lax.scan(body, (start_BN, caches), jnp.arange(horizon))
  if keep_logits:
    return jnp.moveaxis(out[0], 0, -1), jnp.moveaxis(out[1], 0, 2)
  return jnp.moveaxis(out, 0, -1)


@functools.partial(jax.jit, static_argnames=("graphdef", "num_samples", "horizon", "top_k",
                                             "eos_token_id"))
def _sample(graphdef, state, token_ids_BL, mask_BL, key, temperature, top_p, *, num_samples,
            horizon, top_k, eos_token_id):
  model = nnx.merge(graphdef, state)

  def choose(logits_BNV, step):
    if eos_token_id is not None:  # generate(min_new_tokens=horizon) never ends early
      logits_BNV = logits_BNV.at[..., eos_token_id].set(-jnp.inf)
    values, ids = warp_logits(logits_BNV, temperature, top_k, top_p)
    pick = jax.random.categorical(jax.random.fold_in(key, step), values, axis=-1)
    return jnp.take_along_axis(ids, pick[..., None], axis=-1)[..., 0].astype(jnp.int32)

  start_BN = jnp.full((token_ids_BL.shape[0], num_samples), model.config.decoder_start_token_id,
                      jnp.int32)
  return _run(model, token_ids_BL, mask_BL, start_BN, horizon, choose, keep_logits=False)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _teacher_forced(graphdef, state, token_ids_BL, mask_BL, decoder_ids_BNT):
  model = nnx.merge(graphdef, state)
  horizon = decoder_ids_BNT.shape[-1]

  def choose(logits_BNV, step):
    return jax.lax.dynamic_index_in_dim(decoder_ids_BNT, jnp.minimum(step + 1, horizon - 1),
                                        axis=2, keepdims=False)

  return _run(model, token_ids_BL, mask_BL, decoder_ids_BNT[:, :, 0], horizon, choose,
              keep_logits=True)[1]


def _check_inputs(model, token_ids_BL, mask_BL):
  if not isinstance(model, T5):
    raise ValueError(f"model must be a Chronos / T5 model, got {type(model).__name__}")
  token_ids_BL = jnp.asarray(token_ids_BL)
  if token_ids_BL.ndim != 2 or 0 in token_ids_BL.shape or not jnp.issubdtype(
      token_ids_BL.dtype, jnp.integer):
    raise ValueError(f"token_ids_BL must be a non-empty integer [batch, length] array, got "
                     f"{token_ids_BL.dtype} {tuple(token_ids_BL.shape)}")
  mask_BL = jnp.ones(token_ids_BL.shape, bool) if mask_BL is None else jnp.asarray(mask_BL)
  if mask_BL.shape != token_ids_BL.shape:
    raise ValueError(f"mask_BL must have shape {tuple(token_ids_BL.shape)}, got "
                     f"{tuple(mask_BL.shape)}")
  return token_ids_BL.astype(jnp.int32), mask_BL.astype(bool)


def cached_decoder_logits(model: T5, token_ids_BL, mask_BL, decoder_ids_BNT) -> jax.Array:
  """Logits ``[B, N, T, V]`` of ``N`` decoder sequences per series, computed step by step with
  the cache (teacher forcing); they must equal ``model(...)`` on each sequence. For tests."""
  token_ids_BL, mask_BL = _check_inputs(model, token_ids_BL, mask_BL)
  decoder_ids_BNT = jnp.asarray(decoder_ids_BNT)
  if decoder_ids_BNT.ndim != 3 or decoder_ids_BNT.shape[0] != token_ids_BL.shape[0]:
    raise ValueError(f"decoder_ids_BNT must be [batch={token_ids_BL.shape[0]}, N, T], got "
                     f"{tuple(decoder_ids_BNT.shape)}")
  graphdef, state = nnx.split(model)
  return _teacher_forced(graphdef, state, token_ids_BL, mask_BL,
                         decoder_ids_BNT.astype(jnp.int32))


def sample(model: T5, token_ids_BL, mask_BL, key, *, num_samples: int, horizon: int,
           temperature: float = 1.0, top_k: int | None = 50, top_p: float = 1.0,
           eos_token_id: int | None = 1) -> jax.Array:
  """Samples ``[B, num_samples, horizon]`` token ids after the encoder inputs.

  ``eos_token_id`` is suppressed at every step (``None`` allows it); ``top_k=None`` or 0
  disables top-k. One compiled program per (model structure, shapes, num_samples, horizon,
  top_k); temperature and top_p are traced.
  """
  token_ids_BL, mask_BL = _check_inputs(model, token_ids_BL, mask_BL)
  key = checks.prng_key(key)
  num_samples = checks.positive_int(num_samples, "num_samples")
  horizon = checks.positive_int(horizon, "horizon")
  temperature = checks.positive_float(temperature, "temperature")
  top_p = checks.positive_float(top_p, "top_p", upper=1.0)
  if top_k is not None:
    top_k = checks.positive_int(top_k, "top_k", allow_zero=True) or None
  if eos_token_id is not None:
    eos_token_id = checks.positive_int(eos_token_id, "eos_token_id", allow_zero=True)
  graphdef, state = nnx.split(model)
  return _sample(graphdef, state, token_ids_BL, mask_BL, key, jnp.float32(temperature),
                 jnp.float32(top_p), num_samples=num_samples, horizon=horizon, top_k=top_k,
                 eos_token_id=eos_token_id)
