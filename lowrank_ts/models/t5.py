"""Flax NNX T5 encoder-decoder with per-layer low-rank attention (Chronos' backbone).

Modules hold parameters and call the functions of :mod:`lowrank_ts.models.t5_ops`.
Layout ``[batch, length, features]``; kernels are stored ``[in, out]`` (the transpose of a
``torch.nn.Linear`` weight). Dropout layers are created deterministic (inference);
train with ``nnx.view(model, deterministic=False)`` and an ``Rngs`` with a ``dropout`` stream.

Initialisation follows transformers' ``T5PreTrainedModel._init_weights`` with factor ``f``:
norms ``f``, embedding ``N(0, f)``, q ``N(0, f (d_model d_kv)^-1/2)``,
k, v ``N(0, f d_model^-1/2)``, o ``N(0, f (H d_kv)^-1/2)``, wi ``N(0, f d_model^-1/2)``,
wo ``N(0, f d_ff^-1/2)``, relative bias ``N(0, f d_model^-1/2)``. A factorised projection gets
factors whose product has the same entry variance.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from lowrank_ts.models import t5_ops
from lowrank_ts.models.config import AttentionSpec, ProjectionSpec, T5Config


def normal_init(std: float):
  """Initializer ``(key, shape, dtype) -> N(0, std^2)`` entries. Drawn as a power-of-two-long
  vector and cut to size, so eager initialisation compiles one threefry program per size
  bucket instead of one per shape (seconds per model on CPU)."""
  def init(key, shape, dtype=jnp.float32):
    size = math.prod(shape)
    bucket = 1 << max(size - 1, 0).bit_length()
    return std * jax.random.normal(key, (bucket,), dtype)[:size].reshape(shape)
  return init


def _normal(rngs: nnx.Rngs, shape, std: float, dtype) -> nnx.Param:
  return nnx.Param(normal_init(std)(rngs.params(), shape, dtype))


def _factor_stds(fan_in: int, rank: int, std: float) -> tuple[float, float]:
  """Stds of (sketch, lift) so that sketch @ lift has entries of std ``std``."""
  return fan_in ** -0.5, std * math.sqrt(fan_in / rank)


class RMSNorm(nnx.Module):
  """T5 layer norm holding its weight."""

  def __init__(self, dim: int, eps: float, init_value: float, *, dtype=jnp.float32):
    self.weight = nnx.Param(jnp.full((dim,), init_value, dtype))
    self.eps = eps

  def __call__(self, x_BLD: jax.Array) -> jax.Array:
    return t5_ops.rms_norm(x_BLD, self.weight[...], self.eps)


class HeadsInProjection(nnx.Module):
  """q, k or v: ``[B, L, d_model] -> [B, L, H, K]``, dense or sketched (eqs. 19-20)."""

  def __init__(self, d_model: int, n_heads: int, d_kv: int, spec: ProjectionSpec, std: float,
               *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.kind, self.n_heads, self.d_kv = spec.kind, n_heads, d_kv
    if spec.kind == "dense":
      self.kernel = _normal(rngs, (d_model, n_heads * d_kv), std, dtype)
    elif spec.kind == "shared_sketch":
      s_std, l_std = _factor_stds(d_model, spec.rank, std)
      self.sketch = _normal(rngs, (d_model, spec.rank), s_std, dtype)
      self.lift = _normal(rngs, (spec.rank, n_heads * d_kv), l_std, dtype)
    else:
      s_std, l_std = _factor_stds(d_model, spec.rank, std)
      self.sketch = _normal(rngs, (n_heads, d_model, spec.rank), s_std, dtype)
      self.lift = _normal(rngs, (n_heads, spec.rank, d_kv), l_std, dtype)

  def __call__(self, x_BLD: jax.Array) -> jax.Array:
    if self.kind == "dense":
      y = x_BLD @ self.kernel[...]
    elif self.kind == "shared_sketch":
      y = (x_BLD @ self.sketch[...]) @ self.lift[...]
    else:
      sketched_BLHR = jnp.einsum("bld,hdr->blhr", x_BLD, self.sketch[...])
      return jnp.einsum("blhr,hrk->blhk", sketched_BLHR, self.lift[...])
    return y.reshape(*y.shape[:-1], self.n_heads, self.d_kv)

  def dense_kernel(self) -> jax.Array:
    """The equivalent dense ``[d_model, H*K]`` kernel (factors multiplied out)."""
    if self.kind == "dense":
      return self.kernel[...]
    if self.kind == "shared_sketch":
      return self.sketch[...] @ self.lift[...]
    per_head_HDK = jnp.einsum("hdr,hrk->hdk", self.sketch[...], self.lift[...])
    return jnp.transpose(per_head_HDK, (1, 0, 2)).reshape(per_head_HDK.shape[1], -1)


class HeadsOutProjection(nnx.Module):
  """o: ``[B, L, H, K] -> [B, L, d_model]``; heads are column blocks of W_O."""

  def __init__(self, d_model: int, n_heads: int, d_kv: int, spec: ProjectionSpec, std: float,
               *, rngs: nnx.Rngs, dtype=jnp.float32):
    self.kind, self.n_heads, self.d_kv = spec.kind, n_heads, d_kv
    inner = n_heads * d_kv
    if spec.kind == "dense":
      self.kernel = _normal(rngs, (inner, d_model), std, dtype)
    elif spec.kind == "shared_sketch":
      s_std, l_std = _factor_stds(inner, spec.rank, std)
      self.sketch = _normal(rngs, (inner, spec.rank), s_std, dtype)
      self.lift = _normal(rngs, (spec.rank, d_model), l_std, dtype)
    else:
      s_std, l_std = _factor_stds(d_kv, spec.rank, std)
      self.sketch = _normal(rngs, (n_heads, d_kv, spec.rank), s_std, dtype)
      self.lift = _normal(rngs, (n_heads, spec.rank, d_model), l_std, dtype)

  def __call__(self, x_BLHK: jax.Array) -> jax.Array:
    if self.kind == "head_sketch":
      sketched_BLHR = jnp.einsum("blhk,hkr->blhr", x_BLHK, self.sketch[...])
      return jnp.einsum("blhr,hrd->bld", sketched_BLHR, self.lift[...])
    x_BLI = x_BLHK.reshape(*x_BLHK.shape[:-2], self.n_heads * self.d_kv)
    if self.kind == "dense":
      return x_BLI @ self.kernel[...]
    return (x_BLI @ self.sketch[...]) @ self.lift[...]

  def dense_kernel(self) -> jax.Array:
    """The equivalent dense ``[H*K, d_model]`` kernel."""
    if self.kind == "dense":
      return self.kernel[...]
    if self.kind == "shared_sketch":
      return self.sketch[...] @ self.lift[...]
    per_head_HKD = jnp.einsum("hkr,hrd->hkd", self.sketch[...], self.lift[...])
    return per_head_HKD.reshape(-1, per_head_HKD.shape[-1])


class Attention(nnx.Module):
  """T5 multi-head attention (self or cross) with per-projection parameterisation."""

  def __init__(self, d_model: int, spec: AttentionSpec, factor: float, dropout_rate: float,
               *, rngs: nnx.Rngs, dtype=jnp.float32):
    h, k = spec.n_heads, spec.d_kv
    self.q = HeadsInProjection(d_model, h, k, spec.q, factor * (d_model * k) ** -0.5,
                               rngs=rngs, dtype=dtype)
    self.k = HeadsInProjection(d_model, h, k, spec.k, factor * d_model ** -0.5,
                               rngs=rngs, dtype=dtype)
    self.v = HeadsInProjection(d_model, h, k, spec.v, factor * d_model ** -0.5,
                               rngs=rngs, dtype=dtype)
    self.o = HeadsOutProjection(d_model, h, k, spec.o, factor * (h * k) ** -0.5,
                                rngs=rngs, dtype=dtype)
    self.dropout = nnx.Dropout(dropout_rate, deterministic=True, rngs=rngs)

  def __call__(self, x_BLD: jax.Array, kv_BSD: jax.Array, bias: jax.Array) -> jax.Array:
    weights_BHLS = t5_ops.attention_weights(self.q(x_BLD), self.k(kv_BSD), bias)
    return self.o(t5_ops.attend(self.dropout(weights_BHLS), self.v(kv_BSD)))


class FeedForward(nnx.Module):
  """``wo(drop(act(wi x)))``, or gated ``wo(drop(act(wi_0 x) * wi_1 x))``; no biases."""

  def __init__(self, config: T5Config, *, rngs: nnx.Rngs, dtype=jnp.float32):
    f, d, d_ff = config.initializer_factor, config.d_model, config.d_ff
    self.gated = config.is_gated
    self.activation = config.activation
    if self.gated:
      self.wi_0 = _normal(rngs, (d, d_ff), f * d ** -0.5, dtype)
      self.wi_1 = _normal(rngs, (d, d_ff), f * d ** -0.5, dtype)
    else:
      self.wi = _normal(rngs, (d, d_ff), f * d ** -0.5, dtype)
    self.wo = _normal(rngs, (d_ff, d), f * d_ff ** -0.5, dtype)
    self.dropout = nnx.Dropout(config.dropout_rate, deterministic=True, rngs=rngs)

  def __call__(self, x_BLD: jax.Array) -> jax.Array:
    act = t5_ops.ACTIVATIONS[self.activation]
    if self.gated:
      hidden = act(x_BLD @ self.wi_0[...]) * (x_BLD @ self.wi_1[...])
    else:
      hidden = act(x_BLD @ self.wi[...])
    return self.dropout(hidden) @ self.wo[...]


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

  def __call__(self, h_BLD, self_bias, encoder_BSD=None, cross_bias=None):
    normed = self.self_norm(h_BLD)
    h_BLD = h_BLD + self.dropout(self.self_attention(normed, normed, self_bias))
    if self.has_cross:
      h_BLD = h_BLD + self.dropout(
          self.cross_attention(self.cross_norm(h_BLD), encoder_BSD, cross_bias))
    return h_BLD + self.dropout(self.ff(self.ff_norm(h_BLD)))


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
    self.relative_attention_bias = _normal(
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
    h_BLD = self.dropout(embeds_BLD)
    for layer in self.layers:
      h_BLD = layer(h_BLD, self_bias, encoder_BSD, cross_bias)
    return self.dropout(self.final_norm(h_BLD))


def _check_ids(ids, name: str, vocab_size: int) -> jax.Array:
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
    self.config = config
    f = config.initializer_factor
    self.shared = _normal(rngs, (config.vocab_size, config.d_model), f, dtype)
    self.encoder = Stack(config, is_decoder=False, rngs=rngs, dtype=dtype)
    self.decoder = Stack(config, is_decoder=True, rngs=rngs, dtype=dtype)
    if not config.tie_word_embeddings:
      self.lm_head = _normal(rngs, (config.d_model, config.vocab_size), f, dtype)

  def encode_embeds(self, embeds_BLD: jax.Array, mask_BL=None) -> jax.Array:
    """Encoder hidden states ``[B, L, d_model]`` from input embeddings."""
    embeds_BLD = jnp.asarray(embeds_BLD)
    if embeds_BLD.ndim != 3 or embeds_BLD.shape[-1] != self.config.d_model:
      raise ValueError(f"embeds_BLD must be [batch, length, {self.config.d_model}], got "
                       f"{tuple(embeds_BLD.shape)}")
    mask_BL = _check_mask(mask_BL, "mask_BL", embeds_BLD.shape[:2])
    return self.encoder(embeds_BLD, mask_BL)

  def encode(self, input_ids_BL, mask_BL=None) -> jax.Array:
    """Encoder hidden states ``[B, L, d_model]`` for token ids ``[B, L]``."""
    input_ids_BL = _check_ids(input_ids_BL, "input_ids_BL", self.config.vocab_size)
    mask_BL = _check_mask(mask_BL, "mask_BL", input_ids_BL.shape)
    return self.encoder(self.shared[...][input_ids_BL], mask_BL)

  def decode(self, decoder_ids_BT, encoder_BSD, encoder_mask_BS=None) -> jax.Array:
    """Decoder hidden states ``[B, T, d_model]`` (before the LM head)."""
    decoder_ids_BT = _check_ids(decoder_ids_BT, "decoder_ids_BT", self.config.vocab_size)
    encoder_BSD = jnp.asarray(encoder_BSD)
    if encoder_BSD.ndim != 3 or encoder_BSD.shape[0] != decoder_ids_BT.shape[0]:
      raise ValueError(f"encoder_BSD must be [batch={decoder_ids_BT.shape[0]}, length, d_model],"
                       f" got {tuple(encoder_BSD.shape)}")
    encoder_mask_BS = _check_mask(encoder_mask_BS, "encoder_mask_BS", encoder_BSD.shape[:2])
    return self.decoder(self.shared[...][decoder_ids_BT], None, encoder_BSD, encoder_mask_BS)

  def lm_logits(self, decoder_BTD: jax.Array) -> jax.Array:
    """Vocabulary logits ``[B, T, V]`` from decoder hidden states."""
    if self.config.tie_word_embeddings:
      return (decoder_BTD * self.config.d_model ** -0.5) @ self.shared[...].T
    return decoder_BTD @ self.lm_head[...]

  def __call__(self, input_ids_BL, mask_BL, decoder_ids_BT) -> jax.Array:
    """Logits ``[B, T, V]`` of the decoder prefix ``decoder_ids_BT`` given the inputs."""
    encoder_BSD = self.encode(input_ids_BL, mask_BL)
    return self.lm_logits(self.decode(decoder_ids_BT, encoder_BSD, mask_BL))
