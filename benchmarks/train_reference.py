"""The PyTorch reference stack of benchmarks.train: transformers' ``T5ForConditionalGeneration``
with our T5 config (dropout 0), ``torch.optim.AdamW`` with the same learning rate, clipping and
linear decay, on the same batches, ``torch.set_num_threads(2)``; timed per step and, for the
target's row, split into forward / backward / optimizer and the encoder's forward alone."""

from __future__ import annotations

import numpy as np

from benchmarks import common
from benchmarks.train_workloads import Workload, train_config
from lowrank_ts.models.config import T5Config


def reference_model(t5: T5Config):
  """transformers' T5ForConditionalGeneration with ``t5``'s dimensions, dropout off."""
  import transformers
  if not t5.is_dense:
    raise ValueError("the reference T5 has dense num_heads x d_kv attention only")
  config = transformers.T5Config(
      vocab_size=t5.vocab_size, d_model=t5.d_model, d_kv=t5.d_kv, d_ff=t5.d_ff,
      num_layers=t5.num_layers, num_decoder_layers=t5.num_decoder_layers, num_heads=t5.num_heads,
      relative_attention_num_buckets=t5.relative_attention_num_buckets,
      relative_attention_max_distance=t5.relative_attention_max_distance, dropout_rate=0.0,
      layer_norm_epsilon=t5.layer_norm_epsilon, initializer_factor=t5.initializer_factor,
      feed_forward_proj=t5.feed_forward_proj, tie_word_embeddings=t5.tie_word_embeddings,
      decoder_start_token_id=t5.decoder_start_token_id, pad_token_id=0, eos_token_id=1)
  return transformers.T5ForConditionalGeneration(config)


def time_reference(w: Workload, batches: list[dict], repeats: int, profile: bool = False) -> dict:
  """Steps of the PyTorch stack (2 threads) on the same batches (cycled)."""
  import torch
  torch.set_num_threads(2)
  torch.manual_seed(0)
  config = train_config(w)
  model = reference_model(w.model.t5)
  model.train()
  optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                weight_decay=config.weight_decay)
  schedule = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda s: max(0.0, 1.0 - s / config.steps))
  torch_batches = [{"input_ids": torch.from_numpy(np.asarray(b["input_ids"], np.int64)),
                    "attention_mask": torch.from_numpy(np.asarray(b["attention_mask"], np.int64)),
                    "labels": torch.from_numpy(np.asarray(b["labels"], np.int64))}
                   for b in batches]
  count = 0

  def forward():
    nonlocal count
    batch = torch_batches[count % len(torch_batches)]
    count += 1
    return model(**batch).loss

  def step():
    forward().backward()
    if config.max_grad_norm > 0:  # in "optimizer and rest", as optax's clipping is in ours
      torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)

  result = {"timing": common.timed(step, repeats),
            "parameters": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__, "threads": torch.get_num_threads()}
  if profile:
    fwd = common.timed(forward, repeats)

    def forward_backward():
      forward().backward()
      optimizer.zero_grad(set_to_none=True)

    fwd_bwd = common.timed(forward_backward, repeats)
    batch = torch_batches[0]
    with torch.no_grad():  # the encoder's share of a forward pass (no graph kept)
      enc = common.timed(lambda: model.encoder(input_ids=batch["input_ids"],
                                               attention_mask=batch["attention_mask"]), repeats)
    result["profile"] = {"forward_s": fwd["median_s"], "forward_backward_s": fwd_bwd["median_s"],
                         "encoder_forward_s": enc["median_s"]}
  return result
