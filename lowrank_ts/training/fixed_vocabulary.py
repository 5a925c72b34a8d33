"""The fixed rank-k Chebyshev token table of appendix I (Fig. 4c), which training can put in
place of Chronos' learned vocabulary (``TrainConfig.fixed_vocabulary_rank``)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from lowrank_ts import embeddings
from lowrank_ts.models.tokenizer import MeanScaleUniformBins


def chebyshev_vocabulary(tokenizer: MeanScaleUniformBins, k: int, d: int, key: Any,
                         x_max: float | None = None) -> jax.Array:
  """A fixed rank-k token table ``[n_tokens, d]`` for Chronos (appendix I, Fig. 4c): the row of
  a value token is the Chebyshev embedding (:func:`lowrank_ts.embeddings.chebyshev_embedding`,
  one shared draw of u_1..u_k) of its bin centre; the below-range token embeds ``low_limit``, EOS embeds
  ``x_max``, and the pad token is the zero row (masked). Every row lies in span(u_1..u_k).
  ``x_max`` defaults to the tokenizer's largest |limit| (15 for Chronos, the paper's value)."""
  if not isinstance(tokenizer, MeanScaleUniformBins):
    raise ValueError(f"tokenizer must be a MeanScaleUniformBins, got {type(tokenizer).__name__}")
  x_max = max(abs(tokenizer.low_limit), abs(tokenizer.high_limit)) if x_max is None else x_max
  values = np.zeros(tokenizer.n_tokens, np.float32)
  first = tokenizer.n_special_tokens + 1
  values[first:first + tokenizer.n_bins] = tokenizer.bin_centers()
  values[tokenizer.n_special_tokens] = tokenizer.low_limit
  values[tokenizer.eos_token_id] = x_max
  table = embeddings.chebyshev_embedding(values, k, d, key, x_max=x_max).T
  return table.at[tokenizer.pad_token_id].set(0.0)
