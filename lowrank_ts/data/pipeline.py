"""A deterministic, checkpointable training input pipeline (Chronos recipe).

Each example is a pure function of ``(seed, step, row)``: its numpy stream is
``default_rng([seed, step, row])``. With probability ``kernel_synth_weight`` (Chronos: 0.1) the
series is a random KernelSynth series of the given pool, with probability
``seasonal_synth_weight`` a fresh series of :mod:`seasonal_synth` (length uniform in
``[tsmixup_min_length, seasonal_synth_length]``), otherwise a TSMixup of ``tsmixup_sources``;
then missing-value augmentation (:mod:`augment`), and an instance (context,
target) is cut from it (:mod:`instances`); series too short or too sparse are redrawn.

The iterator's whole state is ``{"seed": int64, "step": int64}`` (0-d numpy arrays): save it
beside the train state (e.g. in the same Orbax checkpoint) and :meth:`InputPipeline.set_state`
resumes at exactly the batch that would have come next. Batches are float:
``context`` [B, context_length] (left-padded with NaN, missing values NaN) and ``target``
[B, prediction_length] (NaN where missing); each model's ``training_batch`` turns them into
its inputs (Chronos: token ids).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import augment, instances, seasonal_synth, tsmixup


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Batch size, instance lengths, source mix and augmentation (Chronos defaults)."""
  batch_size: int = 32
  instance: instances.InstanceConfig = dataclasses.field(default_factory=instances.InstanceConfig)
  kernel_synth_weight: float = 0.1
  seasonal_synth_weight: float = 0.0
  seasonal_synth_length: int = 1024
  max_missing_probability: float = 0.2
  tsmixup_max_series: int = 3
  tsmixup_alpha: float = 1.5
  tsmixup_min_length: int = 128
  tsmixup_max_length: int = 2048
  max_redraws: int = 1000

  def __post_init__(self):
    checks.positive_int(self.batch_size, "batch_size")
    if not isinstance(self.instance, instances.InstanceConfig):
      raise ValueError(f"instance must be an InstanceConfig, got {type(self.instance).__name__}")
    checks.probability(self.kernel_synth_weight, "kernel_synth_weight")
    checks.probability(self.seasonal_synth_weight, "seasonal_synth_weight")
    if self.kernel_synth_weight + self.seasonal_synth_weight > 1:
      raise ValueError(f"kernel_synth_weight + seasonal_synth_weight must be <= 1, got "
                       f"{self.kernel_synth_weight} + {self.seasonal_synth_weight}")
    checks.positive_int(self.seasonal_synth_length, "seasonal_synth_length")
    checks.probability(self.max_missing_probability, "max_missing_probability")
    checks.positive_int(self.tsmixup_max_series, "tsmixup_max_series")
    checks.positive_float(self.tsmixup_alpha, "tsmixup_alpha")
    checks.positive_int(self.tsmixup_min_length, "tsmixup_min_length")
    checks.positive_int(self.tsmixup_max_length, "tsmixup_max_length")
    if self.tsmixup_max_length < self.tsmixup_min_length:
      raise ValueError("tsmixup_max_length must be >= tsmixup_min_length")
    checks.positive_int(self.max_redraws, "max_redraws")


def dataset_uniform_weights(sizes: Sequence[int]) -> np.ndarray:
  """Per-series TSMixup weights choosing each dataset with equal probability, then a series of
  it uniformly (Chronos' Algorithm 1), for datasets of ``sizes`` series laid out in order."""
  if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not sizes:
    raise ValueError(f"sizes must be a non-empty sequence of dataset sizes, got {sizes!r}")
  sizes = [checks.positive_int(n, f"sizes[{i}]") for i, n in enumerate(sizes)]
  return np.concatenate([np.full(n, 1.0 / (len(sizes) * n)) for n in sizes])


def _state(seed: Any, step: Any) -> dict[str, np.ndarray]:
  # 0-d arrays rather than numpy scalars: Orbax's StandardSave takes arrays, not np.int64.
  return {"seed": np.asarray(seed, np.int64), "step": np.asarray(step, np.int64)}


