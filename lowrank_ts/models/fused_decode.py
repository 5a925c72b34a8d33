"""KV-cached decoding with fused projections: the decoder stack's step as the sampler runs it.

:func:`prepare` does once per forecast what a step would otherwise repeat: each layer's
self-attention q / k / v input factors side by side in one matrix
(:meth:`~lowrank_ts.models.layers.Projection.input_factor`, for every parameterisation; the
parameters are read, never changed, so checkpoints are untouched), the relative position and
causal bias ``[H, T, T]`` of every step, and each layer's cross-attention keys and values from
the encoder output (k and v as one product). :func:`step` runs ``L`` new positions through the
blocks: per layer one product for q, k and v, the keys and values written into the cache
(:func:`~lowrank_ts.models.decode_ops.write_cache`), attention over it, cross-attention over the
encoder keys shared by every sample path, the feed-forward. :meth:`T5.decode_step
<lowrank_ts.models.t5.T5.decode_step>` is the unfused reference it is tested against.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lowrank_ts.models import decode_ops, t5_ops
from lowrank_ts.models.layers import CrossAttentionCache, SelfAttentionCache


class DecodeState(NamedTuple):
  """What :func:`step` reads (all but ``self_attention`` fixed for the whole forecast): per layer
  the fused q / k / v factor ``[D, M_q + M_k + M_v]``, the self-attention bias of every query
  position ``[H, T, T]``, per layer the encoder keys ``[B, H, K, S]`` and values
  ``[B, H, S, K]``, the encoder mask as a bias ``[B, 1, 1, 1, S]``, and per layer the
  self-attention cache ``[B, N, H, T, K]`` (keys, values)."""
  qkv_factors: tuple[jax.Array, ...]
  self_bias: jax.Array
  cross_attention: tuple[CrossAttentionCache, ...]
  cross_bias: jax.Array
  self_attention: tuple[SelfAttentionCache, ...]


def _qkv(attention) -> tuple:
  return attention.q, attention.k, attention.v


def prepare(stack, encoder_BSD: jax.Array, encoder_mask_BS: jax.Array, num_samples: int,
            length: int) -> DecodeState:
  """The state for ``num_samples`` paths of up to ``length`` tokens per series of a decoder
  ``stack`` (:class:`~lowrank_ts.models.t5.Stack`), from the encoder output ``[B, S, D]``."""
  layers = stack.layers
  qkv = tuple(decode_ops.fuse_factors([p.input_factor() for p in _qkv(layer.self_attention)])[0]
              for layer in layers)
  cross = tuple(_cross_keys_values(layer.cross_attention, encoder_BSD) for layer in layers)
  caches = tuple(layer.self_attention.init_cache((encoder_BSD.shape[0], num_samples), length,
                                                 encoder_BSD.dtype) for layer in layers)
  return DecodeState(qkv, stack.position_bias(length, length), cross,
                     t5_ops.mask_bias(encoder_mask_BS)[:, None], caches)


def _cross_keys_values(attention, encoder_BSD: jax.Array) -> CrossAttentionCache:
  """One layer's cross-attention keys ``[B, H, K, S]`` and values ``[B, H, S, K]``: k and v
  as one product of their input factors side by side (one layer at a time, so only one
  layer's product is held beside the finished caches)."""
  projections = (attention.k, attention.v)
  factor, widths = decode_ops.fuse_factors([p.input_factor() for p in projections])
  k, v = (p.from_factor(y) for p, y in zip(
      projections, decode_ops.split_fused(encoder_BSD @ factor, widths), strict=True))
  return CrossAttentionCache(jnp.transpose(k, (0, 2, 3, 1)), jnp.transpose(v, (0, 2, 1, 3)))


def step(stack, embeds_BNLD: jax.Array, state: DecodeState, index
         ) -> tuple[DecodeState, jax.Array]:
  """Decoder hidden states ``[B, N, L, D]`` (after the final norm) of ``L`` new positions
  starting at ``index``, and the state with their keys and values in the cache."""
  self_bias = decode_ops.step_bias(state.self_bias, index, embeds_BNLD.shape[-2])
  h = stack.dropout(embeds_BNLD)
  caches = []
  for layer, factor, cache, cross in zip(stack.layers, state.qkv_factors, state.self_attention,
                                         state.cross_attention, strict=True):
    projections = _qkv(layer.self_attention)
    parts = decode_ops.split_fused(layer.self_norm(h) @ factor,
                                   [p.factor_width for p in projections])
    q, k, v = (p.from_factor(y) for p, y in zip(projections, parts, strict=True))
    cache = SelfAttentionCache(decode_ops.write_cache(cache.keys, k, index),
                               decode_ops.write_cache(cache.values, v, index))
    out = decode_ops.cached_attention(q, cache.keys, cache.values, self_bias)
    h = h + layer.dropout(layer.self_attention.o(out))
    _, out = layer.cross_attention(layer.cross_norm(h), None, state.cross_bias, cross)
    h = h + layer.dropout(out)
    h = h + layer.dropout(layer.ff(layer.ff_norm(h)))
    caches.append(cache)
  return state._replace(self_attention=tuple(caches)), stack.dropout(stack.final_norm(h))
