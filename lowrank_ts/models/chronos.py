"""Chronos: the T5 encoder-decoder over MeanScaleUniformBins tokens (Ansari et al., 2024).

The model interface (:mod:`lowrank_ts.models.registry`): ``config``, ``training_batch``
(the reference ``to_hf_format``: float windows to tokens), ``loss`` (token cross-entropy),
``predict`` (sampled token paths, :func:`lowrank_ts.models.sampler.sample_tokens` over
:meth:`T5.decode_step`), ``forecast`` (quantiles over the paths), ``embed``.

Forecasts mirror chronos-forecasting's ``ChronosPipeline``: the last ``context_length`` values
are tokenised with their mean scale; horizons beyond ``prediction_length`` are forecast in
chunks, feeding back the (lower) median over samples as ``torch.median`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lowrank_ts import checks
from lowrank_ts.models import sampler
from lowrank_ts.models.config import QUANTILE_LEVELS, ChronosConfig
from lowrank_ts.models.t5 import T5

IGNORE_ID = -100  # label id the loss ignores (missing target values), as Chronos' training
SAMPLING_OPTIONS = ("num_samples", "temperature", "top_k", "top_p")


class Chronos(T5):
  """A T5 with Chronos' tokenizer and sampling defaults (``self.config``, a ChronosConfig)."""

  sampled = True  # forecasts are sample paths over a token vocabulary (registry.ForecastModel)

  def __init__(self, config: ChronosConfig, *, rngs: nnx.Rngs, dtype=jnp.float32):
    if not isinstance(config, ChronosConfig):
      raise ValueError(f"config must be a ChronosConfig, got {type(config).__name__}")
    super().__init__(config.t5, rngs=rngs, dtype=dtype)
    self.config = config

  # -- training ---------------------------------------------------------------------------------
  def training_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{input_ids, attention_mask [B, C(+1)], labels [B, H(+1)]}`` (numpy) from float windows
    ``{context [B, C], target [B, H]}``: the context tokenised with its own mean scale, the
    target with the context's scale, ``IGNORE_ID`` where the target is missing."""
    context, target = _windows(batch)
    tokenizer = self.config.tokenizer
    input_ids, attention_mask, scale = tokenizer.tokenize(context)
    labels, labels_mask, _ = tokenizer.tokenize(target, scale=scale)
    labels = np.where(np.asarray(labels_mask), np.asarray(labels), IGNORE_ID).astype(np.int32)
    return {"input_ids": np.asarray(input_ids), "attention_mask": np.asarray(attention_mask),
            "labels": labels}

  def loss(self, batch: Mapping[str, jax.Array]) -> jax.Array:
    """Mean token cross-entropy (fp32) over labels != IGNORE_ID; the decoder reads the labels
    shifted right after the start token."""
    labels_BT = batch["labels"]
    decoder_ids_BT = jnp.concatenate(
        [jnp.full_like(labels_BT[:, :1], self.decoder_start_token_id), labels_BT[:, :-1]], axis=1)
    decoder_ids_BT = jnp.where(decoder_ids_BT == IGNORE_ID, self.config.tokenizer.pad_token_id,
                               decoder_ids_BT)
    logits_BTV = self(batch["input_ids"], batch["attention_mask"], decoder_ids_BT)
    valid_BT = labels_BT != IGNORE_ID
    ce_BT = optax.softmax_cross_entropy_with_integer_labels(
        logits_BTV.astype(jnp.float32), jnp.where(valid_BT, labels_BT, 0))
    return jnp.sum(ce_BT * valid_BT) / jnp.maximum(jnp.sum(valid_BT), 1)

  def encoder_inputs(self, context_BT: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """``(embeds_BLD, mask_BL)``: what the encoder reads for float contexts ``[B, T]`` (NaN =
    missing): the mean-scaled tokens (EOS appended) looked up in the shared table."""
    context_BT = checks.float_array(context_BT, "context_BT", ndim=2)
    ids, mask, _ = self.config.tokenizer.tokenize(context_BT[:, -self.config.context_length:])
    return self.shared[...][jnp.asarray(ids)], jnp.asarray(mask)

  # -- forecasting: the chunking rule over the compiled programs of `run` (registry.Runner) ---
  def predict(self, context_BT: np.ndarray, horizon: int, key: Any, run,
              **options) -> np.ndarray:
    """Sample paths ``[B, num_samples, horizon]`` in the data's scale for float32 contexts
    ``[B, T]`` (NaN = missing); ``options``: num_samples, temperature, top_k, top_p (unset ones
    take the config's values)."""
    if key is None:
      raise ValueError("key is required to sample Chronos forecasts (jax.random.key(seed))")
    config, tokenizer = self.config, self.config.tokenizer
    unknown = set(options) - set(SAMPLING_OPTIONS)
    if unknown:
      raise ValueError(f"unknown sampling options {sorted(unknown)}; Chronos takes "
                       f"{', '.join(SAMPLING_OPTIONS)}")
    options = sampler.check_options(
        **{name: getattr(config, name) if options.get(name) is None else options[name]
           for name in SAMPLING_OPTIONS}, eos_token_id=tokenizer.eos_token_id)
    chunks, remaining = [], horizon
    while remaining > 0:
      token_ids, mask, scale = tokenizer.tokenize_window(run.window(context_BT))
      steps = min(remaining, config.prediction_length)
      tokens = run.sample(token_ids, mask, jax.random.fold_in(key, len(chunks)), steps=steps,
                          **options)
      values = np.asarray(tokenizer.detokenize(tokens, scale))
      chunks.append(values)
      remaining -= steps
      if remaining > 0:  # torch.median: the lower of the two middle samples
        median = np.sort(values, axis=1)[:, (values.shape[1] - 1) // 2]
        context_BT = np.concatenate([context_BT, median], axis=1)
    return np.concatenate(chunks, axis=-1)

  def forecast(self, context_BT: np.ndarray, horizon: int, key: Any, run,
               **options) -> dict[str, np.ndarray]:
    """``{"mean": [B, H], "quantiles": [B, H, 9]}`` at :data:`QUANTILE_LEVELS` over the sample
    paths of :meth:`predict` (linear interpolation)."""
    samples = self.predict(context_BT, horizon, key, run, **options)
    return {"mean": samples.mean(axis=1),
            "quantiles": np.moveaxis(np.quantile(samples, QUANTILE_LEVELS, axis=1), 0, -1)}

  def embed(self, context_BT: np.ndarray, run) -> dict[str, np.ndarray]:
    """The encoder's output for the last ``context_length`` values of float32 contexts
    ``[B, T]``: ``embeddings [B, L, d_model]`` (L = T plus EOS), ``mask [B, L]`` and the
    scaling ``loc [B]`` (0) and ``scale [B]`` (the tokens are of ``context / scale``)."""
    token_ids, mask, scale = self.config.tokenizer.tokenize_window(
        context_BT[:, -self.config.context_length:])
    hidden = run(T5.encode, token_ids, mask)
    scale = np.asarray(scale)
    return {"embeddings": np.asarray(hidden), "mask": np.asarray(mask),
            "loc": np.zeros_like(scale), "scale": scale}


def _windows(batch) -> tuple[np.ndarray, np.ndarray]:
  if not isinstance(batch, Mapping) or "context" not in batch or "target" not in batch:
    raise ValueError("batch must be a mapping with keys context and target")
  context = checks.float_array(batch["context"], "batch['context']", ndim=2)
  target = checks.float_array(batch["target"], "batch['target']", ndim=2)
  if context.shape[0] != target.shape[0]:
    raise ValueError(f"batch['context'] and batch['target'] must have the same batch size, got "
                     f"{context.shape[0]} and {target.shape[0]}")
  return context, target