class SeededBatches:
  """Batches that are a pure function of (seed, step, row): the rows a process yields
  (:meth:`set_rows`) and the checkpointable state ``{"seed", "step"}`` shared by the input
  pipelines (:class:`InputPipeline`, :class:`lowrank_ts.data.text_corpus.TextPipeline`).
  Subclasses set ``batch_size`` and define ``batch_at(step, rows)``."""

  batch_size: int

  def __init__(self, seed: int):
    self._state = _state(checks.positive_int(seed, "seed", allow_zero=True), 0)
    self._rows: list[int] | None = None

  def set_rows(self, rows: Sequence[int] | None) -> None:
    """Makes iteration yield only these rows of each global batch (None: all), e.g. the rows a
    process feeds in multi-host training; a row's example does not depend on the others."""
    if rows is not None:
      rows = [checks.positive_int(int(r), "rows[i]", allow_zero=True) for r in rows]
      if not rows or max(rows) >= self.batch_size or len(set(rows)) != len(rows):
        raise ValueError(f"rows must be distinct indices below batch_size="
                         f"{self.batch_size}, got {rows}")
    self._rows = rows

  @property
  def rows(self) -> list[int] | None:
    """The rows of each global batch this iterator yields (None: all; :meth:`set_rows`)."""
    return None if self._rows is None else list(self._rows)

  # -- checkpointable state ---------------------------------------------------------------------
  def get_state(self) -> dict[str, np.ndarray]:
    """The iterator state ``{"seed": int64, "step": int64}`` (0-d arrays; a small pytree)."""
    return {k: v.copy() for k, v in self._state.items()}

  def set_state(self, state: Mapping[str, Any]) -> None:
    """Resumes at ``state`` (as returned by :meth:`get_state`, possibly after a save/load)."""
    if not isinstance(state, Mapping) or set(state) != {"seed", "step"}:
      raise ValueError(f"state must be a mapping with keys seed and step, got {state!r}")
    values = {}
    for key in ("seed", "step"):
      value = np.asarray(state[key])
      if value.shape != () or not np.issubdtype(value.dtype, np.integer) or value < 0:
        raise ValueError(f"state[{key!r}] must be a non-negative integer scalar, got {value!r}")
      values[key] = int(value)
    self._state = _state(values["seed"], values["step"])

  # -- batches ----------------------------------------------------------------------------------
  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    batch = self.batch_at(int(self._state["step"]), self._rows)
    self._state = _state(self._state["seed"], int(self._state["step"]) + 1)
    return batch


class InputPipeline(SeededBatches):
  """Iterator of float batches ``{"context": [B, C], "target": [B, H]}`` (float32).

  Args:
    config: a :class:`PipelineConfig`.
    kernel_synth_series: KernelSynth pool, float [N, T] or a sequence of 1-D series (may be
      empty when ``kernel_synth_weight`` is 0).
    tsmixup_sources: the series TSMixup draws from (KernelSynth series and the training parts
      of real series, in the CPU recipes); may be empty when ``kernel_synth_weight`` is 1.
    seed: non-negative int.
    tsmixup_weights: optional probabilities over ``tsmixup_sources`` (default uniform); see
      :func:`dataset_uniform_weights`.
  """

  def __init__(self, config: PipelineConfig, *, kernel_synth_series: Sequence[np.ndarray] | Any,
               tsmixup_sources: Sequence[np.ndarray], seed: int,
               tsmixup_weights: Sequence[float] | None = None):
    if not isinstance(config, PipelineConfig):
      raise ValueError(f"config must be a PipelineConfig, got {type(config).__name__}")
    self.config = config
    super().__init__(seed)
    self.batch_size = config.batch_size
    self._kernel_synth = self._pool(kernel_synth_series, "kernel_synth_series",
                                    config.kernel_synth_weight > 0)
    self._sources = self._pool(
        tsmixup_sources, "tsmixup_sources",
        config.kernel_synth_weight + config.seasonal_synth_weight < 1)
    self._weights = tsmixup.check_weights(tsmixup_weights, len(self._sources), "tsmixup_weights")

  @staticmethod
  def _pool(series, name, needed):
    if len(series) == 0:
      if needed:
        raise ValueError(f"{name} must not be empty with this kernel_synth_weight")
      return []
    return tsmixup.check_sources(series, name)

  # -- batches ----------------------------------------------------------------------------------
  def batch_at(self, step: int, rows: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The batch number ``step`` (random access; does not move the iterator), or only its
    ``rows``."""
    step = checks.positive_int(step, "step", allow_zero=True)
    seed = int(self._state["seed"])
    rows = [self._example(np.random.default_rng([seed, step, row]))
            for row in (range(self.config.batch_size) if rows is None else rows)]
    return {"context": np.stack([r[0] for r in rows]), "target": np.stack([r[1] for r in rows])}

  def _series(self, rng: np.random.Generator) -> np.ndarray:
    cfg = self.config
    u = rng.uniform()
    if u < cfg.kernel_synth_weight:
      return self._kernel_synth[int(rng.integers(len(self._kernel_synth)))]
    if u < cfg.kernel_synth_weight + cfg.seasonal_synth_weight:
      length = int(rng.integers(cfg.tsmixup_min_length,
                                max(cfg.tsmixup_min_length, cfg.seasonal_synth_length) + 1))
      return seasonal_synth.sample(rng, length)
    return tsmixup.mix(self._sources, rng, cfg.tsmixup_max_series, cfg.tsmixup_alpha,
                       cfg.tsmixup_min_length, cfg.tsmixup_max_length, self._weights)

  def _example(self, rng: np.random.Generator):
    cfg = self.config
    for _ in range(cfg.max_redraws):
      # The private, unchecked paths: the sources were validated once, in __init__.
      series = augment._drop_values(self._series(rng), rng, cfg.max_missing_probability)
      if not instances._is_usable(series, cfg.instance):
        continue
      example = instances._sample_instance(series, rng, cfg.instance)
      if example is not None:
        return example
    raise ValueError(f"no usable series in {cfg.max_redraws} draws: the sources are shorter "
                     f"than min_past + prediction_length = {cfg.instance.min_length} or too "
                     "sparse")
