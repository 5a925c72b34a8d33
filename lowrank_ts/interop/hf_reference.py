"""Small random Chronos / Chronos-Bolt checkpoints built locally with transformers (fp32).

Nothing is downloaded (needs the reference extra: torch, transformers, chronos-forecasting).
For tests, and for trying the library without a hub: weights are random, with non-trivial
norm weights and biases, so a mis-mapped tensor shows up in the outputs.
"""

from __future__ import annotations

import pathlib


# The chronos_config block as chronos-forecasting writes it, spelled out here rather than
# taken from our ChronosConfig.to_hf: these checkpoints are the reference side of the
# equivalence tests, so they must not be produced by the code under test.
CHRONOS_TOKENIZER = {"tokenizer_class": "MeanScaleUniformBins",
                     "tokenizer_kwargs": {"low_limit": -15.0, "high_limit": 15.0},
                     "n_special_tokens": 2, "pad_token_id": 0, "eos_token_id": 1,
                     "use_eos_token": True, "model_type": "seq2seq", "num_samples": 5,
                     "temperature": 1.0, "top_k": 50, "top_p": 1.0}


def _randomise(model, seed: int) -> None:
  import torch
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, param in model.named_parameters():
      if name.endswith("layer_norm.weight") or name.endswith("final_layer_norm.weight"):
        param.copy_(1.0 + 0.2 * torch.randn(param.shape, generator=gen))
      elif name.endswith(".bias"):
        param.copy_(0.1 * torch.randn(param.shape, generator=gen))


def chronos_checkpoint(folder: pathlib.Path, seed: int = 0, n_tokens: int = 4096,
                       context_length: int = 64, prediction_length: int = 8, **t5_kwargs):
  """Saves a random T5ForConditionalGeneration with a chronos_config; returns the model."""
  import torch
  import transformers
  torch.manual_seed(seed)
  kwargs = dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4, dropout_rate=0.1,
                initializer_factor=1.0, feed_forward_proj="relu", decoder_start_token_id=0)
  kwargs.update(t5_kwargs)
  chronos_config = dict(CHRONOS_TOKENIZER, n_tokens=n_tokens, context_length=context_length,
                        prediction_length=prediction_length)
  config = transformers.T5Config(vocab_size=n_tokens, chronos_config=chronos_config, **kwargs)
  model = transformers.T5ForConditionalGeneration(config)
  _randomise(model, seed)
  model.eval()
  model.save_pretrained(folder)
  return model


def bolt_checkpoint(folder: pathlib.Path, seed: int = 0, context_length: int = 128,
                    prediction_length: int = 16, patch_size: int = 16, **t5_kwargs):
  """Saves a random ChronosBoltModelForForecasting; returns the model."""
  import torch
  import transformers
  from chronos.chronos_bolt import ChronosBoltModelForForecasting
  torch.manual_seed(seed)
  kwargs = dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4, dropout_rate=0.1,
                initializer_factor=1.0, feed_forward_proj="relu", decoder_start_token_id=0)
  kwargs.update(t5_kwargs)
  chronos_config = {"context_length": context_length, "prediction_length": prediction_length,
                    "input_patch_size": patch_size, "input_patch_stride": patch_size,
                    "quantiles": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                    "use_reg_token": True}
  config = transformers.T5Config(vocab_size=2, chronos_config=chronos_config,
                                 architectures=["ChronosBoltModelForForecasting"],
                                 chronos_pipeline_class="ChronosBoltPipeline", **kwargs)
  model = ChronosBoltModelForForecasting(config)
  _randomise(model, seed)
  model.eval()
  model.save_pretrained(folder)
  return model
