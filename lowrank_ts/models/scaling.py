"""The per-series statistics the models divide by, computed so that they neither overflow nor
underflow in float32: each series is first divided by the power of two ``2^e`` just above its
largest observed magnitude (exact in binary floating point), the statistics are taken on values
in ``[-1, 1]``, then multiplied back by ``2^e`` (exact again). At ordinary magnitudes the result
is bit for bit the plain formula's; a series rescaled by any positive factor gets statistics
rescaled by that factor, from 1e-30 to 1e30 and beyond (the plain ``(x - mean)^2`` overflows
float32 above ~1e19 and underflows below ~1e-19).

- :func:`mean_abs_scale`: Chronos' mean scaling, ``mean_{observed} |x|``.
- :func:`instance_norm`: Chronos-Bolt's standardisation, ``(x - mean) / std`` over the observed
  values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def binary_exponent(x_T: jax.Array) -> jax.Array:
  """``e [..., 1]`` (int32) with ``max_t |x_t| = m 2^e``, ``m`` in [0.5, 1), over the non-NaN
  values of the last axis (0 where all are NaN or zero)."""
  peak = jnp.max(jnp.where(jnp.isnan(x_T), 0.0, jnp.abs(x_T)), axis=-1, keepdims=True)
  return jnp.frexp(peak)[1]


def mean_abs_scale(x_T: jax.Array) -> jax.Array:
  """``[...]``: the mean absolute observed (non-NaN) value along the last axis; 1 where that
  is not > 0 (all missing or all zero), as chronos-forecasting's ``MeanScaleUniformBins``."""
  exponent = binary_exponent(x_T)
  unit = jnp.ldexp(x_T, -exponent)
  mask = ~jnp.isnan(x_T)
  total = jnp.sum(jnp.where(mask, jnp.abs(unit), 0.0), axis=-1)
  scale = jnp.ldexp(total / jnp.sum(mask, axis=-1).astype(x_T.dtype), exponent[..., 0])
  return jnp.where(scale > 0, scale, jnp.ones_like(scale))


def instance_norm(context_BT: jax.Array, eps: float = 1e-5):
  """``(normalised [B, T], loc [B, 1], scale [B, 1])``: each row standardised over its non-NaN
  values, ``loc = mean``, ``scale = sqrt(mean((x - loc)^2))`` (chronos-forecasting's Bolt
  instance norm; all missing: loc 0, scale 1; constant: scale ``eps``)."""
  x = jnp.asarray(context_BT, jnp.float32)
  if x.ndim != 2:
    raise ValueError(f"context_BT must be [batch, time], got shape {tuple(x.shape)}")
  exponent = binary_exponent(x)
  unit = jnp.ldexp(x, -exponent)
  unit_loc = jnp.nan_to_num(jnp.nanmean(unit, axis=-1, keepdims=True), nan=0.0)
  unit_scale = jnp.sqrt(jnp.nanmean(jnp.square(unit - unit_loc), axis=-1, keepdims=True))
  loc = jnp.ldexp(unit_loc, exponent)
  fallback = ~(unit_scale > 0)  # NaN: nothing observed; 0: a constant series
  scale = jnp.where(fallback, jnp.where(jnp.isnan(unit_scale), 1.0, eps),
                    jnp.ldexp(unit_scale, exponent))
  # The fallback scales are absolute, not relative to 2^e: divide in the data's units there.
  normalised = jnp.where(fallback, (x - loc) / scale,
                         (unit - unit_loc) / jnp.where(fallback, 1.0, unit_scale))
  return normalised, loc, scale
