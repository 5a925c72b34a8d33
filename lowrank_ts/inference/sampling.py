"""Token sampling from encoder inputs: the checked public entry to
:func:`lowrank_ts.models.sampler.sample_tokens`, compiled by :mod:`.programs`.

Forecasts sample through the model's own rule (:meth:`Chronos.predict`); this entry is for
token-level work (profiles, memory of the compiled program). One compiled program per (model
structure, shapes, num_samples, horizon, top_k, eos_token_id); temperature and top_p are traced.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lowrank_ts import checks
from lowrank_ts.inference.programs import Programs
from lowrank_ts.models import sampler


def _check_inputs(model, token_ids_BL, mask_BL):
  if not all(callable(getattr(model, m, None)) for m in sampler.DECODER_INTERFACE):
    raise ValueError(f"model must be an encoder-decoder with "
                     f"{', '.join(sampler.DECODER_INTERFACE)} (a Chronos / T5 model), got "
                     f"{type(model).__name__}")
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


def _arguments(model, token_ids_BL, mask_BL, key, horizon, options):
  """``(programs, rows, traced, static)`` of the compiled :func:`sampler.sample_tokens`."""
  token_ids_BL, mask_BL = _check_inputs(model, token_ids_BL, mask_BL)
  key = checks.prng_key(key)
  options = sampler.check_options(**options)
  static = dict(num_samples=options["num_samples"],
                horizon=checks.positive_int(horizon, "horizon"), top_k=options["top_k"],
                eos_token_id=options["eos_token_id"])
  traced = (key, jnp.float32(options["temperature"]), jnp.float32(options["top_p"]))
  return Programs(model), (token_ids_BL, mask_BL), traced, static


def sample(model, token_ids_BL, mask_BL, key, *, num_samples: int, horizon: int,
           temperature: float = 1.0, top_k: int | None = 50, top_p: float = 1.0,
           eos_token_id: int | None = 1) -> jax.Array:
  """Samples ``[B, num_samples, horizon]`` token ids after the encoder inputs.

  ``eos_token_id`` is suppressed at every step (``None`` allows it); ``top_k=None`` or 0
  disables top-k.
  """
  programs, rows, traced, static = _arguments(
      model, token_ids_BL, mask_BL, key, horizon,
      dict(num_samples=num_samples, temperature=temperature, top_k=top_k, top_p=top_p,
           eos_token_id=eos_token_id))
  return programs(sampler.sample_tokens, *rows, traced=traced, **static)


def lowered(model, token_ids_BL, mask_BL, key, *, num_samples: int, horizon: int,
            temperature: float = 1.0, top_k: int | None = 50, top_p: float = 1.0,
            eos_token_id: int | None = 1) -> jax.stages.Lowered:
  """The program :func:`sample` runs for these arguments, lowered and not run: ``.compile()
  .memory_analysis()`` gives its working memory, ``.cost_analysis()`` its FLOPs."""
  programs, rows, traced, static = _arguments(
      model, token_ids_BL, mask_BL, key, horizon,
      dict(num_samples=num_samples, temperature=temperature, top_k=top_k, top_p=top_p,
           eos_token_id=eos_token_id))
  return programs.lower(sampler.sample_tokens, *rows, traced=traced, **static)
