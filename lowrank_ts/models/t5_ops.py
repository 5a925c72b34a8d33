"""The T5 maths that Chronos and Chronos-Bolt run on, as plain ``jax.numpy`` functions.

Model convention: ``[batch, length, features]`` (``B, L, D``); heads split as
``[batch, length, heads, head_dim]`` (``B, L, H, K``). Facts reproduced from transformers'
``modeling_t5.py`` (the T5 that Chronos checkpoints were trained with):

- RMS norm without mean or bias, statistics in fp32: ``x * rsqrt(mean(x^2) + eps) * w``.
- Attention scores are **not** scaled by 1/sqrt(head_dim); a relative position bias and an
  additive mask are added; softmax in fp32.
- Relative positions ``key_position - query_position`` are binned into ``num_buckets``
  buckets: exact for small distances, logarithmic up to ``max_distance``; bidirectional
  stacks (the encoder) spend half the buckets on each sign, causal ones (the decoder) only
  see the past.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lowrank_ts import checks


def rms_norm(x_BLD: jax.Array, weight_D: jax.Array, eps: float = 1e-6) -> jax.Array:
  """T5 layer norm: ``x / sqrt(mean(x^2) + eps) * weight`` over the last axis (fp32 stats)."""
  x_BLD = jnp.asarray(x_BLD)
  weight_D = jnp.asarray(weight_D)
  if x_BLD.ndim < 1 or weight_D.ndim != 1 or x_BLD.shape[-1] != weight_D.shape[0]:
    raise ValueError(
        f"weight_D must be a vector matching the last axis of x_BLD, got x_BLD "
        f"{tuple(x_BLD.shape)} and weight_D {tuple(weight_D.shape)}")
  checks.positive_float(eps, "eps")
  variance = jnp.mean(jnp.square(x_BLD.astype(jnp.float32)), axis=-1, keepdims=True)
  normed = x_BLD * jax.lax.rsqrt(variance + eps)
  return (weight_D * normed).astype(jnp.result_type(x_BLD.dtype, weight_D.dtype))


def _check_buckets(num_buckets: int, max_distance: int) -> tuple[int, int]:
  num_buckets = checks.positive_int(num_buckets, "num_buckets")
  max_distance = checks.positive_int(max_distance, "max_distance")
  if num_buckets < 4:
    raise ValueError(f"num_buckets must be >= 4, got {num_buckets}")
  return num_buckets, max_distance


def relative_position_bucket(relative_position: jax.Array, bidirectional: bool,
                             num_buckets: int = 32, max_distance: int = 128) -> jax.Array:
  """T5's bucket index in ``[0, num_buckets)`` of each ``key_pos - query_pos`` (int array).

  Bidirectional: positive offsets use buckets ``num_buckets // 2 ...``; causal: positive
  offsets (the future) fall in bucket 0 with offset 0. Of the remaining ``n`` buckets, the
  first ``n // 2`` are exact distances, the rest grow logarithmically up to ``max_distance``;
  farther distances share the last bucket.
  """
  num_buckets, max_distance = _check_buckets(num_buckets, max_distance)
  relative_position = jnp.asarray(relative_position)
  if not jnp.issubdtype(relative_position.dtype, jnp.integer):
    raise ValueError(f"relative_position must be an integer array, got {relative_position.dtype}")
  relative_position = relative_position.astype(jnp.int32)
  buckets = jnp.zeros_like(relative_position)
  if bidirectional:
    num_buckets //= 2
    buckets = buckets + (relative_position > 0).astype(jnp.int32) * num_buckets
    distance = jnp.abs(relative_position)
  else:
    distance = -jnp.minimum(relative_position, 0)
  max_exact = num_buckets // 2
  is_small = distance < max_exact
  # fp32 like the reference, so bucket edges fall on the same integers.
  log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact)
  scaled = log_ratio / jnp.float32(math.log(max_distance / max_exact))
  if_large = max_exact + (scaled * jnp.float32(num_buckets - max_exact)).astype(jnp.int32)
  if_large = jnp.minimum(if_large, num_buckets - 1)
  return buckets + jnp.where(is_small, distance, if_large)


def relative_position_bias(table_NH: jax.Array, query_length: int, key_length: int,
                           bidirectional: bool, max_distance: int = 128,
                           query_offset: jax.Array | int = 0) -> jax.Array:
  """The additive bias ``[H, Lq, Lk]`` from a bucket table ``[num_buckets, H]``.

  Query ``i`` sits at position ``query_offset + i`` (the decode step when using a cache).
  """
  table_NH = jnp.asarray(table_NH)
  checks.check_ndim(table_NH, "table_NH", ndim=2)
  checks.positive_int(query_length, "query_length")
  checks.positive_int(key_length, "key_length")
  query_pos = jnp.arange(query_length, dtype=jnp.int32)[:, None] + query_offset
  key_pos = jnp.arange(key_length, dtype=jnp.int32)[None, :]
  bucket_LL = relative_position_bucket(key_pos - query_pos, bidirectional,
                                       table_NH.shape[0], max_distance)
  return jnp.transpose(table_NH[bucket_LL], (2, 0, 1))


def mask_bias(mask_BL: jax.Array, dtype=jnp.float32) -> jax.Array:
  """Padding mask ``[B, Lk]`` (True = attend) to an additive bias ``[B, 1, 1, Lk]``."""
  mask_BL = jnp.asarray(mask_BL)
  checks.check_ndim(mask_BL, "mask_BL", ndim=2)
  return jnp.where(mask_BL.astype(bool), 0.0, jnp.finfo(dtype).min).astype(dtype)[:, None, None]


def causal_bias(query_length: int, key_length: int, query_offset: jax.Array | int = 0,
                dtype=jnp.float32) -> jax.Array:
  """Additive ``[Lq, Lk]`` bias hiding keys after each query's position."""
  checks.positive_int(query_length, "query_length")
  checks.positive_int(key_length, "key_length")
  query_pos = jnp.arange(query_length)[:, None] + query_offset
  key_pos = jnp.arange(key_length)[None, :]
  return jnp.where(key_pos <= query_pos, 0.0, jnp.finfo(dtype).min).astype(dtype)


