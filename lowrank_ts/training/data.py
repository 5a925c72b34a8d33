"""The training input pipeline of a :class:`~lowrank_ts.training.config.TrainConfig`: TSMixup
over a KernelSynth pool (and optionally the real series' training parts and the real corpus of
:mod:`lowrank_ts.data.corpus`), seeded, resumable."""

from __future__ import annotations

import numpy as np

from lowrank_ts.data import corpus, instances, kernel_synth, pipeline, real_series
from lowrank_ts.training.config import TrainConfig


def make_pipeline(config: TrainConfig) -> pipeline.InputPipeline:
  """The seeded input pipeline of ``config`` (KernelSynth pool generated or loaded), yielding
  float windows ``{context [B, C], target [B, H]}``."""
  if config.kernel_synth_path:
    pool = np.load(config.kernel_synth_path).astype(np.float32)
  else:
    pool = kernel_synth.kernel_synth(config.kernel_synth_series, config.seed,
                                     length=config.kernel_synth_length)
  real = real_series.training_parts() if config.real_series else []
  if config.real_corpus:
    real += [values.astype(np.float32) for _, values in corpus.load()]
  sources = list(pool) + real
  weights = None
  if config.tsmixup_weighting == "dataset":
    weights = pipeline.dataset_uniform_weights([len(pool)] + [1] * len(real))
  pipe_config = pipeline.PipelineConfig(
      batch_size=config.batch_size, kernel_synth_weight=config.kernel_synth_weight,
      instance=instances.InstanceConfig(context_length=config.context,
                                        prediction_length=config.horizon,
                                        min_past=config.min_past))
  return pipeline.InputPipeline(pipe_config, kernel_synth_series=pool, tsmixup_sources=sources,
                                seed=config.seed, tsmixup_weights=weights)
