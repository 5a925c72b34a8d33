"""Chronos-Bolt: instance-normalised patches into a T5 encoder, one decoder token, quantiles out.

Facts reproduced from chronos-forecasting's ``chronos_bolt.py``:

- Instance norm in fp32 over the observed (non-NaN) values: ``loc = nanmean`` (NaN -> 0),
  ``scale = sqrt(nanmean((x - loc)^2))`` (NaN -> 1, 0 -> 1e-5); computed scale-safely
  (:func:`lowrank_ts.models.scaling.instance_norm`: the same numbers, without fp32's overflow
  above ~1e19 or underflow below ~1e-19).
- The context (last ``context_length`` values) is left-padded with NaN to a multiple of the
  patch size and cut into patches; unobserved values become 0 and each patch's features are
  its values followed by its observation mask (``2 * patch`` features). A patch is attended
  if any of its points is observed.
- A residual MLP (``W_o relu(W_h x) + W_r x``, biases) embeds patches into d_model; the REG
  token (row 1 of the shared embedding) is appended.
- The decoder reads the single start token (row 0); a residual MLP maps its output to
  ``quantiles x prediction_length`` values, which are de-normalised.
- Quantile loss (normalised space): ``2 |(y - q_hat)(1[y <= q_hat] - q)|`` on observed
  targets, averaged over quantile levels, summed over the horizon, averaged over the batch
  (the reference's reductions, whose comments name the axes the other way round).


The model interface (:mod:`lowrank_ts.models.registry`): ``config``, ``training_batch``
(float windows as they are), ``loss`` (the quantile loss), ``predict`` (direct quantiles;
horizons beyond ``prediction_length`` in chunks, feeding back each quantile path and
re-reducing the ``Q x Q`` paths to ``Q`` quantiles, as ``ChronosBoltPipeline`` does),
``forecast`` (the 9 levels), ``embed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lowrank_ts import checks
from lowrank_ts.models.config import QUANTILE_LEVELS, BoltConfig
from lowrank_ts.models.layers import normal_init, normal_param
from lowrank_ts.models.scaling import instance_norm
from lowrank_ts.models.t5 import Stack


def patchify(x_BT: jax.Array, patch_size: int) -> jax.Array:
  """Left-pads with NaN to a multiple of ``patch_size``; ``[B, T] -> [B, N, patch_size]``."""
  x_BT = jnp.asarray(x_BT)
  if x_BT.ndim != 2:
    raise ValueError(f"x_BT must be [batch, time], got shape {tuple(x_BT.shape)}")
  pad = (-x_BT.shape[1]) % patch_size
  x_BT = jnp.pad(x_BT, ((0, 0), (pad, 0)), constant_values=jnp.nan)
  return x_BT.reshape(x_BT.shape[0], -1, patch_size)


def quantile_loss(quantiles_BQH: jax.Array, target_BH: jax.Array, target_mask_BH: jax.Array,
                  levels_Q: jax.Array) -> jax.Array:
  """Chronos-Bolt's training loss (a scalar) for predictions and targets in the same space."""
  quantiles_BQH, target_BH = jnp.asarray(quantiles_BQH), jnp.asarray(target_BH)
  levels_Q = jnp.asarray(levels_Q)
  if quantiles_BQH.ndim != 3 or target_BH.shape != (quantiles_BQH.shape[0],
                                                     quantiles_BQH.shape[2]):
    raise ValueError(f"quantiles_BQH [B, Q, H] and target_BH [B, H] disagree: "
                     f"{tuple(quantiles_BQH.shape)} vs {tuple(target_BH.shape)}")
  if levels_Q.shape != (quantiles_BQH.shape[1],):
    raise ValueError(f"levels_Q must have shape ({quantiles_BQH.shape[1]},), got "
                     f"{tuple(levels_Q.shape)}")
  target = target_BH[:, None, :]
  below = (target <= quantiles_BQH).astype(jnp.float32)
  loss = 2 * jnp.abs((target - quantiles_BQH) * (below - levels_Q[None, :, None]))
  loss = loss * jnp.asarray(target_mask_BH, jnp.float32)[:, None, :]
  return loss.mean(axis=1).sum(axis=-1).mean()


