"""Analytic FLOP counts (2 per multiply-add) of the benchmarked workloads: a T5 forward /
training step (:func:`forward_flops`, :func:`train_flops`, used by :mod:`benchmarks.train`) and
a Chronos / Chronos-Bolt forecast (:func:`chronos_forecast_flops`, :func:`bolt_forecast_flops`,
used by :mod:`benchmarks.inference`). Norms, softmax, activations, sampling and embedding
lookups are not counted.
"""

from __future__ import annotations

import math

from lowrank_ts.models import lowrank
from lowrank_ts.models.config import T5Config


# -- training ----------------------------------------------------------------------------------
def forward_flops(t5: T5Config, batch: int, encoder_length: int, decoder_length: int) -> dict:
  """Matmul FLOPs (2 per multiply-add) of one forward pass, by part, and their ``total``.

  Projections cost 2 x their parameters per token (dense, shared- or per-head-sketched, from
  :func:`lowrank.projection_parameters`); attention 2 L S H K for ``q k^T`` and again for the
  weighted values (the full L x S matrix, as computed; no causal saving); cross-attention keys
  and values are projected from the ``encoder_length`` encoder states; the feed-forward is
  2 or 3 (gated) ``d_model x d_ff`` matmuls; the LM head ``2 d_model V`` per decoder token.
  Norms, softmax, activations and the embedding lookup are not counted.
  """
  if not isinstance(t5, T5Config):
    raise ValueError(f"t5 must be a T5Config, got {type(t5).__name__}")  # noqa: TRY004
  for name, value in (("batch", batch), ("encoder_length", encoder_length),
                      ("decoder_length", decoder_length)):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
      raise ValueError(f"{name} must be a positive int, got {value!r}")
  d, le, ld = t5.d_model, encoder_length, decoder_length

  def proj(spec, name):
    return 2 * lowrank.projection_parameters(d, spec.n_heads, spec.d_kv, getattr(spec, name))

  def scores(spec, queries, keys):
    return 4 * queries * keys * spec.n_heads * spec.d_kv

  ff = 2 * d * t5.d_ff * (3 if t5.is_gated else 2)
  parts = {"encoder_attention_projections": 0, "encoder_attention_scores": 0,
           "decoder_self_projections": 0, "decoder_self_scores": 0,
           "cross_query_output_projections": 0, "cross_key_value_projections": 0,
           "cross_scores": 0,
           "encoder_feed_forward": ff * le * t5.num_layers,
           "decoder_feed_forward": ff * ld * t5.num_decoder_layers,
           "lm_head": 2 * d * t5.vocab_size * ld}
  for spec in t5.attention_specs("encoder"):
    parts["encoder_attention_projections"] += le * sum(proj(spec, p) for p in "qkvo")
    parts["encoder_attention_scores"] += scores(spec, le, le)
  for spec in t5.attention_specs("decoder_self"):
    parts["decoder_self_projections"] += ld * sum(proj(spec, p) for p in "qkvo")
    parts["decoder_self_scores"] += scores(spec, ld, ld)
  for spec in t5.attention_specs("decoder_cross"):
    parts["cross_query_output_projections"] += ld * (proj(spec, "q") + proj(spec, "o"))
    parts["cross_key_value_projections"] += le * (proj(spec, "k") + proj(spec, "v"))
    parts["cross_scores"] += scores(spec, ld, le)
  parts = {k: batch * v for k, v in parts.items()}
  parts["total"] = sum(parts.values())
  return parts


def train_flops(t5: T5Config, batch: int, encoder_length: int, decoder_length: int) -> int:
  """Analytic training FLOPs of one step: 3 x forward (backward = 2 matmuls per matmul)."""
  return 3 * forward_flops(t5, batch, encoder_length, decoder_length)["total"]


