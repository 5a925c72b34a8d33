"""Flax NNX T5 encoder-decoder with per-layer low-rank attention (Chronos' backbone), and its
KV-cached decoding (one implementation of the block for training, evaluation and sampling).

Layers are in :mod:`lowrank_ts.models.layers`; layout ``[..., length, features]``. Embedding
``N(0, f)`` and relative bias ``N(0, f d_model^-1/2)`` at initialisation (transformers').

Decoding with a cache (Flax's gemma pattern): :meth:`T5.init_decode_state` prepares once per
forecast what every step reads (fused q / k / v factors, the position bias of every step, the
cross-attention keys and values of each series) and :meth:`T5.fused_decode_step` feeds
``[B, N, L]`` decoder tokens (``N`` sample paths per series) at position ``index`` through the
blocks (:mod:`lowrank_ts.models.fused_decode`). :meth:`T5.init_decode_cache` /
:meth:`T5.decode_step` are the unfused reference: the same blocks as :meth:`T5.decode`, one
projection at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from lowrank_ts.models import fused_decode, t5_ops
from lowrank_ts.models.config import AttentionSpec, T5Config
from lowrank_ts.models.layers import (
  Attention,
  CrossAttentionCache,
  FeedForward,
  RMSNorm,
  SelfAttentionCache,
  normal_param,
)


class DecodeCache(NamedTuple):
  """The decoder's state while sampling ``[B, N]`` paths: per layer a self-attention cache
  ``[B, N, H, T, K]`` and the cross-attention keys of the encoder, plus the encoder mask as an
  additive bias ``[B, 1, 1, 1, S]`` (against scores ``[B, N, H, L, S]``)."""
  self_attention: tuple[SelfAttentionCache, ...]
  cross_attention: tuple[CrossAttentionCache, ...]
  cross_bias: jax.Array


class Block(nnx.Module):
  """Pre-norm T5 block: self-attention, (decoder) cross-attention, feed-forward."""

  def __init__(self, config: T5Config, self_spec: AttentionSpec,
               cross_spec: AttentionSpec | None, *, rngs: nnx.Rngs, dtype=jnp.float32):
    f, d, eps = config.initializer_factor, config.d_model, config.layer_norm_epsilon
    self.self_norm = RMSNorm(d, eps, f, dtype=dtype)
    self.self_attention = Attention(d, self_spec, f, config.dropout_rate, rngs=rngs, dtype=dtype)
    if cross_spec is not None:
      self.cross_norm = RMSNorm(d, eps, f, dtype=dtype)
      self.cross_attention = Attention(d, cross_spec, f, config.dropout_rate, rngs=rngs,
                                       dtype=dtype)
    self.has_cross = cross_spec is not None
    self.ff_norm = RMSNorm(d, eps, f, dtype=dtype)
    self.ff = FeedForward(config, rngs=rngs, dtype=dtype)
    self.dropout = nnx.Dropout(config.dropout_rate, deterministic=True, rngs=rngs)

  def __call__(self, h_BLD, self_bias, encoder_BSD=None, cross_bias=None, cache=None,
               index=None):
    """``(cache, h)``; ``cache`` is ``(self, cross)`` attention caches or None (full pass)."""
    self_cache, cross_cache = (None, None) if cache is None else cache
    self_cache, out = self.self_attention(self.self_norm(h_BLD), None, self_bias, self_cache,
                                          index)
    h_BLD = h_BLD + self.dropout(out)
    if self.has_cross:
      cross_cache, out = self.cross_attention(self.cross_norm(h_BLD), encoder_BSD, cross_bias,
                                              cross_cache)
      h_BLD = h_BLD + self.dropout(out)
    h_BLD = h_BLD + self.dropout(self.ff(self.ff_norm(h_BLD)))
    return (None if cache is None else (self_cache, cross_cache)), h_BLD


class Stack(nnx.Module):
  """An encoder (bidirectional) or decoder (causal, cross-attending) stack of blocks.

  The relative position bias table ``[buckets, H]`` is owned here and used by every layer
  (transformers stores it in block 0 and passes the bias on).
  """

  def __init__(self, config: T5Config, is_decoder: bool, *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.is_decoder = is_decoder
    self.max_distance = config.relative_attention_max_distance
    self_specs = config.attention_specs("decoder_self" if is_decoder else "encoder")
    cross_specs = config.attention_specs("decoder_cross") if is_decoder else (None,) * len(
        self_specs)
    f = config.initializer_factor
    self.relative_attention_bias = normal_param(
        rngs, (config.relative_attention_num_buckets, self_specs[0].n_heads),
        f * config.d_model ** -0.5, dtype)
    self.layers = nnx.List([Block(config, s, c, rngs=rngs, dtype=dtype)
                            for s, c in zip(self_specs, cross_specs, strict=True)])
    self.final_norm = RMSNorm(config.d_model, config.layer_norm_epsilon, f, dtype=dtype)
    self.dropout = nnx.Dropout(config.dropout_rate, deterministic=True, rngs=rngs)

  def position_bias(self, query_length: int, key_length: int, query_offset=0) -> jax.Array:
    """``[H, Lq, Lk]`` relative position bias (plus the causal mask in a decoder)."""
    bias = t5_ops.relative_position_bias(self.relative_attention_bias[...], query_length,
                                         key_length, not self.is_decoder, self.max_distance,
                                         query_offset)
    if self.is_decoder:
      bias = bias + t5_ops.causal_bias(query_length, key_length, query_offset)
    return bias

  def __call__(self, embeds_BLD, mask_BL=None, encoder_BSD=None, encoder_mask_BS=None):
    hidden = self.hidden_states(embeds_BLD, mask_BL, encoder_BSD, encoder_mask_BS)
    return self.dropout(self.final_norm(hidden[-1]))

  def hidden_states(self, embeds_BLD, mask_BL=None, encoder_BSD=None, encoder_mask_BS=None
                    ) -> tuple[jax.Array, ...]:
    """The input ``[B, L, D]`` to each layer, then the last layer's output (before the final
    norm): ``num_layers + 1`` arrays; entry ``i`` is what Fig. 5c calls layer i's input."""
    length = embeds_BLD.shape[1]
    self_bias = self.position_bias(length, length)[None]
    if mask_BL is not None:
      self_bias = self_bias + t5_ops.mask_bias(mask_BL)
    cross_bias = None
    if self.is_decoder:
      if encoder_BSD is None:
        raise ValueError("encoder_BSD is required by a decoder stack")
      if encoder_mask_BS is None:
        encoder_mask_BS = jnp.ones(encoder_BSD.shape[:2], bool)
      cross_bias = t5_ops.mask_bias(encoder_mask_BS)
    hidden = [self.dropout(embeds_BLD)]
    for layer in self.layers:
      hidden.append(layer(hidden[-1], self_bias, encoder_BSD, cross_bias)[1])
    return tuple(hidden)

  def step(self, embeds_BNLD, cache: DecodeCache, index) -> tuple[DecodeCache, jax.Array]:
    """Decoder hidden states ``[B, N, L, D]`` of ``L`` new positions starting at ``index``,
    attending over the cache (which they are written into)."""
    if not self.is_decoder:
      raise ValueError("step is defined for the decoder stack only")
    length = cache.self_attention[0].keys.shape[-2]
    self_bias = self.position_bias(embeds_BNLD.shape[-2], length, query_offset=index)
    h = self.dropout(embeds_BNLD)
    new_self = []
    for layer, self_cache, cross_cache in zip(self.layers, cache.self_attention,
                                              cache.cross_attention, strict=True):
      (self_cache, _), h = layer(h, self_bias, None, cache.cross_bias, (self_cache, cross_cache),
                                 index)
      new_self.append(self_cache)
    return cache._replace(self_attention=tuple(new_self)), self.dropout(self.final_norm(h))


