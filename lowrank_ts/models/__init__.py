"""Flax NNX models: Chronos (T5 over tokens) and Chronos-Bolt (patches, quantile head)."""

from lowrank_ts.models.chronos import Chronos
from lowrank_ts.models.chronos_bolt import ChronosBolt
from lowrank_ts.models.config import (
  BOLT_CONFIGS,
  CHRONOS_CONFIGS,
  AttentionSpec,
  BoltConfig,
  ChronosConfig,
  ProjectionSpec,
  T5Config,
  named_config,
)
from lowrank_ts.models.posthoc import compress
from lowrank_ts.models.t5 import T5

__all__ = ["BOLT_CONFIGS", "CHRONOS_CONFIGS", "AttentionSpec", "BoltConfig", "Chronos",
           "ChronosBolt", "ChronosConfig", "ProjectionSpec", "T5", "T5Config", "compress",
           "named_config"]
