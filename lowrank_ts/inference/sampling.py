"""Jitted autoregressive sampling for Chronos through the model's own KV-cached decoder.

The sampler knows only the model's ``encode``, ``init_decode_cache`` and ``decode_step``
(:class:`lowrank_ts.models.t5.T5`): the blocks and their attention are the ones training uses.
The encoder runs once per series and each cross-attention layer's keys and values are
computed once per series (:meth:`T5.init_decode_cache`), then shared by all ``num_samples``
sample paths, which are an extra query axis of cross-attention (``[B, N, ...]`` queries against
``[B, H, K, S]`` keys), so nothing is repeated per sample. (The reference expands the encoder
output to ``B * N`` rows and recomputes cross-attention K/V for every sample.) Self-attention
keys and values live in a preallocated ``[B, N, H, T, K]`` cache written at each step; the
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

from lowrank_ts import checks, sharding

# What the sampler needs of a model (lowrank_ts.models.t5.T5 has it).
_DECODER_INTERFACE = ("encode", "init_decode_cache", "decode_step")


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


def _run(model, token_ids_BL, mask_BL, start_BN, horizon, choose):
  """Encodes once, then scans ``horizon`` decode steps from ``start_BN`` through the model's
  cached :meth:`decode_step`; ``choose(logits_BNV, step)`` picks the next tokens. Returns the
  tokens ``[B, N, horizon]``."""
  encoder_BSD = model.encode(token_ids_BL, mask_BL)
  cache = model.init_decode_cache(encoder_BSD, mask_BL, start_BN.shape[1], horizon)

  def body(carry, step):
    token_BN, cache = carry
    cache, logits_BN1V = model.decode_step(token_BN[..., None], cache, step)
    next_BN = choose(logits_BN1V[:, :, 0], step)
    return (next_BN, cache), next_BN

  _, tokens_TBN = jax.lax.scan(body, (start_BN, cache), jnp.arange(horizon))
  return jnp.moveaxis(tokens_TBN, 0, -1)


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

  start_BN = jnp.full((token_ids_BL.shape[0], num_samples), model.decoder_start_token_id,
                      jnp.int32)
  return _run(model, token_ids_BL, mask_BL, start_BN, horizon, choose)


def _check_inputs(model, token_ids_BL, mask_BL):
  if not all(callable(getattr(model, m, None)) for m in _DECODER_INTERFACE):
    raise ValueError(f"model must be an encoder-decoder with {', '.join(_DECODER_INTERFACE)} "
                     f"(a Chronos / T5 model), got {type(model).__name__}")
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


def _arguments(model, token_ids_BL, mask_BL, key, num_samples, horizon, temperature, top_k,
               top_p, eos_token_id):
  """``sample``'s checked arguments as ``(args, static kwargs)`` of the jitted ``_sample``."""
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
  # Rows split over the parameters' mesh when the model was placed on one (data parallel).
  token_ids_BL, mask_BL = sharding.rows_like_params(state, token_ids_BL, mask_BL)
  return ((graphdef, state, token_ids_BL, mask_BL, key, jnp.float32(temperature),
           jnp.float32(top_p)),
          dict(num_samples=num_samples, horizon=horizon, top_k=top_k, eos_token_id=eos_token_id))


def sample(model, token_ids_BL, mask_BL, key, *, num_samples: int, horizon: int,
           temperature: float = 1.0, top_k: int | None = 50, top_p: float = 1.0,
           eos_token_id: int | None = 1) -> jax.Array:
  """Samples ``[B, num_samples, horizon]`` token ids after the encoder inputs.

  ``eos_token_id`` is suppressed at every step (``None`` allows it); ``top_k=None`` or 0
  disables top-k. One compiled program per (model structure, shapes, num_samples, horizon,
  top_k); temperature and top_p are traced.
  """
  args, static = _arguments(model, token_ids_BL, mask_BL, key, num_samples, horizon,
                            temperature, top_k, top_p, eos_token_id)
  return _sample(*args, **static)


def lowered(model, token_ids_BL, mask_BL, key, *, num_samples: int, horizon: int,
            temperature: float = 1.0, top_k: int | None = 50, top_p: float = 1.0,
            eos_token_id: int | None = 1):
  """The program :func:`sample` runs for these arguments, lowered and not run (``jax.stages.
  Lowered``): ``.compile().memory_analysis()`` gives its working memory, ``.cost_analysis()``
  its FLOPs."""
  args, static = _arguments(model, token_ids_BL, mask_BL, key, num_samples, horizon,
                            temperature, top_k, top_p, eos_token_id)
  return _sample.lower(*args, **static)