def attention_weights(q_BLHK: jax.Array, k_BSHK: jax.Array, bias: jax.Array) -> jax.Array:
  """softmax(q k^T + bias) per head, **unscaled** (T5), fp32 softmax; ``[B, H, L, S]``.

  ``bias`` broadcasts against ``[B, H, L, S]`` (position bias plus mask biases).
  """
  q_BLHK, k_BSHK = jnp.asarray(q_BLHK), jnp.asarray(k_BSHK)
  checks.check_ndim(q_BLHK, "q_BLHK", ndim=4)
  checks.check_ndim(k_BSHK, "k_BSHK", ndim=4)
  if q_BLHK.shape[0] != k_BSHK.shape[0] or q_BLHK.shape[2:] != k_BSHK.shape[2:]:
    raise ValueError(
        f"q_BLHK and k_BSHK must agree on batch, heads and head size, got "
        f"{tuple(q_BLHK.shape)} and {tuple(k_BSHK.shape)}")
  scores_BHLS = jnp.einsum("blhk,bshk->bhls", q_BLHK, k_BSHK)
  scores_BHLS = scores_BHLS.astype(jnp.float32) + bias
  return jax.nn.softmax(scores_BHLS, axis=-1).astype(q_BLHK.dtype)


def softmax_fp32(scores: jax.Array, bias) -> jax.Array:
  """``softmax(scores + bias)`` over the last axis in fp32 (T5's unscaled attention weights)."""
  return jax.nn.softmax(jnp.asarray(scores).astype(jnp.float32) + bias, axis=-1)


def attend(weights_BHLS: jax.Array, v_BSHK: jax.Array) -> jax.Array:
  """Weighted sum of values: ``[B, L, H, K]``."""
  weights_BHLS, v_BSHK = jnp.asarray(weights_BHLS), jnp.asarray(v_BSHK)
  checks.check_ndim(weights_BHLS, "weights_BHLS", ndim=4)
  checks.check_ndim(v_BSHK, "v_BSHK", ndim=4)
  if weights_BHLS.shape[-1] != v_BSHK.shape[1] or weights_BHLS.shape[1] != v_BSHK.shape[2]:
    raise ValueError(
        f"weights_BHLS {tuple(weights_BHLS.shape)} and v_BSHK {tuple(v_BSHK.shape)} disagree "
        "on key length or heads")
  return jnp.einsum("bhls,bshk->blhk", weights_BHLS, v_BSHK)


def gelu_new(x: jax.Array) -> jax.Array:
  """The tanh approximation of GELU used by T5 v1.1 ('gated-gelu')."""
  return jax.nn.gelu(x, approximate=True)


ACTIVATIONS = {"relu": jax.nn.relu, "gelu": gelu_new, "gelu_new": gelu_new,
               "silu": jax.nn.silu}
