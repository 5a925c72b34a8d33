"""Chronos: the T5 encoder-decoder over MeanScaleUniformBins tokens (Ansari et al., 2024).

The model sees token ids (``n_tokens`` = vocabulary size, PAD 0, EOS 1); the tokenizer
(scaling, binning, EOS) lives in :mod:`lowrank_ts.embeddings`, sampling in
:mod:`lowrank_ts.sampling`.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from lowrank_ts.models.config import ChronosConfig
from lowrank_ts.models.t5 import T5


class Chronos(T5):
  """A T5 with Chronos' tokenizer and sampling defaults attached (``self.chronos``)."""

  def __init__(self, config: ChronosConfig, *, rngs: nnx.Rngs, dtype=jnp.float32):
    if not isinstance(config, ChronosConfig):
      raise ValueError(f"config must be a ChronosConfig, got {type(config).__name__}")
    super().__init__(config.t5, rngs=rngs, dtype=dtype)
    self.chronos = config