# -- forecasting (multiply-adds x 2; softmax, norms and sampling are not counted) ------------
def _projection_macs(t5, spec, name: str) -> int:
  # A projection's multiply-adds per token equal its parameter count, for every kind.
  return lowrank.projection_parameters(t5.d_model, spec.n_heads, spec.d_kv, getattr(spec, name))


def _ff_macs(t5) -> int:
  return (3 if t5.is_gated else 2) * t5.d_model * t5.d_ff


def _encoder_macs(t5, length: int) -> int:
  """One series of ``length`` tokens through the encoder stack."""
  total = 0
  for spec in t5.attention_specs("encoder"):
    projections = sum(_projection_macs(t5, spec, p) for p in "qkvo")
    total += length * (projections + _ff_macs(t5)) + 2 * spec.n_heads * spec.d_kv * length ** 2
  return total


def _cross_kv_macs(t5, length: int) -> int:
  return sum(length * (_projection_macs(t5, s, "k") + _projection_macs(t5, s, "v"))
             for s in t5.attention_specs("decoder_cross"))


def _decoder_token_macs(t5, self_keys: int, cross_keys: int) -> int:
  """One decoder token attending ``self_keys`` cached and ``cross_keys`` encoder positions."""
  total = 0
  for s, c in zip(t5.attention_specs("decoder_self"), t5.attention_specs("decoder_cross"),
                  strict=True):
    total += sum(_projection_macs(t5, s, p) for p in "qkvo") + 2 * s.n_heads * s.d_kv * self_keys
    total += _projection_macs(t5, c, "q") + _projection_macs(t5, c, "o")
    total += 2 * c.n_heads * c.d_kv * cross_keys + _ff_macs(t5)
  return total


def chronos_forecast_flops(t5, batch: int, context_tokens: int, horizon: int,
                           num_samples: int) -> dict[str, float]:
  """FLOPs of sampling ``num_samples`` paths of ``horizon`` tokens for ``batch`` series of
  ``context_tokens`` encoder tokens (context + EOS): the encoder and the cross-attention keys /
  values once per series, then ``num_samples x horizon`` decoder tokens per series, step ``t``
  (0-based) attending ``t + 1`` cached positions (a KV cache), and the LM head per token.
  (Our decoder scores every step against the whole preallocated ``horizon``-long cache, masked:
  the needed work is counted, not that.)"""
  decoder_tokens = batch * num_samples
  decoder = sum(_decoder_token_macs(t5, t + 1, context_tokens) for t in range(horizon))
  macs = {"encoder": batch * _encoder_macs(t5, context_tokens),
          "cross_kv": batch * _cross_kv_macs(t5, context_tokens),
          "decoder": decoder_tokens * decoder,
          "lm_head": decoder_tokens * horizon * t5.d_model * t5.vocab_size}
  flops = {k: 2.0 * v for k, v in macs.items()}
  flops["total"] = sum(flops.values())
  return flops


def bolt_forecast_flops(bolt, batch: int, context: int) -> dict[str, float]:
  """FLOPs of one Chronos-Bolt call (horizon <= prediction_length): the patch embedding, the
  encoder over the patches + REG, cross-attention K/V, one decoder token, the quantile head."""
  t5 = bolt.t5
  patches = math.ceil(min(context, bolt.context_length) / bolt.input_patch_size)
  length = patches + int(bolt.use_reg_token)
  features, out = 2 * bolt.input_patch_size, len(bolt.quantiles) * bolt.prediction_length
  macs = {"patch_embedding": batch * patches * (features * t5.d_ff + t5.d_ff * t5.d_model
                                                + features * t5.d_model),
          "encoder": batch * _encoder_macs(t5, length),
          "cross_kv": batch * _cross_kv_macs(t5, length),
          "decoder": batch * _decoder_token_macs(t5, 1, length),
          "quantile_head": batch * (t5.d_model * t5.d_ff + t5.d_ff * out + t5.d_model * out)}
  flops = {k: 2.0 * v for k, v in macs.items()}
  flops["total"] = sum(flops.values())
  return flops