def _check_ids(ids, name: str) -> jax.Array:
  ids = jnp.asarray(ids)
  if ids.ndim != 2 or 0 in ids.shape:
    raise ValueError(f"{name} must be a non-empty [batch, length] array, got shape "
                     f"{tuple(ids.shape)}")
  if not jnp.issubdtype(ids.dtype, jnp.integer):
    raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
  return ids


def _check_mask(mask, name: str, shape) -> jax.Array | None:
  if mask is None:
    return None
  mask = jnp.asarray(mask)
  if mask.shape != tuple(shape):
    raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(mask.shape)}")
  return mask.astype(bool)


class T5(nnx.Module):
  """Encoder-decoder T5 with a shared token embedding and an LM head.

  With tied embeddings (Chronos) the decoder output is scaled by ``d_model**-0.5`` and
  projected with the shared embedding; otherwise a separate ``lm_head`` is used, unscaled.
  """

  def __init__(self, config: T5Config, *, rngs: nnx.Rngs, dtype=jnp.float32):
    if not isinstance(config, T5Config):
      raise ValueError(f"config must be a T5Config, got {type(config).__name__}")
    # What the methods need from the config (models built on T5 keep theirs in `config`).
    self.d_model, self.vocab_size = config.d_model, config.vocab_size
    self.tie_word_embeddings = config.tie_word_embeddings
    self.decoder_start_token_id = config.decoder_start_token_id
    f = config.initializer_factor
    self.shared = normal_param(rngs, (config.vocab_size, config.d_model), f, dtype)
    self.encoder = Stack(config, is_decoder=False, rngs=rngs, dtype=dtype)
    self.decoder = Stack(config, is_decoder=True, rngs=rngs, dtype=dtype)
    if not config.tie_word_embeddings:
      self.lm_head = normal_param(rngs, (config.d_model, config.vocab_size), f, dtype)

  def encode_embeds(self, embeds_BLD: jax.Array, mask_BL=None) -> jax.Array:
    """Encoder hidden states ``[B, L, d_model]`` from input embeddings."""
    embeds_BLD = jnp.asarray(embeds_BLD)
    if embeds_BLD.ndim != 3 or embeds_BLD.shape[-1] != self.d_model:
      raise ValueError(f"embeds_BLD must be [batch, length, {self.d_model}], got "
                       f"{tuple(embeds_BLD.shape)}")
    mask_BL = _check_mask(mask_BL, "mask_BL", embeds_BLD.shape[:2])
    return self.encoder(embeds_BLD, mask_BL)

  def encode(self, input_ids_BL, mask_BL=None) -> jax.Array:
    """Encoder hidden states ``[B, L, d_model]`` for token ids ``[B, L]``."""
    input_ids_BL = _check_ids(input_ids_BL, "input_ids_BL")
    mask_BL = _check_mask(mask_BL, "mask_BL", input_ids_BL.shape)
    return self.encoder(self.shared[...][input_ids_BL], mask_BL)

  def decode(self, decoder_ids_BT, encoder_BSD, encoder_mask_BS=None) -> jax.Array:
    """Decoder hidden states ``[B, T, d_model]`` (before the LM head)."""
    decoder_ids_BT = _check_ids(decoder_ids_BT, "decoder_ids_BT")
    encoder_BSD = jnp.asarray(encoder_BSD)
    if encoder_BSD.ndim != 3 or encoder_BSD.shape[0] != decoder_ids_BT.shape[0]:
      raise ValueError(f"encoder_BSD must be [batch={decoder_ids_BT.shape[0]}, length, d_model],"
                       f" got {tuple(encoder_BSD.shape)}")
    encoder_mask_BS = _check_mask(encoder_mask_BS, "encoder_mask_BS", encoder_BSD.shape[:2])
    return self.decoder(self.shared[...][decoder_ids_BT], None, encoder_BSD, encoder_mask_BS)

  def lm_logits(self, decoder_BTD: jax.Array) -> jax.Array:
    """Vocabulary logits ``[..., V]`` from decoder hidden states ``[..., d_model]``."""
    if self.tie_word_embeddings:
      return (decoder_BTD * self.d_model ** -0.5) @ self.shared[...].T
    return decoder_BTD @ self.lm_head[...]

  def init_decode_cache(self, encoder_BSD: jax.Array, encoder_mask_BS: jax.Array,
                        num_samples: int, length: int) -> DecodeCache:
    """An empty cache for ``num_samples`` decoder paths of up to ``length`` tokens per series;
    cross-attention keys and values computed once per series (not per path)."""
    batch = encoder_BSD.shape[0]
    layers = self.decoder.layers
    return DecodeCache(
        tuple(layer.self_attention.init_cache((batch, num_samples), length, encoder_BSD.dtype)
              for layer in layers),
        tuple(layer.cross_attention.cross_cache(encoder_BSD) for layer in layers),
        t5_ops.mask_bias(encoder_mask_BS)[:, None])

  def init_decode_state(self, encoder_BSD: jax.Array, encoder_mask_BS: jax.Array,
                        num_samples: int, length: int) -> fused_decode.DecodeState:
    """What :meth:`fused_decode_step` reads for ``num_samples`` decoder paths of up to
    ``length`` tokens per series, prepared once (:func:`fused_decode.prepare`)."""
    return fused_decode.prepare(self.decoder, encoder_BSD, encoder_mask_BS, num_samples, length)

  def fused_decode_step(self, decoder_ids_BNL: jax.Array, state: fused_decode.DecodeState,
                        index) -> tuple[fused_decode.DecodeState, jax.Array]:
    """:meth:`decode_step` with fused projections and the per-forecast work done once:
    ``(state, logits [B, N, L, V])``."""
    state, hidden = fused_decode.step(self.decoder, self.shared[...][decoder_ids_BNL], state,
                                      index)
    return state, self.lm_logits(hidden)

  def decode_step(self, decoder_ids_BNL: jax.Array, cache: DecodeCache, index
                  ) -> tuple[DecodeCache, jax.Array]:
    """``(cache, logits [B, N, L, V])`` for ``L`` tokens per path at positions
    ``index ... index + L - 1`` (teacher forcing or one sampled token per step)."""
    embeds = self.shared[...][decoder_ids_BNL]
    cache, hidden = self.decoder.step(embeds, cache, index)
    return cache, self.lm_logits(hidden)

  def __call__(self, input_ids_BL, mask_BL, decoder_ids_BT) -> jax.Array:
    """Logits ``[B, T, V]`` of the decoder prefix ``decoder_ids_BT`` given the inputs."""
    encoder_BSD = self.encode(input_ids_BL, mask_BL)
    return self.lm_logits(self.decode(decoder_ids_BT, encoder_BSD, mask_BL))
