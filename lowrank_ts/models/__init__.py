"""Flax NNX models: Chronos (T5 over tokens) and Chronos-Bolt (patches, quantile head), one
interface and one registry (:mod:`.registry`); the sampler beside the decoder it drives
(:mod:`.sampler`)."""

from lowrank_ts.models.chronos import Chronos
from lowrank_ts.models.chronos_bolt import ChronosBolt
from lowrank_ts.models.config import (
  ATTENTION_KINDS,
  BOLT_CONFIGS,
  CHRONOS_CONFIGS,
  QUANTILE_LEVELS,
  AttentionSpec,
  BoltConfig,
  ChronosConfig,
  ProjectionSpec,
  T5Config,
  named_config,
)
from lowrank_ts.models.registry import ForecastModel, ModelConfig, build
from lowrank_ts.models.t5 import T5

__all__ = [
  "ATTENTION_KINDS",
  "BOLT_CONFIGS",
  "CHRONOS_CONFIGS",
  "QUANTILE_LEVELS",
  "T5",
  "AttentionSpec",
  "BoltConfig",
  "Chronos",
  "ChronosBolt",
  "ChronosConfig",
  "ForecastModel",
  "ModelConfig",
  "ProjectionSpec",
  "T5Config",
  "build",
  "named_config",
]