class ResidualBlock(nnx.Module):
  """``dropout(W_o relu(W_h x + b_h) + b_o) + W_r x + b_r`` (no normalisation)."""

  def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout_rate: float,
               stds: tuple[float, float, float], *, rngs: nnx.Rngs, dtype=jnp.float32):
    def linear(i, o, std):
      return nnx.Linear(i, o, kernel_init=normal_init(std), param_dtype=dtype,
                        dtype=dtype, rngs=rngs)
    self.hidden_layer = linear(in_dim, hidden_dim, stds[0])
    self.output_layer = linear(hidden_dim, out_dim, stds[1])
    self.residual_layer = linear(in_dim, out_dim, stds[2])
    self.dropout = nnx.Dropout(dropout_rate, deterministic=True, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    hidden = jax.nn.relu(self.hidden_layer(x))
    return self.dropout(self.output_layer(hidden)) + self.residual_layer(x)


class ChronosBolt(nnx.Module):
  """Chronos-Bolt forecasting model (``self.config`` is its :class:`BoltConfig`)."""

  sampled = False  # direct quantile forecasts (registry.ForecastModel)

  def __init__(self, config: BoltConfig, *, rngs: nnx.Rngs, dtype=jnp.float32):
    if not isinstance(config, BoltConfig):
      raise ValueError(f"config must be a BoltConfig, got {type(config).__name__}")
    self.config = config
    t5 = config.t5
    f, patch_features = t5.initializer_factor, 2 * config.input_patch_size
    # The reference initialises both residual blocks with the patch-feature fan-in.
    stds = (f * patch_features ** -0.5, f * t5.d_ff ** -0.5, f * patch_features ** -0.5)
    self.shared = normal_param(rngs, (t5.vocab_size, t5.d_model), f, dtype)
    self.input_patch_embedding = ResidualBlock(patch_features, t5.d_ff, t5.d_model,
                                               t5.dropout_rate, stds, rngs=rngs, dtype=dtype)
    self.encoder = Stack(t5, is_decoder=False, rngs=rngs, dtype=dtype)
    self.decoder = Stack(t5, is_decoder=True, rngs=rngs, dtype=dtype)
    self.output_patch_embedding = ResidualBlock(
        t5.d_model, t5.d_ff, len(config.quantiles) * config.prediction_length, t5.dropout_rate,
        stds, rngs=rngs, dtype=dtype)

  def _context(self, context_BT, mask_BT):
    context_BT = jnp.asarray(context_BT, jnp.float32)
    if context_BT.ndim != 2 or 0 in context_BT.shape:
      raise ValueError(f"context_BT must be a non-empty [batch, time] array, got shape "
                       f"{tuple(context_BT.shape)}")
    if mask_BT is None:
      mask_BT = ~jnp.isnan(context_BT)
    mask_BT = jnp.asarray(mask_BT)
    if mask_BT.shape != context_BT.shape:
      raise ValueError(f"mask_BT must have shape {tuple(context_BT.shape)}, got "
                       f"{tuple(mask_BT.shape)}")
    length = self.config.context_length
    return context_BT[:, -length:], mask_BT[:, -length:].astype(jnp.float32)

  def _embed(self, context_BT, mask_BT):
    """``(embeds_BND, attention_mask_BN, loc_B1, scale_B1)``: instance-normalised patches (and
    their masks) through the input residual block, then the REG token."""
    context_BT, mask_BT = self._context(context_BT, mask_BT)
    normed_BT, loc, scale = instance_norm(context_BT)
    patches_BNP = patchify(normed_BT, self.config.input_patch_size)
    patch_mask_BNP = jnp.nan_to_num(patchify(mask_BT, self.config.input_patch_size), nan=0.0)
    patches_BNP = jnp.where(patch_mask_BNP > 0, patches_BNP, 0.0)
    attention_mask_BN = patch_mask_BNP.sum(-1) > 0
    embeds_BND = self.input_patch_embedding(jnp.concatenate([patches_BNP, patch_mask_BNP], -1))
    if self.config.use_reg_token:
      reg_B1D = jnp.broadcast_to(self.shared[...][1], (embeds_BND.shape[0], 1,
                                                       embeds_BND.shape[2]))
      embeds_BND = jnp.concatenate([embeds_BND, reg_B1D], axis=1)
      attention_mask_BN = jnp.concatenate(
          [attention_mask_BN, jnp.ones((embeds_BND.shape[0], 1), bool)], axis=1)
    return embeds_BND, attention_mask_BN, loc, scale

  def encoder_inputs(self, context_BT) -> tuple[jax.Array, jax.Array]:
    """``(embeds_BND, mask_BN)``: what the encoder reads for raw contexts ``[B, T]`` (NaN =
    missing): the patch embeddings plus the REG token."""
    embeds_BND, attention_mask_BN, _, _ = self._embed(context_BT, None)
    return embeds_BND, attention_mask_BN

  def encoder_outputs(self, context_BT, mask_BT=None):
    """``(hidden_BND, attention_mask_BN, loc_B1, scale_B1)`` for raw contexts (NaN = missing):
    the encoder's hidden states, which positions they attend, and the instance norm's scaling.
    ``N`` counts patches plus the REG token."""
    embeds_BND, attention_mask_BN, loc, scale = self._embed(context_BT, mask_BT)
    return self.encoder(embeds_BND, attention_mask_BN), attention_mask_BN, loc, scale

  def encode(self, context_BT, mask_BT=None) -> jax.Array:
    """Encoder hidden states ``[B, N, d_model]`` for raw contexts ``[B, T]`` (NaN = missing)."""
    return self.encoder_outputs(context_BT, mask_BT)[0]

  def decode(self, hidden_BND, attention_mask_BN) -> jax.Array:
    """The decoder's output ``[B, d_model]`` for its single start token."""
    start = self.shared[...][self.config.t5.decoder_start_token_id]
    start_B1D = jnp.broadcast_to(start, (hidden_BND.shape[0], 1, start.shape[0]))
    return self.decoder(start_B1D, None, hidden_BND, attention_mask_BN)[:, 0]

  def normalised_quantiles(self, context_BT, mask_BT=None):
    """``(quantiles_BQH, loc_B1, scale_B1)`` with quantiles in normalised space."""
    hidden_BND, attention_mask_BN, loc, scale = self.encoder_outputs(context_BT, mask_BT)
    out = self.output_patch_embedding(self.decode(hidden_BND, attention_mask_BN))
    return out.reshape(out.shape[0], len(self.config.quantiles), -1), loc, scale

  def __call__(self, context_BT, mask_BT=None) -> jax.Array:
    """Quantile forecasts ``[B, Q, prediction_length]`` in the data's scale."""
    quantiles_BQH, loc, scale = self.normalised_quantiles(context_BT, mask_BT)
    return quantiles_BQH * scale[:, :, None] + loc[:, :, None]

  def quantile_loss(self, context_BT, target_BH, mask_BT=None, target_mask_BH=None
                    ) -> jax.Array:
    """Quantile loss of forecasts for ``target_BH`` (NaN = missing, shorter ones padded)."""
    target_BH = jnp.asarray(target_BH, jnp.float32)
    horizon, batch = self.config.prediction_length, jnp.shape(context_BT)[0]
    if target_BH.ndim != 2 or target_BH.shape[0] != batch or not (
        1 <= target_BH.shape[1] <= horizon):
      raise ValueError(f"target_BH must be [batch={batch}, 1..{horizon}], got"
                       f" {tuple(target_BH.shape)}")
    quantiles_BQH, loc, scale = self.normalised_quantiles(context_BT, mask_BT)
    if target_mask_BH is None:
      target_mask_BH = ~jnp.isnan(target_BH)
    target_mask_BH = jnp.asarray(target_mask_BH, bool)
    target_BH = jnp.where(target_mask_BH, (target_BH - loc) / scale, 0.0)
    pad = ((0, 0), (0, horizon - target_BH.shape[1]))
    return quantile_loss(quantiles_BQH, jnp.pad(target_BH, pad), jnp.pad(target_mask_BH, pad),
                         jnp.asarray(self.config.quantiles, jnp.float32))

  # -- the model interface ----------------------------------------------------------------------
  def training_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{context [B, C], target [B, H]}`` float32 (NaN = missing): Bolt reads raw values."""
    if not isinstance(batch, Mapping) or "context" not in batch or "target" not in batch:
      raise ValueError("batch must be a mapping with keys context and target")
    return {"context": checks.float_array(batch["context"], "batch['context']", ndim=2),
            "target": checks.float_array(batch["target"], "batch['target']", ndim=2)}

  def loss(self, batch: Mapping[str, jax.Array]) -> jax.Array:
    """The quantile loss (fp32) of a :meth:`training_batch`."""
    return self.quantile_loss(batch["context"], batch["target"]).astype(jnp.float32)

  # -- forecasting: the chunking rule over the compiled programs of `run` (registry.Runner) ---
  def predict(self, context_BT: np.ndarray, horizon: int, key: Any, run,
              **options) -> np.ndarray:
    """Quantile forecasts ``[B, Q, horizon]`` at the model's own levels for float32 contexts
    ``[B, T]`` (NaN = missing). Deterministic: ``key`` is ignored and sampling options are
    refused."""
    del key  # deterministic
    if options:
      raise ValueError(f"sampling arguments {sorted(options)} do not apply to Chronos-Bolt")
    length, levels = self.config.context_length, self.config.quantiles
    context = context_BT[:, -length:]
    prediction = run.rows(ChronosBolt.__call__, context)
    chunks, remaining = [prediction], horizon - prediction.shape[-1]
    batch, n_q = prediction.shape[:2]
    if remaining > 0:
      context = np.repeat(context[:, None], n_q, axis=1)
    while remaining > 0:
      context = np.concatenate([context, prediction], axis=-1)[..., -length:]
      paths = run.rows(ChronosBolt.__call__, context.reshape(batch * n_q, -1))
      prediction = np.quantile(paths.reshape(batch, n_q * n_q, -1), levels, axis=1)
      prediction = np.moveaxis(prediction.astype(np.float32), 0, 1)
      chunks.append(prediction)
      remaining -= prediction.shape[-1]
    return np.concatenate(chunks, axis=-1)[..., :horizon]

  def forecast(self, context_BT: np.ndarray, horizon: int, key: Any, run,
               **options) -> dict[str, np.ndarray]:
    """``{"mean": [B, H], "quantiles": [B, H, 9]}`` at :data:`QUANTILE_LEVELS`: the model's
    levels, linearly interpolated (clamped at its extreme levels); the mean is the median."""
    levels = self.config.quantiles
    if 0.5 not in levels:
      raise ValueError("model must predict the 0.5 quantile")
    q = self.predict(context_BT, horizon, key, run, **options)
    out = np.stack([_interpolate_levels(q, levels, level) for level in QUANTILE_LEVELS], -1)
    return {"mean": q[:, levels.index(0.5)], "quantiles": out}

  def embed(self, context_BT: np.ndarray, run) -> dict[str, np.ndarray]:
    """The encoder's output for the last ``context_length`` values of float32 contexts
    ``[B, T]``: ``embeddings [B, N, d_model]`` (N patches, then the REG token), ``mask [B, N]``
    and the instance norm's ``loc [B]`` and ``scale [B]`` (the patches are of
    ``(context - loc) / scale``)."""
    hidden, mask, loc, scale = run(ChronosBolt.encoder_outputs,
                                   context_BT[:, -self.config.context_length:])
    return {"embeddings": np.asarray(hidden), "mask": np.asarray(mask),
            "loc": np.asarray(loc)[:, 0], "scale": np.asarray(scale)[:, 0]}


def _interpolate_levels(q_BQH, levels, level):
  if level in levels:
    return q_BQH[:, levels.index(level)]
  idx = int(np.clip(np.searchsorted(levels, level), 1, len(levels) - 1))
  lo, hi = levels[idx - 1], levels[idx]
  w = np.clip((level - lo) / (hi - lo), 0.0, 1.0)
  return (1 - w) * q_BQH[:, idx - 1] + w * q_BQH[:, idx]
