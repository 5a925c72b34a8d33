"""Chronos token batches from the pipeline's float batches (the reference ``to_hf_format``).

``input_ids`` / ``attention_mask`` [B, C + 1]: the context tokenised with its own mean scale and
EOS appended; ``labels`` [B, H + 1]: the target tokenised with the context's scale plus EOS,
``-100`` where the target is missing (ignored by the loss); ``scale`` [B].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lowrank_ts import checks, embeddings

IGNORE_ID = -100


def chronos_batch(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """``{"input_ids", "attention_mask", "labels", "scale"}`` (numpy) from ``{"context",
  "target"}`` float [B, C] / [B, H]."""
  if not isinstance(batch, Mapping) or "context" not in batch or "target" not in batch:
    raise ValueError("batch must be a mapping with keys context and target")
  context = checks.float_array(batch["context"], "batch['context']", ndim=2)
  target = checks.float_array(batch["target"], "batch['target']", ndim=2)
  if context.shape[0] != target.shape[0]:
    raise ValueError(f"batch['context'] and batch['target'] must have the same batch size, got "
                     f"{context.shape[0]} and {target.shape[0]}")
  input_ids, attention_mask, scale = embeddings.chronos_tokenize(context)
  labels, labels_mask, _ = embeddings.chronos_tokenize(target, scale=scale)
  labels = np.where(np.asarray(labels_mask), np.asarray(labels), IGNORE_ID).astype(np.int32)
  return {"input_ids": np.asarray(input_ids), "attention_mask": np.asarray(attention_mask),
          "labels": labels, "scale": np.asarray(scale)}
