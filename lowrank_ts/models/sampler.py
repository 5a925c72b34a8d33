"""Autoregressive sampling through the model's own KV-cached decoder (:class:`~.t5.T5`).

:func:`sample_tokens` is one jittable function of the model: the encoder runs once per series,
the fused q / k / v factors, the position bias of every step and each cross-attention layer's
keys and values once per forecast (:meth:`T5.init_decode_state`; the keys and values are shared
by all ``num_samples`` paths, an extra query axis of cross-attention), then a ``lax.scan`` of
:meth:`T5.fused_decode_step` writes the self-attention cache ``[B, N, H, T, K]`` in place.
chronos-forecasting instead expands the encoder output to ``B * N`` rows.

Sampling follows Hugging Face ``generate`` as Chronos calls it: EOS is suppressed (exactly
``horizon`` new tokens), then temperature, top-k and top-p (nucleus) in that order, then a
categorical draw with ``fold_in(key, step)``. Step ``t`` only sees earlier steps, so the first
``h`` tokens of a longer horizon are those of horizon ``h``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lowrank_ts import checks

# What the sampler needs of a model (lowrank_ts.models.t5.T5 has it).
DECODER_INTERFACE = ("encode", "init_decode_state", "fused_decode_step")


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


def check_options(*, num_samples, temperature, top_k, top_p, eos_token_id) -> dict:
  """The sampling options, checked (a ValueError naming the bad one); ``top_k`` 0 is None."""
  if top_k is not None:
    top_k = checks.positive_int(top_k, "top_k", allow_zero=True) or None
  if eos_token_id is not None:
    eos_token_id = checks.positive_int(eos_token_id, "eos_token_id", allow_zero=True)
  return {"num_samples": checks.positive_int(num_samples, "num_samples"),
          "temperature": checks.positive_float(temperature, "temperature"),
          "top_k": top_k, "top_p": checks.positive_float(top_p, "top_p", upper=1.0),
          "eos_token_id": eos_token_id}


def decode(model, token_ids_BL, mask_BL, start_BN, horizon: int, choose) -> jax.Array:
  """Encodes once, then scans ``horizon`` decode steps from ``start_BN`` through the model's
  :meth:`fused_decode_step`; ``choose(logits_BNV, step)`` picks the next tokens. Returns the
  tokens ``[B, N, horizon]``."""
  encoder_BSD = model.encode(token_ids_BL, mask_BL)
  state = model.init_decode_state(encoder_BSD, mask_BL, start_BN.shape[1], horizon)

  def body(carry, step):
    token_BN, state = carry
    state, logits_BN1V = model.fused_decode_step(token_BN[..., None], state, step)
    next_BN = choose(logits_BN1V[:, :, 0], step)
    return (next_BN, state), next_BN

  _, tokens_TBN = jax.lax.scan(body, (start_BN, state), jnp.arange(horizon))
  return jnp.moveaxis(tokens_TBN, 0, -1)


def sample_tokens(model, token_ids_BL, mask_BL, key, temperature, top_p, *, num_samples: int,
                  horizon: int, top_k: int | None, eos_token_id: int | None) -> jax.Array:
  """``[B, num_samples, horizon]`` int32 token ids sampled after the encoder inputs (jittable;
  ``temperature`` and ``top_p`` may be traced, the keyword arguments are static). ``eos_token_id``
  is suppressed at every step (None allows it); ``top_k`` None keeps every token."""

  def choose(logits_BNV, step):
    if eos_token_id is not None:  # generate(min_new_tokens=horizon) never ends early
      logits_BNV = logits_BNV.at[..., eos_token_id].set(-jnp.inf)
    values, ids = warp_logits(logits_BNV, temperature, top_k, top_p)
    pick = jax.random.categorical(jax.random.fold_in(key, step), values, axis=-1)
    return jnp.take_along_axis(ids, pick[..., None], axis=-1)[..., 0].astype(jnp.int32)

  start_BN = jnp.full((token_ids_BL.shape[0], num_samples), model.decoder_start_token_id,
                      jnp.int32)
  return decode(model, token_ids_BL, mask_BL, start_BN, horizon, choose)
